//! Where spans go and how: the collector's traces URL, the headers sent with every export, the CA
//! that verifies an `https://` collector and the client certificate shown to it, the timeout of
//! one export, and the resource the spans come from (`service.name` and other attributes) — from
//! the flags of `up`, `server` and `worker` and the OpenTelemetry SDK's standard environment
//! variables, `OTEL_SDK_DISABLED` turning it all off. A flag wins
//! over its variable, a signal's own variable (`..._TRACES_...`) over the generic one, and an
//! empty variable counts as unset (the OTel spec's rules). Everything is checked here, before the
//! process binds a socket: a bad value is an error that names its flag or variable (and never
//! prints a header's value or a key: they are credentials). Files (the CA, the client's
//! certificate and key) are read by `transport.rs`, still before any socket.

use super::endpoint::{self, UrlKind};
use super::{headers, values};
use http::{HeaderMap, Uri};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
pub const HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const TRACES_HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
pub const CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
pub const TRACES_CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
pub const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";
pub const PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub const TRACES_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
pub const TIMEOUT_VAR: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
pub const TRACES_TIMEOUT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
pub const CLIENT_CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
pub const TRACES_CLIENT_CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE";
pub const CLIENT_KEY_VAR: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
pub const TRACES_CLIENT_KEY_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY";
pub const RESOURCE_ATTRIBUTES_VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub const SDK_DISABLED_VAR: &str = "OTEL_SDK_DISABLED";

/// The resource attribute `OTEL_SERVICE_NAME` sets, and the ones wasmpod sets itself.
pub const SERVICE_NAME: &str = "service.name";
pub const SERVICE_INSTANCE: &str = "service.instance.id";
pub const NODE: &str = "wasmpod.node";

/// The one OTLP protocol wasmpod speaks, as the protocol variables name it.
const HTTP_PROTOBUF: &str = "http/protobuf";

const ENDPOINT_FLAG: &str = "--otlp-endpoint";
const HEADER_FLAG: &str = "--otlp-header";
const CA_FILE_FLAG: &str = "--otlp-ca-file";
const TIMEOUT_FLAG: &str = "--otlp-timeout";
const CLIENT_CERTIFICATE_FLAG: &str = "--otlp-client-certificate";
const CLIENT_KEY_FLAG: &str = "--otlp-client-key";

/// The span export flags of the commands that run a cluster (`up`, `server`, `worker`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OtlpArgs {
    /// Export OpenTelemetry spans over OTLP/HTTP (protobuf) to this collector, e.g.
    /// http://collector:4318 or https://collector:4318 (spans go to its /v1/traces; a URL with
    /// another path is used as it is). Without it, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_ENDPOINT; with none of them nothing is exported
    #[arg(long, env = "WASMPOD_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// A header sent with every export, e.g. the collector's API key (repeatable); wins over the
    /// same header in OTEL_EXPORTER_OTLP_HEADERS
    #[arg(long = "otlp-header", value_name = "KEY=VALUE")]
    pub otlp_headers: Vec<String>,
    /// The CA certificate(s), PEM, that an https:// collector's certificate is verified against,
    /// instead of the system's roots (default: OTEL_EXPORTER_OTLP_CERTIFICATE, else the system's)
    #[arg(long, value_name = "PATH")]
    pub otlp_ca_file: Option<PathBuf>,
    /// The client certificate (chain), PEM, shown to an https:// collector that asks for one
    /// (mutual TLS); needs --otlp-client-key (default: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)
    #[arg(long, value_name = "PATH")]
    pub otlp_client_certificate: Option<PathBuf>,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1), of --otlp-client-certificate (default:
    /// OTEL_EXPORTER_OTLP_CLIENT_KEY)
    #[arg(long, value_name = "PATH")]
    pub otlp_client_key: Option<PathBuf>,
    /// How long one export may take, e.g. 5s or 500ms (default: OTEL_EXPORTER_OTLP_TRACES_TIMEOUT
    /// or OTEL_EXPORTER_OTLP_TIMEOUT in milliseconds, else 10s)
    #[arg(long, value_name = "DURATION", value_parser = crate::commands::wait::parse_duration)]
    pub otlp_timeout: Option<Duration>,
}

