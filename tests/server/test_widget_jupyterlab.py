"""The notebook widget in a real JupyterLab: a selection made with the mouse in the widget
reaches the kernel, and one set in the kernel reaches the widget.

A JupyterLab server (a subprocess, on loopback, with a token) opens a notebook that shows
``rd.widget(run)``; Chromium runs its cells, draws a box in the widget's data map, and
runs a cell that prints ``w.selection``: the kernel's ids are the ones the widget selected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import Browse, make_synthetic_run

from processes import free_port, stop

N = 60
TOKEN = "reprdynamics-test"


def _notebook(run: Path) -> dict[str, Any]:
    def cell(source: str) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": source,
        }

    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            cell(f"import reprdynamics as rd\nw = rd.widget({str(run)!r}, theme='light')\nw"),
            cell("print('SELECTION', json.dumps(w.selection.tolist()))"),
            cell("w.selection = [1, 2, 3, 10, 59]"),
        ],
    }


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("jupyterlab")
    pytest.importorskip("anywidget")
    root = tmp_path_factory.mktemp("lab")
    run = make_synthetic_run(root / "wrun", n=N, snapshots=6, classes=3, seed=5)
    notebook = _notebook(run)
    notebook["cells"][1]["source"] = "import json\n" + notebook["cells"][1]["source"]
    (root / "widget.ipynb").write_text(json.dumps(notebook))
    port = free_port()
    # The front-end extensions of the installed packages (anywidget's, the widget manager's)
    # lie in the data folder of the interpreter that installed them, which a virtual
    # environment over the system's site-packages does not search by itself.
    data = [
        str(Path(p) / "share" / "jupyter") for p in dict.fromkeys([sys.prefix, sys.base_prefix])
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_PATH": os.pathsep.join([*data, os.environ.get("JUPYTER_PATH", "")]).strip(
            os.pathsep
        ),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=root,
    )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{origin}/api/status?token={TOKEN}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"JupyterLab did not start:\n{out[-3000:]}")
            time.sleep(0.5)
    yield origin
    stop(proc, timeout=20)


def _run_cell(page: Any, index: int) -> None:
    """Run one cell; again if the notebook was not connected to its kernel yet."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    for _ in range(5):
        dialog = page.locator(".jp-Dialog")
        if dialog.count():  # "Select Kernel": the preferred one, Python 3
            dialog.locator(".jp-mod-accept").first.click()
            page.wait_for_timeout(1000)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "(p) => /\\[(\\*|\\d+)\\]/.test(p.textContent)",
                arg=prompt.element_handle(),
                timeout=10000,
            )
            return
        except Exception:
            continue
    raise AssertionError(f"cell {index} did not run: its prompt is {prompt.text_content()!r}")


def _output_text(page: Any, index: int, prefix: str) -> str:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    output = cell.locator(".jp-OutputArea-output").filter(has_text=prefix)
    output.wait_for(timeout=60000)
    return output.inner_text()


def test_a_box_drawn_in_the_widget_is_the_kernels_selection(chromium: Any, jupyterlab: str) -> None:
    session = Browse(chromium)
    page = session.page
    page.set_default_timeout(90000)
    try:
        page.goto(f"{jupyterlab}/lab/tree/widget.ipynb?reset&token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        # Wait for the kernel before running cells.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
            ".some((e) => e.dataset.status === 'idle')"
        )
        _run_cell(page, 0)
        try:
            page.locator('iframe[src*="/static/widget.html"]').wait_for(timeout=60000)
        except Exception:
            output = page.locator(".jp-Notebook .jp-Cell").first.inner_text()
            pytest.fail(f"JupyterLab did not show the widget; the cell shows:\n{output}")
        frame = next(f for f in page.frames if "/static/widget.html" in f.url)
        frame.wait_for_function("() => window.__rd && window.__rd.state.fp !== null")
        frame.locator("#cartography").scroll_into_view_if_needed()
        frame.wait_for_function(
            "() => document.getElementById('cartography').dataset.state === 'ready'"
        )
        frame.wait_for_function("() => window.__rd.idle()")
        session.shot("widget_jupyterlab")

        # A box in the data map, drawn with the mouse.
        frame.locator('#datamap [data-mode="box"]').click()
        drawn = frame.evaluate("() => window.__rd.points('datamap')")
        xs, ys = sorted(drawn["x"]), sorted(drawn["y"])
        lo_x, hi_x = xs[len(xs) // 5], xs[4 * len(xs) // 5]
        lo_y, hi_y = ys[len(ys) // 5], ys[4 * len(ys) // 5]
        corner = "([x, y]) => window.__rd.views.datamap.plot.toClient(x, y)"
        (x0, y0) = frame.evaluate(corner, [lo_x, hi_y])
        (x1, y1) = frame.evaluate(corner, [hi_x, lo_y])
        offset = page.evaluate(
            "() => { const f = document.querySelector('iframe[src*=\"/static/widget.html\"]');"
            " const r = f.getBoundingClientRect();"
            " return [r.left + f.clientLeft, r.top + f.clientTop]; }"
        )
        x0, y0, x1, y1 = x0 + offset[0], y0 + offset[1], x1 + offset[0], y1 + offset[1]
        page.mouse.move(x0 - 1, y0 - 1)
        page.mouse.down()
        for i in range(1, 9):
            page.mouse.move(x0 + (x1 - x0) * i / 8, y0 + (y1 - y0) * i / 8)
        page.mouse.up()
        frame.wait_for_function(
            f"() => window.__rd.state.selection.length > 0 "
            f"&& window.__rd.state.selection.length < {N}"
        )
        frame.wait_for_function("() => window.__rd.idle()")
        in_widget = frame.evaluate("() => Array.from(window.__rd.state.selection)")

        # The kernel has it.
        page.wait_for_timeout(500)  # the comm message crosses to the kernel
        _run_cell(page, 1)
        text = _output_text(page, 1, "SELECTION")
        in_kernel = json.loads(text.split("SELECTION", 1)[1])
        assert in_kernel == in_widget

        # And the other way: the kernel sets it, the widget's views follow.
        _run_cell(page, 2)
        frame.wait_for_function("() => window.__rd.state.selection.length === 5")
        assert frame.evaluate("() => Array.from(window.__rd.state.selection)") == [1, 2, 3, 10, 59]
        frame.wait_for_function("() => window.__rd.idle()")
        summary = frame.locator("#selection-summary").text_content()
        assert summary == f"5 of {N} samples selected"
    finally:
        session.context.close()
