"""The marketplace as its users meet it: two nodes started with `continuum
up` and joined as a mesh. Node "creators" runs the market; node "users" uses
it over the mesh (``CONTINUUM_MARKET=creators``). Creators publish a layer,
fork it twice and list the last fork; a user on the other node finds it,
buys it, pulls it and runs it in a persona; the statements show every part
of every payment to the unit; reputation moves with academy scores and
cannot be lifted by a ring of fresh keys; bad usage reports change nothing;
a kill -9 of the marketplace and a NATS restart in the middle of a thousand
concurrent payments lose and double nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from node_cli import cli, mesh_node_env, state, wait_until

from continuum.genome.manifest import creator_of
from continuum.market.documents import Order, RatingNote, UsageReport, canonical, signed
from continuum.natsauth.audit import violations
from continuum.node.ports import free_port
from continuum.testing.browser import chromium, shot, sign_in
from continuum_persona.testing.layers import train_test_layer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: A compute price, credits per generation (node "creators" sells its personas' time).
PRICE = "0.05"


def _env(root: Path, name: str, model: Path, lan_port: int, **extra: str) -> dict[str, str]:
    return mesh_node_env(
        root, name, model, lan_port,
        CONTINUUM_PERSONA_MAX_NEW_TOKENS="8", CONTINUUM_MESH_ANNOUNCE_S="2", COLUMNS="250",
        **extra,
    )  # fmt: skip


def ok(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = cli(env, *args, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> Iterator[dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("market")
    lan_port = free_port()
    creators = _env(root, "creators", tiny_model, lan_port, CONTINUUM_MESH_PRICE=PRICE)
    users = _env(root, "users", tiny_model, lan_port, CONTINUUM_MARKET="creators")
    hub_port = free_port()
    try:
        ok(creators, "up", "--detach", "--hub", "--hub-port", str(hub_port))
        ok(users, "up", "--detach")
        url = f"nats-leaf://127.0.0.1:{hub_port}"
        ok(creators, "mesh", "admit", state(users)["node_id"])
        ok(users, "mesh", "join", url)
        yield {"creators": creators, "users": users, "root": {"path": str(root)}}
    finally:
        for env in (creators, users):
            cli(env, "down")
    for env in (creators, users):
        assert violations(Path(env["CONTINUUM_HOME"]) / "nats" / "nats.log") == []


def admin(env: dict[str, str]) -> httpx.Client:
    token = (Path(env["CONTINUUM_HOME"]) / "admin.token").read_text().strip()
    return httpx.Client(
        base_url=f"http://127.0.0.1:{env['CONTINUUM_GATEWAY_PORT']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def units(text: str) -> int:
    whole, _, part = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(part or 0))


@pytest.fixture(scope="module")
def keys(nodes: dict[str, dict[str, str]]) -> dict[str, tuple[Path, str]]:
    root = Path(nodes["root"]["path"])
    found = {}
    for name in ("ann", "bob", "cat", "user"):
        out = root / f"{name}.key"
        made = ok(nodes["creators"], "publisher", "keygen", str(out))
        found[name] = (out, made.split()[-1])
    return found


@pytest.fixture(scope="module")
def listed(
    nodes: dict[str, dict[str, str]],
    keys: dict[str, tuple[Path, str]],
    tiny_model: Path,
) -> str:
    """sql-base (ann) <- sql-tuned (bob) <- sql-pro (cat), sql-pro listed by cat."""
    creators = nodes["creators"]
    root = Path(nodes["root"]["path"])
    layer = train_test_layer(tiny_model, root / "sql", "SELECT * FROM t " * 4, steps=1)
    ok(creators, "genome", "publish", str(layer), "--name", "sql-base", "--description",
       "writes SQL queries for PostgreSQL", "--key", str(keys["ann"][0]))  # fmt: skip
    ok(creators, "genome", "fork", "sql-base", "--name", "sql-tuned", "--key", str(keys["bob"][0]))
    ok(creators, "genome", "fork", "sql-tuned", "--name", "sql-pro", "--description",
       "expert PostgreSQL query writer", "--key", str(keys["cat"][0]))  # fmt: skip
    sold = ok(creators, "market", "sell", "sql-pro", "--price", "3.33", "--per-use", "0.37",
              "--key", str(keys["cat"][0]))  # fmt: skip
    assert "listed sql-pro@1.0.0: 3.33 to buy, 0.37/use" in sold
    return "sql-pro"


def statement(env: dict[str, str], account: str) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(ok(env, "market", "statement", account, "--json"))
    return reply


def test_a_user_on_another_node_finds_buys_and_uses_a_listed_layer(
    nodes: dict[str, dict[str, str]], keys: dict[str, tuple[Path, str]], listed: str
) -> None:
    creators, users = nodes["creators"], nodes["users"]
    user_key, user = keys["user"]
    ann, bob, cat = keys["ann"][1], keys["bob"][1], keys["cat"][1]

    found = ok(users, "market", "search", "PostgreSQL queries")
    assert "sql-pro@1.0.0" in found and "3.33 to buy, 0.37/use" in found, found
    poor = cli(users, "market", "buy", listed, "--key", str(user_key))
    assert poor.returncode == 2 and "insufficient funds" in poor.stderr, poor.stderr
    granted = ok(creators, "market", "grant", user, "100", "--reason", "welcome credits")
    assert "granted 100.00" in granted
    bought = ok(users, "market", "buy", listed, "--key", str(user_key), "--id", "order-e2e-1")
    assert "paid 3.33" in bought and "balance 96.67" in bought, bought
    again = ok(users, "market", "buy", listed, "--key", str(user_key), "--id", "order-e2e-1")
    assert "charged once" in again and "balance 96.67" in again, again

    # Pull the layer from the creators' node and run it in a persona on the user's node.
    pulled = Path(nodes["root"]["path"]) / "pulled"
    ok(users, "genome", "pull", listed, "--from", "creators", "--install", "--out", str(pulled))
    ok(users, "persona", "genome", "set", "Helper AI", listed)
    for _ in range(3):
        ok(users, "ai", "generate", "--prompt", "write a query", "--max-tokens", "2")

    def charged_three_uses() -> bool:
        lines = statement(creators, user)["lines"]
        return sum(1 for line in lines if line["kind"] == "use") == 3

    wait_until(charged_three_uses, timeout=60)
    # One purchase of 3.33 and three uses of 0.37, to the unit (ADR 0019's split):
    # platform 10% rounded down, the creator's part less a 20% royalty to the
    # parent (less 20% to its own parent), every share rounded down.
    expected = {user: -333 - 3 * 37}
    for amount in (333, 37, 37, 37):
        platform = amount - amount * 9000 // 10000
        creators_part = amount - platform
        to_bob = creators_part * 2000 // 10000
        to_ann = to_bob * 2000 // 10000
        for account, part in (
            ("platform", platform), (cat, creators_part - to_bob), (bob, to_bob - to_ann),
            (ann, to_ann),
        ):  # fmt: skip
            expected[account] = expected.get(account, 0) + part
    for account, change in expected.items():
        seen = statement(users if account == user else creators, account)
        minted = 10000 if account == user else 0
        assert seen["balance_units"] == minted + change, (account, seen)
    audit = admin(creators).get("/v1/market/audit").json()
    assert audit["sum"] == 0 and audit["minted"] == audit["held"]


def test_reputation_moves_with_academy_scores(
    nodes: dict[str, dict[str, str]], listed: str
) -> None:
    creators = nodes["creators"]
    before = json.loads(ok(creators, "market", "show", listed, "--json"))["reputation"]
    ok(creators, "academy", "abtest", "--persona", "Helper AI", "--skill", "strings",
       "--variant", listed, "--exercises", "12", "--method", "fixed", "--no-promote",
       timeout=600)  # fmt: skip
    after = json.loads(ok(creators, "market", "show", listed, "--json"))["reputation"]
    assert before["academy"] is None and after["academy"] is not None
    assert after["academy_observations"] > 0
    assert after["weight"] > before["weight"] and after["mean"] != before["mean"]


def test_a_ring_of_fresh_keys_cannot_lift_a_bad_layer(
    nodes: dict[str, dict[str, str]], keys: dict[str, tuple[Path, str]], tiny_model: Path
) -> None:
    creators, users = nodes["creators"], nodes["users"]
    root = Path(nodes["root"]["path"])
    layer = train_test_layer(tiny_model, root / "two", "two layers " * 4, steps=1)
    for name, description in (("good-one", "summarises logs"), ("bad-one", "summarises logs")):
        ok(creators, "genome", "publish", str(layer), "--name", name, "--description", description,
           "--version", "1.0.0")  # fmt: skip
        ok(creators, "market", "sell", name, "--per-use", "0.01")
    honest_here, honest_there = root / "honest-a.key", root / "honest-b.key"
    for path in (honest_here, honest_there):
        ok(creators, "publisher", "keygen", str(path))
    ok(creators, "market", "rate", "good-one", "0.8", "--key", str(honest_here))
    ok(users, "market", "rate", "good-one", "0.9", "--key", str(honest_there))
    ok(users, "market", "rate", "bad-one", "0.1", "--key", str(honest_there))
    node = state(creators)["node_id"]
    with admin(creators) as http:
        for _ in range(50):  # fifty fresh keys, all through the creators' node
            key = SigningKey.generate()
            note = RatingNote(
                layer="bad-one", rater=creator_of(key), node=node, score=1.0, at=time.time()
            )
            answer = http.post("/v1/market/ratings", json=signed(note, key))
            assert answer.status_code == 200, answer.text
        # A rating cannot claim another node's voice.
        key = SigningKey.generate()
        forged = RatingNote(
            layer="bad-one", rater=creator_of(key), node=state(users)["node_id"], score=1.0,
            at=time.time(),
        )  # fmt: skip
        refused = http.post("/v1/market/ratings", json=signed(forged, key))
        assert refused.status_code == 400 and "came through" in refused.text
        good = http.get("/v1/market/listings/good-one").json()["reputation"]
        bad = http.get("/v1/market/listings/bad-one").json()["reputation"]
    assert bad["ratings"]["voters"] == 2 and bad["ratings"]["mean"] <= 0.1 + 1e-9, bad
    assert good["score"] > bad["score"] and good["mean"] > bad["mean"], (good, bad)


def test_bad_usage_reports_are_refused_and_change_nothing(
    nodes: dict[str, dict[str, str]], keys: dict[str, tuple[Path, str]], listed: str
) -> None:
    creators, users = nodes["creators"], nodes["users"]
    user = keys["user"][1]
    node_key = SigningKey.generate()  # a node with no licence anywhere
    users_node = state(users)["node_id"]

    def report(**fields: Any) -> UsageReport:
        base = {
            "id": f"use-{uuid.uuid4().hex}", "node": users_node, "account": user,
            "layer": f"{listed}@1.0.0", "uses": 1, "per_use": 37, "at": time.time(),
        }  # fmt: skip
        return UsageReport(**{**base, **fields})

    with admin(creators) as http:
        before = http.get("/v1/market/audit").json()
        balance = http.get(f"/v1/market/wallets/{user}").json()["balance_units"]
        document = report().model_dump(mode="json")  # signed by another key than the node's
        forged = {
            "document": document,
            "signature": base64.b64encode(node_key.sign(canonical(document)).signature).decode(),
        }
        cases = {
            "forged": forged,
            "negative price": {
                "document": {**forged["document"], "per_use": -37},
                "signature": forged["signature"],
            },
            "unknown layer": signed(
                report(node=creator_of(node_key), layer="no-such-layer@1.0.0"), node_key
            ),
            "no licence": signed(report(node=creator_of(node_key)), node_key),
            "not json object": {"document": [1, 2], "signature": "AAAA"},
        }
        answers = {name: http.post("/v1/market/usage", json=body) for name, body in cases.items()}
        assert answers["forged"].status_code == 400
        assert "does not verify" in answers["forged"].text
        assert answers["negative price"].status_code == 400
        assert "per_use" in answers["negative price"].text
        assert answers["unknown layer"].status_code == 404
        assert "unknown layer no-such-layer" in answers["unknown layer"].text
        assert answers["no licence"].status_code == 403
        assert "no licence" in answers["no licence"].text
        assert answers["not json object"].status_code == 422
        assert http.get("/v1/market/audit").json() == before
        assert http.get(f"/v1/market/wallets/{user}").json()["balance_units"] == balance


def test_routed_generations_pay_the_serving_node_once(
    nodes: dict[str, dict[str, str]],
) -> None:
    creators, users = nodes["creators"], nodes["users"]
    payer, payee = state(users)["node_id"], state(creators)["node_id"]
    ok(creators, "market", "grant", payer, "1", "--reason", "compute credits")
    done = cli(users, "ai/generate", "--prompt=hello", "--mesh=creators", "--max-tokens=2",
               "--json", tool="jtag", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["node"] == payee and result["charge"]["charged"] is True, result
    transaction = result["charge"]["transaction"]
    paid = {line["transaction"]: line for line in statement(creators, payee)["lines"]}
    assert paid[transaction]["amount"] == PRICE  # 5 units: the platform's 10% rounds to 0
    lines = {line["transaction"]: line for line in statement(creators, payer)["lines"]}
    assert lines[transaction]["amount"] == "-" + PRICE
    assert statement(creators, payer)["balance_units"] == 100 - units(PRICE)


def test_a_use_the_wallet_cannot_pay_waits_in_the_dead_letters_until_redriven(
    nodes: dict[str, dict[str, str]], listed: str
) -> None:
    """The meter never drops a use: one the holder's wallet cannot pay is
    dead-lettered with the reason after the runner's retries, and charged
    once the wallet is topped up and the letter redriven."""
    creators = nodes["creators"]
    path = Path(nodes["root"]["path"]) / "short.key"
    account = ok(creators, "publisher", "keygen", str(path)).split()[-1]
    ok(creators, "market", "grant", account, "3.33", "--reason", "exactly the price")
    ok(creators, "market", "buy", listed, "--key", str(path))  # for this node
    ok(creators, "persona", "genome", "set", "Helper AI", listed)
    try:
        ok(creators, "ai", "generate", "--prompt", "a query", "--max-tokens", "2")

        def letter() -> str | None:
            listing = cli(creators, "events", "dlq", "--consumer", "layer-meter").stdout
            found = re.search(r"│\s*(\d+)\s*│\s*layer-meter.*insufficient funds", listing, re.I)
            return found.group(1) if found else None

        wait_until(letter, timeout=60)
        assert statement(creators, account)["balance_units"] == 0
        ok(creators, "market", "grant", account, "1", "--reason", "top-up")
        number = letter()
        assert number is not None
        ok(creators, "events", "dlq", "redrive", number)
        wait_until(lambda: statement(creators, account)["balance_units"] == 100 - 37)
    finally:
        ok(creators, "persona", "genome", "set", "Helper AI")


def test_a_creator_on_another_node_lists_on_the_remote_market(
    nodes: dict[str, dict[str, str]], tiny_model: Path
) -> None:
    """A layer that lives on the users' node (and a fork of it) is listed on
    the creators' market: the offer travels with the signed manifests, the
    listing says where the weights are, royalties follow the lineage."""
    creators, users = nodes["creators"], nodes["users"]
    root = Path(nodes["root"]["path"])
    dan, eve = root / "dan.key", root / "eve.key"
    dan_id = ok(users, "publisher", "keygen", str(dan)).split()[-1]
    eve_id = ok(users, "publisher", "keygen", str(eve)).split()[-1]
    layer = train_test_layer(tiny_model, root / "logs", "ERROR at line " * 4, steps=1)
    ok(users, "genome", "publish", str(layer), "--name", "log-base", "--description",
       "reads stack traces", "--key", str(dan))  # fmt: skip
    ok(users, "genome", "fork", "log-base", "--name", "log-pro", "--key", str(eve))
    sold = ok(users, "market", "sell", "log-pro", "--per-use", "0.10", "--key", str(eve))
    assert "listed log-pro@1.0.0" in sold, sold
    shown = json.loads(ok(creators, "market", "show", "log-pro", "--json"))
    assert shown["node"] == state(users)["node_id"] and shown["creator"] == eve_id
    assert [(a["layer"], a["creator"]) for a in shown["lineage"]] == [
        ("log-pro@1.0.0", eve_id),
        ("log-base@1.0.0", dan_id),
    ]
    # Only a layer's creator lists it, wherever the offer comes from.
    stolen = cli(users, "market", "sell", "log-base", "--price", "1", "--key", str(eve))
    assert stolen.returncode == 2 and "only a layer's creator lists it" in stolen.stderr


def test_a_refund_reverses_a_payment_once(
    nodes: dict[str, dict[str, str]], keys: dict[str, tuple[Path, str]]
) -> None:
    creators = nodes["creators"]
    user, cat = keys["user"][1], keys["cat"][1]
    use = next(line for line in statement(creators, user)["lines"] if line["kind"] == "use")
    before = {a: statement(creators, a)["balance_units"] for a in (user, cat, "platform")}
    refunded = ok(creators, "market", "refund", use["transaction"], "--reason", "did not help")
    assert "refunded" in refunded
    again = cli(creators, "market", "refund", use["transaction"], "--reason", "twice")
    assert again.returncode == 0, again.stderr  # the same refund id: recorded once
    after = {a: statement(creators, a)["balance_units"] for a in (user, cat, "platform")}
    assert after[user] - before[user] == 37
    assert before[cat] - after[cat] == 27  # 37 less the platform's 4, less bob's royalty 6
    assert before["platform"] - after["platform"] == 37 - 37 * 9000 // 10000
    missing = cli(creators, "market", "refund", "no-such-transaction", "--reason", "x")
    assert missing.returncode == 2 and "no transaction" in missing.stderr


def test_replaying_the_log_rebuilds_the_same_balances_and_reputations(
    nodes: dict[str, dict[str, str]], keys: dict[str, tuple[Path, str]]
) -> None:
    """Statements are a read model (dropped and replayed); listings and
    reputations are folded from the log by a marketplace process (killed
    with SIGKILL, then it folds again): both come back the same."""
    creators = nodes["creators"]
    accounts = [k[1] for k in keys.values()] + ["platform"]
    with admin(creators) as http:
        listings = http.get("/v1/market/listings").json()
        statements = {a: statement(creators, a) for a in accounts}
        victim = state(creators)["services"]["marketplace"]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: state(creators)["services"].get("marketplace") not in (None, victim))
        wait_until(lambda: cli(creators, "status").returncode == 0, timeout=90)
        ok(creators, "events", "replay", "market-ledger")
        assert {a: statement(creators, a) for a in accounts} == statements
        again = http.get("/v1/market/listings").json()
    assert again == listings


WALLETS = 200
USES = 4  # 200 purchases + 800 usage reports = 1,000 payments
GRANT = 2000


def test_a_thousand_payments_through_a_killed_market_and_a_nats_restart(
    nodes: dict[str, dict[str, str]], listed: str
) -> None:
    """200 fresh wallets at once, each granted credits, buying the layer for
    one node and reporting four uses from it (signed by that node), every
    request retried with the same id until it gets an answer; the
    marketplace is killed with SIGKILL after a third of them, nats-server
    after two thirds. Afterwards the ledger balances exactly: every wallet
    paid the price and four uses once, nothing was lost or doubled, the
    balances sum to zero and the accounts hold exactly what was minted."""
    creators = nodes["creators"]
    node_key = SigningKey.generate()
    node = creator_of(node_key)
    wallets = [SigningKey.generate() for _ in range(WALLETS)]
    done: list[str] = []
    with admin(creators) as http:
        audit_before = http.get("/v1/market/audit").json()
        platform_before = http.get("/v1/market/wallets/platform").json()["balance_units"]

    async def run() -> None:
        token = (Path(creators["CONTINUUM_HOME"]) / "admin.token").read_text().strip()
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{creators['CONTINUUM_GATEWAY_PORT']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=limits,
        ) as http:

            async def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
                for _ in range(600):
                    try:
                        answer = await http.post(path, json=body)
                    except httpx.HTTPError:
                        await asyncio.sleep(0.2)
                        continue
                    if answer.status_code in (429, 500, 502, 503, 504):
                        await asyncio.sleep(0.2)
                        continue
                    assert answer.status_code in (200, 201), (path, answer.text)
                    result: dict[str, Any] = answer.json()
                    done.append(path)
                    return result
                raise AssertionError(f"{path}: no answer in two minutes")

            async def wallet(i: int, key: SigningKey) -> None:
                account = creator_of(key)
                await send("/v1/market/grants", {
                    "account": account, "credits": f"{GRANT // 100}", "reason": "chaos",
                    "id": f"grant-chaos-{account[:20]}",
                })  # fmt: skip
                order = Order(id=f"order-chaos-{i}", kind="buy", layer=listed, account=account,
                              node=node, max_units=10_000, at=time.time())  # fmt: skip
                await send("/v1/market/orders", signed(order, key))
                for use in range(USES):
                    report = UsageReport(
                        id=f"use-chaos-{i}-{use}", node=node, account=account,
                        layer=f"{listed}@1.0.0", uses=1, per_use=37, at=time.time(),
                    )  # fmt: skip
                    await send("/v1/market/usage", signed(report, node_key))

            async def chaos() -> None:
                total = WALLETS * (2 + USES)
                while len(done) < total // 3:
                    await asyncio.sleep(0.05)
                os.kill(state(creators)["services"]["marketplace"], signal.SIGKILL)
                while len(done) < 2 * total // 3:
                    await asyncio.sleep(0.05)
                os.kill(state(creators)["servers"]["nats-server"], signal.SIGKILL)

            killer = asyncio.create_task(chaos())
            await asyncio.gather(*(wallet(i, key) for i, key in enumerate(wallets)))
            await killer

    asyncio.run(run())
    with admin(creators) as http:
        for key in wallets:
            balance = http.get(f"/v1/market/wallets/{creator_of(key)}").json()["balance_units"]
            assert balance == GRANT - 333 - USES * 37
        audit = http.get("/v1/market/audit").json()
        assert audit["sum"] == 0
        assert audit["minted"] == audit_before["minted"] + WALLETS * GRANT == audit["held"]
        platform = http.get("/v1/market/wallets/platform").json()["balance_units"]
        per_purchase = 333 - 333 * 9000 // 10000
        per_use = 37 - 37 * 9000 // 10000
        assert platform - platform_before == WALLETS * (per_purchase + USES * per_use)
    # The statements read model agrees with the ledger, entry for entry.
    lines = statement(creators, creator_of(wallets[0]))
    assert lines["balance_units"] == GRANT - 333 - USES * 37 and lines["entries"] == 2 + USES


@pytest.mark.browser
async def test_the_web_app_shows_the_mesh_and_the_remote_market(
    nodes: dict[str, dict[str, str]], listed: str
) -> None:
    """The users node's web app: its peer (the creators node) with RTT,
    price and personas, and the creators' market it uses."""
    users = nodes["users"]
    url = f"http://127.0.0.1:{users['CONTINUUM_GATEWAY_PORT']}"
    token = (Path(users["CONTINUUM_HOME"]) / "admin.token").read_text().strip()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, url, token)
        await page.goto(f"{url}/#/mesh")
        peers = page.locator("caption:has-text('Peers') >> xpath=..")
        await peers.locator("td", has_text="creators").wait_for()
        row = await peers.locator("tbody tr", has_text="creators").inner_text()
        assert " ms" in row and "credits" in row, row  # RTT and its price per generation
        await shot(page, "mesh")
        await page.goto(f"{url}/#/market/{listed}")
        await page.wait_for_selector(f"h1 >> text={listed}@")
        await shot(page, "mesh-remote-market")
