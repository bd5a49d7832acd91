// The public HTTP API, as any client uses it: a bearer token in the
// Authorization header (never in a URL), JSON in and out, and live streams
// read with fetch so the token stays in a header there too.

const TOKEN_KEY = "continuum.token";

export const session = {
  token: () => localStorage.getItem(TOKEN_KEY),
  set: (token) => localStorage.setItem(TOKEN_KEY, token),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const token = session.token();
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    const error = body.error || body;
    if (error.message) message = error.message;
    if (Array.isArray(error.details) && error.details.length) {
      message += `: ${error.details.map((d) => d.message || JSON.stringify(d)).join("; ")}`;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("continuum:signed-out", { detail: message }));
  return new ApiError(response.status, message);
}

export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the node did not answer (${err.message}); is it running?`);
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);

export function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.append(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// Follow a Server-Sent Events stream; on a lost connection, reconnect with
// the last event id seen so nothing in between is missed. `onItem(data, id)`
// gets each frame's JSON; `onState(state, detail)` hears connecting, live,
// lost and gone (a 4xx: the thing followed is not there, or the token is not
// good any more; no reconnecting then).
export function follow(path, { onItem, onState = () => {}, lastEventId = null, retryMs = 1000 }) {
  let stopped = false;
  let controller = null;
  let last = lastEventId;
  let wait = retryMs; // doubles while the node stays away, up to 15 s

  async function once() {
    controller = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (last) extra["Last-Event-ID"] = last;
    onState("connecting");
    const response = await fetch(path, { headers: headers(extra), signal: controller.signal });
    if (!response.ok) {
      const err = await failure(response);
      if (response.status >= 400 && response.status < 500) {
        onState("gone", err.message);
        stopped = true;
        return;
      }
      throw err;
    }
    onState("live");
    wait = retryMs;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = line.slice(4);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (id) last = id;
        if (data.length) {
          try {
            onItem(JSON.parse(data.join("\n")), id);
          } catch (err) {
            console.error("stream frame", err);
          }
        }
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (err) {
        if (stopped) break;
        onState("lost", err.message);
      }
      if (stopped) break;
      onState("lost", "the connection closed");
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 15000);
    }
  })();

  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
    },
    get lastEventId() {
      return last;
    },
  };
}
