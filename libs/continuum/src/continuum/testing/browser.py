"""Driving the web app in a real Chromium (Debian's, through Playwright's
``executable_path``; there is no browser download here).

Without a Chromium the browser tests are skipped with how to install one,
except under CI (``CI`` set), where ``.ci/run`` installs it first and a
missing browser is a failure, so CI always runs them. Screenshots go to
``test-artifacts/webapp/`` (``CONTINUUM_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

INSTALL_HINT = (
    "browser tests need Chromium: apt-get install chromium (or set CONTINUUM_CHROMIUM to a "
    "Chromium binary); `.ci/run` installs it"
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    found = os.environ.get("CONTINUUM_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return found


def artifacts() -> Path:
    """Where screenshots go: ``$CONTINUUM_TEST_ARTIFACTS/webapp`` or
    ``test-artifacts/webapp`` under the working directory (the repository
    root in a test run)."""
    root = Path(os.environ.get("CONTINUUM_TEST_ARTIFACTS", "test-artifacts"))
    path = root.resolve() / "webapp"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/")
    await page.fill("input[name=token]", token)
    await page.click("form[aria-label='Sign in'] button[type=submit]")
    await page.wait_for_selector("#who button", timeout=15_000)


async def shot(page: Page, name: str) -> Path:
    path = artifacts() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def until(page: Page, script: str, timeout: float = 30) -> None:
    """Wait until ``script`` (a JS expression) is true in the page. Not
    ``wait_for_function``: the app's Content-Security-Policy forbids the eval
    it uses, as it should."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await page.evaluate(f"() => Boolean({script})"):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {script}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium (skips, or fails under CI, where there is none)."""
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
