// The academy: skills, sessions (rate an attempt), leaderboards with their
// intervals, training jobs (live progress and loss curve), A/B tests and
// evolution runs (species over generations, the family tree).

import { get, post } from "./api.js";
import { clear, field, form, h, notice, num, pct, table } from "./dom.js";
import { intervals, layeredGraph, lineChart } from "./graph.js";

const enc = encodeURIComponent;
const TABS = [
  ["skills", "Skills"],
  ["sessions", "Sessions"],
  ["leaderboards", "Leaderboards"],
  ["training", "Training"],
  ["abtests", "A/B tests"],
  ["evolution", "Evolution"],
];

function tabs(current) {
  return h(
    "nav",
    { class: "tabs", "aria-label": "Academy" },
    h("ul", {}, TABS.map(([id, label]) => h("li", {}, h("a", { href: `#/academy/${id}`, "aria-current": id === current ? "page" : null }, label)))),
  );
}

async function choices() {
  const [{ skills }, { personas }] = await Promise.all([get("/v1/academy/skills"), get("/v1/personas")]);
  const skill = () => h("select", { name: "skill", required: true }, skills.map((s) => h("option", { value: s.name }, s.name)));
  const persona = () => h("select", { name: "persona", required: true }, personas.map((p) => h("option", { value: p.id }, p.name)));
  return { skills, personas, skill, persona };
}

// Re-render while something runs; the returned cleanup stops it.
function poll(render, everyMs = 1000) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    let again = false;
    try {
      again = await render();
    } catch (err) {
      console.error(err);
      again = true;
    }
    if (again && !stopped) timer = setTimeout(tick, everyMs);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export async function academyPage([tab = "skills", id], main) {
  const body = h("div");
  clear(main, h("h1", {}, "Academy"), tabs(tab), body);
  const page = { skills, sessions, leaderboards, training, abtests, evolution }[tab];
  if (!page) {
    clear(body, notice(`No academy section ${tab}.`));
    return null;
  }
  return page(body, id ? decodeURIComponent(id) : null);
}

async function skills(body) {
  const { skills: list, problems } = await get("/v1/academy/skills");
  clear(
    body,
    table("Skills", [["Skill", (s) => s.name], ["What it asks", (s) => s.description], ["Gold answers", (s) => (s.gold ? "yes" : "no")]], list),
    problems && problems.length ? [h("h2", {}, "Skill files with problems"), h("ul", {}, problems.map((p) => h("li", {}, JSON.stringify(p))))] : null,
  );
  return null;
}

async function sessions(body, id) {
  if (id) return session(body, id);
  const [{ sessions: list }, c] = await Promise.all([get("/v1/academy/sessions"), choices()]);
  clear(
    body,
    table(
      "Sessions",
      [
        ["Session", (s) => h("a", { href: `#/academy/sessions/${enc(s.session_id)}` }, s.session_id)],
        ["Persona", (s) => s.persona],
        ["Skill", (s) => s.skill],
        ["Status", (s) => s.status],
        ["Passed", (s) => `${s.passed}/${s.exercises}`],
        ["Accuracy", (s) => pct(s.accuracy)],
      ],
      list.slice().reverse(),
      "No sessions yet.",
    ),
    h("h2", {}, "New session"),
    form(
      "New session",
      [field("Persona", c.persona()), field("Skill", c.skill()), field("Exercises", h("input", { name: "exercises", type: "number", min: 1, max: 500, value: 5 }))],
      "Create and start",
      async (v) => {
        const made = await post("/v1/academy/sessions", { persona: v.persona, skill: v.skill, exercises: Number(v.exercises) });
        await post(`/v1/academy/sessions/${enc(made.session_id)}/start`);
        location.hash = `#/academy/sessions/${enc(made.session_id)}`;
      },
    ),
  );
  return null;
}

