"""The ThoughtStream's arbitration: who speaks, and why. Pure, no I/O.

The score of an eligible bid (ADR 0007)::

    score = 0.60 * confidence
          + 0.25 * priority / 255
          + aging * waited_turns
          - 0.10 * min(expected_latency_ms / 30000, 1)
          - 0.05 * min(expected_cost, 1)

A bid is eligible when its confidence reaches the room's ``min_confidence``
or it was @mentioned, and its persona is not the author of the message being
answered. Mentioned personas win outright. Otherwise: ``best-bid`` grants the
best score; ``top-k`` the best k; ``round-robin`` the next eligible persona
after the last speaker, in id order. Ties go to the longer wait, then the
smaller persona id, so a decision never depends on arrival order.

Aging: every eligible bid that loses adds one to its persona's wait, a win
resets it, and ``waited_turns`` counts only for a bid in contention: one
whose confidence is within the room's ``aging_band`` of the best eligible
confidence. With equal bids the waits make the turn go round, so no persona
waits more than n-1 turns; a persona that fits a message much worse than the
best neither gains from its wait nor adds to it. (Without the band, fifteen
personas in one room handed questions to whoever had waited longest: the
pick-accuracy benchmark fell to 67%, ADR 0022.) Budgets (turns and tokens per sliding minute) and
the loop guard (a chain of persona turns without a human, or a persona
repeating an earlier message) grant nobody, and say so.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from continuum.events.chat import Bid, RoomPolicy, ScoredBid

W_CONFIDENCE = 0.60
W_PRIORITY = 0.25
W_LATENCY = 0.10
W_COST = 0.05
LATENCY_SCALE_MS = 30_000.0
REPEAT_WINDOW = 6
BUDGET_WINDOW_S = 60.0


AGING_BAND: float = RoomPolicy.model_fields["aging_band"].default


def best_confidence(bids: Iterable[Bid]) -> float:
    return max((b.confidence for b in bids), default=0.0)


def contending(bid: Bid, best: float, aging_band: float) -> bool:
    """Whether a bid fits the message about as well as the best one (aging's scope)."""
    return bid.confidence >= best - aging_band - 1e-9


def score(bid: Bid, waited: int, aging: float) -> float:
    return (
        W_CONFIDENCE * bid.confidence
        + W_PRIORITY * bid.priority / 255
        + aging * waited
        - W_LATENCY * min(bid.expected_latency_ms / LATENCY_SCALE_MS, 1.0)
        - W_COST * min(bid.expected_cost, 1.0)
    )


@dataclass(frozen=True)
class Trigger:
    """The message a turn answers."""

    message_id: str
    author_id: str
    author_kind: str
    text: str
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scored:
    """One bid as the arbiter saw it. A plain record: building the event's
    pydantic ``ScoredBid`` for each of 1,000 bids would cost more than the
    decision, so that happens once, in ``Outcome.bids`` (for the event)."""

    bid: Bid
    score: float
    waited_turns: int
    eligible: bool
    won: bool
    reason: str

    @classmethod
    def of(cls, scored: ScoredBid) -> Scored:
        return cls(
            scored.bid,
            scored.score,
            scored.waited_turns,
            scored.eligible,
            scored.won,
            scored.reason,
        )

    def model(self) -> ScoredBid:
        return ScoredBid.model_construct(
            bid=self.bid,
            score=self.score,
            waited_turns=self.waited_turns,
            eligible=self.eligible,
            won=self.won,
            reason=self.reason,
        )


@dataclass
class Outcome:
    """What ``arbitrate`` decided."""

    winners: list[str]
    scored: list[Scored]
    reason: str

    def bids(self) -> list[ScoredBid]:
        """Every bid with its score and reason, for the decision event."""
        return [s.model() for s in self.scored]

    def ranked_others(self) -> list[str]:
        """Eligible losers, best first: who gets a turn its winner gives up."""
        ranked = sorted(
            (s for s in self.scored if s.eligible and not s.won),
            key=lambda s: (-s.score, -s.waited_turns, s.bid.persona_id),
        )
        return [s.bid.persona_id for s in ranked]


@dataclass
class RoomLedger:
    """What arbitration remembers about a room between turns."""

    waited: dict[str, int] = field(default_factory=dict)
    last_speaker: str | None = None
    turns: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    #: Persona messages since the last human one.
    persona_chain: int = 0
    recent_persona_texts: deque[str] = field(default_factory=lambda: deque(maxlen=REPEAT_WINDOW))

    def record_message(self, author_kind: str, text: str, tokens: int, at: float) -> None:
        if author_kind == "human":
            self.persona_chain = 0
            return
        self.persona_chain += 1
        self.recent_persona_texts.append(_normalized(text))
        if tokens:
            self.tokens.append((at, tokens))

    def record_grant(self, outcome: Outcome, at: float, aging_band: float = AGING_BAND) -> None:
        winners = set(outcome.winners)
        best = best_confidence(s.bid for s in outcome.scored if s.eligible)
        for scored in outcome.scored:
            pid = scored.bid.persona_id
            if pid in winners:
                self.waited[pid] = 0
            elif scored.eligible and contending(scored.bid, best, aging_band):
                self.waited[pid] = self.waited.get(pid, 0) + 1
        for pid in outcome.winners:
            self.turns.append(at)
            self.last_speaker = pid

    def _trim(self, now: float) -> None:
        while self.turns and now - self.turns[0] >= BUDGET_WINDOW_S:
            self.turns.popleft()
        while self.tokens and now - self.tokens[0][0] >= BUDGET_WINDOW_S:
            self.tokens.popleft()

    def over_budget(self, policy: RoomPolicy, now: float) -> str | None:
        self._trim(now)
        if policy.turns_per_minute and len(self.turns) >= policy.turns_per_minute:
            return (
                f"budget: {len(self.turns)} turns in the last minute "
                f"(limit {policy.turns_per_minute})"
            )
        used = sum(n for _, n in self.tokens)
        if policy.tokens_per_minute and used >= policy.tokens_per_minute:
            return f"budget: {used} tokens in the last minute (limit {policy.tokens_per_minute})"
        return None

    def loop_guard(self, policy: RoomPolicy, trigger: Trigger) -> str | None:
        if trigger.author_kind != "persona":
            return None
        if self.persona_chain > policy.max_persona_chain:
            return (
                f"loop: {self.persona_chain} persona messages in a row without a human "
                f"(limit {policy.max_persona_chain})"
            )
        text = _normalized(trigger.text)
        earlier = list(self.recent_persona_texts)[:-1]  # the trigger itself is the last one
        if text and text in earlier:
            return "loop: the message repeats an earlier persona message"
        return None


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())[:500]


