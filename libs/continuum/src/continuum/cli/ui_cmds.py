"""`continuum ui`: open the node's web app, signed in by a one-time link.

The link's code is good once and for minutes, and it is a code, not a token:
the browser trades it for a token of its own (POST /v1/signin) and wipes it
from the address bar, so no token is ever in a URL, a shell history or a log.
"""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console

SCOPES = ("read", "publish", "admin")


def ui(
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="The browser token's scopes (repeatable; default admin)."),
    ] = None,
    name: Annotated[str, typer.Option(help="The browser token's name.")] = "web app",
    minutes: Annotated[
        int, typer.Option(min=1, max=1440, help="How long the link works, unused.")
    ] = 10,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the link in a browser.")
    ] = True,
) -> None:
    """Print (and open) a one-time sign-in link to this node's web app."""
    scopes = scope or ["admin"]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise CliError(f"unknown scope(s) {unknown}; scopes are {', '.join(SCOPES)}")
    link = gateway_client.request(
        "POST",
        "/v1/signin/links",
        json={"name": name, "scopes": sorted(set(scopes)), "ttl_s": minutes * 60},
    )
    console.print(f"Web app: [bold]{link['url']}[/]")
    console.print(
        f"The link signs one browser in as {link['name']!r} ({', '.join(link['scopes'])}); "
        f"it works once, until {link['expires_at']}."
    )
    if open_browser:
        webbrowser.open(link["url"])