function session(body, id) {
  return poll(async () => {
    const s = await get(`/v1/academy/sessions/${enc(id)}`);
    const byExercise = new Map(s.exercises_list.map((e) => [e.exercise_id, e]));
    const rate = (attempt, rating) => async (event) => {
      event.target.disabled = true;
      await post(`/v1/academy/attempts/${enc(attempt.attempt_id)}/rating`, { rating });
      event.target.textContent = rating === "up" ? "Rated 👍" : "Rated 👎";
    };
    clear(
      body,
      h("h2", {}, `Session ${s.session_id}: ${s.persona} on ${s.skill}`),
      h("p", {}, `${s.status} · ${s.attempted}/${s.exercises} attempted · ${s.passed} passed (${pct(s.accuracy)})`),
      h("progress", { max: s.exercises, value: s.attempted, "aria-label": "Exercises attempted" }),
      table(
        "Attempts",
        [
          ["Exercise", (a) => (byExercise.get(a.exercise_id) || {}).prompt || a.exercise_id],
          ["Expected", (a) => (byExercise.get(a.exercise_id) || {}).answer ?? "—"],
          ["Answer", (a) => h("span", { class: "mono" }, a.text || "(empty)")],
          ["By", (a) => a.contestant],
          ["Score", (a) => a.scores.map((x) => `${x.source} ${num(x.score, 2)}${x.passed ? " ✓" : " ✗"}`).join(" · ")],
          ["Rate", (a) => [h("button", { type: "button", "aria-label": "Good answer", onclick: rate(a, "up") }, "👍"), " ", h("button", { type: "button", "aria-label": "Bad answer", onclick: rate(a, "down") }, "👎")]],
        ],
        s.attempts_list || [],
        "No attempts yet.",
      ),
    );
    return s.status === "running" || s.status === "created";
  }, 1500);
}

async function leaderboards(body, skill) {
  const c = await choices();
  const chosen = skill || (c.skills[0] && c.skills[0].name);
  const picker = h("select", { id: "lb-skill", onchange: (e) => (location.hash = `#/academy/leaderboards/${enc(e.target.value)}`) }, c.skills.map((s) => h("option", { value: s.name, selected: s.name === chosen }, s.name)));
  const board = chosen ? await get(`/v1/academy/leaderboards/${enc(chosen)}`) : { standings: [], graders: [] };
  clear(
    body,
    h("div", { class: "toolbar" }, h("label", { for: "lb-skill" }, "Skill "), picker),
    table(
      `Bradley-Terry ratings on ${chosen}`,
      [
        ["Contestant", (s) => s.contestant],
        ["Rating", (s) => num(s.rating, 1)],
        ["95% interval", (s) => `${num(s.low, 1)} – ${num(s.high, 1)}`],
        ["Wins", (s) => s.wins],
        ["Exercises", (s) => s.exercises],
      ],
      board.standings,
      "Nobody has been rated on this skill yet.",
    ),
    board.standings.length ? intervals(board.standings.map((s) => ({ label: s.contestant, value: s.rating, low: s.low, high: s.high })), { label: "Ratings with their intervals" }) : null,
    table("Graders", [["Grader", (g) => g.grader], ["Agreed", (g) => `${g.agreed}/${g.judged}`], ["Reputation", (g) => num(g.reputation, 2)]], board.graders, ""),
  );
  return null;
}

