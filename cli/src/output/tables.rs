//! The `get` tables, one per kind: kubectl's columns where a kind has a Kubernetes twin.

use super::secrets;
use super::{age, Table};
use anyhow::Context;
use std::collections::HashMap;
use wasmpod_api::labels::format_labels;
use wasmpod_api::quantity::{format_cpu, format_memory};
use wasmpod_api::{
    AnyObject, ConfigMap, Deployment, Event, Ingress, KeyValueStore, Kind, Namespace, Node,
    PersistentVolumeClaim, Pod, PodPhase, Secret, Service, StatefulSet,
};

/// The table of `kind` for `items` (one row per item, in order). Nodes also need every pod.
pub fn for_kind(
    kind: Kind,
    items: &[AnyObject],
    wide: bool,
    all_pods: &[AnyObject],
) -> anyhow::Result<Table> {
    match kind {
        Kind::Pod => pods(items, wide),
        Kind::Deployment => deployments(items),
        Kind::Service => services(items),
        Kind::Ingress => ingresses(items),
        Kind::Node => nodes(items, all_pods),
        Kind::Event => events(items),
        Kind::ConfigMap => config_maps(items),
        Kind::Secret => secrets(items),
        Kind::PersistentVolumeClaim => claims(items),
        Kind::StatefulSet => stateful_sets(items),
        Kind::Namespace => namespaces(items),
        Kind::ControllerRevision => controller_revisions(items),
        Kind::HorizontalPodAutoscaler => super::hpa::table(items),
        Kind::KeyValueStore => key_value_stores(items),
    }
}

