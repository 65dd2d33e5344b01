//! The one way the integration tests run the baseimg binary: a builder that lays out a repository in
//! a temporary directory, runs baseimg there in a clean environment, and checks the exit status,
//! standard output and standard error, printing a diff when a text differs.
//!
//! ```ignore
//! Test::example()
//!     .args(["validate"])
//!     .stdout("base-images.yaml: 7 images (3 mirrored, 4 built), no errors\n")
//!     .stderr("")
//!     .run();
//! ```
//!
//! Why one builder: a test's result must depend only on what the test sets. baseimg reads `BASEIMG_*`
//! variables and the Docker client's configuration, so a developer's own settings or `docker login`
//! would otherwise change what a test sees. Every run therefore starts from the same environment:
//! no `BASEIMG_*` variable, `DOCKER_CONFIG` pointing at an empty directory of the run's own (unless
//! the test sets one), no proxy variables (tests talk only to 127.0.0.1), no forced colour, and
//! `NO_COLOR=1`. `DOCKER_HOST` is kept: it says where the machine's daemon is.
//!
//! A run expects exit status 0 unless told otherwise; a stream is checked only when the test says
//! what it must hold (exactly, containing, lacking, or matching a regex). Catalogs, files and
//! expected texts may be written indented in the test source, starting on the line after the opening
//! quote: [`unindent`] takes the indentation off, so they read like the real files and output.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use regex::Regex;

/// The baseimg binary cargo built for the running test or benchmark. Cargo names it to those targets
/// (`CARGO_BIN_EXE_baseimg`) but not to this crate, so it is found where cargo puts it: in the
/// profile's directory, above the `deps/` that holds the running executable.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(named) = std::env::var_os("CARGO_BIN_EXE_baseimg") {
                return PathBuf::from(named);
            }
            let running = std::env::current_exe().expect("the running executable has a path");
            let mut profile = running.parent().expect("an executable is in a directory");
            if profile.ends_with("deps") || profile.ends_with("examples") {
                profile = profile.parent().expect("cargo's output directory has a parent");
            }
            let binary = profile.join("baseimg");
            assert!(
                binary.is_file(),
                "no baseimg binary at {}: run through `cargo test` or `cargo bench`, which build it",
                binary.display()
            );
            binary
        })
        .clone()
}

