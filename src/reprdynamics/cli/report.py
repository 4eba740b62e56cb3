"""``reprdynamics report``: the findings of a run as one self-contained HTML file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from reprdynamics.cli._common import (
    BadUsage,
    check_storage_options,
    friendly_errors,
    is_url_target,
    neighbour_options,
    progress_option,
    raise_if_corrupt_run,
    storage_options_option,
)
from reprdynamics.cli._main import main
from reprdynamics.cli.analyse import ProgressBar
from reprdynamics.cli.info import human_size


def _output_problem(path: Path, what: str) -> str | None:
    """Why a file cannot be written at ``path``, or None; checked before minutes of work.

    The directory is tried for real (a temporary file made and removed), so a read-only
    file system or a missing permission is found even where ``os.access`` says yes.
    """
    import tempfile

    if path.is_dir():
        return f"cannot write the {what} to {str(path)!r}: it is a directory; name a file."
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        return (
            f"cannot write the {what} to {str(path)!r}: the directory {str(parent)!r} "
            "does not exist."
        )
    if not parent.is_dir():
        return f"cannot write the {what} to {str(path)!r}: {str(parent)!r} is not a directory."
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
        if path.exists():
            with open(path, "ab"):
                pass
    except OSError as exc:
        return f"cannot write the {what} to {str(path)!r}: {exc.strerror or exc}."
    return None


def _png_problem(directory: Path) -> str | None:
    if directory.exists() and not directory.is_dir():
        return f"cannot write PNGs into {str(directory)!r}: it is not a directory."
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot write PNGs into {str(directory)!r}: {str(existing)!r} is not a directory."
    # The directory, or the nearest one above it that exists (where it will be made).
    return _output_problem(existing / "figure.png", "PNGs")


@main.command()
@click.argument("run_or_root", required=False)
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    metavar="FILE",
    help="The HTML file to write (one self-contained file: no network request when opened).",
)
@click.option(
    "--png",
    "png_dir",
    default=None,
    metavar="DIR",
    help="Also draw every figure as DIR/<figure>.png (made if missing).",
)
@neighbour_options
@progress_option
@storage_options_option
@friendly_errors
def report(
    run_or_root: str | None,
    out: str,
    png_dir: str | None,
    k: int,
    layer: str | None,
    top: int,
    progress: bool | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """Write a self-contained HTML report of a run or a directory of runs.

    RUN_OR_ROOT is a run, a directory of runs (compared side by side) or a run's URL
    (s3://bucket/run); without it, the bundled sample run. The report holds the run's
    facts and metrics, every fingerprint with its phase changes and a reading, the RQA
    table and NNTF band sweep, the data map, the most-changed and suspected-mislabeled
    samples, and the precision of the mislabel ranking when the run knows its flipped
    labels. --png DIR also writes each figure as a PNG.
    """
    from reprdynamics.report import build_report

    check_storage_options(run_or_root, storage_options)
    target = Path(out)
    problem = _output_problem(target, "report")
    if problem is None and png_dir is not None:
        problem = _png_problem(Path(png_dir))
    if problem is not None:
        raise BadUsage(problem)
    if run_or_root is None:
        from reprdynamics.sample import sample_run_path

        run_or_root = str(sample_run_path())
    elif not is_url_target(run_or_root):
        if not Path(run_or_root).exists():
            raise click.ClickException(f"No run or directory of runs at {run_or_root!r}.")
        raise_if_corrupt_run(run_or_root)
    bar = ProgressBar(sys.stderr.isatty() if progress is None else progress)
    began = time.perf_counter()

    def skip(name: str, exc: Exception) -> None:
        click.echo(f"Skipping the run {name!r}: {exc}", err=True)

    built = build_report(
        run_or_root,
        k=k,
        layer=layer,
        top=top,
        progress=bar,
        storage_options=storage_options,
        on_error=skip,
    )
    try:
        built.write_html(target)
        pngs = built.write_pngs(png_dir) if png_dir is not None else []
    except OSError as exc:
        where = exc.filename or out
        raise click.ClickException(f"cannot write {str(where)!r}: {exc.strerror or exc}.") from None
    size = target.stat().st_size
    line = (
        f"Wrote {out} ({human_size(size)}; "
        f"{len(built.runs)} run{'s' if len(built.runs) != 1 else ''},"
        f" {len(built.figures)} figures) in {time.perf_counter() - began:.1f} s"
    )
    if pngs:
        line += f"; {len(pngs)} PNGs in {png_dir}"
    click.echo(line)
    if built.skipped:
        raise click.ClickException(
            f"{len(built.skipped)} run(s) could not be reported: "
            + "; ".join(f"{name} ({why})" for name, why in built.skipped.items())
        )
