// Per-service request rate and latency, from the per-pod figures the API gathers from the nodes
// (`/api/v1/podmetrics`, or `/api/v1/namespaces/NS/podmetrics` for the namespace shown: each
// pod's requests/s, p50 and p99 over the node's last 10 s), polled
// and kept here as a history since the page opened. A service's rate is the sum of its pods';
// its p50 is the pods' medians weighted by their rates, its p99 the highest pod's p99 (a bound:
// percentiles of separate pods do not add up exactly).

import { ApiError, getJson } from "../api.js";
import { h, notice } from "../dom.js";
import { lineChart } from "../charts.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;

const selects = (selector, labels) =>
  Object.entries(selector || {}).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** One service's figures now, from its pods' (null when no pod of it has figures). */
export function serviceFigures(service, pods, metrics) {
  const ns = service.metadata.namespace;
  const mine = new Set(pods
    .filter((p) => p.metadata.namespace === ns && selects(service.spec.selector, p.metadata.labels))
    .map((p) => p.metadata.name));
  const figures = metrics.filter((m) => m.namespace === ns && mine.has(m.pod));
  if (!figures.length) return null;
  const rate = figures.reduce((sum, m) => sum + m.requestsPerSecond, 0);
  const timed = figures.filter((m) => m.p50Seconds !== null && m.p50Seconds !== undefined);
  const weight = timed.reduce((sum, m) => sum + Math.max(m.requestsPerSecond, 1e-9), 0);
  const p50 = timed.length
    ? timed.reduce((sum, m) => sum + m.p50Seconds * Math.max(m.requestsPerSecond, 1e-9), 0) / weight
    : null;
  const p99 = timed.length ? Math.max(...timed.map((m) => m.p99Seconds ?? m.p50Seconds)) : null;
  return { rate, p50, p99 };
}

const perSecond = (v) => (v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1));
const millis = (seconds) => {
  const ms = seconds * 1000;
  return ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
};

function charts(key, history) {
  const { rate, p50, p99, now } = history;
  const id = key.replace(/[^a-z0-9-]/g, "-");
  return h("div", { class: "service-charts", "data-service": key },
    lineChart({
      id: `rate-${id}`,
      title: `${key}: ${perSecond(now.rate)} requests/s`,
      series: [{ name: "requests/s", cls: "rate", points: rate }],
      format: perSecond,
      maxMs: WINDOW_MS,
    }),
    lineChart({
      id: `latency-${id}`,
      title: `${key}: latency ${now.p50 === null ? "— (idle)" : `p50 ${millis(now.p50)}, p99 ${millis(now.p99)}`}`,
      series: [
        { name: "p50", cls: "p50", points: p50 },
        { name: "p99", cls: "p99", points: p99 },
      ],
      format: millis,
      maxMs: WINDOW_MS,
    }));
}

/** Where the figures of `namespace` (null: every namespace) are read. */
export const metricsPath = (namespace) =>
  (namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/podmetrics` : "/api/v1/podmetrics");

/**
 * Polls the figures of `namespace` (null: all) while `signal` lives and draws a rate and a
 * latency chart per service.
 */
export function serviceCharts(root, signal, current, namespace) {
  const note = h("p", { class: "muted", id: "charts-note" }, "reading metrics…");
  const area = h("div", { class: "charts", id: "charts" });
  root.append(h("h2", {}, "Traffic per service"), note, area);
  const histories = new Map();

  async function poll() {
    const list = await getJson(metricsPath(namespace), signal);
    const { services = [], pods = [] } = current();
    const t = Date.now();
    for (const service of services) {
      const key = `${service.metadata.namespace}/${service.metadata.name}`;
      const now = serviceFigures(service, pods, list.items);
      if (!now) continue;
      const history = histories.get(key) || { rate: [], p50: [], p99: [] };
      history.now = now;
      history.rate.push([t, now.rate]);
      if (now.p50 !== null) {
        history.p50.push([t, now.p50]);
        history.p99.push([t, now.p99]);
      }
      for (const series of [history.rate, history.p50, history.p99]) {
        while (series.length && series[0][0] < t - WINDOW_MS) series.shift();
      }
      histories.set(key, history);
    }
    const missing = (list.unreachableNodes || []).map((n) => `${n.node} (${n.reason})`);
    note.textContent = [
      `Each node's last ${list.items[0]?.windowSeconds ?? 10} s, every ${POLL_MS / 1000} s since this page opened.`,
      missing.length ? `No figures from: ${missing.join(", ")}.` : "",
    ].join(" ");
    const keys = [...histories.keys()].sort();
    area.replaceChildren(...(keys.length
      ? keys.map((key) => charts(key, histories.get(key)))
      : [h("p", { class: "muted" }, "No service has serving pods yet.")]));
  }

  (async () => {
    while (!signal.aborted) {
      try {
        await poll();
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status === 403) {
          note.replaceWith(notice("charts-notice", "Your token cannot read the pods' figures",
            "so no traffic charts.", error));
          return;
        }
        note.textContent = `No figures: ${error.message}`;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  })();
}
