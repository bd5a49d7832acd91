// Rooms: the list, and a room live: messages as they are generated, who is
// generating, preemptions, and why each persona got its turn.

import { follow, get, post, api, query } from "./api.js";
import { clear, field, form, h, notice, num, table, when } from "./dom.js";
import { found } from "./found.js";
import { app, isAdmin, traceLink } from "./state.js";

const enc = encodeURIComponent;
const MAX_MESSAGE_CHARS = 8000;

export async function roomsPage(_, main) {
  const { rooms } = await get("/v1/rooms");
  clear(
    main,
    h("h1", {}, "Rooms"),
    table(
      "Rooms on this node",
      [
        ["Room", (r) => h("a", { href: `#/rooms/${enc(r.room_id)}` }, r.name)],
        ["Topic", (r) => r.topic],
        ["Members", (r) => r.members],
        ["Messages", (r) => r.messages],
        ["Last message", (r) => when(r.last_message_at)],
      ],
      rooms,
      "No rooms yet: create one below.",
    ),
    h("h2", {}, "Create a room"),
    form(
      "Create a room",
      [
        field("Id", h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9_-]{0,63}" }), "lower-case letters, digits, - and _"),
        field("Name", h("input", { name: "name", maxlength: 128 })),
        field("Topic", h("input", { name: "topic", maxlength: 1000 })),
        field("Personas", h("input", { name: "personas", placeholder: "all, or ids separated by commas" }), "who sits in the room from the start"),
      ],
      "Create room",
      async (v) => {
        const body = { id: v.id.trim(), topic: v.topic };
        if (v.name.trim()) body.name = v.name.trim();
        const personas = v.personas.split(",").map((p) => p.trim()).filter(Boolean);
        if (personas.length) body.personas = personas;
        const room = await post("/v1/rooms", body);
        location.hash = `#/rooms/${enc(room.room_id || body.id)}`;
      },
    ),
  );
}

