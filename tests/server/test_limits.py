"""Limits the server enforces while parsing a request, and the OpenAPI that states them.

Regression tests of issue #11: a 68 KiB body of overlapping ranges built 18 million ids
before its 400; request bodies had no limit in bytes; the OpenAPI omitted bounds, required
body fields and statuses the server answers (so fuzzers met valid-by-schema requests
refused, and empty values accepted); a static file name over 255 bytes answered 500.
"""

from __future__ import annotations

import json
import math
import re
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noise_runs import noise_run
from reprdynamics.server import endpoints, handlers, requests
from reprdynamics.server.app import create_app
from reprdynamics.server.arrays import (
    MAX_SELECTION_CHARS,
    SELECTION_PATTERN,
    ApiError,
    Params,
    parse_ordered_ids,
    parse_selection,
)
from reprdynamics.server.routes import (
    BITMASK_SLACK_BYTES,
    ENDPOINTS,
    MAX_JSON_BODY_BYTES,
    MAX_QUERY_CHARS,
    STATIC_DIR,
    openapi_schema,
    safe_static_path,
)
from reprdynamics.server.thumbnails import MAX_SPRITE_IDS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

N = 1797  # the digits run of the report
SMALL = 12
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """A run of 1797 samples, named ``run``."""
    return TestClient(create_app(noise_run(tmp_path_factory.mktemp("big") / "run", N)))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """A run of 12 samples and 3 snapshots, named ``run``."""
    return TestClient(create_app(noise_run(tmp_path_factory.mktemp("small") / "run", SMALL)))


def assert_refused(response: Any, status: int, parameter: str | None) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body.get("parameter") == parameter, body
    return body


@pytest.fixture
def peak_mib() -> Iterator[Any]:
    """The peak of traced memory (NumPy's buffers included) since the test began, in MiB."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- selection sizes
def test_a_flood_of_ranges_is_refused_before_the_ids_are_built(big: TestClient, peak_mib) -> None:
    """Regression: 10,000 ranges of every sample (68 KiB) built 18M ids (~400 MiB, 3-5 s)
    before thumbs.png answered 400."""
    body = json.dumps({"ids": ",".join(["0-1796"] * 10_000)})
    response = big.post("/api/runs/run/thumbs.png", content=body, headers=JSON)
    message = assert_refused(response, 400, "ids")["error"]
    assert f"at most {MAX_SPRITE_IDS} ids" in message
    assert peak_mib() < 32  # a few ids' worth, not 18 million


@pytest.mark.parametrize(
    "samples",
    [
        "0-1796,0-1796",  # twice every sample: refused at the second range
        ",".join(["0-1796"] * 10_000),
        [0] * (N + 1),
    ],
    ids=["twice", "flood", "list"],
)
def test_a_selection_names_at_most_n_ids(big: TestClient, samples: Any, peak_mib) -> None:
    """Regression: overlapping ranges up to 4 N ids, and lists of any length, were built."""
    response = big.post("/api/runs/run/measure", json={"samples": samples})
    message = assert_refused(response, 400, "samples")["error"]
    assert f"at most {N} ids" in message
    assert peak_mib() < 32


def test_selection_counts_repeats_while_parsing() -> None:
    assert parse_selection("0-5,3-8", SMALL).tolist() == list(range(9))  # 12 ids named
    with pytest.raises(ApiError, match="at most 12 ids") as info:
        parse_selection("0-5,3-9", SMALL)  # 13
    assert info.value.status == 400 and info.value.parameter == "samples"
    # The count stops the parse: a malformed token after the excess is never reached.
    with pytest.raises(ApiError, match="at most 12 ids"):
        parse_selection("0-11,0,bogus", SMALL)
    ordered = parse_ordered_ids("5,0-3,5", SMALL, "ids", limit=6)
    assert ordered.tolist() == [5, 0, 1, 2, 3, 5]
    with pytest.raises(ApiError, match="at most 5 ids"):
        parse_ordered_ids("5,0-3,5", SMALL, "ids", limit=5)
    with pytest.raises(ApiError, match="at most 2 ids"):
        parse_ordered_ids([1, 2, 3], SMALL, "ids", limit=2)


_RANGE_TEXT = st.from_regex(r"[ \t]{0,2}[0-9]{1,3}[ \t]{0,2}(-[ \t]?[0-9]{1,3})?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_RANGE_TEXT, min_size=1, max_size=6).map(",".join))
def test_what_the_pattern_states_is_what_the_parser_reads(text: str) -> None:
    """Strings of the stated grammar fail, if at all, on the run's bounds, never on form."""
    assert re.fullmatch(SELECTION_PATTERN, text)
    try:
        parse_selection(text, 100)
    except ApiError as exc:
        assert re.search(r"ids in \[0, 99\]\. |low <= high|at most 100 ids", exc.message), exc


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789,- \t\x0b\x1cal:sel\u00a0\u0665"), max_size=12))
def test_what_the_pattern_refuses_the_parser_refuses(text: str) -> None:
    if re.fullmatch(SELECTION_PATTERN, text):
        return
    with pytest.raises(ApiError) as info:
        parse_selection(text, 10**6)
    assert info.value.status == 400


