// What every page may ask: who is signed in, which node this is.
import { h } from "./dom.js";

export const app = { node: null, me: null };

export const isAdmin = () => Boolean(app.me && app.me.scopes.includes("admin"));

// A link from an event to its trace, where the node names a trace viewer
// (GET /v1/node's trace_url, e.g. Grafana Explore on Tempo).
export function traceLink(traceId) {
  if (!traceId || !app.node || !app.node.trace_url) return null;
  return h(
    "a",
    {
      class: "trace",
      href: app.node.trace_url.replace("{trace_id}", encodeURIComponent(traceId)),
      target: "_blank",
      rel: "noopener noreferrer",
    },
    "trace",
  );
}
