//! `top pods [-n NS | -A]` and `top nodes`: each pod's requests per second, latency (p50, p99
//! over the last 10 s), requests in flight, linear memory and restarts, and each node's pods,
//! requests per second and memory, as the nodes measure them (`/api/v1/podmetrics`).

use super::ApiArgs;
use crate::output::Table;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use wasmpod_api::pod_metrics::{PodMetrics, PodMetricsList};
use wasmpod_api::{Kind, Node};

#[derive(Debug, Args)]
pub struct Top {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Requests/s, p50/p99 latency, in flight, memory and restarts of each pod
    #[command(visible_alias = "pod", visible_alias = "po")]
    Pods(TopPods),
    /// Pods, requests/s and memory of each node
    #[command(visible_alias = "node", visible_alias = "no")]
    Nodes(TopNodes),
}

#[derive(Debug, Args)]
struct TopPods {
    /// Pods of every namespace
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
struct TopNodes {
    #[command(flatten)]
    api: ApiArgs,
}

impl Top {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.what {
            What::Pods(pods) => pods.run().await,
            What::Nodes(nodes) => nodes.run().await,
        }
    }
}

impl TopPods {
    async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let namespace = (!self.all_namespaces).then_some(self.api.namespace.as_str());
        let list = client.pod_metrics(namespace).await?;
        warn_unreachable(&list);
        if list.items.is_empty() {
            match namespace {
                Some(ns) => eprintln!("No pods with figures in {ns} namespace."),
                None => eprintln!("No pods with figures."),
            }
            return Ok(());
        }
        print!("{}", pods_table(&list.items, self.all_namespaces).render());
        Ok(())
    }
}

impl TopNodes {
    async fn run(self) -> anyhow::Result<()> {
        let client = self.api.client()?;
        let list = client.pod_metrics(None).await?;
        let nodes: Vec<Node> = client.list_typed(Kind::Node, None).await?;
        let unreachable: Vec<&str> = list
            .unreachable_nodes
            .iter()
            .map(|u| u.node.as_str())
            .collect();
        warn_unreachable(&list);
        let names: Vec<(String, bool)> = nodes
            .iter()
            .map(|n| {
                let name = n.metadata.name.to_string();
                let known = n.status.ready && !unreachable.contains(&name.as_str());
                (name, known)
            })
            .collect();
        print!("{}", nodes_table(&names, &list.items).render());
        Ok(())
    }
}

fn warn_unreachable(list: &PodMetricsList) {
    for node in &list.unreachable_nodes {
        eprintln!(
            "warning: node {} did not give its figures ({}); its pods are missing",
            node.node, node.reason
        );
    }
}

fn pods_table(items: &[PodMetrics], namespaces: bool) -> Table {
    let mut table = Table::new(&[
        "NAME",
        "NODE",
        "REQUESTS/S",
        "P50",
        "P99",
        "IN FLIGHT",
        "MEMORY",
        "RESTARTS",
        "IDLE",
    ]);
    for m in items {
        table.row(vec![
            m.pod.clone(),
            m.node.clone(),
            rate(m.requests_per_second),
            latency(m.p50_seconds),
            latency(m.p99_seconds),
            m.in_flight.to_string(),
            bytes(m.memory_bytes),
            m.restarts.to_string(),
            idle(m.idle_seconds),
        ]);
    }
    if namespaces {
        table.prepend_column(
            "NAMESPACE",
            items.iter().map(|m| m.namespace.clone()).collect(),
        );
    }
    table
}

/// One row per node (`known`: it is ready and answered); its pods' figures summed.
fn nodes_table(nodes: &[(String, bool)], items: &[PodMetrics]) -> Table {
    let mut by_node: BTreeMap<&str, (usize, f64, u64)> = BTreeMap::new();
    for m in items {
        let entry = by_node.entry(m.node.as_str()).or_default();
        entry.0 += 1;
        entry.1 += m.requests_per_second;
        entry.2 += m.memory_bytes;
    }
    let mut table = Table::new(&["NAME", "PODS", "REQUESTS/S", "MEMORY"]);
    for (name, known) in nodes {
        let row = match (known, by_node.get(name.as_str())) {
            (false, _) => vec![
                name.clone(),
                "<unknown>".into(),
                "<unknown>".into(),
                "<unknown>".into(),
            ],
            (true, Some((pods, rps, memory))) => {
                vec![name.clone(), pods.to_string(), rate(*rps), bytes(*memory)]
            }
            (true, None) => vec![name.clone(), "0".into(), rate(0.0), bytes(0)],
        };
        table.row(row);
    }
    table
}

fn rate(per_second: f64) -> String {
    format!("{per_second:.1}")
}

/// `850µs`, `12.3ms`, `1.52s`; `-` when no request was in the window.
fn latency(seconds: Option<f64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s < 1e-3 => format!("{:.0}µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1}ms", s * 1e3),
        Some(s) => format!("{s:.2}s"),
    }
}

/// `0`, `512Ki`, `1.5Mi`, `2.0Gi`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["Ki", "Mi", "Gi", "Ti"];
    if n < 1024 {
        return n.to_string();
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// `4s`, `3m`, `2h` since the pod's last request.
fn idle(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(ns: &str, pod: &str, node: &str, rps: f64, memory: u64) -> PodMetrics {
        PodMetrics {
            namespace: ns.into(),
            pod: pod.into(),
            node: node.into(),
            in_flight: 1,
            requests_total: 100,
            requests_per_second: rps,
            p50_seconds: Some(0.0021),
            p99_seconds: None,
            memory_bytes: memory,
            restarts: 2,
            last_request: None,
            idle_seconds: 190.0,
            window_seconds: 10,
        }
    }

    #[test]
    fn units_read_as_people_write_them() {
        assert_eq!(latency(Some(0.00085)), "850µs");
        assert_eq!(latency(Some(0.0123)), "12.3ms");
        assert_eq!(latency(Some(1.523)), "1.52s");
        assert_eq!(latency(None), "-");
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(512 * 1024), "512Ki");
        assert_eq!(bytes(3 * 512 * 1024), "1.5Mi");
        assert_eq!(bytes(2 << 30), "2Gi");
        assert_eq!(idle(4.2), "4s");
        assert_eq!(idle(190.0), "3m");
        assert_eq!(rate(2.26), "2.3");
    }

    #[test]
    fn pods_and_nodes_tables() {
        let items = [
            figures("default", "web-1", "n1", 2.0, 1 << 20),
            figures("shop", "api-1", "n1", 0.5, 1 << 20),
        ];
        let pods = pods_table(&items, true).render();
        let lines: Vec<&str> = pods.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE   NAME"), "{pods}");
        assert!(lines[1].starts_with("default"), "{pods}");
        for cell in ["web-1", "n1", "2.0", "2.1ms", "1Mi", "3m"] {
            assert!(lines[1].contains(cell), "{cell} in {pods}");
        }
        let nodes = nodes_table(
            &[
                ("n1".into(), true),
                ("n2".into(), true),
                ("n3".into(), false),
            ],
            &items,
        )
        .render();
        let lines: Vec<&str> = nodes.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["n1", "2", "2.5", "2Mi"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["n2", "0", "0.0", "0"]
        );
        assert!(lines[3].contains("<unknown>"), "{nodes}");
    }
}
