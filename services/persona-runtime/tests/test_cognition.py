"""Perceive (the chat RAG builder) and decide (confidence without an LLM call)."""

from __future__ import annotations

import pytest

from continuum.chat import RoomDirectory
from continuum.embeddings import Embedder
from continuum.events.chat import MessagePosted, RoomCreated
from continuum.events.persona import BackendRef, Profile
from continuum_persona.cognition.chat import ChatRagBuilder
from continuum_persona.cognition.decide import Decider
from continuum_persona.cognition.domains import DomainRegistry, Situation
from continuum_persona.personas import SEEDS, Persona, persona_id_for


def persona(profile: Profile, memory: list[str] | None = None) -> Persona:
    p = Persona(persona_id_for(profile.name), profile, "k" * 52, "builtin", BackendRef(), [])
    p.memory.extend(memory or [])
    return p


def tokens(text: str) -> int:
    return len(text.encode())  # the built-in model's tokenizer is byte-level


def room_with(messages: list[tuple[str, str]]) -> RoomDirectory:
    rooms = RoomDirectory()
    rooms.apply("r", RoomCreated(name="R", topic="Python help", created_by="t"))
    for i, (author, text) in enumerate(messages):
        rooms.apply(
            "r",
            MessagePosted(
                message_id=f"m{i}",
                author_id=author,
                author_kind="persona" if author.endswith("-ai") else "human",
                author_name=author,
                text=text,
            ),
        )
    return rooms


def situation(rooms: RoomDirectory, message_id: str, text: str) -> Situation:
    return Situation("chat", text, "ada", "ada", message_id, rooms.get("r"))


def test_context_has_profile_topic_memory_and_recent_history_in_order() -> None:
    rooms = room_with([("ada", "first"), ("debugger-ai", "an answer"), ("ada", "a KeyError!")])
    debugger = persona(SEEDS[4], ["answered: dict lookups"])
    perception = ChatRagBuilder().build(
        debugger, situation(rooms, "m2", "a KeyError!"), 1000, tokens
    )
    system, *history = perception.messages
    assert "Debugger AI" in system.content and "Room topic: Python help" in system.content
    assert "dict lookups" in system.content
    assert [(m.role, m.content) for m in history] == [
        ("user", "ada: first"),
        ("assistant", "an answer"),
        ("user", "ada: a KeyError!"),
    ]
    assert perception.tokens <= 1000 and perception.dropped_messages == 0


@pytest.mark.parametrize("budget", [64, 200, 1000])
def test_history_is_trimmed_oldest_first_to_fit_the_budget(budget: int) -> None:
    rooms = room_with([("ada", f"message number {i} " * 5) for i in range(60)])
    builder = ChatRagBuilder()
    perception = builder.build(persona(SEEDS[0]), situation(rooms, "m59", ""), budget, tokens)
    used = sum(tokens(m.content) + 4 for m in perception.messages[1:]) + tokens(
        perception.messages[0].content
    )
    assert used <= budget
    assert perception.messages[-1].content.rstrip().endswith("message number 59")
    assert perception.dropped_messages > 0


def test_a_message_too_long_for_the_model_is_cut_never_overflows() -> None:
    huge = "x" * 7_000 + " the question at the end?"
    rooms = room_with([("ada", huge)])
    perception = ChatRagBuilder().build(
        persona(SEEDS[0]), situation(rooms, "m0", huge), 300, tokens
    )
    assert perception.truncated
    assert perception.messages[-1].content.endswith("the question at the end?")
    assert sum(tokens(m.content) for m in perception.messages) <= 300