# --------------------------------------------------------------------------- body sizes
def test_json_bodies_are_limited_in_bytes(small: TestClient, monkeypatch) -> None:
    """Regression: a POST body of any size was read whole and parsed."""
    padding = "x" * MAX_JSON_BODY_BYTES
    response = small.post(
        "/api/runs/run/transitions", content=json.dumps({"pad": padding}), headers=JSON
    )
    assert "8 MiB" in assert_refused(response, 413, "body")["error"]

    monkeypatch.setattr(requests, "MAX_JSON_BODY_BYTES", 64)
    exact = json.dumps({"a": 0, "pad": "x" * 45}).encode()
    assert len(exact) == 64
    assert small.post("/api/runs/run/transitions", content=exact, headers=JSON).status_code == 200
    over = json.dumps({"a": 0, "pad": "x" * 46})
    assert_refused(small.post("/api/runs/run/transitions", content=over, headers=JSON), 413, "body")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        yield b'{"a": 0, "pad": "'
        yield b"x" * 100
        yield b'"}'

    assert_refused(
        small.post("/api/runs/run/transitions", content=chunked(), headers=JSON), 413, "body"
    )


def test_bitmasks_are_limited_to_their_size_and_some_slack(big: TestClient) -> None:
    """Regression: any bitmask up to 16 MiB was read before its size was checked."""
    expected = math.ceil(N / 8)
    octets = {"Content-Type": "application/octet-stream"}
    mask = np.zeros(expected, dtype=np.uint8)
    mask[0] = 1
    ok = big.post("/api/runs/run/selection", content=mask.tobytes(), headers=octets)
    assert ok.status_code == 200 and ok.json()["n_selected"] == 1
    within = bytes(expected + BITMASK_SLACK_BYTES)
    message = assert_refused(
        big.post("/api/runs/run/selection", content=within, headers=octets), 400, "body"
    )["error"]
    assert f"{expected} bytes" in message
    beyond = bytes(expected + BITMASK_SLACK_BYTES + 1)
    message = assert_refused(
        big.post("/api/runs/run/selection", content=beyond, headers=octets), 413, "body"
    )["error"]
    assert f"{expected} bytes" in message


