"""The academy end to end, through the gateway, the CLI and real processes
(gateway, persona-runtime, genome-registry, academy), NATS, Postgres and the
tiny built-in model: sessions a persona sits, attempts by humans and tools,
graders, an AI judge, human ratings, leaderboards that replay to the same
result, self-training that resumes after a kill, A/B tests, and evolution
runs that resume after a kill."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from code_fixture import CLIENT, FIX, HANG, TO_ASYNC, break_it, fixture_repository
from rooms_harness import RoomNode, cli, make_remote_persona, make_room, post, wait_for

from continuum.games import Position
from continuum.runtime.requests import request_json
from continuum.testing.processes import wait_service_ready
from continuum_persona.testing.wire import Script, WireServer


@pytest.fixture(scope="module")
def persona_env() -> dict[str, str]:
    return {"CONTINUUM_PERSONA_TEMPERATURE": "0"}


@pytest.fixture(scope="module")
def academy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    skills = tmp_path_factory.mktemp("skills")
    (skills / "capitals.yaml").write_text(
        "name: capitals\ndescription: Name a capital.\nexercises:\n"
        + "".join(f"  - prompt: 'capital of {c}:'\n    answer: {a}\n" for c, a in CAPITALS)
    )
    (skills / "broken.yaml").write_text("name: Broken Name\nexercises: []\n")
    return {
        "CONTINUUM_ACADEMY_SKILLS_DIR": str(skills),
        # A proposal whose tests hang is killed after this long.
        "CONTINUUM_ACADEMY_CODE_TESTS_WALL_SECONDS": "8",
    }


CAPITALS = [
    ("France", "Paris"), ("Peru", "Lima"), ("Japan", "Tokyo"), ("Norway", "Oslo"),
    ("Italy", "Rome"), ("Egypt", "Cairo"), ("Latvia", "Riga"), ("Mali", "Bamako"),
    ("Chile", "Santiago"), ("Cuba", "Havana"),
]  # fmt: skip


async def session_done(api: httpx.AsyncClient, session: str, timeout: float = 120) -> Any:
    async def closed() -> Any:
        state = (await api.get(f"/v1/academy/sessions/{session}")).json()
        return state if state["status"] == "closed" else None

    return await wait_for(closed, timeout=timeout, every=0.3)


async def create(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await api.post("/v1/academy/sessions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


async def test_a_persona_sits_a_session_through_the_cli(
    room_node: RoomNode, tmp_path: Path
) -> None:
    skills = cli(room_node, tmp_path, "academy", "skills")
    for name in ("arithmetic", "strings", "extraction", "code", "capitals"):
        assert name in skills
    assert "broken.yaml" in cli(room_node, tmp_path, "academy", "skills", ok=False)
    # Nobody has attempted extraction here: an empty leaderboard says why, not a bare table.
    empty = cli(room_node, tmp_path, "academy", "leaderboard", "extraction")
    assert "nobody has attempted extraction yet" in empty and "rating" not in empty

    created = cli(
        room_node, tmp_path, "academy", "session", "create",
        "--persona", "Helper AI", "--skill", "arithmetic", "--exercises", "3", "--seed", "1",
    )  # fmt: skip
    session = re.search(r"session (\w+):", created).group(1)  # type: ignore[union-attr]
    started = cli(room_node, tmp_path, "academy", "session", "start", session)
    assert "closed" in started and "3/3" in started

    async with room_node.client() as api:
        state = (await api.get(f"/v1/academy/sessions/{session}")).json()
    assert state["persona"] == "helper-ai" and state["attempted"] == 3
    answers = {e["exercise_id"]: e["answer"] for e in state["exercises_list"]}
    for attempt in state["attempts_list"]:
        assert attempt["contestant"] == "helper-ai" and attempt["submitter"] == "persona"
        (score,) = attempt["scores"]
        assert score["grader"] == "exact"
        # The grader's verdict is the truth about the persona's text (arithmetic's
        # result is what follows the last colon, when the text has one: ADR 0011).
        result = first_line(attempt["text"]).rsplit(":", 1)[-1].strip()
        assert score["passed"] == (result == answers[attempt["exercise_id"]])
    listed = cli(room_node, tmp_path, "academy", "sessions")
    assert session in listed and "closed" in listed
    shown = cli(room_node, tmp_path, "academy", "show", session)
    assert all(answer in shown for answer in answers.values())


async def test_humans_tools_judges_ratings_and_a_leaderboard_that_replays(
    room_node: RoomNode, tmp_path: Path
) -> None:
    async with room_node.client() as api:
        state = await create(
            api,
            persona="Helper AI",
            skill="capitals",
            exercises=4,
            split="train",
            seed=3,
            judge="Teacher AI",
        )
        session = state["session_id"]
        prompts = {e["exercise_id"]: e["prompt"] for e in state["exercises_list"]}
        right = {f"capital of {c}:": a for c, a in CAPITALS}
        attempts = {}
        for index, (exercise, prompt) in enumerate(sorted(prompts.items())):
            path = f"/v1/academy/sessions/{session}/exercises/{exercise}/attempts"
            tool = await api.post(path, json={"text": right[prompt], "submitter": "tool",
                                              "contestant": "atlas-bot"})  # fmt: skip
            assert tool.status_code == 201 and tool.json()["passed"], tool.text
            human = await api.post(path, json={"text": right[prompt] if index < 2 else "Atlantis"})
            assert human.status_code == 201
            assert human.json()["passed"] == (index < 2)
            attempts[exercise] = human.json()["attempt_id"]
            again = await api.post(path, json={"text": "again"})
            assert (
                again.status_code == 409 and "already attempted" in again.json()["error"]["message"]
            )
        assert (await api.post(f"/v1/academy/sessions/{session}/start")).status_code == 200
        done = await session_done(api, session)

        async def judged() -> Any:
            state = (await api.get(f"/v1/academy/sessions/{session}")).json()
            sources = [{s["source"] for s in a["scores"]} for a in state["attempts_list"]]
            return state if all("ai_judge" in s for s in sources) and len(sources) == 12 else None

        state = await wait_for(judged, timeout=120)
        assert done["attempted"] == 4
        # The humans' and the tool's attempts are counted too, apart from the persona's.
        assert (done["others_attempted"], done["others_passed"]) == (8, 6)
        listed = cli(room_node, tmp_path, "academy", "sessions")
        assert "8 (6" in listed and "passed)" in listed
        for attempt in state["attempts_list"]:
            judge = next(s for s in attempt["scores"] if s["source"] == "ai_judge")
            assert judge["grader"] == "ai-judge:teacher-ai" and judge["detail"]

        first = sorted(attempts)[0]
        rated = await api.post(f"/v1/academy/attempts/{attempts[first]}/rating", json={"rating": 5})
        assert rated.status_code == 200 and rated.json()["grader"] == "human:node admin"
        for bad in ("meh", 0, 6, None):
            response = await api.post(
                f"/v1/academy/attempts/{attempts[first]}/rating", json={"rating": bad}
            )
            assert response.status_code == 422 and "rating" in response.text, bad
        missing = await api.post("/v1/academy/attempts/nope/rating", json={"rating": "up"})
        assert missing.status_code == 404

        async def board() -> Any:
            result = (await api.get("/v1/academy/leaderboards/capitals?bootstrap=100")).json()
            graders = {g["grader"] for g in result["graders"]}
            complete = "human:node admin" in graders and len(result["standings"]) == 3
            return result if complete else None

        before = await wait_for(board, timeout=30)
        standings = before["standings"]
        assert standings[0]["contestant"] == "atlas-bot"  # always right
        assert standings[0]["low"] <= standings[0]["rating"] <= standings[0]["high"]
        exact = next(g for g in before["graders"] if g["grader"] == "exact")
        assert exact["reputation"] > 0.9 and exact["judged"] == 12

        # The same through the CLI: a tool's attempt at a fresh session, and a human's rating.
        other = await create(api, persona="Helper AI", skill="capitals", exercises=2, split="train")
        exercise = other["exercises_list"][0]
        submitted = cli(
            room_node, tmp_path, "academy", "exercise", "submit", other["session_id"],
            exercise["exercise_id"], right[exercise["prompt"]], "--tool", "atlas-bot",
        )  # fmt: skip
        assert "passed" in submitted
        attempt_id = re.search(r"attempt (\w+):", submitted).group(1)  # type: ignore[union-attr]
        assert "rated" in cli(room_node, tmp_path, "academy", "attempt", "rate", attempt_id, "up")
        refused = cli(room_node, tmp_path, "academy", "attempt", "rate", attempt_id, "7", ok=False)
        assert "rating must be up, down or an integer from 1 to 5" in refused

        table = cli(room_node, tmp_path, "academy", "leaderboard", "capitals", "--bootstrap", "100")
        assert "atlas-bot" in table and "ai-judge:teacher-ai" in table

        # Scores and leaderboards are projections: drop them, replay the log, same result.
        async def settled() -> Any:
            first = (await api.get("/v1/academy/leaderboards/capitals?bootstrap=100")).json()
            await asyncio.sleep(0.5)
            second = (await api.get("/v1/academy/leaderboards/capitals?bootstrap=100")).json()
            return first if first == second else None

        before = await wait_for(settled, timeout=30)
        nc = await room_node.connect("test-replay")
        try:
            rebuilt = await request_json(
                nc, "cmd.projections.academy-scores.rebuild", {}, timeout=120
            )
        finally:
            await nc.close()
        assert rebuilt["events"] > 0
        after = (await api.get("/v1/academy/leaderboards/capitals?bootstrap=100")).json()
        assert after == before


async def test_bad_attempts_and_sessions_are_refused_with_a_reason(room_node: RoomNode) -> None:
    async with room_node.client() as api:
        state = await create(api, persona="Helper AI", skill="code", exercises=2, seed=5)
        session = state["session_id"]
        path = f"/v1/academy/sessions/{session}/exercises"
        nowhere = "/v1/academy/sessions/nope/exercises"
        hostile = {
            "import socket\nsocket.create_connection(('127.0.0.1', 4222))": "not allowed",
            "def f(x): return open('/etc/passwd').read()": "not allowed",
            "import os\nos.fork()": "not allowed",
            "def f(x):\n    while True:\n        pass": "killed",
            "def f(xs):\n    a = []\n    while True:\n        a.append(' ' * 10**7)": "",
        }
        for index, (code, reason) in enumerate(hostile.items()):
            response = await api.post(
                f"{path}/e1/attempts", json={"text": code, "contestant": f"mallory-{index}"}
            )
            assert response.status_code == 201, response.text
            result = response.json()
            assert not result["passed"] and reason in result["detail"], (code, result)
        cases = [
            (f"{path}/e9/attempts", {"text": "x"}, 404, "no exercise 'e9'"),
            (f"{nowhere}/e1/attempts", {"text": "x"}, 404, "unknown session"),
            (f"{path}/e1/attempts", {"text": "x", "submitter": "persona"}, 422, "submitter"),
            (f"{path}/e1/attempts", {"text": 5}, 422, "text"),
        ]  # fmt: skip
        for url, body, status, message in cases:
            response = await api.post(url, json=body)
            assert response.status_code == status, (url, response.text)
            assert message in response.json()["error"]["message"]
        for body, message in (
            ({"persona": "Helper AI", "skill": "juggling"}, "unknown skill 'juggling'"),
            ({"persona": "Nobody", "skill": "code"}, "unknown persona"),
            ({"persona": "Helper AI", "skill": "code", "exercises": 0}, "exercises"),
            ({"persona": "Helper AI", "skill": "code", "split": "test"}, "split"),
        ):
            response = await api.post("/v1/academy/sessions", json=body)
            assert response.status_code in (404, 422), response.text
            assert message in response.json()["error"]["message"]
        closed = await api.post(f"/v1/academy/sessions/{session}/close")
        assert closed.json()["status"] == "closed"
        late = await api.post(f"{path}/e2/attempts", json={"text": "def f(x): return x"})
        assert late.status_code == 409 and "closed" in late.json()["error"]["message"]
        restart = await api.post(f"/v1/academy/sessions/{session}/start")
        assert restart.status_code == 409


async def restart_academy(room_node: RoomNode) -> None:
    room_node.stop("academy")  # SIGKILL: a crash, not a shutdown
    room_node.start(
        "academy",
        "continuum_academy",
        {
            "CONTINUUM_PERSONA_MODEL_PATH": str(room_node.model_dir),
            "CONTINUUM_ACADEMY_THREADS": "1",
            **ACADEMY_ENV,
        },
    )
    nc = await room_node.connect("test-restart")
    try:
        await wait_service_ready(
            nc, "academy", room_node.processes["academy"], room_node.log("academy"), timeout=90
        )
    finally:
        await nc.close()


ACADEMY_ENV: dict[str, str] = {}


async def test_two_personas_play_connect_four_to_the_end_in_a_room(
    room_node: RoomNode, tmp_path: Path
) -> None:
    async with room_node.client() as api:
        made = await api.post("/v1/rooms", json={"id": "arena", "topic": "games"})
        assert made.status_code == 201, made.text
        out = cli(
            room_node, tmp_path, "game", "start", "connect-four", "--room", "arena",
            "--player", "helper-ai", "--player", "Teacher AI",
        )  # fmt: skip
        game_id = re.search(r"connect-four (\w+) in arena", out)
        assert game_id, out
        game = game_id.group(1)

        async def finished() -> Any:
            shown = (await api.get(f"/v1/games/{game}")).json()
            return shown if shown["result"] is not None else None

        final = await wait_for(finished, timeout=180, every=0.5)
        # Every move was legal, in turn, and the result is what the rules say.
        position = Position.replay("connect-four", final["moves"])
        assert final["result"] in ("win", "draw"), final
        if final["result"] == "win":
            winner = position.winner()
            assert winner is not None
            assert final["winner"] == ["helper-ai", "teacher-ai"][winner]
        else:
            assert not position.legal_moves()

        # The room shows every move, by the persona that played it; the last says how it ended.
        async def shown_in_room() -> Any:
            listed = (await api.get("/v1/rooms/arena/messages", params={"limit": 500})).json()
            said = [m for m in listed["messages"] if m["author_kind"] == "persona"]
            return said if len(said) == len(final["moves"]) else None

        said = await wait_for(shown_in_room, timeout=30)
        for ply, (message, move) in enumerate(zip(said, final["moves"], strict=True)):
            assert message["author_id"] == ["helper-ai", "teacher-ai"][ply % 2]
            assert message["text"].startswith(f"I play column {move}.")
        assert "Connect Four is over" in said[-1]["text"]
        board = cli(room_node, tmp_path, "game", "leaderboard", "connect-four")
        assert "helper-ai" in board and "teacher-ai" in board


async def test_a_human_plays_a_persona_and_bad_moves_change_nothing(
    room_node: RoomNode, tmp_path: Path
) -> None:
    async with room_node.client() as api:
        start = {
            "game": "tic-tac-toe",
            "room": "lobby",
            "players": [{"id": "ada", "kind": "human"}, {"id": "debugger-ai"}],
        }
        for bad, status in (
            ({**start, "room": "nowhere"}, 404),
            ({**start, "players": [{"id": "ada", "kind": "human"}] * 2}, 422),
            ({**start, "game": "chess"}, 422),
            ({**start, "players": [{"id": "nobody-ai"}, {"id": "debugger-ai"}]}, 404),
        ):
            refused = await api.post("/v1/games", json=bad)
            assert refused.status_code == status, (bad, refused.text)
        made = await api.post("/v1/games", json=start)
        assert made.status_code == 201, made.text
        game = made.json()["id"]
        moves = f"/v1/games/{game}/moves"
        assert (await api.post(moves, json={"player": "ada", "move": 5})).status_code == 200

        async def persona_moved() -> Any:
            shown = (await api.get(f"/v1/games/{game}")).json()
            return shown if len(shown["moves"]) == 2 else None

        shown = await wait_for(persona_moved, timeout=60)
        taken = shown["moves"][1]
        for body, status, says in (
            ({"player": "ada", "move": 5}, 409, "cell 5 is taken by X"),
            ({"player": "ada", "move": 10}, 422, "move"),
            ({"player": "debugger-ai", "move": 1}, 403, "plays its own moves"),
            ({"player": "bob", "move": 1}, 409, "bob is not playing"),
        ):
            refused = await api.post(moves, json=body)
            assert refused.status_code == status and says in refused.text, (body, refused.text)
        assert (await api.get(f"/v1/games/{game}")).json()["moves"] == [5, taken]
        free = next(m for m in range(1, 10) if m not in (5, taken))
        done = cli(room_node, tmp_path, "game", "move", game, str(free), "--as", "ada")
        assert "debugger-ai to move" in done or "won" in done
        out = cli(room_node, tmp_path, "game", "move", game, str(free), "--as", "ada", ok=False)
        assert "out of turn" in out or "taken" in out or "over" in out
        ended = cli(room_node, tmp_path, "game", "forfeit", game, "--as", "ada")
        assert "debugger-ai won (forfeit)" in ended or "won" in ended
        again = await api.post(moves, json={"player": "ada", "move": 9})
        assert again.status_code == 409 and "is over" in again.text
        assert (await api.get("/v1/games/nope")).status_code == 404


async def test_a_remote_model_writes_its_move_and_is_told_why_a_bad_one_was_refused(
    room_node: RoomNode,
) -> None:
    """A persona on an OpenAI-compatible server (a test double speaking its wire
    protocol) writes its move; refused three times, it forfeits with the reasons."""
    server = await WireServer("openai", Script(pieces=["I play column ", "9"])).start()
    try:
        async with room_node.client() as api:
            remote = await make_remote_persona(api, "Remote Player", server.url)
            body = {
                "game": "connect-four",
                "room": "lobby",
                "players": [{"id": remote}, {"id": "ada", "kind": "human"}],
            }
            made = await api.post("/v1/games", json=body)
            assert made.status_code == 201, made.text
            game = made.json()["id"]

            async def over() -> Any:
                shown = (await api.get(f"/v1/games/{game}")).json()
                return shown if shown["result"] is not None else None

            final = await wait_for(over, timeout=60)
            assert final["result"] == "forfeit" and final["winner"] == "ada"
            assert "there is no column 9" in final["reason"] and final["moves"] == []
            assert len(server.requests) == 3
            retried = json.dumps(server.requests[1]["messages"])
            assert "Your last try was refused: there is no column 9" in retried
            server.script = Script(pieces=["4"])
            made = await api.post("/v1/games", json=body)
            game = made.json()["id"]

            async def moved() -> Any:
                shown = (await api.get(f"/v1/games/{game}")).json()
                return shown if shown["moves"] else None

            assert (await wait_for(moved, timeout=60))["moves"] == [4]
    finally:
        await server.stop()


async def test_a_proposal_is_tested_approved_from_the_cli_and_lands_on_its_own_branch(
    room_node: RoomNode, tmp_path: Path
) -> None:
    from continuum.code import git

    repo = fixture_repository(tmp_path / "shop")
    head = git.head(repo)
    out = cli(room_node, tmp_path, "code", "workspace", "add", str(tmp_path), ok=False)
    assert "not a git repository" in out
    assert "workspace shop" in cli(room_node, tmp_path, "code", "workspace", "add", str(repo))
    async with room_node.client() as api:
        propose = {"workspace": "shop", "persona": "codereview-ai", "summary": "async fetch_all"}
        for patch, status, says in (
            (TO_ASYNC.replace("time.sleep(0)", "time.sleep(1)"), 422, "does not apply"),
            (TO_ASYNC.replace("app/client.py", "../elsewhere.py"), 422, "leaves the workspace"),
            (TO_ASYNC.replace("app/client.py", ".git/hooks/pre-commit"), 422, "inside .git"),
            ("not a diff", 422, "not a unified diff"),
        ):
            refused = await api.post("/v1/code/proposals", json={**propose, "patch": patch})
            assert refused.status_code == status and says in refused.text, refused.text
        unknown = await api.post(
            "/v1/code/proposals", json={**propose, "workspace": "nope", "patch": TO_ASYNC}
        )
        assert unknown.status_code == 404
        made = await api.post("/v1/code/proposals", json={**propose, "patch": TO_ASYNC})
        assert made.status_code == 201, made.text
        good = made.json()["id"]
        hang = (await api.post("/v1/code/proposals", json={**propose, "patch": HANG})).json()["id"]

        async def tested(proposal: str) -> Any:
            shown = (await api.get(f"/v1/code/proposals/{proposal}")).json()
            return shown if shown["tests"] is not None else None

        passed = await wait_for(lambda: tested(good), timeout=60)
        assert passed["status"] == "tests passed" and "1 passed" in passed["tests"]["output"]
        killed = await wait_for(lambda: tested(hang), timeout=60)
        assert killed["status"] == "tests failed" and killed["tests"]["killed"]
        assert "longer than 8 s" in killed["tests"]["output"]
        refused = await api.post(f"/v1/code/proposals/{hang}/approve", json={})
        assert refused.status_code == 409 and "its tests failed" in refused.text

    listed = cli(room_node, tmp_path, "code", "proposals")
    assert good in listed and "tests passed" in listed
    assert "async def fetch_all" in cli(room_node, tmp_path, "code", "show", good)
    done = cli(room_node, tmp_path, "code", "approve", good)
    assert f"committed on branch continuum/{good}" in done
    again = cli(room_node, tmp_path, "code", "approve", good, ok=False)
    assert "already approved" in again
    assert f"rejected {hang}" in cli(
        room_node, tmp_path, "code", "reject", hang, "--reason", "hangs"
    )
    # The change is on its branch; the user's checkout is as it was.
    branch = f"continuum/{good}"
    assert "async def fetch_all" in git.git(repo, "show", f"{branch}:app/client.py")
    assert git.current_branch(repo) == "main" and git.head(repo) == head
    assert (repo / "app" / "client.py").read_text() == CLIENT
    assert git.git(repo, "status", "--porcelain") == ""
    assert git.git(repo, "worktree", "list").count("\n") == 1  # no worktree left behind


async def code_room(
    api: httpx.AsyncClient,
    node: RoomNode,
    home: Path,
    repo: Path,
    room: str,
    name: str,
    server: WireServer,
) -> str:
    """A room with one code persona (its model the test double at ``server``) and the
    workspace ``repo`` registered for it; the CLI's answer to the registration."""
    persona = {
        "name": name,
        "role": "Software engineer who changes and fixes Python code",
        "domains": ["refactoring Python code", "fixing failing tests"],
        "backend": {"kind": "openai", "url": server.url, "model": "coder"},
        "rooms": [],
    }
    made = await api.post("/v1/personas", json=persona)
    assert made.status_code == 201, made.text
    await make_room(api, room, [made.json()["id"]])
    return cli(node, home, "code", "workspace", "add", str(repo), "--room", room)