/// Variables removed from every run besides `BASEIMG_*`: they would change how baseimg talks to
/// the test registries or how it colours its output.
const UNSET: &[&str] = &[
    "CLICOLOR_FORCE",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

/// Where a test's repository lives: a temporary directory of its own, or one the test keeps (a
/// fixture world shared by several runs).
enum Root {
    Owned(tempfile::TempDir),
    At(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Owned(dir) => dir.path(),
            Root::At(path) => path,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Status {
    Code(i32),
    /// Any unsuccessful end, a signal included.
    Failure,
}

/// One thing a stream must satisfy.
enum Check {
    Exact(String),
    Contains(String),
    Lacks(String),
    Matches(Regex),
}

impl Check {
    /// What is wrong with `actual`, if anything.
    fn problem(&self, stream: &str, actual: &str) -> Option<String> {
        match self {
            Check::Exact(expected) if actual != expected => Some(format!(
                "{stream} differs (- expected, + actual):\n{}",
                diff(expected, actual)
            )),
            Check::Contains(part) if !actual.contains(part.as_str()) => {
                Some(format!("{stream} does not contain {part:?}"))
            }
            Check::Lacks(part) if actual.contains(part.as_str()) => {
                Some(format!("{stream} contains {part:?}, which it must not"))
            }
            Check::Matches(regex) if !regex.is_match(actual) => {
                Some(format!("{stream} does not match /{regex}/"))
            }
            _ => None,
        }
    }
}

/// What a run must end with; shared by `Test::run` and `Running::wait`.
struct Expected {
    status: Status,
    stdout: Vec<Check>,
    stderr: Vec<Check>,
    /// Checks on stdout and stderr together (a secret must appear in neither).
    output: Vec<Check>,
}

impl Expected {
    /// The report of what differs from what was expected, if anything.
    fn verify(
        &self,
        command: &str,
        status: ExitStatus,
        stdout: &str,
        stderr: &str,
    ) -> Result<(), String> {
        let mut problems = Vec::new();
        match self.status {
            Status::Code(code) if status.code() != Some(code) => {
                let actual = status.code().map_or(status.to_string(), |c| c.to_string());
                problems.push(format!("exit code {actual}, expected {code}"));
            }
            Status::Failure if status.success() => {
                problems.push("exit code 0, expected a failure".to_string());
            }
            _ => {}
        }
        let both = format!("{stdout}{stderr}");
        let streams = [
            ("stdout", &self.stdout, stdout),
            ("stderr", &self.stderr, stderr),
            ("output", &self.output, both.as_str()),
        ];
        for (name, checks, actual) in streams {
            problems.extend(checks.iter().filter_map(|c| c.problem(name, actual)));
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{command}\n\n{}\n\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            problems.join("\n\n")
        ))
    }
}

/// A run of baseimg to set up, perform and check. Builder methods consume and return the test.
#[must_use]
pub struct Test {
    root: Root,
    current_dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Variables the test wants absent even though the clean environment sets them (`NO_COLOR`).
    unset: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    /// Run on a pseudo-terminal instead of pipes.
    terminal: bool,
    /// The umask baseimg runs with, when the test sets one.
    umask: Option<u32>,
    expected: Expected,
}

impl Test {
    /// An empty repository in a fresh temporary directory.
    pub fn new() -> Test {
        Test::at(Root::Owned(tempfile::tempdir().unwrap()))
    }

    /// A copy of the example catalog (catalog, templates, images, the test lock file).
    pub fn example() -> Test {
        Test::at(Root::Owned(super::example_copy()))
    }

    /// A copy of a fixture directory of this repository (`tests/broken/_base`, …).
    pub fn fixture(path: impl AsRef<Path>) -> Test {
        Test::new().copy(super::repo_root().join(path), ".")
    }

    /// Runs in a directory the caller keeps (and cleans up).
    pub fn in_dir(path: impl AsRef<Path>) -> Test {
        Test::at(Root::At(path.as_ref().to_path_buf()))
    }

    fn at(root: Root) -> Test {
        Test {
            root,
            current_dir: PathBuf::new(),
            args: Vec::new(),
            env: Vec::new(),
            unset: Vec::new(),
            stdin: None,
            terminal: false,
            umask: None,
            expected: Expected {
                status: Status::Code(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
                output: Vec::new(),
            },
        }
    }

    /// The directory the test's files live in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Writes `base-images.yaml` (unindented, see [`unindent`]).
    pub fn catalog(self, text: &str) -> Test {
        self.write("base-images.yaml", text)
    }

    /// Writes a file below the root, creating its directories; the text is unindented.
    pub fn write(self, path: impl AsRef<Path>, text: &str) -> Test {
        let path = self.root().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, unindent(text)).unwrap();
        self
    }

    /// Copies a file or a directory tree (symlinks as they are) to `to`, below the root.
    pub fn copy(self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Test {
        let (from, to) = (from.as_ref(), self.root().join(to));
        if from.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            super::copy_tree(from, &to);
        } else {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, &to).unwrap();
        }
        self
    }

    /// Removes a file or a directory below the root.
    pub fn remove(self, path: impl AsRef<Path>) -> Test {
        let path = self.root().join(path);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        self
    }

    /// Makes `link` (below the root) a symbolic link to `target`, taken as it is written.
    pub fn symlink(self, link: impl AsRef<Path>, target: impl AsRef<Path>) -> Test {
        std::os::unix::fs::symlink(target, self.root().join(link)).unwrap();
        self
    }

    /// Runs baseimg in this directory below the root.
    pub fn current_dir(mut self, path: impl AsRef<Path>) -> Test {
        self.current_dir = path.as_ref().to_path_buf();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Test {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(self, args: I) -> Test {
        args.into_iter().fold(self, Test::arg)
    }

    /// Sets a variable for this run, over the clean environment (`DOCKER_CONFIG` included).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Test {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Removes a variable the clean environment would set (`NO_COLOR`, to see colour).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Test {
        self.unset.push(key.as_ref().to_os_string());
        self
    }

    /// Runs baseimg on a pseudo-terminal, as a person at a terminal would: what it writes to
    /// standard output and standard error arrives together on `stdout`.
    pub fn terminal(mut self) -> Test {
        self.terminal = true;
        self
    }

    /// Runs baseimg with this umask (through `sh -c 'umask …; exec baseimg …'`), to see the modes
    /// of the files it creates.
    pub fn umask(mut self, mask: u32) -> Test {
        self.umask = Some(mask);
        self
    }

    pub fn stdin(mut self, text: &str) -> Test {
        self.stdin = Some(unindent(text).into_bytes());
        self
    }

    /// The exit code the run must end with (0 unless set).
    pub fn status(mut self, code: i32) -> Test {
        self.expected.status = Status::Code(code);
        self
    }

    /// The run must fail, whatever the code (or end by a signal).
    pub fn failure(mut self) -> Test {
        self.expected.status = Status::Failure;
        self
    }

    /// The exact standard output (unindented).
    pub fn stdout(mut self, text: &str) -> Test {
        self.expected.stdout.push(Check::Exact(unindent(text)));
        self
    }

    pub fn stdout_contains(mut self, part: &str) -> Test {
        self.expected.stdout.push(Check::Contains(part.to_string()));
        self
    }

    pub fn stdout_lacks(mut self, part: &str) -> Test {
        self.expected.stdout.push(Check::Lacks(part.to_string()));
        self
    }

    /// Standard output matches `regex` somewhere (anchor it with `^`/`$` to match all of it).
    pub fn stdout_regex(mut self, regex: &str) -> Test {
        self.expected
            .stdout
            .push(Check::Matches(Regex::new(regex).unwrap()));
        self
    }

    /// The exact standard error (unindented).
    pub fn stderr(mut self, text: &str) -> Test {
        self.expected.stderr.push(Check::Exact(unindent(text)));
        self
    }

    /// The exact standard error, taken as it is (a text read from a file).
    pub fn stderr_verbatim(mut self, text: &str) -> Test {
        self.expected.stderr.push(Check::Exact(text.to_string()));
        self
    }

    pub fn stderr_contains(mut self, part: &str) -> Test {
        self.expected.stderr.push(Check::Contains(part.to_string()));
        self
    }

    pub fn stderr_lacks(mut self, part: &str) -> Test {
        self.expected.stderr.push(Check::Lacks(part.to_string()));
        self
    }

    pub fn stderr_regex(mut self, regex: &str) -> Test {
        self.expected
            .stderr
            .push(Check::Matches(Regex::new(regex).unwrap()));
        self
    }

    /// Standard output or standard error contains `part` (a message, wherever it was printed).
    pub fn output_contains(mut self, part: &str) -> Test {
        self.expected.output.push(Check::Contains(part.to_string()));
        self
    }

    /// Neither standard output nor standard error contains `part` (a secret).
    pub fn output_lacks(mut self, part: &str) -> Test {
        self.expected.output.push(Check::Lacks(part.to_string()));
        self
    }

    /// The command line, for failure messages.
    fn describe(&self) -> String {
        let mut line = String::from("baseimg");
        for arg in &self.args {
            let _ = write!(line, " {}", arg.to_string_lossy());
        }
        let _ = write!(
            line,
            "  (in {})",
            self.root().join(&self.current_dir).display()
        );
        line
    }

    /// Starts baseimg in the clean environment, with a Docker configuration of its own unless the
    /// test set `DOCKER_CONFIG` (returned, to live as long as the process).
    fn start(&self) -> (Child, Option<tempfile::TempDir>) {
        let binary = binary();
        let mut command = if self.terminal {
            // util-linux `script` gives the program a pseudo-terminal and copies what it shows
            // there, standard output and error alike, to its own standard output.
            let quote =
                |word: &OsStr| format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"));
            let mut line = quote(binary.as_os_str());
            for arg in &self.args {
                line.push(' ');
                line.push_str(&quote(arg));
            }
            let mut script = Command::new("script");
            script.args(["-qec", &line, "/dev/null"]);
            script
        } else if let Some(mask) = self.umask {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("umask {mask:03o} && exec \"$@\""))
                .arg("sh")
                .arg(&binary)
                .args(&self.args);
            shell
        } else {
            let mut direct = Command::new(&binary);
            direct.args(&self.args);
            direct
        };
        command
            .current_dir(self.root().join(&self.current_dir))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BASEIMG_") {
                command.env_remove(key);
            }
        }
        for key in UNSET {
            command.env_remove(key);
        }
        command.env("NO_COLOR", "1");
        let docker_config = if self.env.iter().any(|(key, _)| key == "DOCKER_CONFIG") {
            None
        } else {
            let dir = tempfile::tempdir().unwrap();
            command.env("DOCKER_CONFIG", dir.path());
            Some(dir)
        };
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        for key in &self.unset {
            command.env_remove(key);
        }
        let mut child = command.spawn().expect("the baseimg binary starts");
        if let Some(text) = &self.stdin {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text).unwrap();
        }
        (child, docker_config)
    }

    /// Runs baseimg to its end and checks what it was told to; panics with a report otherwise.
    #[track_caller]
    pub fn run(self) -> Output {
        match self.try_run() {
            Ok(output) => output,
            Err(report) => panic!("{report}"),
        }
    }

    /// Runs baseimg to its end and checks what it was told to: the report of what differed, if
    /// anything did (for a test that gathers the failures of many runs before it fails).
    pub fn try_run(self) -> Result<Output, String> {
        let (child, docker_config) = self.start();
        let output = child.wait_with_output().unwrap();
        drop(docker_config);
        self.finish(output)
    }

    /// Starts baseimg and returns at once (to interrupt it, say); `Running::wait` checks the end.
    pub fn spawn(self) -> Running {
        let (child, docker_config) = self.start();
        Running {
            child: Some(child),
            test: Some(self),
            _docker_config: docker_config,
        }
    }

    fn finish(self, output: std::process::Output) -> Result<Output, String> {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        self.expected
            .verify(&self.describe(), output.status, &stdout, &stderr)?;
        Ok(Output {
            status: output.status,
            stdout,
            stderr,
            root: self.root,
            current_dir: self.current_dir,
        })
    }
}

