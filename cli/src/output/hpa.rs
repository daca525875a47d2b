//! `get hpa` and the summary `describe hpa` adds: the target, min/max, current and desired
//! replicas, each metric's current value against its target, and the last decisions.

use super::tables::typed;
use super::{age, Table};
use wasmpod_api::{AnyObject, HorizontalPodAutoscaler, MetricType, ScaleDecision};

/// `Deployment/web`.
fn reference(hpa: &HorizontalPodAutoscaler) -> String {
    let target = &hpa.spec.scale_target_ref;
    format!("{:?}/{}", target.kind, target.name)
}

fn metric_name(metric: MetricType) -> &'static str {
    match metric {
        MetricType::Concurrency => "concurrency",
        MetricType::RequestsPerSecond => "rps",
    }
}

/// `concurrency 3.5/10`, one per metric; `<unknown>` before the first reading, as kubectl.
fn targets(hpa: &HorizontalPodAutoscaler) -> String {
    hpa.spec
        .metrics
        .iter()
        .map(|m| {
            let current = hpa
                .status
                .current_metrics
                .iter()
                .find(|v| v.metric == m.metric_type())
                .map_or_else(|| "<unknown>".to_string(), |v| number(v.current));
            format!(
                "{} {current}/{}",
                metric_name(m.metric_type()),
                number(m.target())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A figure with at most one decimal, without a trailing `.0`.
fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// `1->3 (5s ago)`.
fn decision(d: &ScaleDecision) -> String {
    format!("{}->{} ({} ago)", d.from, d.to, age(Some(d.time)))
}

pub fn table(items: &[AnyObject]) -> anyhow::Result<Table> {
    let mut table = Table::new(&[
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "DESIRED",
        "LAST DECISION",
        "AGE",
    ]);
    for hpa in typed::<HorizontalPodAutoscaler>(items)? {
        table.row(vec![
            hpa.name().to_string(),
            reference(&hpa),
            targets(&hpa),
            hpa.spec.min_replicas.to_string(),
            hpa.spec.max_replicas.to_string(),
            hpa.status.current_replicas.to_string(),
            hpa.status.desired_replicas.to_string(),
            hpa.status
                .last_decisions
                .last()
                .map_or_else(|| "<none>".to_string(), decision),
            age(hpa.metadata.creation_timestamp),
        ]);
    }
    Ok(table)
}

/// The summary `describe hpa` prints before its events.
pub fn describe(hpa: &HorizontalPodAutoscaler, out: &mut String) {
    out.push_str(&format!("Reference:    {}\n", reference(hpa)));
    out.push_str(&format!("Metrics:      {}\n", targets(hpa)));
    out.push_str(&format!(
        "Min/Max:      {}/{}\n",
        hpa.spec.min_replicas, hpa.spec.max_replicas
    ));
    out.push_str(&format!(
        "Replicas:     {} current / {} desired\n",
        hpa.status.current_replicas, hpa.status.desired_replicas
    ));
    if hpa.spec.min_replicas == 0 {
        out.push_str(&format!(
            "Scale to zero: after {}s without requests\n",
            hpa.spec.scale_to_zero_after_seconds
        ));
    }
    super::deployment::conditions(&hpa.status.conditions, out);
    out.push_str("Last decisions:\n");
    if hpa.status.last_decisions.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut table = Table::new(&["AGE", "FROM", "TO", "REASON"]);
        for d in hpa.status.last_decisions.iter().rev() {
            table.row(vec![
                age(Some(d.time)),
                d.from.to_string(),
                d.to.to_string(),
                d.reason.clone(),
            ]);
        }
        for line in table.render().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_short() {
        assert_eq!(number(10.0), "10");
        assert_eq!(number(3.25), "3.3");
        assert_eq!(number(0.0), "0");
    }
}
