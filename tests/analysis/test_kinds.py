"""The table of fingerprint kinds is the one every part reads: the API, the server (its
parameter check, its OpenAPI enum, the run overview), the command line and the report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api, kinds
from reprdynamics.analysis.kinds import KINDS, FingerprintKind, get_kind
from reprdynamics.errors import InvalidParameterError
from reprdynamics.server.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

N, T = 30, 5


def make_run(path, kind="logits"):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, N)
    with rd.Recorder(path, n_samples=N, labels=labels, kind=kind) as rec:
        for epoch in range(T):
            rec.store_batch(rng.normal(size=(N, 4)), ids=np.arange(N), epoch=epoch)
            rec.store_batch(rng.normal(size=(N, 6)), ids=np.arange(N), epoch=epoch, layer="h")
    return rd.open_run(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("kinds") / "run")


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_computes_with_the_rows_and_parameters_its_spec_declares(run, name):
    spec = KINDS[name]
    fp = rd.fingerprint(run, name, k=5, use_cache=False)
    rows = T - 1 if spec.transition else T
    assert fp.matrix.shape == (rows, rows) and fp.transition == spec.transition
    assert ("k" in fp.params) == spec.uses_k
    assert fp.params["layer"] == run.output_layer
    if spec.uses_layer:
        assert rd.fingerprint(run, name, k=5, layer="h", use_cache=False).params["layer"] == "h"
    assert set(spec.options) <= set(fp.params)
    assert api.FINGERPRINT_KINDS[name] == spec.transition


def test_names_and_aliases_resolve_and_unknown_kinds_are_refused():
    assert get_kind("NNTF").name == "class-transition"
    assert get_kind("neighbor_transition").name == "neighbour-transition"
    assert get_kind("1-CKA").name == "cka"
    for spec in KINDS.values():
        assert get_kind(spec.name) is spec
        assert all(get_kind(alias) is spec for alias in spec.aliases)
    with pytest.raises(InvalidParameterError, match=r"'kind'.*one of \['neighbour-transition'"):
        get_kind("median")
    with pytest.raises(InvalidParameterError, match="'kind'"):
        get_kind(3)


def test_runs_of_features_have_no_prediction_kinds(tmp_path):
    features = make_run(tmp_path / "f", kind="features")
    applicable = [spec.name for spec in kinds.applicable_kinds(features)]
    assert applicable == [s.name for s in KINDS.values() if s.needs != "predictions"]
    with pytest.raises(InvalidParameterError, match="records features") as refused:
        rd.fingerprint(features, "disagreement")
    assert refused.value.parameter == "kind"
    assert ", ".join(applicable) in str(refused.value)


def test_the_server_refuses_a_prediction_kind_of_features_with_the_api_s_words(tmp_path):
    features = make_run(tmp_path / "f", kind="features")
    client = TestClient(create_app(features.location))
    name = client.get("/api/runs").json()["runs"][0]["name"]
    answer = client.get(f"/api/runs/{name}/fingerprint?kind=class-transition")
    assert answer.status_code == 400
    body = answer.json()
    assert body["parameter"] == "kind"
    with pytest.raises(InvalidParameterError) as refused:
        rd.fingerprint(features, "class-transition")
    assert body["error"] == str(refused.value)


def test_the_overview_the_openapi_enum_and_the_cli_choices_come_from_the_table(run):
    client = TestClient(create_app(run.location))
    name = client.get("/api/runs").json()["runs"][0]["name"]
    overview = client.get(f"/api/runs/{name}").json()
    assert overview["fingerprint_kinds"] == list(KINDS)
    assert overview["fingerprint_specs"] == [spec.describe() for spec in KINDS.values()]
    schema = client.get("/openapi.json").json()
    enums = [
        p["schema"]["enum"]
        for path in schema["paths"].values()
        for op in path.values()
        for p in op.get("parameters", [])
        if p["name"] == "kind" and "enum" in p.get("schema", {})
    ]
    assert enums and all(e == list(KINDS) for e in enums)
    from reprdynamics.cli import main

    (option,) = [p for p in main.commands["analyse"].params if p.name == "kinds"]
    assert list(option.type.choices) == list(KINDS)


def test_a_kind_added_to_the_table_is_served_with_no_other_change(run, monkeypatch):
    # What "a new kind is 2 files" means: its function and its spec. Here the function is
    # a toy (the squared distance of the snapshots' mean representations).
    def toy(inputs):
        means = np.stack([inputs.run.read(inputs.layer, int(t)).mean(0) for t in inputs.snapshots])
        return {"matrix": ((means[:, None] - means[None]) ** 2).sum(-1)}

    spec = FingerprintKind("toy", "toy distance", "snapshot", "representations", toy)
    monkeypatch.setitem(KINDS, "toy", spec)
    fp = rd.fingerprint(run, "toy", use_cache=False)
    assert fp.matrix.shape == (T, T) and np.allclose(np.diag(fp.matrix), 0)
    client = TestClient(create_app(run.location))
    name = client.get("/api/runs").json()["runs"][0]["name"]
    overview = client.get(f"/api/runs/{name}").json()
    assert overview["fingerprint_specs"][-1]["label"] == "toy distance"
    # (The endpoints' parameter enum is built from the table when the server module loads,
    # which the previous test checks; a kind added to kinds.py is there from the start.)
