"""Creating and replacing runs: a creation killed at any point leaves a run that is either
whole or recognised as half-made (and replaced by overwrite=True); overwrite removes only the
run's own files; links are refused with a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.errors import RunExistsError, RunNotFoundError
from reprdynamics.storage import create_run, is_run, open_run

N = 6

# The child creates a run and is killed (os._exit, no clean-up) when it writes the run's
# attributes, or, with "before", when it writes the first array.
CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from zarr.storage import LocalStore
    from reprdynamics.storage import create_run

    path, when = sys.argv[1], sys.argv[2]
    original = LocalStore.set

    async def set_then_die(self, key, value):
        root = key == "zarr.json"
        if (when == "attributes" and root and b"reprdynamics" in value.to_bytes()) or (
            when == "before" and key == "labels/zarr.json"
        ):
            os._exit(9)
        await original(self, key, value)

    LocalStore.set = set_then_die
    create_run(path, n_samples=6, labels=np.arange(6) % 2)
    os._exit(0)
    """
)


@pytest.mark.parametrize("when", ["attributes", "before"])
def test_a_creation_killed_midway_is_half_made_and_recovered(tmp_path: Path, when: str) -> None:
    path = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), when], timeout=120)
    assert proc.returncode == 9
    assert path.is_dir() and any(path.iterdir())
    assert not is_run(path)
    with pytest.raises(RunNotFoundError, match=r"creation of a run .* was interrupted"):
        open_run(path)
    with pytest.raises(RunExistsError, match=r"interrupted.*overwrite=True"):
        rd.Recorder(path, n_samples=N)
    with rd.Recorder(path, n_samples=N, overwrite=True) as rec:
        rec.store_batch(np.ones((N, 2)), ids=np.arange(N), epoch=0)
    assert open_run(path).n_snapshots == 1


def test_the_attributes_are_written_once_as_one_object(tmp_path: Path) -> None:
    path = tmp_path / "run"
    create_run(path, n_samples=N, labels=np.zeros(N, int), metadata={"lr": 0.1})
    attrs = json.loads((path / "zarr.json").read_text())["attributes"]
    assert attrs["format"] == "reprdynamics" and attrs["n_samples"] == N
    run = open_run(path, mode="r+")
    run.update_metadata(seed=3)  # later writes keep every attribute
    assert open_run(path).metadata == {"lr": 0.1, "seed": 3}
    assert open_run(path).n_samples == N


def test_a_half_made_run_of_earlier_code_is_recognised(tmp_path: Path) -> None:
    """Attributes written one by one: killed after the format, before n_samples."""
    path = tmp_path / "run"
    create_run(path, n_samples=N)
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"] = {"format": "reprdynamics", "format_version": 2}
    meta.write_text(json.dumps(doc))
    with pytest.raises(RunExistsError, match="interrupted"):
        create_run(path, n_samples=N)
    create_run(path, n_samples=N + 1, overwrite=True)
    assert open_run(path).n_samples == N + 1


def test_overwrite_keeps_the_users_files_beside_the_run(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with rd.Recorder(path, n_samples=N) as rec:
        rec.store_batch(np.ones((N, 2)), ids=np.arange(N), epoch=0)
    (path / "NOTES.md").write_text("lr 0.1 diverged")
    (path / "configs").mkdir()
    (path / "configs" / "train.yaml").write_text("lr: 0.1")
    with rd.Recorder(path, n_samples=N + 2, overwrite=True) as rec:
        rec.store_batch(np.ones((N + 2, 3)), ids=np.arange(N + 2), epoch=0)
    assert (path / "NOTES.md").read_text() == "lr 0.1 diverged"
    assert (path / "configs" / "train.yaml").read_text() == "lr: 0.1"
    run = open_run(path)
    assert run.n_samples == N + 2 and run.n_snapshots == 1 and run.layer_dim("logits") == 3


def test_a_link_to_a_run_is_refused_not_an_oserror(tmp_path: Path) -> None:
    target = tmp_path / "run"
    create_run(target, n_samples=N).append_snapshot({"logits": np.ones((N, 2))})
    link = tmp_path / "link"
    os.symlink(target, link)
    with pytest.raises(RunExistsError, match=r"symbolic link.*Pass the directory it points to"):
        rd.Recorder(link, n_samples=N, overwrite=True)
    assert open_run(target).n_snapshots == 1  # nothing was deleted
    assert open_run(link).n_snapshots == 1  # reading through a link is fine


def test_foreign_data_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine"
    path.mkdir()
    (path / "thesis.tex").write_text("...")
    with pytest.raises(RunExistsError, match="holds no ReprDynamics run"):
        create_run(path, n_samples=N, overwrite=True)
    assert (path / "thesis.tex").read_text() == "..."
