//! The scheduler: binds each unbound pod to a node. Filters (volume affinity, node ready,
//! schedulable, pods, memory and cpu fit, nodeSelector), then scores (spread the replicas of one
//! owner across nodes, then least allocated). A pod that fits nowhere stays Pending with the reason.
//!
//! Claims bind on first use (WaitForFirstConsumer): a pod whose claims are all unbound may go
//! to any node, and the commit that binds the pod binds those claims to the same node; a pod
//! with a bound claim may only go to that claim's node; a pod whose claim is missing or
//! Terminating waits.

use super::claims::claim_names;
use crate::events::{EventDraft, Recorder};
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use std::collections::{BTreeMap, HashMap};
use wasmpod_api::Resource as _;
use wasmpod_api::{ClaimPhase, Kind, Node, ObjectKey, PersistentVolumeClaim, Pod, PodPhase};

#[derive(Debug, Default, Clone)]
struct Allocated {
    memory: u64,
    cpu: u64,
    pods: u32,
    /// Pods per owner (deployment), for spreading.
    by_owner: HashMap<String, u32>,
}

fn occupies(pod: &Pod) -> bool {
    !matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

fn owner_id(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace(), pod.owner().unwrap_or(pod.name()))
}

/// Where a pod's claims let it go.
#[derive(Debug, Default, PartialEq)]
struct ClaimPlacement {
    /// The node holding a bound claim, and that claim's name: the only node the pod may use.
    pinned: Option<(String, String)>,
    /// Claims that bind to whatever node the pod is bound to.
    unbound: Vec<String>,
}

/// Why a pod cannot be scheduled whatever the nodes: (reason, message).
type Blocked = (&'static str, String);

/// Claims by (namespace, name).
type Claims = HashMap<(String, String), PersistentVolumeClaim>;

fn claim_placement(pod: &Pod, claims: &Claims) -> Result<ClaimPlacement, Blocked> {
    let mut placement = ClaimPlacement::default();
    for name in claim_names(pod) {
        let Some(claim) = claims.get(&(pod.namespace().to_string(), name.to_string())) else {
            return Err((
                "ClaimNotFound",
                format!("persistentvolumeclaim {name:?} not found"),
            ));
        };
        match (claim.status.phase, &claim.status.node_name) {
            (ClaimPhase::Terminating, _) => {
                return Err((
                    "ClaimTerminating",
                    format!("persistentvolumeclaim {name:?} is being deleted"),
                ));
            }
            (ClaimPhase::Bound, Some(node)) => match &placement.pinned {
                Some((other, first)) if other != node => {
                    return Err((
                        "Unschedulable",
                        format!("persistentvolumeclaims {first:?} and {name:?} are on different nodes ({other:?}, {node:?})"),
                    ));
                }
                Some(_) => {}
                None => placement.pinned = Some((node.clone(), name.to_string())),
            },
            _ => {
                if !placement.unbound.iter().any(|u| u == name) {
                    placement.unbound.push(name.to_string());
                }
            }
        }
    }
    Ok(placement)
}

/// Why one node cannot take a pod, in the words `0/3 nodes: ...` uses.
fn rejection(node: &Node, alloc: &Allocated, pod: &Pod) -> Option<&'static str> {
    if !node.status.ready {
        return Some("not ready");
    }
    if node.spec.unschedulable {
        return Some("unschedulable");
    }
    if !pod
        .spec
        .node_selector
        .iter()
        .all(|(k, v)| node.metadata.labels.get(k) == Some(v))
    {
        return Some("node selector mismatch");
    }
    let cap = node.status.capacity;
    if alloc.pods + 1 > cap.pods {
        return Some("too many pods");
    }
    if alloc.memory + pod.spec.resources.memory_request() > cap.memory_bytes {
        return Some("insufficient memory");
    }
    if alloc.cpu + pod.spec.resources.cpu_request() > cap.cpu_millis {
        return Some("insufficient cpu");
    }
    None
}

