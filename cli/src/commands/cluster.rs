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

/// Where a server, `up --tls` or a joined node keeps the cluster CA's certificate.
pub fn ca_certificate_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("ca.crt")
}

/// Writes the cluster CA's certificate (public) into `data_dir`.
pub fn write_ca_certificate(
    data_dir: &Path,
    ca: &wasmpod_api::tls::ClusterCa,
) -> anyhow::Result<std::path::PathBuf> {
    let path = ca_certificate_path(data_dir);
    std::fs::write(&path, ca.pem()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The CA a node trusts for `join` (its servers' URLs): none for plain http; for https the CA
/// it kept from its first join, or, the first time (or when `pin` names another CA), the CA the
/// server presents, accepted only if it matches `pin` (and then kept in `data_dir`).
pub async fn node_trust(
    join: &str,
    data_dir: &Path,
    pin: Option<&str>,
) -> anyhow::Result<Option<wasmpod_api::tls::ClusterCa>> {
    use wasmpod_api::tls::{fetch_pinned_ca, CaPin, ClusterCa};
    let urls: Vec<&str> = join.split(',').map(str::trim).collect();
    if !urls.iter().any(|u| u.starts_with("https://")) {
        if pin.is_some() {
            tracing::warn!("--ca-cert-hash is ignored: the API URL is plain http");
        }
        return Ok(None);
    }
    let path = ca_certificate_path(data_dir);
    let stored = match std::fs::read_to_string(&path) {
        Ok(pem) => Some(
            ClusterCa::from_pem(&pem)
                .with_context(|| format!("the kept cluster CA {}", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let pin = match pin {
        Some(text) => CaPin::parse(text).context("--ca-cert-hash")?,
        None => {
            return stored.map(Some).with_context(|| {
                format!(
                    "joining {join} over https needs --ca-cert-hash sha256:... (printed by \
                     `wasmpod server`) the first time; {} does not exist yet",
                    path.display()
                )
            })
        }
    };
    if let Some(ca) = stored.filter(|ca| ca.pin().ok().as_ref() == Some(&pin)) {
        return Ok(Some(ca));
    }
    let mut last = None;
    for url in urls.iter().filter(|u| u.starts_with("https://")) {
        match fetch_pinned_ca(url, &pin).await {
            Ok(ca) => {
                write_ca_certificate(data_dir, &ca)?;
                tracing::info!(%url, %pin, path = %path.display(), "the server's CA matches the pin; kept");
                return Ok(Some(ca));
            }
            Err(error @ wasmpod_api::tls::TlsError::PinMismatch { .. }) => {
                return Err(error).context("refusing to join")
            }
            Err(error) => {
                tracing::warn!(%url, %error, "cannot fetch the cluster CA");
                last = Some(error);
            }
        }
    }
    match last {
        Some(error) => Err(error).context("cannot fetch the cluster CA from any server"),
        None => anyhow::bail!("no https server in --join {join}"),
    }
}
