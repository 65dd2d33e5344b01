//! An ssh server on 127.0.0.1 for tests that reach a daemon over `ssh://`, as a remote build machine
//! is reached: Debian's `sshd` with a configuration, host key and authorized key of its own in a
//! temporary directory, started by the test and stopped by its own pid. The client side never
//! touches the user's `~/.ssh`: [`SshServer::ssh_command`] is what BASEIMG_SSH_COMMAND takes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SshServer {
    pub port: u16,
    /// The user the tests log in as: the one running them.
    pub user: String,
    child: Child,
    dir: tempfile::TempDir,
}

fn keygen(path: &Path) {
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (Debian's openssh-client; scripts/setup-machine installs it)");
    assert!(
        made.success(),
        "ssh-keygen made no key at {}",
        path.display()
    );
}

impl SshServer {
    pub fn start() -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        keygen(&root.join("host_key"));
        keygen(&root.join("client_key"));
        keygen(&root.join("stranger_key"));
        std::fs::copy(root.join("client_key.pub"), root.join("authorized_keys")).unwrap();
        let port = super::free_port();
        let host_key = std::fs::read_to_string(root.join("host_key.pub")).unwrap();
        std::fs::write(
            root.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .unwrap();
        std::fs::write(
            root.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {root}/host_key\n\
                 AuthorizedKeysFile {root}/authorized_keys\nPidFile {root}/sshd.pid\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n",
                root = root.display()
            ),
        )
        .unwrap();
        // sshd's privilege separation directory, which Debian's service would make at its start.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = std::fs::File::create(root.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(root.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sshd runs (Debian's openssh-server; scripts/setup-machine installs it)");
        let user = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap();
        let server = SshServer {
            port,
            user,
            child,
            dir,
        };
        let listens =
            super::wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        assert!(
            listens,
            "sshd did not listen within 20 s:\n{}",
            server.log()
        );
        server
    }

    /// The ssh command line that logs in with the authorized key and knows the host key.
    pub fn ssh_command(&self) -> String {
        self.ssh_command_with(&self.dir.path().join("client_key"))
    }

    /// The same, with a key the server does not know.
    pub fn stranger_ssh_command(&self) -> String {
        self.ssh_command_with(&self.dir.path().join("stranger_key"))
    }

    fn ssh_command_with(&self, key: &Path) -> String {
        format!(
            "ssh -F none -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={}",
            key.display(),
            self.dir.path().join("known_hosts").display()
        )
    }

    /// The `ssh://` address of a daemon on this machine, reached through this server: `socket` is a
    /// `unix://` address (a second daemon's).
    pub fn address_of(&self, socket: &str) -> String {
        let path = socket.strip_prefix("unix://").unwrap_or(socket);
        format!("ssh://{}@127.0.0.1:{}{path}", self.user, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
