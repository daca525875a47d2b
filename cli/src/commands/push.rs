//! `push FILE.wasm REGISTRY/REPO:TAG`: writes the component to an OCI registry as a Wasm
//! artifact in the CNCF layout (config `application/vnd.wasm.config.v0+json`, one
//! `application/wasm` layer) and prints the manifest's digest, which a pod names as
//! `oci://REGISTRY/REPO@sha256:...` (or by tag: the API server pins it at apply).

use anyhow::Context as _;
use clap::Args;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use wasmpod_api::oci::{Credentials, Progress, Reference, RegistryClient, WasmArtifact};

#[derive(Debug, Args)]
pub struct Push {
    /// The component to push (a .wasm file)
    pub file: PathBuf,
    /// Where: REGISTRY/REPOSITORY:TAG (e.g. registry.example.com:5000/team/hello:v1)
    pub reference: String,
    /// Speak plain HTTP to this registry (it must be one you trust on the network path)
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name (basic auth, or for the registry's token service)
    #[arg(long, env = "WASMPOD_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Read the registry password from stdin (with --username)
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}

impl Push {
    pub async fn run(self) -> anyhow::Result<()> {
        let reference = Reference::parse(&self.reference)?;
        let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else {
            anyhow::bail!(
                "{}: push to a tag (REGISTRY/REPOSITORY:TAG); the digest is printed after the push",
                self.reference
            );
        };
        let credentials = match (&self.username, self.password_stdin) {
            (Some(username), true) => {
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .context("cannot read the password from stdin")?;
                Some(Credentials {
                    username: username.clone(),
                    password: password.trim_end_matches(['\r', '\n']).to_string(),
                })
            }
            (Some(_), false) => anyhow::bail!("--username needs --password-stdin"),
            (None, _) => None,
        };
        let component = tokio::fs::read(&self.file)
            .await
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        if !component.starts_with(b"\0asm") {
            anyhow::bail!("{} is not a WebAssembly file", self.file.display());
        }
        let artifact = WasmArtifact::new(component, chrono::Utc::now());
        let insecure = if self.insecure {
            vec![reference.registry.clone()]
        } else {
            Vec::new()
        };
        let repository = RegistryClient::new(&insecure).repository(&reference, credentials);
        let layer_digest = wasmpod_api::oci::manifest::sha256_digest(&artifact.component);
        repository
            .push_blob(
                &layer_digest,
                artifact.component.clone().into(),
                Some(progress()),
            )
            .await
            .context("cannot push the component layer")?;
        let config_digest = wasmpod_api::oci::manifest::sha256_digest(&artifact.config);
        repository
            .push_blob(&config_digest, artifact.config.clone().into(), None)
            .await
            .context("cannot push the config")?;
        let digest = repository
            .push_manifest(&tag, &artifact.manifest)
            .await
            .context("cannot push the manifest")?;
        eprintln!("pushed {reference}");
        println!("{digest}");
        Ok(())
    }
}

/// Upload progress on stderr when it is a terminal (a line at the end otherwise).
fn progress() -> Progress {
    let terminal = std::io::stderr().is_terminal();
    Arc::new(move |sent, total| {
        let mut err = std::io::stderr().lock();
        if terminal {
            let percent = (sent * 100).checked_div(total).unwrap_or(100);
            let _ = write!(err, "\rcomponent: {sent}/{total} bytes ({percent}%)");
            if sent == total {
                let _ = writeln!(err);
            }
        } else if sent == total {
            let _ = writeln!(err, "component: {total} bytes uploaded");
        }
    })
}
