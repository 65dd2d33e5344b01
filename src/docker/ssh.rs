//! Daemons reached over ssh, as the Docker CLI reaches them: `ssh://[user@]host[:port][/socket]` runs
//! `docker system dial-stdio` on the remote machine through this machine's own `ssh`, and the Engine
//! API's bytes travel over that process's stdin and stdout. Using the `ssh` program (rather than an
//! ssh library) means the user's configuration, agent, known hosts and jump hosts apply exactly as
//! they do for `docker -H ssh://…`.
//!
//! bollard has an `ssh` feature, but it starts a control master per connection, takes no ssh options
//! and hands out no raw stream, which BuildKit's session needs; so the transport is baseimg's, and
//! bollard gets it as a custom transport.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use futures_util::FutureExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::response_head;
use crate::daemon_address::SshAddress;

/// The variable that replaces `ssh` with another command line (`ssh -i ~/.ssh/builder -F none`),
/// as GIT_SSH_COMMAND does for git.
pub(crate) const SSH_COMMAND_VAR: &str = "BASEIMG_SSH_COMMAND";

/// How much of ssh's stderr is kept to explain a failed connection.
const STDERR_KEPT: usize = 4096;

/// A daemon's ssh address with the ssh command line that reaches it.
#[derive(Debug, Clone)]
pub(super) struct Ssh {
    address: SshAddress,
    /// The ssh program and the arguments that come before baseimg's own.
    program: Vec<String>,
}