async function training(body, id) {
  if (id) return job(body, id);
  const [{ jobs }, c] = await Promise.all([get("/v1/academy/training"), choices()]);
  clear(
    body,
    table(
      "Training jobs",
      [
        ["Job", (j) => h("a", { href: `#/academy/training/${enc(j.job)}` }, j.job)],
        ["Persona", (j) => j.persona],
        ["Skill", (j) => j.skill],
        ["Status", (j) => j.status],
        ["Step", (j) => (j.progress && j.progress.steps ? `${j.progress.step}/${j.progress.steps}` : "—")],
        ["Layer", (j) => (j.layer ? h("a", { href: `#/layers/${enc(j.layer.split("@")[0])}` }, j.layer) : "—")],
      ],
      jobs.slice().reverse(),
      "No training jobs yet.",
    ),
    h("h2", {}, "Train a layer"),
    form(
      "Train a layer",
      [
        field("Persona", c.persona()),
        field("Skill", c.skill()),
        field("CPU-minutes", h("input", { name: "cpu_minutes", type: "number", min: 0.01, max: 10080, step: "any", value: 10 }), "the budget when the recipe chooses"),
        field("Steps", h("input", { name: "steps", type: "number", min: 1, max: 100000, placeholder: "recipe" }), "set any of these to choose yourself"),
        field("Batch", h("input", { name: "batch", type: "number", min: 1, max: 1024, placeholder: "recipe" })),
        field("Learning rate", h("input", { name: "learning_rate", type: "number", min: 0.00001, max: 1, step: "any", placeholder: "recipe" })),
      ],
      "Start training",
      async (v) => {
        const manual = {};
        for (const name of ["steps", "batch", "learning_rate"]) if (v[name] !== "") manual[name] = Number(v[name]);
        const body = { persona: v.persona, skill: v.skill, ...manual };
        if (!Object.keys(manual).length) body.cpu_minutes = Number(v.cpu_minutes);
        const started = await post("/v1/academy/training", body);
        location.hash = `#/academy/training/${enc(started.job)}`;
      },
    ),
  );
  return null;
}

function job(body, id) {
  return poll(async () => {
    const j = await get(`/v1/academy/training/${enc(id)}`);
    const p = j.progress || {};
    clear(
      body,
      h("h2", {}, `Training ${j.job}: ${j.persona} on ${j.skill}`),
      h("p", { class: `badge ${j.status}` }, j.status),
      h("progress", { max: p.steps || 1, value: p.step || 0, "aria-label": "Training steps done" }),
      h("p", {}, p.steps ? `step ${p.step} of ${p.steps}, loss ${num(p.loss, 4)}` : p.phase || "waiting to start…"),
      lineChart(p.losses || [], { label: `Loss of training job ${j.job}` }),
      (p.checks || j.checks || []).length
        ? h("p", {}, `Dev accuracy checks: ${(j.checks || p.checks).map(([step, score]) => `${step}: ${pct(score)}`).join(", ")}`)
        : null,
      j.plan
        ? h(
            "details",
            { open: j.status === "running" },
            h("summary", {}, `The recipe's plan: ${j.plan.hyperparameters.steps} steps, about ${num(j.plan.estimate_seconds / 60, 1)} min`),
            h("ul", {}, ...j.plan.reasons.map((r) => h("li", {}, r))),
            ...j.plan.warnings.map((w) => notice(w)),
          )
        : null,
      j.stopped ? h("p", {}, `Stopped after ${j.steps_done} steps: ${j.stopped}.`) : null,
      j.error ? notice(j.error) : null,
      j.layer
        ? h(
            "p",
            {},
            "Published ",
            h("a", { href: `#/layers/${enc(j.layer.split("@")[0])}` }, j.layer),
            `: dev accuracy ${pct(j.dev_before)} → ${pct(j.dev_after)} in ${num(j.seconds, 1)} s.`,
          )
        : null,
      h("details", {}, h("summary", {}, "Hyperparameters"), h("pre", {}, JSON.stringify(j.hyperparameters, null, 2))),
    );
    return j.status === "running" || j.status === "started";
  });
}

