// The marketplace: browse and search listings, a listing with its
// reputation and evidence, buy or rent, list your own layer, rate, and the
// wallet held by this browser with its statement. Orders, offers and
// ratings are signed here (wallet.js); the node never sees the key.

import { get, post, query } from "./api.js";
import { clear, field, form, h, notice, num, pct, short, table, when } from "./dom.js";
import { found } from "./found.js";
import { app, isAdmin } from "./state.js";
import { newId, now, wallet } from "./wallet.js";

const enc = encodeURIComponent;
const credits = (units) => (units === null || units === undefined ? "—" : (units / 100).toFixed(2));
const toUnits = (text) => {
  const value = Number(text || 0);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${text} is not a number of credits`);
  return Math.round(value * 100);
};

function terms(t, free) {
  if (free) return "free";
  const parts = [];
  if (t.price) parts.push(`${credits(t.price)} to buy`);
  if (t.per_use) parts.push(`${credits(t.per_use)}/use`);
  if (t.rent) parts.push(`${credits(t.rent)} per ${t.period_days} days`);
  return parts.join(" · ");
}

function listingTable(caption, rows) {
  return table(
    caption,
    [
      ["Layer", (l) => h("a", { href: `#/market/${enc(l.layer)}` }, `${l.layer}@${l.version}`)],
      ["What it does", (l) => l.description],
      ["Terms", (l) => terms(l.terms, l.free)],
      ["Reputation", (l) => `${num(l.reputation.score, 2)} (${l.reputation.ratings.voters} raters)`],
      ["Creator", (l) => h("span", { class: "mono" }, short(l.creator))],
      ["Relevance", (l) => (l.rank !== undefined ? num(l.rank, 3) : l.similarity !== undefined ? num(l.similarity, 3) : "")],
    ],
    rows,
    "No listings.",
  );
}

function walletPanel(refresh) {
  const box = h("section", { class: "wallet", "aria-label": "Your wallet" });
  const render = async () => {
    const account = wallet.account();
    if (!account) {
      const file = h("input", { type: "file", id: "wallet-file", accept: ".key,text/plain" });
      file.addEventListener("change", async () => {
        try {
          wallet.import(await file.files[0].text());
          render();
          refresh();
        } catch (err) {
          box.append(notice(err.message));
        }
      });
      return clear(
        box,
        h("h2", {}, "Your wallet"),
        h("p", {}, "This browser holds no wallet key yet. A key signs your orders, offers and ratings; it never leaves the browser."),
        h("button", { type: "button", onclick: () => { wallet.create(); render(); refresh(); } }, "Create a wallet key"),
        " ",
        h("label", { for: "wallet-file" }, "or import a key file (continuum publisher keygen) "),
        file,
      );
    }
    const [balance, statement] = await Promise.all([
      get(`/v1/market/wallets/${account}`),
      get(query(`/v1/market/wallets/${account}/statement`, { limit: 50 })),
    ]);
    const download = () => {
      const url = URL.createObjectURL(new Blob([wallet.exportText()], { type: "text/plain" }));
      const a = h("a", { href: url, download: "wallet.key" });
      document.body.append(a);
      a.click();
      a.remove();
      URL.revokeObjectURL(url);
    };
    clear(
      box,
      h("h2", {}, "Your wallet"),
      h("p", {}, "Account ", h("span", { class: "mono", id: "wallet-account" }, account)),
      h("p", { class: "balance" }, "Balance ", h("strong", { id: "wallet-balance" }, balance.balance), " credits"),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: download }, "Download the key"),
        h("button", { type: "button", onclick: () => { if (confirm("Forget this browser's wallet key? Download it first to keep it.")) { wallet.forget(); render(); } } }, "Forget the key"),
      ),
      table(
        "Statement",
        [
          ["When", (e) => when(e.at)],
          ["Kind", (e) => e.kind],
          ["Layer", (e) => e.layer || "—"],
          ["Amount", (e) => e.amount],
          ["Memo", (e) => e.memo || ""],
        ],
        statement.lines,
        "No entries yet.",
      ),
      isAdmin()
        ? form(
            "Grant credits (admin)",
            [
              field("Account", h("input", { name: "account", required: true, value: account, pattern: "[a-z2-7]{52}|platform" })),
              field("Credits", h("input", { name: "credits", required: true, pattern: "[0-9]{1,10}(\\.[0-9]{1,2})?", value: "10" })),
              field("Reason", h("input", { name: "reason", required: true, value: "top-up from the web app" })),
            ],
            "Grant",
            async (v) => {
              await post("/v1/market/grants", { account: v.account, credits: v.credits, reason: v.reason, id: newId("grant") });
              await render();
              return `Granted ${v.credits} credits.`;
            },
          )
        : null,
    );
  };
  render().catch((err) => clear(box, notice(err.message)));
  return { box, render };
}