async def test_a_refactor_asked_in_a_room_becomes_a_tested_proposal_approved_from_the_cli(
    room_node: RoomNode, tmp_path: Path
) -> None:
    """The worked example: a human asks in a room, the code persona (its model a test
    double speaking the OpenAI wire protocol, answering with a real patch) proposes,
    the tests run, the human approves from the CLI, the commit lands on a branch."""
    from continuum.code import git

    repo = fixture_repository(tmp_path / "webshop")
    answer = f"Here is the change:\n\n```diff\n{TO_ASYNC}```\n"
    server = await WireServer("openai", Script(pieces=[answer])).start()
    try:
        async with room_node.client() as api:
            out = await code_room(api, room_node, tmp_path, repo, "dev", "Coder AI", server)
            assert "proposals from dev" in out
            asked = await post(api, "dev", "Refactor fetch_all in app/client.py to use async/await")

            async def said(text: str) -> Any:
                listed = (await api.get("/v1/rooms/dev/messages", params={"limit": 100})).json()
                found = [m for m in listed["messages"] if text in m["text"]]
                return found[0] if found else None

            proposed = await wait_for(lambda: said("I propose this change"), timeout=60)
            assert proposed["author_id"] == "coder-ai" and proposed["reply_to"] == asked
            proposal = re.search(r"proposal (\w+)", proposed["text"]).group(1)  # type: ignore[union-attr]
            # CodeRAG showed it the file, what imports it, and its history.
            shown = json.dumps(server.requests[0]["messages"])
            for part in ("File app/client.py", "Imported by tests/test_client.py", "client"):
                assert part in shown, part
            await wait_for(lambda: said(f"Proposal {proposal}: the tests passed"), timeout=60)
            done = cli(room_node, tmp_path, "code", "approve", proposal)
            assert f"continuum/{proposal}" in done
            await wait_for(lambda: said(f"Proposal {proposal} was approved"), timeout=30)
        branch = f"continuum/{proposal}"
        assert "async def fetch_all" in git.git(repo, "show", f"{branch}:app/client.py")
        assert git.current_branch(repo) == "main" and (repo / "app/client.py").read_text() == CLIENT
        # Approved proposals are a training set: the request in its context, the diff.
        out = cli(
            room_node, tmp_path, "academy", "train", "--persona", "coder-ai", "--from-proposals",
            ok=False,
        )  # fmt: skip
        # (this module's other approved proposal counts too; either may be held out)
        assert re.search(r"training set: [12] approved proposals?\n", out), out
        assert re.search(r"skill proposals has [012] train-split exercises; training needs", out)
        async with room_node.client() as api:
            skills = (await api.get("/v1/academy/skills")).json()["skills"]
            assert "proposals" in {s["name"] for s in skills}
    finally:
        await server.stop()


