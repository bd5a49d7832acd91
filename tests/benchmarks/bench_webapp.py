"""Web app benchmark: how late a generated piece reaches the page, and how
long the app takes to load, each against a baseline in the same run.

(a) Piece to page: a persona streams from an OpenAI-compatible server (an
    in-process test server, 60 pieces, 20 ms apart) into a room. For every
    piece, the time the server sent it is the origin; measured are when it
    reached a raw SSE client of the room stream (httpx, the baseline) and
    when it was in the web app's DOM in Chromium (a MutationObserver's
    timestamp). Both clocks are this machine's wall clock.
(b) Load: a signed-in browser navigating to the rooms page until its table
    is drawn, against one GET /v1/rooms by httpx (the data the page needs);
    with the bytes the page transferred.

Usage: python tests/benchmarks/bench_webapp.py [--samples N] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench_common import write_section
from bench_thoughtstream import ROOT, Node
from rich.console import Console

from continuum.testing.browser import chromium
from continuum_lm import builtin
from continuum_persona.testing.wire import Script, WireServer

console = Console()
TINY = ROOT / ".bench-cache" / "model-tiny"
PIECES = 60


class TimedWire(WireServer):
    """The test server, noting when it sent each piece (wall clock, ms)."""

    sent_at: dict[int, float]

    async def _pieces(self, request: Any) -> AsyncIterator[tuple[int, str]]:
        async for i, piece in super()._pieces(request):
            self.sent_at[i] = time.time() * 1000
            yield i, piece


def url(node: Node) -> str:
    return f"http://127.0.0.1:{node.port}"


def marker(i: int) -> str:
    return f"w{i:03d} "


async def raw_arrivals(api: httpx.AsyncClient, room: str, out: dict[int, float]) -> None:
    async with api.stream("GET", f"/v1/rooms/{room}/stream") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                item = json.loads(line[6:])
                text = item.get("text") or ""
                if item.get("kind") == "delta" and text.startswith("w"):
                    out.setdefault(int(text[1:4]), time.time() * 1000)


# Timestamps the newest persona message's text at every change, counting
# only a message that appears after this starts (not the last generation's).
OBSERVE = """() => {
  const before = document.querySelectorAll('.message.persona').length;
  window.marks = [];
  if (window.watcher) window.watcher.disconnect();
  window.watcher = new MutationObserver(() => {
    const t = document.querySelectorAll('.message.persona .text');
    if (t.length > before) marks.push([performance.timeOrigin + performance.now(),
                                       t[t.length - 1].textContent]);
  });
  window.watcher.observe(document.querySelector('main'),
                         {subtree: true, childList: true, characterData: true});
}"""


async def bench_pieces(node: Node, wire: TimedWire, page: Any, samples: int) -> dict[str, Any]:
    raw_ms: list[float] = []
    page_ms: list[float] = []
    async with node.client() as api:
        for n in range(samples):
            wire.sent_at = {}
            arrivals: dict[int, float] = {}
            await page.goto(f"{url(node)}/#/rooms/bench-web")
            await page.wait_for_selector(".connection.live")
            await page.evaluate(OBSERVE)
            reader = asyncio.create_task(raw_arrivals(api, "bench-web", arrivals))
            await asyncio.sleep(0.3)
            await api.post("/v1/rooms/bench-web/messages", json={"text": f"@teller story {n}"})
            deadline = time.monotonic() + 60
            while len(arrivals) < PIECES and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            reader.cancel()
            marks = await page.evaluate("window.marks")
            for i, sent in wire.sent_at.items():
                if i in arrivals:
                    raw_ms.append(arrivals[i] - sent)
                seen = next((at for at, text in marks if marker(i) in text), None)
                if seen is not None:
                    page_ms.append(seen - sent)
    return {"raw": raw_ms, "page": page_ms}


async def bench_load(node: Node, page: Any, samples: int) -> dict[str, Any]:
    load_ms: list[float] = []
    api_ms: list[float] = []
    transferred = 0
    async with node.client() as api:
        for _ in range(samples):
            started = time.perf_counter()
            assert (await api.get("/v1/rooms")).status_code == 200
            api_ms.append((time.perf_counter() - started) * 1000)
            await page.goto("about:blank")
            started = time.perf_counter()
            await page.goto(f"{url(node)}/#/rooms")
            await page.wait_for_selector("caption >> text=Rooms on this node")
            load_ms.append((time.perf_counter() - started) * 1000)
            transferred = await page.evaluate(
                "performance.getEntriesByType('resource').reduce((n, e) => n + e.transferSize, 0)"
                " + performance.getEntriesByType('navigation')[0].transferSize"
            )
    return {"load": load_ms, "api": api_ms, "bytes": transferred}


def stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def render(pieces: dict[str, Any], load: dict[str, Any], samples: int, command: str) -> str:
    raw, page = stats(pieces["raw"]), stats(pieces["page"])
    api, shown = stats(load["api"]), stats(load["load"])
    load_ratio = shown[0] / api[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""## Web app (`bench_webapp.py`)

Measured {when} on {platform.machine()}, {platform.python_version()}; Debian's
Chromium, headless; `{command}`. Medians and p99 over {len(pieces["page"])} pieces
({samples} generations of {PIECES} pieces) and {len(load["load"])} page loads.

**(a) A generated piece, from the persona's model server to the screen.**
Origin: the moment the (in-process, OpenAI-compatible) model server sent it.

| reaches | median | p99 | ratio (median) |
|---|---:|---:|---:|
| a raw SSE client of the room stream (baseline) | {raw[0]:.1f} ms | {raw[1]:.1f} ms | 1.00 |
| the web app's page (in its DOM) | {page[0]:.1f} ms | {page[1]:.1f} ms | {page[0] / raw[0]:.2f} |

The page reads the same stream (fetch and a stream reader); what it adds is
the browser's own reading and one DOM append per piece.

**(b) Opening the rooms page** (signed in; module scripts served from the
gateway with ETags, no build, no CDN):

| | median | p99 | ratio (median) |
|---|---:|---:|---:|
| `GET /v1/rooms` with httpx (the data alone, baseline) | {api[0]:.1f} ms | {api[1]:.1f} ms | 1.00 |
| navigate until the rooms table shows | {shown[0]:.1f} ms | {shown[1]:.1f} ms | {load_ratio:.1f} |

The page transferred {load["bytes"] / 1024:.1f} KiB (after the first load most files
answer 304 from their ETags).
"""


