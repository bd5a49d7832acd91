"""Request bodies of the routes that forward to another service.

The services check these fields too (their NATS commands are a door of
their own); declaring them here as well means the gateway refuses a bad
body with a 422 that names the field before anything is forwarded, and the
OpenAPI document says exactly what each operation takes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from continuum.events.academy import SKILL_PATTERN
from continuum.events.genome import LayerManifest
from continuum.events.numbers import NUMBER
from continuum.events.persona import BackendRef, Combination, GenomeLayerRef

#: A persona by id or name, as the routes' paths take it.
PERSONA_KEY = r"^[A-Za-z0-9 _.-]{1,64}$"
#: LAYER[@VERSION][:WEIGHT], as ``continuum.genome.refs.parse_layer_spec`` reads it.
LAYER_SPEC = (
    r"^[a-z0-9][a-z0-9-]{0,63}(@[0-9A-Za-z.+-]{1,48})?"
    r"(:[-+]?(10(\.0{1,6})?|[0-9](\.[0-9]{1,6})?|\.[0-9]{1,6}))?$"
)
Seed = Annotated[int, Field(ge=0, le=2**31, description="Random seed."), NUMBER]
PersonaKey = Annotated[str, Field(pattern=PERSONA_KEY)]
_SKILL = SKILL_PATTERN.strip("^$")
SKILL_LIST = rf"^ *{_SKILL} *(, *{_SKILL} *){{0,7}}$"
SkillName = Annotated[str, Field(pattern=SKILL_PATTERN)]


def matching(pattern: str, problem: str) -> AfterValidator:
    """A pattern check whose refusal says what was expected in words (pydantic
    would quote the regular expression); the schema still states the pattern."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(check)


LayerSpec = Annotated[
    str,
    Field(json_schema_extra={"pattern": LAYER_SPEC}, description="LAYER[@VERSION][:WEIGHT]"),
    matching(
        LAYER_SPEC,
        "{value!r} is not a layer reference (LAYER[@VERSION][:WEIGHT] with a weight from "
        "-10 to 10, e.g. python-async@1.0.0:0.7)",
    ),
]
SIGNATURE = r"^[A-Za-z0-9+/]{86}==$"
LearningRate = Annotated[float, Field(gt=0.0, le=1.0), NUMBER]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def sent(request: Request) -> dict[str, Any]:
    """The body exactly as the caller sent it, once its model has validated it:
    what the service receives (a model's dump could differ: a URL normalised
    with a trailing "/", a float written as an int)."""
    body = await request.json()  # Starlette keeps the body FastAPI read
    if not isinstance(body, dict):
        raise TypeError("a validated body is a JSON object")
    return body


class NewSession(_Body):
    persona: PersonaKey = Field(description="The persona that sits the exercises.")
    skill: SkillName
    exercises: Annotated[int, Field(ge=1, le=500), NUMBER] = 10
    split: Literal["train", "heldout"] = "heldout"
    seed: Seed | None = None
    judge: PersonaKey | None = Field(default=None, description="A persona that judges answers.")


class NewAttempt(_Body):
    text: str = Field(max_length=20_000)
    submitter: Literal["human", "tool"] = "human"
    contestant: str | None = Field(default=None, min_length=1, max_length=128)


class Rating(_Body):
    rating: Literal["up", "down"] | Annotated[int, Field(ge=1, le=5), NUMBER]

    @model_validator(mode="before")
    @classmethod
    def _one_rule(cls, data: Any) -> Any:
        """One clear sentence instead of an error per branch of the union."""
        rating = data.get("rating") if isinstance(data, dict) else None
        if rating in ("up", "down") or (
            isinstance(rating, int | float)
            and not isinstance(rating, bool)
            and rating in (1, 2, 3, 4, 5)  # 3.0 is the integer 3, as in JSON Schema
        ):
            return data
        if isinstance(data, dict) and set(data) <= {"rating"}:
            raise ValueError("rating must be up, down or an integer from 1 to 5")
        return data


class NewSkill(_Body):
    """A skill file in the README's YAML format (``name``, ``description``,
    ``rubric``, ``examples``, ``exercises``)."""

    yaml: str = Field(min_length=1, max_length=900_000, description="The file's text.")
    filename: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$|^$",
        description="Its name, for error messages.",
    )


