"""`continuum academy ...`: sessions, attempts, ratings, leaderboards,
self-training, A/B tests, evolution and the report (a client of the gateway)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, err_console, print_table
from continuum.cli.progress import Work, duration

app = typer.Typer(
    help="The academy: challenges, scores, self-training, evolution.", no_args_is_help=True
)
session_app = typer.Typer(help="Training sessions.", no_args_is_help=True)
exercise_app = typer.Typer(help="Exercises: submit attempts.", no_args_is_help=True)
attempt_app = typer.Typer(help="Attempts: rate them.", no_args_is_help=True)
app.add_typer(session_app, name="session")
app.add_typer(exercise_app, name="exercise")
app.add_typer(attempt_app, name="attempt")

POLL = 1.0


def _pct(value: Any) -> str:
    return f"{100 * float(value):.0f}%" if isinstance(value, int | float) else "-"


def _dev(job: dict[str, Any]) -> tuple[Any, Any]:
    """A training job's dev accuracy before and after: from its completed event,
    or, for jobs recorded before the event kept them, the live progress."""
    progress = job.get("progress") or {}
    before = job.get("dev_before")
    after = job.get("dev_after")
    if before is None and after is None:
        return progress.get("before"), progress.get("after")
    return before, after


skills_app = typer.Typer(help="Skills: list them, re-read the skill files.")
app.add_typer(skills_app, name="skills")


def _skills_table(result: dict[str, Any]) -> None:
    def size(skill: dict[str, Any]) -> str:
        counts = skill.get("exercises")
        return f"{counts['train']} / {counts['heldout']}" if counts else "generated"

    print_table(
        "skills",
        ("skill", "gold answers", "exercises train / held out", "description"),
        [
            (s["name"], "yes" if s["gold"] else "no", size(s), s["description"])
            for s in result["skills"]
        ],
    )
    if result.get("directory"):
        console.print(f"Skill files (YAML) are read from {result['directory']}")
    for problem in result.get("problems", []):
        err_console.print(f"[yellow]skipped:[/] {problem}")


@skills_app.callback(invoke_without_command=True)
def skills(ctx: typer.Context) -> None:
    """The skills the academy teaches (skill files are re-read when they change)."""
    if ctx.invoked_subcommand is None:
        _skills_table(gateway_client.request("GET", "/v1/academy/skills"))


@skills_app.command("add")
def skills_add(
    path: Path = typer.Argument(..., help="A YAML skill file.", exists=True, dir_okay=False),
) -> None:
    """Check a YAML skill file and add it to the academy (it replaces a skill of its name)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    result = gateway_client.request(
        "POST", "/v1/academy/skills", json={"yaml": text, "filename": path.name[:100]}
    )
    skill = result["skill"]
    counts = skill.get("exercises") or {}
    verb = "replaced" if skill["name"] in result.get("changed", []) else "added"
    console.print(
        f"{verb} skill [bold]{skill['name']}[/]: {counts.get('train', '?')} train and "
        f"{counts.get('heldout', '?')} held-out exercises"
    )


@skills_app.command("example")
def skills_example(
    family: str = typer.Argument(..., help="cipher, rotate, fields, extract or arith."),
    seed: int = typer.Option(0, min=0, help="Which skill of the family (each seed differs)."),
    count: int = typer.Option(2000, min=50, max=20_000, help="Exercises in the file."),
    out: Path = typer.Option(None, help="Write here (default: standard output)."),
) -> None:
    """A new skill drawn from a family, as a YAML skill file (to read, edit or add)."""
    import yaml

    from continuum_academy.skills.families import FAMILIES, generated_skill, to_yaml

    if family not in FAMILIES:
        raise CliError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    text = yaml.safe_dump(
        to_yaml(generated_skill(family, seed), count), sort_keys=False, allow_unicode=True
    )
    if out is None:
        console.out(text, end="", highlight=False)
        return
    out.write_text(text)
    console.print(f"wrote {out}")


