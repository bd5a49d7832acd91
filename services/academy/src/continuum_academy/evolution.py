"""Evolution of genomes: evaluate -> select -> mutate / cross over -> replace.

A member's genome is a stack of LoRA layers (at most ``max_layers``), each
with a weight. The seeds' layers are inherited genes: a member trains only a
layer of its own on top of them, so relatives share them exactly (by
fingerprint). One generation:

1. evaluate every new member on each skill's dev exercises (train split:
   the held-out split is for reports only);
2. speciate by behaviour and weight signature (``species``); a species
   whose best has not improved for ``patience`` generations goes extinct
   (unless it holds the best member of some skill);
3. keep each species' best (elitism); fill the rest of every island with
   children of tournament winners (``species.tournament``: judged on one
   random skill each time): with probability ``crossover`` two winners'
   stacks are aligned by gene, the genes both inherited kept once and the
   layers above them merged (exact sum, TIES, DARE, or coefficients learned
   per rank-one direction), then one mutation: train its own layer a few
   steps on the tournament's skill (silent on the others, so it merges well), or
   on all the run's skills at once (``mixed_training`` of the time: the
   population's whole environment, where generalists come from; learning
   rate and rank mutate with it), Gaussian noise on its own layer, add a
   layer from another member, or remove a layer;
4. every ``migrate_every`` generations each island's best moves on.

Members' weights are saved (safetensors) before the generation's event is
appended, so an interrupted run resumes from its last completed generation.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from continuum_academy import recipe
from continuum_academy.exams import accuracy, passes
from continuum_academy.lab.data import MixedExamples, SkillExamples
from continuum_academy.lab.merge import learned_merge, merge
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.lab.weights import LoraWeights, concat, load, perturb, rerank
from continuum_academy.render import render
from continuum_academy.skills import Exercise, Skill, draw
from continuum_academy.species import (
    Profile,
    migrate,
    speciate,
    stagnant_species,
    tournament,
)

#: A genome's layers, bottom first, each with the weight of its update.
Stack = list[tuple[LoraWeights, float]]

#: How a crossover combines the parents' differing layers: their exact sum
#: (``cat``), TIES / DARE-TIES on the full updates, or the sum with one
#: coefficient per rank-one direction of each parent's update, fitted to the
#: run's skills (``learned``; per direction merged better than per module in
#: the benchmark, docs/benchmarks.md).
CROSSOVERS = ("cat", "ties_svd", "dare_ties_svd", "learned")
#: Train-split problems a training mutation checks the member on to find its failures.
FAILURE_DRAW = 32
#: The smallest share of its learning rate a nearly perfect member trains at.
MIN_STEP_SCALE = 0.1


#: Ranks a rank mutation picks from (the recipe's, and smaller: a member that
#: learned with fewer directions merges and re-factors cheaper).
RANKS = (8, 16, 32, recipe.RANK)


def mutation_effects(members: Sequence[Any]) -> dict[str, int]:
    """How the training mutations among ``members`` (children of one parent,
    trained on one skill) changed that skill's score: improved, harmed, same.
    ``members`` are Genomes or their events (``mutated``, ``before``, ``scores``);
    a member kept over several generations (an elite) is counted once."""
    out = {"improved": 0, "harmed": 0, "unchanged": 0}
    seen: set[str] = set()
    for member in members:
        if member.member_id in seen:
            continue
        seen.add(member.member_id)
        before = getattr(member, "before", None)
        skill = getattr(member, "mutated", "")
        if before is None or not skill or skill not in member.scores:
            continue
        after = member.scores[skill]
        key = "improved" if after > before else "harmed" if after < before else "unchanged"
        out[key] += 1
    return out


@dataclass(frozen=True)
class EvolutionConfig:
    skills: tuple[str, ...]
    population: int = 16
    generations: int = 10
    islands: int = 2
    seed: int = 0
    dev_exercises: int = 48
    train_steps: int = 60
    batch: int = recipe.BATCH
    #: A member's first layer: the flag-free recipe's rank and learning rate
    #: (``recipe``), so evolution starts where ``academy train`` would.
    learning_rate: float = recipe.LEARNING_RATE
    rank: int = recipe.RANK
    max_layers: int = 3
    crossover: float = 0.3
    #: The share of training mutations that train on all the run's skills at once
    #: (the rest train on the skill of the tournament that chose the parent).
    mixed_training: float = 0.3
    #: Weight of the penalty for a layer trained on one skill acting on the others
    #: (``TrainingPlan.silence``; 0: none).
    silence: float = 1.0
    #: Steps that fit a learned crossover's coefficients (``learned_merge``).
    merge_steps: int = 100
    species_threshold: float = 0.2
    patience: int = 4
    migrate_every: int = 3

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class Genome:
    member_id: str
    layers: Stack = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    origin: str = "seed"
    learning_rate: float = recipe.LEARNING_RATE
    rank: int = recipe.RANK
    island: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    signature: list[float] = field(default_factory=list)
    species: int = -1
    age: int = 0
    #: A child made by a training mutation alone: the skill it was trained on and
    #: its parent's score there (the child's own score then says if it helped).
    mutated: str = ""
    before: float | None = None

    @property
    def fitness(self) -> float:
        return sum(self.scores.values()) / max(1, len(self.scores))

    def weights(self) -> LoraWeights | None:
        return concat(self.layers) if self.layers else None


@dataclass
class GenerationReport:
    generation: int
    members: list[Genome]
    extinct: list[int]
    seconds: float


def signature(weights: LoraWeights | None, size: int = 64, seed: int = 7) -> list[float]:
    """A seeded random sketch of the layer's whole update (ΔW = B·A per module)."""
    import torch

    if weights is None:
        return [0.0] * size
    generator = torch.Generator().manual_seed(seed)
    sketch = torch.zeros(size)
    scale = weights.alpha / weights.rank
    for module in weights.modules():
        a = weights.tensors[f"{module}.lora_A.weight"].float()
        b = weights.tensors[f"{module}.lora_B.weight"].float()
        probe = torch.randn(a.shape[1], size, generator=generator)
        out = torch.randn(size, b.shape[0], generator=generator)
        sketch += torch.diagonal(out @ (b @ (a @ probe))) * scale
    return [float(v) for v in sketch]


