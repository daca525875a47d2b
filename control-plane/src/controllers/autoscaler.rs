//! The autoscaler: every period (about a second) it reads the figures of each
//! HorizontalPodAutoscaler's target pods, recommends replicas ([`autoscaler_math`]), stabilizes
//! them over the behavior windows, and writes the Deployment's `spec.replicas` with a
//! conditional write (a Deployment changed since it was read is left to the next pass). Each
//! change is an Event on the autoscaler naming old -> new and why, and a decision in its status.
//!
//! It runs on the leader only, like the other controllers; the windows' memory lives in it and
//! starts afresh on a new leader, as in Kubernetes.
//!
//! [`autoscaler_math`]: super::autoscaler_math

use super::autoscaler_load::{load_of, LoadSource, PodLoads};
use super::autoscaler_math::{recommend, Load, Stabilizer};
use crate::events::EventDraft;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmpod_api::Resource as _;
use wasmpod_api::{
    Deployment, HorizontalPodAutoscaler, HpaConditionType, HpaStatus, ObjectKey, Pod, PodPhase,
    ScaleDecision, MAX_DECISIONS,
};

/// How often the autoscaler looks at the figures (a load step is answered within two).
pub const PERIOD: Duration = Duration::from_secs(1);
/// Who the autoscaler's events come from.
pub const SOURCE: &str = "horizontal-pod-autoscaler";
/// How often a status whose only change is a metric's value is written.
const METRIC_STATUS_EVERY: Duration = Duration::from_secs(3);

/// What the autoscaler remembers of each HorizontalPodAutoscaler between passes.
#[derive(Default)]
pub(crate) struct Memory {
    stabilizer: Stabilizer,
    last_status_write: Option<Instant>,
}

pub(crate) type Memories = Arc<Mutex<HashMap<ObjectKey, Memory>>>;

/// Runs a pass every `period` until `shutdown`.
pub async fn run(
    registry: Arc<Registry>,
    source: Arc<dyn LoadSource>,
    period: Duration,
    shutdown: CancellationToken,
) {
    let memories: Memories = Arc::default();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = pass(&registry, &*source, &memories).await {
            tracing::warn!(controller = SOURCE, %error, "autoscaler pass failed; will retry");
        }
    }
}

/// One pass over every HorizontalPodAutoscaler.
pub(crate) async fn pass(
    registry: &Arc<Registry>,
    source: &dyn LoadSource,
    memories: &Memories,
) -> Result<(), RegistryError> {
    let hpas = registry
        .off_thread(|r| r.all::<HorizontalPodAutoscaler>(None))
        .await?;
    if hpas.is_empty() {
        return Ok(());
    }
    let figures = source.pod_loads().await;
    if let Err(error) = &figures {
        tracing::debug!(controller = SOURCE, %error, "no figures");
    }
    let figures = figures.map_err(|e| e.to_string());
    let memories = memories.clone();
    registry
        .off_thread(move |r| {
            let mut memories = memories.lock().unwrap_or_else(|p| p.into_inner());
            memories.retain(|key, _| hpas.iter().any(|h| h.key() == *key));
            for hpa in &hpas {
                let memory = memories.entry(hpa.key()).or_default();
                let figures = figures
                    .as_ref()
                    .map(|all| all.get(hpa.namespace()).cloned().unwrap_or_default())
                    .map_err(Clone::clone);
                if let Err(error) = reconcile_one(r, hpa, &figures, memory) {
                    tracing::warn!(controller = SOURCE, hpa = %hpa.key(), %error, "autoscaler failed; will retry");
                }
            }
            Ok::<_, RegistryError>(())
        })
        .await
}

