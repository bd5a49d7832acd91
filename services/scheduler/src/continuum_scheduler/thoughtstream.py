"""The ThoughtStream of a node: bid windows, grants, preemption and the
turn watchdog for every room. Arbitration itself is ``arbiter`` (pure);
this module is the state machine around it, and talks to the world only
through ``TurnLog`` (append the scheduler's events, tell a persona to stop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from continuum.chat import RoomDirectory, RoomState
from continuum.events.chat import (
    Bid,
    MessagePosted,
    Preemption,
    TurnDecided,
    TurnEnded,
    TurnOutcome,
    TurnPreempted,
)
from continuum.ids import uuid7_str
from continuum_scheduler import metrics
from continuum_scheduler.arbiter import (
    AGING_BAND,
    Outcome,
    RoomLedger,
    Scored,
    Trigger,
    arbitrate,
)

log = logging.getLogger("continuum.scheduler")

PRESENCE_TTL_S = 5.0
#: A persona's priority before it has ever bid (a profile's default).
DEFAULT_PRIORITY = 128
#: After a start, who is present is not known yet: windows run to their end.
PRESENCE_GRACE_S = 2.0
#: A message the scheduler missed while it was down still gets a turn if it is this recent.
CATCH_UP_S = 120.0


class TurnLog(Protocol):
    """Where the scheduler's decisions go."""

    async def decided(self, room_id: str, decision: TurnDecided) -> None: ...
    async def preempted(self, room_id: str, event: TurnPreempted) -> None: ...
    async def ended(self, room_id: str, event: TurnEnded) -> None: ...
    async def cancel(self, room_id: str, turn_id: str, persona_id: str, reason: str) -> None: ...
    async def call_for_bids(self, room_id: str, message_id: str) -> None: ...


@dataclass
class Window:
    trigger: Trigger
    opened: float
    bids: dict[str, Bid] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    closing: bool = False


@dataclass
class ActiveTurn:
    turn_id: str
    persona_id: str
    priority: int
    trigger: Trigger
    outcome: Outcome
    last_activity: float
    #: Personas that already held this moment (the winner first), for regrants.
    tried: set[str] = field(default_factory=set)
    cancelling: bool = False


@dataclass
class RoomRuntime:
    ledger: RoomLedger = field(default_factory=RoomLedger)
    windows: dict[str, Window] = field(default_factory=dict)
    active: dict[tuple[str, str], ActiveTurn] = field(default_factory=dict)  # (turn, persona)
    queued: list[Trigger] = field(default_factory=list)