/// Why a daemon cannot be reached over ssh: the ssh command line is not one, ssh cannot run, or a
/// connection's check failed (in ssh's own words where it said any).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SshError {
    #[error("{SSH_COMMAND_VAR} is set but empty")]
    EmptyCommand,
    #[error("{SSH_COMMAND_VAR} is not a command line (an unclosed quote?)")]
    UnclosedQuote,
    #[error("cannot run `{program}`: {source}")]
    Run {
        program: String,
        #[source]
        source: io::Error,
    },
    /// The daemon answered, but not with its pong: its answer is what matters, not what ssh may
    /// have warned about on the way.
    #[error("the daemon answered `{status}`")]
    Answered { status: String },
    /// What ssh (or the remote command) wrote to stderr, its lines joined, and how it exited.
    #[error("{said}{}", exit_status.map(|c| format!(" (exit status {c})")).unwrap_or_default())]
    Said {
        said: String,
        exit_status: Option<i32>,
    },
    #[error("no answer within 45 s")]
    Timeout,
    #[error("the connection closed before the daemon answered")]
    Closed,
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl Ssh {
    /// The ssh command line (BASEIMG_SSH_COMMAND, else `ssh`) that reaches `address`.
    pub(super) fn new(address: SshAddress) -> Result<Ssh, SshError> {
        Ok(Ssh {
            address,
            program: ssh_program()?,
        })
    }

    /// The command line that opens one connection: as run (`running`), or as shown to a user to try
    /// in a shell, without the options that only make sense for baseimg's many connections.
    fn arguments(&self, running: bool) -> Vec<String> {
        let mut args: Vec<String> = self.program[1..].to_vec();
        if running {
            // Never ask for a password or passphrase: many connections open at once, under a
            // progress display, and none of them could answer. A key, an agent or the configuration
            // must do. A machine that drops off the network is noticed within a minute, so its
            // image can be built elsewhere, instead of a build waiting on a dead link for hours.
            args.extend(
                [
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=30",
                    "-o",
                    "ServerAliveInterval=15",
                    "-o",
                    "ServerAliveCountMax=3",
                ]
                .map(String::from),
            );
            if let Some(dir) = shared_connections() {
                // One login per machine, not one per connection: the first connection becomes a
                // master the others run over, and it ends 10 s after the last one (after the run).
                // A run opens several connections per image (the build, BuildKit's session,
                // pushes), and each login is a handful of round trips. The socket's name holds a
                // hash of the ssh command line, so a login made with other options (another key)
                // is never shared. Options the user gives come first and win.
                let mut hash = Sha256::new();
                for word in &self.program {
                    hash.update(word.as_bytes());
                    hash.update([0]);
                }
                let hash = hex::encode(&hash.finalize()[..6]);
                args.extend([
                    "-o".to_string(),
                    "ControlMaster=auto".to_string(),
                    "-o".to_string(),
                    format!("ControlPath={}/{hash}-%C", dir.display()),
                    "-o".to_string(),
                    "ControlPersist=10".to_string(),
                ]);
            }
        }
        args.push("-T".to_string());
        if let Some(user) = &self.address.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.address.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend([
            "--".to_string(),
            self.address.host.clone(),
            "docker".to_string(),
        ]);
        if let Some(socket) = &self.address.socket {
            // The remote shell reads the command line; the socket path is quoted for it.
            args.extend([
                "--host".to_string(),
                shell_word(&format!("unix://{socket}")),
            ]);
        }
        args.extend(["system".to_string(), "dial-stdio".to_string()]);
        args
    }

    /// The command, as a user would type it to see what goes wrong.
    pub(super) fn command_line(&self) -> String {
        std::iter::once(self.program[0].as_str())
            .chain(self.arguments(false).iter().map(String::as_str))
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts one ssh process: one connection to the remote daemon, as an I/O stream's error says
    /// it (for hyper and BuildKit's connections).
    pub(super) async fn dial(&self) -> io::Result<SshStream> {
        self.spawn().await.map_err(|error| match &error {
            SshError::Run { source, .. } => io::Error::new(source.kind(), error),
            _ => io::Error::other(error),
        })
    }

    /// Starts one ssh process: one connection to the remote daemon.
    async fn spawn(&self) -> Result<SshStream, SshError> {
        let mut command = Command::new(&self.program[0]);
        command
            .args(self.arguments(true))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: Ctrl-C at the terminal goes to baseimg, which cancels its builds
        // over these connections, instead of cutting them under it.
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| SshError::Run {
            program: self.program[0].clone(),
            source,
        })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let said: Arc<Mutex<Vec<u8>>> = Arc::default();
        let kept = said.clone();
        let reader = tokio::spawn(async move {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                let excess = kept.len().saturating_sub(STDERR_KEPT);
                kept.drain(..excess);
            }
        });
        Ok(SshStream {
            child,
            stdin: Some(stdin),
            stdout,
            said,
            reader: Some(reader),
        })
    }

    /// Opens a connection and asks the daemon for `/_ping`; when that fails, says why in ssh's
    /// words (authentication, host key, no `docker` on the remote machine, no daemon there).
    pub(super) async fn check(&self) -> Result<(), SshError> {
        let mut stream = self.spawn().await?;
        let ping = async {
            stream
                .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
                .await?;
            response_head::read(&mut stream).await
        };
        let answer = tokio::time::timeout(Duration::from_secs(45), ping).await;
        let status = match &answer {
            Ok(Ok(answer)) => answer.lines().next().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        if status.contains(" 200 ") {
            return Ok(());
        }
        if !status.is_empty() {
            return Err(SshError::Answered { status });
        }
        if let Some(said) = stream.failure().await {
            return Err(said);
        }
        Err(match answer {
            Err(_) => SshError::Timeout,
            Ok(Err(e)) if e.kind() != io::ErrorKind::UnexpectedEof => SshError::Io(e),
            Ok(_) => SshError::Closed,
        })
    }

    /// A bollard client whose connections are ssh processes. hyper keeps idle ones for reuse, so
    /// a run starts a handful of them, not one per request.
    pub(super) fn docker(&self, timeout: u64) -> Result<Docker, bollard::errors::Error> {
        // Each idle connection is an ssh process and a remote session: few are kept, and not long.
        let client: Client<Connector, BollardBody> = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(Connector(Arc::new(self.clone())));
        let client = Arc::new(client);
        Docker::connect_with_custom_transport(
            move |request: BollardRequest| {
                let client = client.clone();
                async move {
                    client
                        .request(request)
                        .await
                        .map_err(bollard::errors::Error::from)
                }
            },
            // Only the scheme and authority of bollard's request URLs: the connector ignores them.
            Some("ssh://docker"),
            timeout,
            bollard::API_DEFAULT_VERSION,
        )
    }
}

/// A word as a shell takes it: bare when it is plain (`-o`, `BatchMode=yes`, `user@host`), quoted
/// otherwise.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if plain {
        return word.to_string();
    }
    shlex::try_quote(word).map_or_else(|_| word.to_string(), |q| q.into_owned())
}

