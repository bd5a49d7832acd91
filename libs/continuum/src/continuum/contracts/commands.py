"""Every service's commands (``cmd.<service>.<op>``), with what they take and answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from continuum.contracts.base import Command, Empty, Layers, Reply, Request, Text, integer
from continuum.events.chat import Bid
from continuum.events.persona import BackendRef, Combination, GenomeLayerRef

# -- every service ---------------------------------------------------------------------


class Health(Reply):
    service: str
    status: Literal["ok", "degraded"]
    nats: bool
    postgres: bool
    pid: int
    uptime_s: float
    version: str
    projections: dict[str, Any]


class Rebuild(Request):
    progress: str | None = Field(
        default=None, description="An inbox to receive {done, total} progress messages."
    )


class Rebuilt(Reply):
    projection: str
    events: int
    seconds: float


class Redrive(Request):
    dlq_seq: int = Field(ge=1, description="The dead letter's sequence in the DLQ stream.")


class Redriven(Reply):
    redriven: int


def health(service: str) -> Command:
    return Command(service, "health", "Health and readiness of an instance.", Empty, Health)


def projection_commands(projection: str) -> list[Command]:
    """What every projection answers: rebuild, status, and redrive of its dead letters."""
    return [
        Command(
            "projections",
            f"{projection}.rebuild",
            f"Drop the {projection} read model and replay the log into it.",
            Rebuild,
            Rebuilt,
        ),
        Command(
            "projections",
            f"{projection}.status",
            f"Where the {projection} projection is in each stream it reads.",
        ),
        redrive(projection),
    ]


def redrive(consumer: str) -> Command:
    return Command(
        "dlq",
        f"{consumer}.redrive",
        f"Process a dead letter of {consumer} again, then remove it.",
        Redrive,
        Redriven,
    )


# -- gateway ---------------------------------------------------------------------------


class EventQuery(Request):
    limit: integer("limit", 1, 1000) = 100  # type: ignore[valid-type]
    type: str | None = Field(default=None, max_length=256)
    subject: str | None = Field(default=None, max_length=256)


class NewToken(Request):
    name: Text
    scopes: list[str] = Field(max_length=8)


class ById(Request):
    id: str = Field(min_length=1, max_length=64)


class NewPublisher(Request):
    name: Text
    key: str = Field(min_length=1, max_length=128, description="Ed25519 public key.")


class ByKey(Request):
    key: str = Field(min_length=1, max_length=128)


class MeshGenerate(Request):
    prompt: str = Field(min_length=1, max_length=8000)
    persona: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Persona id or name; none = the best persona for the prompt (capability).",
    )
    mesh: str = Field(
        default="global",
        min_length=1,
        max_length=128,
        description="local, lan, global, or a node (id, id prefix or name).",
    )
    max_tokens: integer("max_tokens", 1, 8192) | None = None  # type: ignore[valid-type]
    deadline_s: float = Field(default=300.0, gt=0, le=3600)
    stream: str | None = Field(
        default=None, description="An inbox for JSON frames: pieces, moves, the route."
    )


class MeshGenerated(Reply):
    text: str
    status: str
    node: str
    route: list[dict[str, Any]]
    candidates: list[dict[str, Any]]


class PeersQuery(Request):
    solicit: bool = Field(
        default=False, description="Ask every peer to announce itself first (after a join)."
    )


class MeshPeers(Reply):
    node: str
    peers: list[dict[str, Any]]
    lan: list[dict[str, Any]] = Field(description="Nodes heard by LAN beacons lately.")


class JoinCheck(Request):
    url: str = Field(min_length=1, max_length=512, description="nats-leaf://HOST:PORT")


class JoinChecked(Reply):
    ok: bool
    reason: str


class MarketRelay(Request):
    op: Literal[
        "listings", "show", "search", "order", "usage", "rate", "wallet", "statement",
        "licences", "price", "compute",
    ]  # fmt: skip
    body: dict[str, Any] = Field(default_factory=dict)


GATEWAY = [
    Command(
        "gateway",
        "mesh.check-join",
        "Whether joining a hub would close a loop.",
        JoinCheck,
        JoinChecked,
    ),
    Command(
        "gateway",
        "mesh.generate",
        "Generate on the best node of the mesh.",
        MeshGenerate,
        MeshGenerated,
    ),
    Command("gateway", "mesh.peers", "The mesh as this node sees it.", PeersQuery, MeshPeers),
    Command(
        "gateway", "market", "Ask the market this node uses (its own or a peer's).", MarketRelay
    ),
    Command("gateway", "events.stats", "Events in the log, by type."),
    Command("gateway", "events.query", "Events from the event-log read model.", EventQuery),
    Command("gateway", "tokens.create", "Create an API token (its secret once).", NewToken),
    Command("gateway", "tokens.list", "The API tokens (never their secrets)."),
    Command("gateway", "tokens.revoke", "Revoke an API token.", ById),
    Command("gateway", "publishers.add", "Register a publisher's key.", NewPublisher),
    Command("gateway", "publishers.list", "The registered publisher keys."),
    Command("gateway", "publishers.revoke", "Revoke a publisher's key.", ByKey),
]

# -- scheduler -------------------------------------------------------------------------


class BidRequest(Request):
    room_id: str = Field(min_length=1, max_length=128)
    trigger_message_id: str = Field(min_length=1, max_length=128)
    bid: Bid


class BidStatus(Reply):
    status: str = Field(description="accepted, late, ... (the ThoughtStream's verdict)")


SCHEDULER = [
    Command("scheduler", "bid", "A persona's bid to answer a message.", BidRequest, BidStatus),
]

# -- persona-runtime -------------------------------------------------------------------

PersonaKey = Annotated[str, Field(min_length=1, max_length=64, description="id or name")]


class PersonaRef(Request):
    persona: PersonaKey


class PersonaView(Reply):
    id: str
    name: str
    role: str
    domains: list[str]
    genome: list[dict[str, Any]]
    backend: dict[str, Any]


class PersonaList(Reply):
    personas: list[PersonaView]


class CreatePersona(Request):
    """Exactly these fields (a typo is refused, not ignored): persona-runtime
    validates with this model too."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(min_length=1, max_length=32)
    style: str = Field(default="", max_length=500)
    priority: int = Field(default=128, ge=0, le=255)
    base_model: str = Field(default="builtin", min_length=1, max_length=256)
    backend: BackendRef = Field(default_factory=BackendRef)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=64)
    combination: Combination = "cat"
    rooms: list[str] = Field(default_factory=lambda: ["lobby"], max_length=64)