/// NAME, BACKEND (embedded, or redis and its URL), AGE.
pub fn key_value_stores(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "BACKEND", "URL", "AGE"]);
    for s in typed::<KeyValueStore>(items)? {
        let (backend, url) = match &s.spec.redis {
            Some(redis) => ("redis", redis.url.clone()),
            None => ("embedded", "<none>".to_string()),
        };
        table.row(vec![
            s.name().to_string(),
            backend.to_string(),
            url,
            age(s.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

/// Events oldest first, as `get events` and `describe` show them.
pub fn sort_events(items: &mut [AnyObject]) {
    items.sort_by_key(|e| e.to_typed::<Event>().map(|e| e.spec.last_timestamp).ok());
}

pub fn namespaces(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "STATUS", "AGE"]);
    for n in typed::<Namespace>(items)? {
        table.row(vec![
            n.name().to_string(),
            n.status.phase.map_or("Active", |p| p.as_str()).to_string(),
            age(n.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn controller_revisions(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "DEPLOYMENT", "REVISION", "AGE"]);
    for r in typed::<wasmpod_api::ControllerRevision>(items)? {
        table.row(vec![
            r.metadata.name.to_string(),
            r.metadata
                .owner_references
                .first()
                .map_or("<none>".to_string(), |o| o.name.clone()),
            r.spec.revision.to_string(),
            age(r.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn config_maps(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "DATA", "AGE"]);
    for c in typed::<ConfigMap>(items)? {
        table.row(vec![
            c.metadata.name.to_string(),
            c.data.len().to_string(),
            age(c.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn secrets(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "TYPE", "KEYS", "AGE"]);
    for (s, any) in typed::<Secret>(items)?.into_iter().zip(items) {
        let keys: Vec<String> = secrets::sizes(any)
            .into_iter()
            .map(|(k, v)| format!("{k} ({} bytes)", v.bytes))
            .collect();
        table.row(vec![
            s.metadata.name.to_string(),
            s.secret_type.clone().unwrap_or_else(|| "Opaque".into()),
            keys.join(", "),
            age(s.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn claims(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "STATUS", "NODE", "STORAGE", "AGE"]);
    for c in typed::<PersistentVolumeClaim>(items)? {
        table.row(vec![
            c.name().to_string(),
            format!("{:?}", c.status.phase),
            c.status
                .node_name
                .clone()
                .unwrap_or_else(|| "<none>".into()),
            c.spec
                .resources
                .requests
                .storage
                .clone()
                .unwrap_or_else(|| "-".into()),
            age(c.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn stateful_sets(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "READY", "AGE"]);
    for s in typed::<StatefulSet>(items)? {
        table.row(vec![
            s.name().to_string(),
            format!("{}/{}", s.status.ready_replicas, s.spec.replicas),
            age(s.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

/// Every item as `T`; one that does not decode is an error naming it, not a missing row.
pub fn typed<T: serde::de::DeserializeOwned>(items: &[AnyObject]) -> anyhow::Result<Vec<T>> {
    items
        .iter()
        .map(|o| {
            o.to_typed().with_context(|| {
                format!(
                    "cannot read {} {}/{}",
                    o.0.get("kind").and_then(|k| k.as_str()).unwrap_or("object"),
                    o.namespace(),
                    o.name()
                )
            })
        })
        .collect()
}

pub fn pods(items: &[AnyObject], wide: bool) -> anyhow::Result<Table> {
    let mut headers = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        headers.push("NODE");
    }
    let mut table = Table::new(&headers);
    for p in typed::<Pod>(items)? {
        let mut row = vec![
            p.name().to_string(),
            if p.status.ready { "1/1" } else { "0/1" }.to_string(),
            p.display_status(),
            p.status.restart_count.to_string(),
            age(p.metadata.creation_timestamp),
        ];
        if wide {
            row.push(p.spec.node_name.clone().unwrap_or_else(|| "<none>".into()));
        }
        table.row(row);
    }
    Ok(table)
}

pub fn deployments(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    for d in typed::<Deployment>(items)? {
        table.row(vec![
            d.name().to_string(),
            format!("{}/{}", d.status.ready_replicas, d.spec.replicas),
            d.status.updated_replicas.to_string(),
            d.status.available_replicas.to_string(),
            age(d.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn services(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "SELECTOR", "URL", "AGE"]);
    for s in typed::<Service>(items)? {
        table.row(vec![
            s.name().to_string(),
            format_labels(&s.spec.selector),
            format!("http://{}.{}", s.name(), s.namespace()),
            age(s.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn ingresses(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&["NAME", "HOSTS", "PATHS", "AGE"]);
    for i in typed::<Ingress>(items)? {
        let hosts: Vec<String> = i
            .spec
            .rules
            .iter()
            .map(|r| r.host.clone().unwrap_or_else(|| "*".into()))
            .collect();
        let paths: Vec<String> = i
            .spec
            .rules
            .iter()
            .flat_map(|r| {
                r.http
                    .paths
                    .iter()
                    .map(|p| format!("{} -> {}", p.path, p.backend.service))
            })
            .collect();
        table.row(vec![
            i.name().to_string(),
            hosts.join(","),
            paths.join(","),
            age(i.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn nodes(items: &[AnyObject], all_pods: &[AnyObject]) -> anyhow::Result<Table> {
    let pods = typed::<Pod>(all_pods)?;
    let mut per_node: HashMap<String, (u64, u64, u32)> = HashMap::new();
    for p in pods
        .iter()
        .filter(|p| !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed))
    {
        if let Some(node) = &p.spec.node_name {
            let e = per_node.entry(node.clone()).or_default();
            e.0 += p.spec.resources.memory_request();
            e.1 += p.spec.resources.cpu_request();
            e.2 += 1;
        }
    }
    let mut table = Table::new(&[
        "NAME",
        "STATUS",
        "CAPACITY",
        "ALLOCATED",
        "PODS",
        "GATEWAY",
        "AGE",
    ]);
    for n in typed::<Node>(items)? {
        let mut status = if n.status.ready { "Ready" } else { "NotReady" }.to_string();
        if n.spec.unschedulable {
            status.push_str(",SchedulingDisabled");
        }
        let cap = n.status.capacity;
        let (mem, cpu, count) = per_node.get(n.name()).copied().unwrap_or_default();
        table.row(vec![
            n.name().to_string(),
            status,
            format!(
                "cpu={},memory={},pods={}",
                format_cpu(cap.cpu_millis),
                format_memory(cap.memory_bytes),
                cap.pods
            ),
            format!("cpu={},memory={}", format_cpu(cpu), format_memory(mem)),
            count.to_string(),
            n.status.gateway.clone(),
            age(n.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

pub fn events(items: &[AnyObject]) -> anyhow::Result<Table> {
    let list = typed::<Event>(items)?;
    let mut table = Table::new(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]);
    for e in list {
        let o = &e.spec.involved_object;
        table.row(vec![
            age(Some(e.spec.last_timestamp)),
            format!("{:?}", e.spec.event_type),
            e.spec.reason.clone(),
            format!("{}/{}", o.kind.to_lowercase(), o.name),
            e.spec.count.to_string(),
            e.spec.message.clone(),
        ]);
    }
    Ok(table)
}
