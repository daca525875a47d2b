//! The URL spans are sent to, from `--otlp-endpoint` or the OTel SDK's endpoint variables.

use http::Uri;

/// The path OTLP/HTTP receivers take spans on.
const TRACES_PATH: &str = "v1/traces";

/// How a URL names the traces endpoint (the OTel spec's rules, and ours for the flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// `--otlp-endpoint`: a collector's base URL (no path: spans to `/v1/traces`) or, with a
    /// path, the full traces URL.
    Flag,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the traces URL as it is (`/` when it has no path).
    Traces,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: a base URL, `v1/traces` appended to its path.
    Base,
}

/// The URL spans are POSTed to, from a URL of `kind`.
pub fn traces_url(text: &str, kind: UrlKind) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => http::uri::Scheme::HTTP,
        Some(s) if s.eq_ignore_ascii_case("https") => http::uri::Scheme::HTTPS,
        _ => {
            return Err(format!(
                "{text:?}: the collector's URL must start with http:// or https://"
            ))
        }
    };
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(format!("{text:?} names no host"));
    };
    let path = uri.path();
    let path = match kind {
        UrlKind::Flag if path.is_empty() || path == "/" => format!("/{TRACES_PATH}"),
        UrlKind::Flag | UrlKind::Traces if path.is_empty() => "/".to_string(),
        UrlKind::Flag | UrlKind::Traces => path.to_string(),
        UrlKind::Base if path.ends_with('/') => format!("{path}{TRACES_PATH}"),
        UrlKind::Base => format!("{path}/{TRACES_PATH}"),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    Uri::builder()
        .scheme(scheme)
        .authority(authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))
}
