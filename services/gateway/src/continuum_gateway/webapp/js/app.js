// The web app's shell: sign-in, the sections and the router. Every page is
// a function (params, main) that fills `main` and may return a cleanup.

import { get, post, session } from "./api.js";
import { clear, field, form, h, notice } from "./dom.js";
import { academyPage } from "./academy.js";
import { eventsPage } from "./events.js";
import { layerPage, layersPage } from "./layers.js";
import { listingPage, marketPage } from "./market.js";
import { meshPage } from "./mesh.js";
import { personaPage, personasPage } from "./personas.js";
import { roomPage, roomsPage } from "./rooms.js";
import { app } from "./state.js";

const routes = [
  [/^\/rooms$/, roomsPage],
  [/^\/rooms\/([^/]+)$/, roomPage],
  [/^\/personas$/, personasPage],
  [/^\/personas\/([^/]+)$/, personaPage],
  [/^\/layers$/, layersPage],
  [/^\/layers\/([^/]+)$/, layerPage],
  [/^\/academy(?:\/([a-z]+))?(?:\/([^/]+))?$/, academyPage],
  [/^\/market$/, marketPage],
  [/^\/market\/([^/]+)$/, listingPage],
  [/^\/mesh$/, meshPage],
  [/^\/events$/, eventsPage],
];

const main = document.getElementById("main");
let cleanup = null;

function signInPage(reason) {
  const input = h("input", { name: "token", type: "password", autocomplete: "off", required: true });
  clear(
    main,
    h("h1", {}, "Sign in"),
    reason ? notice(reason) : null,
    h(
      "p",
      {},
      "Paste an API token (the node's admin token is in ~/.continuum/admin.token), or run ",
      h("code", {}, "continuum ui"),
      " for a one-time sign-in link.",
    ),
    form(
      "Sign in",
      [field("API token", input)],
      "Sign in",
      async (values) => {
        session.set(values.token.trim());
        try {
          await start();
        } catch (err) {
          session.clear();
          throw err;
        }
        return "Signed in.";
      },
    ),
  );
  input.focus();
}

function renderWho() {
  const who = document.getElementById("who");
  if (!app.me) return clear(who);
  clear(
    who,
    h("span", {}, `${app.me.name} · ${app.node.name}`),
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          session.clear();
          app.me = null;
          renderWho();
          signInPage("Signed out.");
        },
      },
      "Sign out",
    ),
  );
}

async function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page's cleanup never blocks the next page */
    }
    cleanup = null;
  }
  if (!app.me) return;
  const path = decodeURIComponent(location.hash.replace(/^#/, "")) || "/rooms";
  for (const link of document.querySelectorAll("#nav a")) {
    const here = path.startsWith(link.getAttribute("href").slice(1));
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, page] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    clear(main, h("p", { class: "loading" }, "Loading…"));
    try {
      cleanup = (await page(match.slice(1), main)) || null;
    } catch (err) {
      if (!app.me) return; // signed out on the way (a 401): the sign-in page says why
      clear(main, h("h1", {}, "Something went wrong"), notice(err.message || String(err)));
    }
    main.focus({ preventScroll: true });
    return;
  }
  clear(main, h("h1", {}, "Not found"), notice(`Nothing lives at ${path}.`), h("a", { href: "#/rooms" }, "Rooms"));
}

async function start() {
  app.me = await get("/v1/whoami");
  app.node = await get("/v1/node");
  renderWho();
  await route();
}

// A one-time link (`continuum ui`) carries its code in the fragment, which
// no server sees; it is traded for a token and wiped from the address bar.
async function redeemLink() {
  const match = location.hash.match(/^#signin=([A-Za-z0-9_-]+)$/);
  if (!match) return null;
  history.replaceState(null, "", `${location.pathname}#/rooms`);
  try {
    const issued = await post("/v1/signin", { code: match[1] });
    session.set(issued.token);
    return null;
  } catch (err) {
    return err.message;
  }
}

window.addEventListener("hashchange", async () => {
  if (!location.hash.startsWith("#signin=")) return route();
  await boot(); // a link opened in a tab that was already here
});
window.addEventListener("continuum:signed-out", (event) => {
  if (!app.me) return;
  app.me = null;
  session.clear();
  renderWho();
  signInPage(event.detail);
});

async function boot() {
  const linkError = await redeemLink();
  if (linkError) return signInPage(linkError);
  if (!session.token()) return signInPage();
  try {
    await start();
  } catch (err) {
    session.clear();
    signInPage(err.message);
  }
}

boot();