export async function marketPage(_, main) {
  const results = h("div");
  const mine = h("div");
  const { listings } = await get("/v1/market/listings");
  const panel = walletPanel(() => renderSell());

  async function renderSell() {
    const account = wallet.account();
    if (!account) return clear(mine);
    const { layers } = await get("/v1/genome/layers");
    const own = layers.filter((l) => l.creator === account);
    if (!own.length) return clear(mine, h("h2", {}, "List your layer"), h("p", { class: "muted" }, "No published layer was signed by this wallet's key: import the key you published with to list your layers."));
    clear(
      mine,
      h("h2", {}, "List your layer"),
      form(
        "List your layer",
        [
          field("Layer", h("select", { name: "layer" }, own.map((l) => h("option", { value: l.id }, `${l.id}@${l.latest}`)))),
          field("Price to buy (credits)", h("input", { name: "price", type: "number", min: 0, step: 0.01, value: 0 })),
          field("Per use (credits)", h("input", { name: "per_use", type: "number", min: 0, step: 0.01, value: 0 })),
          field("Rent (credits per period)", h("input", { name: "rent", type: "number", min: 0, step: 0.01, value: 0 })),
          field("Rental period (days)", h("input", { name: "period_days", type: "number", min: 1, max: 3650, value: 30 })),
          field("Licence", h("input", { name: "license", maxlength: 64, placeholder: "default: the manifest's" })),
        ],
        "List it",
        async (v) => {
          const offer = {
            type: "offer",
            action: "list",
            layer: v.layer,
            version: "latest",
            terms: { price: toUnits(v.price), per_use: toUnits(v.per_use), rent: toUnits(v.rent), period_days: Number(v.period_days) },
            creator: account,
            at: now(),
          };
          if (v.license.trim()) offer.license = v.license.trim();
          const listed = await post("/v1/market/listings", wallet.sign(offer));
          location.hash = `#/market/${enc(listed.layer || v.layer)}`;
        },
      ),
    );
  }

  clear(
    main,
    h("h1", {}, "Marketplace"),
    form("Search the market", [field("What should the layer do?", h("input", { name: "q", required: true }))], "Search", async (v) => {
      const found = await get(query("/v1/market/search", { q: v.q, k: 20 }));
      clear(results, listingTable("Search results, best first", found.results));
      return `${found.results.length} found.`;
    }),
    results,
    listingTable("Listings, newest first", listings),
    panel.box,
    mine,
  );
  renderSell();
  return null;
}

