"""A generation on this node's persona-runtime, its pieces handed over as
they come: what a routed generation runs when it lands here, whoever asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

from continuum.runtime import ServiceContext

OnPiece = Callable[[str], Awaitable[None]]


async def generate_here(
    ctx: ServiceContext,
    *,
    persona: str,
    prompt: str,
    max_tokens: int | None,
    continuation: str,
    on_piece: OnPiece,
    timeout: float,
) -> dict[str, Any]:
    """``cmd.persona-runtime.generate`` with the pieces streamed to ``on_piece``
    (in order); the command's reply. Raises what ``ctx.request`` raises."""
    nc = ctx.nc
    inbox = nc.new_inbox()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()

    async def receive(msg: Msg) -> None:
        pieces.put_nowait(msg.data.decode(errors="replace"))

    async def forward() -> None:
        while (piece := await pieces.get()) is not None:
            await on_piece(piece)

    sub = await nc.subscribe(inbox, cb=receive)
    forwarder = asyncio.create_task(forward())
    body: dict[str, Any] = {"persona": persona, "prompt": prompt, "stream": inbox}
    if max_tokens:
        body["max_tokens"] = max_tokens
    if continuation:
        body["continuation"] = continuation
    try:
        reply = await ctx.request("cmd.persona-runtime.generate", body, timeout=timeout)
        # The pieces were published before the reply, on one connection: they
        # are here; let the subscription hand over the ones it still holds.
        for _ in range(1000):
            if sub.pending_msgs == 0:
                break
            await asyncio.sleep(0.001)
    finally:
        await sub.unsubscribe()
        pieces.put_nowait(None)
        await forwarder
    return reply
