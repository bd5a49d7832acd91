// A wallet key held by this browser, and signing the market's documents
// with it exactly as the CLI does (continuum.market.documents): Ed25519
// over the canonical JSON (keys sorted, no whitespace, UTF-8). The key is a
// 32-byte seed in the same base64 form as a `continuum publisher keygen`
// file, so a creator can import their key file here, or take this one to
// the CLI (--key). Signing uses the vendored TweetNaCl (window.nacl).

const KEY = "continuum.wallet";
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

function b64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

// RFC 4648 base32, lower case, no padding: how a key names a node or account.
export function base32(bytes) {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function keyPair() {
  const seed = localStorage.getItem(KEY);
  return seed ? window.nacl.sign.keyPair.fromSeed(unb64(seed)) : null;
}

export const wallet = {
  account() {
    const pair = keyPair();
    return pair ? base32(pair.publicKey) : null;
  },
  create() {
    localStorage.setItem(KEY, b64(window.nacl.randomBytes(32)));
    return this.account();
  },
  // The text of a key file: base64 of a 32-byte seed.
  import(text) {
    let seed;
    try {
      seed = unb64(text.trim());
    } catch {
      throw new Error("the key file is not base64");
    }
    if (seed.length !== 32) throw new Error(`a key is 32 bytes, this file holds ${seed.length}`);
    localStorage.setItem(KEY, b64(seed));
    return this.account();
  },
  exportText() {
    const seed = localStorage.getItem(KEY);
    return seed ? `${seed}\n` : null;
  },
  forget() {
    localStorage.removeItem(KEY);
  },
  // {document, signature}, as the market's routes take it.
  sign(document) {
    const pair = keyPair();
    if (!pair) throw new Error("no wallet key in this browser: create or import one first");
    const bytes = new TextEncoder().encode(canonical(document));
    return { document, signature: b64(window.nacl.sign.detached(bytes, pair.secretKey)) };
  },
};

export const now = () => Math.floor(Date.now() / 1000);

export function newId(prefix) {
  const bytes = window.nacl.randomBytes(16);
  return `${prefix}-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
