// Deployments with their rollout state, and pods with their status and reason.

import { age, h, pill, podLink, table } from "../dom.js";
import { where } from "../scope.js";

const byName = (a, b) =>
  `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);

/** The rollout's conditions (type=status, reason: message) when the deployment reports any. */
function conditions(deployment) {
  const list = deployment.status?.conditions || [];
  if (!list.length) return h("span", { class: "muted" }, "—");
  return list.map((c) =>
    h("div", { title: c.message || "" }, pill(c.status === "True" ? "True" : "False"), ` ${c.type}`,
      c.reason ? h("span", { class: "muted" }, ` (${c.reason})`) : null));
}

/** The rollout's revision, where the deployment carries one (an annotation or its status). */
function revision(deployment) {
  const annotations = deployment.metadata.annotations || {};
  const key = Object.keys(annotations).find((k) => k.endsWith("/revision"));
  const found = deployment.status?.revision ?? (key ? annotations[key] : undefined);
  return found === undefined || found === null ? h("span", { class: "muted" }, "—") : String(found);
}

function rollout(deployment) {
  const desired = deployment.spec.replicas;
  const { readyReplicas = 0, updatedReplicas = 0 } = deployment.status || {};
  const stuck = (deployment.status?.conditions || [])
    .some((c) => c.type === "Progressing" && c.status === "False");
  if (stuck) return pill("Failed");
  const settled = readyReplicas === desired && updatedReplicas === desired;
  return pill(settled ? "Ready" : "Progressing");
}

export const deployments = {
  title: (_params, namespace) => (namespace ? `Deployments in ${namespace}` : "Deployments"),
  kinds: ["deployments"],
  render({ deployments, namespace }) {
    deployments.sort(byName);
    return table(
      ["Namespace", "Name", "Ready", "Up to date", "Desired", "Revision", "Rollout", "Conditions"],
      deployments.map((d) => [
        d.metadata.namespace,
        d.metadata.name,
        `${d.status?.readyReplicas || 0}/${d.spec.replicas}`,
        String(d.status?.updatedReplicas || 0),
        String(d.spec.replicas),
        revision(d),
        rollout(d),
        conditions(d),
      ]),
      `No deployments${where(namespace)}.`);
  },
};

export function podRow(pod) {
  const status = pod.status || {};
  return [
    pod.metadata.namespace,
    podLink(pod),
    pill(status.phase || "Pending"),
    status.ready ? "yes" : "no",
    String(status.restartCount || 0),
    pod.spec.nodeName || h("span", { class: "muted" }, "unscheduled"),
    [status.reason ? h("strong", {}, status.reason) : null, status.message ? ` ${status.message}` : null],
    age(pod.metadata.creationTimestamp),
  ];
}

export const pods = {
  title: (_params, namespace) => (namespace ? `Pods in ${namespace}` : "Pods"),
  kinds: ["pods"],
  render({ pods, namespace }) {
    pods.sort(byName);
    return table(["Namespace", "Name", "Phase", "Ready", "Restarts", "Node", "Reason", "Age"],
      pods.map(podRow), `No pods${where(namespace)}.`);
  },
};