# --------------------------------------------------------------------------- the schema
def _operations() -> Iterator[tuple[str, str, dict]]:
    for path, methods in openapi_schema()["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def _query(op: dict) -> dict[str, dict]:
    return {p["name"]: p for p in op["parameters"] if p["in"] == "query"}


def test_the_schema_states_the_limits() -> None:
    paths = openapi_schema()["paths"]
    samples = _query(paths["/api/runs/{run}/measure"]["get"])["samples"]
    # In a URL at most what the HTTP server takes; in a body the parser's own limit.
    assert samples["schema"]["maxLength"] == MAX_QUERY_CHARS
    posted = paths["/api/runs/{run}/measure"]["post"]["requestBody"]["content"]
    text = posted["application/json"]["schema"]["properties"]["samples"]["anyOf"][0]
    assert text["maxLength"] == MAX_SELECTION_CHARS == 1_000_000
    assert samples["schema"]["pattern"] == SELECTION_PATTERN
    assert "at most N ids" in samples["description"]
    body = paths["/api/runs/{run}/thumbs.png"]["post"]["requestBody"]
    ids = body["content"]["application/json"]["schema"]["properties"]["ids"]
    assert {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1,
            "maxItems": MAX_SPRITE_IDS} in ids["anyOf"]  # fmt: skip
    assert "8388608 bytes" in body["description"]
    bitmask = paths["/api/runs/{run}/selection"]["post"]["requestBody"]
    assert bitmask["required"] and list(bitmask["content"]) == ["application/octet-stream"]
    for path, method, op in _operations():
        if method == "post":
            assert {"403", "413"} <= set(op["responses"]), path


def test_the_schema_states_bounds_and_required_fields() -> None:
    paths = openapi_schema()["paths"]
    for path, _, op in _operations():
        for name, p in _query(op).items():
            schema = p["schema"]
            if name in ("k", "size", "snapshot", "a", "b", "id") and schema["type"] == "integer":
                assert schema["minimum"] >= 0 and ("maximum" in schema) == (name in ("k", "size"))
            if schema["type"] == "string" and name != "ids":
                assert schema.get("minLength") == 1 or "enum" in schema, (path, name)
    rate = _query(paths["/api/runs/{run}/rqa"]["get"])["recurrence_rate"]["schema"]
    assert rate["exclusiveMinimum"] == 0 and rate["maximum"] == 1
    local = paths["/api/runs/{run}/local"]["post"]["requestBody"]
    assert local["required"] and local["content"]["application/json"]["schema"]["required"] == [
        "id"
    ]
    compare = paths["/api/compare"]["post"]["requestBody"]["content"]["application/json"]
    assert compare["schema"]["required"] == ["a", "b"]
    sample_id = paths["/api/runs/{run}/thumb/{sample_id}.png"]["get"]["parameters"][1]
    assert sample_id["name"] == "sample_id" and sample_id["schema"]["minimum"] == 0


def test_every_operation_lists_the_statuses_it_can_answer() -> None:
    paths = openapi_schema()["paths"]
    assert "422" in paths["/api/runs/{run}/measure"]["get"]["responses"]
    for path, _, op in _operations():
        codes = set(op["responses"])
        if "{run}" in path or path == "/api/compare":
            assert {"400", "404", "422", "502"} <= codes, path
        if path.endswith(".bin"):
            assert "304" in codes, path
    assert set(paths["/openapi.json"]["get"]["responses"]) == {"200", "400"}


def test_measure_answers_its_documented_422(tmp_path: Path) -> None:
    client = TestClient(create_app(noise_run(tmp_path / "run", SMALL, labels=False)))
    response = client.get("/api/runs/run/measure?name=confidence")
    assert_refused(response, 422, "name")
    assert "422" in openapi_schema()["paths"]["/api/runs/{run}/measure"]["get"]["responses"]


# --------------------------------------------------------------------------- schema vs server
_VALID = {"id": 0, "column": "entropy_last", "a": "run", "b": "run"}


def _url(path: str) -> str:
    return path.replace("{run}", "run").replace("{sample_id}", "0")


def _violations(p: dict) -> Iterator[Any]:
    """Values of the query parameter ``p`` its schema forbids."""
    schema = p["schema"]
    yield ""  # given empty
    if schema["type"] == "integer":
        yield "1.5"
        yield "abc"
        if "minimum" in schema:
            yield str(int(schema["minimum"]) - 1)
        if "maximum" in schema:
            yield str(int(schema["maximum"]) + 1)
    elif schema["type"] == "number":
        yield "abc"
        if "minimum" in schema:
            yield str(schema["minimum"] - 1)
        if "exclusiveMinimum" in schema:
            yield str(schema["exclusiveMinimum"])
        if "maximum" in schema:
            yield str(schema["maximum"] + 1)
    elif schema["type"] == "boolean":
        yield "maybe"
        yield "1"
    elif "enum" in schema:
        yield "bogus"
    elif "pattern" in schema:
        yield "1,,2"
        yield "\u0665"  # an Arabic-Indic digit: a digit to Python, not to the pattern


_CASES = [
    (path, op, name, value)
    for path, method, op in _operations()
    if method == "get" and not path.startswith(("/static", "/api/jobs"))
    for name, p in _query(op).items()
    for value in _violations(p)
    if not (name == "ids" and value == "")  # thumbs.png: ids= is all, as the schema says
]


@pytest.mark.parametrize(
    ("path", "op", "name", "value"),
    _CASES,
    ids=[f"{path.rsplit('/', 1)[-1]}-{name}={value!r}" for path, _, name, value in _CASES],
)
def test_a_value_the_schema_forbids_is_a_400(
    small: TestClient, path: str, op: dict, name: str, value: str
) -> None:
    """Regression: k= (empty) was its default, layer= was read only when k > 0, and
    debiased=1 passed a schema that says boolean. Whatever the endpoint would read, what
    the OpenAPI forbids is refused naming the parameter, with a status it lists."""
    query = {n: _VALID[n] for n, p in _query(op).items() if p["required"] and n != name}
    query[name] = value
    response = small.get(_url(path), params=query)
    assert_refused(response, 400, name)
    assert str(response.status_code) in op["responses"]


def test_empty_k_of_compare_is_a_400(small: TestClient) -> None:
    assert_refused(small.get("/api/compare?a=run&b=run&k="), 400, "k")


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"k": "5"}, "k"),  # a body's numbers are JSON numbers
        ({"debiased": "true"}, "debiased"),
        ({"kind": 3}, "kind"),
        ({"k": 0}, "k"),
        ({"layer": ""}, "layer"),
        ({"samples": "0-3", "k": 2.5}, "k"),
    ],
)
def test_body_values_have_their_json_type(small: TestClient, body: dict, name: str) -> None:
    assert_refused(small.post("/api/runs/run/fingerprint", json=body), 400, name)