async function abtests(body, id) {
  if (id) return abtest(body, id);
  const [{ tests }, c] = await Promise.all([get("/v1/academy/abtests"), choices()]);
  clear(
    body,
    table(
      "A/B tests",
      [
        ["Test", (t) => h("a", { href: `#/academy/abtests/${enc(t.test)}` }, t.test)],
        ["Persona", (t) => t.persona],
        ["Skill", (t) => t.skill],
        ["Status", (t) => t.status],
        ["Verdict", (t) => (t.results ? t.results.map((r) => `${r.name}: ${r.verdict}`).join(", ") : "—")],
      ],
      tests.slice().reverse(),
      "No A/B tests yet.",
    ),
    h("h2", {}, "New A/B test"),
    form(
      "New A/B test",
      [
        field("Persona", c.persona()),
        field("Skill", c.skill()),
        field("Variant genome", h("input", { name: "variant", required: true, placeholder: "layer@1.0.0:1.0, another:0.5" }), "layers to test against the persona's own genome"),
        field("Exercises", h("input", { name: "exercises", type: "number", min: 1, max: 5000, value: 40 })),
      ],
      "Start test",
      async (v) => {
        const variant = v.variant.split(",").map((x) => x.trim()).filter(Boolean);
        const started = await post("/v1/academy/abtests", { persona: v.persona, skill: v.skill, variants: [variant], exercises: Number(v.exercises) });
        location.hash = `#/academy/abtests/${enc(started.test)}`;
      },
    ),
  );
  return null;
}

function abtest(body, id) {
  return poll(async () => {
    const t = await get(`/v1/academy/abtests/${enc(id)}`);
    clear(
      body,
      h("h2", {}, `A/B test ${t.test}: ${t.persona} on ${t.skill}`),
      h("p", {}, `${t.status} · ${t.method} test at α ${t.alpha} · up to ${t.exercises} exercises`),
      !t.results && t.progress && t.progress.done !== undefined ? h("p", {}, `evaluating ${t.progress.evaluating}: ${t.progress.done} done`) : null,
      h("p", {}, `Control: ${t.control.join(", ") || "base model"}`),
      table("Variants", [["Variant", ([n]) => n], ["Genome", ([, g]) => g.join(", ")]], Object.entries(t.variants)),
      t.results
        ? table(
            "Sequential verdict",
            [
              ["Variant", (r) => r.name],
              ["Verdict", (r) => h("strong", {}, r.verdict)],
              ["Accuracy", (r) => `${pct(r.accuracy)} vs ${pct(r.control_accuracy)}`],
              ["Only variant passed", (r) => r.variant_only],
              ["Only control passed", (r) => r.control_only],
              ["Exercises", (r) => r.exercises],
              ["Detail", (r) => r.detail],
            ],
            t.results,
          )
        : null,
      t.promoted ? h("p", {}, `Promoted ${t.promoted} into ${t.persona}'s genome.`) : null,
      t.error ? h("p", { class: "notice error", role: "alert" }, `Failed: ${t.error}`) : null,
    );
    return !t.results && t.status !== "failed";
  }, 1500);
}

async function evolution(body, id) {
  if (id) return run(body, id);
  const [{ runs }, c] = await Promise.all([get("/v1/academy/evolutions"), choices()]);
  clear(
    body,
    table(
      "Evolution runs",
      [
        ["Run", (r) => h("a", { href: `#/academy/evolution/${enc(r.run)}` }, r.run)],
        ["Skills", (r) => r.skills.join(", ")],
        ["Status", (r) => r.status],
        ["Generations", (r) => `${r.completed_generations}/${r.generations}`],
        ["Population", (r) => r.population],
      ],
      runs.slice().reverse(),
      "No evolution runs yet.",
    ),
    h("h2", {}, "Start an evolution run"),
    form(
      "Start an evolution run",
      [
        field("Skills", h("input", { name: "skills", required: true, value: c.skills.map((s) => s.name).slice(0, 1).join(",") }), "comma-separated"),
        field("Population", h("input", { name: "population", type: "number", min: 2, max: 256, value: 4 })),
        field("Generations", h("input", { name: "generations", type: "number", min: 1, max: 1000, value: 2 })),
        field("Training steps per mutation", h("input", { name: "train_steps", type: "number", min: 1, max: 10000, value: 10 })),
      ],
      "Start run",
      async (v) => {
        const started = await post("/v1/academy/evolutions", {
          skills: v.skills,
          population: Number(v.population),
          generations: Number(v.generations),
          train_steps: Number(v.train_steps),
          islands: 1,
        });
        location.hash = `#/academy/evolution/${enc(started.run)}`;
      },
    ),
  );
  return null;
}