class ThoughtStream:
    def __init__(self, rooms: RoomDirectory, turn_log: TurnLog) -> None:
        self.rooms = rooms
        self.log = turn_log
        self.runtime: dict[str, RoomRuntime] = {}
        self.presence: dict[str, float] = {}
        #: Each persona's priority, from its latest bid (for @mention preemption).
        self.priorities: dict[str, int] = {}
        self.decided_triggers: set[str] = set()
        self._early_bids: dict[tuple[str, str], dict[str, Bid]] = {}
        self._undecided: dict[tuple[str, str], tuple[Trigger, float]] = {}
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self.started = time.monotonic()

    # -- bookkeeping -----------------------------------------------------------------

    def room(self, room_id: str) -> RoomRuntime:
        return self.runtime.setdefault(room_id, RoomRuntime())

    def _aging_band(self, room_id: str) -> float:
        room = self.rooms.get(room_id)
        return room.policy.aging_band if room is not None else AGING_BAND

    def seen(self, persona_ids: list[str], at: float | None = None) -> None:
        now = time.monotonic() if at is None else at
        for pid in persona_ids:
            self.presence[pid] = now

    def present_anywhere(self) -> list[str]:
        """Every persona announced within the presence TTL, whatever its rooms."""
        now = time.monotonic()
        return sorted(p for p, at in self.presence.items() if now - at <= PRESENCE_TTL_S)

    def present(self, room: RoomState) -> list[str]:
        now = time.monotonic()
        return [
            m.member_id
            for m in room.personas
            if now - self.presence.get(m.member_id, -1e9) <= PRESENCE_TTL_S
        ]

    def activity(self, room_id: str, turn_id: str, persona_id: str) -> None:
        turn = self.room(room_id).active.get((turn_id, persona_id))
        if turn is not None:
            turn.last_activity = time.monotonic()

    # -- the log, replayed or live ------------------------------------------------

    @staticmethod
    def opens_turn(message: MessagePosted) -> bool:
        """Humans always get an answer; personas only when they @mention someone."""
        return message.author_kind == "human" or bool(message.mentions)

    @staticmethod
    def trigger_of(message: MessagePosted) -> Trigger:
        return Trigger(
            message.message_id,
            message.author_id,
            message.author_kind,
            message.text,
            tuple(message.mentions),
        )

    async def message(self, room_id: str, message: MessagePosted, at: float, live: bool) -> None:
        async with self._lock:
            rt = self.room(room_id)
            rt.ledger.record_message(message.author_kind, message.text, message.tokens, at)
            if message.turn_id is not None:
                await self._turn_message(room_id, rt, message, live)
            if not self.opens_turn(message):
                return
            trigger = self.trigger_of(message)
            if not live:
                if trigger.message_id not in self.decided_triggers:
                    self._undecided[(room_id, trigger.message_id)] = (trigger, at)
                return
            await self._open_or_preempt(room_id, rt, trigger)

    def replayed_decision(self, room_id: str, decision: TurnDecided, at: float) -> None:
        """Rebuild waits, budgets and open turns from the turn log."""
        rt = self.room(room_id)
        self.decided_triggers.add(decision.trigger_message_id)
        self._undecided.pop((room_id, decision.trigger_message_id), None)
        outcome = Outcome(
            list(decision.winners), [Scored.of(b) for b in decision.bids], decision.reason
        )
        rt.ledger.record_grant(outcome, at, self._aging_band(room_id))
        trigger = Trigger(decision.trigger_message_id, "", "human", "")
        for pid in decision.winners:
            priority = next((s.bid.priority for s in decision.bids if s.bid.persona_id == pid), 0)
            rt.active[(decision.turn_id, pid)] = ActiveTurn(
                decision.turn_id, pid, priority, trigger, outcome, time.monotonic(), {pid}
            )

    def replayed_end(self, room_id: str, ended: TurnEnded) -> None:
        rt = self.room(room_id)
        rt.active.pop((ended.turn_id, ended.persona_id), None)

    async def catch_up(self) -> None:
        """After replay: give a turn to recent messages nobody answered while we were down."""
        now = time.time()
        pending, self._undecided = self._undecided, {}
        for (room_id, _), (trigger, at) in sorted(pending.items(), key=lambda kv: kv[1][1]):
            if now - at <= CATCH_UP_S:
                async with self._lock:
                    await self._open_or_preempt(room_id, self.room(room_id), trigger)
                # The personas saw this message while we were away and their
                # bids found nobody: ask again.
                await self.log.call_for_bids(room_id, trigger.message_id)

    # -- windows -------------------------------------------------------------------

    async def _open_or_preempt(self, room_id: str, rt: RoomRuntime, trigger: Trigger) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        running = [t for t in rt.active.values() if not t.cancelling]
        if running:
            mention_priority = max(
                (self._priority(room, pid) for pid in trigger.mentions), default=-1
            )
            preempts = [
                t
                for t in running
                if trigger.author_kind == "human" or mention_priority > t.priority
            ]
            if not preempts:
                rt.queued.append(trigger)
                return
            action: Preemption = room.policy.preemption
            metrics.preemptions.add(len(preempts), {"action": action})
            for turn in preempts:
                who = "a human message" if trigger.author_kind == "human" else "an @mention"
                await self.log.preempted(
                    room_id,
                    TurnPreempted(
                        turn_id=turn.turn_id,
                        persona_id=turn.persona_id,
                        by_message_id=trigger.message_id,
                        action=action,
                        reason=f"{who} arrived while {turn.persona_id} was generating "
                        f"(room policy: {action})",
                    ),
                )
            if action == "reject":
                self.decided_triggers.add(trigger.message_id)
                return
            if action == "queue":
                rt.queued.append(trigger)
                return
            for turn in preempts:
                turn.cancelling = True
                await self.log.cancel(room_id, turn.turn_id, turn.persona_id, "preempted")
        self._open(room_id, rt, trigger)

    def _priority(self, room: RoomState, persona_id: str) -> int:
        """A persona's priority as its latest bid stated it (-1: not a persona here)."""
        if persona_id not in room.members or room.members[persona_id].kind != "persona":
            return -1
        return self.priorities.get(persona_id, DEFAULT_PRIORITY)

    def _open(self, room_id: str, rt: RoomRuntime, trigger: Trigger) -> None:
        if trigger.message_id in rt.windows or trigger.message_id in self.decided_triggers:
            return
        room = self.rooms.get(room_id)
        assert room is not None
        window = Window(trigger, time.monotonic())
        window.bids.update(self._early_bids.pop((room_id, trigger.message_id), {}))
        rt.windows[trigger.message_id] = window
        loop = asyncio.get_running_loop()
        window.timer = loop.call_later(
            room.policy.window_ms / 1000,
            lambda: self._close_soon(room_id, trigger.message_id),
        )
        self._maybe_close_early(room_id, rt, window)

    def _maybe_close_early(self, room_id: str, rt: RoomRuntime, window: Window) -> None:
        room = self.rooms.get(room_id)
        if room is None or window.closing:
            return
        if time.monotonic() - self.started < PRESENCE_GRACE_S:
            return
        present = set(self.present(room)) - {window.trigger.author_id}
        # Nobody known to be present: wait for the window (a persona created
        # a moment ago may not have been announced yet).
        if present and present <= set(window.bids):
            self._close_soon(room_id, window.trigger.message_id)

    def _close_soon(self, room_id: str, trigger_message_id: str) -> None:
        task = asyncio.create_task(self._close(room_id, trigger_message_id))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def bid(self, room_id: str, trigger_message_id: str, bid: Bid) -> str:
        """Take a bid; answers whether it arrived in time."""
        self.seen([bid.persona_id])
        self.priorities[bid.persona_id] = bid.priority
        if trigger_message_id in self.decided_triggers:
            return "late"
        rt = self.room(room_id)
        window = rt.windows.get(trigger_message_id)
        if window is None:
            # The bid overtook the message on its way to us: keep it for the window.
            self._early_bids.setdefault((room_id, trigger_message_id), {})[bid.persona_id] = bid
            return "early"
        if window.closing:
            return "late"
        window.bids[bid.persona_id] = bid
        self._maybe_close_early(room_id, rt, window)
        return "accepted"

    async def _close(self, room_id: str, trigger_message_id: str) -> None:
        async with self._lock:
            rt = self.room(room_id)
            window = rt.windows.get(trigger_message_id)
            room = self.rooms.get(room_id)
            if window is None or window.closing or room is None:
                return
            window.closing = True
            if window.timer is not None:
                window.timer.cancel()
            started = time.perf_counter()
            outcome = arbitrate(
                list(window.bids.values()), room.policy, rt.ledger, window.trigger, time.time()
            )
            arbitration_ms = (time.perf_counter() - started) * 1000
            present = set(self.present(room)) - {window.trigger.author_id}
            decision = TurnDecided(
                turn_id=uuid7_str(),
                trigger_message_id=trigger_message_id,
                policy=room.policy.policy,
                bids=outcome.bids(),
                winners=outcome.winners,
                reason=outcome.reason,
                missing=sorted(present - set(window.bids)),
                window_ms=round((time.monotonic() - window.opened) * 1000, 3),
                arbitration_ms=round(arbitration_ms, 4),
            )
            del rt.windows[trigger_message_id]
            metrics.arbitration.record(arbitration_ms / 1000, {"policy": room.policy.policy})
            metrics.window.record(decision.window_ms / 1000)
            await self._grant(room_id, rt, window.trigger, outcome, decision, set())

    async def _grant(
        self,
        room_id: str,
        rt: RoomRuntime,
        trigger: Trigger,
        outcome: Outcome,
        decision: TurnDecided,
        tried: set[str],
    ) -> None:
        self.decided_triggers.add(trigger.message_id)
        await self.log.decided(room_id, decision)
        result = "granted" if outcome.winners else "nobody"
        metrics.turns.add(1, {"policy": decision.policy, "result": result})
        rt.ledger.record_grant(outcome, time.time(), self._aging_band(room_id))
        now = time.monotonic()
        for pid in outcome.winners:
            priority = next(s.bid.priority for s in outcome.scored if s.bid.persona_id == pid)
            rt.active[(decision.turn_id, pid)] = ActiveTurn(
                decision.turn_id, pid, priority, trigger, outcome, now, tried | {pid}
            )
        if not outcome.winners:
            await self._next_queued(room_id, rt)

    # -- turn ends -----------------------------------------------------------------

    async def _turn_message(
        self, room_id: str, rt: RoomRuntime, message: MessagePosted, live: bool
    ) -> None:
        turn = rt.active.pop((message.turn_id or "", message.author_id), None)
        if turn is None:
            return
        if not live:
            return
        outcome: TurnOutcome = message.status
        await self.log.ended(
            room_id,
            TurnEnded(
                turn_id=turn.turn_id,
                persona_id=turn.persona_id,
                outcome=outcome,
                message_id=message.message_id,
                tokens=message.tokens,
                reason=message.error or "",
            ),
        )
        if message.status == "failed":
            await self._regrant(room_id, rt, turn, f"{turn.persona_id} failed: {message.error}")
        elif not rt.active:
            await self._next_queued(room_id, rt)

    async def _regrant(self, room_id: str, rt: RoomRuntime, turn: ActiveTurn, why: str) -> None:
        room = self.rooms.get(room_id)
        present = set(self.present(room)) if room is not None else set()
        candidates = [
            p for p in turn.outcome.ranked_others() if p not in turn.tried and p in present
        ]
        winners = candidates[:1]
        reason = f"{why}; next bidder: {winners[0]}" if winners else f"{why}; no other bidder"
        scored = [replace(s, won=s.bid.persona_id in winners) for s in turn.outcome.scored]
        outcome = Outcome(winners, scored, reason)
        decision = TurnDecided(
            turn_id=uuid7_str(),
            trigger_message_id=turn.trigger.message_id,
            policy=room.policy.policy if room is not None else "best-bid",
            bids=outcome.bids(),
            winners=winners,
            reason=reason,
            window_ms=0,
            arbitration_ms=0,
            regrant_of=turn.turn_id,
        )
        await self._grant(room_id, rt, turn.trigger, outcome, decision, set(turn.tried))

    async def _next_queued(self, room_id: str, rt: RoomRuntime) -> None:
        while rt.queued and not rt.active:
            trigger = rt.queued.pop(0)
            if trigger.message_id not in self.decided_triggers:
                self._open(room_id, rt, trigger)
                return

    async def watchdog(self) -> None:
        """Abandon turns whose persona went silent, so a room never hangs."""
        now = time.monotonic()
        async with self._lock:
            for room_id, rt in list(self.runtime.items()):
                room = self.rooms.get(room_id)
                stall = room.policy.stall_s if room is not None else 15.0
                for key, turn in list(rt.active.items()):
                    if now - turn.last_activity <= stall:
                        continue
                    del rt.active[key]
                    pid = turn.persona_id
                    reason = f"{pid} streamed nothing for {stall:g} s"
                    await self.log.ended(
                        room_id,
                        TurnEnded(
                            turn_id=turn.turn_id,
                            persona_id=pid,
                            outcome="abandoned",
                            reason=reason,
                        ),
                    )
                    await self.log.cancel(room_id, turn.turn_id, pid, "abandoned")
                    if turn.cancelling:
                        continue
                    await self._regrant(room_id, rt, turn, reason)
