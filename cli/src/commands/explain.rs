//! `explain KIND[.field.path]`: what a kind and its fields mean. The table below is the docs of
//! the `wasmpod-api` types; a unit test checks every path against those types (each field must
//! be one the type knows, or its `deny_unknown_fields` refuses it), so the table cannot name a
//! field that does not exist.

use crate::kinds;
use anyhow::bail;
use clap::Args;
use wasmpod_api::Kind;

/// (kind, field path below the object, type, description).
const FIELDS: &[(Kind, &str, &str, &str)] = &[
    (Kind::Deployment, "spec", "object", "Desired replicas of a pod template, reconciled continuously."),
    (Kind::Deployment, "spec.replicas", "integer", "How many pods to run."),
    (Kind::Deployment, "spec.selector", "object", "Which pods belong to this deployment."),
    (Kind::Deployment, "spec.selector.matchLabels", "map", "Labels a pod must carry (all of them)."),
    (Kind::Deployment, "spec.template", "object", "The pods to make: metadata (labels) and spec."),
    (Kind::Deployment, "spec.template.metadata", "object", "Labels and annotations of each pod."),
    (Kind::Deployment, "spec.template.spec", "object", "The pod spec: component, env, config, volumes, resources."),
    (Kind::Deployment, "spec.template.spec.component", "string", "In a manifest, a path relative to it or oci://REGISTRY/REPO:TAG (or @sha256:...); once applied, sha256:<hex> of the uploaded component or the reference pinned to its manifest digest."),
    (Kind::Deployment, "spec.template.spec.args", "[]string", "Arguments of a wasi:cli/command component."),
    (Kind::Deployment, "spec.template.spec.env", "[]object", "Environment variables (name, value or valueFrom)."),
    (Kind::Deployment, "spec.template.spec.envFrom", "[]object", "Every key of a ConfigMap or Secret as an env var."),
    (Kind::Deployment, "spec.template.spec.configFrom", "[]object", "Every key of a ConfigMap or Secret in wasi:config/store."),
    (Kind::Deployment, "spec.template.spec.volumes", "[]object", "Volumes the pod may mount."),
    (Kind::Deployment, "spec.template.spec.volumeMounts", "[]object", "Where each volume is preopened in the component."),
    (Kind::Deployment, "spec.template.spec.resources", "object", "requests (scheduling) and limits (enforced) of cpu and memory."),
    (Kind::Deployment, "spec.template.spec.restartPolicy", "string", "Always (the only value a Deployment takes), OnFailure or Never."),
    (Kind::Deployment, "spec.template.spec.nodeSelector", "map", "Labels a node must carry to run the pod."),
    (Kind::Deployment, "spec.template.spec.allowedOutboundHosts", "[]string", "Hosts besides services the component may call, e.g. https://api.example.com."),
    (Kind::Deployment, "spec.template.spec.requestTimeoutSeconds", "integer", "Longest a single request may run; default 30."),
    (Kind::Deployment, "spec.template.spec.instanceReuse", "object", "HTTP pods: let one instance serve several requests."),
    (Kind::Deployment, "spec.template.spec.containerConcurrency", "integer", "HTTP pods: instances the pod may run at once on its node."),
    (Kind::Deployment, "spec.template.spec.terminationGracePeriodSeconds", "integer", "Seconds a terminating pod may take to finish its in-flight requests; default 30."),
    (Kind::Deployment, "spec.strategy", "object", "type RollingUpdate (rollingUpdate.maxSurge, maxUnavailable: counts or percentages, default 25%) or Recreate."),
    (Kind::Deployment, "spec.minReadySeconds", "integer", "Seconds a new pod must stay ready to count as available."),
    (Kind::Deployment, "spec.progressDeadlineSeconds", "integer", "Seconds without progress before the rollout is failed (ProgressDeadlineExceeded); default 600."),
    (Kind::Deployment, "spec.revisionHistoryLimit", "integer", "Old revisions kept for rollout undo; default 10."),
    (Kind::Deployment, "spec.paused", "boolean", "Do not roll template changes, and stop a rollout under way at its next step (scaling still works)."),
    (Kind::Deployment, "spec.rollback", "object", "onFailure: roll a revision that fails its progress deadline back to the last complete one."),
    (Kind::Deployment, "status", "object", "Written by the controller: replicas, readyReplicas, updatedReplicas, availableReplicas, revision, conditions."),
    (Kind::ControllerRevision, "spec", "object", "A recorded template of a Deployment: revision, templateHash, template, componentDigest, configVersions."),
    (Kind::StatefulSet, "spec", "object", "Replicas with stable names (db-0, db-1) and a claim per replica."),
    (Kind::StatefulSet, "spec.replicas", "integer", "How many pods to run."),
    (Kind::StatefulSet, "spec.selector", "object", "Which pods belong to this set (matchLabels)."),
    (Kind::StatefulSet, "spec.serviceName", "string", "The service that names the pods."),
    (Kind::StatefulSet, "spec.template", "object", "The pods to make, as in a Deployment."),
    (Kind::StatefulSet, "spec.volumeClaimTemplates", "[]object", "A claim made for each replica, kept when the set shrinks."),
    (Kind::StatefulSet, "spec.podManagementPolicy", "string", "OrderedReady (default): pods come one at a time in order, and go highest first, each once the one before is gone; Parallel: all at once."),
    (Kind::StatefulSet, "spec.updateStrategy", "object", "type RollingUpdate (default): a changed template replaces pods highest ordinal first, one at a time, each once the one before is ready; OnDelete: only deleted pods come back with it."),
    (Kind::Service, "spec", "object", "A stable name selecting pods by labels, load-balanced over ready replicas."),
    (Kind::Service, "spec.selector", "map", "Labels of the pods this service sends traffic to (must not be empty)."),
    (Kind::Ingress, "spec", "object", "Host and path rules mapping outside HTTP traffic to services."),
    (Kind::Ingress, "spec.rules", "[]object", "Each: an optional host and http.paths."),
    (Kind::ConfigMap, "data", "map", "Keys and text values, injected as env vars, wasi:config or files."),
    (Kind::Secret, "data", "map", "Keys and base64 values; encrypted at rest, never printed."),
    (Kind::Secret, "stringData", "map", "Keys and plain text values, folded into data on apply."),
    (Kind::Secret, "type", "string", "Opaque."),
    (Kind::PersistentVolumeClaim, "spec", "object", "Durable storage bound to a pod on one node."),
    (Kind::PersistentVolumeClaim, "spec.resources", "object", "requests.storage: the size asked for."),
    (Kind::Deployment, "spec.template.spec.keyValueStores", "[]string", "The KeyValueStores (of the pod's namespace) the component may open through wasi:keyvalue; any other name is access-denied."),
    (Kind::KeyValueStore, "spec", "object", "A store pods open through wasi:keyvalue: exactly one of redis or embedded."),
    (Kind::KeyValueStore, "spec.redis", "object", "A Redis server shared by every node: url and passwordSecretRef."),
    (Kind::KeyValueStore, "spec.redis.url", "string", "redis://host:port/db; keys are stored as wasmpod:<namespace>:<store>:<key>."),
    (Kind::KeyValueStore, "spec.redis.passwordSecretRef", "object", "name and key of the Secret value that is the Redis password."),
    (Kind::KeyValueStore, "spec.embedded", "object", "{}: a sled tree in each node's data directory, durable, shared only by the pods of that node process."),
    (Kind::Namespace, "spec", "object", "Nothing to set; deleting a namespace deletes what is in it (it stays Terminating while its pods drain)."),
    (Kind::Pod, "spec", "object", "Made by a Deployment or StatefulSet from its template."),
    (Kind::Pod, "spec.nodeName", "string", "Set by the scheduler when it binds the pod."),
    (Kind::Pod, "status", "object", "phase, ready, reason, message, restartCount: written by the node."),
    (Kind::Node, "spec", "object", "unschedulable: set by cordon."),
    (Kind::Node, "spec.unschedulable", "boolean", "No new pods are placed here (cordon)."),
    (Kind::Node, "status", "object", "ready, capacity, gateway, lastHeartbeat: written by the node."),
    (Kind::Event, "spec", "object", "What happened to an object: involvedObject, reason, message, count."),
    (Kind::HorizontalPodAutoscaler, "spec", "object", "Sets a Deployment's replicas from the load its pods report."),
    (Kind::HorizontalPodAutoscaler, "spec.scaleTargetRef", "object", "kind: Deployment and the name of the deployment to scale."),
    (Kind::HorizontalPodAutoscaler, "spec.minReplicas", "integer", "The fewest replicas (default 1); 0 lets the deployment scale to zero."),
    (Kind::HorizontalPodAutoscaler, "spec.maxReplicas", "integer", "The most replicas."),
    (Kind::HorizontalPodAutoscaler, "spec.metrics", "[]object", "type: Concurrency (in-flight requests per pod) or RequestsPerSecond (per pod), and its target."),
    (Kind::HorizontalPodAutoscaler, "spec.behavior", "object", "scaleUp and scaleDown stabilizationWindowSeconds (0 and 300 by default)."),
    (Kind::HorizontalPodAutoscaler, "spec.scaleToZeroAfterSeconds", "integer", "With minReplicas 0: seconds without a request before going to zero (default 60)."),
    (Kind::HorizontalPodAutoscaler, "spec.activationTimeoutSeconds", "integer", "How long a gateway holds a request while the deployment comes back from zero (default 30)."),
    (Kind::HorizontalPodAutoscaler, "spec.activationQueueLimit", "integer", "How many requests a gateway holds for the service at once while it comes back from zero; the next gets a 503 (default 1000)."),
    (Kind::HorizontalPodAutoscaler, "status", "object", "currentReplicas, desiredReplicas, currentMetrics, lastScaleTime, conditions, lastDecisions."),
];

