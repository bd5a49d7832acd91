"""The scheduler's outbox: turn events into the log, cancels onto ``ctl.chat.<room>``."""

from __future__ import annotations

import json

from pydantic import BaseModel

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
        body = {"cancel": turn_id, "persona_id": persona_id, "reason": reason}
        await self._ctx.nc.publish(f"ctl.chat.{room_id}", json.dumps(body).encode())
        await self._ctx.nc.flush()

    async def call_for_bids(self, room_id: str, message_id: str) -> None:
        body = {"call": message_id}
        await self._ctx.nc.publish(f"ctl.chat.{room_id}", json.dumps(body).encode())
