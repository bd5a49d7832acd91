"""Training jobs, A/B tests and evolution runs folded from the academy log (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from continuum.events.academy import (
    AbTestConcluded,
    AbTestFailed,
    AbTestRegistered,
    EvolutionCompleted,
    EvolutionStarted,
    GenerationCompleted,
    TrainingCompleted,
    TrainingFailed,
    TrainingPlanned,
    TrainingStarted,
)


@dataclass
class TrainingJob:
    job_id: str
    started: TrainingStarted
    completed: TrainingCompleted | None = None
    failed: str | None = None
    #: What the recipe chose (automatic jobs).
    planned: TrainingPlanned | None = None
    #: Live progress (not in the log): step, steps, loss.
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "completed" if self.completed else "failed" if self.failed else "running"


@dataclass
class AbTest:
    test_id: str
    registered: AbTestRegistered
    concluded: AbTestConcluded | None = None
    failed: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "concluded" if self.concluded else "failed" if self.failed else "running"


@dataclass
class EvolutionRun:
    run_id: str
    started: EvolutionStarted
    generations: list[GenerationCompleted] = field(default_factory=list)
    completed: EvolutionCompleted | None = None
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "completed" if self.completed else "running"


class RunBook:
    def __init__(self) -> None:
        self.training: dict[str, TrainingJob] = {}
        self.abtests: dict[str, AbTest] = {}
        self.evolutions: dict[str, EvolutionRun] = {}

    def apply(self, aggregate: str, run_id: str, payload: object) -> None:
        if isinstance(payload, TrainingStarted):
            self.training[run_id] = TrainingJob(run_id, payload)
        elif isinstance(payload, TrainingCompleted) and run_id in self.training:
            self.training[run_id].completed = payload
        elif isinstance(payload, TrainingPlanned) and run_id in self.training:
            self.training[run_id].planned = payload
        elif isinstance(payload, TrainingFailed) and run_id in self.training:
            self.training[run_id].failed = payload.error
        elif isinstance(payload, AbTestRegistered):
            self.abtests[run_id] = AbTest(run_id, payload)
        elif isinstance(payload, AbTestConcluded) and run_id in self.abtests:
            self.abtests[run_id].concluded = payload
        elif isinstance(payload, AbTestFailed) and run_id in self.abtests:
            self.abtests[run_id].failed = payload.error
        elif isinstance(payload, EvolutionStarted):
            self.evolutions[run_id] = EvolutionRun(run_id, payload)
        elif isinstance(payload, GenerationCompleted) and run_id in self.evolutions:
            run = self.evolutions[run_id]
            if all(g.generation != payload.generation for g in run.generations):
                run.generations.append(payload)
        elif isinstance(payload, EvolutionCompleted) and run_id in self.evolutions:
            self.evolutions[run_id].completed = payload
