// Building the page from data without HTML strings: every value becomes a text node, so nothing
// the cluster holds is ever parsed as markup.

import { link } from "./scope.js";

const SVG = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: `h("td", {class: "x"}, "text", otherNode)`. */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** An SVG element. */
export const s = (tag, attrs, ...children) =>
  build(document.createElementNS(SVG, tag), attrs, children);

export const pill = (text) => h("span", { class: `pill ${text}` }, text);

/** A table with a header row; `rows` are arrays of cells; `empty` shown when there are none. */
export function table(columns, rows, empty) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length
      ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))));
}

/** "12s", "5m", "3h", "2d" since an RFC 3339 time. */
export function age(time) {
  if (!time) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

export function bytes(n) {
  if (!n) return "0";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
}

export const podLink = (pod) =>
  h("a", { href: link(`/pods/${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}`) },
    pod.metadata.name);

/**
 * What the token may not read, said plainly in place of the part it would fill: `what` as a
 * heading ("Your token cannot read nodes"), `hidden` what is missing, and the API's refusal.
 */
export function notice(id, what, hidden, refusal) {
  return h("div", { class: "notice", id, role: "note" },
    h("strong", {}, what),
    hidden ? ` — ${hidden}` : null,
    refusal ? h("div", { class: "muted" }, `The API said: ${refusal.message}`) : null);
}
