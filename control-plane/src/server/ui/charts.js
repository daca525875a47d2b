// Small line charts drawn as inline SVG: a value over time, one or more series.

import { h, s } from "./dom.js";

const WIDTH = 360;
const HEIGHT = 140;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

/** The shortest time axis: a fresh history fills part of it, not all. */
const MIN_SPAN_MS = 30 * 1000;

function ago(ms) {
  const seconds = Math.round(ms / 1000);
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

/**
 * `series`: [{ name, cls, points: [[timeMs, value]] }]; `format` prints an axis value.
 * The time axis ends now and spans the history, at least 30 s and at most `maxMs`.
 */
export function lineChart({ title, series, format, maxMs, id }) {
  const now = Date.now();
  const oldest = Math.min(now, ...series.flatMap((line) => line.points.map(([t]) => t)));
  const windowMs = Math.min(maxMs, Math.max(MIN_SPAN_MS, now - oldest));
  const from = now - windowMs;
  const max = niceMax(Math.max(0, ...series.flatMap((line) => line.points.map(([, v]) => v))));
  const x = (t) => PAD.left + ((t - from) / windowMs) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const grid = [0, 0.5, 1].map((f) => [
    s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(max * f), y2: y(max * f) }),
    s("text", { x: PAD.left - 4, y: y(max * f) + 3, "text-anchor": "end" }, format(max * f)),
  ]);
  const lines = series.map((line) => {
    const points = line.points.filter(([t]) => t >= from);
    return s("polyline", {
      class: `line ${line.cls}`,
      "data-series": line.name,
      points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
    });
  });
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title },
    grid,
    s("text", { x: PAD.left, y: HEIGHT - 4 }, ago(windowMs)),
    s("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, "text-anchor": "end" }, "now"),
    lines);
  return h("div", { class: "chart", id },
    h("h3", {}, title),
    svg,
    h("div", { class: "legend" }, series.map((line) => h("span", { class: line.cls }, line.name))));
}
