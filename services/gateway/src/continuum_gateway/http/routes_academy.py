"""The academy over HTTP: skills, sessions, attempts, ratings, leaderboards,
self-training, A/B tests and evolution runs (``cmd.academy.*``).

Humans and external tools submit attempts and ratings here, under their
token's name; only a persona-runtime submits as a persona (over NATS), so
no outside caller can put words in a persona's mouth.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from continuum_gateway.http import bodies
from continuum_gateway.http.auth import require
from continuum_gateway.http.routes_chat import call_service
from continuum_gateway.tokens import ApiToken

router = APIRouter()

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Skill = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,47}$")]
Reader = Annotated[ApiToken, Depends(require("read"))]
Publisher = Annotated[ApiToken, Depends(require("publish"))]
Admin = Annotated[ApiToken, Depends(require("admin"))]


async def _academy(request: Request, op: str, body: dict[str, Any], timeout: float = 30) -> Any:
    return await call_service(request, "academy", op, body, timeout)


@router.get("/v1/academy/skills", summary="The skills the academy teaches")
async def skills(request: Request, _: Reader) -> Any:
    return await _academy(request, "skills", {})


@router.post(
    "/v1/academy/skills",
    status_code=201,
    summary="Add a skill from a YAML file",
    description="Checks the file whole (errors name the line and the exercise's prompt) and "
    "installs it in the academy's skills directory as <name>.yaml; a file with an error "
    "changes nothing. A skill of the same name is replaced; a shipped skill cannot be.",
)
async def install_skill(
    request: Request, body: Annotated[bodies.NewSkill, Body()], _: Admin
) -> Any:
    return await _academy(request, "install", await bodies.sent(request))


@router.post(
    "/v1/academy/skills/reload",
    summary="Re-read the skills directory",
    description="Reads every YAML skill file again and says which skills were added, changed "
    "or removed, and which files were refused and why (file, line, prompt). Files are also "
    "re-read on their own whenever the skills are listed or used.",
)
async def reload_skills(request: Request, _: Publisher) -> Any:
    return await _academy(request, "reload", {})


@router.get("/v1/academy/sessions", summary="Training sessions")
async def sessions(request: Request, _: Reader) -> Any:
    return await _academy(request, "sessions", {})


@router.post("/v1/academy/sessions", status_code=201, summary="Create a training session")
async def create_session(
    request: Request, body: Annotated[bodies.NewSession, Body()], token: Publisher
) -> Any:
    return await _academy(
        request, "create", {**await bodies.sent(request), "created_by": token.name}, 60
    )


@router.get("/v1/academy/sessions/{session}", summary="A session: exercises, attempts, scores")
async def show_session(request: Request, session: Id, _: Reader) -> Any:
    return await _academy(request, "show", {"session": session})


@router.post("/v1/academy/sessions/{session}/start", summary="Its persona attempts the exercises")
async def start_session(request: Request, session: Id, token: Publisher) -> Any:
    return await _academy(request, "start", {"session": session, "by": token.name})


@router.post("/v1/academy/sessions/{session}/close", summary="Close a session to attempts")
async def close_session(request: Request, session: Id, _: Publisher) -> Any:
    return await _academy(request, "close", {"session": session})


@router.post(
    "/v1/academy/sessions/{session}/exercises/{exercise}/attempts",
    status_code=201,
    summary="Submit an attempt (a human's or an external tool's)",
)
async def submit_attempt(
    request: Request,
    session: Id,
    exercise: Id,
    body: Annotated[bodies.NewAttempt, Body()],
    token: Publisher,
) -> Any:
    payload = {
        "session": session,
        "exercise": exercise,
        "text": body.text,
        "submitter": body.submitter,
        "contestant": body.contestant or token.name,
    }
    return await _academy(request, "submit", payload, 60)


@router.post("/v1/academy/attempts/{attempt}/rating", summary="Rate an attempt (up/down or 1-5)")
async def rate_attempt(
    request: Request, attempt: Id, body: Annotated[bodies.Rating, Body()], token: Publisher
) -> Any:
    payload = {"attempt": attempt, "rating": body.rating, "rater": token.name}
    return await _academy(request, "rate", payload)


@router.get("/v1/academy/leaderboards/{skill}", summary="Bradley-Terry leaderboard of a skill")
async def leaderboard(
    request: Request,
    skill: Skill,
    _: Reader,
    bootstrap: Annotated[int, Query(ge=0, le=2000)] = 200,
) -> Any:
    return await _academy(request, "leaderboard", {"skill": skill, "bootstrap": bootstrap}, 60)


@router.post("/v1/academy/training", status_code=202, summary="Self-train a child layer")
async def start_training(
    request: Request, body: Annotated[bodies.NewTraining, Body()], _: Admin
) -> Any:
    return await _academy(request, "train", await bodies.sent(request))


@router.get("/v1/academy/training", summary="Training jobs")
async def training_jobs(request: Request, _: Reader) -> Any:
    return await _academy(request, "training", {})


@router.get("/v1/academy/training/{job}", summary="A training job")
async def training_job(request: Request, job: Id, _: Reader) -> Any:
    return await _academy(request, "training", {"job": job})


@router.post("/v1/academy/abtests", status_code=202, summary="A/B test genomes against a persona's")
async def start_ab_test(
    request: Request, body: Annotated[bodies.NewAbTest, Body()], _: Admin
) -> Any:
    return await _academy(request, "abtest", await bodies.sent(request))


@router.get("/v1/academy/abtests", summary="A/B tests")
async def ab_tests(request: Request, _: Reader) -> Any:
    return await _academy(request, "abtests", {})


@router.get("/v1/academy/abtests/{test}", summary="An A/B test")
async def ab_test(request: Request, test: Id, _: Reader) -> Any:
    return await _academy(request, "abtests", {"test": test})


@router.post("/v1/academy/evolutions", status_code=202, summary="Start an evolution run")
async def start_evolution(
    request: Request, body: Annotated[bodies.NewEvolution, Body()], _: Admin
) -> Any:
    return await _academy(request, "evolve", await bodies.sent(request))


@router.get("/v1/academy/evolutions", summary="Evolution runs")
async def evolutions(request: Request, _: Reader) -> Any:
    return await _academy(request, "evolution", {})


@router.get("/v1/academy/evolutions/{run}", summary="An evolution run, generation by generation")
async def evolution(request: Request, run: Id, _: Reader) -> Any:
    return await _academy(request, "evolution", {"run": run})
