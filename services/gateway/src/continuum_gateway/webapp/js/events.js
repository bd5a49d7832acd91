// The node's event log, live: every event as it is appended, with a link to
// its trace where a trace viewer is configured.

import { follow, get, query } from "./api.js";
import { clear, h, short, when } from "./dom.js";
import { traceLink } from "./state.js";

const CONTEXTS = ["", "chat", "persona", "genome", "academy", "market", "mesh"];

export async function eventsPage(_, main) {
  const list = h("ol", { class: "events", "aria-label": "Events, newest first" });
  const state = h("span", { class: "connection", role: "status" });
  const context = h("select", { id: "ctx", "aria-label": "Context" }, CONTEXTS.map((c) => h("option", { value: c }, c || "every context")));
  let stream = null;

  function row(event, traceId) {
    const data = JSON.stringify(event.data);
    return h(
      "li",
      {},
      h("time", {}, when(event.time)),
      " ",
      h("strong", {}, event.type.replace(/^continuum\./, "")),
      ` ${event.subject || ""} from ${short(event.source, 40)} `,
      traceLink(traceId),
      h("details", {}, h("summary", {}, "data"), h("pre", {}, data.length > 4000 ? `${data.slice(0, 4000)}…` : data)),
    );
  }

  async function start() {
    if (stream) stream.close();
    const ctx = context.value;
    const { events } = await get(query("/v1/events", { limit: 50 }));
    clear(list, events.filter((e) => !ctx || e.type.startsWith(`continuum.${ctx}.`)).map((e) => row(e, null)));
    stream = follow(query("/v1/events/stream", { context: ctx, wrap: "true" }), {
      onItem: (item) => {
        list.prepend(row(item.event, item.trace_id));
        while (list.children.length > 200) list.lastChild.remove();
      },
      onState: (s, detail) => (state.textContent = s === "live" ? "live" : `${s}${detail ? `: ${detail}` : ""}`),
    });
  }
  context.addEventListener("change", start);
  clear(main, h("h1", {}, "Events"), h("div", { class: "toolbar" }, h("label", { for: "ctx" }, "Context "), context, " ", state), list);
  await start();
  return () => stream && stream.close();
}
