//! `create client-certificate NAME --out DIR [--days N]`: a client certificate of the cluster CA
//! for a tool outside the cluster, such as Prometheus scraping the nodes' agents of a TLS
//! cluster (see [`wasmpod_api::client_certificate`]). The key pair is made here and its private
//! half never leaves this machine: only the public key is sent (admin only). Writes
//! `DIR/NAME.key` (0600), `DIR/NAME.crt` and `DIR/ca.crt`.

use anyhow::Context;
use base64::Engine as _;
use clap::Args;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use wasmpod_api::client_certificate::{ClientCertificateRequest, DEFAULT_VALID_DAYS};

/// `create client-certificate`: takes the server and token flags by themselves (no namespace).
#[derive(Debug, Args)]
pub struct CreateClientCertificate {
    /// The tool's name (a DNS label); the certificate names NAME.clients.wasmpod
    name: String,
    /// The directory the key, the certificate and the CA are written to (made if missing)
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Days the certificate is valid (it cannot be revoked: run this again to renew)
    #[arg(long, default_value_t = DEFAULT_VALID_DAYS)]
    days: u32,
    /// API server URL (default: the client config)
    #[arg(long, env = "WASMPOD_SERVER")]
    server: Option<String>,
    /// Bearer token for the API (an admin's)
    #[arg(long, env = "WASMPOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Writes `contents` to `path` with `mode`: through a new file beside it, renamed over `path`, so
/// the file never exists with wider permissions or half written.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name", path.display()))?;
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let written = options
        .open(&temporary)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

impl CreateClientCertificate {
    pub async fn run(self) -> anyhow::Result<()> {
        let key = rcgen::KeyPair::generate().context("cannot make a P-256 key pair")?;
        let request = ClientCertificateRequest {
            name: self.name.clone(),
            public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key_raw()),
            valid_days: Some(self.days),
        };
        let client = crate::config::client(self.server.as_deref(), self.token.as_deref())?;
        let issued = client
            .create_client_certificate(&request)
            .await
            .with_context(|| format!("the API refused a client certificate for {:?}", self.name))?;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot make {}", self.out.display()))?;
        let key_file = self.out.join(format!("{}.key", self.name));
        let certificate_file = self.out.join(format!("{}.crt", self.name));
        let ca_file = self.out.join("ca.crt");
        write_file(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&certificate_file, issued.certificate_pem.as_bytes(), 0o644)?;
        write_file(&ca_file, issued.ca_pem.as_bytes(), 0o644)?;
        eprintln!(
            "client certificate for {} (client authentication only), valid until {}",
            issued.dns_name,
            issued.not_after.format("%Y-%m-%d %H:%M UTC")
        );
        println!("key: {} (0600, made here, never sent)", key_file.display());
        println!("certificate: {}", certificate_file.display());
        println!("cluster CA: {}", ca_file.display());
        Ok(())
    }
}
