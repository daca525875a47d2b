//! The ceiling for `just bench`: a native axum 0.8 server answering every request with
//! `Hello from wasmpod!` (the same body as the hello component). Usage: `axum-hello ADDR`.

use axum::serve::ListenerExt;
use axum::Router;

async fn hello() -> &'static str {
    "Hello from wasmpod!\n"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let app = Router::new().fallback(hello);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("axum-hello listening on http://{}", listener.local_addr()?);
    // Like the wasmpod gateway and `wasmtime serve`: no Nagle delay on small responses.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
