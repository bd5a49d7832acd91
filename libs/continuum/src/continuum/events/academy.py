"""Events of the academy context: training sessions, exercises, attempts,
scores, training jobs, A/B tests and evolution runs.

- ``evt.academy.session.<id>``: a TrainingSession aggregate. Its exercises,
  their attempts and every score (automated grader, AI judge, human) are
  events of the session, so a leaderboard or a grader's reputation is a
  projection that replays to the same result.
- ``evt.academy.training.<id>``: a self-training job (a child layer).
- ``evt.academy.abtest.<id>``: an A/B test; its variants are registered
  before any is evaluated.
- ``evt.academy.evolution.<id>``: an evolution run, one event per completed
  generation (an interrupted run resumes after the last one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from continuum.events.catalog import catalog
from continuum.events.persona import PERSONA_ID_PATTERN, Combination, GenomeLayerRef

SKILL_PATTERN = r"^[a-z][a-z0-9-]{0,47}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Split = Literal["train", "heldout"]
Submitter = Literal["persona", "human", "tool"]
ScoreSource = Literal["grader", "ai_judge", "human"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@catalog.register(context="academy", aggregate="session", name="created")
class SessionCreated(_Payload):
    """A TrainingSession: a persona takes ``exercises`` exercises of a skill."""

    persona_id: str = Field(pattern=PERSONA_ID_PATTERN)
    skill: str = Field(pattern=SKILL_PATTERN)
    split: Split = "heldout"
    exercises: int = Field(ge=1, le=1000)
    seed: int = Field(ge=0)
    created_by: str = Field(default="", max_length=128)
    #: The persona judging free-form attempts (empty: automated graders only).
    judge_persona: str = Field(default="", max_length=64)


@catalog.register(context="academy", aggregate="session", name="exercise_issued")
class ExerciseIssued(_Payload):
    """An Exercise of the session. ``answer`` is the gold answer, never shown to solvers."""

    exercise_id: str = Field(pattern=ID_PATTERN)
    #: The problem's identity across sessions (the same key = the same problem).
    key: str = Field(pattern=r"^[0-9a-f]{16}$")
    prompt: str = Field(min_length=1, max_length=8000)
    rubric: str = Field(default="", max_length=2000)
    grader: dict[str, Any]
    answer: str | None = Field(default=None, max_length=8000)
    examples: list[list[str]] = Field(default_factory=list, max_length=8)


@catalog.register(context="academy", aggregate="session", name="started")
class SessionStarted(_Payload):
    """The session's persona was asked to attempt its exercises."""

    started_by: str = Field(default="", max_length=128)


@catalog.register(context="academy", aggregate="session", name="attempt_submitted")
class AttemptSubmitted(_Payload):
    """An Attempt at an exercise, by the persona, a human or an external tool."""

    attempt_id: str = Field(pattern=ID_PATTERN)
    exercise_id: str = Field(pattern=ID_PATTERN)
    submitter: Submitter
    #: Who: a persona id, a human's name, a tool's name. Leaderboards rank these.
    contestant: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=20000)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=32)


@catalog.register(context="academy", aggregate="session", name="scored")
class AttemptScored(_Payload):
    """A Score of an attempt, from an automated grader, an AI judge or a human."""

    attempt_id: str = Field(pattern=ID_PATTERN)
    source: ScoreSource
    #: The grader's identity (``exact``, ``unit_tests``, ``ai-judge:<persona>``,
    #: ``human:<name>``); its reputation weights this score.
    grader: str = Field(min_length=1, max_length=160)
    score: float = Field(ge=0.0, le=1.0)
    passed: bool
    detail: str = Field(default="", max_length=2000)


@catalog.register(context="academy", aggregate="session", name="closed")
class SessionClosed(_Payload):
    reason: str = Field(default="complete", max_length=200)


class Hyperparameters(_Payload):
    rank: int = Field(default=16, ge=1, le=256)
    alpha: int = Field(default=32, ge=1, le=1024)
    learning_rate: float = Field(default=3e-3, gt=0.0, le=1.0)
    steps: int = Field(default=300, ge=1, le=100_000)
    batch: int = Field(default=32, ge=1, le=1024)
    target_modules: list[str] = Field(default_factory=list, max_length=64)
    #: The learning-rate schedule after warmup (jobs recorded before it existed used cosine).
    schedule: Literal["constant", "cosine"] = "cosine"
    #: float32, or bfloat16 autocast (faster where the CPU has bf16; see docs/benchmarks.md).
    precision: Literal["float32", "bfloat16"] = "float32"


