"""TrainingSession aggregates folded from ``evt.academy.session.*`` (no I/O).

The academy keeps every session in memory (replayed on start, then
followed) to validate commands: an attempt names a known exercise of an
open session, once per contestant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from continuum.events.academy import (
    AttemptScored,
    AttemptSubmitted,
    ExerciseIssued,
    SessionClosed,
    SessionCreated,
    SessionStarted,
)


class SessionError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AttemptState:
    submitted: AttemptSubmitted
    scores: dict[str, AttemptScored] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        grader = next((s for s in self.scores.values() if s.source == "grader"), None)
        return None if grader is None else grader.passed


@dataclass
class SessionState:
    session_id: str
    created: SessionCreated
    version: int = 0
    exercises: dict[str, ExerciseIssued] = field(default_factory=dict)
    attempts: dict[str, AttemptState] = field(default_factory=dict)
    started: bool = False
    closed: str | None = None

    @property
    def status(self) -> str:
        if self.closed is not None:
            return "closed"
        return "running" if self.started else "created"

    def attempts_of(self, contestant: str) -> dict[str, AttemptState]:
        """exercise id -> this contestant's attempt."""
        return {
            a.submitted.exercise_id: a
            for a in self.attempts.values()
            if a.submitted.contestant == contestant
        }

    def check_attempt(self, exercise_id: str, contestant: str) -> ExerciseIssued:
        if exercise_id not in self.exercises:
            raise SessionError(f"session {self.session_id} has no exercise {exercise_id!r}", 404)
        if self.closed is not None:
            raise SessionError(f"session {self.session_id} is closed ({self.closed})", 409)
        if exercise_id in self.attempts_of(contestant):
            raise SessionError(
                f"{contestant} already attempted exercise {exercise_id}; it is closed to them",
                409,
            )
        return self.exercises[exercise_id]

    def summary(self) -> dict[str, Any]:
        mine = self.attempts_of(self.created.persona_id)
        passed = sum(1 for a in mine.values() if a.passed)
        others = [
            a for a in self.attempts.values() if a.submitted.contestant != self.created.persona_id
        ]
        return {
            "session_id": self.session_id,
            "persona": self.created.persona_id,
            "skill": self.created.skill,
            "split": self.created.split,
            "status": self.status,
            "exercises": len(self.exercises),
            "attempted": len(mine),
            "passed": passed,
            "accuracy": round(passed / len(self.exercises), 4) if self.exercises else 0.0,
            "attempts": len(self.attempts),
            # Humans' and tools' attempts: counted apart from the persona's.
            "others_attempted": len(others),
            "others_passed": sum(1 for a in others if a.passed),
        }


class SessionBook:
    """Every session, by id."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionState] = {}

    def apply(self, session_id: str, payload: object, seq: int) -> None:
        if isinstance(payload, SessionCreated):
            self.sessions[session_id] = SessionState(session_id, payload)
        state = self.sessions.get(session_id)
        if state is None:
            return
        state.version = seq
        if isinstance(payload, ExerciseIssued):
            state.exercises[payload.exercise_id] = payload
        elif isinstance(payload, SessionStarted):
            state.started = True
        elif isinstance(payload, AttemptSubmitted):
            state.attempts[payload.attempt_id] = AttemptState(payload)
        elif isinstance(payload, AttemptScored):
            attempt = state.attempts.get(payload.attempt_id)
            if attempt is not None:
                attempt.scores[payload.grader] = payload
        elif isinstance(payload, SessionClosed):
            state.closed = payload.reason

    def get(self, session_id: str) -> SessionState:
        state = self.sessions.get(session_id)
        if state is None:
            raise SessionError(f"unknown session {session_id!r}", 404)
        return state

    def find_attempt(self, attempt_id: str) -> tuple[SessionState, AttemptState]:
        for state in self.sessions.values():
            if attempt_id in state.attempts:
                return state, state.attempts[attempt_id]
        raise SessionError(f"unknown attempt {attempt_id!r}", 404)
