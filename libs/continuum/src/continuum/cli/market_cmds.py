"""`continuum market ...`: list, find, buy, rent and sell layers; wallets,
statements and (for admins) grants and refunds.

Orders, offers and ratings are signed here with the wallet's key (``--key``,
else ``CONTINUUM_CREATOR_KEY_FILE``, else this node's key) before they leave,
so whichever market receives them can tell who asked. Amounts are shown in
credits (1 credit = 100 units); there is no payment rail: credits enter only
by an admin's grant.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, print_table, settings, shorten
from continuum.cli.genome_cmds import signing_key_of
from continuum.events.market import ListingTerms
from continuum.genome.manifest import creator_of
from continuum.identity import NodeIdentity
from continuum.market.documents import DocumentError, Offer, Order, RatingNote, signed
from continuum.market.ledger import LedgerError, format_units, parse_credits

app = typer.Typer(
    help="The genome marketplace: listings, purchases, wallets, statements.",
    no_args_is_help=True,
)

KeyOption = Annotated[
    Path | None, typer.Option("--key", help="The wallet's key file (default: this node's key).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _credits(value: str, what: str) -> int:
    try:
        return parse_credits(value)
    except LedgerError as exc:
        raise CliError(f"{what}: {exc}") from None


def _this_node() -> str:
    s = settings()
    return NodeIdentity.configured(s.home, s.node_key.get_secret_value()).node_id


def _wallet(account: str | None, key: Path | None) -> str:
    return account or creator_of(signing_key_of(key))


def _terms(listing: dict[str, Any]) -> str:
    terms = listing["terms"]
    if listing.get("free"):
        return "free"
    parts = []
    if terms["price"]:
        parts.append(f"{format_units(terms['price'])} to buy")
    if terms["per_use"]:
        parts.append(f"{format_units(terms['per_use'])}/use")
    if terms["rent"]:
        parts.append(f"{format_units(terms['rent'])}/{terms['period_days']}d")
    return ", ".join(parts)


def _rows(listings: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            f"{x['layer']}@{x['version']}",
            _terms(x),
            f"{x['reputation']['score']:.2f}" if x.get("reputation") else "-",
            x["creator"][:12],
            shorten(x["description"], 60),
        )
        for x in listings
    ]


@app.command("list")
def list_(
    creator: Annotated[str | None, typer.Option(help="Only this creator's listings.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every listing of the market this node uses."""
    params: dict[str, Any] = {"creator": creator} if creator else {}
    reply = gateway_client.request("GET", "/v1/market/listings", params=params)
    if as_json:
        console.print_json(json.dumps(reply))
        return
    print_table(
        f"{reply['count']} listing(s)",
        ("layer", "terms", "reputation", "creator", "description"),
        _rows(reply["listings"]),
        whole=("layer",),
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What the layer should be good at.")],
    k: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Listings by capability, ranked by similarity, reputation and price."""
    reply = gateway_client.request("GET", "/v1/market/search", params={"q": query, "k": k})
    if as_json:
        console.print_json(json.dumps(reply))
        return
    rows = [
        (f"{r['rank']:.3f}", f"{r['similarity']:.3f}", *row)
        for r, row in zip(reply["results"], _rows(reply["results"]), strict=True)
    ]
    print_table(
        f"market search: {query}",
        ("rank", "similarity", "layer", "terms", "reputation", "creator", "description"),
        rows,
        whole=("layer",),
        optional=("creator", "similarity"),
    )


@app.command()
def show(layer: str, as_json: JsonOption = False) -> None:
    """One listing: terms, lineage, reputation and demand."""
    reply = gateway_client.request("GET", f"/v1/market/listings/{quote(layer)}")
    if as_json:
        console.print_json(json.dumps(reply))
        return
    rep = reply["reputation"]
    table = Table(show_header=False, title=f"{reply['layer']}@{reply['version']}")
    table.add_column(style="bold")
    table.add_column()
    for name, value in (
        ("terms", _terms(reply)),
        ("licence", reply["license"]),
        ("creator", reply["creator"]),
        ("base model", reply["base_model"]),
        ("lineage", " <- ".join(a["layer"] for a in reply["lineage"])),
        ("reputation", f"{rep['score']:.3f} (mean {rep['mean']:.3f}, weight {rep['weight']})"),
        (
            "ratings",
            f"{rep['ratings']['voters']} voter(s), consensus {rep['ratings']['consensus']}",
        ),
        (
            "academy",
            "-"
            if rep["academy"] is None
            else f"{rep['academy']:.3f} over {rep['academy_observations']} observation(s)",
        ),
        (
            "retention",
            "-"
            if rep["retention"] is None
            else f"{rep['retention']:.0%} of {rep['holders']} holder(s)",
        ),
        ("uses", f"{reply['uses_7d']} this week, {reply['uses_prev_7d']} the week before"),
        ("withdrawn", "yes" if reply["withdrawn"] else "no"),
    ):
        table.add_row(name, str(value))
    console.print(table)


def _order(
    kind: str,
    layer: str,
    max_credits: str | None,
    node: str | None,
    key: Path | None,
    order_id: str | None,
) -> dict[str, Any]:
    signing_key = signing_key_of(key)
    if max_credits is None:
        listing = gateway_client.request("GET", f"/v1/market/listings/{quote(layer)}")
        terms = listing["terms"]
        max_units = terms["rent"] if kind == "rent" else terms["price"]
    else:
        max_units = _credits(max_credits, "--max")
    try:
        order = Order(
            id=order_id or f"order-{uuid.uuid4().hex}",
            kind=kind,  # type: ignore[arg-type]
            layer=layer,
            account=creator_of(signing_key),
            node=node or _this_node(),
            max_units=max_units,
            at=time.time(),
        )
    except ValueError as exc:
        raise CliError(f"cannot make the order: {exc}") from None
    reply: dict[str, Any] = gateway_client.request(
        "POST", "/v1/market/orders", json=signed(order, signing_key)
    )
    return reply


@app.command()
def buy(
    layer: str,
    max_credits: Annotated[
        str | None, typer.Option("--max", help="Pay at most this (default: the listed price).")
    ] = None,
    node: Annotated[
        str | None, typer.Option(help="The node it runs on (default: this one).")
    ] = None,
    order_id: Annotated[str | None, typer.Option("--id", help="Idempotency key.")] = None,
    key: KeyOption = None,
) -> None:
    """Buy a licence to run LAYER on a node (then uses are charged per use, if priced so)."""
    reply = _order("buy", layer, max_credits, node, key, order_id)
    again = " (already bought: charged once)" if reply["duplicate"] else ""
    console.print(
        f"licensed [bold]{reply['licence']['layer']}[/] for {reply['licence']['node'][:12]}…: "
        f"paid {reply['charged']}{again}; balance {reply['balance']}"
    )


@app.command()
def rent(
    layer: str,
    max_credits: Annotated[str | None, typer.Option("--max", help="Pay at most this.")] = None,
    node: Annotated[
        str | None, typer.Option(help="The node it runs on (default: this one).")
    ] = None,
    order_id: Annotated[str | None, typer.Option("--id", help="Idempotency key.")] = None,
    key: KeyOption = None,
) -> None:
    """Rent LAYER for its listed period (uses are free until it ends)."""
    reply = _order("rent", layer, max_credits, node, key, order_id)
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(reply["licence"]["until"]))
    console.print(
        f"rented [bold]{reply['licence']['layer']}[/] until {until}: paid {reply['charged']}; "
        f"balance {reply['balance']}"
    )


@app.command()
def sell(
    layer: str,
    version: Annotated[str, typer.Option(help="The version to list.")] = "latest",
    price: Annotated[str, typer.Option(help="Credits to buy a licence.")] = "0",
    per_use: Annotated[
        str, typer.Option(help="Credits per use, or 'suggested' (from demand).")
    ] = "0",
    rent_price: Annotated[str, typer.Option("--rent", help="Credits per rental period.")] = "0",
    period_days: Annotated[int, typer.Option(min=1, max=3650)] = 30,
    license_: Annotated[str, typer.Option("--license", help="Default: the manifest's.")] = "",
    key: KeyOption = None,
) -> None:
    """List LAYER (signed with the creator's key); again to change its terms or version."""
    signing_key = signing_key_of(key)
    if per_use == "suggested":
        suggestion = gateway_client.request("GET", f"/v1/market/listings/{quote(layer)}/price")
        per_use_units = int(suggestion["suggested"])
    else:
        per_use_units = _credits(per_use, "--per-use")
    try:
        offer = Offer(
            layer=layer,
            version=version,
            terms=ListingTerms(
                price=_credits(price, "--price"),
                per_use=per_use_units,
                rent=_credits(rent_price, "--rent"),
                period_days=period_days,
            ),
            license=license_,
            creator=creator_of(signing_key),
            at=time.time(),
        )
    except ValueError as exc:
        raise CliError(f"cannot make the offer: {exc}") from None
    reply = gateway_client.request("POST", "/v1/market/listings", json=signed(offer, signing_key))
    console.print(f"listed [bold]{reply['layer']}@{reply['version']}[/]: {_terms(reply)}")


@app.command()
def delist(layer: str, key: KeyOption = None) -> None:
    """Withdraw LAYER's listing (licences already sold stay valid)."""
    signing_key = signing_key_of(key)
    offer = Offer(action="delist", layer=layer, creator=creator_of(signing_key), at=time.time())
    gateway_client.request(
        "POST", f"/v1/market/listings/{quote(layer)}/withdraw", json=signed(offer, signing_key)
    )
    console.print(f"withdrew {layer}")


@app.command()
def rate(
    layer: str,
    score: Annotated[float, typer.Argument(min=0.0, max=1.0, help="0 (bad) to 1 (good).")],
    key: KeyOption = None,
) -> None:
    """Rate LAYER (signed with your key; one rating per rater, the latest counts)."""
    signing_key = signing_key_of(key)
    try:
        note = RatingNote(
            layer=layer,
            rater=creator_of(signing_key),
            node=_this_node(),
            score=score,
            at=time.time(),
        )
    except (ValueError, DocumentError) as exc:
        raise CliError(f"cannot make the rating: {exc}") from None
    reply = gateway_client.request("POST", "/v1/market/ratings", json=signed(note, signing_key))
    console.print(f"rated {layer}: reputation now {reply['reputation']['score']:.3f}")


@app.command()
def wallet(
    account: Annotated[str | None, typer.Argument(help="Default: your key's wallet.")] = None,
    key: KeyOption = None,
) -> None:
    """A wallet's balance."""
    who = _wallet(account, key)
    reply = gateway_client.request("GET", f"/v1/market/wallets/{who}")
    console.print(f"{who}: [bold]{reply['balance']}[/] credits")


@app.command()
def statement(
    account: Annotated[str | None, typer.Argument(help="Default: your key's wallet.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A wallet's entries, newest first, with the balance after each."""
    who = _wallet(account, key)
    reply = gateway_client.request(
        "GET", f"/v1/market/wallets/{who}/statement", params={"limit": limit}
    )
    if as_json:
        console.print_json(json.dumps(reply))
        return
    print_table(
        f"{who}: balance {reply['balance']} (in {reply['credited']}, out {reply['debited']})",
        ("when", "kind", "amount", "balance", "layer", "transaction id"),
        [
            (
                line["at"][:19].replace("T", " "),
                line["kind"],
                line["amount"],
                line["balance"],
                line["layer"],
                line["transaction"],
            )
            for line in reply["lines"]
        ],
        optional=("layer",),
    )


@app.command()
def grant(
    account: str,
    credits: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    grant_id: Annotated[str | None, typer.Option("--id", help="Idempotency key.")] = None,
) -> None:
    """Mint CREDITS into ACCOUNT (admin token; no real money is involved)."""
    body: dict[str, Any] = {"account": account, "credits": credits, "reason": reason}
    if grant_id:
        body["id"] = grant_id
    reply = gateway_client.request("POST", "/v1/market/grants", json=body)
    again = " (already granted)" if reply["duplicate"] else ""
    console.print(f"granted {reply['granted']} to {account}{again}; balance {reply['balance']}")


@app.command()
def refund(
    transaction: str,
    reason: Annotated[str, typer.Option(help="Why (kept on the refund).")],
) -> None:
    """Reverse a purchase, rental or use (admin token)."""
    reply = gateway_client.request(
        "POST", "/v1/market/refunds", json={"transaction": transaction, "reason": reason}
    )
    console.print(f"refunded {transaction} as {reply['refund']}")


@app.command()
def price(layer: str) -> None:
    """The per-use price demand suggests for LAYER."""
    r = gateway_client.request("GET", f"/v1/market/listings/{quote(layer)}/price")
    console.print(
        f"{layer}: now {format_units(r['current'])}/use, suggested "
        f"[bold]{format_units(r['suggested'])}[/] (anchor {format_units(r['anchor'])} from "
        f"{r['similar_listings']} similar listing(s); {r['uses_7d']} uses this week, "
        f"{r['uses_prev_7d']} the week before)"
    )
