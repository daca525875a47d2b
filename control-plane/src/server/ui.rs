//! The web dashboard at `/ui`: static HTML, CSS and JavaScript modules embedded in the binary
//! (no CDN, no build step). These routes answer without a token because they hold no data: the
//! page asks for a token and reads everything from the API with it, as the CLI does. Every
//! answer carries a Content-Security-Policy that allows this server's own scripts and styles
//! only (no inline script, no other origin).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// What the pages may load and call: this server only, nothing inline, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its name under `/ui/` and its content.
struct Asset {
    name: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        &[$(Asset { name: $name, body: include_str!(concat!("ui/", $name)) }),*]
    };
}

const ASSETS: &[Asset] = assets![
    "index.html",
    "style.css",
    "app.js",
    "api.js",
    "live.js",
    "scope.js",
    "dom.js",
    "charts.js",
    "views/overview.js",
    "views/workloads.js",
    "views/pod.js",
    "views/network.js",
    "views/events.js",
    "views/traffic.js",
];

/// The media type of an asset, from its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such dashboard file").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(asset.name)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `/ui` (to `/ui/`), `/ui/` (the page) and `/ui/FILE`, unauthenticated: static files only.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { serve("index.html") }))
        .route(
            "/ui/{*file}",
            get(|Path(file): Path<String>| async move { serve(&file) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type() {
        for asset in ASSETS {
            assert_ne!(
                content_type(asset.name),
                "application/octet-stream",
                "{}",
                asset.name
            );
            assert!(!asset.body.is_empty(), "{}", asset.name);
        }
    }

    #[test]
    fn pages_run_no_inline_script() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".html")) {
            for tag in asset.body.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap_or_default();
                assert!(open.contains("src="), "inline script in {}", asset.name);
            }
            let handler = asset.body.split(" on").skip(1).find(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(handler.is_none(), "an inline handler in {}", asset.name);
        }
    }

    #[test]
    fn unknown_files_are_not_found() {
        assert_eq!(serve("../secrets").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("index.html").status(), StatusCode::OK);
    }

    #[test]
    fn modules_import_only_embedded_files() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let dir = asset.name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .unwrap_or_else(|| panic!("import without a path in {}", asset.name));
                let resolved = resolve(dir, target);
                assert!(
                    ASSETS.iter().any(|a| a.name == resolved),
                    "{} imports {target} ({resolved}), which is not embedded",
                    asset.name
                );
            }
        }
    }

    /// `target` relative to the directory `dir` (both under `/ui/`).
    fn resolve(dir: &str, target: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        parts.join("/")
    }
}