@skills_app.command("reload")
def skills_reload() -> None:
    """Re-read the skill files now and say what changed."""
    result = gateway_client.request("POST", "/v1/academy/skills/reload")
    _skills_table(result)
    for what in ("added", "changed", "removed"):
        if result.get(what):
            console.print(f"{what}: {', '.join(result[what])}")
    if not any(result.get(w) for w in ("added", "changed", "removed")):
        console.print("no skill changed")


def _session_table(sessions: list[dict[str, Any]]) -> None:
    print_table(
        "sessions",
        ("id", "persona", "skill", "split", "status", "done", "passed", "accuracy", "others"),
        [
            (
                s["session_id"],
                s["persona"],
                s["skill"],
                s["split"],
                s["status"],
                f"{s['attempted']}/{s['exercises']}",
                str(s["passed"]),
                _pct(s["accuracy"]),
                f"{s.get('others_attempted', 0)} ({s.get('others_passed', 0)} passed)",
            )
            for s in sessions
        ],
        optional=("split", "passed"),
    )
    err_console.print(
        "[dim]done, passed and accuracy are the persona's; others: humans' and tools' attempts[/]"
    )


@session_app.command("create")
def session_create(
    persona: str = typer.Option(..., help="Persona id or name."),
    skill: str = typer.Option(..., help="Skill name (`continuum academy skills`)."),
    exercises: int = typer.Option(10, min=1, max=1000, help="How many exercises."),
    split: str = typer.Option("heldout", help="train or heldout."),
    seed: int = typer.Option(None, help="Seed for the exercises (default: random)."),
    judge: str = typer.Option("", help="A persona that also judges each attempt (AI judge)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the session id."),
) -> None:
    """Create a training session: exercises of a skill for a persona."""
    body: dict[str, Any] = {
        "persona": persona,
        "skill": skill,
        "exercises": exercises,
        "split": split,
    }
    if seed is not None:
        body["seed"] = seed
    if judge:
        body["judge"] = judge
    result = gateway_client.request("POST", "/v1/academy/sessions", json=body)
    if quiet:  # for scripts: SESSION=$(continuum academy session create ... -q)
        print(result["session_id"])
        return
    console.print(f"session [bold]{result['session_id']}[/]: {exercises} {skill} exercises")
    print_table(
        "exercises",
        ("id", "prompt"),
        [(e["exercise_id"], e["prompt"][:80]) for e in result["exercises_list"]],
    )
    console.print(f"start it with `continuum academy session start {result['session_id']}`")


@session_app.command("start")
def session_start(
    session: str,
    wait: bool = typer.Option(True, help="Follow the persona's attempts until it is done."),
    timeout: float = typer.Option(1800, help="Seconds to wait."),
) -> None:
    """The session's persona attempts every exercise."""
    result = gateway_client.request("POST", f"/v1/academy/sessions/{session}/start")
    if not wait:
        _session_table([result])
        return
    deadline = time.monotonic() + timeout
    with Work(console, "attempts", total=result["exercises"]) as work:
        while time.monotonic() < deadline:
            state = gateway_client.request("GET", f"/v1/academy/sessions/{session}")
            work.update(state["attempted"], note=f"passed {state['passed']}")
            if state["status"] == "closed":
                break
            time.sleep(POLL)
        else:
            raise CliError(f"the session did not finish within {timeout:g} s")
    _show(state)


def _show(state: dict[str, Any]) -> None:
    _session_table([state])
    attempts = {a["exercise_id"]: a for a in state.get("attempts_list", [])}
    rows = []
    for e in state.get("exercises_list", []):
        a = attempts.get(e["exercise_id"])
        scores = ", ".join(f"{s['grader']} {s['score']:.2f}" for s in (a["scores"] if a else []))
        rows.append(
            (
                e["exercise_id"],
                e["prompt"][:40],
                (a["text"][:30] if a else "-"),
                str(e.get("answer", "(hidden)"))[:30],
                scores,
                a["attempt_id"] if a else "",
            )
        )
    print_table("exercises", ("id", "prompt", "attempt", "answer", "scores", "attempt id"), rows)


