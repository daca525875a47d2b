// The cluster at a glance: nodes with their capacity and load, pods by phase, deployments (of
// the namespace shown). A token that may not read nodes gets a notice in their place.

import { age, bytes, h, notice, pill, table } from "../dom.js";

const PHASES = ["Running", "Pending", "Succeeded", "Failed"];

function card(figure, label, id) {
  return h("div", { class: "card", id }, h("div", { class: "figure" }, figure), h("div", { class: "label" }, label));
}

function nodeRow(node, pods) {
  const on = pods.filter((p) => p.spec.nodeName === node.metadata.name);
  const cap = node.status?.capacity || {};
  const state = !node.status?.ready ? "NotReady" : node.spec?.unschedulable ? "Cordoned" : "Ready";
  return [
    node.metadata.name,
    pill(state),
    bytes(cap.memoryBytes),
    `${(cap.cpuMillis || 0) / 1000} cores`,
    `${on.length} / ${cap.pods ?? "?"}`,
    age(node.status?.lastHeartbeat),
  ];
}

export default {
  title: (_params, namespace) => (namespace ? `Overview of namespace ${namespace}` : "Cluster overview"),
  kinds: ["nodes", "pods", "deployments"],
  /** A token that may not read nodes sees why in place of them (a namespaced token). */
  explains: ["nodes"],
  render({ nodes, pods, deployments, forbidden, namespace }) {
    const ready = nodes.filter((n) => n.status?.ready).length;
    const byPhase = Object.fromEntries(PHASES.map((p) => [p, 0]));
    for (const pod of pods) byPhase[pod.status?.phase || "Pending"] = (byPhase[pod.status?.phase || "Pending"] || 0) + 1;
    const available = deployments.filter((d) => (d.status?.readyReplicas || 0) >= d.spec.replicas).length;
    nodes.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const here = namespace ? ` in ${namespace}` : "";
    return h("div", {},
      h("div", { class: "cards" },
        forbidden.nodes ? null : card(`${ready} / ${nodes.length}`, "nodes ready", "nodes-ready"),
        card(pods.length, `pods${here}`, "pods-total"),
        card(`${available} / ${deployments.length}`, `deployments available${here}`, "deployments-available")),
      h("h2", {}, `Pods by phase${here}`),
      h("div", { class: "phases", id: "phases" },
        Object.entries(byPhase).map(([phase, n]) => h("span", { class: `pill ${phase}`, "data-phase": phase }, `${phase} ${n}`))),
      h("h2", {}, "Nodes"),
      forbidden.nodes
        ? notice("nodes-notice", "Your token cannot read nodes",
          "nodes, their status and the cluster's capacity are not shown; the pods and deployments above are those your token may read.",
          forbidden.nodes)
        : table(["Name", "Status", "Memory", "CPU", namespace ? `Pods of ${namespace}` : "Pods", "Heartbeat"],
          nodes.map((n) => nodeRow(n, pods)), "No nodes have joined."));
  },
};
