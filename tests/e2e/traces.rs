//! Traces: with `--otlp-endpoint`, a request's spans reach an OTLP/HTTP receiver the test runs
//! (protobuf decoded), all under the trace id of the request's `traceparent`, from both nodes,
//! linked parent to child: ingress (node A) -> routing -> the frontend's execution -> its
//! outgoing call -> routing -> the hop to node B -> ingress (node B) -> routing -> the backend's
//! execution. The API server exports a span per API request.

use std::time::Duration;
use wasmpod_tests::otlp::{OtlpReceiver, ReceivedSpan};
use wasmpod_tests::{frontend_backend, http_call, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(60);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The one span of `spans` named `name` whose parent is `parent`, on node `node`.
fn child<'a>(spans: &'a [ReceivedSpan], parent: &str, name: &str, node: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == name && s.parent_span_id == parent && s.instance == node)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span on {node} under span {parent}, in:\n{}",
        spans
            .iter()
            .map(|s| format!(
                "{} {} {} <- {} {:?}",
                s.instance, s.name, s.span_id, s.parent_span_id, s.attributes
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    found[0]
}

#[test]
fn a_requests_spans_link_parent_to_child_across_two_nodes_under_its_trace_id() {
    let otlp = OtlpReceiver::start();
    let export = ["--otlp-endpoint", otlp.url.as_str()];
    let mut cluster = MultiNode::start_with(&export);
    let gateway_a = cluster.add_worker("node-a", &["--label", "zone=a", export[0], export[1]]);
    cluster.add_worker("node-b", &["--label", "zone=b", export[0], export[1]]);
    // The frontend on node A, the backend on node B: the frontend's call crosses nodes.
    let manifest = frontend_backend()
        .replace("replicas: 2", "replicas: 1")
        .replace(
            "spec: {component: ",
            "spec: {nodeSelector: {zone: a}, component: ",
        )
        .replace(
            "\n      component: ",
            "\n      nodeSelector: {zone: b}\n      component: ",
        );
    assert!(manifest.contains("{zone: a}") && manifest.contains("{zone: b}"));
    cluster.apply("fb.yaml", &manifest);
    let url = format!("{gateway_a}/frontend");
    wait_until("the frontend reaches the backend", WAIT, || {
        let reply = http_call("GET", &url, &[], None);
        (reply.status == 200).then_some(())
    });

    let sent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let reply = http_call("GET", &url, &[("traceparent", &sent)], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("traceparent"), sent);

    // The chain starts at node A's ingress (the last span to end) and ends at the backend's
    // execution on node B: once both are in, every span of the request is.
    let spans = wait_until("the spans of both nodes reach the receiver", WAIT, || {
        let spans: Vec<ReceivedSpan> = otlp
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == TRACE)
            .collect();
        let backend = spans.iter().any(|s| {
            s.name == "execute"
                && s.instance == "node-b"
                && s.attribute("wasmpod.pod").starts_with("backend-")
        });
        let ingress = spans
            .iter()
            .any(|s| s.name == "ingress" && s.instance == "node-a");
        (backend && ingress).then_some(spans)
    });
    assert!(
        spans.iter().all(|s| s.service == "wasmpod-node"),
        "{spans:?}"
    );

    let ingress_a = child(&spans, CLIENT_SPAN, "ingress", "node-a");
    assert_eq!(ingress_a.attribute("url.path"), "/frontend");
    assert_eq!(ingress_a.attribute("http.response.status_code"), "200");
    let routing_a = child(&spans, &ingress_a.span_id, "routing", "node-a");
    assert_eq!(routing_a.attribute("wasmpod.service"), "default/frontend");
    let frontend = child(&spans, &routing_a.span_id, "execute", "node-a");
    assert!(frontend.attribute("wasmpod.pod").starts_with("frontend-"));
    let instantiate = child(&spans, &routing_a.span_id, "instantiate", "node-a");
    assert_eq!(
        instantiate.attribute("wasmpod.pod"),
        frontend.attribute("wasmpod.pod")
    );
    let call = child(&spans, &frontend.span_id, "outbound", "node-a");
    assert_eq!(call.attribute("server.address"), "backend");
    assert_eq!(call.attribute("http.response.status_code"), "200");
    let routing_call = child(&spans, &call.span_id, "routing", "node-a");
    assert_eq!(routing_call.attribute("wasmpod.service"), "default/backend");
    let hop = child(&spans, &routing_call.span_id, "forward", "node-a");
    let ingress_b = child(&spans, &hop.span_id, "ingress", "node-b");
    let routing_b = child(&spans, &ingress_b.span_id, "routing", "node-b");
    let backend = child(&spans, &routing_b.span_id, "execute", "node-b");
    assert!(backend.attribute("wasmpod.pod").starts_with("backend-"));
    // The API server exports a span per API request, by route: the apply among them.
    let apply = wait_until("the server's span of the apply", WAIT, || {
        otlp.spans().into_iter().find(|s| {
            s.service == "wasmpod-server"
                && s.name == "api"
                && s.attribute("http.route") == "/api/v1/apply"
        })
    });
    assert_eq!(apply.attribute("http.request.method"), "POST");
    assert_eq!(apply.attribute("http.response.status_code"), "200");
    // The backend saw the hop's span as its caller.
    assert!(
        reply
            .body
            .contains(&format!("00-{TRACE}-{}-01", hop.span_id)),
        "{}",
        reply.body
    );
}