export async function listingPage([layer], main) {
  const l = await found(main, `/v1/market/listings/${enc(layer)}`, "Not on the market", ["#/market", "The market"]);
  if (l === null) return null;
  const r = l.reputation;
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const panel = walletPanel(() => {});

  async function order(kind) {
    status.className = "status";
    status.textContent = "Signing and sending the order…";
    try {
      const account = wallet.account();
      if (!account) throw new Error("create or import a wallet key first (below)");
      const maxUnits = kind === "buy" ? l.terms.price : l.terms.rent;
      const doc = { type: "order", id: newId("order"), kind, layer: l.layer, account, node: app.node.node_id, max_units: maxUnits, at: now() };
      const done = await post("/v1/market/orders", wallet.sign(doc));
      status.textContent = `Licensed ${done.licence.layer} on this node: paid ${done.charged}; balance ${done.balance}.`;
      await panel.render();
    } catch (err) {
      status.className = "status error";
      status.textContent = err.message;
    }
  }

  const mineToo = wallet.account() === l.creator;
  clear(
    main,
    h("h1", {}, `${l.layer}@${l.version}`),
    h("p", {}, l.description),
    l.withdrawn ? notice("Withdrawn: no new licences.", "info") : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Terms"), h("dd", {}, terms(l.terms, l.free)),
      h("dt", {}, "Licence"), h("dd", {}, l.license),
      h("dt", {}, "Creator"), h("dd", { class: "mono" }, l.creator),
      h("dt", {}, "Weights on"), h("dd", { class: "mono" }, short(l.node, 20)),
      h("dt", {}, "Listed"), h("dd", {}, when(l.listed_at)),
      h("dt", {}, "Uses"), h("dd", {}, `${l.uses_7d ?? 0} this week, ${l.uses_prev_7d ?? 0} the week before`),
      h("dt", {}, "Layer"), h("dd", {}, h("a", { href: `#/layers/${enc(l.layer)}` }, "manifest and lineage")),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => order("buy"), disabled: l.withdrawn }, l.free ? "Get it (free)" : `Buy for ${credits(l.terms.price)}`),
      l.terms.rent ? h("button", { type: "button", onclick: () => order("rent"), disabled: l.withdrawn }, `Rent for ${credits(l.terms.rent)}`) : null,
    ),
    status,
    h("h2", {}, "Reputation"),
    h("p", { class: "score" }, `Score ${num(r.score, 3)} (the lower bound of what the evidence supports), from evidence of weight ${num(r.weight, 1)}`),
    table(
      "Evidence",
      [
        ["Source", (e) => e[0]],
        ["What it says", (e) => e[1]],
      ],
      [
        ["Ratings", `${r.ratings.voters} raters, mean ${num(r.ratings.mean, 2)}, consensus ${num(r.ratings.consensus, 2)}`],
        ["Academy", r.academy === null ? "no scores yet" : `${pct(r.academy)} over ${num(r.academy_observations, 1)} observations`],
        ["Retention", r.retention === null ? "—" : pct(r.retention)],
        ["Holders", String(r.holders)],
      ],
    ),
    h("h2", {}, "Lineage (royalties go up it)"),
    table("Lineage", [["Layer", (a) => a.layer], ["Creator", (a) => h("span", { class: "mono" }, short(a.creator))], ["Parents", (a) => a.parents.join(", ") || "—"]], l.lineage),
    h("h2", {}, "Rate it"),
    form(
      "Rate this layer",
      [field("Score (0 bad – 1 good)", h("input", { name: "score", type: "number", min: 0, max: 1, step: 0.1, value: 0.8 }))],
      "Send rating",
      async (v) => {
        const doc = { type: "rating", layer: l.layer, rater: wallet.account(), node: app.node.node_id, score: Number(v.score), at: now() };
        if (!doc.rater) throw new Error("create or import a wallet key first (below)");
        await post("/v1/market/ratings", wallet.sign(doc));
        return "Rating recorded.";
      },
    ),
    mineToo
      ? h(
          "button",
          {
            type: "button",
            onclick: async () => {
              const doc = { type: "offer", action: "delist", layer: l.layer, version: "latest", creator: l.creator, at: now() };
              await post(`/v1/market/listings/${enc(l.layer)}/withdraw`, wallet.sign(doc));
              location.reload();
            },
          },
          "Withdraw my listing",
        )
      : null,
    panel.box,
  );
  return null;
}
