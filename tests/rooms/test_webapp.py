"""The web app end to end, in a real Chromium against a real node: signing
in, a room's live stream and its why panel, interrupting a generation,
swapping a layer, a training job's progress, buying on the market, and
hostile or broken input (bad tokens, lost connections, markup in text)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from rooms_harness import RoomNode, cli, make_remote_persona, make_room, replies, wait_for

from continuum.testing.browser import chromium, shot, sign_in, until
from continuum.testing.processes import wait_service_ready
from continuum_persona.testing.layers import train_test_layer, transcript
from continuum_persona.testing.wire import Script, WireServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def persona_env() -> dict[str, str]:
    return {"CONTINUUM_PERSONA_TEMPERATURE": "0"}  # greedy: a layer's effect is certain


@pytest.fixture(scope="module")
async def node(room_node: RoomNode) -> RoomNode:
    """The room node with a marketplace too."""
    room_node.start("marketplace", "continuum_marketplace", {})
    nc = await room_node.connect("test-market")
    try:
        await wait_service_ready(
            nc, "marketplace", room_node.processes["marketplace"], room_node.log("marketplace"), 90
        )
    finally:
        await nc.close()
    return room_node


@pytest.fixture(scope="module")
async def api(node: RoomNode) -> AsyncIterator[httpx.AsyncClient]:
    async with node.client() as client:

        async def lobby_ready() -> bool:
            room = await client.get("/v1/rooms/lobby")
            return room.status_code == 200 and len(room.json()["members"]) >= 5

        await wait_for(lobby_ready)
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Any, node: RoomNode) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    await context.close()
    assert errors == [], errors  # no script error on any page a test visited


async def open_room(page: Any, node: RoomNode, room: str) -> None:
    """The room's page, once its live stream is following."""
    await page.goto(f"{node.url}/#/rooms/{room}")
    await page.wait_for_selector(".connection.live")


@pytest.fixture(scope="module")
async def wire() -> AsyncIterator[WireServer]:
    server = await WireServer("openai").start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def storyteller(api: httpx.AsyncClient, wire: WireServer) -> str:
    persona = await make_remote_persona(api, "Storyteller", wire.url, priority=90)
    await make_room(api, "web-chat", [persona], min_confidence=0.0)
    return persona


async def test_sign_in_by_token_and_one_time_link_and_bad_tokens(
    page: Any, node: RoomNode, api: httpx.AsyncClient
) -> None:
    await page.goto(f"{node.url}/")
    await page.fill("input[name=token]", "ct_not-a-real-token")
    await page.click("form[aria-label='Sign in'] button[type=submit]")
    await page.wait_for_selector("text=the API token is invalid or revoked")
    await shot(page, "sign-in-refused")

    link = await api.post("/v1/signin/links", json={"name": "web test", "scopes": ["read"]})
    assert link.status_code == 201, link.text
    url = link.json()["url"]
    assert url.startswith(node.url) and "#signin=cts_" in url
    await page.goto(url)
    await page.wait_for_selector("#who >> text=web test")
    assert "signin" not in page.url  # the code is wiped from the address bar (and history)
    # A read token: no genome editing offered.
    await page.goto(f"{node.url}/#/personas/helper-ai")
    await page.wait_for_selector("text=An admin token can edit the genome.")

    # The link worked once (in another browser: nobody is signed in there).
    other = await page.context.browser.new_context()
    again = await other.new_page()
    await again.goto(url)
    await again.wait_for_selector("text=this sign-in link is unknown, already used or expired")

    # A token revoked while signed in: the next request signs the browser out, saying why.
    made = (await api.post("/v1/tokens", json={"name": "soon revoked", "scopes": ["admin"]})).json()
    await sign_in(again, node.url, made["token"])
    assert (await api.delete(f"/v1/tokens/{made['id']}")).status_code == 200
    await asyncio.sleep(2.5)  # the gateway caches a token's answer for 2 s
    await again.goto(f"{node.url}/#/layers")
    await again.wait_for_selector("text=the API token is invalid or revoked")
    assert await again.locator("input[name=token]").count() == 1
    await other.close()


