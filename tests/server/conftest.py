"""Fixtures of the browser tests (Playwright driving Debian's Chromium): the browser, a
server over the bundled sample run, one over a root of synthetic runs, and a page that
checks at teardown that it logged no console error and made no request elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browsing import CHROMIUM, CHROMIUM_ARGS, Browse, Server, make_synthetic_run, unavailable

from reprdynamics.sample import sample_run_path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    for module in ("uvicorn", "starlette"):
        try:
            __import__(module)
        except ImportError:
            unavailable(f"{module} is not installed")
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def sample_server() -> Iterator[Server]:
    sample_run_path()  # fails with the regeneration hint when the sample is missing
    server = Server(None)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def root_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("runs")
    make_synthetic_run(root / "alpha", n=60, snapshots=6, classes=3, seed=1)
    make_synthetic_run(root / "beta", n=60, snapshots=6, classes=3, seed=2)
    make_synthetic_run(root / "gamma", n=3000, snapshots=4, classes=5, seed=3)
    make_synthetic_run(root / "live", n=40, snapshots=3, classes=2, seed=4)
    server = Server(root)
    yield server
    server.stop()


@pytest.fixture
def browse(chromium: Any) -> Iterator[Browse]:
    session = Browse(chromium)
    yield session
    try:
        session.check()
    finally:
        session.context.close()
