"""``reprdynamics info`` and ``reprdynamics cache info | clear``: what a run holds."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
import numpy as np

from reprdynamics.cli._common import check_storage_options, friendly_errors, storage_options_option
from reprdynamics.cli._main import main
from reprdynamics.errors import CorruptRunError


def describe_run(run: Any, *, decode: bool = False) -> dict[str, Any]:
    """Everything `info` prints, as plain data (also the `--json` output)."""
    complete = run.complete
    damaged = [d.to_dict() for d in run.verify(decode=decode)]
    try:
        labels = run.labels
    except CorruptRunError:
        labels = None  # named among the damage
    facts: dict[str, Any] = {
        "location": run.location,
        "format_version": run.attrs.get("format_version"),
        "created": run.created,
        "kind": run.kind,
        "n_snapshots": run.n_snapshots,
        "n_samples": run.n_samples,
        "layers": {
            name: {
                "dim": run.layer_dim(name),
                "dtype": str(run.layer_dtype(name)),
                "kind": run.layer_kind(name),
            }
            for name in run.layers
        },
        "epochs": run.epochs,
        "metrics": {
            name: [None if v != v else round(float(v), 6) for v in run.metric(name)]
            for name in run.metric_names
        },
        "complete": [bool(c) for c in complete],
        "n_complete": int(complete.sum()),
        "labels": None,
        "class_names": run.class_names,
        "inputs": list(run.inputs_shape) if run.inputs_shape else None,
        "extras": run.extras,
        "metadata": run.metadata,
        "damaged": damaged,
        "damaged_snapshots": sorted({d["snapshot"] for d in damaged if d["snapshot"] is not None}),
        "verified": "decoded" if decode else "listed",
    }
    if labels is not None:
        known = labels[labels >= 0]
        classes, counts_ = np.unique(known, return_counts=True)
        counts = {int(c): int(n) for c, n in zip(classes, counts_, strict=True)}
        facts["labels"] = {
            "n_known": int(known.size),
            "n_unknown": int((labels < 0).sum()),
            "per_class": counts,
        }
    return facts


def print_info(facts: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"Run        {facts['location']}")
    echo(f"Format     reprdynamics v{facts['format_version']}, created {facts['created']}")
    echo(f"Snapshots  T = {facts['n_snapshots']} ({facts['n_complete']} complete)")
    echo(f"Samples    N = {facts['n_samples']}")
    echo(f"Kind       {facts['kind']}")
    for name, layer in facts["layers"].items():
        echo(f"Layer      {name}: D = {layer['dim']} ({layer['dtype']}, {layer['kind']})")
    epochs = facts["epochs"]
    if epochs:
        shown = epochs if len(epochs) <= 12 else [*epochs[:5], "...", *epochs[-5:]]
        echo(f"Epochs     {', '.join(str(e) for e in shown)}")
    for name, values in facts["metrics"].items():
        finite = [v for v in values if v is not None]
        if finite:
            echo(
                f"Metric     {name}: first {finite[0]:.4g}, last {finite[-1]:.4g}, "
                f"min {min(finite):.4g}, max {max(finite):.4g}"
            )
    labels = facts["labels"]
    if labels is None:
        echo("Labels     none")
    else:
        echo(
            f"Labels     {labels['n_known']} known, {labels['n_unknown']} unknown, "
            f"{len(labels['per_class'])} classes"
        )
    if facts["class_names"]:
        echo(f"Classes    {', '.join(facts['class_names'])}")
    echo(f"Inputs     {'x'.join(map(str, facts['inputs'])) if facts['inputs'] else 'none'}")
    incomplete = [i for i, c in enumerate(facts["complete"]) if not c]
    echo(f"Complete   {'all' if not incomplete else 'all but ' + ', '.join(map(str, incomplete))}")
    if facts["extras"]:
        echo(f"Extras     {', '.join(facts['extras'])}")
    if facts["metadata"]:
        echo(f"Metadata   {json.dumps(facts['metadata'], sort_keys=True)}")
    if not facts["damaged"]:
        how = "every chunk decoded" if facts["verified"] == "decoded" else "no chunk missing"
        echo(f"Damaged    none ({how})")
        return
    snaps = facts["damaged_snapshots"]
    if snaps:
        echo(f"Damaged    snapshots {', '.join(map(str, snaps))} (the others read as recorded)")
    for d in facts["damaged"]:
        where = f"snapshot {d['snapshot']}, " if d["snapshot"] is not None else ""
        echo(f"  damage   {where}{d['array']}: {d['problem']}")


@main.command()
@click.argument("run", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--verify",
    is_flag=True,
    help="Decode every stored chunk to find damaged ones (reads the whole run); without "
    "it, missing chunks are found from a listing.",
)
@storage_options_option
@friendly_errors
def info(
    run: str | None, as_json: bool, verify: bool, storage_options: dict[str, Any] | None
) -> None:
    """Describe RUN, a directory or a URL (default: the bundled sample run), and name its
    damaged snapshots, if any (exit code 1 when there are)."""
    from reprdynamics.storage import open_run

    check_storage_options(run, storage_options)
    if run is None:
        from reprdynamics.sample import sample_run_path

        run = str(sample_run_path())
    facts = describe_run(open_run(run, storage_options=storage_options), decode=verify)
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        print_info(facts)
    if facts["damaged"]:
        sys.exit(1)


def human_size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


@main.group()
def cache() -> None:
    """Show or empty the cache of derived results kept inside a run."""


@cache.command("info")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@storage_options_option
@friendly_errors
def cache_info(run: str, as_json: bool, storage_options: dict[str, Any] | None) -> None:
    """List the cache's entries of RUN, least recently used first, with its bound."""
    from reprdynamics.storage import open_run

    check_storage_options(run, storage_options)
    opened = open_run(run, storage_options=storage_options)
    entries = opened.cache_entries()
    facts = {
        "location": opened.location,
        "limit": opened.cache_limit,
        "nbytes": sum(e.nbytes for e in entries),
        "recorded_nbytes": opened.recorded_nbytes,
        "entries": [e.to_dict() for e in entries],
    }
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    click.echo(
        f"Cache of {opened.location}: {len(entries)} entries, {human_size(facts['nbytes'])} "
        f"of at most {human_size(facts['limit'])} "
        f"(the run records {human_size(opened.recorded_nbytes)})"
    )
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.used)) if e.used else "never"
        state = "current" if e.current else ("stale" if e.complete else "unfinished")
        click.echo(f"  {e.key:<34} {human_size(e.nbytes):>10}  used {used}  {state}")


@cache.command("clear")
@click.argument("run")
@click.option("--name", default=None, help="Only the entries of this result (e.g. neighbours).")
@storage_options_option
@friendly_errors
def cache_clear(run: str, name: str | None, storage_options: dict[str, Any] | None) -> None:
    """Delete the cache's entries of RUN (they are recomputed when next needed)."""
    from reprdynamics.storage import open_run

    check_storage_options(run, storage_options)
    opened = open_run(run, mode="r+", storage_options=storage_options)
    count = sum(1 for e in opened.cache_entries() if name is None or e.name == name)
    freed = opened.cache_clear(name)
    click.echo(f"Removed {count} cache entries ({human_size(freed)}) from {opened.location}.")
