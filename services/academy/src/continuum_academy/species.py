"""Speciation by behaviour, tournament selection, islands (pure functions).

A member's behaviour is its per-skill score vector; its weights are
summarised by a random-sketch signature. Two members belong to one species
when their behaviours are close *and* their weights point the same way, so
two routes to the same scores stay apart only if they are far apart in
weight space too. Species keep their ids across generations: a member
joins the nearest living species' representative (the previous
generation's best member of it) within the threshold, or founds a new one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Profile:
    member_id: str
    scores: dict[str, float]
    signature: list[float]
    island: int = 0
    species: int = -1
    parents: list[str] = field(default_factory=list)

    @property
    def fitness(self) -> float:
        return sum(self.scores.values()) / max(1, len(self.scores))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def distance(a: Profile, b: Profile, weight_share: float = 0.25) -> float:
    """Behaviour distance (RMS over skills) blended with weight-signature distance."""
    skills = sorted(set(a.scores) | set(b.scores))
    behaviour = math.sqrt(
        sum((a.scores.get(s, 0.0) - b.scores.get(s, 0.0)) ** 2 for s in skills) / len(skills)
    )
    weights = 0.0
    if a.signature and b.signature and len(a.signature) == len(b.signature):
        weights = (1.0 - cosine(a.signature, b.signature)) / 2.0
    return (1 - weight_share) * behaviour + weight_share * weights


def speciate(
    members: Sequence[Profile],
    representatives: Mapping[int, Profile],
    threshold: float,
    next_id: int,
) -> tuple[dict[int, Profile], int]:
    """Assign ``member.species``; return the new representatives and next free id."""
    reps = dict(representatives)
    for member in sorted(members, key=lambda m: -m.fitness):
        best, best_distance = None, threshold
        for species, rep in reps.items():
            d = distance(member, rep)
            if d <= best_distance:
                best, best_distance = species, d
        if best is None:
            best = next_id
            next_id += 1
            reps[best] = member
        member.species = best
    living = {m.species for m in members}
    new_reps = {}
    for species in living:
        group = [m for m in members if m.species == species]
        new_reps[species] = max(group, key=lambda m: m.fitness)
    return new_reps, next_id


def tournament(
    pool: Sequence[Profile], skills: Sequence[str], rng: random.Random, size: int = 3
) -> tuple[Profile, str]:
    """Pick ``size`` at random; the winner is best on a randomly drawn skill.

    Judging each tournament on one skill (rather than the mean) rewards
    being the best at *something*, which is what lets specialists survive
    next to generalists.
    """
    skill = rng.choice(list(skills))
    entrants = [pool[rng.randrange(len(pool))] for _ in range(min(size, len(pool)))]
    winner = max(entrants, key=lambda m: (m.scores.get(skill, 0.0), m.fitness, m.member_id))
    return winner, skill


def stagnant_species(
    history: Mapping[int, list[float]], patience: int, protect: set[int]
) -> list[int]:
    """Species whose best fitness has not improved for ``patience`` generations."""
    out = []
    for species, best in history.items():
        if species in protect or len(best) <= patience:
            continue
        if max(best[-patience:]) <= max(best[:-patience]) + 1e-9:
            out.append(species)
    return sorted(out)


def migrate(profiles: Sequence[Profile], islands: int) -> list[tuple[str, int]]:
    """Ring migration: each island's best moves to the next island. -> (member, island)."""
    moves = []
    for island in range(islands):
        group = [p for p in profiles if p.island == island]
        if group and islands > 1:
            best = max(group, key=lambda p: p.fitness)
            moves.append((best.member_id, (island + 1) % islands))
    return moves
