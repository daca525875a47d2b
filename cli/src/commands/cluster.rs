//! What `up`, `server` and `worker` share: data directories, tokens, the runtime, shutdown.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tokens of a control plane, generated on first start and kept in its data directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub admin: String,
    pub join: String,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

pub fn load_or_create_tokens(data_dir: &Path) -> anyhow::Result<Tokens> {
    let path = data_dir.join("tokens.yaml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_yaml::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tokens = Tokens {
                admin: random_token(),
                join: random_token(),
            };
            std::fs::write(&path, serde_yaml::to_string(&tokens)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            crate::config::restrict(&path);
            Ok(tokens)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the join token to `<data dir>/join-token` (mode 0600) for `worker --token-file`.
pub fn write_join_token(data_dir: &Path, token: &str) -> anyhow::Result<std::path::PathBuf> {
    use std::io::Write as _;
    let path = data_dir.join("join-token");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            // A file made before this version may be wider; narrow it before writing the token.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
        }
    }
    options
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{token}\n").as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The token in `path` (surrounding whitespace ignored).
pub fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty",
        path.display()
    );
    Ok(token.to_string())
}

/// Creates the data directory readable by its owner only (0700): it holds tokens, the store,
/// the secrets key and pods' data.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (0700)", dir.display()))
    }
    #[cfg(not(unix))]
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Cancels `shutdown` on a stop signal, then waits for `done` at most a few seconds.
pub async fn run_until_stopped<F: std::future::Future<Output = ()>>(
    shutdown: CancellationToken,
    done: F,
) {
    stop_signal().await;
    eprintln!("stopping...");
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
}

pub fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("label {text:?} is not key=value"))
}