async def test_a_failing_check_becomes_a_request_a_proposal_and_an_approved_fix(
    room_node: RoomNode, tmp_path: Path
) -> None:
    """Self-improvement on a fixture repository: a check fails on HEAD, the failure is
    handed to the room, the persona proposes the fix, its tests pass, a human approves."""
    from continuum.code import git

    repo = fixture_repository(tmp_path / "tools")
    break_it(repo)
    server = await WireServer("openai", Script(pieces=[f"```diff\n{FIX}```"])).start()
    try:
        async with room_node.client() as api:
            await code_room(api, room_node, tmp_path, repo, "repairs", "Fixer AI", server)
            out = cli(room_node, tmp_path, "code", "check", "tools", "--room", "repairs")
            assert "the tests failed" in out and "asked repairs to fix app/client.py" in out

            async def proposed() -> Any:
                listed = (await api.get("/v1/code/proposals", params={"workspace": "tools"})).json()
                done = [p for p in listed["proposals"] if p["status"] == "tests passed"]
                return done[0] if done else None

            fix = await wait_for(proposed, timeout=90)
            assert fix["persona"] == "fixer-ai" and fix["files"] == ["app/client.py"]
        assert "continuum/" in cli(room_node, tmp_path, "code", "approve", fix["id"])
        fixed = git.git(repo, "show", f"continuum/{fix['id']}:app/client.py")
        assert "url.upper()" in fixed and "url.upper()" not in (repo / "app/client.py").read_text()
    finally:
        await server.stop()