/// What every kind has.
const COMMON: &[(&str, &str, &str)] = &[
    ("apiVersion", "string", "wasmpod.dev/v1"),
    ("kind", "string", "The kind of the object."),
    ("metadata", "object", "name, namespace, labels, annotations; uid, resourceVersion, creationTimestamp are the system's."),
    ("metadata.name", "string", "A DNS-1123 label, unique per kind and namespace."),
    ("metadata.namespace", "string", "Where the object lives (default: default); not for nodes and namespaces."),
    ("metadata.labels", "map", "What selectors (-l, a Service's selector) match."),
    ("metadata.annotations", "map", "Free-form notes."),
    ("metadata.resourceVersion", "integer", "The store revision of the last write; an update carrying an older one is refused (409)."),
];

#[derive(Debug, Args)]
pub struct Explain {
    /// KIND or KIND.field.path, e.g. deployment.spec.template.spec.component
    pub what: String,
}

impl Explain {
    pub fn run(self) -> anyhow::Result<()> {
        let (kind_text, path) = self.what.split_once('.').unwrap_or((&self.what, ""));
        let kind = kinds::parse(kind_text, kinds::any)?;
        let fields: Vec<(&str, &str, &str)> = COMMON
            .iter()
            .copied()
            .chain(
                FIELDS
                    .iter()
                    .filter(|(k, ..)| *k == kind)
                    .map(|(_, p, t, d)| (*p, *t, *d)),
            )
            .collect();
        println!("KIND:     {kind}");
        println!("VERSION:  {}", wasmpod_api::API_VERSION);
        if path.is_empty() {
            println!("\nFIELDS:");
            for (p, t, d) in fields.iter().filter(|(p, ..)| !p.contains('.')) {
                println!("  {p}\t<{t}>\n    {d}");
            }
            return Ok(());
        }
        let Some((_, t, d)) = fields.iter().find(|(p, ..)| *p == path) else {
            let known: Vec<&str> = fields.iter().map(|(p, ..)| *p).collect();
            bail!(
                "{} has no documented field {path:?}; known: {}",
                kind.plural(),
                known.join(", ")
            );
        };
        println!("FIELD:    {path} <{t}>\n\nDESCRIPTION:\n    {d}");
        let prefix = format!("{path}.");
        let children: Vec<_> = fields
            .iter()
            .filter(|(p, ..)| {
                p.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('.'))
            })
            .collect();
        if !children.is_empty() {
            println!("\nFIELDS:");
            for (p, t, d) in children {
                println!("  {}\t<{t}>\n    {d}", &p[prefix.len()..]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A valid object of `kind` (components by digest; Pod/Node/Event decoded as stored).
    fn sample(kind: Kind) -> Value {
        let template = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}});
        let meta = json!({"name": "x"});
        match kind {
            Kind::Deployment => json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}}, "template": template}}),
            Kind::StatefulSet => json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}}, "template": template}}),
            Kind::Service => json!({"spec": {"selector": {"app": "a"}}}),
            Kind::Ingress => json!({"spec": {"rules": [{"http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": "s"}}]}}]}}),
            Kind::ConfigMap | Kind::Secret => json!({"data": {}}),
            Kind::PersistentVolumeClaim => json!({"spec": {"resources": {"requests": {"storage": "1Mi"}}}}),
            Kind::Namespace => json!({"spec": {}}),
            Kind::HorizontalPodAutoscaler => json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"},
                "maxReplicas": 3, "metrics": [{"type": "Concurrency", "target": 10}]}}),
            Kind::KeyValueStore => json!({"spec": {"embedded": {}}}),
            Kind::Pod => json!({"spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}}),
            Kind::Node => json!({"spec": {}}),
            Kind::ControllerRevision => json!({"spec": {"revision": 1, "templateHash": "abc", "template": template}}),
            Kind::Event => json!({"spec": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                "type": "Normal", "reason": "r", "message": "m", "source": "s", "count": 1,
                "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}}),
        }
        .as_object()
        .cloned()
        .map(|mut m| {
            m.insert("apiVersion".into(), json!(wasmpod_api::API_VERSION));
            m.insert("kind".into(), json!(kind.as_str()));
            m.insert("metadata".into(), meta);
            Value::Object(m)
        })
        .unwrap_or_default()
    }

    fn decode(kind: Kind, value: Value) -> Result<(), String> {
        let any = wasmpod_api::AnyObject(value);
        let result = match kind {
            Kind::Pod => any.to_typed::<wasmpod_api::Pod>().map(|_| ()),
            Kind::Node => any.to_typed::<wasmpod_api::Node>().map(|_| ()),
            Kind::Event => any.to_typed::<wasmpod_api::Event>().map(|_| ()),
            Kind::ControllerRevision => any
                .to_typed::<wasmpod_api::ControllerRevision>()
                .map(|_| ()),
            _ => wasmpod_api::manifest::UserObject::from_any(&any)
                .map(|_| ())
                .map_err(|e| serde::de::Error::custom(e.to_string())),
        };
        result.map_err(|e: serde_json::Error| e.to_string())
    }

    #[test]
    fn every_documented_field_is_a_field_of_its_type() {
        for kind in Kind::ALL {
            decode(kind, sample(kind)).unwrap_or_else(|e| panic!("sample {kind}: {e}"));
            let paths = FIELDS
                .iter()
                .filter(|(k, ..)| *k == kind)
                .map(|(_, p, ..)| *p)
                .chain(COMMON.iter().map(|(p, ..)| *p).filter(|p| p.contains('.')));
            for path in paths {
                // Put a value of the wrong shape at the path: a known field gives a type error
                // (or is accepted), an unknown one "unknown field".
                let mut doc = sample(kind);
                let mut at = &mut doc;
                let parts: Vec<&str> = path.split('.').collect();
                for part in &parts[..parts.len() - 1] {
                    at = at
                        .as_object_mut()
                        .expect("object on the way")
                        .entry(part.to_string())
                        .or_insert(json!({}));
                }
                let leaf = parts[parts.len() - 1];
                at[leaf] = json!({"\u{1}probe": true});
                if let Err(e) = decode(kind, doc) {
                    let unknown = format!("unknown field `{leaf}`");
                    assert!(!e.contains(&unknown), "{kind}.{path}: {e}");
                }
            }
        }
    }

    #[test]
    fn a_probe_of_a_field_that_does_not_exist_is_caught() {
        let mut doc = sample(Kind::Deployment);
        doc["spec"]["nonsense"] = json!({"\u{1}probe": true});
        assert!(decode(Kind::Deployment, doc)
            .unwrap_err()
            .contains("unknown field"));
    }
}