@session_app.command("show")
def session_show(session: str) -> None:
    """A session with its exercises, attempts and scores."""
    _show(gateway_client.request("GET", f"/v1/academy/sessions/{session}"))


@app.command("show")
def show(session: str) -> None:
    """A session with its exercises, attempts and scores."""
    session_show(session)


@app.command("sessions")
def sessions() -> None:
    """Every training session."""
    _session_table(gateway_client.request("GET", "/v1/academy/sessions")["sessions"])


@exercise_app.command("submit")
def exercise_submit(
    session: str,
    exercise: str,
    text: str,
    tool: str = typer.Option("", help="Submit as this external tool (default: as a human)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the attempt id."),
) -> None:
    """Submit an attempt at an exercise (as a human or an external tool)."""
    body: dict[str, Any] = {"text": text, "submitter": "tool" if tool else "human"}
    if tool:
        body["contestant"] = tool
    result = gateway_client.request(
        "POST", f"/v1/academy/sessions/{session}/exercises/{exercise}/attempts", json=body
    )
    if quiet:
        print(result["attempt_id"])
        return
    verdict = "[green]passed[/]" if result["passed"] else "[red]failed[/]"
    console.print(
        f"attempt {result['attempt_id']}: {verdict} ({result['score']:.2f}, {result['detail']})"
    )


@attempt_app.command("rate")
def attempt_rate(attempt: str, rating: str = typer.Argument(..., help="up, down or 1-5")) -> None:
    """Rate an attempt as a human."""
    value: Any = int(rating) if rating.isdigit() else rating
    result = gateway_client.request(
        "POST", f"/v1/academy/attempts/{attempt}/rating", json={"rating": value}
    )
    console.print(f"{result['grader']} rated {attempt}: {result['score']:.2f}")


@app.command("leaderboard")
def leaderboard(
    skill: str, bootstrap: int = typer.Option(200, min=0, max=2000, help="Bootstrap samples.")
) -> None:
    """Contestants of a skill ranked by a Bradley-Terry fit, with 95% intervals."""
    result = gateway_client.request(
        "GET", f"/v1/academy/leaderboards/{skill}", params={"bootstrap": bootstrap}
    )
    if not result["standings"]:
        console.print(
            f"nobody has attempted {skill} yet: a session (`academy session create`, then "
            "`start`) or an attempt (`academy exercise submit`) puts contestants here"
        )
        return
    print_table(
        f"{skill} leaderboard",
        ("#", "contestant", "rating", "95% interval", "wins", "exercises"),
        [
            (
                str(i),
                s["contestant"],
                f"{s['rating']:.0f}",
                f"{s['low']:.0f} - {s['high']:.0f}",
                f"{s['wins']:g}",
                str(s["exercises"]),
            )
            for i, s in enumerate(result["standings"], start=1)
        ],
    )
    print_table(
        "graders",
        ("grader", "agreed", "judged", "reputation"),
        [
            (g["grader"], str(g["agreed"]), str(g["judged"]), f"{g['reputation']:.2f}")
            for g in result["graders"]
        ],
    )


