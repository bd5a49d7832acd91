"""The scheduler's outbox: turn events into the log, cancels onto ``ctl.chat.<room>``."""

from __future__ import annotations

from pydantic import BaseModel

from continuum.chat.signals import TurnControl, control_subject, encode
from continuum.events.chat import TurnDecided, TurnEnded, TurnPreempted
from continuum.runtime import ServiceContext


class NatsTurnLog:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def _append(self, room_id: str, payload: BaseModel) -> None:
        await self._ctx.store.append([self._ctx.factory.new(payload, room_id)], None)

    async def decided(self, room_id: str, decision: TurnDecided) -> None:
        await self._append(room_id, decision)

    async def preempted(self, room_id: str, event: TurnPreempted) -> None:
        await self._append(room_id, event)

    async def ended(self, room_id: str, event: TurnEnded) -> None:
        await self._append(room_id, event)

    async def cancel(self, room_id: str, turn_id: str, persona_id: str, reason: str) -> None:
        control = TurnControl(cancel=turn_id, persona_id=persona_id, reason=reason[:1000])
        await self._ctx.broker.publish(encode(control), control_subject(room_id))
        await self._ctx.nc.flush()  # the generation stops now, not at the next flush

    async def call_for_bids(self, room_id: str, message_id: str) -> None:
        await self._ctx.broker.publish(
            encode(TurnControl(call=message_id)), control_subject(room_id)
        )
