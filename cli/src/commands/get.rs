use super::ApiArgs;
use crate::output::{age, Format, Table};
use anyhow::Context;
use clap::Args;
use std::collections::HashMap;
use wasmpod_api::labels::format_labels;
use wasmpod_api::quantity::{format_cpu, format_memory};
use wasmpod_api::{
    AnyObject, ConfigMap, Deployment, Event, Ingress, Kind, Node, PersistentVolumeClaim, Pod,
    PodPhase, Service, StatefulSet,
};

#[derive(Debug, Args)]
pub struct Get {
    /// Kind: nodes, pods, deployments, services, ingresses, events (leases: the controller leader
    /// and the API servers)
    pub kind: String,
    /// Only this object
    pub name: Option<String>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    /// Every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Print secret values in -o yaml/json (hidden otherwise)
    #[arg(long)]
    pub show_secrets: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl Get {
    pub async fn run(self) -> anyhow::Result<()> {
        if matches!(self.kind.as_str(), "leases" | "lease") {
            return super::leases::print(&self.api, self.output).await;
        }
        let kind = Kind::from_cli(&self.kind).with_context(|| {
            format!("unknown resource type {:?} (nodes, pods, deployments, services, ingresses, events)", self.kind)
        })?;
        let client = self.api.client()?;
        let mut items: Vec<AnyObject> = match &self.name {
            Some(name) => vec![client.get(kind, &self.api.namespace, name).await?],
            None => {
                let ns = (!self.all_namespaces).then_some(self.api.namespace.as_str());
                let mut items = client.list(kind, ns).await?.items;
                items.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
                items
            }
        };
        if kind == Kind::Secret && !self.show_secrets {
            items.iter_mut().for_each(hide_secret_values);
        }
        match self.output {
            Format::Json => {
                let value = if self.name.is_some() {
                    items[0].0.clone()
                } else {
                    serde_json::json!({"items": items})
                };
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            Format::Yaml => {
                let value = if self.name.is_some() {
                    items[0].0.clone()
                } else {
                    serde_json::json!({"items": items})
                };
                print!("{}", serde_yaml::to_string(&value)?);
            }
            Format::Table | Format::Wide => {
                let wide = self.output == Format::Wide;
                let table = match kind {
                    Kind::Pod => pods(&items, wide),
                    Kind::Deployment => deployments(&items),
                    Kind::Service => services(&items),
                    Kind::Ingress => ingresses(&items),
                    Kind::Node => nodes(&items, &client.list(Kind::Pod, None).await?.items),
                    Kind::Event => events(&items),
                    Kind::ConfigMap => config_maps(&items),
                    Kind::Secret => secrets(&items),
                    Kind::PersistentVolumeClaim => claims(&items),
                    Kind::StatefulSet => stateful_sets(&items),
                };
                if table.is_empty() {
                    eprintln!("No resources found.");
                } else {
                    print!("{}", table.render());
                }
            }
        }
        Ok(())
    }
}

/// Replaces each secret value with its size, so values are printed only with --show-secrets.
fn hide_secret_values(secret: &mut AnyObject) {
    if let Some(data) = secret.0.get_mut("data").and_then(|d| d.as_object_mut()) {
        for value in data.values_mut() {
            let size = value.as_str().and_then(base64_len).unwrap_or(0);
            *value = serde_json::Value::from(format!("<hidden: {size} bytes; use --show-secrets>"));
        }
    }
}

fn base64_len(v: &str) -> Option<usize> {
    let padding = v.bytes().rev().take_while(|b| *b == b'=').count();
    (v.len() * 3 / 4).checked_sub(padding)
}

fn config_maps(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "DATA", "AGE"]);
    for c in typed::<ConfigMap>(items) {
        table.row(vec![
            c.metadata.name.to_string(),
            c.data.len().to_string(),
            age(c.metadata.creation_timestamp),
        ]);
    }
    table
}

fn secrets(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "TYPE", "KEYS", "AGE"]);
    for s in items {
        let keys: Vec<String> = s.0["data"]
            .as_object()
            .map(|d| {
                d.iter()
                    .map(|(k, v)| {
                        let size = v
                            .as_str()
                            .and_then(|v| v.strip_prefix("<hidden: "))
                            .and_then(|v| v.split(' ').next())
                            .unwrap_or("?");
                        format!("{k} ({size} bytes)")
                    })
                    .collect()
            })
            .unwrap_or_default();
        table.row(vec![
            s.name().to_string(),
            s.0["type"].as_str().unwrap_or("Opaque").to_string(),
            keys.join(", "),
            age(s
                .0
                .pointer("/metadata/creationTimestamp")
                .and_then(|t| serde_json::from_value(t.clone()).ok())),
        ]);
    }
    table
}

fn claims(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "STATUS", "NODE", "STORAGE", "AGE"]);
    for c in typed::<PersistentVolumeClaim>(items) {
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
    table
}

fn stateful_sets(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "READY", "AGE"]);
    for s in typed::<StatefulSet>(items) {
        table.row(vec![
            s.name().to_string(),
            format!("{}/{}", s.status.ready_replicas, s.spec.replicas),
            age(s.metadata.creation_timestamp),
        ]);
    }
    table
}

fn typed<T: serde::de::DeserializeOwned>(items: &[AnyObject]) -> Vec<T> {
    items.iter().filter_map(|o| o.to_typed().ok()).collect()
}

pub fn pods(items: &[AnyObject], wide: bool) -> Table {
    let mut headers = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        headers.push("NODE");
    }
    let mut table = Table::new(&headers);
    for p in typed::<Pod>(items) {
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
    table
}

fn deployments(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    for d in typed::<Deployment>(items) {
        table.row(vec![
            d.name().to_string(),
            format!("{}/{}", d.status.ready_replicas, d.spec.replicas),
            d.status.updated_replicas.to_string(),
            d.status.ready_replicas.to_string(),
            age(d.metadata.creation_timestamp),
        ]);
    }
    table
}

fn services(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "SELECTOR", "URL", "AGE"]);
    for s in typed::<Service>(items) {
        table.row(vec![
            s.name().to_string(),
            format_labels(&s.spec.selector),
            format!("http://{}.{}", s.name(), s.namespace()),
            age(s.metadata.creation_timestamp),
        ]);
    }
    table
}

fn ingresses(items: &[AnyObject]) -> Table {
    let mut table = Table::new(&["NAME", "HOSTS", "PATHS", "AGE"]);
    for i in typed::<Ingress>(items) {
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
    table
}

fn nodes(items: &[AnyObject], all_pods: &[AnyObject]) -> Table {
    let pods = typed::<Pod>(all_pods);
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
    for n in typed::<Node>(items) {
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
    table
}

pub fn events(items: &[AnyObject]) -> Table {
    let mut list = typed::<Event>(items);
    list.sort_by_key(|e| e.spec.last_timestamp);
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
    table
}
