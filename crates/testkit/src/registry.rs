//! Real registries for the tests: Debian's `docker-registry` (the CNCF distribution registry) on a
//! free 127.0.0.1 port with its storage in a temporary directory, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Registry {
    pub host: String,
    child: Child,
    _storage: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// `htpasswd`: a file of `user:bcrypt-hash` lines; the registry then wants Basic credentials.
    pub fn start_with(htpasswd: Option<&Path>) -> Registry {
        Registry::launch(htpasswd, None, None)
    }

    /// A registry that writes one access-log line per request into `log` (for counting requests
    /// without a proxy in the data path).
    pub fn start_logged(log: &Path) -> Registry {
        Registry::launch(None, Some(log), None)
    }

    /// A registry whose storage starts as a copy of `data`: what a stopped registry's
    /// [`Registry::data`] held (images pushed once, served to every test that wants them).
    pub fn start_from(data: &Path) -> Registry {
        Registry::launch(None, None, Some(data))
    }

    /// Starts a registry on a free port. The port is free when chosen but may be taken before the
    /// registry binds it (tests run in parallel); then the registry exits, and another port is tried.
    fn launch(htpasswd: Option<&Path>, access_log: Option<&Path>, from: Option<&Path>) -> Registry {
        for _ in 0..5 {
            let mut registry = Registry::launch_once(htpasswd, access_log, from);
            if registry.wait_ready() {
                return registry;
            }
            registry.stop();
        }
        panic!("docker-registry did not start on any of five ports");
    }

    fn launch_once(
        htpasswd: Option<&Path>,
        access_log: Option<&Path>,
        from: Option<&Path>,
    ) -> Registry {
        let storage = tempfile::tempdir().unwrap();
        if let Some(data) = from {
            super::copy_tree(data, &storage.path().join("data"));
        }
        let port = super::free_port();
        let auth = match htpasswd {
            Some(path) => format!(
                "auth:\n  htpasswd:\n    realm: baseimg-test\n    path: {}\n",
                path.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: {}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            access_log.is_none(),
            storage.path().join("data").display()
        );
        let config_path = storage.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let binary = ["/usr/bin/docker-registry", "docker-registry"]
            .into_iter()
            .find(|b| Path::new(b).exists())
            .unwrap_or("docker-registry");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(match access_log {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None => Stdio::null(),
            })
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry must be installed (.ci/run installs Debian's docker-registry)",
            );
        Registry {
            host: format!("127.0.0.1:{port}"),
            child,
            _storage: storage,
        }
    }

    /// Whether this registry (and not another process on its port) answers.
    fn wait_ready(&mut self) -> bool {
        let answered =
            super::wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
                self.child.try_wait().ok().flatten().is_some()
                    || std::net::TcpStream::connect(&self.host).is_ok()
            });
        if !answered || self.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(30));
        self.child.try_wait().ok().flatten().is_none()
    }

    /// The directory the registry keeps its content in.
    pub fn data(&self) -> PathBuf {
        self._storage.path().join("data")
    }

    /// The bytes of every distinct blob (layers, configs and manifests) the registry stores: its
    /// storage keeps each digest once, whatever number of repositories link it.
    pub fn stored_blob_bytes(&self) -> u64 {
        let blobs = self.data().join("docker/registry/v2/blobs");
        walkdir::WalkDir::new(blobs)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file() && entry.file_name() == "data")
            .map(|entry| entry.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// Removes from the machine's daemon every image named under this registry, whatever a test left.
    pub fn remove_local_images(&self) {
        let listed = std::process::Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ours = format!("{}/", self.host);
        for image in listed.lines().filter(|l| l.starts_with(&ours)) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "--force", image])
                .output();
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