class NewTraining(_Body):
    """Give none of rank, alpha, learning_rate, steps, batch, schedule and precision
    and the academy's recipe chooses them from short probe runs on the skill's dev
    exercises, within ``cpu_minutes``; give any and the job is manual (the others
    then take the defaults their descriptions name)."""

    persona: PersonaKey
    skill: SkillName
    rank: Annotated[int, Field(ge=1, le=256, description="Manual default: 16."), NUMBER] | None = (
        None
    )
    alpha: Annotated[int, Field(ge=1, le=1024, description="Default: 2 x rank."), NUMBER] | None = (
        None
    )
    learning_rate: LearningRate | None = Field(default=None, description="Manual default: 0.003.")
    steps: (
        Annotated[int, Field(ge=1, le=100_000, description="Manual default: 300."), NUMBER] | None
    ) = None
    batch: (
        Annotated[int, Field(ge=1, le=1024, description="Manual default: 32."), NUMBER] | None
    ) = None
    schedule: Literal["constant", "cosine"] | None = Field(
        default=None, description="Manual default: constant."
    )
    precision: Literal["float32", "bfloat16"] | None = Field(
        default=None, description="Manual default: float32."
    )
    cpu_minutes: (
        Annotated[
            float,
            Field(
                gt=0.0,
                le=7 * 24 * 60.0,
                description="An automatic job's budget in CPU-minutes (all threads); default 10.",
            ),
            NUMBER,
        ]
        | None
    ) = None
    seed: Seed | None = None
    gold_share: Annotated[float, Field(ge=0.0, le=1.0), NUMBER] | None = None


class NewAbTest(_Body):
    persona: PersonaKey
    skill: SkillName
    variants: list[Annotated[list[LayerSpec], Field(max_length=32)] | LayerSpec] = Field(
        min_length=1, max_length=16, description="Genomes to test against the persona's own."
    )
    method: Literal["sequential", "fixed"] = "sequential"
    alpha: Annotated[float, Field(gt=0.0, le=0.49), NUMBER] = 0.05
    exercises: Annotated[int, Field(ge=1, le=5000), NUMBER] = 200
    seed: Seed | None = None
    promote: StrictBool = True


class NewEvolution(_Body):
    skills: (
        Annotated[list[SkillName], Field(min_length=1, max_length=8)]
        | Annotated[str, Field(pattern=SKILL_LIST)]
    ) = Field(description="1 to 8 skill names, as a list or comma-separated.")
    population: Annotated[int, Field(ge=2, le=256), NUMBER] = 16
    generations: Annotated[int, Field(ge=1, le=1000), NUMBER] = 10
    islands: Annotated[int, Field(ge=1, le=16), NUMBER] = 2
    seed: Seed | None = None
    dev_exercises: Annotated[int, Field(ge=4, le=1000), NUMBER] = 48
    train_steps: Annotated[int, Field(ge=1, le=10_000), NUMBER] = 60
    learning_rate: LearningRate = 3e-3
    rank: Annotated[int, Field(ge=1, le=256), NUMBER] = 8
    silence: Annotated[float, Field(ge=0.0, le=100.0), NUMBER] = 1.0
    seed_layers: list[LayerSpec] = Field(default_factory=list, max_length=16)


class NewPersona(_Body):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=200)
    domains: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=32
    )
    style: str = Field(default="", max_length=500)
    priority: Annotated[int, Field(ge=0, le=255), NUMBER] = 128
    base_model: str = Field(default="builtin", min_length=1, max_length=256)
    backend: BackendRef = Field(default_factory=BackendRef)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=64)
    combination: Combination = "cat"
    rooms: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = Field(
        default_factory=lambda: ["lobby"], max_length=64
    )


_ROOMS = Field(
    default_factory=lambda: ["lobby"],
    max_length=64,
    description="The rooms the installed personas join.",
)


class InstallNamed(_Body):
    """Some profiles from the catalog (``GET /v1/persona-profiles``), by id or name."""

    profiles: list[Annotated[str, Field(pattern=PERSONA_KEY)]] = Field(
        min_length=1, max_length=32, description="Profile ids or names."
    )
    rooms: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = _ROOMS


class InstallAll(_Body):
    """Every profile in the catalog."""

    all: Literal[True]
    rooms: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = _ROOMS


PersonaInstall = InstallNamed | InstallAll


class GamePlayer(_Body):
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,127}$",
        description="A persona's id or name, or a human player's name.",
    )
    kind: Literal["persona", "human"] = "persona"


