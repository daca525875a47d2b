// The API as the dashboard speaks it: JSON reads, watches and followed logs, each sent with the
// token kept in this tab's sessionStorage as a Bearer header.

const TOKEN_KEY = "wasmpod.token";

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer other than 2xx: the status and the API's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers() {
  const token = session.token();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function send(path, signal) {
  const response = await fetch(path, { headers: headers(), signal, cache: "no-store" });
  if (response.ok) return response;
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    message = body?.error?.message || message;
  } catch {
    // Not the API's JSON error body: the status says enough.
  }
  throw new ApiError(response.status, message);
}

export async function getJson(path, signal) {
  return (await send(path, signal)).json();
}

/** Calls `onText` with each decoded chunk of a streamed body until it ends. */
async function readText(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
}

/** Who the token proves the caller is: `{identity, role, namespaces}` (`namespaces` null: all). */
export async function whoami(signal) {
  return getJson("/api/v1/whoami", signal);
}

/** The path of `plural`'s list with `params`, in `namespace` when one is given (else all). */
export function listPath(plural, namespace, params = {}) {
  const query = new URLSearchParams(params);
  if (namespace) query.set("namespace", namespace);
  const text = query.toString();
  return `/api/v1/${plural}${text ? `?${text}` : ""}`;
}

/**
 * Every change to `plural` in `namespace` (null: every namespace) after `revision`, as the watch
 * route sends them: one JSON event a line (`{type: ADDED|MODIFIED|DELETED|BOOKMARK, revision,
 * object}`). Resolves when it ends.
 */
export async function watch(plural, namespace, revision, onEvent, signal) {
  const path = listPath(plural, namespace, { watch: "true", revision: String(revision) });
  const response = await send(path, signal);
  let partial = "";
  await readText(response, (text) => {
    partial += text;
    let end;
    while ((end = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, end).trim();
      partial = partial.slice(end + 1);
      if (line) onEvent(JSON.parse(line));
    }
  });
}

/**
 * A pod's log so far, then each write as it comes (across restarts) until the pod is gone;
 * `onOpen` runs once the node has answered.
 */
export async function followLogs(namespace, pod, { onOpen, onText }, signal) {
  const path = `/api/v1/pods/${encodeURIComponent(pod)}/log` +
    `?namespace=${encodeURIComponent(namespace)}&follow=true`;
  const response = await send(path, signal);
  onOpen();
  await readText(response, onText);
}
