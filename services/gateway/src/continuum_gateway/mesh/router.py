"""Routing a generation through the mesh, and carrying it over when the
serving node dies.

The route is planned by :func:`continuum.mesh.routing.plan`; this module runs
it. Each candidate in turn gets the prompt and the answer so far: a node that
stops answering (no heartbeat for ``silence_s``), refuses, or has no
responder at all (NATS says so at once) is banned and the next candidate
continues the answer from where it stopped. The caller sees one stream, with
a ``moved`` frame where it changed node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from continuum.contracts.commands import MeshGenerate
from continuum.market.ledger import UNITS
from continuum.mesh.orders import GenerationOrder
from continuum.mesh.routing import Candidate, NoRoute, decode_embedding, plan
from continuum.mesh.sealing import Refused, StreamCipher, seal
from continuum.mesh.subjects import generate_subject
from continuum_gateway.mesh.agent import MeshAgent
from continuum_gateway.mesh.local import generate_here
from continuum_gateway.mesh.market import ask_market

Emit = Callable[[dict[str, Any]], Awaitable[None]]
#: How long a node may take to accept a request (decrypt, check, answer).
ACCEPT_TIMEOUT_S = 5.0
RECENT_ROUTES = 50


class AttemptFailed(Exception):
    """One candidate did not finish the answer; the message says why."""


log = logging.getLogger("continuum.gateway.mesh")


@dataclass
class Answer:
    """The answer as it grows, across every node that worked on it."""

    text: str = ""
    tokens: int = 0
    first_token_s: float | None = None
    route: list[dict[str, Any]] = field(default_factory=list)
    #: The generation's id: its compute charge's transaction, whatever node finishes it.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Leg:
    """One candidate's turn at the answer: the rest of it, within the deadline."""

    candidate: Candidate
    request: MeshGenerate
    answer: Answer
    max_tokens: int | None
    piece: Callable[[str], Awaitable[None]]
    deadline: float


