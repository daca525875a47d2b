// Services (with the ready pods they route to) and ingress routes, and per-service request rate
// and latency charts from the per-pod metrics.

import { h, podLink, table } from "../dom.js";
import { where } from "../scope.js";
import { serviceCharts } from "./traffic.js";

const selects = (selector, pod) =>
  Object.entries(selector || {}).every(([k, v]) => pod.metadata.labels?.[k] === v);

function serviceRow(service, pods) {
  const ns = service.metadata.namespace;
  const selected = pods.filter((p) => p.metadata.namespace === ns && selects(service.spec.selector, p));
  const ready = selected.filter((p) => p.status?.ready);
  return [
    ns,
    service.metadata.name,
    Object.entries(service.spec.selector || {}).map(([k, v]) => `${k}=${v}`).join(", "),
    `${ready.length}/${selected.length}`,
    ready.length ? ready.map((p) => [podLink(p), " "]) : h("span", { class: "muted" }, "none ready"),
  ];
}

function routeRows(ingress) {
  return (ingress.spec.rules || []).flatMap((rule) =>
    (rule.http?.paths || []).map((path) => [
      ingress.metadata.namespace,
      ingress.metadata.name,
      rule.host || "*",
      path.path || "/",
      path.pathType || "Prefix",
      path.backend?.service || "",
    ]));
}

export default {
  title: (_params, namespace) => (namespace ? `Services and ingress in ${namespace}` : "Services and ingress"),
  kinds: ["services", "ingresses", "pods"],
  setup(root, _params, signal, current, namespace) {
    serviceCharts(root, signal, current, namespace);
  },
  render({ services, ingresses, pods, namespace }) {
    services.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return h("div", {},
      table(["Namespace", "Service", "Selector", "Ready", "Endpoints"],
        services.map((svc) => serviceRow(svc, pods)), `No services${where(namespace)}.`),
      h("h2", {}, "Ingress routes"),
      table(["Namespace", "Ingress", "Host", "Path", "Match", "Service"],
        ingresses.flatMap(routeRows), `No ingress routes${where(namespace)}.`));
  },
};
