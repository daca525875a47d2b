//! The embedded backend against a real sled database (the Redis backend is tested end to end
//! against a real server in `tests/e2e/keyvalue.rs`).

use super::*;

fn embedded(dir: &std::path::Path, namespace: &str, name: &str) -> KeyValueStore {
    KeyValueBackends::new(dir)
        .store(namespace, name, &StoreBackend::Embedded)
        .unwrap()
}

#[tokio::test]
async fn embedded_store_round_trips_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let backends = KeyValueBackends::new(dir.path().join("kv"));
    let store = backends
        .store("default", "s", &StoreBackend::Embedded)
        .unwrap();
    assert_eq!(store.get("a").await.unwrap(), None);
    store.set("a", b"1").await.unwrap();
    assert!(store.exists("a").await.unwrap());
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.increment("n", 5).await.unwrap(), 5);
    assert_eq!(store.increment("n", -2).await.unwrap(), 3);
    assert_eq!(store.get("n").await.unwrap().as_deref(), Some(&b"3"[..]));
    let err = store.increment("a", 1).await;
    assert!(err.is_ok(), "\"1\" is an integer: {err:?}");
    store.set("text", b"hello").await.unwrap();
    assert!(store.increment("text", 1).await.is_err());

    assert!(!store.compare_and_swap("a", Some(b"9"), b"x").await.unwrap());
    assert!(store.compare_and_swap("a", Some(b"2"), b"x").await.unwrap());
    assert!(store.compare_and_swap("fresh", None, b"y").await.unwrap());
    assert!(!store.compare_and_swap("fresh", None, b"z").await.unwrap());

    store
        .set_many(&[("b".into(), b"B".to_vec()), ("c".into(), b"C".to_vec())])
        .await
        .unwrap();
    let got = store
        .get_many(&["b".into(), "missing".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(b"B".to_vec()), None, Some(b"C".to_vec())]);
    store.delete_many(&["b".into(), "c".into()]).await.unwrap();
    store.delete("fresh").await.unwrap();
    let (keys, cursor) = store.list_keys(None).await.unwrap();
    assert_eq!(keys, ["a", "n", "text"]);
    assert_eq!(cursor, None);
}

#[tokio::test]
async fn embedded_stores_are_separate_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let backends = KeyValueBackends::new(dir.path());
        let a = backends
            .store("team-a", "default", &StoreBackend::Embedded)
            .unwrap();
        a.set("k", b"a").await.unwrap();
        let b = backends
            .store("team-b", "default", &StoreBackend::Embedded)
            .unwrap();
        assert_eq!(b.get("k").await.unwrap(), None);
        assert_eq!(b.list_keys(None).await.unwrap().0, Vec::<String>::new());
    }
    // The database closes with its last handle; a new process' backends find the value.
    let reopened = embedded(dir.path(), "team-a", "default");
    assert_eq!(reopened.get("k").await.unwrap().as_deref(), Some(&b"a"[..]));
}

#[tokio::test]
async fn list_keys_pages_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded(dir.path(), "default", "s");
    let pairs: Vec<(String, Vec<u8>)> = (0..LIST_PAGE + 5)
        .map(|i| (format!("k{i:05}"), Vec::new()))
        .collect();
    store.set_many(&pairs).await.unwrap();
    let (first, cursor) = store.list_keys(None).await.unwrap();
    assert_eq!(first.len(), LIST_PAGE);
    let (rest, end) = store.list_keys(cursor).await.unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(end, None);
}

#[test]
fn a_bad_redis_url_is_refused_with_its_text() {
    let backends = KeyValueBackends::new("/nonexistent");
    let backend = StoreBackend::Redis {
        url: "http://nope".into(),
        password: None,
    };
    let err = backends.store("default", "s", &backend).unwrap_err();
    assert!(err.0.contains("http://nope"), "{err}");
}
