//! A real OCI registry (Debian's `docker-registry`, the CNCF Distribution
//! registry) on a loopback port, started by the test, and pushes to it by
//! an independent OCI client (ORAS's Python SDK, in xtask's deploy venv)
//! with OPA's bundle layer media type.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const VENV_PYTHON: &str = "/opt/palisade-toolchain/deploy-venv/bin/python";

pub struct Registry {
    pub host: String,
    dir: PathBuf,
    child: Child,
}

impl Registry {
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = super::scrape::free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry runs (cargo xtask setup installs it)");
        let registry = Self { host, dir: dir.to_path_buf(), child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.host).is_err() {
            assert!(Instant::now() < deadline, "the registry never listened on {}", registry.host);
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Pushes `tarball` as `repository:tag`, a manifest with one layer of
    /// OPA's bundle media type, with ORAS.
    pub fn push(&self, tarball: &Path, repository: &str, tag: &str) {
        let script = r#"
import os, sys, oras.client
target, path = sys.argv[1], sys.argv[2]
os.chdir(os.path.dirname(path))
client = oras.client.OrasClient(insecure=True)
client.push(target=target, files=[os.path.basename(path) + ":application/vnd.oci.image.layer.v1.tar+gzip"], quiet=True)
"#;
        let out = Command::new(VENV_PYTHON)
            .args(["-c", script])
            .arg(format!("{}/{repository}:{tag}", self.host))
            .arg(tarball)
            .output()
            .expect("the deploy venv's python runs (cargo xtask setup installs it)");
        assert!(out.status.success(), "oras push: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
