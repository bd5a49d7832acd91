// Small SVG drawings: a line chart (loss curves), a layered graph (lineage,
// family trees) and interval bars (leaderboards). Text is set as text nodes.

import { h } from "./dom.js";

export function lineChart(points, { label, width = 560, height = 220, xLabel = "step", yLabel = "loss" }) {
  const pad = 36;
  if (!points.length) return h("p", { class: "muted" }, "No points yet.");
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  return h(
    "svg:svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" },
    h("svg:title", {}, label),
    h("svg:line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    h("svg:line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }),
    h("svg:text", { x: pad, y: pad - 8, class: "tick" }, y1.toPrecision(3)),
    h("svg:text", { x: pad, y: height - pad + 14, class: "tick" }, y0.toPrecision(3)),
    h("svg:text", { x: width - pad, y: height - pad + 14, class: "tick", "text-anchor": "end" }, `${xLabel} ${x1}`),
    h("svg:text", { x: 4, y: height / 2, class: "tick" }, yLabel),
    h("svg:path", { d: path, class: "line" }),
  );
}

// nodes: [{id, label, column, href?, onclick?, current?}], edges: [[from, to]].
export function layeredGraph(nodes, edges, { label, boxWidth = 150 }) {
  const columns = new Map();
  for (const n of nodes) {
    if (!columns.has(n.column)) columns.set(n.column, []);
    columns.get(n.column).push(n);
  }
  const order = [...columns.keys()].sort((a, b) => a - b);
  const gapX = boxWidth + 40;
  const gapY = 44;
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const width = order.length * gapX + 20;
  const height = tallest * gapY + 20;
  const at = new Map();
  order.forEach((col, ci) =>
    columns.get(col).forEach((n, ri) => at.set(n.id, { x: 10 + ci * gapX, y: 10 + ri * gapY, n })),
  );
  const lines = edges
    .filter(([a, b]) => at.has(a) && at.has(b))
    .map(([a, b]) => {
      const p = at.get(a);
      const q = at.get(b);
      return h("svg:line", { x1: p.x + boxWidth, y1: p.y + 15, x2: q.x, y2: q.y + 15, class: "edge" });
    });
  const boxes = [...at.values()].map(({ x, y, n }) => {
    const text = n.label.length > 22 ? `${n.label.slice(0, 21)}…` : n.label;
    const group = h(
      "svg:g",
      { class: `node${n.current ? " current" : ""}`, tabindex: n.href || n.onclick ? 0 : null, role: n.href || n.onclick ? "link" : null, "aria-label": n.label },
      h("svg:title", {}, n.title || n.label),
      h("svg:rect", { x, y, width: boxWidth, height: 30, rx: 6 }),
      h("svg:text", { x: x + 8, y: y + 19 }, text),
    );
    const go = () => (n.onclick ? n.onclick() : (location.hash = n.href));
    if (n.href || n.onclick) {
      group.addEventListener("click", go);
      group.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), go()));
    }
    return group;
  });
  return h(
    "div",
    { class: "scroll" },
    h("svg:svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "group", "aria-label": label, class: "graph" }, lines, boxes),
  );
}

// rows: [{label, value, low, high}] on a shared scale.
export function intervals(rows, { label, width = 520 }) {
  const lo = Math.min(...rows.map((r) => r.low));
  const hi = Math.max(...rows.map((r) => r.high));
  const left = 130;
  const sx = (v) => left + ((v - lo) / (hi - lo || 1)) * (width - left - 10);
  const height = rows.length * 24 + 10;
  return h(
    "svg:svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" },
    h("svg:title", {}, label),
    rows.map((r, i) => {
      const y = 12 + i * 24;
      return h(
        "svg:g",
        {},
        h("svg:text", { x: 4, y: y + 4, class: "tick" }, r.label.length > 20 ? `${r.label.slice(0, 19)}…` : r.label),
        h("svg:line", { x1: sx(r.low), x2: sx(r.high), y1: y, y2: y, class: "interval" }),
        h("svg:circle", { cx: sx(r.value), cy: y, r: 4, class: "point" }),
      );
    }),
  );
}