/// Decides and writes the replicas of one autoscaler's target, then its status.
fn reconcile_one(
    registry: &Registry,
    hpa: &HorizontalPodAutoscaler,
    figures: &Result<PodLoads, String>,
    memory: &mut Memory,
) -> Result<(), RegistryError> {
    let now = Utc::now();
    let mut status = hpa.status.clone();
    let target = &hpa.spec.scale_target_ref;
    let Some(deployment) = registry.fetch::<Deployment>(hpa.namespace(), &target.name)? else {
        set_condition(
            &mut status,
            HpaConditionType::AbleToScale,
            false,
            "FailedGetScale",
            format!("Deployment {:?} not found", target.name),
            now,
        );
        return write_status(registry, hpa, status, memory, true);
    };
    let current = deployment.spec.replicas;
    status.current_replicas = current;
    set_condition(
        &mut status,
        HpaConditionType::AbleToScale,
        true,
        "SucceededGetScale",
        format!("the autoscaler reads and sets Deployment {}", target.name),
        now,
    );
    let load = match figures {
        Ok(loads) => {
            let pods = registry.all::<Pod>(Some(hpa.namespace()))?;
            let owned = super::pods_by_owner::<Deployment, _>(&pods);
            let live: Vec<&Pod> = owned
                .get(&(hpa.namespace().to_string(), target.name.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .copied()
                .filter(|p| !matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed))
                .collect();
            load_of(&live, loads, now)
        }
        Err(error) => {
            set_condition(
                &mut status,
                HpaConditionType::ScalingActive,
                false,
                "FailedGetMetrics",
                error.clone(),
                now,
            );
            Load::default()
        }
    };
    let Some(recommendation) = recommend(&hpa.spec, current, &load) else {
        if figures.is_ok() {
            set_condition(
                &mut status,
                HpaConditionType::ScalingActive,
                false,
                "NoMetrics",
                "no pod of the target has reported figures yet".into(),
                now,
            );
        }
        status.desired_replicas = current;
        return write_status(registry, hpa, status, memory, false);
    };
    if figures.is_ok() {
        set_condition(
            &mut status,
            HpaConditionType::ScalingActive,
            true,
            "ValidMetricFound",
            "the replicas follow the pods' figures".into(),
            now,
        );
    }
    set_condition(
        &mut status,
        HpaConditionType::ScalingLimited,
        recommendation.limited,
        if recommendation.limited {
            "TooFewOrTooMany"
        } else {
            "DesiredWithinRange"
        },
        recommendation.reason.clone(),
        now,
    );
    status.current_metrics = recommendation.metrics.clone();
    let behavior = &hpa.spec.behavior;
    let stabilized = memory.stabilizer.stabilize(
        Instant::now(),
        current,
        recommendation.replicas,
        Duration::from_secs(behavior.scale_up.stabilization_window_seconds.into()),
        Duration::from_secs(behavior.scale_down.stabilization_window_seconds.into()),
    );
    status.desired_replicas = stabilized.replicas;
    let mut decided = false;
    if stabilized.replicas != current {
        let reason = if stabilized.held_by_window {
            format!(
                "{}; the scale-down window ({}s) keeps {}",
                recommendation.reason,
                behavior.scale_down.stabilization_window_seconds,
                stabilized.replicas
            )
        } else {
            recommendation.reason.clone()
        };
        decided = scale(registry, hpa, &deployment, stabilized.replicas, &reason)?;
        if decided {
            record(&mut status, current, stabilized.replicas, reason, now);
            status.current_replicas = stabilized.replicas;
        }
    }
    write_status(registry, hpa, status, memory, decided)
}

/// Writes the target's replicas on condition it is still as read; false when it changed since.
fn scale(
    registry: &Registry,
    hpa: &HorizontalPodAutoscaler,
    deployment: &Deployment,
    replicas: u32,
    reason: &str,
) -> Result<bool, RegistryError> {
    let mut scaled = deployment.clone();
    scaled.spec.replicas = replicas;
    let key = deployment.key();
    let outcome = super::commit_each(
        registry,
        SOURCE,
        vec![Write::Update(to_any(&key, &scaled)?)],
    )?;
    if outcome.was_refused(0) {
        return Ok(false);
    }
    let (from, name) = (deployment.spec.replicas, deployment.name());
    tracing::info!(controller = SOURCE, hpa = %hpa.key(), deployment = name, from, to = replicas, reason, "rescaled");
    crate::events::Recorder::new(registry, SOURCE).record(&[EventDraft::normal(
        hpa.key(),
        "SuccessfulRescale",
        format!("Deployment {name} scaled {from} -> {replicas}: {reason}"),
    )]);
    Ok(true)
}

/// Adds a decision to the status, keeping the last [`MAX_DECISIONS`].
pub fn record(status: &mut HpaStatus, from: u32, to: u32, reason: String, now: DateTime<Utc>) {
    status.last_decisions.push(ScaleDecision {
        time: now,
        from,
        to,
        reason,
    });
    let excess = status.last_decisions.len().saturating_sub(MAX_DECISIONS);
    status.last_decisions.drain(..excess);
    status.last_scale_time = Some(now);
}

/// Sets a condition (the setter every kind shares): its transition time moves only when its
/// status flips.
fn set_condition(
    status: &mut HpaStatus,
    condition: HpaConditionType,
    value: bool,
    reason: &'static str,
    message: String,
    now: DateTime<Utc>,
) {
    wasmpod_api::set_condition(
        &mut status.conditions,
        wasmpod_api::ConditionChange {
            condition_type: condition,
            status: value,
            reason,
            message,
            touch: false,
        },
        now,
    );
}

/// Writes the status when it changed: at once for replicas, conditions and decisions, at most
/// every few seconds when only a metric's value moved.
fn write_status(
    registry: &Registry,
    hpa: &HorizontalPodAutoscaler,
    status: HpaStatus,
    memory: &mut Memory,
    force: bool,
) -> Result<(), RegistryError> {
    if status == hpa.status {
        return Ok(());
    }
    let only_metrics = HpaStatus {
        current_metrics: hpa.status.current_metrics.clone(),
        ..status.clone()
    } == hpa.status;
    let recent = memory
        .last_status_write
        .is_some_and(|t| t.elapsed() < METRIC_STATUS_EVERY);
    if only_metrics && recent && !force {
        return Ok(());
    }
    registry.modify::<HorizontalPodAutoscaler, _>(&hpa.key(), |stored| {
        // A decision written by the activator since this pass read the object is kept.
        let mut merged = status.clone();
        for d in &stored.status.last_decisions {
            if !merged.last_decisions.contains(d) && d.time > hpa_last_decision(hpa) {
                merged.last_decisions.push(d.clone());
            }
        }
        merged.last_decisions.sort_by_key(|d| d.time);
        let excess = merged.last_decisions.len().saturating_sub(MAX_DECISIONS);
        merged.last_decisions.drain(..excess);
        let changed = stored.status != merged;
        stored.status = merged;
        changed
    })?;
    memory.last_status_write = Some(Instant::now());
    Ok(())
}

fn hpa_last_decision(hpa: &HorizontalPodAutoscaler) -> DateTime<Utc> {
    hpa.status
        .last_decisions
        .last()
        .map_or(DateTime::<Utc>::MIN_UTC, |d| d.time)
}