function speciesChart(history) {
  // One stacked bar per generation: how many members each species had.
  const width = 560;
  const barH = 22;
  const colours = ["#1f6feb", "#d97706", "#059669", "#b91c1c", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f"];
  const rows = history.map((g, i) => {
    const counts = new Map();
    for (const m of g.members) counts.set(m.species, (counts.get(m.species) || 0) + 1);
    let x = 90;
    const total = g.members.length || 1;
    const parts = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([sp, n]) => {
      const w = ((width - 100) * n) / total;
      const rect = h("svg:rect", { x, y: 4 + i * (barH + 4), width: w, height: barH, fill: colours[sp % colours.length] }, h("svg:title", {}, `species ${sp}: ${n} members`));
      x += w;
      return rect;
    });
    return [h("svg:text", { x: 4, y: 20 + i * (barH + 4), class: "tick" }, `gen ${g.generation}`), parts];
  });
  return h(
    "svg:svg",
    { viewBox: `0 0 ${width} ${history.length * (barH + 4) + 8}`, role: "img", "aria-label": "Species per generation", class: "chart" },
    h("svg:title", {}, "Species per generation"),
    rows,
  );
}

function run(body, id) {
  const detail = h("div", { class: "member", "aria-live": "polite" });
  return poll(async () => {
    const r = await get(`/v1/academy/evolutions/${enc(id)}`);
    const history = r.history || [];
    const nodes = [];
    const edges = [];
    const seen = new Set();
    for (const g of history) {
      for (const m of g.members) {
        if (seen.has(m.member_id)) continue;
        seen.add(m.member_id);
        nodes.push({
          id: m.member_id,
          label: `${m.member_id} · ${num(m.fitness, 2)}`,
          title: `${m.origin}; fitness ${m.fitness}`,
          column: g.generation,
          onclick: () =>
            clear(
              detail,
              h("h3", {}, `Member ${m.member_id}`),
              h("p", {}, `Generation ${g.generation} · species ${m.species} · island ${m.island} · rank ${m.rank}`),
              h("p", {}, `Made by ${m.origin}; parents ${m.parents.join(", ") || "none"}`),
              table("Scores", [["Skill", ([k]) => k], ["Score", ([, v]) => num(v, 3)]], Object.entries(m.scores)),
              h("p", {}, `Fitness ${num(m.fitness, 3)}`),
            ),
        });
        for (const p of m.parents) edges.push([p, m.member_id]);
      }
    }
    const running = r.status === "running" || r.status === "started";
    clear(
      body,
      h("h2", {}, `Evolution ${r.run} on ${r.skills.join(", ")}`),
      h("p", {}, `${r.status} · generation ${r.completed_generations} of ${r.generations}${running && r.progress && r.progress.doing ? ` · ${r.progress.doing}` : ""}`),
      h("progress", { max: r.generations, value: r.completed_generations, "aria-label": "Generations done" }),
      r.champions ? h("p", {}, "Champions: ", Object.entries(r.champions).map(([skill, ref]) => [h("a", { href: `#/layers/${enc(ref.split("@")[0])}` }, ref), ` (${skill}) `])) : null,
      history.length ? [h("h3", {}, "Species over generations"), speciesChart(history), h("p", { class: "muted" }, "Each colour is a species; hover a bar for its size.")] : null,
      history.length ? [h("h3", {}, "Family tree (click a member)"), layeredGraph(nodes, edges, { label: "Family tree of the run", boxWidth: 170 })] : null,
      detail,
    );
    return running;
  }, 2000);
}