/// The directory of the sockets through which connections share one ssh login (`baseimg-ssh-UID`
/// in the temporary directory, made private to this user); `None`, and every connection logs in on
/// its own, when it cannot be made or is not this user's alone.
fn shared_connections() -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("baseimg-ssh-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let meta = std::fs::symlink_metadata(&dir).ok()?;
        let private = meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0;
        // Socket paths are short (104 bytes on some systems): the directory, `/`, the 12-character
        // hash and `-`, ssh's 40-character `%C`, and the 17 characters of the temporary name the
        // master binds first must fit.
        let fits = dir.as_os_str().len() + 1 + 13 + 40 + 17 < 104;
        (private && fits).then_some(dir)
    })
    .as_deref()
}

/// The ssh program and its leading arguments: BASEIMG_SSH_COMMAND split as a shell would, or `ssh`.
fn ssh_program() -> Result<Vec<String>, SshError> {
    let Ok(line) = std::env::var(SSH_COMMAND_VAR) else {
        return Ok(vec!["ssh".to_string()]);
    };
    match shlex::split(&line) {
        Some(words) if !words.is_empty() => Ok(words),
        Some(_) => Err(SshError::EmptyCommand),
        None => Err(SshError::UnclosedQuote),
    }
}

/// The body type of bollard's requests (bollard does not export its name).
type BollardBody = <BollardRequest as RequestBody>::Body;

trait RequestBody {
    type Body;
}

impl<B> RequestBody for hyper::Request<B> {
    type Body = B;
}

/// Opens an ssh connection for each new connection hyper asks for.
#[derive(Clone)]
struct Connector(Arc<Ssh>);

impl tower_service::Service<hyper::Uri> for Connector {
    type Response = TokioIo<SshStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let ssh = self.0.clone();
        async move { ssh.dial().await.map(TokioIo::new) }.boxed()
    }
}

/// One ssh process as a byte stream: its stdout read, its stdin written. Dropping it kills the
/// process.
pub(super) struct SshStream {
    child: Child,
    /// `None` once the writing side is shut: dropping it closes the pipe, which tells the remote end.
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// The tail of what ssh (or the remote command) wrote to stderr.
    said: Arc<Mutex<Vec<u8>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl SshStream {
    /// Why the connection ended: ssh's stderr once the process has exited (or after 5 s), with its
    /// exit status; `None` when it said nothing.
    async fn failure(&mut self) -> Option<SshError> {
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        let said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        let said = String::from_utf8_lossy(&said);
        let said: Vec<&str> = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if said.is_empty() {
            return None;
        }
        let exit_status = match status {
            Ok(Ok(status)) => status.code(),
            _ => None,
        };
        Some(SshError::Said {
            said: said.join("; "),
            exit_status,
        })
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl SshStream {
    fn stdin(&mut self) -> io::Result<Pin<&mut ChildStdin>> {
        self.stdin
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stdin()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// tokio's shutdown of a child's stdin does nothing; closing the pipe is what ends the input.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(stdin) = this.stdin.as_mut() {
            std::task::ready!(Pin::new(stdin).poll_flush(cx))?;
        }
        this.stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reaching(address: &str) -> Ssh {
        Ssh::new(SshAddress::parse(address).unwrap()).unwrap()
    }

    #[test]
    fn an_ssh_address_becomes_the_command_the_docker_cli_would_run() {
        let ssh = reaching("ssh://builder@arm64.example:2222/run/user/1000/docker.sock");
        let line = ssh.command_line();
        assert!(
            line.ends_with(
                "-l builder -p 2222 -- arm64.example docker --host \
                 unix:///run/user/1000/docker.sock system dial-stdio"
            ),
            "{line}"
        );
        assert!(!line.contains("BatchMode"), "shown to try by hand: {line}");
        let run = ssh.arguments(true).join(" ");
        assert!(run.contains("BatchMode=yes"), "{run}");
        let decoded = reaching("ssh://DOMAIN%5Cjo@h/run/my%20dir/d.sock");
        let line = decoded.command_line();
        assert!(
            // Quoted for the local shell; the socket also for the remote one, which reads it again.
            line.contains(r#"-l "DOMAIN\\jo""#)
                && line.contains(r#"--host "'unix:///run/my dir/d.sock'""#),
            "{line}"
        );
        let plain = reaching("ssh://arm64.example").command_line();
        assert!(
            plain.ends_with("-T -- arm64.example docker system dial-stdio"),
            "{plain}"
        );
    }
}
