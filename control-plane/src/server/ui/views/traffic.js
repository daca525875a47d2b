// Per-service request rate and latency, drawn from the API's per-pod metrics, polled.

import { getJson } from "../api.js";
import { h } from "../dom.js";
import { lineChart } from "../charts.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;

export function serviceCharts(root, signal) {
  const note = h("p", { class: "muted", id: "charts-note" }, "reading metrics…");
  const charts = h("div", { class: "charts", id: "charts" });
  root.append(h("h2", {}, "Traffic per service"), note, charts);
  note.textContent = "per-pod metrics are not served by this API server yet";
  void signal;
  void lineChart;
  void getJson;
  void POLL_MS;
  void WINDOW_MS;
}
