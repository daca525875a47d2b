//! The client's failover between the servers of one control plane, against real sockets: the
//! first URL dead, the second answering until it is killed mid-way, the third taking over.

use crate::Client;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every request with a cluster status naming `name`, or with `status`.
async fn serve(name: &'static str, status: u16) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = if status == 200 {
                    format!(
                        r#"{{"election":"test","leader":null,"servers":[{{"name":"{name}","url":"u","started":"2026-01-01T00:00:00Z"}}]}}"#
                    )
                } else {
                    r#"{"error":{"code":503,"reason":"ServiceUnavailable","message":"store down"}}"#
                        .to_string()
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

async fn answered_by(client: &Client) -> String {
    client.cluster().await.expect("an answer").servers[0]
        .name
        .clone()
}

#[tokio::test]
async fn requests_fail_over_to_the_next_server_and_stay_there() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port nobody listens on");
    let (unavailable, _u) = serve("unavailable", 503).await;
    let (second, second_task) = serve("second", 200).await;
    let (third, _t) = serve("third", 200).await;
    let client = Client::new(
        &format!("http://{dead}, http://{unavailable},http://{second},http://{third}/"),
        None,
    );
    assert_eq!(client.servers().len(), 4);
    assert_eq!(answered_by(&client).await, "second");
    assert_eq!(client.server(), format!("http://{second}"));
    // It sticks to the server that answered.
    for _ in 0..3 {
        assert_eq!(answered_by(&client).await, "second");
    }
    // The second server dies mid-way: the next request goes round to the third.
    second_task.abort();
    let _ = second_task.await;
    assert_eq!(answered_by(&client).await, "third");
    assert_eq!(answered_by(&client).await, "third");
    assert_eq!(client.server(), format!("http://{third}"));
}

#[tokio::test]
async fn when_no_server_answers_the_error_names_it() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let client = Client::new(&format!("http://{dead}"), None);
    let error = client.cluster().await.expect_err("nobody answers");
    assert!(error.to_string().contains(&dead.to_string()), "{error}");
    // A 503 from the only server is the answer, not retried forever.
    let (unavailable, _u) = serve("unavailable", 503).await;
    let client = Client::new(&format!("http://{unavailable}"), None);
    let error = client.cluster().await.expect_err("503");
    assert_eq!(error.status(), Some(503));
}
