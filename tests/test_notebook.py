"""The notebook widget's Python side (reprdynamics.widget) and examples/notebook.ipynb.

Its front end is tested in a browser in tests/server/test_widget_frontend.py.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from noise_runs import noise_run
from reprdynamics.errors import DependencyMissingError, InvalidParameterError, UnknownSampleError

pytest.importorskip("anywidget")

import reprdynamics.widget as rdw

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def servers() -> Iterator[None]:
    """No widget server before the test, and none left after it."""
    rdw.stop_servers()
    yield
    rdw.stop_servers()


@pytest.fixture
def run_path(tmp_path: Path) -> Path:
    return noise_run(tmp_path / "run", 12)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/runs", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


# ------------------------------------------------------------------------- selection
def test_selection_is_sorted_unique_ids_both_ways(servers: None, run_path: Path) -> None:
    w = rd.widget(run_path)
    assert isinstance(w.selection, np.ndarray) and w.selection.dtype == np.int64
    np.testing.assert_array_equal(w.selection, np.arange(12))  # every sample at first
    w.selection = [7, 2, 2, 5]
    np.testing.assert_array_equal(w.selection, [2, 5, 7])
    assert w._selection == np.array([2, 5, 7], "<i4").tobytes()  # the wire: int32 bytes
    w.selection.fill(0)  # a copy: changing it changes nothing
    np.testing.assert_array_equal(w.selection, [2, 5, 7])
    w.selection = np.arange(12) % 4 == 0  # a boolean mask
    np.testing.assert_array_equal(w.selection, [0, 4, 8])
    w.selection = {11, 3}
    np.testing.assert_array_equal(w.selection, [3, 11])
    w.selection = np.array([1, 9], dtype=np.uint8)
    np.testing.assert_array_equal(w.selection, [1, 9])
    w.selection = []
    assert w.selection.size == 0
    w.selection = None
    np.testing.assert_array_equal(w.selection, np.arange(12))
    assert rd.widget(run_path, selection=[4, 1]).selection.tolist() == [1, 4]


def test_selection_from_the_front_end(servers: None, run_path: Path) -> None:
    w = rd.widget(run_path)
    seen: list[list[int]] = []
    stop = w.on_selection(lambda ids: seen.append(ids.tolist()))
    # What a comm message from the browser does: a binary buffer arrives as a memoryview;
    # it is sorted and cut to the run's ids, whatever the browser sent.
    w.set_state({"_selection": memoryview(np.array([9, 3, 3, 40, -1], "<i4").tobytes())})
    assert w.selection.tolist() == [3, 9]
    w.set_state({"_selection": [5, 1]})
    assert w.selection.tolist() == [1, 5]
    w.selection = [0]
    stop()
    w.selection = [2]
    assert seen == [[3, 9], [1, 5], [0]]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ([0, 12], UnknownSampleError, r"outside \[0, 12\): e.g. \[12\]"),
        ([-1], UnknownSampleError, r"outside \[0, 12\)"),
        ([1.0, np.nan], InvalidParameterError, r"Got floats \(float64, with NaN\) instead"),
        ([0.0, 1.0], InvalidParameterError, r"Got floats \(float64\) instead"),
        ("0,1", InvalidParameterError, r"Got a str instead"),
        (b"\x00", InvalidParameterError, r"Got a bytes instead"),
        (3, InvalidParameterError, r"Got a single value \(3\) instead"),
        ([[0, 1], [2, 3]], InvalidParameterError, r"an array of shape \(2, 2\)"),
        ([[0], [1, 2]], InvalidParameterError, r"no 1-D array"),
        (np.ones(5, dtype=bool), InvalidParameterError, r"a boolean mask of length 5"),
        (["a", "b"], InvalidParameterError, r"values of dtype <U1"),
        ([object()], InvalidParameterError, r"values of dtype object"),
    ],
)
def test_selection_refuses_what_is_no_selection(
    servers: None, run_path: Path, value: object, error: type, message: str
) -> None:
    w = rd.widget(run_path, selection=[1, 2])
    with pytest.raises(error, match=message) as info:
        w.selection = value
    assert "selection" in str(info.value)
    assert w.selection.tolist() == [1, 2]  # unchanged
    with pytest.raises(error, match=message):
        rd.widget(run_path, selection=value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": 50}, r"'height' parameter of widget must be an int in \[120, 6000\]"),
        ({"height": "tall"}, r"'height' parameter of widget"),
        ({"theme": "blue"}, r"'theme' parameter of widget must be one of \['light', 'dark'\]"),
        ({"port": 0}, r"'port' parameter of widget must be an int in \[1, 65535\]"),
        ({"port": True}, r"'port' parameter of widget"),
        ({"url": "ftp://host"}, r"'url' parameter of widget must be the address"),
        ({"url": 8000}, r"'url' parameter of widget"),
    ],
)
def test_parameters_are_checked(servers: None, run_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        rd.widget(run_path, **kwargs)
    assert rdw.running_servers() == []  # refused before any server started


def test_run_must_be_a_run_or_its_location(servers: None, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="'run' parameter of widget must be a Run"):
        rd.widget(42)
    with pytest.raises(FileNotFoundError):
        rd.widget(tmp_path / "nothing")


# ---------------------------------------------------------------------------- server
def test_one_server_per_run_reused_and_stopped(
    servers: None, run_path: Path, tmp_path: Path
) -> None:
    first = rd.widget(run_path)
    second = rd.widget(rd.open_run(run_path), height=400, theme="dark")
    assert second.server is first.server and first.server.running
    assert first.url == first.server.url == f"http://127.0.0.1:{first.server.port}"
    assert (second.height, second.theme) == (400, "dark") and first.height is None
    assert first.run_name == "run" and first.n_samples == 12
    assert _answers(first.url)
    with urllib.request.urlopen(first.url + "/static/widget.html") as response:
        assert b"/static/embed.js" in response.read()
    # The server answers to loopback names only, as `reprdynamics serve` does.
    request = urllib.request.Request(first.url + "/api/runs", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    # Another run gets its own server; a given url only changes what the browser is told.
    other = rd.widget(noise_run(tmp_path / "other", 12), url="http://localhost:9999/")
    assert other.server is not first.server and other.url == "http://localhost:9999"
    assert set(rdw.running_servers()) == {first.server, other.server}
    rdw.stop_servers()
    assert not first.server.running and not other.server.running
    assert not _answers(first.server.url) and rdw.running_servers() == []
    # A widget made afterwards starts a fresh one.
    third = rd.widget(run_path)
    assert third.server is not first.server and _answers(third.url)


def test_a_given_port(servers: None, run_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # Taken: the error names the port.
        with pytest.raises(InvalidParameterError, match=rf"a free TCP port .* Got {port}"):
            rd.widget(run_path, port=port)
    w = rd.widget(run_path, port=port)
    assert w.server.port == port and w.url == f"http://127.0.0.1:{port}"
    assert rd.widget(run_path, port=port).server is w.server
    assert rd.widget(run_path).server is w.server  # any port: the running one


def test_the_sample_run_is_served_without_writing_into_the_package(servers: None) -> None:
    w = rd.widget(rd.open_run(rd.sample_run_path()))
    assert w.server.target is None  # the server's sample mode: results stay in memory
    assert w.run_name == "sample_run" and w.n_samples == 1797


def test_widget_is_the_function_and_the_module_is_callable(servers: None, run_path: Path) -> None:
    # `rd.widget` is the function (the lazy table) or, imported first, this module.
    assert callable(rd.widget) and rd.widget in (rdw, rdw.widget)
    w = rdw(run_path)  # the module, called, makes a widget too
    assert type(w).__name__ == "DashboardWidget" and isinstance(w, rdw.DashboardWidget)
    assert "12 of 12 samples selected" in repr(w)
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data[WIDGET_MIME]["model_id"] == w.model_id


def test_without_anywidget_one_install_hint(
    servers: None, run_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget now fails
    for make in (lambda: rd.widget(run_path), lambda: rdw.DashboardWidget):
        with pytest.raises(DependencyMissingError) as info:
            make()
        text = str(info.value)
        assert "pip install 'reprdynamics[notebook]'" in text and "anywidget" in text
        assert isinstance(info.value, ImportError)
    assert rdw.running_servers() == []


# ---------------------------------------------------------------------------- notebook
def test_example_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(EXAMPLE, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [out for out in outputs if out.output_type == "error"]
    assert not errors, errors
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    # The widget's display data is an anywidget view of its model.
    views = [
        out.data[WIDGET_MIME]
        for out in outputs
        if out.output_type in ("display_data", "execute_result") and WIDGET_MIME in out.data
    ]
    assert len(views) == 1 and views[0]["model_id"]
    # The selection read back is the one set, sorted.
    set_ids = json.loads(re.search(r"^set: (\[.*\])$", text, re.M).group(1))
    read = json.loads(re.search(r"^read back: (\[.*\])$", text, re.M).group(1))
    assert len(set_ids) == 25 and read == sorted(set_ids)
    run = rd.open_run(rd.sample_run_path())
    for i in read[:10]:
        assert f"sample {i}: label {run.class_names[run.labels[i]]}" in text
    assert f"{int((run.labels == 3).sum())} samples selected" in text
