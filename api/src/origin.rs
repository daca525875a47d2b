//! Origins a pod may call (`allowedOutboundHosts`): `scheme://host[:port]` or `*`. Parsed here, so
//! that apply refuses a bad origin (naming its field) and the runtime enforces the same parse.

use http::uri::{Scheme, Uri};
use std::fmt;
use thiserror::Error;

/// One allowed origin: scheme, host (lower case) and port, or anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Any,
    Exact {
        https: bool,
        host: String,
        port: u16,
    },
}

/// Why a string is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("allowed outbound host {origin:?}: {reason}")]
pub struct OriginError {
    pub origin: String,
    pub reason: &'static str,
}

impl Origin {
    pub fn parse(s: &str) -> Result<Origin, OriginError> {
        let invalid = |reason| OriginError {
            origin: s.to_string(),
            reason,
        };
        if s.trim() == "*" {
            return Ok(Origin::Any);
        }
        let uri: Uri = s.parse().map_err(|_| invalid("not a URL"))?;
        let https = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            _ => {
                return Err(invalid(
                    "expected http://host[:port] or https://host[:port]",
                ))
            }
        };
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(invalid("must not have a path"));
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Origin::Exact {
            https,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Does this origin allow a request to `uri` (absolute)?
    pub fn allows(&self, uri: &Uri) -> bool {
        match self {
            Origin::Any => true,
            Origin::Exact { https, host, port } => {
                let req_https = uri.scheme() == Some(&Scheme::HTTPS);
                let default_port = if req_https { 443 } else { 80 };
                req_https == *https
                    && uri.host().is_some_and(|h| h.eq_ignore_ascii_case(host))
                    && uri.port_u16().unwrap_or(default_port) == *port
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Any => f.write_str("*"),
            Origin::Exact { https, host, port } => {
                let scheme = if *https { "https" } else { "http" };
                write!(f, "{scheme}://{host}:{port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("test URI")
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let o = Origin::parse("https://API.example.com").expect("valid");
        assert!(o.allows(&uri("https://api.example.com/v1?x=1")));
        assert!(o.allows(&uri("https://api.example.com:443/")));
        assert!(!o.allows(&uri("http://api.example.com/")));
        assert!(!o.allows(&uri("https://api.example.com:8443/")));
        assert!(!o.allows(&uri("https://evil.com/")));

        let o = Origin::parse("http://127.0.0.1:8081").expect("valid");
        assert!(o.allows(&uri("http://127.0.0.1:8081/x")));
        assert!(!o.allows(&uri("http://127.0.0.1/x")));

        assert!(Origin::parse("*")
            .expect("valid")
            .allows(&uri("https://anything/")));
    }

    #[test]
    fn bad_origins_are_rejected() {
        for bad in [
            "api.example.com",
            "ftp://x",
            "https://x/path",
            "",
            "http://",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
