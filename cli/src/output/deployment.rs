//! The summary `describe deployment` adds, as kubectl prints it: the replica counts, the
//! revision, the strategy and the conditions; and the conditions table `describe hpa` shares.

use super::Table;
use wasmpod_api::{Condition, Deployment, IntOrPercent, StrategyType};

/// A `TYPE STATUS REASON MESSAGE` table of `conditions` (any kind's), indented under a title.
pub fn conditions<C: Condition>(conditions: &[C], out: &mut String) {
    out.push_str("Conditions:\n");
    if conditions.is_empty() {
        out.push_str("  <none>\n");
        return;
    }
    let mut table = Table::new(&["TYPE", "STATUS", "REASON", "MESSAGE"]);
    for c in conditions {
        table.row(vec![
            format!("{:?}", c.condition_type()),
            c.status_text().to_string(),
            c.reason().to_string(),
            c.message().to_string(),
        ]);
    }
    for line in table.render().lines() {
        out.push_str(&format!("  {line}\n"));
    }
}

fn bound(value: Option<IntOrPercent>) -> String {
    match value.unwrap_or(wasmpod_api::DEFAULT_ROLLING_BOUND) {
        IntOrPercent::Int(n) => n.to_string(),
        IntOrPercent::Percent(p) => format!("{p}%"),
    }
}

/// The summary printed before the object's sections.
pub fn describe(d: &Deployment, out: &mut String) {
    let s = &d.status;
    let unavailable = d.spec.replicas.saturating_sub(s.available_replicas);
    out.push_str(&format!(
        "Replicas:               {} desired | {} updated | {} total | {} ready | {} available | {} unavailable\n",
        d.spec.replicas, s.updated_replicas, s.replicas, s.ready_replicas, s.available_replicas, unavailable
    ));
    let revision = s
        .revision
        .map_or_else(|| "<none>".to_string(), |r| r.to_string());
    out.push_str(&format!("Revision:               {revision}\n"));
    if d.spec.paused {
        out.push_str("Paused:                 true (resume with `wasmpod rollout resume`)\n");
    }
    let strategy = &d.spec.strategy;
    out.push_str(&format!(
        "StrategyType:           {:?}\n",
        strategy.strategy_type
    ));
    out.push_str(&format!(
        "MinReadySeconds:        {}\n",
        d.spec.min_ready_seconds
    ));
    if strategy.strategy_type == StrategyType::RollingUpdate {
        let rolling = strategy.rolling_update.clone().unwrap_or_default();
        out.push_str(&format!(
            "RollingUpdateStrategy:  {} max unavailable, {} max surge\n",
            bound(rolling.max_unavailable),
            bound(rolling.max_surge),
        ));
    }
    out.push_str(&format!(
        "ProgressDeadline:       {}s\n",
        d.spec.progress_deadline_seconds
    ));
    conditions(&s.conditions, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_prints_counts_strategy_and_conditions() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": 1}},
                "minReadySeconds": 5,
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}}
            },
            "status": {
                "replicas": 5, "readyReplicas": 4, "updatedReplicas": 2, "availableReplicas": 3,
                "revision": 3,
                "conditions": [{"type": "Progressing", "status": "False",
                    "reason": "ProgressDeadlineExceeded", "message": "timed out: pod web-x: NotReady",
                    "lastTransitionTime": "2026-01-01T00:00:00Z", "lastUpdateTime": "2026-01-01T00:00:00Z"}]
            }
        }))
        .unwrap();
        let mut out = String::new();
        describe(&d, &mut out);
        for expected in [
            "4 desired | 2 updated | 5 total | 4 ready | 3 available | 1 unavailable",
            "Revision:               3",
            "StrategyType:           RollingUpdate",
            "MinReadySeconds:        5",
            "25% max unavailable, 1 max surge",
            "Conditions:\n  TYPE",
        ] {
            assert!(out.contains(expected), "{expected:?} missing in:\n{out}");
        }
        let row: Vec<&str> = out
            .lines()
            .find(|l| l.trim_start().starts_with("Progressing"))
            .expect("a Progressing row")
            .split_whitespace()
            .collect();
        assert_eq!(
            row[..4],
            ["Progressing", "False", "ProgressDeadlineExceeded", "timed"]
        );
    }
}