async def main(samples: int) -> str:
    if not builtin.is_built(TINY):
        builtin.build(TINY, "tiny")
    wire = TimedWire("openai")
    wire.sent_at = {}
    wire.script = Script(pieces=[marker(i) for i in range(PIECES)], delay_s=0.02)
    await wire.start()
    try:
        async with Node(TINY) as node, node.client() as api:
            persona = await api.post(
                "/v1/personas",
                json={
                    "name": "Teller",
                    "role": "tells stories for the benchmark",
                    "domains": ["stories"],
                    "backend": {"kind": "openai", "url": wire.url, "model": "teller"},
                    "rooms": [],
                },
            )
            persona.raise_for_status()
            room = await api.post(
                "/v1/rooms",
                json={
                    "id": "bench-web",
                    "personas": [persona.json()["id"]],
                    "policy": {"min_confidence": 0.0},
                },
            )
            room.raise_for_status()
            async with chromium() as browser:
                page = await browser.new_page()
                await page.goto(f"{url(node)}/")
                await page.fill("input[name=token]", node.token)
                await page.click("form[aria-label='Sign in'] button[type=submit]")
                await page.wait_for_selector("#who button")
                console.print("(a) pieces to the page ...")
                pieces = await bench_pieces(node, wire, page, samples)
                console.print("(b) page loads ...")
                load = await bench_load(node, page, 20)
    finally:
        await wire.stop()
    command = "make bench" if "--write" in sys.argv else " ".join(["python", *sys.argv])
    return render(pieces, load, samples, command)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    section = asyncio.run(main(args.samples))
    console.print(section)
    if args.write:
        write_section(args.write, "webapp", section)
