//! Which pods `logs -f -l` follows, decided from what the list and the watch say of them (no I/O
//! here): a pod that matches the selector and has run is followed once; one that is deleted, or
//! stops matching, is no longer followed; a pod whose log stream ended while it still existed is
//! not followed again (that would print its whole log a second time). A pod is known by its name
//! and UID together, so a StatefulSet's `db-0` deleted and made again is a new pod to follow.

use std::collections::{HashMap, HashSet};
use wasmpod_api::{Pod, PodPhase};

/// One pod the roster knows, by the UID of the pod of that name it saw last.
#[derive(Debug)]
enum Entry<H> {
    /// Its log is being followed; `H` stops the follower.
    Following { uid: String, follower: H },
    /// Done with this pod: deleted, or its stream ended (it is not followed twice).
    Done { uid: String },
}

impl<H> Entry<H> {
    fn uid(&self) -> &str {
        match self {
            Entry::Following { uid, .. } | Entry::Done { uid } => uid,
        }
    }
}

/// The pods followed, by name; `H` is how a follower is stopped (a task's abort handle).
#[derive(Debug)]
pub struct Roster<H> {
    pods: HashMap<String, Entry<H>>,
}

impl<H> Default for Roster<H> {
    fn default() -> Self {
        Roster {
            pods: HashMap::new(),
        }
    }
}

/// The UID of a pod ("" for one stored without: its name alone tells it apart then).
pub fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Whether the pod has started on its node at least once, so that the node keeps a log of it.
pub fn has_run(pod: &Pod) -> bool {
    pod.spec.node_name.is_some()
        && (pod.status.phase != PodPhase::Pending || pod.status.start_time.is_some())
}

impl<H> Roster<H> {
    /// Whether to start following `pod`, which the list or the watch says matches now.
    pub fn wants(&self, pod: &Pod) -> bool {
        if !has_run(pod) {
            return false;
        }
        match self.pods.get(pod.name()) {
            None => true,
            Some(entry) => entry.uid() != uid_of(pod),
        }
    }

    /// A follower was started for `name` (`uid`); returns the follower of an older pod of that
    /// name, to stop.
    pub fn started(&mut self, name: &str, uid: String, follower: H) -> Option<H> {
        match self
            .pods
            .insert(name.to_string(), Entry::Following { uid, follower })
        {
            Some(Entry::Following { follower, .. }) => Some(follower),
            _ => None,
        }
    }

    /// Pod `name` (`uid`) is deleted or no longer matches: its follower, to stop.
    pub fn gone(&mut self, name: &str, uid: &str) -> Option<H> {
        self.finish(name, uid)
    }

    /// The follower of `name` (`uid`) ended by itself (the pod is gone, or its stream was lost).
    pub fn ended(&mut self, name: &str, uid: &str) {
        self.finish(name, uid);
    }

    fn finish(&mut self, name: &str, uid: &str) -> Option<H> {
        let entry = self.pods.get_mut(name)?;
        if entry.uid() != uid {
            return None;
        }
        match std::mem::replace(
            entry,
            Entry::Done {
                uid: uid.to_string(),
            },
        ) {
            Entry::Following { follower, .. } => Some(follower),
            Entry::Done { .. } => None,
        }
    }

    /// After a fresh list: forgets every pod it does not hold; returns their followers, to stop.
    pub fn keep_only(&mut self, listed: &HashSet<String>) -> Vec<H> {
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|name| !listed.contains(*name))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|name| match self.pods.remove(&name) {
                Some(Entry::Following { follower, .. }) => Some(follower),
                _ => None,
            })
            .collect()
    }

    /// How many pods are followed now.
    #[cfg(test)]
    pub fn following(&self) -> usize {
        self.pods
            .values()
            .filter(|e| matches!(e, Entry::Following { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, uid: &str, node: Option<&str>, phase: PodPhase) -> Pod {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"component": format!("sha256:{}", "0".repeat(64))},
        }))
        .expect("a pod");
        pod.spec.node_name = node.map(str::to_string);
        pod.status.phase = phase;
        pod
    }

    #[test]
    fn a_pod_is_followed_once_it_has_run_and_only_once() {
        let mut roster: Roster<u32> = Roster::default();
        let pending = pod("web-1", "u1", None, PodPhase::Pending);
        assert!(!roster.wants(&pending), "unscheduled: no log yet");
        let bound = pod("web-1", "u1", Some("n"), PodPhase::Pending);
        assert!(!roster.wants(&bound), "not started: no log yet");
        let running = pod("web-1", "u1", Some("n"), PodPhase::Running);
        assert!(roster.wants(&running));
        assert_eq!(roster.started("web-1", "u1".into(), 1), None);
        assert!(!roster.wants(&running), "already followed");
        assert_eq!(roster.following(), 1);
    }

    #[test]
    fn a_deleted_pod_stops_and_a_new_pod_of_its_name_is_followed() {
        let mut roster: Roster<u32> = Roster::default();
        roster.started("db-0", "u1".into(), 1);
        assert_eq!(
            roster.gone("db-0", "other-uid"),
            None,
            "not the pod followed"
        );
        assert_eq!(roster.gone("db-0", "u1"), Some(1));
        assert_eq!(roster.following(), 0);
        assert!(
            !roster.wants(&pod("db-0", "u1", Some("n"), PodPhase::Running)),
            "a late event of the deleted pod starts nothing"
        );
        assert!(roster.wants(&pod("db-0", "u2", Some("n"), PodPhase::Running)));
        roster.started("db-0", "u2".into(), 2);
        assert_eq!(roster.following(), 1);
    }

    #[test]
    fn a_lost_stream_is_not_followed_again() {
        let mut roster: Roster<u32> = Roster::default();
        roster.started("web-1", "u1".into(), 1);
        roster.ended("web-1", "u1");
        assert_eq!(roster.following(), 0);
        assert!(!roster.wants(&pod("web-1", "u1", Some("n"), PodPhase::Running)));
    }

    #[test]
    fn a_fresh_list_stops_the_pods_it_no_longer_holds() {
        let mut roster: Roster<u32> = Roster::default();
        roster.started("a", "ua".into(), 1);
        roster.started("b", "ub".into(), 2);
        let listed = HashSet::from(["a".to_string()]);
        assert_eq!(roster.keep_only(&listed), vec![2]);
        assert_eq!(roster.following(), 1);
    }
}