// The member id the gateway gives this token's messages (chat.human_id).
function humanId() {
  const slug = app.me.name.replace(/[^A-Za-z0-9_.@-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100);
  return `human-${slug || "someone"}`;
}

export async function roomPage([roomId], main) {
  const room = await found(main, `/v1/rooms/${enc(roomId)}`, "Room not found", ["#/rooms", "All rooms"]);
  if (room === null) return null;
  const messages = new Map(); // message_id -> its <li>
  const generating = new Map(); // message_id -> persona name
  // Not a live region itself (every streamed piece would be read out): a
  // finished message is announced once, through `announce`.
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const announce = h("p", { class: "sr-only", "aria-live": "polite" });
  const activity = h("p", { class: "activity", role: "status" });
  const connection = h("span", { class: "connection", role: "status" }, "connecting…");
  const members = h("ul", { class: "members", "aria-label": "Members" });
  const whyPanel = h("aside", { class: "why", "aria-label": "Why this persona spoke", hidden: true });
  let stream = null;
  let updateJoin = () => {};
  let renderMentions = () => {};

  function showActivity() {
    const names = [...generating.values()];
    activity.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} generating…` : "";
  }

  function renderMembers() {
    updateJoin();
    renderMentions();
    clear(
      members,
      room.members.map((m) =>
        h("li", { class: m.kind }, m.kind === "persona" ? h("a", { href: `#/personas/${enc(m.member_id)}` }, m.name) : m.name),
      ),
    );
  }

  function messageItem(m) {
    const text = h("div", { class: "text" }, m.text);
    const meta = h(
      "div",
      { class: "meta" },
      h("strong", { class: "author" }, m.author_name),
      " ",
      h("time", {}, when(m.posted_at)),
      m.status && m.status !== "complete" ? h("span", { class: `badge ${m.status}` }, m.status) : null,
      m.error ? h("span", { class: "badge failed", title: m.error }, "error") : null,
      m.author_kind === "persona" && m.status !== "generating"
        ? h("button", { type: "button", class: "link", onclick: () => showWhy(m.message_id) }, "why?")
        : null,
      m.trace_id ? traceLink(m.trace_id) : null,
    );
    const mentioned = (m.mentions || []).length ? h("div", { class: "mentioned" }, `mentions ${m.mentions.join(", ")}`) : null;
    return h("li", { class: `message ${m.author_kind}`, "data-id": m.message_id }, meta, text, mentioned);
  }

  // Follow the conversation while the reader is at its end; stay put when
  // they scrolled up to read something.
  function following(change) {
    const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    change();
    if (atEnd) list.scrollTop = list.scrollHeight;
  }

  function upsert(m) {
    following(() => {
      const item = messageItem(m);
      const old = messages.get(m.message_id);
      if (old) old.replaceWith(item);
      else list.append(item);
      messages.set(m.message_id, item);
    });
  }

  // The room is gone (closed while open, or no longer found): say so, stop.
  function closed(text) {
    connection.className = "connection gone";
    connection.textContent = "closed";
    main.querySelector(".room-head").after(notice(text, "info"));
    for (const el of main.querySelectorAll(".composer textarea, .composer button, .mentions button, .room-head button")) el.disabled = true;
  }

  function note(text, trace) {
    following(() => list.append(h("li", { class: "note" }, text, trace ? [" ", traceLink(trace)] : null)));
  }

  async function showWhy(messageId) {
    whyPanel.hidden = false;
    clear(whyPanel, h("p", {}, "Loading…"));
    try {
      const why = await get(`/v1/messages/${enc(messageId)}/why`);
      const decisions = why.decisions || [];
      clear(
        whyPanel,
        h("h2", {}, `Why ${why.message.author_name} spoke`),
        h("button", { type: "button", class: "close", onclick: () => (whyPanel.hidden = true), "aria-label": "Close" }, "×"),
        decisions.length ? null : h("p", {}, "No turn decision is recorded for this message."),
        decisions.map((d) =>
          h(
            "section",
            {},
            h("p", {}, h("strong", {}, "Decision: "), d.reason, ` (${d.policy}, window ${num(d.window_ms, 0)} ms)`),
            table(
              "Every bid",
              [
                ["Persona", (b) => b.bid.name],
                ["Score", (b) => num(b.score)],
                ["Confidence", (b) => num(b.bid.confidence)],
                ["Priority", (b) => b.bid.priority],
                ["Won", (b) => (b.won ? "yes" : "")],
                ["Reason", (b) => b.reason],
                ["Rationale", (b) => b.bid.rationale],
              ],
              d.bids,
              "No bids.",
            ),
            d.missing && d.missing.length ? h("p", {}, `Did not bid in time: ${d.missing.join(", ")}`) : null,
          ),
        ),
      );
    } catch (err) {
      clear(whyPanel, notice(err.message));
    }
  }

  function onItem(item) {
    if (item.kind === "delta" || item.kind === "working") {
      const member = room.members.find((m) => m.member_id === item.persona_id);
      const name = item.name || (member && member.name) || item.persona_id;
      if (!generating.has(item.message_id)) {
        generating.set(item.message_id, name);
        showActivity();
      }
      if (item.kind === "delta") {
        let li = messages.get(item.message_id);
        if (!li) {
          upsert({
            message_id: item.message_id,
            author_name: name,
            author_kind: "persona",
            text: "",
            status: "generating",
          });
          li = messages.get(item.message_id);
        }
        following(() => li.querySelector(".text").append(item.text || ""));
      }
      return;
    }
    if (item.kind !== "event") return;
    const ev = item.event;
    const data = ev.data || {};
    const type = ev.type.replace(/^continuum\.chat\./, "").replace(/\.v\d+$/, "");
    if (type === "room.message_posted") {
      generating.delete(data.message_id);
      showActivity();
      upsert({ ...data, posted_at: ev.time, trace_id: item.trace_id });
      announce.textContent = `${data.author_name}: ${data.text.slice(0, 300)}`;
    } else if (type === "turn.decided") {
      const names = data.winners.map((w) => (data.bids.find((b) => b.bid.persona_id === w) || { bid: { name: w } }).bid.name);
      note(names.length ? `${names.join(", ")} got the turn: ${data.reason}` : `Nobody spoke: ${data.reason}`, item.trace_id);
    } else if (type === "turn.preempted") {
      note(`Preempted (${data.action}): ${data.persona_id}: ${data.reason}`, item.trace_id);
    } else if (type === "turn.ended") {
      if (data.message_id) generating.delete(data.message_id);
      for (const [id] of generating) if (id === data.message_id) generating.delete(id);
      showActivity();
      if (data.outcome !== "complete") note(`${data.persona_id}'s turn ended: ${data.outcome}${data.reason ? ` (${data.reason})` : ""}`);
    } else if (type === "room.member_joined") {
      if (!room.members.some((m) => m.member_id === data.member_id)) room.members.push({ ...data });
      renderMembers();
    } else if (type === "room.member_left") {
      room.members = room.members.filter((m) => m.member_id !== data.member_id);
      renderMembers();
    } else if (type === "room.closed") {
      stream.close();
      generating.clear();
      showActivity();
      closed(`This room was closed by ${data.closed_by}.`);
    } else if (type === "room.policy_changed") {
      room.policy = data.policy;
      note(`Policy changed by ${data.changed_by}.`);
    }
  }

  // History first, then the live stream from the last event it covered.
  let history = [];
  for (let after = 0; ; ) {
    const page = (await get(query(`/v1/rooms/${enc(roomId)}/messages`, { after, limit: 500 }))).messages;
    history = history.concat(page).slice(-200);
    if (page.length < 500) break;
    after = page[page.length - 1].seq;
  }
  history.forEach(upsert);
  const lastSeq = history.length ? history[history.length - 1].seq : null;

  const text = h("textarea", {
    name: "text",
    rows: 2,
    maxlength: MAX_MESSAGE_CHARS,
    required: true,
    placeholder: "Say something; @mention a persona to ask it directly",
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      text.form.requestSubmit();
    }
  });
  const composer = form("Send a message", [field("Message", text)], "Send", async (v) => {
    if (v.text.length > MAX_MESSAGE_CHARS) throw new Error(`a message holds at most ${MAX_MESSAGE_CHARS} characters`);
    await post(`/v1/rooms/${enc(roomId)}/messages`, { text: v.text });
    text.value = "";
    return "";
  });
  composer.classList.add("composer");
  // Mentions: one button per persona puts "@id " in the message.
  const mentions = h("div", { class: "mentions", role: "group", "aria-label": "Mention a persona" });
  renderMentions = () =>
    clear(
      mentions,
      room.members
        .filter((m) => m.kind === "persona")
        .map((m) =>
          h(
            "button",
            {
              type: "button",
              class: "chip",
              "aria-label": `mention ${m.name}`,
              onclick: () => {
                text.value = `${text.value.replace(/\s*$/, "")}${text.value.trim() ? " " : ""}@${m.member_id} `;
                text.focus();
              },
            },
            `@${m.name}`,
          ),
        ),
    );

  const joined = () => room.members.some((m) => m.member_id === humanId());
  const joinButton = h("button", {
    type: "button",
    onclick: async () => {
      try {
        if (joined()) await api("DELETE", `/v1/rooms/${enc(roomId)}/members/${enc(humanId())}`);
        else await post(`/v1/rooms/${enc(roomId)}/members`, { member_id: humanId(), kind: "human", name: app.me.name });
      } catch (err) {
        activity.textContent = err.message;
      }
    },
  });
  updateJoin = () => (joinButton.textContent = joined() ? "Leave room" : "Join room");
  const closeButton = isAdmin() && roomId !== "lobby"
    ? h("button", {
        type: "button",
        onclick: async () => {
          if (!confirm(`Close ${room.name}? Nobody can post in it again.`)) return;
          try {
            await api("DELETE", `/v1/rooms/${enc(roomId)}`);
          } catch (err) {
            activity.textContent = err.message;
          }
        },
      }, "Close room")
    : null;

  clear(
    main,
    h(
      "div",
      { class: "room-head" },
      h("h1", {}, room.name),
      connection,
      joinButton,
      closeButton,
    ),
    room.topic ? h("p", { class: "topic" }, room.topic) : null,
    h(
      "div",
      { class: "room" },
      h("section", { class: "conversation", "aria-label": "Conversation" }, list, announce, activity, mentions, composer),
      h(
        "div",
        { class: "side" },
        h("h2", {}, "Members"),
        members,
        policyEditor(room, roomId),
      ),
    ),
    whyPanel,
  );
  renderMembers();

  stream = follow(`/v1/rooms/${enc(roomId)}/stream`, {
    lastEventId: lastSeq ? `EVT_CHAT:${lastSeq}` : null,
    onItem,
    onState(state, detail) {
      connection.className = `connection ${state}`;
      connection.textContent = {
        connecting: "connecting…",
        live: "live",
        lost: `reconnecting… (${detail || "connection lost"})`,
        gone: `stopped: ${detail}`,
      }[state];
      if (state === "gone") closed(detail);
    },
  });
  return () => stream && stream.close();
}