/// A baseimg process started by [`Test::spawn`]. Dropped before `wait` (a test failed while it
/// ran), it kills the process, so no build outlives its test.
pub struct Running {
    child: Option<Child>,
    test: Option<Test>,
    _docker_config: Option<tempfile::TempDir>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits for the process to end and checks it as [`Test::run`] does.
    #[track_caller]
    pub fn wait(mut self) -> Output {
        let output = self.child.take().unwrap().wait_with_output().unwrap();
        let test = self.test.take().unwrap();
        match test.finish(output) {
            Ok(output) => output,
            Err(report) => panic!("{report}"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a run printed, after its checks passed; it keeps the test's directory alive.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    root: Root,
    current_dir: PathBuf,
}

impl Output {
    /// The directory the test's files live in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Standard output parsed as JSON (for `--output json`).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "stdout is not JSON ({error}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Another run in the same directory, with the same working directory and nothing else.
    pub fn into_test(self) -> Test {
        Test::at(self.root).current_dir(self.current_dir)
    }
}

/// A unified diff from `expected` to `actual`, with a marker where a last line lacks its newline.
pub fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// Lets a text be written indented in a test's source, starting on the line after its opening
/// quote. A text that starts with a line break loses it, every line loses the indentation its
/// non-blank lines share, and a last line of only spaces (the closing quote's indentation) goes.
/// Any other text is returned as it is, so verbatim texts (files read from disk) pass unchanged.
pub fn unindent(text: &str) -> String {
    let Some(body) = text.strip_prefix('\n') else {
        return text.to_string();
    };
    let mut lines: Vec<&str> = body.split('\n').collect();
    if lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
        lines.push("");
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One successful baseimg run in `repo`, with `env` added, progress in plain lines: its wall time
/// and standard output (for benchmarks).
pub fn timed(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> (f64, Vec<u8>) {
    let start = std::time::Instant::now();
    let output = std::process::Command::new(binary())
        .current_dir(repo)
        .envs(env.iter().copied())
        .args(["--progress", "plain"])
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "baseimg {args:?}:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    (seconds, output.stdout)
}
