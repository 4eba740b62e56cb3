"""The dashboard's JSON API through an in-process client, checked against the analysis API."""

from __future__ import annotations

import csv
import io
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reprdynamics as rd
from noise_runs import noise_run
from reprdynamics.analysis import api
from reprdynamics.analysis.dynamics import area_under_margin, prediction_entropy, softmax
from reprdynamics.analysis.fingerprints import class_transition_matrix
from reprdynamics.analysis.recurrence import nntf_band_sweep
from reprdynamics.errors import InvalidParameterError
from reprdynamics.server import impl
from reprdynamics.server.app import create_app
from reprdynamics.server.arrays import Params, compact, decode_compact, parse_selection
from reprdynamics.server.routes import ENDPOINTS
from reprdynamics.server.thumbnails import as_images, thumbnail
from reprdynamics.storage.legacy import open_legacy_cached

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

N, C, D, T = 40, 4, 6, 6
CLASS_NAMES = ["cat", "dog", "owl", "fox"]


def make_run(
    path: Path,
    *,
    n_snapshots: int = T,
    seed: int = 0,
    labels: bool = True,
    inputs: bool = True,
) -> Path:
    """A small synthetic run: logits (N×C) and a hidden layer (N×D) that organise by class."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % C
    images = rng.integers(0, 256, size=(N, 8, 8), dtype=np.uint8)
    centres = rng.normal(size=(C, D)) * 3
    with rd.Recorder(
        path,
        n_samples=N,
        labels=y if labels else None,
        inputs=images if inputs else None,
        class_names=CLASS_NAMES,
    ) as rec:
        for epoch in range(n_snapshots):
            hidden = centres[y] * (epoch + 1) / n_snapshots + rng.normal(size=(N, D))
            logits = hidden[:, :C] + np.eye(C)[y] * epoch + rng.normal(size=(N, C))
            rec.store_batch(logits, ids=np.arange(N), epoch=epoch)
            rec.store_batch(hidden, ids=np.arange(N), epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1), "accuracy": epoch / T})
    return path


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("server") / "exp1")


@pytest.fixture(scope="module")
def client(run_path: Path) -> TestClient:
    return TestClient(create_app(run_path, job_grace=10.0))


def ok(client: TestClient, url: str, **kwargs) -> dict:
    """GET (or POST with json=) until 200, following 202 progress answers."""
    method = client.post if "json" in kwargs else client.get
    for _ in range(200):
        response = method(url, **kwargs)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, (url, response.status_code, response.text)
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish")


def assert_4xx(response, parameter: str | None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"error", "status"} and body["status"] == response.status_code
    assert "Traceback" not in response.text
    if parameter is not None:
        assert f"'{parameter}'" in body["error"] or body.get("parameter") == parameter, body
        assert body.get("parameter") == parameter, body
    return body


# --------------------------------------------------------------------------- plain data
def test_compact_round_trip() -> None:
    values = np.array([[1.5, np.nan], [-2.0, 3.25]])
    obj = compact(values, "float32")
    assert obj["dtype"] == "float32" and obj["shape"] == [2, 2]
    np.testing.assert_array_equal(decode_compact(obj), values.astype(np.float32))
    assert decode_compact(compact([1, -1, 7], "int32")).tolist() == [1, -1, 7]


def test_parse_selection() -> None:
    assert parse_selection(None, 10) is None
    assert parse_selection("all", 10) is None
    assert parse_selection(" 7, 0-2,2 ", 10).tolist() == [0, 1, 2, 7]
    assert parse_selection([3, 1], 10).tolist() == [1, 3]


def test_impl_functions_work_without_http(run_path: Path) -> None:
    ws = impl.Workspace(run_path)
    assert impl.overview_impl(ws, "exp1")["n_snapshots"] == T
    data = impl.prepare_fingerprint(ws, "exp1", Params({"kind": "disagreement"})).run()
    run = rd.open_run(run_path)
    np.testing.assert_allclose(
        decode_compact(data["matrix"]),
        api.fingerprint(run, "disagreement").matrix.astype(np.float32),
    )


# --------------------------------------------------------------------------- endpoints
def test_runs_and_overview(client: TestClient, run_path: Path) -> None:
    listing = client.get("/api/runs").json()
    assert listing["root"] == str(run_path.resolve())
    assert [r["name"] for r in listing["runs"]] == ["exp1"]
    entry = listing["runs"][0]
    assert entry["n_snapshots"] == T and entry["n_samples"] == N and entry["kind"] == "logits"
    assert entry["layers"] == ["logits", "hidden"] and entry["created"]

    o = client.get("/api/runs/exp1").json()
    for key in (
        "name n_snapshots n_complete n_samples kind output_layer layers epochs metrics "
        "class_names has_labels has_inputs input_shape extras metadata fingerprint_kinds "
        "measures"
    ).split():
        assert key in o, key
    assert o["layers"] == {"logits": C, "hidden": D}
    assert o["epochs"] == list(range(T)) and o["n_complete"] == T
    assert o["metrics"]["loss"] == pytest.approx([1.0 / (e + 1) for e in range(T)])
    assert o["class_names"] == CLASS_NAMES
    assert o["has_labels"] and o["has_inputs"] and o["has_thumbnails"]
    assert o["input_shape"] == [8, 8]
    assert set(o["fingerprint_kinds"]) == set(api.FINGERPRINT_KINDS)
    assert o["measures"] == list(impl.MEASURES)


def test_labels_and_predictions(client: TestClient, run_path: Path) -> None:
    run = rd.open_run(run_path)
    body = client.get("/api/runs/exp1/labels").json()
    np.testing.assert_array_equal(decode_compact(body["labels"]), run.labels)
    assert body["class_names"] == CLASS_NAMES
    body = client.get("/api/runs/exp1/predictions?snapshot=2").json()
    assert body["snapshot"] == 2
    np.testing.assert_array_equal(decode_compact(body), run.predictions(2))
    last = client.get("/api/runs/exp1/predictions").json()
    assert last["snapshot"] == T - 1


@pytest.mark.parametrize("kind", list(api.FINGERPRINT_KINDS))
def test_fingerprint_equals_analysis_api(client: TestClient, run_path: Path, kind: str) -> None:
    body = ok(client, f"/api/runs/exp1/fingerprint?kind={kind}&k=5&layer=hidden")
    expected = api.fingerprint(rd.open_run(run_path), kind, k=5, layer="hidden")
    matrix = decode_compact(body["matrix"])
    assert body["matrix"]["dtype"] == "float32"
    np.testing.assert_allclose(matrix, expected.matrix.astype(np.float32), atol=1e-7)
    assert body["kind"] == kind and body["labels"] == expected.labels
    assert body["snapshots"] == expected.snapshots.tolist()
    assert body["transition"] == expected.transition
    assert isinstance(body["phase_changes"], list)


def test_fingerprint_selection_get_and_post_agree(client: TestClient, run_path: Path) -> None:
    ids = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 30]
    got = ok(client, "/api/runs/exp1/fingerprint?kind=neighbour-state&k=3&samples=0-9,20,30")
    body = {"kind": "neighbour-state", "k": 3, "samples": ids}
    posted = ok(client, "/api/runs/exp1/fingerprint", json=body)
    expected = api.fingerprint(rd.open_run(run_path), "neighbour-state", k=3, samples=ids)
    np.testing.assert_allclose(decode_compact(got["matrix"]), expected.matrix, atol=1e-6)
    assert got["matrix"] == posted["matrix"]


def test_approximate_neighbours_report_their_recall(client: TestClient, run_path: Path) -> None:
    pytest.importorskip("faiss")
    body = ok(
        client, "/api/runs/exp1/fingerprint?kind=neighbour-transition&k=5&neighbours=approximate"
    )
    expected = api.fingerprint(
        rd.open_run(run_path), "neighbour-transition", k=5, backend="faiss-ivf"
    )
    assert body["params"]["backend"] == "faiss-ivf"
    assert body["params"]["recall"] == pytest.approx(expected.params["recall"])
    assert 0.0 <= body["params"]["recall"] <= 1.0
    exact = ok(client, "/api/runs/exp1/fingerprint?kind=neighbour-transition&k=5")
    assert "recall" not in exact["params"] and exact["params"]["backend"] == "auto"
    bad = client.get("/api/runs/exp1/fingerprint?kind=neighbour-state&neighbours=fuzzy")
    assert bad.status_code == 400 and "neighbours" in bad.json()["error"]


def test_rqa_equals_analysis_api(client: TestClient, run_path: Path) -> None:
    body = ok(client, "/api/runs/exp1/rqa?kind=class-transition")
    fp = api.fingerprint(rd.open_run(run_path), "class-transition")
    expected = api.rqa(fp).to_dict()
    for key in ("rr", "det", "l_mean", "l_max", "entr", "lam", "tt", "v_max", "epsilon"):
        assert body["rqa"][key] == pytest.approx(expected[key]), key
    sweep = nntf_band_sweep(np.clip(fp.matrix, 0, 1)).to_dict()
    assert body["nntf"]["laminarity"] == pytest.approx(sweep["laminarity"])
    assert body["nntf"]["best_laminarity"] == pytest.approx(sweep["best_laminarity"])
    fixed = ok(client, "/api/runs/exp1/rqa?kind=class-transition&threshold=0.2")
    assert fixed["rqa"]["epsilon"] == pytest.approx(0.2)
    assert fixed["rqa"]["rr"] == pytest.approx(api.rqa(fp, threshold=0.2).rr)


def test_measures(client: TestClient, run_path: Path) -> None:
    run = rd.open_run(run_path)
    z = run.read("logits", 3).astype(np.float64)
    y = run.labels
    p = softmax(z)
    expected = {
        "entropy": prediction_entropy(z),
        "confidence": p[np.arange(N), y],
        "margin": area_under_margin(z[None], y),
        "correct": (z.argmax(axis=1) == y).astype(float),
        "loss": -np.log(p[np.arange(N), y]),
    }
    for name, values in expected.items():
        body = client.get(f"/api/runs/exp1/measure?name={name}&snapshot=3").json()
        assert body["name"] == name and body["snapshot"] == 3
        np.testing.assert_array_equal(decode_compact(body["ids"]), np.arange(N))
        np.testing.assert_allclose(decode_compact(body["values"]), values, rtol=1e-5, atol=1e-6)
    body = client.get("/api/runs/exp1/measure?samples=5,1-2").json()
    assert decode_compact(body["ids"]).tolist() == [1, 2, 5]
    assert body["snapshot"] == T - 1 and body["name"] == "entropy"


def test_local_matches_neighbour_stack(client: TestClient, run_path: Path) -> None:
    stack = api.neighbours(rd.open_run(run_path), k=4, layer="hidden")
    body = ok(client, "/api/runs/exp1/local?id=7&a=0&b=5&k=4&layer=hidden")
    assert body["id"] == 7 and body["label"] == 7 % C and body["k"] == 4
    lists = {}
    for side, t in (("a", 0), ("b", 5)):
        part = body[side]
        assert part["snapshot"] == t
        ids = [n["id"] for n in part["neighbours"]]
        assert ids == stack.ids[stack.indices[t, 7]].tolist()
        np.testing.assert_allclose(
            [n["distance"] for n in part["neighbours"]], stack.distances[t, 7], rtol=1e-5
        )
        assert all(n["label"] == n["id"] % C for n in part["neighbours"])
        lists[side] = ids
    for side, other in (("a", "b"), ("b", "a")):
        for n in body[side]["neighbours"]:
            assert n["changed"] == (n["id"] not in lists[other])
    assert body["overlap"] == len(set(lists["a"]) & set(lists["b"])) / 4


def test_local_among_selection(client: TestClient) -> None:
    body = ok(client, "/api/runs/exp1/local?id=3&k=2&samples=10-19")
    for side in ("a", "b"):
        assert {n["id"] for n in body[side]["neighbours"]} <= set(range(10, 20))
    assert body["a"]["snapshot"] == 0 and body["b"]["snapshot"] == T - 1


def test_transitions(client: TestClient, run_path: Path) -> None:
    run = rd.open_run(run_path)
    body = client.get("/api/runs/exp1/transitions?a=1&b=4&samples=0-19").json()
    ids = np.arange(20)
    expected = class_transition_matrix(run.predictions(1, ids), run.predictions(4, ids), C)
    assert body["matrix"] == expected.tolist()
    assert body["class_names"] == CLASS_NAMES and body["n"] == 20


def test_samples_table_and_csv(client: TestClient, run_path: Path) -> None:
    body = ok(client, "/api/runs/exp1/samples?k=3&layer=hidden")
    table = api.sample_dynamics(rd.open_run(run_path), neighbour_k=3, neighbour_layer="hidden")
    assert body["columns"] == ["id", *table.columns()]
    for column in body["columns"]:
        values = decode_compact(body["data"][column])
        np.testing.assert_allclose(values, np.asarray(table[column], dtype=float), rtol=1e-6)
    response = client.get("/api/runs/exp1/samples.csv?k=3&layer=hidden")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", *table.columns()] and len(rows) == N + 1
    without = ok(client, "/api/runs/exp1/samples?k=0")
    assert "neighbour_stability" not in without["columns"]


def test_projection(client: TestClient, run_path: Path) -> None:
    body = ok(client, "/api/runs/exp1/projection?layer=hidden&samples=0-29")
    expected = api.projection(rd.open_run(run_path), layer="hidden", samples=np.arange(30))
    coords = decode_compact(body["coords"])
    assert coords.shape == (T, 30, 2)
    np.testing.assert_allclose(coords, expected.coords, rtol=1e-5, atol=1e-5)
    assert decode_compact(body["ids"]).tolist() == list(range(30))
    assert body["snapshots"] == list(range(T)) and len(body["explained_variance_ratio"]) == 2


def test_thumbnails(client: TestClient, run_path: Path) -> None:
    run = rd.open_run(run_path)
    response = client.get("/api/runs/exp1/thumbs.png?ids=5,0-3&size=16")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-grid-columns"] == "3"
    sheet = np.asarray(Image.open(io.BytesIO(response.content)))
    assert sheet.shape == (2 * 16, 3 * 16)
    for cell, sample in enumerate([5, 0, 1, 2, 3]):
        r, c = divmod(cell, 3)
        expected = np.asarray(thumbnail(run.inputs([sample])[0], 16))
        np.testing.assert_array_equal(sheet[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16], expected)
    # 8x8 digits are enlarged with nearest neighbours: every source pixel becomes a block.
    single = client.get("/api/runs/exp1/thumb/5.png?size=32")
    image = np.asarray(Image.open(io.BytesIO(single.content)))
    np.testing.assert_array_equal(image[::4, ::4], run.inputs([5])[0])
    assert client.get("/api/runs/exp1/thumbs.png").headers["x-grid-columns"] == "7"


def test_thumbnails_of_all_and_of_nothing(client: TestClient) -> None:
    """Regression: ids=all (GET and POST) answered 500 from np.concatenate([])."""
    whole = client.get("/api/runs/exp1/thumbs.png")
    for response in (
        client.get("/api/runs/exp1/thumbs.png?ids=all"),
        client.post("/api/runs/exp1/thumbs.png", json={"ids": "all"}),
    ):
        assert response.status_code == 200, response.text
        assert response.content == whole.content
    for bad in ({"ids": []}, {"ids": "1,all"}):
        assert_4xx(client.post("/api/runs/exp1/thumbs.png", json=bad), "ids")


def test_ids_beyond_int64_and_deep_bodies_are_4xx(client: TestClient) -> None:
    """Regression: an id beyond int64 raised OverflowError, a 100,000-deep body
    RecursionError; both answered 500."""
    huge = b'{"samples": [1180591620717411303424], "k": 3}'
    json_type = {"content-type": "application/json"}
    response = client.post("/api/runs/exp1/fingerprint", content=huge, headers=json_type)
    body = assert_4xx(response, "samples")
    assert "1180591620717411303424" in body["error"]
    deep = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/api/runs/exp1/fingerprint", content=deep, headers=json_type)
    assert_4xx(response, "body")


def test_float_and_channel_first_inputs_become_images() -> None:
    floats = np.stack([np.linspace(-1, 1, 16).reshape(4, 4), np.full((4, 4), 3.0)])
    images = as_images(floats)
    assert images.dtype == np.uint8 and images[0].min() == 0 and images[0].max() == 255
    assert (images[1] == 0).all()
    chw = np.zeros((2, 3, 10, 12), dtype=np.uint8)
    assert as_images(chw).shape == (2, 10, 12, 3)
    assert as_images(np.zeros((2, 784))).shape == (2, 28, 28)


def test_run_without_inputs_or_labels(tmp_path: Path) -> None:
    make_run(tmp_path / "bare", n_snapshots=3, labels=False, inputs=False)
    client = TestClient(create_app(tmp_path / "bare"))
    body = assert_4xx(client.get("/api/runs/bare/thumbs.png?ids=0-3"), None)
    assert body["status"] == 404 and "no inputs" in body["error"]
    assert client.get("/api/runs/bare/thumb/0.png").status_code == 404
    o = client.get("/api/runs/bare").json()
    assert not o["has_labels"] and not o["has_thumbnails"] and o["measures"] == ["entropy"]
    assert (decode_compact(client.get("/api/runs/bare/labels").json()["labels"]) == -1).all()
    body = assert_4xx(client.get("/api/runs/bare/measure?name=confidence"), "name")
    assert body["status"] == 422 and "labels" in body["error"]
    assert client.get("/api/runs/bare/measure?name=entropy").status_code == 200


def test_root_of_two_runs_and_compare(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    make_run(root / "lr_small", seed=1, n_snapshots=4)
    make_run(root / "lr_large", seed=2, n_snapshots=5)
    (root / "notes").mkdir()
    client = TestClient(create_app(root, job_grace=10.0))
    listing = client.get("/api/runs").json()
    assert listing["kind"] == "root"
    assert [r["name"] for r in listing["runs"]] == ["lr_large", "lr_small"]
    assert client.get("/api/runs/lr_small").json()["n_snapshots"] == 4
    body = ok(client, "/api/compare?a=lr_small&b=lr_large&kind=class-transition")
    for side, name, snaps in (("a", "lr_small", 4), ("b", "lr_large", 5)):
        assert body[side]["run"] == name
        assert decode_compact(body[side]["fingerprint"]["matrix"]).shape == (snaps - 1,) * 2
        assert "lam" in body[side]["rqa"] and "best_laminarity" in body[side]["nntf"]
    # A run added later is served without a restart.
    make_run(root / "later", seed=3, n_snapshots=2)
    assert "later" in [r["name"] for r in client.get("/api/runs").json()["runs"]]


def test_new_snapshots_appear_without_restart(tmp_path: Path) -> None:
    path = make_run(tmp_path / "live", n_snapshots=3)
    client = TestClient(create_app(path, job_grace=10.0))
    assert client.get("/api/runs/live").json()["n_snapshots"] == 3
    before = ok(client, "/api/runs/live/fingerprint?kind=disagreement")
    run = rd.open_run(path, mode="r+")
    rng = np.random.default_rng(5)
    run.append_snapshot(
        {"logits": rng.normal(size=(N, C)), "hidden": rng.normal(size=(N, D))},
        epoch=3,
        metrics={"loss": 0.1},
    )
    overview = client.get("/api/runs/live").json()
    assert overview["n_snapshots"] == 4 and overview["epochs"] == [0, 1, 2, 3]
    after = ok(client, "/api/runs/live/fingerprint?kind=disagreement")
    assert before["matrix"]["shape"] == [3, 3] and after["matrix"]["shape"] == [4, 4]


def test_slow_computation_answers_202_then_200(
    run_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    calls = []
    real = api.fingerprint

    def slow(*args, **kwargs):
        calls.append(1)
        progress = kwargs["progress"]
        progress(1, 4, "neighbours of snapshot 1")
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "fingerprint", slow)
    client = TestClient(create_app(run_path, job_grace=0.0))
    url = "/api/runs/exp1/fingerprint?kind=cka"
    first = client.get(url)
    assert first.status_code == 202
    job = first.json()
    assert set(job) >= {"job", "done", "total", "what"}
    assert first.headers["location"] == f"/api/jobs/{job['job']}"
    for _ in range(100):  # the progress callback is reported
        job = client.get(f"/api/jobs/{job['job']}").json()
        if job["done"] == 1:
            break
        time.sleep(0.01)
    assert job["done"] == 1 and job["total"] == 4 and job["what"] == "neighbours of snapshot 1"
    # Other requests are served meanwhile; an identical request shares the job.
    assert client.get("/api/runs/exp1").status_code == 200
    again = client.get(url)
    assert again.status_code == 202 and again.json()["job"] == job["job"]
    release.set()
    result = ok(client, f"/api/jobs/{job['job']}")
    assert result["kind"] == "cka"
    assert client.get(url).json() == result  # memoised
    assert len(calls) == 1


def test_failed_job_reports_its_error(run_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def failing(*args, **kwargs):
        assert release.wait(10)
        raise InvalidParameterError(
            "The 'k' parameter of fingerprint is unusable here.", parameter="k"
        )

    monkeypatch.setattr(api, "fingerprint", failing)
    client = TestClient(create_app(run_path, job_grace=0.0))
    url = "/api/runs/exp1/fingerprint?kind=neighbour-state&k=2"
    job = client.get(url).json()["job"]
    release.set()
    for _ in range(100):
        response = client.get(url)
        if response.status_code != 202:
            break
        time.sleep(0.02)
    body = assert_4xx(response, "k")
    assert body["status"] == 400
    assert client.get(f"/api/jobs/{job}").status_code == 400


def test_read_only_cache_is_harmless(run_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, *args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(rd.Run, "cache_put", refuse)
    client = TestClient(create_app(run_path, job_grace=10.0))
    body = ok(client, "/api/runs/exp1/fingerprint?kind=neighbour-transition&k=7")
    assert body["matrix"]["shape"] == [T - 1, T - 1]


def _tree(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def test_bundled_sample(tmp_path: Path) -> None:
    sample = rd.sample_run_path()
    before = _tree(sample)
    client = TestClient(create_app(None, job_grace=10.0))
    listing = client.get("/api/runs").json()
    assert listing["kind"] == "sample" and len(listing["runs"]) == 1
    name = listing["runs"][0]["name"]
    overview = client.get(f"/api/runs/{name}").json()
    assert overview["n_samples"] == 1797 and overview["input_shape"] == [8, 8]
    body = ok(client, f"/api/runs/{name}/fingerprint?kind=class-transition")
    expected = api.fingerprint(rd.open_run(sample), "class-transition", use_cache=False)
    np.testing.assert_allclose(decode_compact(body["matrix"]), expected.matrix, atol=1e-6)
    assert client.get(f"/api/runs/{name}/measure?name=margin&snapshot=4").status_code == 200
    assert client.get(f"/api/runs/{name}/thumbs.png?ids=0-15").status_code == 200
    assert ok(client, f"/api/runs/{name}/local?id=0&k=4&samples=0-199")["k"] == 4
    assert _tree(sample) == before  # nothing written into the package


def test_legacy_save_directory(
    legacy_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("REPRDYNAMICS_CACHE_DIR", str(tmp_path / "cache"))
    with caplog.at_level("INFO", logger="reprdynamics.server"):
        client = TestClient(create_app(legacy_sample, job_grace=10.0))
    assert any("imported" in r.getMessage() for r in caplog.records)
    listing = client.get("/api/runs").json()
    assert listing["kind"] == "legacy" and listing["runs"][0]["name"] == legacy_sample.name
    name = listing["runs"][0]["name"]
    overview = client.get(f"/api/runs/{name}").json()
    assert overview["n_samples"] == 16 and overview["input_shape"] == [32, 32, 3]
    body = ok(client, f"/api/runs/{name}/fingerprint?k=3")
    run = open_legacy_cached(legacy_sample)
    expected = api.fingerprint(run, k=3)
    np.testing.assert_allclose(decode_compact(body["matrix"]), expected.matrix, atol=1e-6)
    sheet = client.get(f"/api/runs/{name}/thumbs.png?size=8")
    assert Image.open(io.BytesIO(sheet.content)).mode == "RGB"


def test_openapi_describes_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    app_paths = {route.path for route in client.app.routes}
    documented = {p.replace("{path}", "{path:path}") for p in schema["paths"]}
    assert app_paths == documented
    for endpoint in ENDPOINTS:
        path = endpoint.path.replace("{path:path}", "{path}")
        assert set(schema["paths"][path]) == {m.lower() for m in endpoint.methods}


def test_index_and_plotly(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and "javascript" in plotly.headers["content-type"]
    assert len(plotly.content) > 1_000_000


# --------------------------------------------------------------------------- bad parameters
BAD = [
    ("/api/runs/nope", "run", 404),
    ("/api/runs/nope/fingerprint", "run", 404),
    ("/api/runs/exp1/fingerprint?kind=bogus", "kind", 400),
    ("/api/runs/exp1/fingerprint?k=0", "k", 400),
    ("/api/runs/exp1/fingerprint?k=40", "k", 400),
    ("/api/runs/exp1/fingerprint?k=abc", "k", 400),
    ("/api/runs/exp1/fingerprint?k=4&samples=0-3", "k", 400),
    ("/api/runs/exp1/fingerprint?layer=nope", "layer", 400),
    ("/api/runs/exp1/fingerprint?samples=5-2", "samples", 400),
    ("/api/runs/exp1/fingerprint?samples=abc", "samples", 400),
    ("/api/runs/exp1/fingerprint?samples=0-999", "samples", 400),
    ("/api/runs/exp1/fingerprint?samples=-1", "samples", 400),
    ("/api/runs/exp1/fingerprint?samples=3", "samples", 400),
    ("/api/runs/exp1/fingerprint?kind=cka&debiased=maybe", "debiased", 400),
    ("/api/runs/exp1/rqa?threshold=-1", "threshold", 400),
    ("/api/runs/exp1/rqa?threshold=nan", "threshold", 400),
    ("/api/runs/exp1/rqa?threshold=0.1&recurrence_rate=0.2", "threshold", 400),
    ("/api/runs/exp1/rqa?recurrence_rate=0", "recurrence_rate", 400),
    ("/api/runs/exp1/measure?name=bogus", "name", 400),
    ("/api/runs/exp1/measure?snapshot=6", "snapshot", 400),
    ("/api/runs/exp1/measure?snapshot=-1", "snapshot", 400),
    ("/api/runs/exp1/measure?samples=1,,2", "samples", 400),
    ("/api/runs/exp1/predictions?snapshot=99", "snapshot", 400),
    ("/api/runs/exp1/local", "id", 400),
    ("/api/runs/exp1/local?id=40", "id", 400),
    ("/api/runs/exp1/local?id=x", "id", 400),
    ("/api/runs/exp1/local?id=1&a=9", "a", 400),
    ("/api/runs/exp1/local?id=1&b=1.5", "b", 400),
    ("/api/runs/exp1/local?id=1&k=39&samples=0-3", "k", 400),
    ("/api/runs/exp1/local?id=1&layer=nope", "layer", 400),
    ("/api/runs/exp1/transitions?a=100", "a", 400),
    ("/api/runs/exp1/samples?k=-1", "k", 400),
    ("/api/runs/exp1/samples?k=2&layer=nope", "layer", 400),
    ("/api/runs/exp1/samples.csv?k=99", "k", 400),
    ("/api/runs/exp1/projection?layer=nope", "layer", 400),
    ("/api/runs/exp1/thumbs.png?size=2", "size", 400),
    ("/api/runs/exp1/thumbs.png?ids=0-99", "ids", 400),
    ("/api/runs/exp1/thumbs.png?ids=a", "ids", 400),
    ("/api/runs/exp1/thumb/abc.png", "id", 400),
    ("/api/runs/exp1/thumb/99.png", "id", 404),
    ("/api/runs/exp1/thumb/1.png?size=9999", "size", 400),
    ("/api/compare?a=exp1", "b", 400),
    ("/api/compare?b=exp1", "a", 400),
    ("/api/compare?a=exp1&b=nope", "b", 404),
    ("/api/jobs/unknown", "job", 404),
]


@pytest.mark.parametrize(("url", "parameter", "status"), BAD)
def test_bad_parameters_are_4xx_naming_the_parameter(
    client: TestClient, url: str, parameter: str, status: int
) -> None:
    body = assert_4xx(client.get(url), parameter)
    assert body["status"] == status


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"samples": [1.5]}', "samples"),
        (b'{"samples": [true]}', "samples"),
        (b'{"samples": []}', "samples"),
        (b'{"k": "many"}', "k"),
        (b'{"kind": 3}', "kind"),
    ],
)
def test_bad_post_bodies(client: TestClient, body: bytes, parameter: str) -> None:
    response = client.post(
        "/api/runs/exp1/fingerprint", content=body, headers={"content-type": "application/json"}
    )
    assert_4xx(response, parameter)


def test_too_few_snapshots_is_422(tmp_path: Path) -> None:
    make_run(tmp_path / "short", n_snapshots=1)
    client = TestClient(create_app(tmp_path / "short"))
    for url in ("/api/runs/short/fingerprint", "/api/runs/short/rqa?kind=disagreement"):
        body = assert_4xx(client.get(url), None)
        assert body["status"] == 422 and "complete snapshots" in body["error"]
    assert client.get("/api/runs/short/local?id=0&k=2").status_code == 200


def test_run_being_created_has_no_snapshots_yet(tmp_path: Path) -> None:
    rd.create_run(tmp_path / "fresh", n_samples=N, labels=np.arange(N) % C)
    client = TestClient(create_app(tmp_path / "fresh"))
    overview = client.get("/api/runs/fresh").json()
    assert overview["n_snapshots"] == 0 and overview["layers"] == {}
    for url in (
        "/api/runs/fresh/fingerprint",
        "/api/runs/fresh/measure",
        "/api/runs/fresh/predictions",
        "/api/runs/fresh/local?id=0",
        "/api/runs/fresh/samples",
        "/api/runs/fresh/projection",
        "/api/runs/fresh/transitions",
    ):
        assert assert_4xx(client.get(url), None)["status"] == 422, url


def test_k_is_bounded_by_the_server_and_the_run_does_not_grow(tmp_path: Path) -> None:
    """Regression: GETs with k = 1796, 1500, 1200 grew a 1.4 MiB run to 245 MiB."""
    from reprdynamics.server.impl import MAX_K

    path = noise_run(tmp_path / "big", MAX_K + 50)
    client = TestClient(create_app(path))

    def size() -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    before = size()
    for k in (MAX_K + 49, MAX_K + 20, MAX_K + 1):
        for url in (f"/api/runs/big/fingerprint?k={k}", f"/api/runs/big/samples?k={k}"):
            body = assert_4xx(client.get(url), "k")
            assert str(MAX_K) in body["error"]
    assert size() == before
    assert client.get(f"/api/runs/big/fingerprint?k={MAX_K}").status_code in (200, 202)
    schema = client.get("/openapi.json").json()
    ks = [
        p["schema"]
        for item in schema["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["name"] == "k"
    ]
    assert ks and all(s["maximum"] == MAX_K for s in ks)
