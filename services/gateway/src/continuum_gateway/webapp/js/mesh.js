// The mesh as this node sees it: peers with what it measured of them, LAN
// neighbours, and where its last generations were routed and why.

import { get, post } from "./api.js";
import { clear, field, form, h, num, short, table, when } from "./dom.js";

function routeTable(r) {
  return h(
    "details",
    { class: "route" },
    h(
      "summary",
      {},
      `${when(r.at)} · ${r.status} on ${short(r.node) || "no node"} · ${num(r.duration_ms, 0)} ms · “${r.prompt.slice(0, 60)}”`,
    ),
    table(
      "Candidates, best first",
      [
        ["Node", (c) => `${c.name} (${short(c.node)})`],
        ["Persona", (c) => c.persona_name || c.persona],
        ["Score", (c) => num(c.score)],
        ["Parts", (c) => Object.entries(c.parts).map(([k, v]) => `${k} ${num(v, 2)}`).join(" · ")],
        ["Left out", (c) => c.excluded || ""],
      ],
      r.candidates,
      "No candidates.",
    ),
    table(
      "What happened",
      [
        ["Node", (s) => short(s.node)],
        ["Outcome", (s) => s.outcome],
        ["Error", (s) => s.error || ""],
      ],
      r.route,
      "Nothing was tried.",
    ),
  );
}

export async function meshPage(_, main) {
  const [mesh, { routes }] = await Promise.all([get("/v1/mesh/peers"), get("/v1/mesh/routes")]);
  const answer = h("div", { class: "answer", "aria-live": "polite" });
  clear(
    main,
    h("h1", {}, "Mesh"),
    h("p", {}, `This node: ${mesh.name} (`, h("span", { class: "mono" }, short(mesh.node, 20)), ")", mesh.hub ? ` · hub at ${mesh.hub}` : "", mesh.hubs && mesh.hubs.length ? ` · linked to ${mesh.hubs.join(", ")}` : ""),
    table(
      "Peers",
      [
        ["Node", (p) => h("span", { title: p.node }, `${p.name} (${short(p.node)})`)],
        ["RTT", (p) => (p.rtt_ms === null ? "—" : `${num(p.rtt_ms, 1)} ms`)],
        ["Load", (p) => `${p.queue_depth} queued`],
        ["Price", (p) => (p.price ? `${num(p.price, 2)} credits` : "free")],
        ["Personas", (p) => p.personas.join(", ")],
        ["Capabilities", (p) => p.domains.slice(0, 8).join(" · ")],
        ["Backends", (p) => (p.backends || []).join(", ")],
        ["Reputation", (p) => `${num(p.reputation, 2)} (${p.successes}✓ ${p.failures}✗)`],
        ["Seen", (p) => `${num(p.last_seen_s, 0)} s ago${p.banned_s ? ` · banned ${p.banned_s} s` : ""}`],
      ],
      mesh.peers,
      "No peers: this node is alone (continuum mesh join, or start one with --hub).",
    ),
    mesh.lan.length
      ? table(
          "Heard on the LAN",
          [
            ["Node", (b) => `${b.name} (${short(b.node)})`],
            ["Hub", (b) => b.hub_url || "—"],
            ["Heard", (b) => `${num(b.heard_s, 0)} s ago`],
            ["Linked", (b) => (b.linked ? "yes" : "no")],
          ],
          mesh.lan,
        )
      : null,
    h("h2", {}, "Ask the mesh"),
    form(
      "Ask the mesh",
      [
        field("Prompt", h("textarea", { name: "prompt", required: true, rows: 2, maxlength: 8000 })),
        field("Where", h("select", { name: "mesh" }, ["global", "lan", "local"].map((m) => h("option", { value: m }, m)))),
      ],
      "Generate",
      async (v) => {
        clear(answer, h("p", {}, "Routing…"));
        const result = await post("/v1/ai/generate", { prompt: v.prompt, mesh: v.mesh, max_tokens: 64 });
        clear(answer, h("p", {}, `${result.status} on ${short(result.node)} by ${result.persona}:`), h("blockquote", {}, result.text));
        await refreshRoutes();
      },
    ),
    answer,
    h("h2", {}, "Last routed requests"),
  );
  const routesBox = h("div", { class: "routes" });
  main.append(routesBox);
  async function refreshRoutes(given) {
    const list = given || (await get("/v1/mesh/routes")).routes;
    clear(routesBox, list.length ? list.map(routeTable) : h("p", { class: "empty" }, "Nothing routed yet."));
  }
  await refreshRoutes(routes);
  const timer = setInterval(() => refreshRoutes().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