def test_factories_build_the_registered_domain_and_name_a_missing_one() -> None:
    registry = DomainRegistry()
    registry.register("chat", ChatRagBuilder, lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(registry.rag_builder("chat"), ChatRagBuilder)
    with pytest.raises(KeyError, match="no RAG builder for domain 'game'"):
        registry.rag_builder("game")


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider(Embedder())


@pytest.mark.parametrize(
    ("question", "best"),
    [
        ("How do I fix this Python KeyError?", {"Debugger AI"}),
        ("Can you review my pull request and suggest a refactoring?", {"CodeReview AI"}),
        ("Explain how an RTOS scheduler works", {"Teacher AI"}),
        ("How should I scale the database of a distributed system?", {"Architect AI"}),
        ("Hello! How are you today?", {"Helper AI"}),
    ],
)
def test_the_best_suited_persona_is_the_most_confident(
    decider: Decider, question: str, best: set[str]
) -> None:
    scores = {p.name: decider.confidence(persona(p), question, False).value for p in SEEDS}
    assert max(scores, key=scores.__getitem__) in best, scores


def test_a_mention_is_full_confidence_and_memory_counts(decider: Decider) -> None:
    helper = persona(SEEDS[0])
    assert decider.confidence(helper, "anything", True).value == 1.0
    question = "what is the capital of Burkina Faso?"
    before = decider.confidence(helper, question, False).value
    remembering = persona(SEEDS[0], ["answered: the capital of Burkina Faso is Ouagadougou"])
    assert decider.confidence(remembering, question, False).value > before + 0.2


def test_the_academy_context_is_rubric_examples_and_exercise_and_always_fits() -> None:
    from continuum_persona.cognition.academy import AcademyRagBuilder

    p = persona(SEEDS[0])
    context = {"rubric": "Answer with the number only.", "examples": [["1+1=", "2"], ["2+2=", "4"]]}
    situation = Situation("academy", "12+30=", "academy", "Academy", "m1", context=context)
    roomy = AcademyRagBuilder().build(p, situation, 500, len)
    assert [(m.role, m.content) for m in roomy.messages] == [
        ("system", "Answer with the number only."),
        ("user", "1+1="),
        ("assistant", "2"),
        ("user", "2+2="),
        ("assistant", "4"),
        ("user", "12+30="),
    ]
    tight = AcademyRagBuilder().build(p, situation, 36, len)  # worked examples go first
    assert tight.dropped_messages == 2 and tight.messages[-1].content == "12+30="
    long = Situation("academy", "x" * 5000, "academy", "Academy", "m2", context=context)
    cut = AcademyRagBuilder().build(p, long, 200, len)
    assert cut.truncated and cut.tokens <= 200


async def test_a_nul_a_model_writes_never_reaches_the_answer() -> None:
    """A model may write any byte; text cannot hold NUL (PostgreSQL, the API's
    schema), so the pipeline drops it from every backend's pieces."""
    import asyncio
    from collections.abc import AsyncIterator

    from continuum_lm.generation import ChatMessage, GenerationRequest
    from continuum_persona.cognition.domains import Perception
    from continuum_persona.cognition.pipeline import CognitionPipeline

    class Writes:
        name = "builtin"
        context_tokens = 512

        def count_tokens(self, text: str) -> int:
            return len(text)

        async def stream(
            self, request: GenerationRequest, cancel: asyncio.Event
        ) -> AsyncIterator[str]:
            for piece in ("\x00", "he\x00l", "lo"):
                yield piece

        async def close(self) -> None: ...

    async def nothing(*_: object) -> None: ...

    backend = Writes()
    pipeline = CognitionPipeline(
        DomainRegistry(), Decider(Embedder()), lambda _: backend, lambda _: None,  # type: ignore[arg-type,return-value]
        nothing, nothing,  # type: ignore[arg-type]
    )  # fmt: skip
    seen: list[str] = []

    async def on_delta(piece: str) -> None:
        seen.append(piece)

    perception = Perception([ChatMessage("user", "hi")], 2)
    generation = await pipeline.generate(persona(SEEDS[0]), perception, asyncio.Event(), on_delta)
    assert generation.text == "hello" and seen == ["hel", "lo"]