class NewGame(_Body):
    game: Literal["tic-tac-toe", "connect-four"]
    room: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    players: list[GamePlayer] = Field(
        min_length=2, max_length=2, description="The first moves first (X)."
    )


class GameMove(_Body):
    player: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
    move: Annotated[int, Field(ge=1, le=9), NUMBER] = Field(
        description="Tic-tac-toe: the cell, 1-9 row by row; Connect Four: the column, 1-7."
    )


class GameForfeit(_Body):
    player: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
    reason: str = Field(default="resigned", max_length=300)


class NewWorkspace(_Body):
    path: str = Field(min_length=1, max_length=4096, description="A git repository on the node.")
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    test_command: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(
        default=None, min_length=1, max_length=32, description="Default: python -m pytest -q."
    )
    rooms: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = Field(
        default_factory=list,
        max_length=64,
        description="Rooms where a request naming one of its files gets a proposal.",
    )


class NewProposal(_Body):
    workspace: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    persona: str = Field(pattern=PERSONA_KEY, description="The persona proposing it.")
    summary: str = Field(min_length=1, max_length=300)
    patch: str = Field(min_length=1, max_length=49_152, description="A unified diff.")
    request: str = Field(default="", max_length=4000)
    room: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Decision(_Body):
    reason: str = Field(default="", max_length=1000)
    force: StrictBool = Field(default=False, description="Approve although its tests failed.")


def _drop_null(schema: dict[str, Any]) -> None:
    """JSON Schema of a model whose optional fields may be left out but not
    sent as null: each ``anyOf: [X, null]`` property becomes plain X."""
    for prop in schema.get("properties", {}).values():
        variants = prop.pop("anyOf", None)
        if variants is None:
            continue
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept
        if prop.get("default", ...) is None:
            del prop["default"]


def _at_least_one(schema: dict[str, Any]) -> None:
    _drop_null(schema)
    schema["minProperties"] = 1


class _Changes(_Body):
    """A body of optional fields that may be left out, never sent as null
    (a null would read as "change it to nothing")."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: leave a field out instead of sending null")
        return data


class PersonaChanges(_Changes):
    """Only the fields given change; at least one must be."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_at_least_one)

    role: str | None = Field(default=None, min_length=1, max_length=200)
    domains: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, min_length=1, max_length=32
    )
    style: str | None = Field(default=None, max_length=500)
    priority: Annotated[int, Field(ge=0, le=255), NUMBER] | None = None
    base_model: str | None = Field(default=None, min_length=1, max_length=256)
    backend: BackendRef | None = None
    genome: list[GenomeLayerRef] | None = Field(default=None, max_length=64)
    combination: Combination | None = None

    @model_validator(mode="after")
    def _something(self) -> PersonaChanges:
        if not self.model_fields_set:
            raise ValueError(
                "nothing to update: give role, domains, style, priority, base_model, backend, "
                "genome or combination"
            )
        return self


class NewGenome(_Changes):
    layers: list[LayerSpec] = Field(max_length=64)
    combination: Combination | None = None


class SignedManifest(_Body):
    manifest: LayerManifest
    signature: Annotated[
        str,
        Field(
            json_schema_extra={"pattern": SIGNATURE},
            description="Ed25519 signature of the manifest's canonical JSON by its creator, "
            "base64.",
        ),
        matching(SIGNATURE, "the manifest is not signed: base64 of an Ed25519 signature expected"),
    ]


class Fork(SignedManifest):
    """A fork is published like a layer; its manifest names the source as a parent."""


class NewGeneration(_Body):
    prompt: str = Field(min_length=1, max_length=8000, description="What to ask.")
    persona: PersonaKey | None = Field(
        default=None,
        description="Persona id or name; none = the persona whose domains best match the prompt.",
    )
    mesh: str = Field(
        default="local",
        pattern=r"^[A-Za-z0-9 _.-]{1,128}$",
        description="local (this node), lan, global, or a node (id, id prefix or name).",
    )
    max_tokens: Annotated[int, Field(ge=1, le=8192), NUMBER] | None = None
    deadline_s: Annotated[float, Field(ge=5, le=3600), NUMBER] = Field(
        default=300.0, description="Give up (and say so) after this many seconds."
    )
    stream: StrictBool = Field(
        default=False,
        description="Stream frames as Server-Sent Events (also when Accept is "
        "text/event-stream): route, piece, moved, then done with the result.",
    )