def _follow(path: str, done: Any, describe: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with Work(console, "working") as work:
        while time.monotonic() < deadline:
            state: dict[str, Any] = gateway_client.request("GET", path)
            description, completed, total, note = describe(state)
            work.update(completed, total, note=note, description=description)
            if done(state):
                return state
            time.sleep(POLL)
    raise CliError(f"not finished within {timeout:g} s; see `{path}`")


@app.command("train")
def train(
    persona: str = typer.Option(..., help="Persona id or name."),
    skill: str = typer.Option(None, help="Skill name."),
    from_proposals: bool = typer.Option(
        False,
        "--from-proposals",
        help="Train on approved code proposals (the 'proposals' skill, written from them now).",
    ),
    cpu_minutes: float = typer.Option(
        None,
        min=0.01,
        max=7 * 24 * 60,
        help="Budget of an automatic job in CPU-minutes, all threads together (default 10).",
    ),
    steps: int = typer.Option(None, min=1, max=100_000, help="Manual: steps (default 300)."),
    rank: int = typer.Option(None, min=1, max=256, help="Manual: LoRA rank (default 16)."),
    learning_rate: float = typer.Option(
        None, min=1e-6, max=1.0, help="Manual: learning rate (default 0.001)."
    ),
    batch: int = typer.Option(None, min=1, max=1024, help="Manual: batch (default 32)."),
    gold_share: float = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="Share of each batch drawn fresh from the skill's gold answers "
        "(default: 0.5 with passed attempts, 1 without; 0 if the skill has none).",
    ),
    schedule: str = typer.Option(
        None, help="Manual: learning-rate schedule, constant or cosine (default constant)."
    ),
    precision: str = typer.Option(
        None, help="Manual: float32, or bfloat16 autocast (default float32)."
    ),
    seed: int = typer.Option(None),
    wait: bool = typer.Option(True, help="Follow the job with a progress bar."),
    timeout: float = typer.Option(3600),
) -> None:
    """Self-train a child layer from passed attempts and gold answers, and publish it.

    With no hyperparameters the academy chooses them: it measures the step time,
    probes learning rates on the skill's dev exercises (never the held-out ones;
    a long run takes the safer rate without probing), plans the steps the
    budget pays for, prints the plan and its time before it trains, and stops
    early when dev accuracy stops rising. Any of --steps, --rank,
    --learning-rate, --batch, --schedule or --precision makes a manual job.
    """
    manual = {
        "steps": steps,
        "rank": rank,
        "alpha": rank,
        "learning_rate": learning_rate,
        "batch": batch,
        "schedule": schedule,
        "precision": precision,
    }
    if from_proposals == bool(skill):
        raise CliError("name a --skill, or train --from-proposals (not both)")
    if from_proposals:
        made = gateway_client.request("POST", "/v1/code/training-set")
        skill = made["skill"]
        count = made["exercises"]
        console.print(f"training set: {count} approved proposal{'s' if count != 1 else ''}")
        for why in made["skipped"]:
            console.print(f"  left out {why}")
    body: dict[str, Any] = {"persona": persona, "skill": skill}
    body.update({k: v for k, v in manual.items() if v is not None})
    if any(v is not None for v in manual.values()):
        body.setdefault("learning_rate", 1e-3)
        if cpu_minutes is not None:
            raise CliError("--cpu-minutes is for automatic jobs: leave out the manual options")
    elif cpu_minutes is not None:
        body["cpu_minutes"] = cpu_minutes
    if gold_share is not None:
        body["gold_share"] = gold_share
    if seed is not None:
        body["seed"] = seed
    job = gateway_client.request("POST", "/v1/academy/training", json=body)
    console.print(f"training job [bold]{job['job']}[/]")
    if not wait:
        return
    shown = False

    def describe(state: dict[str, Any]) -> tuple[str, int, int | None, str]:
        nonlocal shown
        if state.get("plan") and not shown:
            shown = True
            _print_plan(state["plan"])
        p = state.get("progress") or {}
        if "loss" not in p:
            return p.get("phase", state["status"]), 0, None, ""
        checks = p.get("checks") or []
        note = f"loss {p['loss']:.3f}" + (f", dev {_pct(checks[-1][1])}" if checks else "")
        return "training", p.get("step", 0), p.get("steps"), note

    state = _follow(
        f"/v1/academy/training/{job['job']}",
        lambda s: s["status"] != "running",
        describe,
        timeout,
    )
    if state.get("plan") and not shown:
        _print_plan(state["plan"])
    if state["status"] == "failed":
        raise CliError(f"training failed: {state.get('error')}")
    before, after = _dev(state)
    kinds = state.get("dev_after_by_kind") or {}
    console.print(
        f"published [bold]{state['layer']}[/] (loss {state['final_loss']:.3f}, "
        f"{state['seconds']:.0f} s, dev accuracy {_pct(before)} -> {_pct(after)}"
        + (" (" + ", ".join(f"{k} {_pct(v)}" for k, v in kinds.items()) + ")" if kinds else "")
        + (
            f", resumed from step {state['resumed_from_step']}"
            if state["resumed_from_step"]
            else ""
        )
        + ")"
    )
    if state.get("stopped"):
        console.print(f"stopped after {state.get('steps_done', 0)} steps: {state['stopped']}")


