//! Events: what happened to which object, as `kubectl describe` shows it. A [`Recorder`] is bound
//! to the component that reports (its `source`), as kube-runtime's `events::Recorder` is to its
//! reporter. An event's name is derived from what it is about (the object, the reason and the
//! message), so a repeat lands on the same Event and bumps its `count` and `lastTimestamp`
//! instead of piling up copies.
//!
//! Events are advisory: recording one never fails its caller. A failure is logged with the
//! object, the reason and the cause, never dropped silently.

use crate::registry::{to_any, Registry, RegistryError, Write};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmpod_api::{
    Event, EventSpec, EventType, Kind, Name, Object, ObjectKey, ObjectMeta, ObjectReference,
};

/// An event to record: what happened to which object.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub involved: ObjectKey,
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

impl EventDraft {
    pub fn normal(involved: ObjectKey, reason: &str, message: impl Into<String>) -> Self {
        EventDraft {
            involved,
            event_type: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn warning(involved: ObjectKey, reason: &str, message: impl Into<String>) -> Self {
        EventDraft {
            involved,
            event_type: EventType::Warning,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The name of the Event this draft lands on: the object's and a digest of what happened.
    fn event_name(&self) -> Result<Name, String> {
        let involved = &self.involved;
        let digest =
            Sha256::digest(format!("{involved}|{}|{}", self.reason, self.message).as_bytes());
        let short: String = involved.name.chars().take(40).collect();
        Name::try_from(format!(
            "{}-{}",
            short.trim_end_matches('-'),
            &hex::encode(digest)[..12]
        ))
    }

    /// Where its Event lives: the object's namespace, the default one for a cluster-wide object.
    fn namespace(&self) -> &str {
        if self.involved.namespace.is_empty() {
            wasmpod_api::DEFAULT_NAMESPACE
        } else {
            &self.involved.namespace
        }
    }
}

/// Records events for one reporting component.
pub struct Recorder<'a> {
    registry: &'a Registry,
    source: &'a str,
}

impl<'a> Recorder<'a> {
    pub fn new(registry: &'a Registry, source: &'a str) -> Recorder<'a> {
        Recorder { registry, source }
    }

    /// Records `drafts` in one commit (a repeat bumps the count of its Event). Blocks on the
    /// commit: from async code use [`record_off_thread`].
    pub fn record(&self, drafts: &[EventDraft]) {
        if drafts.is_empty() {
            return;
        }
        let now = Utc::now();
        let mut writes = Vec::with_capacity(drafts.len());
        for draft in drafts {
            match self.event_write(draft, now) {
                Ok(write) => writes.push(write),
                Err(error) => tracing::warn!(
                    source = self.source,
                    object = %draft.involved,
                    reason = %draft.reason,
                    %error,
                    "event not recorded"
                ),
            }
        }
        if let Err(error) = self.registry.commit(writes) {
            let reasons: Vec<&str> = drafts.iter().map(|d| d.reason.as_str()).collect();
            tracing::warn!(
                source = self.source,
                events = drafts.len(),
                reasons = %reasons.join(","),
                first = %drafts[0].involved,
                %error,
                "events not recorded"
            );
        }
    }

    /// The write of one draft: a new Event, or the stored one with its count bumped.
    fn event_write(
        &self,
        draft: &EventDraft,
        now: chrono::DateTime<Utc>,
    ) -> Result<Write, RegistryError> {
        let name = draft
            .event_name()
            .map_err(|message| RegistryError::Invalid {
                key: draft.involved.to_string(),
                message: format!("no event name: {message}"),
            })?;
        let key = ObjectKey::new(Kind::Event, draft.namespace(), name.as_str());
        let event = match self.registry.get_typed::<Event>(&key)? {
            Some(mut event) => {
                event.spec.count += 1;
                event.spec.last_timestamp = now;
                event
            }
            None => {
                let mut metadata = ObjectMeta::named(name);
                metadata.namespace = Some(key.namespace.clone());
                Object::new(
                    Kind::Event,
                    metadata,
                    EventSpec {
                        involved_object: ObjectReference {
                            kind: draft.involved.kind.as_str().to_string(),
                            namespace: draft.involved.namespace.clone(),
                            name: draft.involved.name.clone(),
                        },
                        reason: draft.reason.clone(),
                        message: draft.message.clone(),
                        event_type: draft.event_type,
                        source: self.source.to_string(),
                        count: 1,
                        first_timestamp: now,
                        last_timestamp: now,
                    },
                )
            }
        };
        Ok(Write::Put(to_any(&key, &event)?))
    }
}

/// [`Recorder::record`] on the blocking pool, for async code (API handlers): the commit waits on
/// the disk or the network, which must not hold an async worker thread.
pub async fn record_off_thread(registry: &Arc<Registry>, source: &str, drafts: Vec<EventDraft>) {
    let source = source.to_string();
    let recorded = registry
        .off_thread(move |registry| {
            Recorder::new(registry, &source).record(&drafts);
            Ok::<_, RegistryError>(())
        })
        .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, "events not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use crate::typed::TypedRegistry;

    #[test]
    fn a_repeated_event_bumps_its_count_and_another_message_is_another_event() {
        let (_dir, reg) = registry();
        let pod = ObjectKey::new(Kind::Pod, "shop", "web-1");
        let node = ObjectKey::new(Kind::Node, "", "node-a");
        let recorder = Recorder::new(&reg, "test");
        recorder.record(&[EventDraft::warning(pod.clone(), "BackOff", "restarting")]);
        recorder.record(&[
            EventDraft::warning(pod.clone(), "BackOff", "restarting"),
            EventDraft::normal(pod.clone(), "Started", "started"),
            EventDraft::normal(node.clone(), "NodeReady", "ready"),
        ]);
        let events: Vec<Event> = reg.all_owned::<Event>(None).unwrap();
        assert_eq!(events.len(), 3);
        let backoff = events.iter().find(|e| e.spec.reason == "BackOff").unwrap();
        assert_eq!(backoff.spec.count, 2);
        assert_eq!(backoff.spec.source, "test");
        assert_eq!(backoff.metadata.namespace(), "shop");
        assert!(backoff.metadata.name.as_str().starts_with("web-1-"));
        // A cluster-wide object's events live in the default namespace.
        let ready = events
            .iter()
            .find(|e| e.spec.reason == "NodeReady")
            .unwrap();
        assert_eq!(ready.metadata.namespace(), "default");
        assert_eq!(ready.spec.involved_object.name, "node-a");
    }
}
