// One pod: its status, its events and its log, followed live (the log stream keeps going across
// the pod's restarts; when it ends or cannot start yet, it is opened again).

import { followLogs } from "../api.js";
import { age, h, notice, pill, table } from "../dom.js";
import { EVENT_COLUMNS, eventRows } from "./events.js";

const RETRY_MS = 2000;

function facts(pod) {
  const status = pod.status || {};
  const last = status.lastTermination;
  const rows = [
    ["Phase", pill(status.phase || "Pending")],
    ["Ready", status.ready ? "yes" : "no"],
    ["Reason", status.reason || "—"],
    ["Message", status.message || "—"],
    ["Restarts", String(status.restartCount || 0)],
    ["Last termination", last ? `${last.reason}${last.exitCode !== undefined && last.exitCode !== null ? ` (exit ${last.exitCode})` : ""}, ${age(last.finishedAt)} ago` : "—"],
    ["Node", pod.spec.nodeName || "unscheduled"],
    ["Component", typeof pod.spec.component === "string" ? pod.spec.component : JSON.stringify(pod.spec.component)],
    ["Started", status.startTime ? `${age(status.startTime)} ago` : "—"],
  ];
  return h("dl", { class: "facts", id: "pod-facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function followForever(pre, state, namespace, name, signal) {
  while (!signal.aborted) {
    let text = "";
    try {
      await followLogs(namespace, name, {
        onOpen: () => {
          state.textContent = "following";
        },
        onText: (chunk) => {
          text += chunk;
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
          pre.textContent = text;
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        },
      }, signal);
      state.textContent = "the log ended (the pod left its node)";
    } catch (error) {
      if (signal.aborted) return;
      state.textContent = `no log yet: ${error.message}`;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

export default {
  title: ([namespace, name]) => `Pod ${namespace}/${name}`,
  kinds: ["pods", "events"],
  /** The pod's own namespace, whichever the selector shows. */
  namespace: ([namespace]) => namespace,
  setup(root, [namespace, name], signal) {
    const state = h("span", { class: "muted", id: "log-state" }, "connecting…");
    const pre = h("pre", { class: "logs", id: "logs" });
    root.append(h("h2", {}, "Logs ", state), pre);
    followForever(pre, state, namespace, name, signal);
  },
  /** A token that may not read the pod's namespace sees one notice, not "no such pod". */
  explains: ["pods", "events"],
  render({ pods, events, ready, forbidden }, [namespace, name]) {
    const refusal = forbidden.pods || forbidden.events;
    if (refusal) {
      return notice("pod-notice", `Your token cannot read the pods of namespace ${namespace}`, null, refusal);
    }
    const pod = pods.find((p) => p.metadata.namespace === namespace && p.metadata.name === name);
    const mine = events.filter((e) => e.spec?.involvedObject?.kind === "Pod" &&
      e.spec.involvedObject.name === name && (e.spec.involvedObject.namespace || namespace) === namespace);
    return h("div", {},
      pod ? facts(pod) : h("p", { class: "muted" }, ready ? "This pod does not exist (any more)." : "loading…"),
      h("h2", {}, "Events"),
      table(EVENT_COLUMNS, eventRows(mine), "No events for this pod."));
  },
};
