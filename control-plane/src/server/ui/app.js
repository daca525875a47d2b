// The dashboard's shell: sign-in, the namespace selector, the hash router, and mounting a view on
// live lists of the kinds it shows (re-drawn, batched, after every change the watches bring).

import { ApiError, getJson, session, whoami } from "./api.js";
import { LiveList } from "./live.js";
import { h, notice } from "./dom.js";
import * as scope from "./scope.js";
import overview from "./views/overview.js";
import { deployments, pods } from "./views/workloads.js";
import pod from "./views/pod.js";
import services from "./views/network.js";
import events from "./views/events.js";

const ROUTES = [
  [/^\/?$/, overview],
  [/^\/deployments$/, deployments],
  [/^\/pods$/, pods],
  [/^\/pods\/([^/]+)\/([^/]+)$/, pod],
  [/^\/services$/, services],
  [/^\/events$/, events],
];
/** A pod's page belongs to its namespace: choosing another goes to that namespace's pods. */
const POD_PAGE = /^\/pods\/[^/]+\/[^/]+$/;
/** Redraw at most this often, and at least every few seconds (ages move on). */
const BATCH_MS = 40;
const TICK_MS = 5000;
const RETRY_MS = 2000;

const $ = (id) => document.getElementById(id);
let mounted = null;

function route(path) {
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { view, params: match.slice(1).map(decodeURIComponent) };
  }
  return { view: overview, params: [] };
}

function showLogin(message) {
  mounted?.abort();
  mounted = null;
  scope.forget();
  $("view").replaceChildren();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("namespace-picker").hidden = true;
  $("whoami").textContent = "";
  $("status").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function signedOut(error) {
  session.signOut();
  showLogin(`Signed out: ${error.message}`);
}

/** The selector: the token's namespaces, or "All namespaces" and those the cluster lists. */
function drawPicker(signal) {
  const select = $("namespace");
  const fill = (listed) => {
    const chosen = scope.current() ?? scope.ALL;
    select.replaceChildren(...scope.choices(listed).map(([value, label]) =>
      h("option", { value, selected: value === chosen }, label)));
    select.value = chosen;
  };
  fill([]);
  const mine = scope.who().namespaces;
  select.disabled = Boolean(mine) && mine.length < 2;
  select.title = mine ? `This token reads ${mine.join(", ")} only` : "";
  $("namespace-picker").hidden = false;
  if (mine) return;
  getJson("/api/v1/namespaces", signal)
    .then((list) => {
      if (!signal.aborted) fill(list.items.map((n) => n.metadata.name));
    })
    .catch((error) => {
      if (!signal.aborted) select.title = `Cannot list namespaces: ${error.message}`;
    });
}

/** Learns who the token is once per sign-in; false when the page must wait or sign in again. */
async function knowCaller(signal, asked) {
  if (scope.who()) return true;
  $("status").textContent = "signing in…";
  try {
    const caller = await whoami(signal);
    if (signal.aborted) return false;
    scope.settle(caller, asked);
    return true;
  } catch (error) {
    if (signal.aborted) return false;
    if (error instanceof ApiError && error.status === 401) {
      signedOut(error);
      return false;
    }
    $("status").textContent = `cannot reach the API (${error.message}), retrying`;
    setTimeout(() => {
      if (!signal.aborted) mount();
    }, RETRY_MS);
    return false;
  }
}

async function mount() {
  if (session.token() === null) return showLogin();
  mounted?.abort();
  const controller = new AbortController();
  mounted = controller;
  const { signal } = controller;
  const { path, namespace: asked } = scope.parseHash(location.hash);
  if (!(await knowCaller(signal, asked))) return;
  const namespace = scope.settle(scope.who(), asked);
  // The address says which namespace is shown (for a link, a reload, the back button).
  const canonical = scope.link(path || "/");
  if (location.hash !== canonical) history.replaceState(null, "", canonical);

  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  $("whoami").textContent = scope.who().identity;
  drawPicker(signal);
  $("brand").setAttribute("href", scope.link("/"));
  for (const link of $("nav").querySelectorAll("a")) {
    const target = link.dataset.path;
    link.setAttribute("href", scope.link(target));
    link.classList.toggle("active", target === (path || "/"));
  }
  const { view, params } = route(path);
  const live = h("div", { id: "live" });
  const extra = h("div", { id: "extra" });
  $("view").replaceChildren(h("h1", {}, view.title(params, namespace)), live, extra);

  // A pod's page reads its pod's namespace; the others the one chosen (null: all).
  const listed = view.namespace ? view.namespace(params) : namespace;
  let pending = false;
  let latest = {};
  const lists = view.kinds.map((plural) =>
    new LiveList(plural, scope.namespaced(plural) ? listed : null, schedule, signal));
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      if (!signal.aborted) draw();
    }, BATCH_MS);
  }
  function draw() {
    const refused = lists.find((l) => l.error instanceof ApiError && l.error.status === 401);
    if (refused) return signedOut(refused.error);
    const failing = lists.find((l) => l.error);
    $("status").textContent = failing
      ? `reconnecting (${failing.plural}: ${failing.error.message})`
      : lists.every((l) => l.ready) ? "live" : "loading…";
    const data = Object.fromEntries(lists.map((l) => [l.plural, l.items()]));
    data.ready = lists.every((l) => l.ready);
    data.namespace = listed;
    data.forbidden = Object.fromEntries(lists.filter((l) => l.forbidden).map((l) => [l.plural, l.forbidden]));
    latest = data;
    // A list the token may not read and the view does not explain itself: said on top.
    const unexplained = lists.filter((l) => l.forbidden && !(view.explains || []).includes(l.plural));
    live.replaceChildren(
      ...unexplained.map((l) => notice(`${l.plural}-notice`, `Your token cannot read ${l.plural}${scope.namespaced(l.plural) && listed ? ` in namespace ${listed}` : ""}`, null, l.forbidden)),
      view.render(data, params));
  }
  view.setup?.(extra, params, signal, () => latest, listed);
  for (const list of lists) list.run();
  const tick = setInterval(schedule, TICK_MS);
  signal.addEventListener("abort", () => clearInterval(tick));
  draw();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  $("login-error").textContent = "";
  session.signIn(token);
  try {
    const caller = await whoami();
    scope.settle(caller, scope.parseHash(location.hash).namespace);
    $("token").value = "";
    mount();
  } catch (error) {
    session.signOut();
    const why = error instanceof ApiError ? `${error.status}: ${error.message}` : error.message;
    showLogin(`The API refused this token (${why})`);
  }
}

$("login-form").addEventListener("submit", signIn);
$("logout").addEventListener("click", () => {
  session.signOut();
  showLogin();
});
$("namespace").addEventListener("change", (event) => {
  const { path } = scope.parseHash(location.hash);
  const value = event.target.value;
  location.hash = scope.link(POD_PAGE.test(path) ? "/pods" : path || "/", value === scope.ALL ? null : value);
});
window.addEventListener("hashchange", mount);
mount();
