//! The autoscaler's arithmetic, apart from any I/O: a recommendation from the pods' figures
//! (`ceil(sum / target)` per metric, the largest wins, within min and max; zero only after the
//! idle time), and Kubernetes' stabilization of recommendations over the behavior windows
//! (scale-up takes the lowest of its window, scale-down the highest of its window).

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wasmpod_api::{HpaSpec, MetricType, MetricValue};

/// Kubernetes' tolerance: a ratio to the target within 10% changes nothing.
pub const TOLERANCE: f64 = 0.1;

/// What the target's pods report, summed over the pods that reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// How many pods reported figures.
    pub pods: u32,
    pub in_flight: f64,
    pub requests_per_second: f64,
    /// How long since the last request any pod served (or since the newest pod started, when
    /// that is more recent); `None` when no pod knows.
    pub idle_for: Option<Duration>,
}

impl Load {
    fn sum(&self, metric: MetricType) -> f64 {
        match metric {
            MetricType::Concurrency => self.in_flight,
            MetricType::RequestsPerSecond => self.requests_per_second,
        }
    }
}

/// A recommendation and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub replicas: u32,
    pub reason: String,
    /// Cut to minReplicas or maxReplicas.
    pub limited: bool,
    /// The metrics' current values per pod, for the status.
    pub metrics: Vec<MetricValue>,
}

/// The replicas the figures ask for, from `current` replicas. `None` when nothing can be said
/// (pods run but none reported).
pub fn recommend(spec: &HpaSpec, current: u32, load: &Load) -> Option<Recommendation> {
    if current == 0 {
        // At zero nothing is measured: a request held at a gateway activates the deployment.
        let replicas = spec.min_replicas;
        return Some(Recommendation {
            replicas,
            reason: if replicas == 0 {
                "scaled to zero; a request wakes it".into()
            } else {
                format!("below minReplicas ({replicas})")
            },
            limited: replicas > 0,
            metrics: Vec::new(),
        });
    }
    if load.pods == 0 {
        return None;
    }
    let mut metrics = Vec::new();
    let mut raw = 0u32;
    let mut why = String::new();
    for metric in &spec.metrics {
        let (kind, target) = (metric.metric_type(), metric.target());
        let sum = load.sum(kind);
        let per_pod = sum / f64::from(load.pods);
        metrics.push(MetricValue {
            metric: kind,
            current: per_pod,
            target,
        });
        let ratio = sum / (target * f64::from(current));
        let wanted = if (ratio - 1.0).abs() <= TOLERANCE {
            current
        } else {
            // A float sum of figures: bounded by the clamp below.
            let wanted = (sum / target).ceil();
            if wanted >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                wanted.max(0.0) as u32
            }
        };
        if wanted >= raw {
            raw = wanted;
            why = format!(
                "{kind} {} over {} pods, target {} per pod",
                short(sum),
                load.pods,
                short(target)
            );
        }
    }
    let idle = load.in_flight <= 0.0
        && load
            .idle_for
            .is_some_and(|d| d >= Duration::from_secs(u64::from(spec.scale_to_zero_after_seconds)));
    let floor = match spec.min_replicas {
        0 if idle => 0,
        0 => 1,
        min => min,
    };
    let replicas = raw.clamp(floor, spec.max_replicas.max(floor));
    let limited = replicas != raw && !(floor == 0 && replicas == 0);
    let reason = if replicas == 0 {
        format!(
            "no request for {}s (scaleToZeroAfterSeconds)",
            spec.scale_to_zero_after_seconds
        )
    } else if replicas > raw {
        format!("{why}; at least {floor}")
    } else if replicas < raw {
        format!("{why}; at most maxReplicas ({})", spec.max_replicas)
    } else {
        why
    };
    Some(Recommendation {
        replicas,
        reason,
        limited,
        metrics,
    })
}

fn short(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The recommendations of one autoscaler over its longest window.
#[derive(Debug, Default)]
pub struct Stabilizer {
    history: VecDeque<(Instant, u32)>,
}

/// What stabilization made of a recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stabilized {
    pub replicas: u32,
    /// The scale-down window held the replicas above the recommendation.
    pub held_by_window: bool,
}