def _print_plan(plan: dict[str, Any]) -> None:
    """The recipe's choices, before it trains: what, how long, and why."""
    hp = plan["hyperparameters"]
    console.print(
        f"plan: {hp['steps']} steps at learning rate {hp['learning_rate']:g}, rank {hp['rank']}, "
        f"{hp['precision']}; about {duration(plan['estimate_seconds'])} "
        f"(measured {plan['step_seconds'][hp['precision']]:.3f} s a step)"
    )
    for reason in plan.get("reasons", []):
        console.print(f"  - {reason}")
    for warning in plan.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {warning}")


@app.command("abtest")
def abtest(
    persona: str = typer.Option(..., help="Persona id or name (its genome is the control)."),
    skill: str = typer.Option(..., help="Skill name."),
    variant: list[str] = typer.Option(..., help="A variant genome: LAYER[@VER][:W],... (repeat)."),
    exercises: int = typer.Option(200, min=1, max=5000),
    method: str = typer.Option("sequential", help="sequential (peeking-safe) or fixed."),
    alpha: float = typer.Option(0.05, min=0.0001, max=0.49),
    promote: bool = typer.Option(True, help="Swap a significant winner into the genome."),
    seed: int = typer.Option(None),
    timeout: float = typer.Option(3600),
) -> None:
    """A/B test genomes against the persona's own on held-out exercises."""
    body: dict[str, Any] = {
        "persona": persona,
        "skill": skill,
        "variants": [v.split(",") for v in variant],
        "exercises": exercises,
        "method": method,
        "alpha": alpha,
        "promote": promote,
    }
    if seed is not None:
        body["seed"] = seed
    test = gateway_client.request("POST", "/v1/academy/abtests", json=body)
    console.print(f"A/B test [bold]{test['test']}[/]: {', '.join(test['variants'])} vs control")
    state = _follow(
        f"/v1/academy/abtests/{test['test']}",
        lambda s: s["status"] != "running",
        lambda s: (
            f"evaluating {s['progress'].get('evaluating', '')}",
            s["progress"].get("done", 0),
            s["progress"].get("arms"),
            f"{s['exercises']} exercises each" if "exercises" in s else "",
        ),
        timeout,
    )
    if state["status"] == "failed":
        raise CliError(f"A/B test failed: {state.get('error')}")
    print_table(
        f"A/B test {state['test']} ({state['method']}, alpha {state['alpha']:g})",
        ("variant", "accuracy", "control", "only variant", "only control", "verdict", "test"),
        [
            (
                r["name"],
                _pct(r["accuracy"]),
                _pct(r["control_accuracy"]),
                str(r["variant_only"]),
                str(r["control_only"]),
                r["verdict"],
                r["detail"],
            )
            for r in state["results"]
        ],
        optional=("test", "only control", "only variant"),
    )
    console.print(
        f"promoted {state['promoted']} into the genome"
        if state["promoted"]
        else "nothing promoted (no significant win)"
    )


