// The roster and one persona: its profile and its genome stack, which can be
// reordered, reweighted, grown and pruned (the change applies from the
// persona's next turn; the page shows the stack the runtime reports).

import { api, get, post } from "./api.js";
import { clear, field, form, h, num, pct, short } from "./dom.js";
import { found } from "./found.js";
import { layerSearch } from "./layers.js";
import { isAdmin } from "./state.js";

const enc = encodeURIComponent;

function stack(genome) {
  if (!genome || !genome.length) return h("span", { class: "muted" }, "base model only");
  return h(
    "ol",
    { class: "stack" },
    genome.map((l) => h("li", {}, h("a", { href: `#/layers/${enc(l.layer_id)}` }, `${l.layer_id}@${l.version}`), ` × ${num(l.weight, 2)}`)),
  );
}

export async function personasPage(_, main) {
  const { personas } = await get("/v1/personas");
  clear(
    main,
    h("h1", {}, "Personas"),
    h(
      "ul",
      { class: "cards" },
      personas.map((p) =>
        h(
          "li",
          { class: "card" },
          h("h2", {}, h("a", { href: `#/personas/${enc(p.id)}` }, p.name)),
          h("p", {}, p.role),
          h("p", { class: "muted" }, p.domains.join(" · ")),
          h("h3", {}, "Genome"),
          stack(p.genome),
          h("p", { class: "muted" }, `${p.effective_backend} · success ${pct(p.success_rate)} · rooms: ${p.rooms.join(", ") || "none"}`),
        ),
      ),
    ),
    isAdmin() ? newPersonaForm() : null,
  );
}

function newPersonaForm() {
  return [
    h("h2", {}, "Create a persona"),
    form(
      "Create a persona",
      [
        field("Name", h("input", { name: "name", required: true, maxlength: 64 })),
        field("Role", h("input", { name: "role", required: true, maxlength: 200 })),
        field("Domains", h("input", { name: "domains", required: true }), "what it is good at, separated by commas"),
        field("Style", h("input", { name: "style", maxlength: 500 })),
      ],
      "Create persona",
      async (v) => {
        const made = await post("/v1/personas", {
          name: v.name,
          role: v.role,
          style: v.style,
          domains: v.domains.split(",").map((d) => d.trim()).filter(Boolean),
        });
        location.hash = `#/personas/${enc(made.id || v.name)}`;
      },
    ),
  ];
}

export async function personaPage([key], main) {
  let persona = await found(main, `/v1/personas/${enc(key)}`, "Persona not found", ["#/personas", "All personas"]);
  if (persona === null) return null;
  // The stack being edited: [{layer_id, version, weight}], top first.
  let draft = persona.genome.map((l) => ({ layer_id: l.layer_id, version: l.version, weight: l.weight }));
  const editor = h("div", { class: "genome-editor" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const current = h("div", {}, stack(persona.genome));
  const combination = h(
    "select",
    { name: "combination" },
    ["cat", "linear", "svd", "ties", "ties_svd", "dare_linear", "dare_ties"].map((c) => h("option", { value: c, selected: c === persona.combination }, c)),
  );

  function move(i, by) {
    const j = i + by;
    if (j < 0 || j >= draft.length) return;
    [draft[i], draft[j]] = [draft[j], draft[i]];
    renderEditor();
    editor.querySelectorAll("li")[j].querySelector(by < 0 ? ".up" : ".down")?.focus();
  }

  function renderEditor() {
    clear(
      editor,
      draft.length
        ? h(
            "ol",
            { class: "layers" },
            draft.map((l, i) =>
              h(
                "li",
                {},
                h("span", { class: "ref" }, `${l.layer_id}@${l.version}`),
                h("label", {}, "weight ", h("input", {
                  type: "number",
                  step: 0.05,
                  min: -10,
                  max: 10,
                  value: l.weight,
                  "aria-label": `weight of ${l.layer_id}`,
                  oninput: (e) => (l.weight = Number(e.target.value)),
                })),
                h("button", { type: "button", class: "up", "aria-label": `move ${l.layer_id} up`, disabled: i === 0, onclick: () => move(i, -1) }, "↑"),
                h("button", { type: "button", class: "down", "aria-label": `move ${l.layer_id} down`, disabled: i === draft.length - 1, onclick: () => move(i, 1) }, "↓"),
                h("button", { type: "button", "aria-label": `remove ${l.layer_id}`, onclick: () => { draft.splice(i, 1); renderEditor(); } }, "Remove"),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No layers: the base model alone."),
    );
  }

  async function save() {
    status.className = "status";
    status.textContent = "Saving…";
    try {
      const layers = draft.map((l) => `${l.layer_id}@${l.version}:${l.weight}`);
      await api("PUT", `/v1/personas/${enc(persona.id)}/genome`, { layers, combination: combination.value });
      persona = await get(`/v1/personas/${enc(persona.id)}`);
      clear(current, stack(persona.genome));
      status.textContent = "Saved: the new genome applies from the persona's next turn.";
    } catch (err) {
      status.className = "status error";
      status.textContent = err.status === 404 ? `${persona.name} is no longer here (retired?): ${err.message}` : err.message;
    }
  }

  const results = h("div", { class: "search-results" });
  const add = (r) => {
    draft.push({ layer_id: r.id, version: r.version, weight: 1 });
    renderEditor();
  };
  const search = layerSearch(results, ["", (r) => h("button", { type: "button", onclick: () => add(r) }, `Add ${r.id}`)], 10);

  renderEditor();
  clear(
    main,
    h("h1", {}, persona.name),
    h("p", {}, persona.role),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, persona.id),
      h("dt", {}, "Domains"), h("dd", {}, persona.domains.join(" · ")),
      h("dt", {}, "Style"), h("dd", {}, persona.style || "—"),
      h("dt", {}, "Priority"), h("dd", {}, persona.priority),
      h("dt", {}, "Backend"), h("dd", {}, persona.effective_backend),
      h("dt", {}, "Base model"), h("dd", {}, persona.base_model),
      h("dt", {}, "Success"), h("dd", {}, pct(persona.success_rate)),
      h("dt", {}, "Rooms"), h("dd", {}, persona.rooms.join(", ") || "none"),
      h("dt", {}, "Public key"), h("dd", { class: "mono" }, short(persona.public_key, 24)),
    ),
    h("h2", {}, "Genome now"),
    current,
    isAdmin()
      ? [
          h(
            "button",
            {
              type: "button",
              class: "danger",
              onclick: async () => {
                if (!confirm(`Retire ${persona.name}? It leaves its rooms and stops answering.`)) return;
                try {
                  await api("DELETE", `/v1/personas/${enc(persona.id)}`);
                  location.hash = "#/personas";
                } catch (err) {
                  status.className = "status error";
                  status.textContent = err.message;
                }
              },
            },
            "Retire persona",
          ),
          h("h2", {}, "Edit the genome"),
          editor,
          field("Combination", combination),
          h("div", { class: "actions" }, h("button", { type: "button", onclick: save }, "Save genome")),
          status,
          h("h3", {}, "Add a layer"),
          search,
          results,
        ]
      : h("p", { class: "muted" }, "An admin token can edit the genome."),
  );
  return null;
}
