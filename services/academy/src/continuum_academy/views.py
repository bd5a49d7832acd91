"""What the academy's endpoints answer: plain JSON views of its state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from continuum.runtime import RequestError
from continuum_academy.curriculum import Curriculum, Reload
from continuum_academy.leaderboard import Standing
from continuum_academy.reputation import Reputation
from continuum_academy.runs import RunBook
from continuum_academy.sessions import SessionState
from continuum_academy.skills import SPLITS, available


def _known(items: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in items:
        raise RequestError(f"unknown {what} {key!r}", 404)
    return items[key]


def skills(curriculum: Curriculum) -> dict[str, Any]:
    out = []
    for skill in sorted(curriculum.skills.values(), key=lambda s: s.name):
        item: dict[str, Any] = {
            "name": skill.name,
            "description": skill.description,
            "gold": skill.has_gold,
        }
        counts = {split: available(skill, split) for split in SPLITS}
        if None not in counts.values():  # a file's skill: a fixed number of exercises
            item["exercises"] = counts
            item["file"] = getattr(skill, "where", "")
        out.append(item)
    return {
        "skills": out,
        "problems": curriculum.problems,
        "directory": str(curriculum.skills_dir or ""),
    }


def reload(report: Reload) -> dict[str, Any]:
    return {"added": report.added, "changed": report.changed, "removed": report.removed}


def session(state: SessionState, detail: bool = False) -> dict[str, Any]:
    out = state.summary()
    out["seed"] = state.created.seed
    out["judge"] = state.created.judge_persona
    if not detail:
        out["exercises_list"] = [
            {"exercise_id": e.exercise_id, "prompt": e.prompt} for e in state.exercises.values()
        ]
        return out
    closed = state.closed is not None
    exercises = []
    for e in state.exercises.values():
        item: dict[str, Any] = {
            "exercise_id": e.exercise_id,
            "key": e.key,
            "prompt": e.prompt,
            "rubric": e.rubric,
            "grader": e.grader.get("kind"),
        }
        if closed:  # gold answers are shown once nobody can attempt any more
            item["answer"] = e.answer
        exercises.append(item)
    out["exercises_list"] = exercises
    out["attempts_list"] = [
        {
            "attempt_id": a.submitted.attempt_id,
            "exercise_id": a.submitted.exercise_id,
            "contestant": a.submitted.contestant,
            "submitter": a.submitted.submitter,
            "text": a.submitted.text[:500],
            "scores": [
                {
                    "grader": s.grader,
                    "source": s.source,
                    "score": s.score,
                    "passed": s.passed,
                    "detail": s.detail,
                }
                for s in a.scores.values()
            ],
        }
        for a in state.attempts.values()
    ]
    return out


def standing(s: Standing, played: str = "exercises") -> dict[str, Any]:
    return {
        "contestant": s.contestant,
        "rating": round(s.rating, 1),
        "low": round(s.low, 1),
        "high": round(s.high, 1),
        "wins": s.wins,
        played: s.games,
    }


def leaderboard(
    skill: str, table: Sequence[Standing], reputation: Mapping[str, Reputation]
) -> dict[str, Any]:
    return {
        "skill": skill,
        "standings": [standing(s) for s in table],
        "graders": [
            {
                "grader": r.grader,
                "agreed": r.agreed,
                "judged": r.judged,
                "reputation": round(r.value, 3),
            }
            for r in reputation.values()
        ],
    }


def training(runs: RunBook, job_id: Any) -> dict[str, Any]:
    def one(job: Any) -> dict[str, Any]:
        s = job.started
        out: dict[str, Any] = {
            "job": job.job_id,
            "status": job.status,
            "persona": s.persona_id,
            "skill": s.skill,
            "from_attempts": s.from_attempts,
            "from_gold": s.from_gold,
            "gold_share": s.gold_share,
            "hyperparameters": s.hyperparameters.model_dump(),
            "seed": s.seed,
            "parents": [f"{g.layer_id}@{g.version}" for g in s.parent_genome],
            "progress": job.progress,
        }
        out["auto"] = s.auto
        if s.auto:
            out["cpu_minutes"] = round(s.cpu_seconds / 60, 2)
        if job.planned:
            out["plan"] = job.planned.model_dump()
        if job.completed:
            out.update(job.completed.model_dump())
        if job.failed:
            out["error"] = job.failed
        return out

    if isinstance(job_id, str) and job_id:
        job = _known(runs.training, job_id, "training job")
        return one(job)
    return {"jobs": [one(j) for j in runs.training.values()]}


def abtests(runs: RunBook, test_id: Any) -> dict[str, Any]:
    def one(test: Any) -> dict[str, Any]:
        r = test.registered
        out: dict[str, Any] = {
            "test": test.test_id,
            "status": test.status,
            "persona": r.persona_id,
            "skill": r.skill,
            "method": r.method,
            "alpha": r.alpha,
            "exercises": r.exercises,
            "seed": r.seed,
            "control": [f"{g.layer_id}@{g.version}:{g.weight:g}" for g in r.control.genome],
            "variants": {
                v.name: [f"{g.layer_id}@{g.version}:{g.weight:g}" for g in v.genome]
                for v in r.variants
            },
            "progress": test.progress,
        }
        if test.concluded:
            out["results"] = [x.model_dump() for x in test.concluded.results]
            out["promoted"] = test.concluded.promoted
        if test.failed:
            out["error"] = test.failed
        return out

    if isinstance(test_id, str) and test_id:
        test = _known(runs.abtests, test_id, "A/B test")
        return one(test)
    return {"tests": [one(t) for t in runs.abtests.values()]}


def evolution(runs: RunBook, run_id: Any) -> dict[str, Any]:
    def one(run: Any, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": run.run_id,
            "status": run.status,
            "skills": run.started.skills,
            "population": run.started.population,
            "generations": run.started.generations,
            "islands": run.started.islands,
            "seed": run.started.seed,
            "settings": run.started.settings,
            "completed_generations": len(run.generations),
            "progress": run.progress,
        }
        if full:
            out["history"] = [
                g.model_dump() for g in sorted(run.generations, key=lambda g: g.generation)
            ]
        if run.completed:
            out["champions"] = run.completed.champions
            out["summary"] = run.completed.summary
        return out

    if isinstance(run_id, str) and run_id:
        run = _known(runs.evolutions, run_id, "evolution run")
        return one(run, True)
    return {"runs": [one(r, False) for r in runs.evolutions.values()]}