class Evolution:
    def __init__(
        self,
        lab: Lab,
        skills: dict[str, Skill],
        config: EvolutionConfig,
        workdir: Path,
        on_generation: Callable[[GenerationReport], None] | None = None,
        progress: Callable[[str], None] | None = None,
        seed_layers: Sequence[tuple[str, LoraWeights | Sequence[LoraWeights]]] = (),
    ) -> None:
        self.lab, self.config, self.workdir = lab, config, workdir
        #: What the first generation starts from (name, a layer or a stack of
        #: layers), in turn with the bare base.
        self.seed_stacks = [
            (name, [layers] if isinstance(layers, LoraWeights) else list(layers))
            for name, layers in seed_layers
        ]
        #: The seeds' layers, by fingerprint: genes no member trains again.
        #: Members grow their own layers on top, so relatives keep these
        #: exactly and a crossover merges only the layers in which they differ.
        self.inherited = {layer.fingerprint() for _, stack in self.seed_stacks for layer in stack}
        self.skills = {name: skills[name] for name in config.skills}
        self.on_generation = on_generation
        self.progress = progress or (lambda _: None)
        self.rng = random.Random(config.seed)
        self.dev: dict[str, list[Exercise]] = {
            name: draw(skill, "train", config.dev_exercises, seed=10_000 + config.seed)
            for name, skill in self.skills.items()
        }
        self.training = {
            name: SkillExamples(
                [],
                skill,
                partial(render, lab.tokenizer),
                exclude=frozenset(e.key for e in self.dev[name]),
            )
            for name, skill in self.skills.items()
        }
        self.counter = 0
        self.representatives: dict[int, Profile] = {}
        self.next_species = 0
        self.best_history: dict[int, list[float]] = {}

    # -- members ------------------------------------------------------------------------

    def _new_id(self, generation: int) -> str:
        self.counter += 1
        return f"g{generation}-m{self.counter}"

    def seed_population(self) -> list[Genome]:
        """The first generation: the bare base model, and each seed layer, in turn."""
        c = self.config
        starts: list[tuple[str, list[LoraWeights]]] = [("base model", []), *self.seed_stacks]
        members = []
        for i in range(c.population):
            name, stack = starts[i % len(starts)]
            members.append(
                Genome(
                    self._new_id(0),
                    layers=[(layer, 1.0) for layer in stack],
                    learning_rate=c.learning_rate * self.rng.choice((0.5, 1.0, 2.0)),
                    rank=c.rank,
                    island=i % c.islands,
                    origin=f"seed ({name})",
                )
            )
        return members

    def evaluate(self, member: Genome) -> None:
        weights = member.weights()
        for name, exercises in self.dev.items():
            member.scores[name] = accuracy(passes(self.lab, weights, exercises))
        member.signature = signature(weights)

    # -- variation ----------------------------------------------------------------------

    def _failures(self, member: Genome, skill: str, seed: int) -> list[tuple[str, str]]:
        """Train-split problems (never the dev set) the member gets wrong, with
        their gold answers: what a training mutation works on first."""
        dev = {e.key for e in self.dev[skill]}
        exercises = [
            e
            for e in draw(self.skills[skill], "train", FAILURE_DRAW + len(dev), seed=seed)
            if e.key not in dev
        ][:FAILURE_DRAW]
        results = passes(self.lab, member.weights(), exercises)
        return [
            (render(self.lab.tokenizer, e), e.gold or "")
            for e, passed in zip(exercises, results, strict=True)
            if not passed
        ]

    def _train(self, member: Genome, skill: str, seed: int, before: float | None = None) -> str:
        """Train the member on ``skill``, or on every skill of the run at once
        (``mixed_training`` of the time); returns what it was trained on.

        A mutation on one skill trains on the member's own failures (half of
        each batch, the rest fresh problems so it does not forget what it gets
        right), with a step scaled by its error there: a member right on 95%
        of the dev set is refined, not shaken (the median mutation used to
        change nothing, ADR 0021)."""
        source: Any = self.training[skill]
        others = [s for name, s in self.training.items() if name != skill]
        scale = 1.0
        if others and self.rng.random() < self.config.mixed_training:
            skill = "+".join(self.training)
            source, others = MixedExamples(list(self.training.values())), []
        else:
            failures = self._failures(member, skill, seed)
            if failures:
                source = replace(source, attempts=failures, gold_share=0.5)
            if before is not None:
                scale = min(1.0, max(MIN_STEP_SCALE, 1.0 - before))
                member.mutated, member.before = skill, before
        plan = TrainingPlan(
            rank=member.rank,
            alpha=2.0 * member.rank,
            learning_rate=member.learning_rate * scale,
            steps=self.config.train_steps,
            batch=self.config.batch,
            seed=seed,
            silence=self.config.silence,
            # A mutation refines a member; it must not start with the largest
            # step there is. A new layer's A aligned with the gradient (what
            # speeds up training from scratch) makes Adam's first, sign-sized
            # steps move the output along the loss's steepest directions: over
            # a converged 96% arithmetic layer, 60 steps at lr 1e-3 left 42% from
            # the aligned start and 94% from peft's random one (ADR 0012).
            gradient_init_batches=0,
        )
        below, top = self._own_top(member)
        under = concat(below) if below else None
        # Trained on one skill, the layer learns to leave the others alone, so
        # that a crossover with another skill's specialist keeps both.
        silent_on = MixedExamples(others) if others and self.config.silence else None
        result = train(self.lab, source, plan, init=top, under=under, silent_on=silent_on)
        member.layers = [*below, (result.weights, 1.0)]
        return skill

    def _inherited(self, layer: LoraWeights) -> bool:
        return layer.fingerprint() in self.inherited

    def _own_top(self, member: Genome) -> tuple[Stack, LoraWeights | None]:
        """What training keeps frozen, and the layer it goes on training.

        A member trains only its own top layer, over the frozen rest; when its
        top is an inherited (seed) layer it grows a fresh one over the whole
        stack instead, unless the stack is full.
        """
        layers = member.layers
        if not layers:
            return [], None
        top, weight = layers[-1]
        if self._inherited(top) and len(layers) < self.config.max_layers:
            return list(layers), None
        return list(layers[:-1]), concat([(top, weight)])

    def mutate(
        self, child: Genome, skill: str, pool: Sequence[Genome], before: float | None = None
    ) -> str:
        """Vary ``child``; ``before`` is its score on ``skill`` as it is (its
        parent's, when it was not crossed), which scales a training step."""
        roll = self.rng.random()
        if roll < 0.6 or not child.layers:
            if self.rng.random() < 0.3:
                child.learning_rate = min(
                    3e-2, max(3e-4, child.learning_rate * self.rng.choice((0.5, 2.0)))
                )
            note = ""
            if self.rng.random() < 0.2:
                child.rank = self.rng.choice(RANKS)
                below, top = self._own_top(child)
                if top is not None:  # its own layer, re-factored at the new rank before training
                    child.layers = [*below, (rerank(top, child.rank), 1.0)]
                note = f", rank {child.rank}"
            trained_on = self._train(child, skill, self.rng.randrange(2**31), before)
            return f"train({trained_on}, lr {child.learning_rate:.0e}{note})"
        own = [i for i, (layer, _) in enumerate(child.layers) if not self._inherited(layer)]
        if roll < 0.75 and own:  # noise on a layer of its own: inherited genes stay shared
            index = self.rng.choice(own)
            layer, weight = child.layers[index]
            child.layers[index] = (perturb(layer, 0.05, self.rng.randrange(2**31)), weight)
            return "noise(0.05)"
        if roll < 0.9 and len(child.layers) < self.config.max_layers:
            donors = [g for g in pool if g.layers and g.member_id != child.member_id]
            if donors:
                donor = self.rng.choice(donors)
                child.layers.append((donor.layers[-1][0], 0.5))
                return f"add-layer(from {donor.member_id})"
        if len(child.layers) > 1:
            child.layers.pop(self.rng.randrange(len(child.layers)))
            return "remove-layer"
        trained_on = self._train(child, skill, seed=self.rng.randrange(2**31))
        return f"train({trained_on})"

    def crossover(self, a: Genome, b: Genome) -> tuple[Stack, str]:
        """Align the parents' stacks by gene and merge only where they differ.

        As NEAT aligns genes by their history, the layers both parents
        inherited (same fingerprint, same weight, from the bottom up) are kept
        once; each parent's layers above them are summed into one update and
        the two updates merged: their exact sum, TIES/DARE on the full updates
        (re-factored by SVD), or the sum with one coefficient per rank-one
        direction of each parent's update fitted to the run's skills.
        Merging whole stacks would count the shared genes twice, and merging
        separately trained layers factor by factor is not a merge of what
        they do.
        """
        shared = 0
        for (la, wa), (lb, wb) in zip(a.layers, b.layers, strict=False):
            if wa != wb or la.fingerprint() != lb.fingerprint():
                break
            shared += 1
        prefix, rest_a, rest_b = a.layers[:shared], a.layers[shared:], b.layers[shared:]
        if not rest_a or not rest_b:  # one holds nothing beyond the genes they share
            return [*prefix, *(rest_a or rest_b)], "copy"
        combination = self.rng.choice(CROSSOVERS)
        tops = [concat(rest_a), concat(rest_b)]
        if combination == "learned":
            merged = learned_merge(
                self.lab,
                tops,
                list(self.training.values()),
                steps=self.config.merge_steps,
                batch=max(1, self.config.batch // 2),
                seed=self.rng.randrange(2**31),
                under=concat(prefix) if prefix else None,
                per_direction=True,
            )
        else:
            merged = merge(
                self.lab,
                tops,
                [1.0, 1.0],
                combination,
                density=0.7,
                seed=self.rng.randrange(2**31),
            )
        over = f" over {shared} shared" if shared else ""
        return [*prefix, (merged, 1.0)], f"cross({combination}{over})"

    # -- one generation -----------------------------------------------------------------

    def step(self, generation: int, members: list[Genome]) -> list[Genome]:
        """Evaluate and speciate ``members``; return the next generation."""
        started = time.perf_counter()
        c = self.config
        for index, member in enumerate(members):
            if not member.scores:
                self.progress(f"generation {generation}: evaluating {index + 1}/{len(members)}")
                self.evaluate(member)
        profiles = [
            Profile(m.member_id, m.scores, m.signature, m.island, parents=m.parents)
            for m in members
        ]
        self.representatives, self.next_species = speciate(
            profiles, self.representatives, c.species_threshold, self.next_species
        )
        for member, profile in zip(members, profiles, strict=True):
            member.species = profile.species
        for species in {m.species for m in members}:
            best = max(m.fitness for m in members if m.species == species)
            self.best_history.setdefault(species, []).append(best)
        protect = {max(members, key=lambda m: m.scores.get(s, 0.0)).species for s in c.skills}
        living = {m.species for m in members}
        extinct = [
            s
            for s in stagnant_species(
                {s: h for s, h in self.best_history.items() if s in living}, c.patience, protect
            )
        ]
        if self.on_generation is not None:
            self.on_generation(
                GenerationReport(generation, members, extinct, time.perf_counter() - started)
            )
        if generation + 1 >= c.generations:
            return members
        return self.reproduce(generation + 1, members, set(extinct))

    def reproduce(self, generation: int, members: list[Genome], extinct: set[int]) -> list[Genome]:
        c = self.config
        alive = [m for m in members if m.species not in extinct] or members
        if generation % c.migrate_every == 0:
            for member_id, island in migrate(
                [Profile(m.member_id, m.scores, [], m.island) for m in alive], c.islands
            ):
                next(m for m in alive if m.member_id == member_id).island = island
        elites: list[Genome] = []
        for species in sorted({m.species for m in alive}):
            best = max((m for m in alive if m.species == species), key=lambda m: m.fitness)
            elites.append(best)
        for skill in c.skills:  # and the best at each skill, whatever its species
            best = max(alive, key=lambda m: m.scores.get(skill, 0.0))
            if best not in elites:
                elites.append(best)
        elites = elites[: max(1, c.population // 2)]
        for elite in elites:
            elite.age += 1
        survivors = elites
        children: list[Genome] = []
        by_island = {i: [m for m in alive if m.island == i] for i in range(c.islands)}
        while len(survivors) + len(children) < c.population:
            island = (len(children)) % c.islands
            pool = by_island[island] or alive
            profiles = [Profile(m.member_id, m.scores, [], m.island) for m in pool]
            winner, skill = tournament(profiles, c.skills, self.rng)
            parent = next(m for m in pool if m.member_id == winner.member_id)
            child = Genome(
                self._new_id(generation),
                layers=list(parent.layers),
                parents=[parent.member_id],
                learning_rate=parent.learning_rate,
                rank=parent.rank,
                island=island,
            )
            origin = []
            before: float | None = parent.scores.get(skill)
            if self.rng.random() < c.crossover and len(pool) > 1:
                other_profile, _ = tournament(profiles, c.skills, self.rng)
                other = next(m for m in pool if m.member_id == other_profile.member_id)
                if other is not parent:
                    child.layers, how = self.crossover(parent, other)
                    child.parents.append(other.member_id)
                    origin.append(how)
                    before = None  # a crossed child's own score before the mutation is unknown
            self.progress(f"generation {generation}: breeding {len(children) + 1}")
            origin.append(self.mutate(child, skill, alive, before))
            child.origin = " + ".join(origin)
            children.append(child)
        return survivors + children

    # -- persistence --------------------------------------------------------------------

    def save(self, generation: int, members: list[Genome]) -> Path:
        directory = self.workdir / f"generation-{generation:04d}"
        tmp = directory.with_suffix(".tmp")
        for member in members:
            for index, (layer, _) in enumerate(member.layers):
                layer.save(tmp / member.member_id / f"layer-{index}")
        state = {
            "generation": generation,
            "counter": self.counter,
            "next_species": self.next_species,
            "best_history": {str(k): v for k, v in self.best_history.items()},
            "representatives": {
                str(k): {"member_id": p.member_id, "scores": p.scores, "signature": p.signature}
                for k, p in self.representatives.items()
            },
            "rng": _encode_rng(self.rng),
            "inherited": sorted(self.inherited),
            "members": [
                {
                    "member_id": m.member_id,
                    "weights": [w for _, w in m.layers],
                    "parents": m.parents,
                    "origin": m.origin,
                    "learning_rate": m.learning_rate,
                    "rank": m.rank,
                    "island": m.island,
                    "scores": m.scores,
                    "signature": m.signature,
                    "species": m.species,
                    "age": m.age,
                    "mutated": m.mutated,
                    "before": m.before,
                }
                for m in members
            ],
        }
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "state.json").write_text(json.dumps(state))
        if directory.exists():
            import shutil

            shutil.rmtree(directory)
        tmp.rename(directory)
        return directory

    def restore(self, generation: int) -> list[Genome]:
        directory = self.workdir / f"generation-{generation:04d}"
        state = json.loads((directory / "state.json").read_text())
        self.counter = int(state["counter"])
        self.next_species = int(state["next_species"])
        self.best_history = {int(k): list(v) for k, v in state["best_history"].items()}
        self.representatives = {
            int(k): Profile(v["member_id"], v["scores"], v["signature"])
            for k, v in state["representatives"].items()
        }
        self.rng = _decode_rng(state["rng"])
        self.inherited |= set(state.get("inherited", []))
        members = []
        for m in state["members"]:
            layers = [
                (load(directory / m["member_id"] / f"layer-{i}"), float(w))
                for i, w in enumerate(m["weights"])
            ]
            members.append(
                Genome(
                    m["member_id"],
                    layers,
                    m["parents"],
                    m["origin"],
                    m["learning_rate"],
                    m["rank"],
                    m["island"],
                    m["scores"],
                    m["signature"],
                    m["species"],
                    m["age"],
                    m.get("mutated", ""),
                    m.get("before"),
                )
            )
        return members

    def run(self, start_after: int | None = None) -> list[Genome]:
        """Run (or resume after generation ``start_after``) to the last generation."""
        if start_after is None:
            members, first = self.seed_population(), 0
        else:
            members = self.restore(start_after)
            if start_after + 1 >= self.config.generations:
                return members
            members = self.reproduce(start_after + 1, members, set())
            first = start_after + 1
        for generation in range(first, self.config.generations):
            members = self.step(generation, members)
        return members


def _encode_rng(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _decode_rng(state: list[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((state[0], tuple(state[1]), state[2]))
    return rng


def best_generalist(members: Sequence[Genome]) -> Genome:
    """The member with the best worst skill (ties: the best mean)."""
    return max(members, key=lambda m: (min(m.scores.values(), default=0.0), m.fitness))