/// Where a setting came from: named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Flag(&'static str),
    Env(&'static str),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Flag(name) | Setting::Env(name) => f.write_str(name),
        }
    }
}

/// How a setting is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {reason}")]
    Invalid { setting: Setting, reason: String },
    #[error(
        "{0} is set but no collector is: give --otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)"
    )]
    NoCollector(Setting),
    #[error("{setting} is for an https:// collector, but {url} is plain http")]
    TlsWithoutHttps { setting: Setting, url: String },
    #[error("{given} is set but its pair is not: a client certificate goes with its key (give {missing})")]
    HalfAnIdentity {
        given: Setting,
        missing: &'static str,
    },
}

fn invalid(setting: Setting, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// What this process does with its spans.
#[derive(Debug, Clone, PartialEq)]
pub enum Exporting {
    /// No collector is configured.
    Off,
    /// A collector is configured (by `collector`), but `OTEL_SDK_DISABLED=true` turns export off.
    Disabled { collector: Setting },
    /// Spans go to this collector.
    To(Box<ExportConfig>),
}

/// A resolved, checked export setup.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// The URL the spans are POSTed to.
    pub traces_url: Uri,
    /// Sent with every export (their values marked sensitive).
    pub headers: HeaderMap,
    /// The trust for an `https://` collector.
    pub roots: Roots,
    /// The certificate and key shown to an `https://` collector that asks for one.
    pub client_identity: Option<ClientIdentity>,
    /// The longest one export may take.
    pub timeout: Duration,
    /// The `service.name` of the spans, when `OTEL_SERVICE_NAME` sets it.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in order.
    pub resource_attributes: Vec<(String, String)>,
}

impl ExportConfig {
    /// Whether the collector is spoken to over TLS.
    pub fn is_https(&self) -> bool {
        self.traces_url.scheme() == Some(&http::uri::Scheme::HTTPS)
    }

    /// The resource attributes of the spans of `instance` (a node's or server's name), whose
    /// `service.name` is `default_service` unless set: `service.name` first (from
    /// `OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else the default), then the
    /// variable's other attributes, then the instance's, which the variable cannot replace (one
    /// environment is often shared by every node).
    pub fn resource(&self, default_service: &str, instance: &str) -> Vec<(String, String)> {
        let from_attributes = self
            .resource_attributes
            .iter()
            .find(|(key, _)| key == SERVICE_NAME)
            .map(|(_, value)| value.as_str());
        let service = self
            .service_name
            .as_deref()
            .or(from_attributes)
            .unwrap_or(default_service);
        let ours = [SERVICE_NAME, SERVICE_INSTANCE, NODE];
        std::iter::once((SERVICE_NAME.to_string(), service.to_string()))
            .chain(
                self.resource_attributes
                    .iter()
                    .filter(|(key, _)| !ours.contains(&key.as_str()))
                    .cloned(),
            )
            .chain([
                (SERVICE_INSTANCE.to_string(), instance.to_string()),
                (NODE.to_string(), instance.to_string()),
            ])
            .collect()
    }
}

/// A PEM file and the flag or variable that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub path: PathBuf,
    pub setting: Setting,
}

/// The client certificate (chain) and its private key, for a collector that requires mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub certificate: NamedFile,
    pub key: NamedFile,
}

/// What an `https://` collector's certificate is verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's trust store.
    System,
    /// The CA certificates of a PEM file, and the flag or variable that named it.
    CaFile { path: PathBuf, setting: Setting },
}

impl OtlpArgs {
    /// The export this process does, from the flags and the process environment.
    pub fn resolve_from_env(&self) -> Result<Exporting, ConfigError> {
        self.resolve(|name| std::env::var_os(name))
    }

