"""The binary endpoints (measure.bin, projection.bin, column.bin) and registered selections,
checked against the JSON endpoints and the analysis API of the same run."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api
from reprdynamics.server.app import create_app
from reprdynamics.server.arrays import ApiError, decode_compact
from reprdynamics.server.binary import QUANTISED_NAN, dequantise, quantise
from reprdynamics.server.selections import SelectionRegistry, decode_bitmask, encode_bitmask

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

N, C, D, T = 120, 3, 5, 4
SMALL_N = 100  # not a multiple of 8: its bitmask has padding bits
RANGES = "0-9,20"
RANGE_IDS = [*range(10), 20]
BIN_PATHS = (
    "/api/runs/{run}/selection",
    "/api/runs/{run}/measure.bin",
    "/api/runs/{run}/projection.bin",
    "/api/runs/{run}/column.bin",
)


def make_run(path: Path, *, n: int = N, n_snapshots: int = T, seed: int = 0) -> Path:
    """A small run: logits (n×C) and a hidden layer (n×D) that organise by class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    centres = rng.normal(size=(C, D)) * 3
    with rd.Recorder(path, n_samples=n, labels=y, class_names=["a", "b", "c"]) as rec:
        for epoch in range(n_snapshots):
            hidden = centres[y] * (epoch + 1) / n_snapshots + rng.normal(size=(n, D))
            logits = hidden[:, :C] + np.eye(C)[y] * epoch + rng.normal(size=(n, C))
            rec.store_batch(logits, ids=np.arange(n), epoch=epoch)
            rec.store_batch(hidden, ids=np.arange(n), epoch=epoch, layer="hidden")
            rec.end_snapshot(metrics={"loss": 1.0 / (epoch + 1)})
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("binary")
    make_run(base / "exp")
    make_run(base / "small", n=SMALL_N, seed=1)
    return base


@pytest.fixture(scope="module")
def run_path(root: Path) -> Path:
    return root / "exp"


@pytest.fixture(scope="module")
def client(run_path: Path) -> TestClient:
    return TestClient(create_app(run_path, job_grace=10.0))


@pytest.fixture(scope="module")
def root_client(root: Path) -> TestClient:
    return TestClient(create_app(root, job_grace=10.0))


def ok(client: TestClient, url: str, **kwargs) -> dict:
    """GET (or POST with json=) until 200, following 202 progress answers."""
    return answer(client, url, **kwargs).json()


def answer(client: TestClient, url: str, **kwargs) -> httpx.Response:
    """The 200 response to GET (or POST with json=) ``url``, polling 202 answers."""
    method = client.post if "json" in kwargs else client.get
    for _ in range(200):
        response = method(url, **kwargs)
        if response.status_code == 200:
            return response
        assert response.status_code == 202, (url, response.status_code, response.text)
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish")


def floats(response: httpx.Response) -> np.ndarray:
    """A float32 answer's array (checking its headers and byte length)."""
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-dtype"] == "float32"
    n = int(response.headers["x-shape"])
    assert len(response.content) == 4 * n
    return np.frombuffer(response.content, dtype="<f4")


def header_floats(response: httpx.Response, name: str) -> np.ndarray:
    return np.array([float(v) for v in response.headers[name].split(",")])


def assert_4xx(response: httpx.Response, status: int, parameter: str | None) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["status"] == status and body["error"]
    assert "Traceback" not in response.text
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    return body


