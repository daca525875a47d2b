//! Several `wasmpod server`s of one cluster on one etcd: the files they must share (admin and
//! join tokens, the secrets key) in one work directory, and the command that starts server `i`
//! on them with its own data directory.

use crate::wasmpod_bin;
use std::path::PathBuf;
use std::process::Command;

/// The shared files of a cluster's servers, in a temporary work directory.
pub struct ServerFiles {
    pub work: tempfile::TempDir,
    pub admin: String,
}

impl ServerFiles {
    /// Writes `tokens.yaml` (admin and join token), `secrets.key` (`key_byte` repeated) and
    /// `join-token` (for `worker --token-file`).
    pub fn new(key_byte: u8) -> ServerFiles {
        let work = tempfile::tempdir().expect("tempdir");
        let admin = "a".repeat(48);
        let join = "j".repeat(48);
        std::fs::write(
            work.path().join("tokens.yaml"),
            format!("admin: {admin}\njoin: {join}\n"),
        )
        .expect("tokens");
        std::fs::write(work.path().join("secrets.key"), [key_byte; 32]).expect("key");
        std::fs::write(work.path().join("join-token"), &join).expect("token file");
        ServerFiles { work, admin }
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.work.path().join(format!("server-{i}"))
    }

    /// `wasmpod server` number `i` on `api_addr` and the etcd `store` (plain HTTP), with the
    /// shared tokens and key; its data directory is made.
    pub fn server_command(&self, i: usize, api_addr: &str, store: &str) -> Command {
        let mut command = self.command(i, api_addr, store);
        command.arg("--insecure-http");
        command
    }

    /// As [`ServerFiles::server_command`], serving its API over TLS with the cluster CA (the
    /// first server makes it in the store, every other uses it); it prints `cluster CA: PATH
    /// (PIN)`.
    pub fn tls_server_command(&self, i: usize, api_addr: &str, store: &str) -> Command {
        self.command(i, api_addr, store)
    }

    fn command(&self, i: usize, api_addr: &str, store: &str) -> Command {
        let dir = self.data_dir(i);
        std::fs::create_dir_all(&dir).expect("data dir");
        std::fs::copy(
            self.work.path().join("tokens.yaml"),
            dir.join("tokens.yaml"),
        )
        .expect("copy tokens");
        let mut command = Command::new(wasmpod_bin());
        command
            .args(["server", "--api-addr", api_addr, "--no-client-config"])
            .arg("--data-dir")
            .arg(&dir)
            .arg("--encryption-key")
            .arg(self.work.path().join("secrets.key"))
            .args(["--store", store])
            .args(["--name", &format!("server-{i}")]);
        command
    }
}