@catalog.register(context="academy", aggregate="training", name="started")
class TrainingStarted(_Payload):
    """A self-training job: a child layer from graded attempts and gold answers."""

    persona_id: str = Field(pattern=PERSONA_ID_PATTERN)
    skill: str = Field(pattern=SKILL_PATTERN)
    parent_genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=32)
    hyperparameters: Hyperparameters
    #: How many passed attempts the job trains on.
    from_attempts: int = Field(ge=0)
    #: The share of each batch drawn fresh from the skill's train-split gold answers.
    gold_share: float = Field(default=0.0, ge=0.0, le=1.0)
    #: A fixed number of gold answers (jobs started before gold was drawn fresh).
    from_gold: int = Field(default=0, ge=0)
    seed: int = Field(ge=0)
    layer_name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    #: The recipe chooses the hyperparameters (``academy train`` with no flags):
    #: ``hyperparameters`` are then only where it starts, and a ``planned`` event
    #: records what it chose and why.
    auto: bool = False
    #: The CPU budget of an automatic job, in CPU-seconds (all threads together).
    cpu_seconds: float = Field(default=600.0, gt=0.0, le=7 * 24 * 3600.0)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Reason = Annotated[str, Field(max_length=500)]


@catalog.register(context="academy", aggregate="training", name="planned")
class TrainingPlanned(_Payload):
    """What the recipe chose for an automatic job, from measured probe runs, and why."""

    hyperparameters: Hyperparameters
    eval_every: int = Field(ge=1)
    patience: int = Field(ge=1)
    target: Share
    #: Measured wall seconds a step, per precision, and of one dev check.
    step_seconds: dict[Literal["float32", "bfloat16"], Annotated[float, Field(gt=0.0)]]
    eval_seconds: float = Field(ge=0.0)
    #: Dev loss after the probe steps, per learning rate tried (keys: the rate as text).
    probes: dict[Annotated[str, Field(max_length=32)], float] = Field(max_length=16)
    estimate_seconds: float = Field(ge=0.0)
    reasons: list[Reason] = Field(default_factory=list, max_length=16)
    warnings: list[Reason] = Field(default_factory=list, max_length=16)


KindName = Annotated[str, Field(max_length=64)]


@catalog.register(context="academy", aggregate="training", name="completed")
class TrainingCompleted(_Payload):
    layer: str = Field(min_length=3, max_length=200)  # the published layer@version
    final_loss: float
    seconds: float = Field(ge=0.0)
    resumed_from_step: int = Field(default=0, ge=0)
    #: Dev accuracy (train split, never trained on: drawn by another seed) of the
    #: parent genome and of the child; None in events recorded before they were kept.
    dev_before: Share | None = None
    dev_after: Share | None = None
    #: The child's dev accuracy per kind of problem, where the skill has kinds.
    dev_after_by_kind: dict[KindName, Share] = Field(default_factory=dict, max_length=64)
    #: Dev checks during the run ([step, accuracy]) and why it stopped where it did.
    checks: list[tuple[int, Share]] = Field(default_factory=list, max_length=1000)
    stopped: str = Field(default="", max_length=500)
    steps_done: int = Field(default=0, ge=0)
    #: CPU-seconds the job used (all threads), where measured.
    cpu_seconds: float | None = Field(default=None, ge=0.0)


@catalog.register(context="academy", aggregate="training", name="failed")
class TrainingFailed(_Payload):
    error: str = Field(max_length=2000)


class Variant(_Payload):
    name: str = Field(min_length=1, max_length=64)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=32)
    combination: Combination = "cat"


@catalog.register(context="academy", aggregate="abtest", name="registered")
class AbTestRegistered(_Payload):
    """Every variant of a test, recorded before any is evaluated (no best-of-N bias)."""

    persona_id: str = Field(pattern=PERSONA_ID_PATTERN)
    skill: str = Field(pattern=SKILL_PATTERN)
    control: Variant
    variants: list[Variant] = Field(min_length=1, max_length=16)
    method: Literal["sequential", "fixed"] = "sequential"
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    exercises: int = Field(ge=1, le=5000)
    seed: int = Field(ge=0)
    promote: bool = True


class VariantResult(_Payload):
    name: str
    verdict: Literal["child", "parent", "undecided"]
    accuracy: float
    control_accuracy: float
    variant_only: int
    control_only: int
    exercises: int
    detail: str = Field(max_length=500)


@catalog.register(context="academy", aggregate="abtest", name="concluded")
class AbTestConcluded(_Payload):
    results: list[VariantResult]
    #: The variant swapped into the persona's genome (empty: none won significantly).
    promoted: str = ""


@catalog.register(context="academy", aggregate="abtest", name="failed")
class AbTestFailed(_Payload):
    """A test that could not be run to its end (its skill or a layer went away)."""

    error: str = Field(max_length=2000)