def generation_table(run: dict[str, Any]) -> Table:
    """The live table: one row per generation, the best per skill and the species."""
    skills = run["skills"]
    table = Table(title=f"evolution {run['run']} ({run['status']})")
    table.add_column("gen")
    for skill in skills:
        table.add_column(f"best {skill}")
    table.add_column("mean fitness")
    table.add_column("species")
    table.add_column("extinct")
    table.add_column("s")
    for g in run.get("history", []):
        members = g["members"]
        row = [str(g["generation"])]
        for skill in skills:
            row.append(_pct(max(m["scores"].get(skill, 0.0) for m in members)))
        row.append(f"{sum(m['fitness'] for m in members) / len(members):.2f}")
        row.append(" ".join(f"{s}:{n}" for s, n in g["species"].items()))
        row.append(",".join(str(s) for s in g["extinct"]) or "-")
        row.append(f"{g['seconds']:.0f}")
        table.add_row(*row)
    if run["status"] == "running":
        doing = (run.get("progress") or {}).get("doing") or ""
        table.caption = "; ".join(p for p in (doing, _time_left(run)) if p)
    return table


def _time_left(run: dict[str, Any]) -> str:
    """``about 12 min left``, from the generations done so far."""
    seconds = [g["seconds"] for g in run.get("history", [])]
    if not seconds:
        return ""
    left = sum(seconds) / len(seconds) * max(0, run["generations"] - len(seconds))
    return f"about {duration(left)} left"


@app.command("evolve")
def evolve(
    skills: str = typer.Option(..., help="Comma-separated skills, e.g. arithmetic,strings."),
    population: int = typer.Option(16, min=2, max=256),
    generations: int = typer.Option(10, min=1, max=1000),
    islands: int = typer.Option(2, min=1, max=16),
    train_steps: int = typer.Option(60, min=1, max=10_000, help="Steps of a train mutation."),
    dev_exercises: int = typer.Option(48, min=4, max=1000, help="Exercises per skill per member."),
    learning_rate: float = typer.Option(
        None, min=1e-6, max=1.0, help="Members' first learning rate (default: the recipe's)."
    ),
    silence: float = typer.Option(
        1.0, min=0.0, max=100.0, help="Penalty for a layer trained on one skill acting on others."
    ),
    seed: int = typer.Option(None),
    seed_layer: list[str] = typer.Option(
        [],
        "--seed-layer",
        help="A registry layer (layer@version) the first generation starts from, "
        "beside the bare base model; repeat for more (at most 16).",
    ),
    detach: bool = typer.Option(False, help="Start the run and return."),
    timeout: float = typer.Option(24 * 3600),
) -> None:
    """Evolve a population of genomes over generations, with a live table."""
    body: dict[str, Any] = {
        "skills": skills,
        "population": population,
        "generations": generations,
        "islands": islands,
        "train_steps": train_steps,
        "dev_exercises": dev_exercises,
        "silence": silence,
    }
    if learning_rate is not None:
        body["learning_rate"] = learning_rate
    if seed is not None:
        body["seed"] = seed
    if seed_layer:
        body["seed_layers"] = seed_layer
    run = gateway_client.request("POST", "/v1/academy/evolutions", json=body)
    console.print(f"evolution run [bold]{run['run']}[/] (seed {run['seed']})")
    if detach:
        return
    watch(run["run"], timeout)