impl Stabilizer {
    /// Records `recommended` at `now` and returns the replicas to set from `current`, as
    /// Kubernetes does: up to the lowest recommendation of the scale-up window, down to the
    /// highest of the scale-down window. Zero (the idle time passed) is not held by the
    /// scale-down window: `scaleToZeroAfterSeconds` is its own window; it also clears the past.
    pub fn stabilize(
        &mut self,
        now: Instant,
        current: u32,
        recommended: u32,
        up_window: Duration,
        down_window: Duration,
    ) -> Stabilized {
        let keep = up_window.max(down_window);
        while self
            .history
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > keep)
        {
            self.history.pop_front();
        }
        if recommended == 0 {
            // The load that justified more replicas is long gone: back from zero starts afresh.
            self.history.clear();
            self.history.push_back((now, recommended));
            return Stabilized {
                replicas: 0,
                held_by_window: false,
            };
        }
        self.history.push_back((now, recommended));
        let within = |window: Duration| {
            self.history
                .iter()
                .filter(move |(t, _)| now.saturating_duration_since(*t) <= window)
                .map(|(_, r)| *r)
        };
        let up = within(up_window).min().unwrap_or(recommended);
        // A zero of the window is the idle path's, not a scale-down recommendation to keep.
        let down = within(down_window)
            .filter(|r| *r > 0)
            .max()
            .unwrap_or(recommended);
        let mut replicas = current;
        if replicas < up {
            replicas = up;
        }
        if replicas > down {
            replicas = down;
        }
        Stabilized {
            replicas,
            held_by_window: replicas > recommended && current > recommended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(min: u32, max: u32, metrics: serde_json::Value) -> HpaSpec {
        serde_json::from_value(json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": min, "maxReplicas": max, "metrics": metrics,
            "scaleToZeroAfterSeconds": 30,
        }))
        .expect("spec")
    }

    fn load(pods: u32, in_flight: f64, rps: f64, idle: Option<u64>) -> Load {
        Load {
            pods,
            in_flight,
            requests_per_second: rps,
            idle_for: idle.map(Duration::from_secs),
        }
    }

    #[test]
    fn replicas_are_the_ceiling_of_the_sum_over_the_target_within_min_and_max() {
        let s = spec(1, 10, json!([{"type": "Concurrency", "target": 10}]));
        let r = |current, in_flight| {
            recommend(&s, current, &load(current, in_flight, 0.0, Some(0)))
                .expect("a recommendation")
        };
        assert_eq!(r(1, 45.0).replicas, 5);
        assert_eq!(r(1, 41.0).replicas, 5);
        assert_eq!(r(2, 200.0).replicas, 10, "cut to maxReplicas");
        assert!(r(2, 200.0).limited);
        assert!(
            r(2, 200.0).reason.contains("maxReplicas"),
            "{:?}",
            r(2, 200.0)
        );
        assert_eq!(r(3, 0.0).replicas, 1, "never below minReplicas 1");
        assert_eq!(r(4, 0.0).metrics[0].current, 0.0);
        // Within the 10% tolerance nothing moves.
        assert_eq!(r(4, 42.0).replicas, 4);
        assert_eq!(r(4, 38.0).replicas, 4);
        assert_eq!(r(4, 35.0).replicas, 4, "ceil(3.5) = 4");
        assert_eq!(r(4, 29.0).replicas, 3);
        assert_eq!(r(2, 30.0).metrics[0].current, 15.0, "per pod");
    }

    #[test]
    fn the_largest_metric_wins() {
        let s = spec(
            1,
            20,
            json!([{"type": "Concurrency", "target": 10}, {"type": "RequestsPerSecond", "target": 100}]),
        );
        let r = recommend(&s, 2, &load(2, 10.0, 750.0, Some(0))).expect("recommendation");
        assert_eq!(r.replicas, 8);
        assert!(
            r.reason.starts_with("RequestsPerSecond 750"),
            "{}",
            r.reason
        );
        let r = recommend(&s, 2, &load(2, 95.0, 10.0, Some(0))).expect("recommendation");
        assert_eq!(r.replicas, 10);
        assert!(r.reason.starts_with("Concurrency 95"), "{}", r.reason);
    }

    #[test]
    fn zero_only_after_the_idle_time_with_nothing_in_flight() {
        let s = spec(0, 5, json!([{"type": "Concurrency", "target": 10}]));
        let r = |in_flight, idle| {
            recommend(&s, 1, &load(1, in_flight, 0.0, idle))
                .expect("a recommendation")
                .replicas
        };
        assert_eq!(r(0.0, Some(29)), 1, "not idle long enough");
        assert_eq!(r(0.0, Some(30)), 0);
        assert_eq!(r(1.0, Some(300)), 1, "a request in flight");
        assert_eq!(r(0.0, None), 1, "no pod knows when it last served");
        assert!(recommend(&s, 1, &load(1, 0.0, 0.0, Some(31)))
            .expect("recommendation")
            .reason
            .contains("no request for 30s"));
        // At zero it stays at zero (a request activates it); with a minimum it comes back.
        assert_eq!(
            recommend(&s, 0, &Load::default())
                .expect("recommendation")
                .replicas,
            0
        );
        let s = spec(2, 5, json!([{"type": "Concurrency", "target": 10}]));
        assert_eq!(
            recommend(&s, 0, &Load::default())
                .expect("recommendation")
                .replicas,
            2
        );
        assert_eq!(r(0.0, Some(600)), 0);
    }

    #[test]
    fn no_figures_no_recommendation() {
        let s = spec(1, 5, json!([{"type": "Concurrency", "target": 10}]));
        assert_eq!(recommend(&s, 3, &Load::default()), None);
    }

    #[test]
    fn scale_up_is_immediate_and_scale_down_keeps_the_highest_of_its_window() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let (up, down) = (Duration::ZERO, Duration::from_secs(10));
        let mut st = Stabilizer::default();
        assert_eq!(
            st.stabilize(at(0), 1, 5, up, down).replicas,
            5,
            "up at once"
        );
        let held = st.stabilize(at(1), 5, 2, up, down);
        assert_eq!(held.replicas, 5, "the window remembers 5");
        assert!(held.held_by_window);
        assert_eq!(st.stabilize(at(5), 5, 3, up, down).replicas, 5);
        assert_eq!(
            st.stabilize(at(11), 5, 2, up, down).replicas,
            3,
            "5 left the window; 3 (t=5) is the highest within it"
        );
        assert_eq!(st.stabilize(at(16), 3, 2, up, down).replicas, 2);
        assert_eq!(st.stabilize(at(17), 2, 8, up, down).replicas, 8);
    }

    #[test]
    fn a_scale_up_window_takes_the_lowest_recommendation_of_the_window() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let (up, down) = (Duration::from_secs(3), Duration::ZERO);
        let mut st = Stabilizer::default();
        assert_eq!(st.stabilize(at(0), 1, 1, up, down).replicas, 1);
        assert_eq!(
            st.stabilize(at(1), 1, 6, up, down).replicas,
            1,
            "1 is in the window"
        );
        assert_eq!(st.stabilize(at(2), 1, 6, up, down).replicas, 1);
        assert_eq!(st.stabilize(at(4), 1, 6, up, down).replicas, 6);
    }

    #[test]
    fn zero_is_not_held_by_the_scale_down_window() {
        let t0 = Instant::now();
        let down = Duration::from_secs(300);
        let mut st = Stabilizer::default();
        assert_eq!(st.stabilize(t0, 1, 3, Duration::ZERO, down).replicas, 3);
        let s = st.stabilize(t0 + Duration::from_secs(60), 3, 0, Duration::ZERO, down);
        assert_eq!(s.replicas, 0);
        assert_eq!(
            st.stabilize(t0 + Duration::from_secs(61), 0, 1, Duration::ZERO, down)
                .replicas,
            1,
            "back from zero the window forgot the load of before"
        );
    }
}
