//! A second Docker daemon beside the machine's own, for tests that build on several daemons.
//!
//! The machine's daemon is shared and must not be disturbed, so the second one has everything of its
//! own: data root, exec root (and so its own containerd), pid file, a unix socket in a temporary
//! directory, a configuration file (the machine's `/etc/docker/daemon.json` names the first one's
//! data root), and **its own bridge**: started with `--bridge=none` or the default bridge name, a
//! second daemon deletes the first one's `docker0` and breaks networking for every container on the
//! machine. It leaves iptables alone (its containers need no NAT: builds pull through the daemon,
//! which reaches the registries on 127.0.0.1). It is stopped by its own pid, and its bridge removed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SecondDaemon {
    /// `unix:///…/docker.sock`
    pub host: String,
    /// With TLS: `tcp://127.0.0.1:PORT` (client certificates in [`SecondDaemon::cert_path`]).
    pub tls_host: Option<String>,
    bridge: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl SecondDaemon {
    pub fn start() -> SecondDaemon {
        SecondDaemon::launch(false)
    }

    /// A second daemon that also listens on `tcp://127.0.0.1:PORT` with TLS, verifying client
    /// certificates, as a remote build machine would; [`SecondDaemon::cert_path`] holds the client's
    /// `key.pem`, `cert.pem` and `ca.pem` (what `DOCKER_CERT_PATH` names).
    pub fn start_tls() -> SecondDaemon {
        SecondDaemon::launch(true)
    }

    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("client")
    }

    fn launch(tls: bool) -> SecondDaemon {
        let dir = tempfile::tempdir().unwrap();
        // A bridge name and subnet no other daemon of this or another test run uses at the time.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let n = (std::process::id() + started * 37) % 230 + 20;
        let bridge = format!("bimgtest{n}");
        let _ = run("ip", &["link", "del", &bridge]);
        assert!(
            run("ip", &["link", "add", "name", &bridge, "type", "bridge"]),
            "cannot create the bridge {bridge} (the tests run as root, as .ci/run does)"
        );
        assert!(run(
            "ip",
            &["addr", "add", &format!("10.231.{n}.1/24"), "dev", &bridge]
        ));
        assert!(run("ip", &["link", "set", &bridge, "up"]));
        let root = dir.path();
        std::fs::write(root.join("daemon.json"), "{}").unwrap();
        let host = format!("unix://{}", root.join("docker.sock").display());
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let storage = Command::new("docker")
            .args(["info", "--format", "{{.Driver}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut command = Command::new("dockerd");
        command
            .arg("--config-file")
            .arg(root.join("daemon.json"))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .args(["-H", &host, "--bridge", &bridge])
            .args(["--iptables=false", "--ip-masq=false"]);
        if !storage.is_empty() {
            command.args(["--storage-driver", &storage]);
        }
        let tls_host = tls.then(|| {
            let certs = root.join("certs");
            make_certificates(&certs, &root.join("client"));
            let host = format!("tcp://127.0.0.1:{}", super::free_port());
            command
                .args(["--tlsverify", "-H", &host])
                .arg("--tlscacert")
                .arg(certs.join("ca.pem"))
                .arg("--tlscert")
                .arg(certs.join("server-cert.pem"))
                .arg("--tlskey")
                .arg(certs.join("server-key.pem"));
            host
        });
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd runs");
        let mut daemon = SecondDaemon {
            host,
            tls_host,
            bridge,
            child: Some(child),
            dir,
        };
        let answers =
            super::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
                run("docker", &["-H", &daemon.host, "version"])
            });
        if !answers {
            let log =
                std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default();
            daemon.stop();
            panic!("the second dockerd did not answer within 60 s:\n{log}");
        }
        daemon
    }

    /// Whether a process of this daemon (a build step BuildKit runs, say) has exactly `cmdline`.
    pub fn runs(&self, cmdline: &str) -> bool {
        let Some(daemon) = self.child.as_ref().map(|c| c.id()) else {
            return false;
        };
        let parent_of = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces, so read after its closing parenthesis.
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.filter_map(Result::ok).any(|entry| {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                return false;
            };
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            if line.trim() != cmdline {
                return false;
            }
            let mut current = pid;
            for _ in 0..32 {
                match parent_of(current) {
                    Some(parent) if parent == daemon => return true,
                    Some(parent) if parent > 1 => current = parent,
                    _ => return false,
                }
            }
            false
        })
    }

    /// `docker -H <this daemon> args…`, its standard output.
    pub fn docker(&self, args: &[&str]) -> String {
        let output = Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Kills the daemon as a crash or a lost machine would (SIGKILL: running builds are cut off), then
    /// cleans up what it left: its containerd, its mounts and its bridge.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let exec_root = self.dir.path().join("exec");
        let _ = run("pkill", &["-KILL", "-f", &exec_root.display().to_string()]);
        std::thread::sleep(Duration::from_millis(500));
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let root = self.dir.path().display().to_string();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&root))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in ours {
            let _ = run("umount", &["-l", mount]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }

    /// Stops the daemon by its own pid (SIGTERM, then SIGKILL after 20 s) and removes its bridge.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = run("kill", &["-TERM", &child.id().to_string()]);
            let _ended =
                super::wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
                    child.try_wait().ok().flatten().is_some()
                });
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA, a server certificate for 127.0.0.1 (in `certs`) and a client certificate (in `client`, as
/// `key.pem`, `cert.pem`, `ca.pem`), made with openssl.
fn make_certificates(certs: &std::path::Path, client: &std::path::Path) {
    std::fs::create_dir_all(certs).unwrap();
    std::fs::create_dir_all(client).unwrap();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(certs)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=baseimg-test-ca",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    for (name, extension) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(certs.join(format!("{name}.ext")), extension).unwrap();
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}-cert.pem"),
        ]);
    }
    std::fs::copy(certs.join("ca.pem"), client.join("ca.pem")).unwrap();
    std::fs::copy(certs.join("client-cert.pem"), client.join("cert.pem")).unwrap();
    std::fs::copy(certs.join("client-key.pem"), client.join("key.pem")).unwrap();
}
