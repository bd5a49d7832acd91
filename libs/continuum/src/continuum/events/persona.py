"""Events of the persona context: who a persona is, what it remembers, how it did."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter

from continuum.events.catalog import catalog
from continuum.events.numbers import NUMBER

PERSONA_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_URL = 2000
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _an_http_url(value: str) -> str:
    """Checked as an http(s) URL, kept exactly as written: a normalised form
    (pydantic adds a "/") would change what the creator's event says."""
    _HTTP_URL.validate_python(value)
    return value


_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: What a backend URL may look like: a subset of http(s) URLs that a schema
#: can state exactly (host, port, path, query).
HTTP_URL_PATTERN = (
    rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?"
    r"(/([A-Za-z0-9._~/-]|%[0-9A-Fa-f]{2})*)?(\?([A-Za-z0-9._~=&-]|%[0-9A-Fa-f]{2})*)?$"
)
HttpUrlText = Annotated[
    str,
    Field(max_length=MAX_URL, pattern=HTTP_URL_PATTERN, json_schema_extra={"format": "uri"}),
    AfterValidator(_an_http_url),
]


class BackendRef(_Payload):
    """Which inference backend a persona generates with.

    ``auto`` is Ollama when one answers at OLLAMA_HOST, else the built-in
    model. ``model`` names the model on that backend (an Ollama tag, an
    OpenAI-compatible model or LoRA name); ``url`` overrides the server.
    """

    kind: Literal["auto", "builtin", "transformers", "ollama", "openai"] = "auto"
    model: str = Field(default="", max_length=256)
    url: HttpUrlText | None = None
    #: For kind=transformers: a Hugging Face model directory on this node.
    path: str = Field(default="", max_length=1024)
    #: What 1,000 generated tokens cost on this backend (a paid API), in any
    #: unit the node uses consistently; bids carry the expected cost of a turn.
    cost_per_1k_tokens: Annotated[float, Field(ge=0.0, le=1_000_000.0), NUMBER] = 0.0


class GenomeLayerRef(_Payload):
    layer_id: str = Field(min_length=1, max_length=128)
    version: str = Field(default="latest", max_length=64)
    weight: Annotated[float, Field(ge=-10.0, le=10.0), NUMBER] = 1.0


#: How a genome of several layers is combined (peft's add_weighted_adapter):
#: ``cat`` is the exact weighted sum of the updates; the others trade
#: exactness for a smaller rank or less interference between layers.
Combination = Literal["cat", "linear", "svd", "ties", "ties_svd", "dare_linear", "dare_ties"]


class ActiveLayer(_Payload):
    """A layer that was applied to a generation: the resolved version and weight."""

    layer: str = Field(min_length=3, max_length=200)
    weight: float = Field(ge=-10.0, le=10.0)


class Profile(_Payload):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=200)
    #: What the persona is good at; embedded to judge how well a message fits it.
    domains: list[str] = Field(min_length=1, max_length=32)
    style: str = Field(default="", max_length=500)
    priority: Annotated[int, Field(ge=0, le=255), NUMBER] = 128


@catalog.register(context="persona", aggregate="persona", name="created")
class PersonaCreated(_Payload):
    """A persona came into being on this node, with its public key."""

    profile: Profile
    public_key: str = Field(min_length=52, max_length=52)
    base_model: str = Field(default="builtin", min_length=1, max_length=256)
    backend: BackendRef = Field(default_factory=BackendRef)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=64)
    combination: Combination = "cat"
    rooms: list[str] = Field(default_factory=list, max_length=64)
    seeded: bool = False


@catalog.register(context="persona", aggregate="persona", name="updated")
class PersonaUpdated(_Payload):
    """Some of a persona's profile, backend, base model or genome changed."""

    profile: Profile | None = None
    base_model: str | None = Field(default=None, min_length=1, max_length=256)
    backend: BackendRef | None = None
    genome: list[GenomeLayerRef] | None = Field(default=None, max_length=64)
    combination: Combination | None = None


@catalog.register(context="persona", aggregate="persona", name="retired")
class PersonaRetired(_Payload):
    """The persona was retired: it leaves its rooms, stops bidding and
    answering, and its id (and name) are not used again. Its log stays."""

    retired_by: str = Field(min_length=1, max_length=128)


@catalog.register(context="persona", aggregate="persona", name="memory_added")
class MemoryAdded(_Payload):
    """Something the persona will remember (and bid on) from now on."""

    text: str = Field(min_length=1, max_length=1000)
    source: str = Field(default="", max_length=128)


@catalog.register(context="persona", aggregate="persona", name="outcome_recorded")
class OutcomeRecorded(_Payload):
    """How one of the persona's turns went: the learn step of its cognition."""

    room_id: str = Field(max_length=64)
    turn_id: str = Field(max_length=64)
    message_id: str | None = Field(default=None, max_length=64)
    status: Literal["complete", "interrupted", "failed", "abandoned"]
    tokens: int = Field(ge=0)
    first_token_ms: float | None = Field(default=None, ge=0)
    duration_ms: float = Field(ge=0)
    backend: str = Field(max_length=64)
    #: The genome layers that were active (monitoring: usage per layer).
    genome: list[ActiveLayer] = Field(default_factory=list, max_length=64)
    #: Time to make the genome live for this generation (cache hit: ~0).
    genome_load_ms: float | None = Field(default=None, ge=0)
