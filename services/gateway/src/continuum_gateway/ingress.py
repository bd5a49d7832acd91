"""The one path every external event takes: read, admit, append.

HTTP ``POST /v1/events`` and the NATS ingress stream both end here, so an
event is judged by the same rules whichever way it came in. By default a
request is all or nothing: if any event is rejected, none is appended
("partial" lets the valid ones through). An event whose id is already in
the log is answered ``duplicate: true`` with where it sits, and appended
again never, however late the re-send comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from continuum.events.envelope import Envelope
from continuum.store import Recorded
from continuum.store.jetstream import JetStreamEventStore
from continuum_gateway import metrics
from continuum_gateway.admission import Admission, Admissions
from continuum_gateway.cloudevents import Candidate
from continuum_gateway.publishers import PublisherKeys

NOT_APPENDED = "not appended: another event of this request was rejected"


@dataclass(frozen=True)
class EventResult:
    index: int
    status: Literal["accepted", "rejected", "skipped"]
    id: str | None = None
    type: str | None = None
    stream: str | None = None
    seq: int | None = None
    duplicate: bool = False
    reason: str | None = None

    def public(self) -> dict[str, Any]:
        shown = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.status != "accepted":
            del shown["duplicate"]
        return shown


@dataclass
class Outcome:
    results: list[EventResult] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(r.status == "accepted" for r in self.results)

    @property
    def rejected(self) -> int:
        return sum(r.status == "rejected" for r in self.results)

    @property
    def reasons(self) -> list[str]:
        return [f"event {r.index}: {r.reason}" for r in self.results if r.status == "rejected"]

    def public(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "results": [r.public() for r in self.results],
        }


class EventIndex(Protocol):
    """Finds events already in the log by id (``event_log.EventIds``)."""

    async def find(self, ids: Sequence[str]) -> dict[str, Recorded]: ...


class NoIndex:
    """``id_index=false``: ids are deduplicated by JetStream's window alone."""

    async def find(self, ids: Sequence[str]) -> dict[str, Recorded]:
        return {}


class EventIngress:
    def __init__(
        self,
        admissions: Admissions,
        publishers: PublisherKeys,
        store: JetStreamEventStore,
        index: EventIndex,
    ) -> None:
        self.admissions = admissions
        self._publishers = publishers
        self._store = store
        self._index = index

    async def _record(self, envelopes: list[Envelope]) -> list[Recorded]:
        """Append the events not yet in the log; say where the others are."""
        # The index answers UUIDs in PostgreSQL's lower-case form; an id may
        # arrive in any case and is the same event.
        known = await self._index.find([e.id for e in envelopes])
        fresh = [e for e in envelopes if e.id.lower() not in known]
        appended = iter(await self._store.ingest(fresh))
        return [known.get(e.id.lower()) or next(appended) for e in envelopes]

    async def publish(
        self, candidates: list[Candidate], publisher: str, *, partial: bool, via: str
    ) -> Outcome:
        keys = await self._publishers.active()
        admitted = self.admissions.admit_all(candidates, publisher, keys)
        rejected = [a for a in admitted if not a.accepted]
        outcome = Outcome()
        if rejected and not partial:
            outcome.results = [_unappended(a) for a in admitted]
        else:
            envelopes = [a.envelope for a in admitted if a.envelope is not None]
            recorded = iter(await self._record(envelopes))
            for admission in admitted:
                if admission.envelope is None:
                    outcome.results.append(_unappended(admission))
                    continue
                where = next(recorded)
                outcome.results.append(
                    EventResult(
                        admission.index,
                        "accepted",
                        id=admission.envelope.id,
                        type=admission.envelope.type,
                        stream=where.stream,
                        seq=where.seq,
                        duplicate=where.duplicate,
                    )
                )
        if outcome.accepted:
            metrics.events.add(outcome.accepted, {"outcome": "accepted", "via": via})
        if outcome.rejected:
            metrics.events.add(outcome.rejected, {"outcome": "rejected", "via": via})
        return outcome


def _unappended(admission: Admission) -> EventResult:
    if admission.envelope is None:
        return EventResult(admission.index, "rejected", reason=admission.reason)
    return EventResult(
        admission.index,
        "skipped",
        id=admission.envelope.id,
        type=admission.envelope.type,
        reason=NOT_APPENDED,
    )
