// A live list of one kind: listed once, then kept current through the watch API, in one
// namespace or all of them. When the watch ends (a server restart, a revision too old to resume
// from) the list is read again. A list the token may not read (403) is not retried: the page
// shows why instead.

import { ApiError, getJson, listPath, watch } from "./api.js";

const RETRY_MS = 1000;

export const keyOf = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;

export class LiveList {
  /**
   * `namespace`: the one to list (null: every namespace, and always for a cluster-scoped
   * kind). `onChange` runs after every change (batched by the caller).
   */
  constructor(plural, namespace, onChange, signal) {
    this.plural = plural;
    this.namespace = namespace;
    this.onChange = onChange;
    this.signal = signal;
    this.objects = new Map();
    this.ready = false;
    this.error = null;
    /** The API's refusal when the token may not read this list. */
    this.forbidden = null;
  }

  items() {
    return [...this.objects.values()];
  }

  async run() {
    while (!this.signal.aborted) {
      try {
        const list = await getJson(listPath(this.plural, this.namespace), this.signal);
        this.objects = new Map(list.items.map((o) => [keyOf(o), o]));
        this.ready = true;
        this.error = null;
        this.onChange();
        await watch(this.plural, this.namespace, list.revision, (event) => this.apply(event), this.signal);
      } catch (error) {
        if (this.signal.aborted) return;
        if (error instanceof ApiError && error.status === 403) {
          this.forbidden = error;
          this.objects = new Map();
          this.ready = true;
          this.error = null;
          this.onChange();
          return;
        }
        this.error = error;
        this.onChange();
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  apply(event) {
    if (!event.object) return; // a bookmark
    const key = keyOf(event.object);
    if (event.type === "DELETED") this.objects.delete(key);
    else this.objects.set(key, event.object);
    this.onChange();
  }
}