async def test_a_skill_file_dropped_in_is_trained_with_no_flags(
    room_node: RoomNode, tmp_path: Path, academy_env: dict[str, str]
) -> None:
    import yaml

    from continuum_academy.skills.families import generated_skill, to_yaml

    skills_dir = Path(academy_env["CONTINUUM_ACADEMY_SKILLS_DIR"])
    document = to_yaml(generated_skill("rotate", 3), 120)
    (skills_dir / "rotate.yaml").write_text(yaml.safe_dump({**document, "name": "rotate3"}))
    # Picked up without a restart; the listing says how many exercises each split has.
    listed = cli(room_node, tmp_path, "academy", "skills")
    assert re.search(r"rotate3 .* \d+ / \d+", listed), listed
    reloaded = cli(room_node, tmp_path, "academy", "skills", "reload")
    assert "no skill changed" in reloaded
    # Or sent to the academy, checked whole first: a bad file changes nothing.
    example = tmp_path / "cipher7.yaml"
    cli(room_node, tmp_path, "academy", "skills", "example", "cipher", "--seed", "7",
        "--count", "80", "--out", str(example))  # fmt: skip
    added = cli(room_node, tmp_path, "academy", "skills", "add", str(example))
    assert re.search(r"added skill gen-cipher-7: \d+ train and \d+ held-out", added), added
    bad = tmp_path / "bad.yaml"
    bad.write_text(example.read_text().replace("answer:", "answer: ''\n  x:", 1))
    refused = cli(room_node, tmp_path, "academy", "skills", "add", str(bad), ok=False)
    assert "bad.yaml:5: exercise 1" in refused and "answer is empty" in refused, refused
    assert (skills_dir / "gen-cipher-7.yaml").read_text() == example.read_text()

    # Too few exercises, or an A/B test asking for more than exist: refused at once.
    few = cli(room_node, tmp_path, "academy", "train", "--persona", "Helper AI",
              "--skill", "capitals", ok=False)  # fmt: skip
    assert "training needs at least 50" in few and "capitals.yaml" in few, few
    async with room_node.client() as api:
        response = await api.post(
            "/v1/academy/abtests",
            json={"persona": "Helper AI", "skill": "capitals", "variants": [[]],
                  "exercises": 500},
        )  # fmt: skip
        assert response.status_code == 400, response.text
        refused = response.json()["error"]["message"]
        assert refused.startswith("exercises: skill 'capitals' has 2 heldout exercises; 500 were")

    # No flags: the recipe measures, chooses (probing the rates when the run is
    # short: a test in test_lab makes both choices), prints its plan and stops on
    # the dev checks.
    out = cli(
        room_node, tmp_path, "academy", "train", "--persona", "Helper AI", "--skill", "rotate3",
        "--cpu-minutes", "0.4", "--seed", "5", timeout=300, ok=False,
    )  # fmt: skip
    assert re.search(r"plan: \d+ steps at learning rate [\d.e-]+, rank 64, \w+; about", out), out
    assert "dev loss after" in out or "is long" in out, out
    assert "passes over them" in out, out
    assert "warning: the plan makes" in out and "far more than the data supports" in out, out
    assert "expected to take about" not in out.split("plan:")[0], out  # no estimate from probes
    assert "published" in out and "stopped after" in out, out
    job = re.search(r"training job (\w+)", out)[1]  # type: ignore[index]
    async with room_node.client() as api:
        state = (await api.get(f"/v1/academy/training/{job}")).json()
    assert state["auto"] and state["status"] == "completed", state
    assert state["plan"]["hyperparameters"]["rank"] == 64 and state["checks"], state
    assert state["plan"]["step_seconds"]["float32"] > 0 and state["cpu_seconds"] > 0
    assert state["dev_after"] == max(score for _, score in state["checks"])

    # A budget that pays for nothing is refused before training, with what it would take.
    small = cli(room_node, tmp_path, "academy", "train", "--persona", "Helper AI",
                "--skill", "rotate3", "--cpu-minutes", "0.01", ok=False)  # fmt: skip
    assert re.search(r"training failed: a budget of 0.0 CPU-minutes pays for \d+ training", small)
    assert re.search(r"at least 150 are needed: give at least [\d.]+ CPU-minutes", small), small