def test_body_nulls_and_integral_floats_are_accepted(small: TestClient) -> None:
    body = {"k": 2.0, "layer": None, "samples": [0.0, 1, 2, 3], "kind": None}
    response = small.post("/api/runs/run/fingerprint", json=body)
    assert response.status_code in (200, 202), response.text


@pytest.mark.parametrize(
    ("path", "missing"), [("/api/runs/run/local", "id"), ("/api/compare", "a")]
)
def test_required_body_fields(small: TestClient, path: str, missing: str) -> None:
    assert_refused(small.post(path, json={"b": "run"}), 400, missing)


@pytest.mark.parametrize("path", ["/api/runs", "/api/runs/run", "/api/runs/run/labels", "/"])
def test_a_post_to_a_get_endpoint_is_a_405_whatever_its_type(small: TestClient, path: str) -> None:
    """A POST no route takes meets the router (405), not the guard's 403 for other pages."""
    response = small.post(path, content=b"x=1", headers={"Content-Type": "text/plain"})
    assert_refused(response, 405, None)
    # The guard still refuses such a POST where one is taken, before anything runs.
    refused = small.post(
        "/api/runs/run/fingerprint", content=b"x=1", headers={"Content-Type": "text/plain"}
    )
    assert_refused(refused, 403, "Content-Type")


def test_every_declared_parameter_is_checked() -> None:
    """The check runs for every handler of the table, not only those that parse."""
    declared = endpoints.DECLARED
    assert set(declared) == {e.handler for e in ENDPOINTS}
    params = Params({"k": ""})
    with pytest.raises(ApiError, match="'k'"):
        requests.check_declared(declared[handlers.samples], params)


# --------------------------------------------------------------------------- static files
@pytest.mark.parametrize(
    "relative",
    ["a" * 256, "a" * 300 + ".js", "/".join(["a" * 200] * 30), "js/" + "b" * 4000],
    ids=["256", "300.js", "deep", "long-in-dir"],
)
def test_names_the_file_system_refuses_are_404(small: TestClient, relative: str) -> None:
    """Regression: a name over 255 bytes raised OSError (File name too long): 500."""
    assert safe_static_path(STATIC_DIR, relative) is None
    assert_refused(small.get(f"/static/{relative}"), 404, "path")


def test_nul_bytes_and_unreadable_files_are_404(small: TestClient, monkeypatch) -> None:
    assert_refused(small.get("/static/app.js%00.png"), 404, "path")

    def unreadable(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", unreadable)
    assert safe_static_path(STATIC_DIR, "app.js") is None
    assert_refused(small.get("/static/app.js"), 404, "path")