def arbitrate(
    bids: Sequence[Bid],
    policy: RoomPolicy,
    ledger: RoomLedger,
    trigger: Trigger,
    now: float | None = None,
) -> Outcome:
    """Decide one turn. Does not change the ledger (``record_grant`` does)."""
    now = time.monotonic() if now is None else now
    mentioned = set(trigger.mentions)
    author, floor = trigger.author_id, policy.min_confidence
    top = 0.0  # the best eligible confidence: aging counts only within its band
    for b in bids:
        c = b.confidence
        if (
            c > top
            and b.persona_id != author
            and (c >= floor or b.mentioned or b.persona_id in mentioned)
        ):
            top = c
    contention = top - policy.aging_band - 1e-9
    waits = ledger.waited
    scored: list[tuple[Bid, float, int, bool, str]] = []
    for bid in bids:
        # Aging is for personas that fit the message about equally (``contending``).
        waited = waits.get(bid.persona_id, 0) if bid.confidence >= contention else 0
        value = score(bid, waited, policy.aging)
        is_mentioned = bid.mentioned or bid.persona_id in mentioned
        if bid.persona_id == trigger.author_id:
            scored.append((bid, value, waited, False, "the author of the message"))
        elif is_mentioned:
            scored.append((bid, value, waited, True, "mentioned"))
        elif bid.confidence < policy.min_confidence:
            scored.append(
                (
                    bid,
                    value,
                    waited,
                    False,
                    f"confidence {bid.confidence:.2f} under {policy.min_confidence:.2f}",
                )
            )
        else:
            scored.append((bid, value, waited, True, f"score {value:.3f}"))

    def finish(winners: list[str], reason: str) -> Outcome:
        chosen = set(winners)
        result = [
            Scored(
                b,
                round(v, 6),
                w,
                e,
                b.persona_id in chosen,
                ("won: " if b.persona_id in chosen else "") + why,
            )
            for b, v, w, e, why in scored
        ]
        return Outcome(winners, result, reason)

    blocked = ledger.over_budget(policy, now) or ledger.loop_guard(policy, trigger)
    if blocked:
        return finish([], blocked)
    eligible = [(b, v, w) for b, v, w, e, _ in scored if e]
    if not eligible:
        return finish([], "no eligible bid" if bids else "no persona bid")
    ranked = sorted(eligible, key=lambda x: (-x[1], -x[2], x[0].persona_id))
    forced = [b.persona_id for b, _, _ in ranked if b.mentioned or b.persona_id in mentioned]
    if forced:
        return finish(forced[:16], "mentioned: " + ", ".join(forced[:16]))
    if policy.policy == "round-robin":
        order = sorted(b.persona_id for b, _, _ in eligible)
        after = [p for p in order if ledger.last_speaker is None or p > ledger.last_speaker]
        winner = (after or order)[0]
        return finish([winner], f"round-robin: next after {ledger.last_speaker or 'nobody'}")
    if policy.policy == "top-k":
        winners = [b.persona_id for b, _, _ in ranked[: policy.k]]
        return finish(winners, f"top-{policy.k} by score")
    best, value, waited = ranked[0]
    detail = f"best score {value:.3f}"
    if len(ranked) > 1:
        detail += f" over {ranked[1][0].persona_id} ({ranked[1][1]:.3f})"
    if waited:
        detail += f", {waited} turns of aging"
    return finish([best.persona_id], detail)