class UpdatePersona(PersonaRef):
    """Exactly these fields; persona-runtime validates with this model too."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(default=None, min_length=1, max_length=200)
    domains: list[str] | None = Field(default=None, min_length=1, max_length=32)
    style: str | None = Field(default=None, max_length=500)
    priority: int | None = Field(default=None, ge=0, le=255)
    base_model: str | None = Field(default=None, min_length=1, max_length=256)
    backend: BackendRef | None = None
    genome: list[GenomeLayerRef] | None = Field(default=None, max_length=64)
    combination: Combination | None = None


class Generate(PersonaRef):
    prompt: str = Field(min_length=1, max_length=8000)
    max_tokens: integer("max_tokens", 1, 8192) | None = None  # type: ignore[valid-type]
    stream: str | None = Field(default=None, description="An inbox for the pieces as they come.")
    continuation: str = Field(
        default="",
        max_length=32000,
        description="The answer so far (from a node that failed mid-way): continue it.",
    )


class Embed(Request):
    texts: list[Annotated[str, Field(max_length=4000)]] = Field(min_length=1, max_length=32)


class Embedded(Reply):
    vectors: list[str] = Field(description="Normalised embeddings, float16, base64.")


class Offers(Reply):
    personas: list[dict[str, Any]]
    queue_depth: int
    backends: list[str]


class Generated(Reply):
    persona: str
    text: str
    status: str
    tokens: int
    backend: str


class Attempt(PersonaRef):
    session: str
    exercise: str
    prompt: str = Field(min_length=1, max_length=8000)
    rubric: str = ""
    examples: list[Any] = Field(default_factory=list)
    max_tokens: integer("max_tokens", 1, 1024) = 48  # type: ignore[valid-type]


class RetirePersona(PersonaRef):
    by: str = Field(min_length=1, max_length=128, description="Who retires it.")


class PersonaRetiredReply(Reply):
    persona: str
    left: list[str] = Field(description="The rooms it left.")


class SetGenome(PersonaRef):
    layers: list[str] = Field(max_length=64, description="LAYER[@VERSION][:WEIGHT] specs")
    combination: Combination | None = None


class InstallPersonas(Request):
    """Profiles from the catalog (``continuum.roster``) by id or name, or all."""

    model_config = ConfigDict(extra="forbid")

    profiles: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    all: bool = False
    rooms: list[str] = Field(default_factory=lambda: ["lobby"], max_length=64)


class Installed(Reply):
    installed: list[str] = Field(description="Personas created now.")
    present: list[str] = Field(description="Already installed: left as they are.")
    retired: list[str] = Field(description="Retired here before: their ids stay unused.")


class ProfileView(Reply):
    id: str
    name: str
    role: str
    domains: list[str]
    status: Literal["available", "installed", "retired"]


class ProfileList(Reply):
    profiles: list[ProfileView]


class CachePins(Request):
    pin: str | None = Field(default=None, min_length=1, max_length=64)
    unpin: str | None = Field(default=None, min_length=1, max_length=64)


PERSONA_RUNTIME = [
    Command("persona-runtime", "create", "Create a persona.", CreatePersona, PersonaView),
    Command("persona-runtime", "update", "Change a persona.", UpdatePersona, PersonaView),
    Command("persona-runtime", "list", "Every persona.", Empty, PersonaList),
    Command("persona-runtime", "show", "One persona.", PersonaRef, PersonaView),
    Command(
        "persona-runtime",
        "retire",
        "Retire a persona: it leaves its rooms and stops answering.",
        RetirePersona,
        PersonaRetiredReply,
    ),
    Command(
        "persona-runtime",
        "profiles",
        "The installable persona profiles, and which are installed.",
        Empty,
        ProfileList,
    ),
    Command(
        "persona-runtime",
        "install",
        "Install persona profiles from the catalog (or all of them).",
        InstallPersonas,
        Installed,
    ),
    Command("persona-runtime", "generate", "A persona answers a prompt.", Generate, Generated),
    Command("persona-runtime", "attempt", "A persona attempts an academy exercise.", Attempt),
    Command("persona-runtime", "genome", "Set a persona's genome.", SetGenome, PersonaView),
    Command("persona-runtime", "cache", "The layer cache's tiers; pin or unpin.", CachePins),
    Command(
        "persona-runtime", "offers", "What this node's personas offer the mesh.", Empty, Offers
    ),
    Command("persona-runtime", "embed", "Sentence embeddings of texts.", Embed, Embedded),
]

# -- genome-registry -------------------------------------------------------------------

Signature = Annotated[str, Field(min_length=1, max_length=128, description="base64 Ed25519")]


class Publish(Request):
    manifest: dict[str, Any] = Field(description="The layer manifest (see LayerManifest).")
    signature: Signature


class Fork(Publish):
    source: Text


class LayerQuery(Request):
    base_model: str | None = None
    domain: str | None = None
    limit: integer("limit", 0, 1000) = 200  # type: ignore[valid-type]
    offset: integer("offset", 0, 10**9) = 0  # type: ignore[valid-type]


class LayerRef(Request):
    layer: Text
    version: str = Field(default="latest", max_length=64)


class Search(Request):
    query: str = Field(min_length=1, max_length=2000)
    k: integer("k", 1, 100) = 10  # type: ignore[valid-type]
    min_score: float = Field(default=-1.0, ge=-1.0, le=1.0)
    base_model: str | None = None
    domain: str | None = None


class LayerVersion(Reply):
    layer: str
    version: str


class SearchResults(Reply):
    query: str
    results: list[dict[str, Any]]


GENOME_REGISTRY = [
    Command("genome-registry", "publish", "Publish a signed layer.", Publish, LayerVersion),
    Command("genome-registry", "fork", "Fork a layer into a new one.", Fork, LayerVersion),
    Command("genome-registry", "list", "Layers, filtered and paged.", LayerQuery),
    Command("genome-registry", "show", "One layer and its usage.", LayerRef),
    Command("genome-registry", "search", "Layers by meaning.", Search, SearchResults),
    Command("genome-registry", "lineage", "A layer's ancestors and descendants.", LayerRef),
    Command("genome-registry", "manifest", "A layer version's signed manifest.", LayerRef),
]

# -- academy ---------------------------------------------------------------------------


def _rating(value: Any) -> Any:
    if value in ("up", "down"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise ValueError("rating must be up, down or an integer from 1 to 5")


Rating = Annotated[
    Literal["up", "down"] | int,
    BeforeValidator(_rating),
    Field(description="up, down or 1-5"),
]


class CreateSession(Request):
    persona: PersonaKey
    skill: Text
    exercises: int = Field(default=10, ge=1)
    split: Literal["train", "heldout"] = "heldout"
    seed: int | None = Field(default=None, ge=0, le=2**31)
    judge: str | None = None
    created_by: str = ""


class SessionRef(Request):
    session: Text


#: A skill file sent over NATS must fit a message (the Helm chart's max_payload is 1 MiB).
MAX_SKILL_BYTES = 900_000


class Install(Request):
    yaml: str = Field(min_length=1, max_length=MAX_SKILL_BYTES)
    filename: str = Field(default="", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$|^$")


class StartSession(SessionRef):
    by: str = ""


class Submit(SessionRef):
    exercise: Text
    text: str = Field(max_length=20000)
    submitter: Literal["persona", "human", "tool"] = "human"
    contestant: str = ""
    genome: list[GenomeLayerRef] | None = None


class Rate(Request):
    attempt: Text
    rating: Rating
    rater: str = "human"


class Leaderboard(Request):
    skill: Text
    bootstrap: integer("bootstrap", 0, 2000) = 200  # type: ignore[valid-type]


class Train(Request):
    """Without rank, alpha, learning_rate, steps, batch, schedule and precision the
    recipe chooses them from probe runs within ``cpu_minutes``; any of them set
    makes a manual job (the others then default as shown)."""

    persona: PersonaKey
    skill: Text
    rank: int | None = Field(default=None, ge=1, le=256, description="Manual: default 16.")
    alpha: int | None = Field(default=None, ge=1, le=1024)
    learning_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    steps: int | None = Field(default=None, ge=1, le=100_000, description="Manual: default 300.")
    batch: int | None = Field(default=None, ge=1, le=1024)
    schedule: Literal["constant", "cosine"] | None = None
    precision: Literal["float32", "bfloat16"] | None = None
    cpu_minutes: float | None = Field(
        default=None, gt=0.0, le=7 * 24 * 60.0, description="Automatic jobs' budget: default 10."
    )
    seed: int | None = Field(default=None, ge=0, le=2**31)
    gold_share: float | None = Field(default=None, ge=0.0, le=1.0)


class AbTest(Request):
    persona: PersonaKey
    skill: Text
    variants: list[Layers | str] = Field(
        min_length=1, max_length=16, description="Genomes: lists of layer specs, or one spec"
    )
    method: Literal["sequential", "fixed"] = "sequential"
    alpha: float = Field(default=0.05, gt=0.0, le=0.49)
    exercises: int = Field(default=200, ge=1, le=5000)
    seed: int | None = Field(default=None, ge=0, le=2**31)
    promote: bool = True


class Evolve(Request):
    skills: list[str] | str = Field(description="1 to 8 skill names (a list or a comma list)")
    population: int = Field(default=16, ge=2, le=256)
    generations: int = Field(default=10, ge=1, le=1000)
    islands: int = Field(default=2, ge=1, le=16)
    seed: int | None = Field(default=None, ge=0, le=2**31)
    dev_exercises: int = Field(default=48, ge=4, le=1000)
    train_steps: int = Field(default=60, ge=1, le=10_000)
    learning_rate: float = Field(default=3e-3, gt=0.0, le=1.0)
    rank: int = Field(default=8, ge=1, le=256)
    silence: float = Field(default=1.0, ge=0.0, le=100.0)
    seed_layers: list[str] = Field(default_factory=list)


class JobRef(Request):
    job: str | None = None


class TestRef(Request):
    test: str | None = None


class RunRef(Request):
    run: str | None = None


class GamePlayerRef(Request):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,127}$",
        description="A persona id or name, or a human's id.",
    )
    kind: Literal["persona", "human"] = "persona"


class StartGame(Request):
    model_config = ConfigDict(extra="forbid")

    game: Literal["tic-tac-toe", "connect-four"]
    room: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    players: list[GamePlayerRef] = Field(
        min_length=2, max_length=2, description="The first moves first (X)."
    )
    started_by: str = Field(default="", max_length=128)


class GameRef(Request):
    game: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class PlayMove(GameRef):
    model_config = ConfigDict(extra="forbid")

    player: str = Field(min_length=1, max_length=128)
    move: integer("move", 1, 9)  # type: ignore[valid-type]


class ForfeitGame(GameRef):
    model_config = ConfigDict(extra="forbid")

    player: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="resigned", max_length=300)


class GameView(Reply):
    id: str
    game: str
    room: str
    players: list[dict[str, Any]]
    moves: list[int]
    board: str
    legal_moves: list[int]
    to_move: str | None
    result: str | None
    winner: str | None


class GameList(Request):
    room: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class GameLeaderboard(Request):
    game: Literal["tic-tac-toe", "connect-four"]


class AddWorkspace(Request):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="A git repository on the node.")
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    test_command: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(
        default=None, min_length=1, max_length=32, description="Default: python -m pytest -q."
    )
    rooms: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = Field(
        default_factory=list, max_length=64, description="Rooms where personas propose to it."
    )
    by: str = Field(default="", max_length=128)


class Propose(Request):
    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    persona: str = Field(min_length=1, max_length=64)
    summary: str = Field(min_length=1, max_length=300)
    patch: str = Field(min_length=1, max_length=49_152, description="A unified diff.")
    request: str = Field(default="", max_length=4000)
    room: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class WorkspaceRef(Request):
    workspace: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ProposalRef(Request):
    proposal: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class DecideProposal(ProposalRef):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=1000)
    force: bool = Field(default=False, description="Approve even though its tests failed.")


class ProposalList(Request):
    workspace: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


ACADEMY = [
    Command("academy", "skills", "The curriculum's skills."),
    Command("academy", "reload", "Re-read the skills directory; what changed."),
    Command("academy", "install", "Check a YAML skill file and add it to the skills.", Install),
    Command("academy", "create", "Create an exam session.", CreateSession),
    Command("academy", "start", "Start a session (its persona sits it).", StartSession),
    Command("academy", "submit", "Submit an attempt at an exercise.", Submit),
    Command("academy", "rate", "A human rates an attempt.", Rate),
    Command("academy", "close", "Close a session.", SessionRef),
    Command("academy", "sessions", "Every session, summarised."),
    Command("academy", "show", "One session in detail.", SessionRef),
    Command("academy", "leaderboard", "Standings on a skill.", Leaderboard),
    Command("academy", "train", "Train a layer on a skill.", Train),
    Command("academy", "training", "Training jobs (or one).", JobRef),
    Command("academy", "abtest", "A/B-test genomes on a skill.", AbTest),
    Command("academy", "abtests", "A/B tests (or one).", TestRef),
    Command("academy", "evolve", "Evolve genomes across skills.", Evolve),
    Command("academy", "evolution", "Evolution runs (or one).", RunRef),
    Command("academy", "game.start", "Start a game in a room.", StartGame, GameView),
    Command("academy", "game.move", "Play a move (the referee checks it).", PlayMove, GameView),
    Command("academy", "game.forfeit", "A player gives up a game.", ForfeitGame, GameView),
    Command("academy", "game.show", "One game: board, moves, whose turn.", GameRef, GameView),
    Command("academy", "game.list", "Games (in a room, or all).", GameList),
    Command("academy", "game.leaderboard", "Bradley-Terry ratings on a game.", GameLeaderboard),
    Command("academy", "code.workspace.add", "Register a git repository.", AddWorkspace),
    Command("academy", "code.workspace.list", "Registered workspaces."),
    Command("academy", "code.propose", "Propose a change (a unified diff); tests run.", Propose),
    Command("academy", "code.proposals", "Proposals (in a workspace, or all).", ProposalList),
    Command("academy", "code.show", "One proposal: its diff and its test run.", ProposalRef),
    Command("academy", "code.approve", "Approve: commit it on its own branch.", DecideProposal),
    Command("academy", "code.reject", "Reject a proposal.", DecideProposal),
    Command("academy", "code.training_set", "Write the proposals skill from approved proposals."),
    Command("academy", "code.check", "Run a workspace's tests on its HEAD.", WorkspaceRef),
]

# -- marketplace -----------------------------------------------------------------------


class SignedDocument(Request):
    document: dict[str, Any] = Field(
        description="A signed market document (offer, order, usage report, rating; see "
        "continuum.market.documents)"
    )
    signature: Signature


class Listings(Request):
    creator: str | None = Field(default=None, pattern=r"^[a-z2-7]{52}$")
    include_withdrawn: bool = False
    limit: integer("limit", 1, 1000) = 200  # type: ignore[valid-type]
    offset: integer("offset", 0, 10**9) = 0  # type: ignore[valid-type]


class ListingRef(Request):
    layer: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")


class MarketSearch(Request):
    query: str = Field(min_length=1, max_length=2000)
    k: integer("k", 1, 100) = 10  # type: ignore[valid-type]


class AccountRef(Request):
    account: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    limit: integer("limit", 1, 1000) = 50  # type: ignore[valid-type]


class Grant(Request):
    account: str = Field(pattern=r"^[a-z2-7]{52}$|^platform$")
    units: integer("units", 1, 10**12) = 0  # type: ignore[valid-type]
    reason: str = Field(min_length=1, max_length=300)
    by: str = Field(min_length=1, max_length=128)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")


class Refund(Request):
    transaction: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    reason: str = Field(min_length=1, max_length=300)
    by: str = Field(min_length=1, max_length=128)


class ComputeCharge(Request):
    transaction: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    payer: str = Field(pattern=r"^[a-z2-7]{52}$")
    payee: str = Field(pattern=r"^[a-z2-7]{52}$")
    units: integer("units", 1, 10**12) = 1  # type: ignore[valid-type]
    memo: str = Field(default="", max_length=300)


class Licences(Request):
    node: str | None = Field(default=None, pattern=r"^[a-z2-7]{52}$")
    account: str | None = Field(default=None, pattern=r"^[a-z2-7]{52}$")


MARKETPLACE = [
    Command("marketplace", "sell", "List a layer version (a signed offer).", SignedDocument),
    Command("marketplace", "delist", "Withdraw a listing (a signed offer).", SignedDocument),
    Command("marketplace", "listings", "Listings, paged.", Listings),
    Command("marketplace", "show", "One listing with its reputation and demand.", ListingRef),
    Command("marketplace", "search", "Listings by capability, reputation and price.", MarketSearch),
    Command("marketplace", "order", "Buy or rent a layer (a signed order).", SignedDocument),
    Command("marketplace", "usage", "Charge a node's signed usage report.", SignedDocument),
    Command("marketplace", "rate", "Rate a layer (a signed rating).", SignedDocument),
    Command("marketplace", "wallet", "An account's balance.", AccountRef),
    Command("marketplace", "statement", "An account's entries and balance.", AccountRef),
    Command("marketplace", "grant", "Mint credits into an account (admin).", Grant),
    Command("marketplace", "refund", "Reverse a purchase, rental or use (admin).", Refund),
    Command("marketplace", "compute", "Charge a routed generation's price.", ComputeCharge),
    Command("marketplace", "licences", "Licences, by node or account.", Licences),
    Command("marketplace", "price", "A suggested per-use price from demand.", ListingRef),
    Command("marketplace", "audit", "Every balance, their sum and the minted total.", Empty),
]

#: The services' own commands, by service.
SERVICE_COMMANDS: dict[str, list[Command]] = {
    "gateway": GATEWAY,
    "scheduler": SCHEDULER,
    "persona-runtime": PERSONA_RUNTIME,
    "genome-registry": GENOME_REGISTRY,
    "academy": ACADEMY,
    "marketplace": MARKETPLACE,
}


def command(service: str, op: str) -> Command:
    for found in SERVICE_COMMANDS[service]:
        if found.op == op:
            return found
    raise KeyError(f"no command {op!r} of {service}")
