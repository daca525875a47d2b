use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use wasmpod_runtime::*;
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let runtime = Runtime::new(RuntimeConfig::new(std::env::temp_dir().join("wasmpod-runtime-tests"))).unwrap();
    let bytes = std::fs::read("sample-services/target/wasm32-wasip2/release/hello.wasm").unwrap();
    let c = runtime.load_component("hello-bench", &bytes).unwrap();
    let pod = runtime.http_pod(&c, PodRuntimeSpec::new("hello"), PodLogs::default()).unwrap();
    println!("pagemap {}", wasmtime::PoolingAllocationConfig::is_pagemap_scan_available());
    rt.block_on(async {
        for round in 0..3 {
            let n = 5000;
            let t = std::time::Instant::now();
            for _ in 0..n {
                let req = http::Request::get("http://x/hello").body(Empty::<Bytes>::new()).unwrap();
                let resp = pod.handle(req).await;
                let _ = resp.into_body().collect().await.unwrap();
            }
            println!("round {round}: {:?}/req", t.elapsed() / n);
        }
    });
}