async def test_self_training_resumes_after_a_kill_then_an_ab_test_decides(
    room_node: RoomNode, academy_env: dict[str, str]
) -> None:
    ACADEMY_ENV.update(academy_env)
    async with room_node.client() as api:
        body = {"persona": "Debugger AI", "skill": "strings", "steps": 300, "gold_share": 1.0,
                "rank": 4, "alpha": 4, "learning_rate": 0.001, "batch": 8, "seed": 2}  # fmt: skip
        response = await api.post("/v1/academy/training", json=body)
        assert response.status_code == 202, response.text
        job = response.json()["job"]

        async def progressed() -> Any:
            state = (await api.get(f"/v1/academy/training/{job}")).json()
            return state if state["progress"].get("step", 0) >= 40 else None

        await wait_for(progressed, timeout=120, every=0.05)
        await restart_academy(room_node)

        async def finished() -> Any:
            state = (await api.get(f"/v1/academy/training/{job}")).json()
            return state if state["status"] != "running" else None

        state = await wait_for(finished, timeout=180)
        assert state["status"] == "completed", state
        assert state["resumed_from_step"] >= 15, state  # from the checkpoint, not from 0
        # The job's scores are in its completed event (they survive restarts), per kind too.
        assert 0.0 <= state["dev_before"] <= 1.0 and 0.0 <= state["dev_after"] <= 1.0, state
        assert set(state["dev_after_by_kind"]) == {"reverse", "sort"}, state
        layer_id, version = state["layer"].split("@")
        layer = (await api.get(f"/v1/genome/layers/{layer_id}")).json()
        assert layer_id == "debugger-ai-strings" and version == "1.0.0"
        assert "Self-trained by the academy" in layer["description"]
        assert "fresh gold answers as 100% of each batch" in layer["description"]

        bad = await api.post("/v1/academy/training", json={**body, "skill": "nope"})
        assert bad.status_code == 404
        bad = await api.post("/v1/academy/training", json={**body, "steps": 0})
        assert bad.status_code == 422 and "steps" in bad.json()["error"]["message"]
        bad = await api.post("/v1/academy/training", json={**body, "gold_share": 1.5})
        assert bad.status_code == 422 and "gold_share" in bad.json()["error"]["message"]
        bad = await api.post("/v1/academy/training", json={**body, "schedule": "zigzag"})
        assert bad.status_code == 422 and "schedule" in bad.json()["error"]["message"]
        bad = await api.post("/v1/academy/training", json={**body, "precision": "int4"})
        assert bad.status_code == 422 and "precision" in bad.json()["error"]["message"]

        test = await api.post(
            "/v1/academy/abtests",
            json={
                "persona": "Debugger AI",
                "skill": "strings",
                "variants": [[state["layer"]]],
                "exercises": 40,
                "seed": 4,
                "method": "fixed",
            },
        )
        assert test.status_code == 202, test.text
        test_id = test.json()["test"]

        async def concluded() -> Any:
            state = (await api.get(f"/v1/academy/abtests/{test_id}")).json()
            return state if state["status"] == "concluded" else None

        result = await wait_for(concluded, timeout=180)
        (variant,) = result["results"]
        assert variant["exercises"] == 40 and variant["verdict"] in ("child", "parent", "undecided")
        persona = (await api.get("/v1/personas/debugger-ai")).json()
        if result["promoted"]:
            assert [g["layer_id"] for g in persona["genome"]] == [layer_id]
        else:  # no significant win: the genome is untouched
            assert persona["genome"] == []
        unknown = await api.post(
            "/v1/academy/abtests",
            json={"persona": "Debugger AI", "skill": "strings", "variants": [["nope@1.0.0"]]},
        )
        assert unknown.status_code == 404


