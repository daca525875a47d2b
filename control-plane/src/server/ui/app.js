// The dashboard's shell: sign-in, the hash router, and mounting a view on live lists of the kinds
// it shows (re-drawn, batched, after every change the watches bring).

import { ApiError, getJson, session } from "./api.js";
import { LiveList } from "./live.js";
import { h } from "./dom.js";
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
/** Redraw at most this often, and at least every few seconds (ages move on). */
const BATCH_MS = 40;
const TICK_MS = 5000;

const $ = (id) => document.getElementById(id);
let mounted = null;

function route() {
  const path = decodeURI(location.hash.replace(/^#/, ""));
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { view, params: match.slice(1).map(decodeURIComponent) };
  }
  return { view: overview, params: [] };
}

function showLogin(message) {
  mounted?.abort();
  mounted = null;
  $("view").replaceChildren();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("status").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function mount() {
  if (session.token() === null) return showLogin();
  mounted?.abort();
  const controller = new AbortController();
  mounted = controller;
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  const { view, params } = route();
  for (const link of $("nav").querySelectorAll("a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#${location.hash.slice(1) || "/"}`);
  }
  const live = h("div", { id: "live" });
  const extra = h("div", { id: "extra" });
  $("view").replaceChildren(h("h1", {}, view.title(params)), live, extra);

  let pending = false;
  let latest = {};
  const lists = view.kinds.map((plural) => new LiveList(plural, schedule, controller.signal));
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      if (!controller.signal.aborted) draw();
    }, BATCH_MS);
  }
  function draw() {
    const refused = lists.find((l) => l.error instanceof ApiError && l.error.status === 401);
    if (refused) {
      session.signOut();
      return showLogin(`Signed out: ${refused.error.message}`);
    }
    const failing = lists.find((l) => l.error);
    $("status").textContent = failing
      ? `reconnecting (${failing.plural}: ${failing.error.message})`
      : lists.every((l) => l.ready) ? "live" : "loading…";
    const data = Object.fromEntries(lists.map((l) => [l.plural, l.items()]));
    data.ready = lists.every((l) => l.ready);
    latest = data;
    live.replaceChildren(view.render(data, params));
  }
  view.setup?.(extra, params, controller.signal, () => latest);
  for (const list of lists) list.run();
  const tick = setInterval(schedule, TICK_MS);
  controller.signal.addEventListener("abort", () => clearInterval(tick));
  draw();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  $("login-error").textContent = "";
  session.signIn(token);
  try {
    await getJson("/api/v1/pods");
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
window.addEventListener("hashchange", mount);
mount();
