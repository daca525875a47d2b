//! Where the CLI finds the API: `--server`/`--token`, then `WASMPOD_SERVER`/`WASMPOD_TOKEN`,
//! then the client config file (`$WASMPOD_CONFIG` or `~/.wasmpod/config`, written by `server`),
//! then `http://127.0.0.1:7070`. Each may name several servers of one control plane (a comma
//! list, or a YAML list under `server:`); the client fails over between them.

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use wasmpod_api::tls::ClusterCa;
use wasmpod_api::Client;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub server: Option<Servers>,
    pub token: Option<String>,
    /// The cluster CA (base64 of its PEM, as kubeconfig's field) an https server is verified
    /// against.
    #[serde(
        default,
        rename = "certificate-authority-data",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<String>,
}

/// The config's form of the cluster CA.
pub fn encode_ca(ca: &ClusterCa) -> String {
    base64::engine::general_purpose::STANDARD.encode(ca.pem())
}

/// The CA the client trusts: `$WASMPOD_CA_FILE` (a PEM file, such as `<data dir>/ca.crt`), else
/// the config's `certificate-authority-data`.
fn trusted_ca(file: &ClientConfig) -> anyhow::Result<Option<ClusterCa>> {
    if let Some(path) = std::env::var_os("WASMPOD_CA_FILE") {
        let path = PathBuf::from(path);
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read WASMPOD_CA_FILE {}", path.display()))?;
        return ClusterCa::from_pem(&pem)
            .map(Some)
            .with_context(|| format!("WASMPOD_CA_FILE {}", path.display()));
    }
    let Some(data) = &file.certificate_authority_data else {
        return Ok(None);
    };
    let pem = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .context("certificate-authority-data in the client config is not base64")?;
    ClusterCa::from_pem(&String::from_utf8_lossy(&pem))
        .map(Some)
        .context("certificate-authority-data in the client config")
}

/// `server:` in the client config: one URL (the old form, still read) or a list of the
/// control plane's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Servers {
    One(String),
    Many(Vec<String>),
}

impl Servers {
    /// The comma list the API client takes.
    pub fn joined(&self) -> String {
        match self {
            Servers::One(url) => url.clone(),
            Servers::Many(urls) => urls.join(","),
        }
    }
}

pub fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMPOD_CONFIG") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".wasmpod").join("config"))
}

pub fn load() -> anyhow::Result<ClientConfig> {
    let Some(path) = config_path() else {
        return Ok(ClientConfig::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_yaml::from_str(&text)
            .with_context(|| format!("cannot read the client config {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the client config {}", path.display()))
        }
    }
}

pub fn save(config: &ClientConfig) -> anyhow::Result<PathBuf> {
    let path =
        config_path().context("no home directory for ~/.wasmpod/config; set WASMPOD_CONFIG")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, serde_yaml::to_string(config)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    restrict(&path);
    Ok(path)
}

/// Token files are readable by their owner only.
pub fn restrict(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// The API client for `--server`/`--token` (each already falling back to its env var).
pub fn client(server: Option<&str>, token: Option<&str>) -> anyhow::Result<Client> {
    let file = load()?;
    let ca = trusted_ca(&file)?;
    let file_server = file.server.as_ref().map(Servers::joined);
    let same_server = server.is_none() || server == file_server.as_deref();
    let server = server
        .map(str::to_string)
        .or(file_server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    // The file's token belongs to the file's server: never send it elsewhere.
    let token = token
        .map(str::to_string)
        .or(if same_server { file.token } else { None });
    Ok(Client::with_ca(&server, token, ca.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_is_one_url_or_a_list() {
        let old: ClientConfig =
            serde_yaml::from_str("server: http://a:7070\ntoken: t\n").expect("old form");
        assert_eq!(old.server.expect("server").joined(), "http://a:7070");
        let list: ClientConfig = serde_yaml::from_str(
            "server:\n- http://a:7070\n- http://b:7070\n- http://c:7070\ntoken: t\n",
        )
        .expect("list");
        assert_eq!(
            list.server.expect("server").joined(),
            "http://a:7070,http://b:7070,http://c:7070"
        );
    }
}