async def test_a_room_streams_the_answer_as_it_is_generated_and_says_why(
    page: Any, node: RoomNode, wire: WireServer, storyteller: str
) -> None:
    wire.script = Script(pieces=[f"word{i} " for i in range(30)], delay_s=0.05)
    await sign_in(page, node.url, node.admin_token)
    await open_room(page, node, "web-chat")
    # Record every length the persona's message had as it grew.
    await page.evaluate(
        """() => {
          window.seen = new Set();
          window.busy = [];
          new MutationObserver(() => {
            for (const t of document.querySelectorAll('.message.persona .text'))
              seen.add(t.textContent.length);
            const a = document.querySelector('.activity').textContent;
            if (a) busy.push(a);
          }).observe(document.querySelector('main'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )
    await page.click("button[aria-label='mention Storyteller']")  # puts "@storyteller "
    await page.keyboard.type("tell me a story")
    assert await page.input_value("textarea[name=text]") == f"@{storyteller} tell me a story"
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".message.persona .text >> text=word29", timeout=30_000)
    assert await page.locator(".mentioned", has_text=storyteller).count() >= 1
    await until(page, "!document.querySelector('.badge.generating')")
    seen = await page.evaluate("[...window.seen]")
    assert len([n for n in seen if n > 0]) >= 5, seen  # pieces arrived one by one
    assert any("Storyteller is generating" in b for b in await page.evaluate("window.busy"))
    assert await page.locator(".note", has_text="got the turn").count() >= 1
    await shot(page, "room")

    await page.locator(".message.persona button", has_text="why?").last.click()
    panel = page.locator("aside.why")
    await panel.locator("table").wait_for()
    text = await panel.inner_text()
    assert "Why Storyteller spoke" in text and "Score" in text and "yes" in text
    await shot(page, "room-why")


async def test_a_human_message_interrupts_a_generating_persona(
    page: Any, node: RoomNode, wire: WireServer, storyteller: str
) -> None:
    wire.script = Script(pieces=[f"long{i} " for i in range(200)], delay_s=0.05)
    await sign_in(page, node.url, node.admin_token)
    await open_room(page, node, "web-chat")
    await page.fill("textarea[name=text]", f"@{storyteller} tell me a very long story")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".activity >> text=Storyteller is generating", timeout=30_000)
    await page.wait_for_selector(".message.persona .text >> text=long3")
    await page.fill("textarea[name=text]", "Stop, please: a human is talking.")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".note >> text=Preempted (interrupt)", timeout=30_000)
    await page.wait_for_selector(".message.persona .badge.interrupted", timeout=30_000)
    cut = page.locator(".message.persona", has=page.locator(".badge.interrupted"))
    interrupted = await cut.last.inner_text()
    assert "long199" not in interrupted
    await shot(page, "room-interrupted")


@pytest.fixture(scope="module")
def creator_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "creator.key"
    path.write_text(base64.b64encode(bytes(SigningKey.generate())).decode() + "\n")
    path.chmod(0o600)
    return path


async def test_swapping_a_layer_in_the_browser_changes_the_next_answer(
    page: Any, node: RoomNode, api: httpx.AsyncClient, creator_key: Path, tmp_path: Path
) -> None:
    layer = train_test_layer(node.model_dir, tmp_path / "zed", transcript("z" * 40), seed=1)
    home = tmp_path / "home"
    home.mkdir()
    cli(node, home, "genome", "publish", str(layer), "--name", "zed-speak", "--description",
        "Answers in the zed dialect, all zzz", "--domains", "dialects,zed",
        "--key", str(creator_key))  # fmt: skip
    await make_room(api, "web-genome", ["debugger-ai"])
    await sign_in(page, node.url, node.admin_token)

    async def ask(text: str) -> str:
        await open_room(page, node, "web-genome")
        before = await page.locator(".message.persona").count()
        await page.fill("textarea[name=text]", text)
        await page.keyboard.press("Enter")
        await until(
            page,
            f"document.querySelectorAll('.message.persona').length > {before} && "
            "!document.querySelector('.badge.generating')",
            timeout=60,
        )
        return str(await page.locator(".message.persona .text").last.inner_text())

    first = await ask("How do I fix this Python KeyError?")
    assert "zzz" not in first

    await page.goto(f"{node.url}/#/personas/debugger-ai")
    await page.fill("form[aria-label='Find layers by capability'] input[name=q]", "zed dialect")
    await page.click("form[aria-label='Find layers by capability'] button[type=submit]")
    await page.click("button:has-text('Add zed-speak')")
    await page.click("button:has-text('Save genome')")
    await page.wait_for_selector("text=applies from the persona's next turn")
    assert "zed-speak@1.0.0" in await page.locator("main").inner_text()
    await shot(page, "persona-genome")

    second = await ask("And what about a TypeError?")
    assert "zzz" in second, second

    # Reordering and removing are the same editor: back to no layer.
    await page.goto(f"{node.url}/#/personas/debugger-ai")
    await page.click("button[aria-label='remove zed-speak']")
    await page.click("button:has-text('Save genome')")
    await page.wait_for_selector("text=applies from the persona's next turn")
    shown = (await api.get("/v1/personas/debugger-ai")).json()
    assert shown["genome"] == []

    await page.goto(f"{node.url}/#/layers/zed-speak")
    await page.wait_for_selector("svg.graph")
    await shot(page, "layer")
    await page.goto(f"{node.url}/#/layers")
    await page.wait_for_selector("caption >> text=Cache tiers")
    await shot(page, "layers")


async def test_a_training_job_started_in_the_browser_shows_progress_and_its_loss_curve(
    page: Any, node: RoomNode
) -> None:
    await sign_in(page, node.url, node.admin_token)
    await page.goto(f"{node.url}/#/academy/training")
    await page.select_option("form[aria-label='Train a layer'] select[name=persona]", "helper-ai")
    await page.select_option("form[aria-label='Train a layer'] select[name=skill]", "strings")
    await page.fill("input[name=steps]", "150")
    await page.fill("input[name=batch]", "4")
    await page.click("button:has-text('Start training')")
    await page.wait_for_url("**/#/academy/training/*")
    seen: set[tuple[str, str]] = set()

    async def done() -> bool:
        bar = page.locator("progress")
        if await bar.count():
            seen.add((str(await bar.get_attribute("value")), str(await bar.get_attribute("max"))))
        return await page.locator("text=Published").count() > 0

    await wait_for(done, timeout=240, every=0.2)
    partial = [v for v, m in seen if 0 < float(v) < float(m)]
    assert partial, seen  # progress was seen between the start and the end
    curve = await page.locator("svg.chart path.line").get_attribute("d")
    assert curve is not None and curve.count("L") >= 10
    await shot(page, "training")

    await page.goto(f"{node.url}/#/academy/sessions")
    await page.select_option("form[aria-label='New session'] select[name=persona]", "helper-ai")
    await page.select_option("form[aria-label='New session'] select[name=skill]", "arithmetic")
    await page.fill("input[name=exercises]", "2")
    await page.click("button:has-text('Create and start')")
    await page.wait_for_selector("text=2/2 attempted", timeout=120_000)
    await page.locator("button[aria-label='Good answer']").first.click()
    await page.wait_for_selector("text=Rated 👍")
    await shot(page, "academy-session")
    await page.goto(f"{node.url}/#/academy/leaderboards/arithmetic")
    await page.wait_for_selector("#lb-skill")
    board = await page.locator("main").inner_text()
    assert "Bradley-Terry ratings on arithmetic" in board or "Nobody has been rated" in board
    await shot(page, "academy-leaderboard")


async def test_buying_a_listing_in_the_browser_changes_the_wallet(
    page: Any, node: RoomNode, api: httpx.AsyncClient, creator_key: Path, tmp_path: Path
) -> None:
    layer = train_test_layer(node.model_dir, tmp_path / "sql", "SELECT * FROM t " * 4, steps=1)
    poem = train_test_layer(node.model_dir, tmp_path / "poem", "roses are red " * 4, steps=1)
    home = tmp_path / "home"
    home.mkdir()
    for path, name, what in ((layer, "sql-web", "writes SQL queries"), (poem, "poem-web", "poems")):
        cli(node, home, "genome", "publish", str(path), "--name", name, "--description", what,
            "--key", str(creator_key))  # fmt: skip
    cli(node, home, "market", "sell", "sql-web", "--price", "2", "--key", str(creator_key))

    await sign_in(page, node.url, node.admin_token)
    await page.goto(f"{node.url}/#/market")
    await page.click("button:has-text('Create a wallet key')")
    account = await page.locator("#wallet-account").inner_text()
    assert len(account) == 52
    await page.fill("form[aria-label='Grant credits (admin)'] input[name=credits]", "10")
    await page.click("form[aria-label='Grant credits (admin)'] button[type=submit]")
    await page.wait_for_selector("#wallet-balance >> text=10.00")

    await page.fill("form[aria-label='Search the market'] input[name=q]", "SQL queries")
    await page.click("form[aria-label='Search the market'] button[type=submit]")
    await page.click("caption:has-text('Search results') >> xpath=.. >> a:has-text('sql-web')")
    await page.click("button:has-text('Buy for 2.00')")
    await page.wait_for_selector("text=Licensed sql-web@1.0.0 on this node: paid 2.00; balance 8")
    await page.wait_for_selector("#wallet-balance >> text=8.00")
    wallet = (await api.get(f"/v1/market/wallets/{account}")).json()
    assert wallet["balance"] == "8.00"
    await shot(page, "market-listing")

    # The creator imports their key file and lists another layer of theirs.
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(f"{node.url}/#/market")
    await page.click("button:has-text('Forget the key')")
    await page.set_input_files("#wallet-file", str(creator_key))
    await page.wait_for_selector("form[aria-label='List your layer']")
    await page.select_option("select[name=layer]", "poem-web")
    await page.fill("form[aria-label='List your layer'] input[name=per_use]", "0.25")
    await page.click("button:has-text('List it')")
    await page.wait_for_selector("h1 >> text=poem-web@1.0.0")
    assert "0.25/use" in await page.locator("main").inner_text()
    shown = (await api.get("/v1/market/listings/poem-web")).json()
    assert shown["terms"]["per_use"] == 25
    await shot(page, "market")


async def test_markup_in_names_and_messages_is_shown_never_run(
    page: Any, node: RoomNode, api: httpx.AsyncClient, storyteller: str
) -> None:
    evil = '<img src=x onerror="window.pwned=1">Evil'
    made = await api.post(
        "/v1/personas",
        json={
            "name": evil,
            "role": "<script>window.pwned=2</script>",
            "domains": ["x"],
            "rooms": ["web-chat"],
        },
    )
    assert made.status_code == 201, made.text
    await sign_in(page, node.url, node.admin_token)
    await open_room(page, node, "web-chat")
    hostile = "<script>window.pwned=3</script><b>bold</b> " + "x" * 3000
    await page.fill("textarea[name=text]", hostile)
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".message.human .text >> text=<b>bold</b>")
    assert await page.locator(".messages b").count() == 0
    assert await page.locator(".members >> text=" + evil).count() == 1
    overflow = await page.evaluate(
        "(() => { const m = document.querySelector('.messages'); "
        "return m.scrollWidth - m.clientWidth; })()"
    )
    assert overflow <= 1  # a 3000-character word wraps inside the list
    await page.goto(f"{node.url}/#/personas")
    await page.wait_for_selector(f"text={evil}")
    assert await page.evaluate("window.pwned") is None
    # A message over the limit is refused in the page, with the limit named.
    await open_room(page, node, "web-chat")
    too_long = await page.evaluate(
        "(() => { const t = document.querySelector('textarea[name=text]'); "
        "t.value = 'y'.repeat(9000); return t.value.length; })()"
    )
    assert too_long == 9000 or too_long == 8000
    await page.click("form[aria-label='Send a message'] button[type=submit]")
    refused = page.locator("form[aria-label='Send a message'] .status.error")
    if too_long == 9000:
        await refused.wait_for()
        assert "8000" in await refused.inner_text()


async def test_a_lost_connection_resumes_from_the_last_event(
    page: Any, node: RoomNode, api: httpx.AsyncClient, wire: WireServer, storyteller: str
) -> None:
    wire.script = Script(pieces=["resumed ", "fine."], delay_s=0.0)
    await sign_in(page, node.url, node.admin_token)
    await open_room(page, node, "web-chat")
    resumed_with: list[str] = []

    async def hold(route: Any) -> None:
        await route.abort()

    page.on(
        "request",
        lambda r: "/stream" in r.url and resumed_with.append(r.headers.get("last-event-id", "")),
    )
    await page.route("**/v1/rooms/web-chat/stream", hold)
    node.processes["gateway"].kill()  # SIGKILL: the stream is cut mid-flight
    await page.wait_for_selector(".connection.lost", timeout=30_000)
    await node.restart("gateway", "continuum_gateway")
    missed = (
        await api.post("/v1/rooms/web-chat/messages", json={"text": f"@{storyteller} while away"})
    ).json()["message_id"]

    async def answered() -> list[dict[str, Any]]:
        return await replies(api, "web-chat", missed)

    await wait_for(answered, timeout=60)
    await page.unroute("**/v1/rooms/web-chat/stream", hold)
    await page.wait_for_selector(".connection.live", timeout=30_000)
    await page.wait_for_selector(".message.human .text >> text=while away")
    await page.wait_for_selector(".message.persona .text >> text=resumed fine.")
    assert resumed_with and resumed_with[-1].startswith("EVT_CHAT:"), resumed_with
    await shot(page, "room-resumed")


async def test_a_room_closed_while_open_says_so_and_takes_no_more_posts(
    page: Any, node: RoomNode, api: httpx.AsyncClient, storyteller: str
) -> None:
    await make_room(api, "web-closing", [storyteller])
    await sign_in(page, node.url, node.admin_token)
    await open_room(page, node, "web-closing")
    closed = await api.delete("/v1/rooms/web-closing")  # someone else closes it
    assert closed.status_code == 200, closed.text
    await page.wait_for_selector("text=This room was closed by node admin")
    assert await page.locator("textarea[name=text]").is_disabled()
    await shot(page, "room-closed")
    refused = await api.post("/v1/rooms/web-closing/messages", json={"text": "hello?"})
    assert refused.status_code == 404
    again = await api.post("/v1/rooms", json={"id": "web-closing"})
    assert again.status_code == 409 and "closed room" in again.json()["error"]["message"]
    lobby = await api.delete("/v1/rooms/lobby")
    assert lobby.status_code == 409 and "cannot be closed" in lobby.json()["error"]["message"]
    await page.goto(f"{node.url}/#/rooms")
    await page.wait_for_selector("caption >> text=Rooms on this node")
    assert await page.locator("a", has_text="web-closing").count() == 0
    # A room closed from the page: the admin's button, after a confirmation.
    await make_room(api, "web-closing-2", [])
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await open_room(page, node, "web-closing-2")
    await page.click("button:has-text('Close room')")
    await page.wait_for_selector("text=This room was closed by node admin")
    assert (await api.get("/v1/rooms/web-closing-2")).status_code == 404


async def test_a_persona_retired_while_open_leaves_its_rooms_and_says_so(
    page: Any, browser: Any, node: RoomNode, api: httpx.AsyncClient, storyteller: str
) -> None:
    made = await api.post(
        "/v1/personas",
        json={"name": "Temp AI", "role": "here briefly", "domains": ["x"], "rooms": ["web-chat"]},
    )
    assert made.status_code == 201, made.text
    await sign_in(page, node.url, node.admin_token)
    await page.goto(f"{node.url}/#/rooms/web-chat")
    await page.wait_for_selector(".members >> text=Temp AI")
    other = await page.context.new_page()
    await other.goto(f"{node.url}/#/personas/temp-ai")
    await other.wait_for_selector("h1 >> text=Temp AI")

    retired = await api.delete("/v1/personas/temp-ai")  # someone else retires it
    assert retired.status_code == 200, retired.text
    assert retired.json() == {"persona": "temp-ai", "left": ["web-chat"]}
    # The room drops it live; its page, on the next action, says it is gone.
    await until(page, "!document.querySelector('.members').textContent.includes('Temp AI')")
    await other.click("button:has-text('Save genome')")
    await other.wait_for_selector("text=Temp AI is no longer here")
    await other.close()
    assert (await api.get("/v1/personas/temp-ai")).status_code == 404
    again = await api.post(
        "/v1/personas", json={"name": "Temp AI", "role": "again", "domains": ["x"]}
    )
    assert again.status_code == 409 and "retired" in again.json()["error"]["message"]


async def test_missing_things_and_a_phone_width(page: Any, node: RoomNode) -> None:
    await sign_in(page, node.url, node.admin_token)
    await page.goto(f"{node.url}/#/rooms/no-such-room")
    await page.wait_for_selector("h1 >> text=Room not found")
    await page.goto(f"{node.url}/#/personas/no-such-persona")
    await page.wait_for_selector("h1 >> text=Persona not found")
    await page.goto(f"{node.url}/#/nowhere")
    await page.wait_for_selector("h1 >> text=Not found")
    await page.set_viewport_size({"width": 390, "height": 844})
    for name in ("rooms", "personas", "layers", "academy/training", "market", "mesh", "events"):
        await page.goto(f"{node.url}/#/{name}")
        await page.wait_for_selector("main h1")
        await page.wait_for_timeout(300)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 391, (name, wide)
        # Every control in the page has a label a screen reader can read.
        unlabelled = await page.evaluate(
            "[...document.querySelectorAll('main input, main select, main textarea')]"
            ".filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && "
            "!e.getAttribute('aria-label')).map(e => e.name || e.id)"
        )
        assert unlabelled == [], (name, unlabelled)
        await shot(page, f"phone-{name.replace('/', '-')}")