@dataclass
class MeshRouter:
    agent: MeshAgent
    #: The last generations this node routed: where each went and why (newest last).
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_ROUTES))

    async def generate(self, request: MeshGenerate, emit: Emit) -> dict[str, Any]:
        agent = self.agent
        started = time.monotonic()
        deadline = started + request.deadline_s
        vector = None
        if request.persona is None:
            vector = await self._embed(request.prompt)
        agent.lan_nodes()
        route = plan(
            agent.table,
            await agent.own_advert(),
            persona=request.persona,
            scope=request.mesh,
            now=time.time(),
            prompt_vector=vector,
        )
        candidates = route.why()
        await emit({"kind": "route", "candidates": candidates})
        answer = Answer()

        async def piece(text: str) -> None:
            if answer.first_token_s is None:
                answer.first_token_s = time.monotonic() - started
            answer.text += text
            answer.tokens += 1
            await emit({"kind": "piece", "text": text})

        last: dict[str, Any] | None = None
        for candidate in route.candidates:
            if time.monotonic() >= deadline:
                break
            if answer.route:
                moved = {
                    "kind": "moved",
                    "from": answer.route[-1]["node"],
                    "to": candidate.node,
                    "after_chars": len(answer.text),
                    "reason": answer.route[-1]["error"],
                }
                await emit(moved)
            remaining = None
            if request.max_tokens:
                remaining = request.max_tokens - answer.tokens
                if remaining <= 0:
                    break
            tried = time.monotonic()
            try:
                last = await self._attempt(
                    Leg(candidate, request, answer, remaining, piece, deadline)
                )
            except AttemptFailed as exc:
                if not candidate.local:
                    agent.table.stats_of(candidate.node).failed(
                        time.time(), agent.settings.ban_s, str(exc)
                    )
                answer.route.append(_step(candidate, "failed", str(exc), tried))
                continue
            if not candidate.local:
                agent.table.stats_of(candidate.node).succeeded()
            answer.route.append(_step(candidate, "complete", "", tried))
            break
        done = bool(answer.route) and answer.route[-1]["outcome"] == "complete"
        charge = await self._charge(route.candidates, answer) if done else None
        self.recent.append(
            {
                "at": time.time(),
                "prompt": request.prompt[:200],
                "persona": request.persona,
                "mesh": request.mesh,
                "status": "complete" if done else "failed",
                "node": answer.route[-1]["node"] if done else "",
                "route": answer.route,
                "candidates": candidates,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
        )
        return {
            "text": answer.text.strip(),
            "status": "complete" if done else "failed",
            "error": None if done else _failure(answer, request, time.monotonic() >= deadline),
            "node": answer.route[-1]["node"] if done else "",
            "persona": (last or {}).get("persona", ""),
            "backend": (last or {}).get("backend", ""),
            "tokens": answer.tokens,
            "first_token_ms": None
            if answer.first_token_s is None
            else round(answer.first_token_s * 1000, 1),
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "route": answer.route,
            "moved": max(0, len(answer.route) - 1),
            "candidates": candidates,
            "charge": charge,
        }

    async def _charge(
        self, candidates: Sequence[Candidate], answer: Answer
    ) -> dict[str, Any] | None:
        """The serving node's advertised price, through the market this node
        uses, once per generation: only the node that completed it is paid
        (a failed-over attempt costs nothing), and the generation's id is
        the transaction's, so a retried charge lands once."""
        served = next(c for c in candidates if c.node == answer.route[-1]["node"])
        advert = self.agent.table.adverts.get(served.node)
        if served.local or advert is None:
            return None
        units = round(advert.price * UNITS)
        if units <= 0:
            return None
        body = {
            "transaction": f"gen-{answer.id}",
            "payer": self.agent.node_id,
            "payee": served.node,
            "units": units,
            "memo": f"generation on {served.name or served.node[:12]}",
        }
        try:
            charged = await ask_market(self.agent, "compute", body)
        except Exception as exc:  # the answer stands; the charge says why it did not land
            log.warning("mesh: charging generation %s failed: %s", answer.id, exc)
            return {"units": units, "charged": False, "error": str(exc)[:300]}
        return {"units": units, "charged": True, "transaction": charged.get("transaction")}

    async def _embed(self, prompt: str) -> tuple[float, ...] | None:
        try:
            reply = await self.agent.ctx.request(
                "cmd.persona-runtime.embed", {"texts": [prompt]}, timeout=30
            )
        except Exception as exc:
            raise NoRoute(f"cannot match the prompt to personas (no embedding): {exc}") from None
        return decode_embedding(reply["vectors"][0])

    async def _attempt(self, leg: Leg) -> dict[str, Any]:
        candidate, deadline = leg.candidate, leg.deadline
        if candidate.local:
            try:
                reply = await generate_here(
                    self.agent.ctx,
                    persona=candidate.offer.persona,
                    prompt=leg.request.prompt,
                    max_tokens=leg.max_tokens,
                    continuation=leg.answer.text,
                    on_piece=leg.piece,
                    timeout=max(1.0, deadline - time.monotonic()),
                )
            except Exception as exc:
                raise AttemptFailed(f"this node: {exc}") from None
            if reply.get("status") == "failed":
                raise AttemptFailed(f"this node: {reply.get('error')}")
            return reply
        return await self._remote(leg)

    async def _remote(self, leg: Leg) -> dict[str, Any]:
        candidate, deadline = leg.candidate, leg.deadline
        agent = self.agent
        assert agent.nc is not None
        nc = agent.nc
        key = StreamCipher.new_key()
        cipher = StreamCipher(key)
        stream = nc.new_inbox()
        frames: asyncio.Queue[bytes] = asyncio.Queue()

        async def receive(msg: Any) -> None:
            frames.put_nowait(msg.data)

        sub = await nc.subscribe(stream, cb=receive)
        order = GenerationOrder(
            persona=candidate.offer.persona,
            prompt=leg.request.prompt,
            max_tokens=leg.max_tokens,
            continuation=leg.answer.text,
            stream=stream,
            key=base64.b64encode(key).decode(),
        )
        name = candidate.name or candidate.node[:12]
        try:
            sealed = seal(order.model_dump(), agent.ctx.identity, candidate.node)
            try:
                reply = await nc.request(
                    generate_subject(candidate.node), sealed, timeout=ACCEPT_TIMEOUT_S
                )
            except NoRespondersError:
                raise AttemptFailed(f"{name}: unreachable (no responders)") from None
            except NatsTimeout:
                raise AttemptFailed(
                    f"{name}: did not accept within {ACCEPT_TIMEOUT_S:.0f}s"
                ) from None
            accepted = _json(reply.data)
            if not accepted.get("accepted"):
                raise AttemptFailed(f"{name} refused: {accepted.get('refused', 'no reason')}")
            silence = agent.settings.silence_s
            while True:
                wait = min(silence, deadline - time.monotonic())
                if wait <= 0:
                    raise AttemptFailed(f"{name}: the deadline passed")
                try:
                    data = await asyncio.wait_for(frames.get(), wait)
                except TimeoutError:
                    raise AttemptFailed(f"{name}: silent for {silence:.2f}s (gone)") from None
                try:
                    frame = cipher.open(data)
                except Refused as exc:
                    raise AttemptFailed(f"{name}: {exc}") from None
                kind = frame.get("kind")
                if kind == "piece":
                    await leg.piece(str(frame.get("text", "")))
                elif kind == "done":
                    result = frame.get("result")
                    result = result if isinstance(result, dict) else {}
                    if result.get("status") == "failed":
                        raise AttemptFailed(f"{name}: {result.get('error')}")
                    return result
                elif kind == "error":
                    raise AttemptFailed(f"{name}: {frame.get('error')}")
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _step(candidate: Candidate, outcome: str, error: str, since: float) -> dict[str, Any]:
    return {
        "node": candidate.node,
        "name": candidate.name,
        "persona": candidate.offer.persona,
        "local": candidate.local,
        "outcome": outcome,
        "error": error,
        "ms": round((time.monotonic() - since) * 1000, 1),
    }


def _failure(answer: Answer, request: MeshGenerate, late: bool) -> str:
    tried = "; ".join(f"{s['name'] or s['node'][:12]}: {s['error']}" for s in answer.route)
    if late:
        return f"the deadline of {request.deadline_s:.0f}s passed ({tried or 'nothing tried'})"
    return f"every candidate failed ({tried})"
