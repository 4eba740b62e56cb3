"""SampleTable.to_pandas / to_parquet and Fingerprint.to_pandas: the same numbers as the
table, the CSV and the fingerprint, the CSV's empty cells as missing values, and one
install hint when pandas or pyarrow is missing."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import frames
from reprdynamics.errors import DependencyMissingError, InvalidParameterError

pd = pytest.importorskip("pandas")

N, C, T = 30, 3, 5


def make_run(path: Path, *, labels: bool = True, epochs: list[int] | None = None) -> Path:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, C, N)
    gold[[2, 11, 17]] = -1  # unknown labels: their label-based cells have no value
    run = rd.storage.create_run(path, n_samples=N, labels=gold if labels else None)
    for t, epoch in enumerate(epochs or range(T)):
        logits = np.eye(C)[np.maximum(gold, 0)] * t + rng.normal(size=(N, C))
        hidden = rng.normal(size=(N, 4)) + 0.2 * t
        run.append_snapshot(
            {"logits": logits.astype(np.float32), "hidden": hidden}, epoch=epoch, metrics={}
        )
    run.write_extra("label_flipped", np.arange(N) % 7 == 0)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("frames") / "run")


@pytest.fixture(scope="module")
def table(run_dir: Path) -> rd.SampleTable:
    return rd.sample_dynamics(run_dir, neighbour_k=3, neighbour_layer="hidden")


def csv_rows(table: rd.SampleTable, columns=None) -> list[dict[str, str]]:
    out = io.StringIO()
    table.to_csv(out, columns=columns)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def cell(value) -> str:
    """A frame's cell as the CSV writes it."""
    if pd.isna(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(int(value))


# --------------------------------------------------------------------------- to_pandas
def test_the_frame_holds_the_csv(table: rd.SampleTable) -> None:
    df = table.to_pandas()
    assert df.index.name == "id" and df.index.tolist() == table.ids.tolist()
    assert list(df.columns) == table.all_columns()[1:]  # id is the index
    assert "label_flipped" in df.columns and "neighbour_stability" in df.columns
    rows = csv_rows(table)
    for position, row in enumerate(rows):
        assert int(row["id"]) == df.index[position]
        for name in df.columns:
            assert cell(df[name].iloc[position]) == row[name], (name, position)


def test_values_and_dtypes(table: rd.SampleTable) -> None:
    df = table.to_pandas()
    known = table.dynamics.known_label
    assert str(df["label"].dtype) == "Int64"
    assert str(df["forgetting_events"].dtype) == "Int64"
    assert str(df["first_learned"].dtype) == "Int64"
    assert str(df["never_learned"].dtype) == "boolean"
    assert df["aum"].dtype == np.float64 and df["label_flipped"].dtype == np.bool_
    assert df["prediction"].dtype == table["prediction"].dtype
    # Samples without a label: every label-based cell is missing, the rest is not.
    for name in ("label", "aum", "confidence", "never_learned", "forgetting_events"):
        assert df[name].isna().to_numpy().tolist() == (~known).tolist(), name
    assert not df["prediction"].isna().any() and not df["entropy_mean"].isna().any()
    np.testing.assert_array_equal(df["aum"].to_numpy()[known], table["aum"][known])
    np.testing.assert_array_equal(
        df["never_learned"].to_numpy()[known].astype(bool), table["never_learned"][known]
    )
    np.testing.assert_array_equal(df["label"].to_numpy()[known].astype(int), table["label"][known])
    np.testing.assert_array_equal(df["neighbour_stability"], table["neighbour_stability"])
    np.testing.assert_array_equal(df["label_flipped"], table["label_flipped"])


def test_columns_and_selections(run_dir: Path, table: rd.SampleTable) -> None:
    assert table.to_pandas(columns=["aum", "id", "label"]).columns.tolist() == ["aum", "label"]
    only_index = table.to_pandas(columns=["id"])
    assert only_index.shape == (N, 0) and only_index.index.tolist() == table.ids.tolist()
    some = rd.sample_dynamics(run_dir, samples=[29, 3, 8], neighbour_k=None)
    df = some.to_pandas()
    assert df.index.tolist() == some.ids.tolist()
    np.testing.assert_array_equal(df["entropy_last"], some["entropy_last"])
    assert df.loc[some.ids[0], "prediction"] == some["prediction"][0]
    assert table.take([4, 1]).to_pandas().index.tolist() == [4, 1]


@pytest.mark.parametrize("columns", [["nope"], [], ["aum", "aum"], ["id", "id", "aum"]])
def test_bad_columns_name_the_parameter(table: rd.SampleTable, columns) -> None:
    with pytest.raises(InvalidParameterError, match=r"'columns' parameter of SampleTable\.to_"):
        table.to_pandas(columns=columns)


def test_a_table_without_labels(tmp_path: Path) -> None:
    table = rd.sample_dynamics(make_run(tmp_path / "run", labels=False), neighbour_k=None)
    df = table.to_pandas()
    assert list(df.columns) == table.all_columns()[1:]
    assert "label" not in df.columns and "aum" not in df.columns
    assert not df.isna().to_numpy().any()


# --------------------------------------------------------------------------- to_parquet
def test_parquet_holds_the_table(table: rd.SampleTable, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    table.to_parquet(tmp_path / "table.parquet")
    got = pq.read_table(tmp_path / "table.parquet")
    assert got.column_names == table.all_columns()
    rows = csv_rows(table)
    data = got.to_pydict()
    for position, row in enumerate(rows):
        for name in got.column_names:
            value = data[name][position]
            assert ("" if value is None else cell(value)) == row[name], (name, position)
    assert got.schema.field("never_learned").type == "bool"
    assert got.schema.field("label").type == "int64"


def test_parquet_columns_and_buffers(table: rd.SampleTable) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = io.BytesIO()
    table.to_parquet(out, columns=["aum", "id"])
    got = pq.read_table(io.BytesIO(out.getvalue())).to_pydict()
    assert list(got) == ["aum", "id"] and got["id"] == table.ids.tolist()
    with pytest.raises(InvalidParameterError, match=r"SampleTable\.to_parquet"):
        table.to_parquet(io.BytesIO(), columns=["nope"])


def test_the_server_writes_the_same_parquet(table: rd.SampleTable) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from reprdynamics.server import tables

    columns = ["id", "label", "aum", "never_learned", "label_flipped"]
    served = pq.read_table(io.BytesIO(tables.table_parquet(table, columns)))
    out = io.BytesIO()
    table.to_parquet(out, columns=columns)
    assert served.equals(pq.read_table(io.BytesIO(out.getvalue())))


# --------------------------------------------------------------------------- fingerprints
def test_fingerprint_frame_of_transitions(run_dir: Path) -> None:
    fp = rd.fingerprint(run_dir, "class-transition")
    df = fp.to_pandas()
    assert df.shape == fp.matrix.shape == (T - 1, T - 1)
    np.testing.assert_array_equal(df.to_numpy(), fp.matrix)
    assert df.index.tolist() == df.columns.tolist() == fp.labels == ["0→1", "1→2", "2→3", "3→4"]
    assert df.index.name == df.columns.name == "transition"
    assert df.loc["1→2", "3→4"] == fp.matrix[1, 3]
    assert df.attrs["kind"] == "class-transition" and df.attrs["transition"] is True
    assert df.attrs["layer"] == "logits" and "k" not in df.attrs
    assert df.attrs["snapshots"] == fp.snapshots.tolist()
    json.dumps(df.attrs)


def test_fingerprint_frame_of_snapshots_with_k(run_dir: Path) -> None:
    fp = rd.fingerprint(run_dir, "neighbour-state", k=3, layer="hidden")
    df = fp.to_pandas()
    assert df.index.name == "snapshot" and df.index.tolist() == [str(t) for t in range(T)]
    assert df.attrs["k"] == 3 and df.attrs["layer"] == "hidden"
    assert df.attrs["params"]["metric"] == "euclidean"
    np.testing.assert_array_equal(df.to_numpy(), fp.matrix)
    json.dumps(df.attrs)


def test_fingerprint_frame_by_snapshot_stays_unique(tmp_path: Path) -> None:
    """Two snapshots per epoch: labels repeat, snapshot indices do not."""
    run_dir = make_run(tmp_path / "run", epochs=[0, 0, 1, 1, 2])
    fp = rd.fingerprint(run_dir, "disagreement")
    assert fp.to_pandas().index.tolist() == ["0", "0", "1", "1", "2"]
    by_snapshot = fp.to_pandas(index="snapshot")
    assert by_snapshot.index.tolist() == list(range(T)) and by_snapshot.index.is_unique
    assert by_snapshot.loc[1, 3] == fp.matrix[1, 3]
    with pytest.raises(InvalidParameterError, match=r"'index' parameter of Fingerprint\.to_pandas"):
        fp.to_pandas(index="epoch")


# --------------------------------------------------------------------------- extras
def test_without_pandas_one_install_hint(
    run_dir: Path, table: rd.SampleTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp = rd.fingerprint(run_dir, "disagreement")
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    for convert, feature in ((table.to_pandas, "SampleTable"), (fp.to_pandas, "Fingerprint")):
        with pytest.raises(DependencyMissingError) as info:
            convert()
        assert isinstance(info.value, ImportError)
        assert str(info.value) == (
            f"{feature}.to_pandas needs the optional dependency 'pandas', which is not "
            "installed. Install it with: pip install 'reprdynamics[pandas]'"
        )


def test_without_pyarrow_one_install_hint(
    table: rd.SampleTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(DependencyMissingError) as info:
        table.to_parquet(tmp_path / "table.parquet")
    assert str(info.value) == (
        "SampleTable.to_parquet needs the optional dependency 'pyarrow', which is not "
        "installed. Install it with: pip install 'reprdynamics[parquet]'"
    )
    assert not (tmp_path / "table.parquet").exists()


def test_the_module_names_its_conversions() -> None:
    assert set(frames.__all__) == {
        "fingerprint_frame",
        "masked_columns",
        "parquet_table",
        "sample_frame",
        "write_parquet",
    }
