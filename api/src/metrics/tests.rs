use super::*;
use std::time::Duration;

#[test]
fn renders_counters_gauges_and_cumulative_histograms_in_text_format() {
    let registry = Registry::default();
    let requests = registry.counter(
        "wasmpod_requests_total",
        "Requests served.",
        &["pod", "code"],
    );
    let in_flight = registry.gauge("wasmpod_in_flight", "Now.", &[]);
    let duration = registry.histogram("wasmpod_request_duration_seconds", "Time.", &["pod"]);
    let ok = requests.get(&["web-1", "2xx"]);
    ok.inc();
    ok.inc_by(2);
    requests.get(&["we\"b\\2\n", "5xx"]).inc();
    in_flight.get(&[]).set(-3);
    let h = duration.get(&["web-1"]);
    h.observe(Duration::from_micros(50));
    h.observe(Duration::from_millis(3));
    h.observe(Duration::from_secs(100));
    let text = registry.encode();
    assert!(
        text.contains("# TYPE wasmpod_requests_total counter\n"),
        "{text}"
    );
    assert!(text.contains("wasmpod_requests_total{pod=\"web-1\",code=\"2xx\"} 3\n"));
    assert!(text.contains("wasmpod_requests_total{pod=\"we\\\"b\\\\2\\n\",code=\"5xx\"} 1\n"));
    assert!(text.contains("wasmpod_in_flight -3\n"));
    assert!(text.contains("# TYPE wasmpod_request_duration_seconds histogram\n"));
    assert!(
        text.contains("wasmpod_request_duration_seconds_bucket{pod=\"web-1\",le=\"0.0001\"} 1\n")
    );
    assert!(
        text.contains("wasmpod_request_duration_seconds_bucket{pod=\"web-1\",le=\"0.005\"} 2\n")
    );
    assert!(text.contains("wasmpod_request_duration_seconds_bucket{pod=\"web-1\",le=\"60\"} 2\n"));
    assert!(text.contains("wasmpod_request_duration_seconds_bucket{pod=\"web-1\",le=\"+Inf\"} 3\n"));
    assert!(
        text.contains("wasmpod_request_duration_seconds_sum{pod=\"web-1\"} 100.00305\n"),
        "{text}"
    );
    assert!(text.contains("wasmpod_request_duration_seconds_count{pod=\"web-1\"} 3\n"));
}

#[test]
fn a_series_handle_is_shared_and_retain_drops_series() {
    let registry = Registry::default();
    let family = registry.counter("c_total", "c", &["pod"]);
    family.get(&["a"]).inc();
    family.get(&["a"]).inc();
    family.get(&["b"]).inc();
    assert_eq!(family.get(&["a"]).get(), 2);
    family.retain(|values| family.label(values, "pod") != Some("a"));
    let text = registry.encode();
    assert!(!text.contains("pod=\"a\""), "{text}");
    assert!(text.contains("c_total{pod=\"b\"} 1\n"));
}

#[test]
fn refreshers_run_before_each_scrape() {
    let registry = Registry::default();
    let gauge = registry.gauge("g", "g", &[]).get(&[]);
    let source = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(7));
    let read = source.clone();
    registry.on_scrape(move || gauge.set(read.load(std::sync::atomic::Ordering::Relaxed)));
    assert!(registry.encode().contains("g 7\n"));
    source.store(9, std::sync::atomic::Ordering::Relaxed);
    assert!(registry.encode().contains("g 9\n"));
}

#[test]
fn status_classes() {
    assert_eq!(status_class(200), "2xx");
    assert_eq!(status_class(304), "3xx");
    assert_eq!(status_class(404), "4xx");
    assert_eq!(status_class(503), "5xx");
    assert_eq!(status_class(101), "1xx");
}