function policyEditor(room, roomId) {
  const p = room.policy;
  const numberInput = (name, attrs) => h("input", { name, type: "number", value: p[name], ...attrs });
  return h(
    "details",
    { class: "policy" },
    h("summary", {}, "Room policy"),
    form(
      "Room policy",
      [
        field(
          "Policy",
          h("select", { name: "policy" }, ["best-bid", "top-k", "round-robin"].map((o) => h("option", { value: o, selected: o === p.policy }, o))),
        ),
        field("Speakers (top-k)", numberInput("k", { min: 1, max: 16 })),
        field("Bid window (ms)", numberInput("window_ms", { min: 10, max: 30000 })),
        field(
          "Preemption",
          h("select", { name: "preemption" }, ["interrupt", "queue", "reject"].map((o) => h("option", { value: o, selected: o === p.preemption }, o))),
        ),
        field("Minimum confidence", numberInput("min_confidence", { min: 0, max: 1, step: 0.01 })),
        field("Persona turns in a row", numberInput("max_persona_chain", { min: 1, max: 100 })),
        field("Turns per minute", numberInput("turns_per_minute", { min: 0, max: 10000 })),
      ],
      "Save policy",
      async (v) => {
        const policy = { ...p };
        for (const [k, value] of Object.entries(v)) policy[k] = ["policy", "preemption"].includes(k) ? value : Number(value);
        const saved = await api("PUT", `/v1/rooms/${enc(roomId)}/policy`, policy);
        Object.assign(p, saved.policy || policy);
        return "Policy saved.";
      },
    ),
  );
}
