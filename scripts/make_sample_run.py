"""Regenerate the sample run bundled with the package (src/reprdynamics/sample_run).

Usage::

    python scripts/make_sample_run.py [--out DIR]

The sample is the digits demo (:func:`reprdynamics.demo.run_demo`) with 20 epochs and 10 %
label noise, stored as float16 so the package stays small (the script fails if the run
exceeds 5 MB). Training is seeded and single-threaded, so the arrays come out the same on a
given machine and torch build; the run's timestamps (``created``, ``wall_time``) differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import reprdynamics as rd
from reprdynamics.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "reprdynamics" / "sample_run"
MAX_BYTES = 5 * 1024 * 1024
SAMPLE = {
    "epochs": 20,
    "label_noise": 0.1,
    "seed": 0,
    "hidden_dim": 32,
    "batch_size": 64,
    "dtype": "float16",
}


def run_size(path: Path) -> int:
    """Bytes of every file under ``path`` (what a wheel would carry)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="run directory to write")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    path = run_demo(args.out, overwrite=True, **SAMPLE)
    # Marks the run as the package's own: analyses must not cache results into it.
    rd.open_run(path, mode="r+").update_metadata(bundled_sample=True)
    run = rd.open_run(path)
    size = run_size(path)
    n_files = sum(1 for f in path.rglob("*") if f.is_file())
    print(
        f"{run!r}\n{n_files} files, {size / 1024:.0f} KiB, made in "
        f"{time.perf_counter() - began:.1f} s"
    )
    if size > MAX_BYTES:
        print(f"error: the sample run is {size} bytes; it must stay under {MAX_BYTES}.")
        return 1
    if not run.complete.all():
        print("error: the sample run has incomplete snapshots.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