/// Lower is better: (replicas of this owner already there, allocated share of memory in ‰, pods).
fn score(node: &Node, alloc: &Allocated, owner: &str) -> (u32, u64, u32) {
    let mem_permille =
        (alloc.memory.saturating_mul(1000)) / node.status.capacity.memory_bytes.max(1);
    (
        alloc.by_owner.get(owner).copied().unwrap_or(0),
        mem_permille,
        alloc.pods,
    )
}

/// The node for `pod`, or the reason none fits. `pinned` is the node and claim of a bound
/// volume: no other node may take the pod, and the message says why that one does not.
fn choose<'a>(
    nodes: &'a [Node],
    allocated: &HashMap<String, Allocated>,
    pod: &Pod,
    pinned: Option<(&str, &str)>,
) -> Result<&'a Node, String> {
    let empty = Allocated::default();
    if let Some((node_name, claim)) = pinned {
        let Some(node) = nodes.iter().find(|n| n.name() == node_name) else {
            return Err(format!(
                "persistentvolumeclaim {claim:?} is on node {node_name:?}, which is not registered"
            ));
        };
        let alloc = allocated.get(node_name).unwrap_or(&empty);
        return match rejection(node, alloc, pod) {
            Some(reason) => Err(format!(
                "persistentvolumeclaim {claim:?} is on node {node_name:?}: {reason}"
            )),
            None => Ok(node),
        };
    }
    let owner = owner_id(pod);
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<(&Node, (u32, u64, u32))> = None;
    for node in nodes {
        let alloc = allocated.get(node.name()).unwrap_or(&empty);
        match rejection(node, alloc, pod) {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => {
                let s = score(node, alloc, &owner);
                if best.as_ref().is_none_or(|(_, b)| s < *b) {
                    best = Some((node, s));
                }
            }
        }
    }
    best.map(|(n, _)| n).ok_or_else(|| {
        let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        if nodes.is_empty() {
            "0/0 nodes are available: no node has joined".to_string()
        } else {
            format!(
                "0/{} nodes are available: {}",
                nodes.len(),
                detail.join(", ")
            )
        }
    })
}

/// One pod's decision: the writes that must land together (its claims' binding and its own) and
/// the events that tell of it, recorded only if the writes land.
pub struct Decision {
    pub writes: Vec<Write>,
    pub events: Vec<EventDraft>,
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    commit(registry, plan(registry)?)
}

/// Commits each decision on its own: a pod deleted or changed since [`plan`] read it, or a
/// claim that turned Terminating meanwhile, refuses that pod's writes (the next pass reads
/// again) and leaves the others to land.
pub fn commit(registry: &Registry, decisions: Vec<Decision>) -> Result<(), RegistryError> {
    let (groups, events): (Vec<Vec<Write>>, Vec<Vec<EventDraft>>) =
        decisions.into_iter().map(|d| (d.writes, d.events)).unzip();
    let outcome = super::commit_groups(registry, "scheduler", groups)?;
    let events: Vec<EventDraft> = events
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !outcome.was_refused(*i))
        .flat_map(|(_, e)| e)
        .collect();
    Recorder::new(registry, "scheduler").record(&events);
    Ok(())
}