def manual_bitmask(ids: list[int], n: int) -> bytes:
    """The bitmask as docs/http_api.md describes it, written without NumPy."""
    mask = bytearray((n + 7) // 8)
    for i in ids:
        mask[i // 8] |= 1 << (i % 8)
    return bytes(mask)


BITS = {"Content-Type": "application/octet-stream"}


def register(client: TestClient, run: str, mask: bytes) -> dict:
    response = client.post(
        f"/api/runs/{run}/selection",
        content=mask,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- quantisation
def test_quantise_round_trip_with_nan_and_constant_column() -> None:
    rng = np.random.default_rng(3)
    values = np.column_stack([rng.normal(size=500) * 7.0, np.full(500, 2.5)])
    values[[3, 77], 0] = np.nan
    values[11, 1] = np.nan
    low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    codes, scale, offset = quantise(values, low, high)
    assert codes.dtype == np.uint16 and codes.shape == values.shape
    missing = np.isnan(values)
    assert (codes[missing] == QUANTISED_NAN).all()
    assert (codes[~missing] < QUANTISED_NAN).all()
    np.testing.assert_array_equal(offset, low)
    assert scale[0] == pytest.approx((high[0] - low[0]) / (QUANTISED_NAN - 1))
    assert scale[1] > 0  # a constant column (span 0) still has a usable scale
    back = dequantise(codes, scale, offset)
    np.testing.assert_array_equal(np.isnan(back), missing)
    error = np.abs(back - values)[~missing].reshape(-1)
    bound = np.broadcast_to(scale / 2, values.shape)[~missing] * (1 + 1e-9)
    assert (error <= bound).all(), error.max()
    np.testing.assert_array_equal(back[~missing[:, 1], 1], 2.5)  # the constant, exactly
    # The ends of the range are codes 0 and 65534.
    assert codes[np.nanargmin(values[:, 0]), 0] == 0
    assert codes[np.nanargmax(values[:, 0]), 0] == QUANTISED_NAN - 1


# --------------------------------------------------------------------------- measure.bin
def test_measure_bin_equals_json_measure(client: TestClient) -> None:
    names = client.get("/api/runs/exp").json()["measures"]
    assert len(names) > 1
    token = register(client, "exp", encode_bitmask(np.array(RANGE_IDS), N))["token"]
    for name in names:
        for snapshot in (0, T - 1):
            for samples, n in ((None, N), (RANGES, len(RANGE_IDS)), (token, len(RANGE_IDS))):
                query = f"name={name}&snapshot={snapshot}"
                if samples is not None:
                    query += f"&samples={samples}"
                response = client.get(f"/api/runs/exp/measure.bin?{query}")
                assert response.status_code == 200, response.text
                got = floats(response)
                assert got.shape == (n,) and len(response.content) == 4 * n
                assert response.headers["x-snapshot"] == str(snapshot)
                assert response.headers["x-measure"] == name
                body = client.get(f"/api/runs/exp/measure?{query}").json()
                np.testing.assert_array_equal(got, decode_compact(body["values"]))
                expected_ids = np.arange(N) if samples is None else RANGE_IDS
                np.testing.assert_array_equal(decode_compact(body["ids"]), expected_ids)


def test_measure_bin_defaults_to_the_last_snapshot(client: TestClient) -> None:
    response = client.get("/api/runs/exp/measure.bin")
    assert response.status_code == 200
    assert response.headers["x-snapshot"] == str(T - 1)
    assert response.headers["x-measure"] == "entropy"
    explicit = client.get(f"/api/runs/exp/measure.bin?name=entropy&snapshot={T - 1}")
    assert response.content == explicit.content


def test_measure_bin_bad_parameters(client: TestClient) -> None:
    assert_4xx(client.get("/api/runs/exp/measure.bin?name=nope"), 400, "name")
    assert_4xx(client.get(f"/api/runs/exp/measure.bin?snapshot={T}"), 400, "snapshot")
    assert_4xx(client.get(f"/api/runs/exp/measure.bin?samples={N}"), 400, "samples")
    assert_4xx(client.get("/api/runs/nope/measure.bin"), 404, "run")


# --------------------------------------------------------------------------- ETags
def test_etag_gives_304_and_changes_with_the_run(tmp_path: Path) -> None:
    path = make_run(tmp_path / "live", seed=5)
    client = TestClient(create_app(path, job_grace=10.0))
    urls = [
        "/api/runs/live/measure.bin?name=entropy&snapshot=0",
        "/api/runs/live/measure.bin?name=margin",
        "/api/runs/live/projection.bin?layer=hidden&snapshot=0",
        "/api/runs/live/column.bin?column=aum&k=5",
    ]
    before = {}
    for url in urls:
        first = answer(client, url)
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, (url, again.status_code)
        assert again.content == b""
        assert again.headers["etag"] == etag
        # A list of tags that holds it matches too; another tag does not.
        listed = client.get(url, headers={"If-None-Match": f'"0123", {etag}'})
        assert listed.status_code == 304
        other = client.get(url, headers={"If-None-Match": '"0123"'})
        assert other.status_code == 200 and other.content == first.content
        assert other.headers["etag"] == etag
        before[url] = (etag, first.content)

    # A fresh server over the same run gives the same tags (they survive restarts).
    fresh = TestClient(create_app(path, job_grace=10.0))
    for url, (etag, _) in before.items():
        assert answer(fresh, url).headers["etag"] == etag

    run = rd.open_run(path, mode="r+")
    rng = np.random.default_rng(9)
    run.append_snapshot(
        {"logits": rng.normal(size=(N, C)), "hidden": rng.normal(size=(N, D))}, epoch=T
    )
    for url, (etag, content) in before.items():
        stale = client.get(url, headers={"If-None-Match": etag})
        if "snapshot=0" in url and "measure" in url:
            # A measure of an old snapshot does not change when the run grows: the
            # browser keeps its copy (304), and the data are indeed the same.
            assert stale.status_code == 304, url
            assert answer(client, url).content == content
            continue
        assert stale.status_code in (200, 202), (url, stale.status_code)
        now = answer(client, url)
        assert now.headers["etag"] != etag, url
        assert client.get(url, headers={"If-None-Match": now.headers["etag"]}).status_code == 304
    last = client.get("/api/runs/live/measure.bin?name=margin")
    assert last.headers["x-snapshot"] == str(T)


def test_different_parameters_give_different_etags(client: TestClient) -> None:
    token = register(client, "exp", encode_bitmask(np.array(RANGE_IDS), N))["token"]
    urls = [
        "/api/runs/exp/measure.bin?name=entropy&snapshot=0",
        "/api/runs/exp/measure.bin?name=entropy&snapshot=1",
        "/api/runs/exp/measure.bin?name=loss&snapshot=0",
        "/api/runs/exp/measure.bin?name=entropy&snapshot=0&samples=0-9",
        f"/api/runs/exp/measure.bin?name=entropy&snapshot=0&samples={token}",
        "/api/runs/exp/projection.bin?layer=hidden&snapshot=0",
        "/api/runs/exp/projection.bin?layer=hidden&snapshot=1",
        "/api/runs/exp/projection.bin?layer=hidden&snapshot=0&encoding=float32",
        "/api/runs/exp/projection.bin?layer=logits&snapshot=0",
        "/api/runs/exp/column.bin?column=aum&k=5",
        "/api/runs/exp/column.bin?column=aum&k=6",
        "/api/runs/exp/column.bin?column=confidence&k=5",
    ]
    tags = [answer(client, url).headers["etag"] for url in urls]
    assert len(set(tags)) == len(urls), dict(zip(urls, tags, strict=True))
    # A selection given as ranges or as its token is the same selection: the same tag.
    same = answer(client, f"/api/runs/exp/measure.bin?name=entropy&snapshot=0&samples={RANGES}")
    assert same.headers["etag"] == tags[4]


# --------------------------------------------------------------------------- projection.bin
def test_projection_bin_uint16_matches_json(client: TestClient) -> None:
    body = ok(client, "/api/runs/exp/projection?layer=hidden")
    coords = decode_compact(body["coords"]).astype(np.float64)
    assert coords.shape == (len(body["snapshots"]), N, 2)
    scales, offsets = set(), set()
    for pos, t in enumerate(body["snapshots"]):
        response = answer(client, f"/api/runs/exp/projection.bin?layer=hidden&snapshot={t}")
        assert response.headers["x-dtype"] == "uint16"
        assert response.headers["x-shape"] == f"{N},2"
        assert response.headers["x-snapshot"] == str(t)
        assert response.headers["x-snapshots"] == ",".join(map(str, body["snapshots"]))
        assert len(response.content) == 4 * N
        codes = np.frombuffer(response.content, dtype="<u2").reshape(N, 2)
        scale = header_floats(response, "x-scale")
        offset = header_floats(response, "x-offset")
        assert scale.shape == offset.shape == (2,) and (scale > 0).all()
        scales.add(tuple(scale))
        offsets.add(tuple(offset))
        values = dequantise(codes, scale, offset)
        eps = 1e-6 * (1 + np.abs(coords).max())  # the JSON coords are float32
        assert (np.abs(values - coords[pos]) <= scale / 2 + eps).all()
        explained = header_floats(response, "x-explained-variance-ratio")
        np.testing.assert_allclose(explained, body["explained_variance_ratio"])
    assert len(scales) == 1 and len(offsets) == 1  # one scale for every frame
    # The scale spans every frame: the extremes over all frames are codes 0 and 65534.
    scale, offset = np.array(scales.pop()), np.array(offsets.pop())
    np.testing.assert_allclose(offset, coords.reshape(-1, 2).min(axis=0), rtol=1e-6)
    top = offset + scale * (QUANTISED_NAN - 1)
    np.testing.assert_allclose(top, coords.reshape(-1, 2).max(axis=0), rtol=1e-6)
    last = answer(client, "/api/runs/exp/projection.bin?layer=hidden")
    assert last.headers["x-snapshot"] == str(body["snapshots"][-1])


def test_projection_bin_float32_equals_json(client: TestClient, run_path: Path) -> None:
    body = ok(client, "/api/runs/exp/projection?layer=hidden")
    coords = decode_compact(body["coords"])
    expected = api.projection(rd.open_run(run_path), layer="hidden")
    np.testing.assert_allclose(coords, expected.coords.astype(np.float32), rtol=1e-6)
    for pos, t in enumerate(body["snapshots"]):
        url = f"/api/runs/exp/projection.bin?layer=hidden&snapshot={t}&encoding=float32"
        response = answer(client, url)
        assert response.headers["x-dtype"] == "float32"
        assert response.headers["x-shape"] == f"{N},2"
        assert "x-scale" not in response.headers
        assert len(response.content) == 8 * N
        got = np.frombuffer(response.content, dtype="<f4").reshape(N, 2)
        np.testing.assert_array_equal(got, coords[pos])


def test_projection_bin_of_a_selection(client: TestClient) -> None:
    token = register(client, "exp", manual_bitmask(RANGE_IDS, N))["token"]
    body = ok(client, f"/api/runs/exp/projection?layer=hidden&samples={RANGES}")
    np.testing.assert_array_equal(decode_compact(body["ids"]), RANGE_IDS)
    coords = decode_compact(body["coords"])
    t = body["snapshots"][1]
    url = f"/api/runs/exp/projection.bin?layer=hidden&snapshot={t}&encoding=float32"
    for samples in (RANGES, token):
        response = answer(client, f"{url}&samples={samples}")
        assert response.headers["x-shape"] == f"{len(RANGE_IDS)},2"
        got = np.frombuffer(response.content, dtype="<f4").reshape(-1, 2)
        np.testing.assert_array_equal(got, coords[1])


def test_projection_bin_bad_parameters(client: TestClient) -> None:
    body = assert_4xx(
        client.get("/api/runs/exp/projection.bin?layer=hidden&snapshot=99"), 400, "snapshot"
    )
    assert "snapshot" in body["error"]
    body = assert_4xx(
        client.get("/api/runs/exp/projection.bin?layer=hidden&encoding=png"), 400, "encoding"
    )
    assert "encoding" in body["error"]
    assert_4xx(client.get("/api/runs/exp/projection.bin?layer=nope"), 400, "layer")
    assert_4xx(client.get("/api/runs/exp/projection.bin?snapshot=-1"), 400, "snapshot")


# --------------------------------------------------------------------------- column.bin
def test_column_bin_equals_json_samples(client: TestClient, run_path: Path) -> None:
    body = ok(client, "/api/runs/exp/samples?k=5")
    columns = ["label", "prediction", "confidence", "variability", "aum", "neighbour_stability"]
    assert set(columns) <= set(body["columns"])
    for column in [*columns, "never_learned", "forgetting_events"]:
        response = answer(client, f"/api/runs/exp/column.bin?column={column}&k=5")
        assert response.headers["x-column"] == column
        got = floats(response)
        assert got.shape == (N,)
        expected = decode_compact(body["data"][column]).astype(np.float32)
        np.testing.assert_array_equal(got, expected)
    table = api.sample_dynamics(rd.open_run(run_path), neighbour_k=5, neighbour_layer="logits")
    got = floats(answer(client, "/api/runs/exp/column.bin?column=aum&k=5"))
    np.testing.assert_allclose(got, np.asarray(table["aum"], dtype=np.float32), rtol=1e-6)


def test_column_bin_of_a_selection(client: TestClient) -> None:
    token = register(client, "exp", encode_bitmask(np.array(RANGE_IDS), N))["token"]
    body = ok(client, f"/api/runs/exp/samples?k=3&samples={RANGES}")
    for samples in (RANGES, token):
        for column in ("id", "confidence", "neighbour_stability"):
            url = f"/api/runs/exp/column.bin?column={column}&k=3&samples={samples}"
            got = floats(answer(client, url))
            expected = decode_compact(body["data"][column]).astype(np.float32)
            np.testing.assert_array_equal(got, expected)
    ids = floats(answer(client, f"/api/runs/exp/column.bin?column=id&k=3&samples={token}"))
    np.testing.assert_array_equal(ids, RANGE_IDS)


def test_column_bin_bad_parameters(client: TestClient) -> None:
    body = assert_4xx(client.get("/api/runs/exp/column.bin?column=nope&k=5"), 400, "column")
    assert "aum" in body["error"]  # the message lists the columns
    assert_4xx(client.get("/api/runs/exp/column.bin?k=5"), 400, "column")
    assert_4xx(client.get("/api/runs/exp/column.bin?column=&k=5"), 400, "column")
    assert_4xx(client.get(f"/api/runs/exp/column.bin?column=aum&k={N}"), 400, "k")


# --------------------------------------------------------------------------- selections
def test_selection_tokens_are_content_addressed(client: TestClient, run_path: Path) -> None:
    mask = manual_bitmask(RANGE_IDS, N)
    assert mask == encode_bitmask(np.array(RANGE_IDS), N)
    np.testing.assert_array_equal(decode_bitmask(mask, N), RANGE_IDS)
    first = register(client, "exp", mask)
    assert first["token"].startswith("sel:")
    assert first["n_selected"] == len(RANGE_IDS) and first["n_samples"] == N
    assert register(client, "exp", mask)["token"] == first["token"]
    # Another server (a restart) gives the same token for the same mask.
    other_server = TestClient(create_app(run_path, job_grace=10.0))
    assert register(other_server, "exp", mask)["token"] == first["token"]
    different = register(client, "exp", manual_bitmask([*RANGE_IDS, 21], N))
    assert different["token"] != first["token"] and different["n_selected"] == len(RANGE_IDS) + 1


def test_selection_tokens_work_in_json_endpoints(client: TestClient, run_path: Path) -> None:
    ids = [0, 3, 8, 15, 16, 17, 50, 64, 99, 119]  # bits in several bytes, both byte ends
    token = register(client, "exp", manual_bitmask(ids, N))["token"]
    ranges = ",".join(map(str, ids))
    by_token = client.get(f"/api/runs/exp/measure?name=loss&samples={token}").json()
    by_ids = client.get(f"/api/runs/exp/measure?name=loss&samples={ranges}").json()
    np.testing.assert_array_equal(decode_compact(by_token["ids"]), ids)
    assert by_token["values"] == by_ids["values"]
    fp = ok(client, f"/api/runs/exp/fingerprint?kind=neighbour-state&k=3&samples={token}")
    posted = ok(
        client,
        "/api/runs/exp/fingerprint",
        json={"kind": "neighbour-state", "k": 3, "samples": token},
    )
    expected = api.fingerprint(rd.open_run(run_path), "neighbour-state", k=3, samples=ids)
    np.testing.assert_allclose(decode_compact(fp["matrix"]), expected.matrix, atol=1e-6)
    assert fp["matrix"] == posted["matrix"]
    binary = floats(client.get(f"/api/runs/exp/measure.bin?name=loss&samples={token}"))
    np.testing.assert_array_equal(binary, decode_compact(by_ids["values"]))


def test_selection_bad_bitmasks(client: TestClient, root_client: TestClient) -> None:
    url = "/api/runs/exp/selection"
    good = manual_bitmask(RANGE_IDS, N)
    for wrong in (good[:-1], good + b"\x00", b""):
        body = assert_4xx(client.post(url, content=wrong, headers=BITS), 400, "body")
        assert str((N + 7) // 8) in body["error"]
    assert_4xx(
        client.post(url, content=bytes(len(good)), headers=BITS), 400, "body"
    )  # selects nothing
    # The small run has 100 samples: 13 bytes, the last 4 bits of the last byte are padding.
    small = "/api/runs/small/selection"
    assert register(root_client, "small", manual_bitmask([0, SMALL_N - 1], SMALL_N))
    padded = bytearray(manual_bitmask([0], SMALL_N))
    padded[-1] |= 1 << (SMALL_N % 8)  # bit 100: beyond the run
    assert_4xx(root_client.post(small, content=bytes(padded), headers=BITS), 400, "body")
    assert_4xx(client.post("/api/runs/nope/selection", content=good, headers=BITS), 404, "run")


def test_unknown_token_is_404_naming_samples(client: TestClient) -> None:
    for url in (
        "/api/runs/exp/measure.bin?samples=sel:deadbeef",
        "/api/runs/exp/measure?samples=sel:deadbeef",
        "/api/runs/exp/projection.bin?layer=hidden&samples=sel:deadbeef",
        "/api/runs/exp/column.bin?column=aum&samples=sel:deadbeef",
        "/api/runs/exp/fingerprint?samples=sel:deadbeef",
    ):
        body = assert_4xx(client.get(url), 404, "samples")
        assert "selection" in body["error"]


def test_token_of_another_run_size_is_400(root_client: TestClient) -> None:
    names = {r["name"]: r["n_samples"] for r in root_client.get("/api/runs").json()["runs"]}
    assert names == {"exp": N, "small": SMALL_N}
    token = register(root_client, "exp", manual_bitmask(RANGE_IDS, N))["token"]
    ok_answer = root_client.get(f"/api/runs/exp/measure.bin?samples={token}")
    assert ok_answer.status_code == 200 and len(ok_answer.content) == 4 * len(RANGE_IDS)
    for url in (
        f"/api/runs/small/measure.bin?samples={token}",
        f"/api/runs/small/measure?samples={token}",
        f"/api/runs/small/column.bin?column=aum&samples={token}",
    ):
        body = assert_4xx(root_client.get(url), 400, "samples")
        assert str(N) in body["error"] and str(SMALL_N) in body["error"]


def test_registry_drops_least_recently_used_masks() -> None:
    masks = [manual_bitmask([i, i + 1], N) for i in (0, 10, 20, 30)]
    size = len(masks[0])
    registry = SelectionRegistry(max_bytes=2 * size + size // 2)  # room for two masks
    tokens = [registry.register(mask, N)[0] for mask in masks[:3]]
    assert len(set(tokens)) == 3
    with pytest.raises(ApiError) as dropped:
        registry.resolve(tokens[0], N, "samples")
    assert dropped.value.status == 404 and dropped.value.parameter == "samples"
    np.testing.assert_array_equal(registry.resolve(tokens[2], N, "samples"), [20, 21])
    np.testing.assert_array_equal(registry.resolve(tokens[1], N, "samples"), [10, 11])
    # tokens[1] was used last, so the next mask pushes out tokens[2].
    fourth, selected = registry.register(masks[3], N)
    assert selected == 2
    with pytest.raises(ApiError) as dropped:
        registry.resolve(tokens[2], N, "samples")
    assert dropped.value.status == 404
    np.testing.assert_array_equal(registry.resolve(tokens[1], N, "samples"), [10, 11])
    np.testing.assert_array_equal(registry.resolve(fourth, N, "samples"), [30, 31])
    # Registering a dropped mask again brings it back under the same token.
    assert registry.register(masks[0], N)[0] == tokens[0]
    np.testing.assert_array_equal(registry.resolve(tokens[0], N, "samples"), [0, 1])
    with pytest.raises(ApiError) as wrong_size:
        registry.resolve(tokens[0], SMALL_N, "samples")
    assert wrong_size.value.status == 400 and wrong_size.value.parameter == "samples"


# --------------------------------------------------------------------------- OpenAPI
def test_openapi_lists_the_binary_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in BIN_PATHS:
        assert path in paths, path
    assert set(paths["/api/runs/{run}/selection"]) == {"post"}
    for path in BIN_PATHS[1:]:
        assert set(paths[path]) == {"get"}
        assert "application/octet-stream" in paths[path]["get"]["responses"]["200"]["content"]
    names = {p["name"] for p in paths["/api/runs/{run}/projection.bin"]["get"]["parameters"]}
    assert {"run", "layer", "samples", "snapshot", "encoding"} <= names
    column = paths["/api/runs/{run}/column.bin"]["get"]["parameters"]
    assert any(p["name"] == "column" and p["required"] for p in column)
