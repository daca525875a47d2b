//! `describe TYPE NAME` (or `TYPE/NAME`): the object as YAML by section, what it relates to
//! (a service's endpoints, a node's pods and allocated requests), a deployment's replica counts,
//! strategy and conditions, and its events.

use super::ApiArgs;
use crate::kinds;
use crate::output::{tables, Table};
use anyhow::Context as _;
use clap::Args;
use wasmpod_api::labels::matches;
use wasmpod_api::quantity::{format_cpu, format_memory};
use wasmpod_api::{Event, Kind, Node, Pod, PodPhase, Service};

#[derive(Debug, Args)]
pub struct Describe {
    #[arg(required = true, num_args = 1..=2, help = kinds::help(kinds::any), value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A table indented under a section title.
fn section(out: &mut String, title: &str, table: &Table) {
    out.push_str(&format!("{title}:\n"));
    if table.is_empty() {
        out.push_str("  <none>\n");
    } else {
        for line in table.render().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
}

fn live(p: &Pod) -> bool {
    !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// A service's endpoints: the pods it selects, ready or not, and their nodes.
async fn endpoints(client: &wasmpod_api::Client, service: &Service) -> anyhow::Result<Table> {
    let pods: Vec<Pod> = client
        .list_typed(Kind::Pod, Some(service.namespace()))
        .await?;
    let mut table = Table::new(&["POD", "READY", "NODE", "STATUS"]);
    let mut selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| live(p) && matches(&service.spec.selector, &p.metadata.labels))
        .collect();
    selected.sort_by_key(|p| (!p.status.ready, p.name().to_string()));
    for p in selected {
        table.row(vec![
            p.name().to_string(),
            if p.status.ready { "ready" } else { "not ready" }.to_string(),
            p.spec.node_name.clone().unwrap_or_else(|| "<none>".into()),
            p.display_status(),
        ]);
    }
    Ok(table)
}

fn percent(used: u64, of: u64) -> String {
    if of == 0 {
        return "-".into();
    }
    format!("{}%", used * 100 / of)
}

/// A node's pods with their requests, and the sum against its capacity.
async fn node_pods(
    client: &wasmpod_api::Client,
    node: &Node,
    out: &mut String,
) -> anyhow::Result<()> {
    let options = wasmpod_api::client::ListOptions {
        label_selector: None,
        field_selector: Some(format!("spec.nodeName={}", node.name())),
    };
    let list = client.list_selected(Kind::Pod, None, &options).await?;
    let pods = tables::typed::<Pod>(&list.items)?;
    let mut table = Table::new(&[
        "NAMESPACE",
        "NAME",
        "CPU REQUESTS",
        "MEMORY REQUESTS",
        "STATUS",
    ]);
    let (mut cpu, mut memory, mut count) = (0u64, 0u64, 0u64);
    for p in pods.iter().filter(|p| live(p)) {
        cpu += p.spec.resources.cpu_request();
        memory += p.spec.resources.memory_request();
        count += 1;
        table.row(vec![
            p.namespace().to_string(),
            p.name().to_string(),
            format_cpu(p.spec.resources.cpu_request()),
            format_memory(p.spec.resources.memory_request()),
            p.display_status(),
        ]);
    }
    section(out, "Pods", &table);
    let cap = node.status.capacity;
    let mut allocated = Table::new(&["RESOURCE", "REQUESTS", "CAPACITY", "USED"]);
    allocated.row(vec![
        "cpu".into(),
        format_cpu(cpu),
        format_cpu(cap.cpu_millis),
        percent(cpu, cap.cpu_millis),
    ]);
    allocated.row(vec![
        "memory".into(),
        format_memory(memory),
        format_memory(cap.memory_bytes),
        percent(memory, cap.memory_bytes),
    ]);
    allocated.row(vec![
        "pods".into(),
        count.to_string(),
        cap.pods.to_string(),
        percent(count, u64::from(cap.pods)),
    ]);
    section(out, "Allocated resources", &allocated);
    Ok(())
}

impl Describe {
    pub async fn run(self) -> anyhow::Result<()> {
        let (kind, name) = kinds::single(&self.args, kinds::any)?;
        let client = self.api.client()?;
        let object = client
            .get(kind, &self.api.namespace, &name)
            .await
            .map_err(|e| anyhow::Error::from(e).context(kinds::object_ref(kind, &name)))?;
        let mut value = object.0.clone();
        let mut out = String::new();
        out.push_str(&format!("Name:         {}\n", object.name()));
        if kind.namespaced() {
            out.push_str(&format!("Namespace:    {}\n", object.namespace()));
        }
        out.push_str(&format!("Kind:         {kind}\n"));
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for field in ["name", "namespace"] {
                meta.remove(field);
            }
        }
        if kind == Kind::Secret {
            if let Some(data) = value.get("data").and_then(|d| d.as_object()) {
                out.push_str("Data (values hidden):\n");
                for (k, v) in data {
                    let size = crate::output::secrets::HiddenValue::of_base64(
                        v.as_str().unwrap_or_default(),
                    );
                    out.push_str(&format!("  {k}: {} bytes\n", size.bytes));
                }
            }
        }
        if kind == Kind::Deployment {
            crate::output::deployment::describe(&object.to_typed()?, &mut out);
        }
        let sections: &[&str] = if kind == Kind::ConfigMap {
            &["metadata", "data"]
        } else {
            &["metadata", "spec", "status"]
        };
        for section in sections.iter().copied() {
            if let Some(v) = value
                .get(section)
                .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
            {
                out.push_str(&format!("{}:\n", capitalise(section)));
                for line in serde_yaml::to_string(v)?.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        match kind {
            Kind::Service => {
                let table = endpoints(&client, &object.to_typed()?).await?;
                section(&mut out, "Endpoints", &table);
            }
            Kind::Node => {
                node_pods(&client, &object.to_typed()?, &mut out).await?;
                match client.node_certificates().await {
                    Ok(certificates) => crate::output::node_certificates::describe(
                        &name,
                        &certificates,
                        chrono::Utc::now(),
                        &mut out,
                    ),
                    // A plain-HTTP cluster: nodes have no certificates.
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e).context("reading the node's certificates"),
                }
            }
            Kind::HorizontalPodAutoscaler => {
                crate::output::hpa::describe(&object.to_typed()?, &mut out);
            }
            _ => {}
        }
        let events = client
            .list(
                Kind::Event,
                if kind.namespaced() {
                    Some(&self.api.namespace)
                } else {
                    None
                },
            )
            .await?;
        let related: Vec<_> = events
            .items
            .into_iter()
            .filter(|e| {
                e.to_typed::<Event>().is_ok_and(|e| {
                    e.spec.involved_object.kind == kind.as_str()
                        && e.spec.involved_object.name == name
                })
            })
            .collect();
        let mut related = related;
        tables::sort_events(&mut related);
        out.push_str("Events:\n");
        if related.is_empty() {
            out.push_str("  <none>\n");
        } else {
            for line in tables::events(&related)?.render().lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        print!("{out}");
        Ok(())
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
