"""Real headless Chromium (Debian's ``chromium``) driven by Playwright, against real nodes.

If no Chromium is found the browser tests are skipped with a reason that pytest prints
(``-rs`` is on): set ``LIVECON_CHROMIUM`` or install ``chromium``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support import Node

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "screens"


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("LIVECON_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Chromium not found: install Debian's chromium (.ci/run does) "
            "or set LIVECON_CHROMIUM; browser tests did not run"
        )
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def snack_node(tmp_path: Path) -> Iterator[Node]:
    """An embedded node with the snack sample show loaded in room ``snack``."""
    script = ROOT / "scripts" / "snack-party.toml"
    node = Node.start(data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"snack={script}"})
    try:
        yield node
    finally:
        node.stop()


def artifact(name: str) -> Path:
    """Where a test saves a screenshot (kept as a CI artifact; not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
