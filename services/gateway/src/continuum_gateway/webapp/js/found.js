// Opening one thing by its address: what a page shows when it is not there
// (a wrong link, or closed, retired or delisted since) instead of an error.

import { get } from "./api.js";
import { clear, h, notice } from "./dom.js";

// The thing at `path`, or null once `main` says it was not found.
export async function found(main, path, title, back) {
  try {
    return await get(path);
  } catch (err) {
    if (err.status !== 404) throw err;
    clear(main, h("h1", {}, title), notice(err.message), h("a", { href: back[0] }, back[1]));
    return null;
  }
}
