// Genome layers: the registry, search by capability, the cache tiers with
// their hit rates, and a layer's page (manifest, lineage, near-duplicates,
// usage).

import { api, get, query } from "./api.js";
import { clear, form, field, h, num, pct, short, table, when } from "./dom.js";
import { found } from "./found.js";
import { layeredGraph } from "./graph.js";
import { isAdmin } from "./state.js";

const enc = encodeURIComponent;
const kib = (n) => (n === null || n === undefined ? "—" : `${num(n / 1024, 1)} KiB`);

// The capability search (GET /v1/genome/search) as a form that fills
// `results` with a table of matches; `last` is the table's own last column
// (where a match came from, or a button that uses it).
export function layerSearch(results, last, k = 20) {
  const input = h("input", { name: "q", required: true, placeholder: "e.g. writes SQL queries" });
  return form("Find layers by capability", [field("What should the layer do?", input)], "Search", async (v) => {
    const found = await get(query("/v1/genome/search", { q: v.q, k }));
    clear(
      results,
      table(
        "Layers that match",
        [
          ["Layer", (r) => h("a", { href: `#/layers/${enc(r.id)}` }, r.ref)],
          ["Score", (r) => num(r.score)],
          ["Description", (r) => r.description],
          last,
        ],
        found.results,
        "No layer matches.",
      ),
    );
    return `${found.results.length} found.`;
  });
}

export async function layersPage(_, main) {
  const [{ layers }, cache] = await Promise.all([get("/v1/genome/layers"), get("/v1/genome/cache")]);
  const results = h("div");
  clear(
    main,
    h("h1", {}, "Genome layers"),
    layerSearch(results, ["Node", (r) => r.node_name || r.node || "this node"]),
    results,
    table(
      "Published layers",
      [
        ["Layer", (l) => h("a", { href: `#/layers/${enc(l.id)}` }, l.id)],
        ["Latest", (l) => l.latest || l.version],
        ["Description", (l) => l.description],
        ["Base model", (l) => l.base_model],
        ["Rank", (l) => l.rank],
        ["Size", (l) => kib(l.size)],
        ["Creator", (l) => h("span", { class: "mono" }, short(l.creator))],
      ],
      layers,
      "No layers published yet (continuum genome publish, or train one in the academy).",
    ),
    h("h2", {}, "Layer cache"),
    table(
      "Cache tiers",
      [
        ["Tier", (t) => t.name],
        ["Entries", (t) => t.entries],
        ["Used", (t) => `${kib(t.bytes)} of ${kib(t.budget_bytes)}`],
        ["Hit rate", (t) => pct(t.hit_rate)],
        ["Hits", (t) => t.hits],
        ["Misses", (t) => t.misses],
        ["Evictions", (t) => t.evictions],
        ["p50 load", (t) => (t.p50_load_ms === null ? "—" : `${num(t.p50_load_ms, 1)} ms`)],
      ],
      Object.entries(cache.tiers).map(([name, t]) => ({ name, ...t })),
    ),
    h("p", { class: "muted" }, `Hot: ${cache.hot.join(", ") || "none"} · warm: ${cache.warm.join(", ") || "none"} · pinned: ${cache.pinned.join(", ") || "none"}`),
  );
}

function lineage(layerRef, graph) {
  const depth = new Map([[layerRef, 0]]);
  const edges = [];
  const walk = (pairs, from, to, step) => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const pair of pairs) {
        const a = pair[from];
        const b = pair[to];
        if (depth.has(a) && !depth.has(b)) {
          depth.set(b, depth.get(a) + step);
          changed = true;
        }
      }
    }
  };
  walk(graph.ancestors, "child", "parent", -1);
  walk(graph.descendants, "parent", "child", 1);
  for (const pair of [...graph.ancestors, ...graph.descendants]) edges.push([pair.parent, pair.child]);
  const nodes = [...depth.entries()].map(([ref, column]) => ({
    id: ref,
    label: ref,
    column,
    current: ref === layerRef,
    href: `#/layers/${enc(ref.split("@")[0])}`,
  }));
  return layeredGraph(nodes, edges, { label: `Lineage of ${layerRef}: parents left, descendants right` });
}

export async function layerPage([id], main) {
  const layer = await found(main, `/v1/genome/layers/${enc(id)}`, "Layer not found", ["#/layers", "All layers"]);
  if (layer === null) return null;
  const v = layer.version;
  const graph = await get(`/v1/genome/layers/${enc(id)}/lineage`);
  const pinned = (await get("/v1/genome/cache")).pinned.includes(v.ref);
  clear(
    main,
    h("h1", {}, layer.id),
    h("p", {}, layer.description),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Versions"), h("dd", {}, layer.versions.join(", ")),
      h("dt", {}, "Base model"), h("dd", {}, v.base_model),
      h("dt", {}, "Rank"), h("dd", {}, v.rank),
      h("dt", {}, "Targets"), h("dd", {}, v.target_modules.join(", ")),
      h("dt", {}, "Domains"), h("dd", {}, v.domains.join(", ") || "—"),
      h("dt", {}, "Licence"), h("dd", {}, v.license),
      h("dt", {}, "Size"), h("dd", {}, kib(v.size)),
      h("dt", {}, "Weights"), h("dd", { class: "mono" }, `sha256 ${short(v.sha256, 20)}`),
      h("dt", {}, "Creator"), h("dd", { class: "mono" }, v.creator),
      h("dt", {}, "Forked from"), h("dd", {}, v.forked_from || "—"),
    ),
    h("p", {}, h("a", { href: `#/market/${enc(layer.id)}` }, "See it on the market")),
    isAdmin()
      ? h("button", {
          type: "button",
          onclick: async (e) => {
            await api(pinned ? "DELETE" : "PUT", `/v1/genome/cache/pins/${enc(v.ref)}`);
            e.target.textContent = pinned ? "Unpinned" : "Pinned";
            e.target.disabled = true;
          },
        }, pinned ? "Unpin from the cache" : "Pin in the cache")
      : null,
    h("h2", {}, "Lineage"),
    lineage(v.ref, graph),
    h("h2", {}, "Near-duplicates"),
    table(
      "Layers whose weights are nearly the same",
      [
        ["Layer", (d) => h("a", { href: `#/layers/${enc(d.layer.split("@")[0])}` }, d.layer)],
        ["Similarity", (d) => num(d.similarity)],
      ],
      v.near_duplicates || [],
      "None.",
    ),
    h("h2", {}, "Usage"),
    table(
      "Where the layer is used",
      [
        ["Version", (u) => u.version],
        ["Generations", (u) => u.generations],
        ["Completed", (u) => u.completed],
        ["Tokens", (u) => u.tokens],
        ["Personas", (u) => u.personas],
        ["Mean time", (u) => `${num(u.mean_duration_ms, 0)} ms`],
        ["Last used", (u) => when(u.last_used_at)],
      ],
      layer.usage || [],
      "Not used yet.",
    ),
    h("h2", {}, "Spectrum"),
    h("p", { class: "mono" }, (v.spectrum || []).map((s) => s.toFixed(2)).join(" ")),
  );
  return null;
}