@app.command("watch")
def watch(run: str, timeout: float = typer.Option(24 * 3600)) -> None:
    """Follow an evolution run's live table."""
    deadline = time.monotonic() + timeout
    path = f"/v1/academy/evolutions/{run}"
    state = gateway_client.request("GET", path)
    if console.is_terminal:
        with Live(generation_table(state), console=console, refresh_per_second=2) as live:
            while state["status"] == "running" and time.monotonic() < deadline:
                time.sleep(POLL)
                state = gateway_client.request("GET", path)
                live.update(generation_table(state))
    else:  # a log: a line every few seconds, then the table once
        total = state["generations"]
        with Work(console, f"evolution {run}", total=total, unit="generations") as work:
            while state["status"] == "running" and time.monotonic() < deadline:
                doing = (state.get("progress") or {}).get("doing", "")
                work.update(state["completed_generations"], note=doing)
                time.sleep(POLL)
                state = gateway_client.request("GET", path)
            work.update(state["completed_generations"])
        console.print(generation_table(state))
    if state["status"] == "running":
        raise CliError(f"still running after {timeout:g} s")
    summary = state.get("summary", {})
    for skill in state["skills"]:
        s = summary.get(skill, {})
        console.print(
            f"{skill}: champion {s.get('champion')} (species {s.get('species')}) "
            f"{_pct(s.get('score'))}, best generalist {_pct(s.get('generalist_score'))}; "
            f"published {state.get('champions', {}).get(skill, '-')}"
        )
    effects = summary.get("mutations")
    if effects:
        console.print(
            f"training mutations on one skill: {effects['improved']} improved it, "
            f"{effects['harmed']} harmed it, {effects['unchanged']} left it as it was"
        )


@app.command("report")
def report(
    out: Path = typer.Option(
        Path("academy-report"), help="Directory for the tables (CSV) and plots (PNG)."
    ),
    run: str = typer.Option("", help="Evolution run (default: the latest completed)."),
) -> None:
    """Tables and plots of self-training, A/B tests and evolution runs."""
    from continuum_academy.report import evolution_plots

    jobs = gateway_client.request("GET", "/v1/academy/training")["jobs"]
    training_columns = (
        "job",
        "persona",
        "skill",
        "attempts",
        "gold",
        "dev before",
        "after",
        "s",
        "layer",
    )
    training_rows = [
        (
            j["job"],
            j["persona"],
            j["skill"],
            str(j["from_attempts"]),
            str(j["from_gold"]) if j["from_gold"] else f"{j['gold_share']:.0%} fresh",
            *map(_pct, _dev(j)),
            f"{j.get('seconds', 0):.0f}",
            j.get("layer", j["status"]),
        )
        for j in jobs
    ]
    print_table(
        "self-training", training_columns, training_rows, optional=("s", "gold", "attempts")
    )
    _write_csv(out / "self-training.csv", training_columns, training_rows)
    tests = gateway_client.request("GET", "/v1/academy/abtests")["tests"]
    rows = []
    for t in tests:
        for r in t.get("results", []):
            rows.append(
                (
                    t["test"],
                    t["skill"],
                    r["name"],
                    _pct(r["accuracy"]),
                    _pct(r["control_accuracy"]),
                    r["verdict"],
                    t.get("promoted") or "-",
                )
            )
    test_columns = ("test", "skill", "variant", "accuracy", "control", "verdict", "promoted")
    print_table("A/B tests", test_columns, rows)
    _write_csv(out / "abtests.csv", test_columns, rows)
    runs = [
        r
        for r in gateway_client.request("GET", "/v1/academy/evolutions")["runs"]
        if r["status"] == "completed" and (not run or r["run"] == run)
    ]
    if not runs:
        console.print("no completed evolution run yet")
        return
    state = gateway_client.request("GET", f"/v1/academy/evolutions/{runs[-1]['run']}")
    table = generation_table(state)
    console.print(table)
    _write_csv(
        out / f"evolution-{state['run']}.csv",
        tuple(str(c.header) for c in table.columns),
        [tuple(str(cell) for cell in c.cells) for c in table.columns],
        transpose=True,
    )
    for path in evolution_plots(state, out):
        console.print(f"wrote {path}")


def _write_csv(
    path: Path,
    columns: tuple[str, ...],
    rows: Any,
    *,
    transpose: bool = False,
) -> None:
    """A table as CSV beside the plots (``transpose``: ``rows`` are columns)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    body = list(zip(*rows, strict=True)) if transpose else list(rows)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(body)
    console.print(f"wrote {path}")
