"""Helpers of the browser tests: a dashboard server in a thread, a page that records its
console errors and requests, and small synthetic runs. The fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reprdynamics as rd
from processes import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("/tmp")
TIMEOUT_MS = 120_000


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the browser tests to run, but {reason}.")
    pytest.skip(reason)


# ---------------------------------------------------------------------------- servers
class Server:
    """The dashboard app served by uvicorn in a daemon thread on a free local port."""

    def __init__(self, target: Path | None) -> None:
        import uvicorn

        from reprdynamics.server.app import create_app

        self.port = free_port()
        config = uvicorn.Config(
            create_app(target), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.05)
        self.origin = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON endpoint, following 202 answers until the result is there."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.origin}{path}" + (f"?{query}" if query else "")
        for _ in range(600):
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    body = json.loads(response.read())
                    if response.status == 200:
                        return body
            except urllib.error.HTTPError as exc:
                raise AssertionError(f"{url} answered {exc.code}: {exc.read().decode()}") from None
            time.sleep(0.2)
        raise TimeoutError(url)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body, following 202 answers until the result is there."""
        data = json.dumps(body).encode()
        for _ in range(600):
            request = urllib.request.Request(
                f"{self.origin}{path}", data=data, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                if response.status == 200:
                    return json.loads(response.read())
            time.sleep(0.2)
        raise TimeoutError(path)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def decode(obj: dict[str, Any]) -> np.ndarray:
    from reprdynamics.server.arrays import decode_compact

    return decode_compact(obj)


def make_synthetic_run(
    path: Path, *, n: int, snapshots: int, classes: int, seed: int, forget: np.ndarray | None = None
) -> Path:
    """Logits that learn their labels over the snapshots, a hidden layer, no inputs.

    The samples `forget` are learned from the first snapshot and predicted wrong (as the
    next class) at the last one.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, 6)) * 2
    with rd.Recorder(path, n_samples=n, labels=labels) as rec:
        for epoch in range(snapshots):
            progress = (epoch + 1) / snapshots
            hidden = centres[labels] * progress + rng.normal(size=(n, 6))
            logits = 3 * progress * np.eye(classes)[labels] + rng.normal(size=(n, classes))
            if forget is not None:
                logits[forget] = 6 * np.eye(classes)[labels[forget]]
                if epoch == snapshots - 1:
                    logits[forget] = 6 * np.eye(classes)[(labels[forget] + 1) % classes]
            rec.store_batch(logits, ids=np.arange(n), epoch=epoch)
            rec.store_batch(hidden, ids=np.arange(n), epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.5 / (1 + epoch), "accuracy": progress})
    return path


# ---------------------------------------------------------------------------- pages
def wait_idle(page: Any) -> None:
    """Wait until no view of `page` (a page or a frame showing the views) has a request in
    flight, and again after a moment, so that what an answer set off has started too."""
    page.wait_for_function("() => window.__rd && window.__rd.idle()")
    page.wait_for_timeout(50)
    page.wait_for_function("() => window.__rd.idle()")


def drag(page: Any, points: list[tuple[float, float]]) -> None:
    """Press at the first point and drag through the others (the lasso starts at the first
    movement after the press, as it does for a hand on a mouse)."""
    x, y = points[0]
    page.mouse.move(x - 1, y - 1)
    page.mouse.down()
    page.mouse.move(x, y)
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def heatmap_cell(page: Any, i: int, j: int) -> tuple[float, float]:
    """The page coordinates of heat-map cell (column i, row j), scrolled into view."""
    page.locator("#fingerprint").scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([i, j]) => {
            const gd = document.querySelector('#fingerprint');
            const fl = gd._fullLayout, box = gd.getBoundingClientRect();
            return [box.left + fl.xaxis._offset + fl.xaxis.l2p(i),
                    box.top + fl.yaxis._offset + fl.yaxis.l2p(j)];
        }""",
        [i, j],
    )
    return x, y


class Browse:
    """One page; records console errors, page errors and every request it makes."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1500, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.origin = ""
        self.allowed_errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, server: Server, hash_: str = "") -> Any:
        self.origin = server.origin
        self.page.goto(f"{server.origin}/{hash_}")
        self.page.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
        self.idle()
        return self.page

    def idle(self) -> None:
        """Wait until no view has a request in flight (and the state is settled)."""
        wait_idle(self.page)

    def state(self, expression: str) -> Any:
        return self.page.evaluate(f"() => {{ const s = window.__rd.state; return {expression}; }}")

    def plot(self, selector: str, expression: str) -> Any:
        return self.page.evaluate(
            f"() => {{ const gd = document.querySelector({selector!r}); return {expression}; }}"
        )

    def shot(self, name: str, *, full_page: bool = False, selector: str | None = None) -> None:
        path = SCREENSHOTS / f"rd_{name}.png"
        if selector:
            self.page.locator(selector).screenshot(path=path)
        else:
            self.page.screenshot(path=path, full_page=full_page)

    def check(self) -> None:
        errors = [
            e for e in self.errors if not any(allowed in e for allowed in self.allowed_errors)
        ]
        assert not errors, f"console errors: {errors}"
        foreign = [
            u
            for u in self.requests
            if not (u.startswith(self.origin + "/") or u.startswith(("data:", "blob:")))
        ]
        assert not foreign, f"requests left the local server: {foreign}"
        assert self.requests, "the page made no request"


def assert_heatmap_shows(
    browse: Browse, fp: dict[str, Any], *, rtol: float = 1e-6, atol: float = 1e-7
) -> None:
    """The heat map (#fingerprint) draws the matrix of the fingerprint answer `fp`."""
    np.testing.assert_allclose(
        browse.plot("#fingerprint", "gd.data[0].z"), decode(fp["matrix"]), rtol=rtol, atol=atol
    )


def selection_param(ids: list[int], n: int) -> str | None:
    if len(ids) == n:
        return None
    return ",".join(str(i) for i in ids)