async def test_evolution_runs_resumes_after_a_kill_and_reports(
    room_node: RoomNode, tmp_path: Path, academy_env: dict[str, str]
) -> None:
    ACADEMY_ENV.update(academy_env)
    async with room_node.client() as api:
        body = {"skills": ["arithmetic", "strings"], "population": 4, "generations": 4,
                "islands": 2, "train_steps": 8, "dev_exercises": 6, "seed": 11}  # fmt: skip
        response = await api.post("/v1/academy/evolutions", json=body)
        assert response.status_code == 202, response.text
        run = response.json()["run"]

        async def generations(n: int) -> Any:
            state = (await api.get(f"/v1/academy/evolutions/{run}")).json()
            return state if state["completed_generations"] >= n else None

        await wait_for(lambda: generations(1), timeout=180)
        await restart_academy(room_node)

        async def completed() -> Any:
            state = (await api.get(f"/v1/academy/evolutions/{run}")).json()
            return state if state["status"] == "completed" else None

        state = await wait_for(completed, timeout=300)
        assert [g["generation"] for g in state["history"]] == [0, 1, 2, 3]
        for generation in state["history"]:
            assert len(generation["members"]) == 4
            for member in generation["members"]:
                assert set(member["scores"]) == {"arithmetic", "strings"}
        assert set(state["summary"]["species"]) <= {
            m["species"] for m in state["history"][-1]["members"]
        }
        for ref in state["champions"].values():
            layer_id = ref.split("@")[0]
            assert (await api.get(f"/v1/genome/layers/{layer_id}")).status_code == 200

        for bad, message in (
            ({**body, "skills": ["juggling"]}, "unknown skill"),
            ({**body, "population": 1}, "population"),
            ({**body, "skills": "x" * 0}, "skills"),
            ({**body, "silence": -1}, "silence"),
            ({**body, "silence": "loud"}, "silence"),
        ):
            response = await api.post("/v1/academy/evolutions", json=bad)
            assert response.status_code in (404, 422) and message in response.text, response.text

    report = cli(room_node, tmp_path, "academy", "report", "--out", str(tmp_path / "report"))
    assert "self-training" in report and "evolution" in report
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert pngs == [f"evolution-{run}-family.png", f"evolution-{run}-species.png"]
    # A new run starts from a published layer (here the last run's champion) as
    # well as the bare base model.
    champion = next(iter(state["champions"].values()))
    live = cli(
        room_node, tmp_path, "academy", "evolve", "--skills", "arithmetic,strings",
        "--population", "2", "--generations", "1", "--train-steps", "2", "--dev-exercises", "4",
        "--seed", "3", "--seed-layer", champion, timeout=300,
    )  # fmt: skip
    assert "best arithmetic" in live and "champion" in live
    seeded = re.search(r"evolution run (\w+)", live)
    assert seeded, live
    async with room_node.client() as api:
        first = (await api.get(f"/v1/academy/evolutions/{seeded[1]}")).json()["history"][0]
    assert sorted(m["origin"] for m in first["members"]) == [
        "seed (base model)",
        f"seed ({champion})",
    ]
    refused = cli(
        room_node, tmp_path, "academy", "evolve", "--skills", "arithmetic",
        "--seed-layer", "no-such-layer@1.0.0", ok=False,
    )  # fmt: skip
    assert "seed layer 'no-such-layer@1.0.0'" in refused
