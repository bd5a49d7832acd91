"""The event catalog: every event type Continuum knows, as pydantic models.

An event type is ``continuum.<context>.<aggregate>.<name>.v<N>``; its events
live on the subject ``evt.<context>.<aggregate>.<aggregate id>``. Registering
a payload model here is what makes a type publishable, decodable and part of
the generated AsyncAPI document.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from continuum.events.envelope import AGGREGATE_ID_PATTERN, describe_validation_error
from continuum.events.errors import InvalidEventData, UnknownEventType, UnknownEventVersion

#: Bounded contexts; each has exactly one JetStream stream (see continuum.store.topology).
CONTEXTS: tuple[str, ...] = ("chat", "persona", "genome", "academy", "market", "mesh")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSIONED = re.compile(r"^(?P<base>.+)\.v(?P<version>\d+)$")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class EventSpec:
    """What the catalog knows about one event type."""

    context: str
    aggregate: str
    name: str
    version: int
    model: type[BaseModel]
    #: Whether external publishers (gateway HTTP, the ingress stream) may emit it.
    #: Events that only a service may state (a node started, a turn was
    #: granted) stay internal, so no outside tool can forge them.
    external: bool = False

    @property
    def type(self) -> str:
        return f"continuum.{self.context}.{self.aggregate}.{self.name}.v{self.version}"

    @property
    def description(self) -> str:
        return (self.model.__doc__ or "").strip()

    def subject_for(self, aggregate_id: str) -> str:
        if not AGGREGATE_ID_PATTERN.match(aggregate_id):
            raise InvalidEventData(
                f"aggregate id {aggregate_id!r} must be 1-128 characters of A-Z a-z 0-9 _ -"
            )
        return f"evt.{self.context}.{self.aggregate}.{aggregate_id}"


#: The modules that register the project's own event types (``continuum.events.*``).
BUILTIN_MODULES = ("academy", "builtin", "chat", "genome", "market", "persona")


class EventCatalog:
    def __init__(self, modules: tuple[str, ...] = ()) -> None:
        self._by_type: dict[str, EventSpec] = {}
        self._by_model: dict[type[BaseModel], EventSpec] = {}
        #: Modules imported before the first lookup, whose imports register their
        #: types: nothing pays for the whole catalog until something looks in it
        #: (a CLI command that only talks HTTP never does).
        self._modules = modules

    def _load(self) -> None:
        if self._modules:
            modules, self._modules = self._modules, ()
            for name in modules:
                importlib.import_module(f"continuum.events.{name}")

    def register(
        self,
        *,
        context: str,
        aggregate: str,
        name: str,
        version: int = 1,
        external: bool = False,
    ) -> Callable[[type[M]], type[M]]:
        if context not in CONTEXTS:
            raise ValueError(f"unknown context {context!r}; contexts are {', '.join(CONTEXTS)}")
        for part in (aggregate, name):
            if not _NAME.match(part):
                raise ValueError(f"{part!r} must be lower_snake_case")

        def decorate(model: type[M]) -> type[M]:
            spec = EventSpec(context, aggregate, name, version, model, external)
            if spec.type in self._by_type:
                raise ValueError(f"event type {spec.type} is registered twice")
            self._by_type[spec.type] = spec
            self._by_model[model] = spec
            return model

        return decorate

    def __iter__(self) -> Iterator[EventSpec]:
        self._load()
        return iter(sorted(self._by_type.values(), key=lambda s: s.type))

    def __contains__(self, event_type: object) -> bool:
        self._load()
        return event_type in self._by_type

    def spec(self, event_type: str) -> EventSpec:
        self._load()
        spec = self._by_type.get(event_type)
        if spec is not None:
            return spec
        match = _VERSIONED.match(event_type)
        if match:
            base = match.group("base")
            known = sorted(
                s.version for s in self._by_type.values() if s.type.startswith(base + ".v")
            )
            if known:
                raise UnknownEventVersion(
                    f"event type {base} has no version {match.group('version')}; "
                    f"known versions: {', '.join(f'v{v}' for v in known)}"
                )
        raise UnknownEventType(
            f"unknown event type {event_type!r}; `continuum events types` lists the catalog"
        )

    def spec_for(self, payload: BaseModel) -> EventSpec:
        spec = self._by_model.get(type(payload))
        if spec is None:
            raise UnknownEventType(f"{type(payload).__name__} is not a registered event payload")
        return spec

    def validate(self, event_type: str, data: Any) -> BaseModel:
        spec = self.spec(event_type)
        try:
            return spec.model.model_validate(data)
        except ValidationError as exc:
            raise InvalidEventData(
                f"data does not match {event_type}: {describe_validation_error(exc)}"
            ) from None


#: The process-wide catalog. Event modules register into it at import time; the
#: project's own are imported on the first lookup.
catalog = EventCatalog(tuple(f"{name}" for name in BUILTIN_MODULES))