class Member(_Payload):
    """One genome of an evolution run's population."""

    member_id: str = Field(pattern=ID_PATTERN)
    parents: list[str] = Field(default_factory=list, max_length=4)
    origin: str = Field(max_length=200)  # how it was made: seed, mutate(...), cross(...)
    scores: dict[str, float]
    fitness: float
    species: int = Field(ge=0)
    island: int = Field(ge=0)
    rank: int = Field(ge=0)
    #: Made by a training mutation alone: the skill trained, and the parent's
    #: score there (so the run can count mutations that helped and that harmed).
    mutated: str = Field(default="", max_length=64)
    before: float | None = Field(default=None, ge=0.0, le=1.0)


@catalog.register(context="academy", aggregate="evolution", name="started")
class EvolutionStarted(_Payload):
    skills: list[str] = Field(min_length=1, max_length=8)
    population: int = Field(ge=2, le=256)
    generations: int = Field(ge=1, le=1000)
    islands: int = Field(ge=1, le=16)
    seed: int = Field(ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)


@catalog.register(context="academy", aggregate="evolution", name="generation_completed")
class GenerationCompleted(_Payload):
    """A generation was evaluated; its members' weights are saved before this event."""

    generation: int = Field(ge=0)
    members: list[Member]
    species: dict[str, int] = Field(default_factory=dict)  # species id -> best member's age
    extinct: list[int] = Field(default_factory=list)
    seconds: float = Field(ge=0.0)


@catalog.register(context="academy", aggregate="evolution", name="completed")
class EvolutionCompleted(_Payload):
    champions: dict[str, str] = Field(default_factory=dict)  # skill -> published layer ref
    summary: dict[str, Any] = Field(default_factory=dict)


# -- games: ``evt.academy.game.<id>`` ------------------------------------------------

GameKind = Literal["tic-tac-toe", "connect-four"]


class GamePlayer(_Payload):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
    kind: Literal["persona", "human"]


@catalog.register(context="academy", aggregate="game", name="started")
class GameStarted(_Payload):
    """A turn-based game began in a room; the first player moves first (X)."""

    game: GameKind
    room: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    players: list[GamePlayer] = Field(min_length=2, max_length=2)
    started_by: str = Field(min_length=1, max_length=128)


@catalog.register(context="academy", aggregate="game", name="moved")
class MovePlayed(_Payload):
    """A legal move (the referee checked it against the whole game so far)."""

    player: str = Field(min_length=1, max_length=128)
    move: int = Field(ge=1, le=9)
    ply: int = Field(ge=1, le=42)


@catalog.register(context="academy", aggregate="game", name="ended")
class GameEnded(_Payload):
    """The result: a line, a full board, or a player giving up (forfeit)."""

    result: Literal["win", "draw", "forfeit"]
    winner: str | None = Field(default=None, max_length=128)
    reason: str = Field(default="", max_length=500)


# -- code: ``evt.academy.workspace.<name>`` and ``evt.academy.proposal.<id>`` -------------

WORKSPACE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


@catalog.register(context="academy", aggregate="workspace", name="registered")
class WorkspaceRegistered(_Payload):
    """A git repository personas may propose changes to (never its checked-out branch)."""

    path: str = Field(min_length=1, max_length=4096)
    test_command: list[str] = Field(min_length=1, max_length=32)
    registered_by: str = Field(min_length=1, max_length=128)
    #: Rooms where a request naming one of its files gets a proposal.
    rooms: list[str] = Field(default_factory=list, max_length=64)


@catalog.register(context="academy", aggregate="proposal", name="submitted")
class ProposalSubmitted(_Payload):
    """A change as a unified diff that applies cleanly to ``base_commit``."""

    workspace: str = Field(pattern=WORKSPACE_PATTERN)
    persona_id: str = Field(min_length=1, max_length=128)
    summary: str = Field(min_length=1, max_length=300)
    patch: str = Field(min_length=1, max_length=49_152)
    files: list[str] = Field(min_length=1, max_length=200)
    base_commit: str = Field(pattern=r"^[0-9a-f]{40,64}$")
    request: str = Field(default="", max_length=4000)
    room: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


@catalog.register(context="academy", aggregate="proposal", name="tested")
class ProposalTested(_Payload):
    """The workspace's tests, run on the change in the academy's sandbox."""

    passed: bool
    exit_code: int | None = None
    killed: bool = False
    seconds: float = Field(ge=0)
    output: str = Field(default="", max_length=8000)


@catalog.register(context="academy", aggregate="proposal", name="approved")
class ProposalApproved(_Payload):
    """A human approved it: committed on its own branch of the workspace."""

    approved_by: str = Field(min_length=1, max_length=128)
    branch: str = Field(min_length=1, max_length=255)
    commit: str = Field(pattern=r"^[0-9a-f]{40,64}$")


@catalog.register(context="academy", aggregate="proposal", name="rejected")
class ProposalRejected(_Payload):
    """A human turned it down; the workspace never saw it."""

    rejected_by: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=1000)
