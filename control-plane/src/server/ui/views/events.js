// The events stream: newest first, live.

import { age, h, pill, table } from "../dom.js";
import { where } from "../scope.js";

const when = (e) => Date.parse(e.spec?.lastTimestamp || e.metadata.creationTimestamp || 0);

export function eventRows(events) {
  return events
    .sort((a, b) => when(b) - when(a))
    .map((e) => [
      age(e.spec?.lastTimestamp),
      pill(e.spec?.type || "Normal"),
      e.spec?.reason || "",
      `${(e.spec?.involvedObject?.kind || "").toLowerCase()}/${e.spec?.involvedObject?.name || ""}`,
      e.spec?.message || "",
      String(e.spec?.count || 1),
    ]);
}

export const EVENT_COLUMNS = ["Last seen", "Type", "Reason", "Object", "Message", "Count"];

export default {
  title: (_params, namespace) => (namespace ? `Events in ${namespace}` : "Events"),
  kinds: ["events"],
  render({ events, namespace }) {
    return table(EVENT_COLUMNS, eventRows(events), `No events${where(namespace)} yet.`);
  },
};
