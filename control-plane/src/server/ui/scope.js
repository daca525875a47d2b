// Where the pages look: the namespaces the signed-in token may read (from `/api/v1/whoami`) and
// the one chosen in the selector. The choice lives in the address, as Kubernetes Dashboard keeps
// it (`#/pods?namespace=dev`, `namespace=_all` for every namespace), so a link keeps it.

/** The selector's value for "every namespace" (Kubernetes Dashboard's). */
export const ALL = "_all";

/** Kinds that belong to no namespace: read cluster-wide or not at all. */
const CLUSTER_SCOPED = new Set(["nodes", "namespaces"]);

export const namespaced = (plural) => !CLUSTER_SCOPED.has(plural);

const state = { who: null, namespace: null };

/** Whom the pages show data for (null until known). */
export const who = () => state.who;

/** The namespace the pages show, or null for every namespace. */
export const current = () => state.namespace;

/**
 * Sets the caller (`{identity, role, namespaces}`) and, from the address's `?namespace=`, the
 * namespace shown: a namespaced token sees only its own (its first when the address names
 * another), a cluster-wide one every namespace unless the address names one.
 */
export function settle(caller, asked) {
  state.who = caller;
  const mine = caller?.namespaces;
  if (mine) {
    state.namespace = mine.includes(asked) ? asked : mine[0];
  } else {
    state.namespace = asked && asked !== ALL ? asked : null;
  }
  return state.namespace;
}

export function forget() {
  state.who = null;
  state.namespace = null;
}

/** `path` (a `#/...` route) with the namespace shown, so following it keeps the choice. */
export function link(path, namespace = state.namespace) {
  return `#${path}?namespace=${encodeURIComponent(namespace ?? ALL)}`;
}

/** Splits a hash (`#/pods?namespace=dev`) into its route path and the namespace it asks for. */
export function parseHash(hash) {
  const text = hash.replace(/^#/, "");
  const at = text.indexOf("?");
  const path = at < 0 ? text : text.slice(0, at);
  const query = new URLSearchParams(at < 0 ? "" : text.slice(at + 1));
  return { path, namespace: query.get("namespace") };
}

/** The choices of the selector: `[value, label]`, given the namespaces the cluster lists. */
export function choices(listed) {
  const mine = state.who?.namespaces;
  if (mine) return mine.map((ns) => [ns, ns]);
  const names = new Set(listed);
  if (state.namespace) names.add(state.namespace);
  return [[ALL, "All namespaces"], ...[...names].sort().map((ns) => [ns, ns])];
}

/** " in namespace dev", or "" for every namespace (null): for empty tables. */
export const where = (namespace) => (namespace ? ` in namespace ${namespace}` : "");