    /// The export this process does, from the flags and the environment `env` reads.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Exporting, ConfigError> {
        let var = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match env(name).map(OsString::into_string) {
                None => Ok(None),
                Some(Ok(text)) if text.trim().is_empty() => Ok(None),
                Some(Ok(text)) => Ok(Some(text)),
                Some(Err(_)) => Err(invalid(Setting::Env(name), "is not UTF-8")),
            }
        };
        let endpoint = match self
            .otlp_endpoint
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            Some(text) => Some((
                Setting::Flag(ENDPOINT_FLAG),
                text.to_string(),
                UrlKind::Flag,
            )),
            None => match var(TRACES_ENDPOINT_VAR)? {
                Some(text) => Some((Setting::Env(TRACES_ENDPOINT_VAR), text, UrlKind::Traces)),
                None => {
                    var(ENDPOINT_VAR)?.map(|text| (Setting::Env(ENDPOINT_VAR), text, UrlKind::Base))
                }
            },
        };
        let Some((setting, text, kind)) = endpoint else {
            // Flags that only make sense with a collector say so; variables may be meant for
            // other programs of the environment.
            if !self.otlp_headers.is_empty() {
                return Err(ConfigError::NoCollector(Setting::Flag(HEADER_FLAG)));
            }
            if self.otlp_ca_file.is_some() {
                return Err(ConfigError::NoCollector(Setting::Flag(CA_FILE_FLAG)));
            }
            if self.otlp_client_certificate.is_some() {
                return Err(ConfigError::NoCollector(Setting::Flag(
                    CLIENT_CERTIFICATE_FLAG,
                )));
            }
            if self.otlp_client_key.is_some() {
                return Err(ConfigError::NoCollector(Setting::Flag(CLIENT_KEY_FLAG)));
            }
            if self.otlp_timeout.is_some() {
                return Err(ConfigError::NoCollector(Setting::Flag(TIMEOUT_FLAG)));
            }
            return Ok(Exporting::Off);
        };
        // The SDK's off switch wins over every other setting, which is then not looked at.
        if let Some(text) = var(SDK_DISABLED_VAR)? {
            match values::boolean(&text) {
                Some(true) => return Ok(Exporting::Disabled { collector: setting }),
                Some(false) => {}
                None => {
                    return Err(invalid(
                        Setting::Env(SDK_DISABLED_VAR),
                        format!("{:?} is neither true nor false", text.trim()),
                    ))
                }
            }
        }
        let traces_url =
            endpoint::traces_url(text.trim(), kind).map_err(|reason| invalid(setting, reason))?;
        // A collector set up for another protocol (gRPC on 4317) would only fail at each export.
        let protocol = match var(TRACES_PROTOCOL_VAR)? {
            Some(protocol) => Some((TRACES_PROTOCOL_VAR, protocol)),
            None => var(PROTOCOL_VAR)?.map(|protocol| (PROTOCOL_VAR, protocol)),
        };
        if let Some((name, protocol)) = protocol {
            if protocol.trim() != HTTP_PROTOBUF {
                return Err(invalid(
                    Setting::Env(name),
                    format!("{protocol:?}: wasmpod exports over {HTTP_PROTOBUF} only"),
                ));
            }
        }
        let https = traces_url.scheme() == Some(&http::uri::Scheme::HTTPS);

        let mut headers = HeaderMap::new();
        for name in [HEADERS_VAR, TRACES_HEADERS_VAR] {
            if let Some(text) = var(name)? {
                for (key, value) in
                    headers::from_env(&text).map_err(|r| invalid(Setting::Env(name), r))?
                {
                    headers.insert(key, value);
                }
            }
        }
        for text in &self.otlp_headers {
            let (key, value) =
                headers::from_flag(text).map_err(|r| invalid(Setting::Flag(HEADER_FLAG), r))?;
            headers.insert(key, value);
        }

        let roots = match &self.otlp_ca_file {
            Some(path) => Roots::CaFile {
                path: path.clone(),
                setting: Setting::Flag(CA_FILE_FLAG),
            },
            None => match var(TRACES_CERTIFICATE_VAR)? {
                Some(path) => Roots::CaFile {
                    path: path.into(),
                    setting: Setting::Env(TRACES_CERTIFICATE_VAR),
                },
                None => match var(CERTIFICATE_VAR)? {
                    Some(path) => Roots::CaFile {
                        path: path.into(),
                        setting: Setting::Env(CERTIFICATE_VAR),
                    },
                    None => Roots::System,
                },
            },
        };
        let roots = match roots {
            // A CA flag for a plain collector is a mistake worth saying; the variables may be
            // set for other programs and a plain collector ignores them.
            Roots::CaFile {
                setting: Setting::Flag(_),
                ..
            } if !https => {
                return Err(ConfigError::TlsWithoutHttps {
                    setting: Setting::Flag(CA_FILE_FLAG),
                    url: traces_url.to_string(),
                })
            }
            Roots::CaFile { .. } if !https => Roots::System,
            roots => roots,
        };

        let file = |flag: &Option<PathBuf>,
                    flag_name: &'static str,
                    vars: [&'static str; 2]|
         -> Result<Option<NamedFile>, ConfigError> {
            if let Some(path) = flag {
                return Ok(Some(NamedFile {
                    path: path.clone(),
                    setting: Setting::Flag(flag_name),
                }));
            }
            for name in vars {
                if let Some(path) = var(name)? {
                    return Ok(Some(NamedFile {
                        path: path.trim().into(),
                        setting: Setting::Env(name),
                    }));
                }
            }
            Ok(None)
        };
        let certificate = file(
            &self.otlp_client_certificate,
            CLIENT_CERTIFICATE_FLAG,
            [TRACES_CLIENT_CERTIFICATE_VAR, CLIENT_CERTIFICATE_VAR],
        )?;
        let key = file(
            &self.otlp_client_key,
            CLIENT_KEY_FLAG,
            [TRACES_CLIENT_KEY_VAR, CLIENT_KEY_VAR],
        )?;
        let client_identity = match (certificate, key) {
            (None, None) => None,
            (Some(given), None) => {
                return Err(ConfigError::HalfAnIdentity {
                    given: given.setting,
                    missing: "--otlp-client-key or OTEL_EXPORTER_OTLP_CLIENT_KEY",
                })
            }
            (None, Some(given)) => {
                return Err(ConfigError::HalfAnIdentity {
                    given: given.setting,
                    missing: "--otlp-client-certificate or OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                })
            }
            (Some(certificate), Some(key)) => Some(ClientIdentity { certificate, key }),
        };
        let client_identity = match client_identity {
            Some(identity) if !https => {
                // As with the CA: a flag for a plain collector is a mistake, a variable may be
                // another program's.
                let flag = [&identity.certificate, &identity.key]
                    .into_iter()
                    .map(|file| file.setting)
                    .find(|setting| matches!(setting, Setting::Flag(_)));
                if let Some(setting) = flag {
                    return Err(ConfigError::TlsWithoutHttps {
                        setting,
                        url: traces_url.to_string(),
                    });
                }
                None
            }
            identity => identity,
        };

        let timeout = match var(TRACES_TIMEOUT_VAR)? {
            Some(text) => Some((TRACES_TIMEOUT_VAR, text)),
            None => var(TIMEOUT_VAR)?.map(|text| (TIMEOUT_VAR, text)),
        };
        let timeout = match (self.otlp_timeout, timeout) {
            (Some(flag), _) if flag.is_zero() => {
                return Err(invalid(Setting::Flag(TIMEOUT_FLAG), values::ZERO_TIMEOUT));
            }
            (Some(flag), _) => flag,
            (None, Some((name, text))) => {
                values::timeout(&text).map_err(|reason| invalid(Setting::Env(name), reason))?
            }
            (None, None) => values::DEFAULT_TIMEOUT,
        };
        let resource_attributes = match var(RESOURCE_ATTRIBUTES_VAR)? {
            Some(text) => values::resource_attributes(&text)
                .map_err(|reason| invalid(Setting::Env(RESOURCE_ATTRIBUTES_VAR), reason))?,
            None => Vec::new(),
        };
        Ok(Exporting::To(Box::new(ExportConfig {
            traces_url,
            headers,
            roots,
            client_identity,
            timeout,
            service_name: var(SERVICE_NAME_VAR)?.map(|name| name.trim().to_string()),
            resource_attributes,
        })))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
