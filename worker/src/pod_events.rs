//! Events a node reports about one of its pods: sent in the background (events are advisory),
//! a failure logged, never waited on.

use wasmpod_api::client::EventReport;
use wasmpod_api::{Client, EventType, Kind, ObjectReference};

/// Reports `reason: message` about pod `namespace/name`, from node `node`.
pub fn report(
    client: &Client,
    node: &str,
    namespace: &str,
    name: &str,
    event_type: EventType,
    reason: &str,
    message: String,
) {
    let report = EventReport {
        involved_object: ObjectReference {
            kind: Kind::Pod.as_str().to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
        event_type,
        reason: reason.to_string(),
        message,
        source: format!("node/{node}"),
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = client.report_event(&report).await {
            tracing::debug!(%error, reason = %report.reason, pod = %report.involved_object.name, "could not report event");
        }
    });
}
