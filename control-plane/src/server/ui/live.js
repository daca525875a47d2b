// A live list of one kind: listed once, then kept current through the watch API. When the watch
// ends (a server restart, a revision too old to resume from) the list is read again.

import { getJson, watch } from "./api.js";

const RETRY_MS = 1000;

export const keyOf = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;

export class LiveList {
  /** `onChange` runs after every change (batched by the caller). */
  constructor(plural, onChange, signal) {
    this.plural = plural;
    this.onChange = onChange;
    this.signal = signal;
    this.objects = new Map();
    this.ready = false;
    this.error = null;
  }

  items() {
    return [...this.objects.values()];
  }

  async run() {
    while (!this.signal.aborted) {
      try {
        const list = await getJson(`/api/v1/${this.plural}`, this.signal);
        this.objects = new Map(list.items.map((o) => [keyOf(o), o]));
        this.ready = true;
        this.error = null;
        this.onChange();
        await watch(this.plural, list.revision, (event) => this.apply(event), this.signal);
      } catch (error) {
        if (this.signal.aborted) return;
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