/// Decides where every unscheduled pod goes, from one read of nodes, claims and pods.
pub fn plan(registry: &Registry) -> Result<Vec<Decision>, RegistryError> {
    let nodes: Vec<Node> = registry.all_owned(None)?;
    let mut claims: Claims = registry
        .all_owned::<PersistentVolumeClaim>(None)?
        .into_iter()
        .map(|c| ((c.namespace().to_string(), c.name().to_string()), c))
        .collect();
    let pods = registry.all::<Pod>(None)?;
    let mut allocated: HashMap<String, Allocated> = HashMap::new();
    for pod in pods.iter().filter(|p| occupies(p)) {
        if let Some(node) = &pod.spec.node_name {
            let a = allocated.entry(node.clone()).or_default();
            a.memory += pod.spec.resources.memory_request();
            a.cpu += pod.spec.resources.cpu_request();
            a.pods += 1;
            *a.by_owner.entry(owner_id(pod)).or_default() += 1;
        }
    }
    let mut pods: Vec<Pod> = pods
        .iter()
        .filter(|p| p.spec.node_name.is_none() && occupies(p))
        .map(|p| Pod::clone(p))
        .collect();
    pods.sort_by_key(|p| p.metadata.creation_timestamp);
    let mut decisions = Vec::new();
    for mut pod in pods {
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let key = pod.key();
        let placement = claim_placement(&pod, &claims);
        let pinned = match &placement {
            Ok(p) => p.pinned.as_ref().map(|(n, c)| (n.as_str(), c.as_str())),
            Err(_) => None,
        };
        let chosen = match &placement {
            Ok(_) => choose(&nodes, &allocated, &pod, pinned).map_err(|m| ("Unschedulable", m)),
            Err((reason, message)) => Err((*reason, message.clone())),
        };
        match chosen {
            Ok(node) => {
                let node_name = node.name().to_string();
                let a = allocated.entry(node_name.clone()).or_default();
                a.memory += pod.spec.resources.memory_request();
                a.cpu += pod.spec.resources.cpu_request();
                a.pods += 1;
                *a.by_owner.entry(owner_id(&pod)).or_default() += 1;
                // The claims bind in the same commit as the pod, so a claim is never left bound
                // to a node no pod chose, nor a pod on a node its claim is not on.
                for name in placement.map(|p| p.unbound).unwrap_or_default() {
                    if let Some(claim) =
                        claims.get_mut(&(pod.namespace().to_string(), name.clone()))
                    {
                        claim.status.phase = ClaimPhase::Bound;
                        claim.status.node_name = Some(node_name.clone());
                        let claim_key = ObjectKey::new(
                            Kind::PersistentVolumeClaim,
                            claim.namespace(),
                            claim.name(),
                        );
                        events.push(EventDraft::normal(
                            claim_key.clone(),
                            "Bound",
                            format!("bound to node {node_name} for pod {}", key.name),
                        ));
                        writes.push(Write::Update(to_any(&claim_key, &*claim)?));
                    }
                }
                pod.spec.node_name = Some(node_name.clone());
                pod.status.reason = None;
                pod.status.message = None;
                events.push(EventDraft::normal(
                    key.clone(),
                    "Scheduled",
                    format!("assigned {} to {node_name}", key.name),
                ));
                writes.push(Write::Update(to_any(&key, &pod)?));
            }
            Err((reason, message)) => {
                if pod.status.reason.as_deref() != Some(reason)
                    || pod.status.message.as_deref() != Some(&message)
                {
                    events.push(EventDraft::warning(
                        key.clone(),
                        "FailedScheduling",
                        message.clone(),
                    ));
                    pod.status.reason = Some(reason.into());
                    pod.status.message = Some(message);
                    writes.push(Write::Update(to_any(&key, &pod)?));
                }
            }
        }
        if !writes.is_empty() {
            decisions.push(Decision { writes, events });
        }
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::{Name, NodeCapacity, ObjectMeta, PodSpec};

    fn node(name: &str, ready: bool, memory: u64) -> Node {
        let mut n: Node = Node::of(
            ObjectMeta::named(Name::try_from(name).unwrap()),
            Default::default(),
        );
        n.status.ready = ready;
        n.status.capacity = NodeCapacity {
            memory_bytes: memory,
            cpu_millis: 4000,
            pods: 100,
        };
        n
    }

    fn pod(memory: &str) -> Pod {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "resources": {"requests": {"memory": memory}}
        }))
        .unwrap();
        Pod::of(ObjectMeta::named(Name::try_from("p").unwrap()), spec)
    }

    #[test]
    fn pod_that_fits_nowhere_names_the_reasons() {
        let nodes = vec![
            node("a", true, 1 << 20),
            node("b", true, 1 << 20),
            node("c", false, 8 << 30),
        ];
        let err = choose(&nodes, &HashMap::new(), &pod("1Gi"), None).unwrap_err();
        assert_eq!(
            err,
            "0/3 nodes are available: 2 insufficient memory, 1 not ready"
        );
    }

    #[test]
    fn replicas_spread_across_nodes() {
        let nodes = vec![node("a", true, 8 << 30), node("b", true, 8 << 30)];
        let mut allocated = HashMap::new();
        let p = pod("1Mi");
        let first = choose(&nodes, &allocated, &p, None)
            .unwrap()
            .name()
            .to_string();
        let a: &mut Allocated = allocated.entry(first.clone()).or_default();
        a.pods += 1;
        a.by_owner.insert(owner_id(&p), 1);
        let second = choose(&nodes, &allocated, &p, None)
            .unwrap()
            .name()
            .to_string();
        assert_ne!(first, second);
    }

    /// Spread wins over least-allocated: node "a" is nearly empty but already has one of the
    /// owner's replicas; node "b" is half full with other pods and has none. The next replica goes
    /// to "b" (with the two rules agreeing, this test would pass on either one alone).
    #[test]
    fn spread_beats_least_allocated() {
        let nodes = vec![node("a", true, 8 << 30), node("b", true, 8 << 30)];
        let p = pod("1Mi");
        let mut allocated = HashMap::new();
        let a: &mut Allocated = allocated.entry("a".to_string()).or_default();
        a.pods = 1;
        a.memory = 1 << 20;
        a.by_owner.insert(owner_id(&p), 1);
        let b: &mut Allocated = allocated.entry("b".to_string()).or_default();
        b.pods = 40;
        b.memory = 4 << 30;
        assert_eq!(choose(&nodes, &allocated, &p, None).unwrap().name(), "b");
        // With the owner's replicas even, the less allocated node wins.
        allocated
            .get_mut("b")
            .unwrap()
            .by_owner
            .insert(owner_id(&p), 1);
        assert_eq!(choose(&nodes, &allocated, &p, None).unwrap().name(), "a");
    }

    /// Least-allocated is by memory share, not pod count: "a" has fewer pods but more memory.
    #[test]
    fn least_allocated_memory_beats_fewer_pods() {
        let nodes = vec![node("a", true, 8 << 30), node("b", true, 8 << 30)];
        let mut allocated = HashMap::new();
        let a: &mut Allocated = allocated.entry("a".to_string()).or_default();
        a.pods = 1;
        a.memory = 6 << 30;
        let b: &mut Allocated = allocated.entry("b".to_string()).or_default();
        b.pods = 10;
        b.memory = 1 << 30;
        assert_eq!(
            choose(&nodes, &allocated, &pod("1Mi"), None)
                .unwrap()
                .name(),
            "b"
        );
    }

    fn claim(name: &str, phase: ClaimPhase, node: Option<&str>) -> PersistentVolumeClaim {
        let mut meta = ObjectMeta::named(Name::try_from(name).unwrap());
        meta.namespace = Some("default".into());
        let mut c: PersistentVolumeClaim = PersistentVolumeClaim::of(meta, Default::default());
        c.status.phase = phase;
        c.status.node_name = node.map(str::to_string);
        c
    }

    fn claims(list: Vec<PersistentVolumeClaim>) -> Claims {
        list.into_iter()
            .map(|c| (("default".to_string(), c.name().to_string()), c))
            .collect()
    }

    fn pod_with_claims(names: &[&str]) -> Pod {
        let volumes: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"name": format!("v-{n}"), "persistentVolumeClaim": {"claimName": n}}))
            .collect();
        let spec: PodSpec = serde_json::from_value(
            serde_json::json!({"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "volumes": volumes}),
        )
        .unwrap();
        let mut meta = ObjectMeta::named(Name::try_from("p").unwrap());
        meta.namespace = Some("default".into());
        Pod::of(meta, spec)
    }

    #[test]
    fn missing_claim_blocks_the_pod_with_its_name() {
        let err = claim_placement(&pod_with_claims(&["data"]), &claims(vec![])).unwrap_err();
        assert_eq!(
            err,
            (
                "ClaimNotFound",
                "persistentvolumeclaim \"data\" not found".to_string()
            )
        );
    }

    #[test]
    fn terminating_claim_cannot_be_bound_by_new_pods() {
        let set = claims(vec![claim("data", ClaimPhase::Terminating, Some("a"))]);
        let err = claim_placement(&pod_with_claims(&["data"]), &set).unwrap_err();
        assert_eq!(err.0, "ClaimTerminating");
    }

    #[test]
    fn unbound_claims_let_the_pod_go_anywhere() {
        let set = claims(vec![claim("data", ClaimPhase::Pending, None)]);
        let placement = claim_placement(&pod_with_claims(&["data", "data"]), &set).unwrap();
        assert_eq!(
            placement,
            ClaimPlacement {
                pinned: None,
                unbound: vec!["data".into()]
            }
        );
    }

    #[test]
    fn claims_on_different_nodes_conflict() {
        let set = claims(vec![
            claim("x", ClaimPhase::Bound, Some("a")),
            claim("y", ClaimPhase::Bound, Some("b")),
        ]);
        let err = claim_placement(&pod_with_claims(&["x", "y"]), &set).unwrap_err();
        assert!(err.1.contains("different nodes"), "{err:?}");
    }

    #[test]
    fn bound_claim_pins_the_pod_to_its_node() {
        let nodes = vec![node("a", true, 8 << 30), node("b", true, 8 << 30)];
        let mut allocated = HashMap::new();
        // "b" is the emptier node, but the volume is on "a".
        allocated.insert(
            "a".to_string(),
            Allocated {
                pods: 5,
                memory: 4 << 30,
                ..Default::default()
            },
        );
        let chosen = choose(&nodes, &allocated, &pod("1Mi"), Some(("a", "data"))).unwrap();
        assert_eq!(chosen.name(), "a");
    }

    #[test]
    fn pod_waits_for_its_volumes_node_and_says_why() {
        let nodes = vec![node("a", false, 8 << 30), node("b", true, 8 << 30)];
        let err = choose(&nodes, &HashMap::new(), &pod("1Mi"), Some(("a", "data"))).unwrap_err();
        assert_eq!(
            err,
            "persistentvolumeclaim \"data\" is on node \"a\": not ready"
        );
        let err = choose(&nodes, &HashMap::new(), &pod("1Mi"), Some(("gone", "data"))).unwrap_err();
        assert!(err.contains("not registered"), "{err}");
    }

    #[test]
    fn binding_a_pod_binds_its_unbound_claim_to_the_same_node() {
        let (_dir, reg) = crate::registry::tests::registry();
        let n = node("a", true, 8 << 30);
        let c = claim("data", ClaimPhase::Pending, None);
        let p = pod_with_claims(&["data"]);
        let keys = [
            ObjectKey::new(Kind::Node, "", "a"),
            ObjectKey::new(Kind::PersistentVolumeClaim, "default", "data"),
            ObjectKey::new(Kind::Pod, "default", "p"),
        ];
        reg.commit(vec![
            Write::Put(to_any(&keys[0], &n).unwrap()),
            Write::Put(to_any(&keys[1], &c).unwrap()),
            Write::Put(to_any(&keys[2], &p).unwrap()),
        ])
        .unwrap();
        let before = reg.revision().unwrap();
        reconcile_all(&reg).unwrap();
        let bound: PersistentVolumeClaim = reg.get_typed(&keys[1]).unwrap().unwrap();
        let pod: Pod = reg.get_typed(&keys[2]).unwrap().unwrap();
        assert_eq!(pod.spec.node_name.as_deref(), Some("a"));
        assert_eq!(
            (bound.status.phase, bound.status.node_name.as_deref()),
            (ClaimPhase::Bound, Some("a"))
        );
        // One commit: the claim and the pod changed in one batch, at one revision, before any event.
        let claim_rev = bound.metadata.resource_version.unwrap();
        let pod_rev = pod.metadata.resource_version.unwrap();
        assert_eq!((claim_rev, pod_rev), (before + 1, before + 1));
    }

    /// A node "a" and pods named `names` (one with the claim "data", unbound), stored.
    fn cluster_with(
        names: &[&str],
    ) -> (tempfile::TempDir, crate::registry::Registry, Vec<ObjectKey>) {
        let (dir, reg) = crate::registry::tests::registry();
        let node_key = ObjectKey::new(Kind::Node, "", "a");
        let claim_key = ObjectKey::new(Kind::PersistentVolumeClaim, "default", "data");
        let mut writes = vec![
            Write::Put(to_any(&node_key, &node("a", true, 8 << 30)).unwrap()),
            Write::Put(to_any(&claim_key, &claim("data", ClaimPhase::Pending, None)).unwrap()),
        ];
        let mut keys = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut p = if i == 0 {
                pod_with_claims(&["data"])
            } else {
                pod("1Mi")
            };
            p.metadata.name = Name::try_from(*name).unwrap();
            p.metadata.namespace = Some("default".into());
            let key = ObjectKey::new(Kind::Pod, "default", name);
            writes.push(Write::Put(to_any(&key, &p).unwrap()));
            keys.push(key);
        }
        reg.commit(writes).unwrap();
        (dir, reg, keys)
    }

    #[test]
    fn pod_deleted_while_the_scheduler_binds_it_stays_deleted() {
        let (_dir, reg, keys) = cluster_with(&["doomed", "other"]);
        let decisions = plan(&reg).unwrap();
        assert_eq!(decisions.len(), 2);
        reg.commit(vec![Write::Delete(keys[0].clone())]).unwrap();
        commit(&reg, decisions).unwrap();
        assert!(reg.get(&keys[0]).unwrap().is_none(), "not re-created");
        let other: Pod = reg.get_typed(&keys[1]).unwrap().unwrap();
        assert_eq!(
            other.spec.node_name.as_deref(),
            Some("a"),
            "the other pod of the pass is bound"
        );
        // The deleted pod's claim was not bound for it either (one atomic group).
        let claim: PersistentVolumeClaim = reg
            .get_typed(&ObjectKey::new(
                Kind::PersistentVolumeClaim,
                "default",
                "data",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(claim.status.phase, ClaimPhase::Pending);
        let events: Vec<wasmpod_api::Event> = reg.all_owned(None).unwrap();
        assert!(
            !events
                .iter()
                .any(|e| e.spec.involved_object.name == "doomed" && e.spec.reason == "Scheduled"),
            "no Scheduled event for a pod that was not bound"
        );
    }

    #[test]
    fn claim_marked_terminating_during_a_pass_stays_terminating() {
        let (_dir, reg, keys) = cluster_with(&["user"]);
        let decisions = plan(&reg).unwrap();
        let claim_key = ObjectKey::new(Kind::PersistentVolumeClaim, "default", "data");
        reg.modify::<PersistentVolumeClaim, _>(&claim_key, |c| {
            c.status.phase = ClaimPhase::Terminating;
            true
        })
        .unwrap();
        commit(&reg, decisions).unwrap();
        let claim: PersistentVolumeClaim = reg.get_typed(&claim_key).unwrap().unwrap();
        assert_eq!(claim.status.phase, ClaimPhase::Terminating);
        let pod: Pod = reg.get_typed(&keys[0]).unwrap().unwrap();
        assert_eq!(pod.spec.node_name, None, "the pod did not bind the claim");
        // The next pass reads again and says why the pod waits.
        reconcile_all(&reg).unwrap();
        let pod: Pod = reg.get_typed(&keys[0]).unwrap().unwrap();
        assert_eq!(pod.spec.node_name, None);
        assert!(
            pod.status
                .message
                .as_deref()
                .unwrap_or_default()
                .contains("data"),
            "{:?}",
            pod.status.message
        );
    }
}
