"""The command line: ``reprdynamics info | demo | import-legacy | analyse | report | serve |
cache``.

Every command validates its arguments and reports problems as one clear line (exit code
2 for bad usage, 1 for a failure), never a traceback, unless ``REPRDYNAMICS_DEBUG=1``.
``info``, ``analyse`` and ``serve`` also take a run's URL (``s3://bucket/run``), with
``--storage-options JSON`` or credentials from the environment.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from reprdynamics.analysis.kinds import KINDS
from reprdynamics.errors import CorruptRunError, ReprDynamicsError

__all__ = ["legacy_main", "main"]

_PORT_HELP = "Port to listen on."
_HOST_HELP = "Address to bind; anything but loopback exposes your runs to the network."


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors (and missing files) into one-line messages instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ReprDynamicsError, FileNotFoundError, PermissionError, ValueError) as exc:
            if os.environ.get("REPRDYNAMICS_DEBUG"):
                raise
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            # An object store failing mid-command (botocore's errors are not OSErrors).
            from reprdynamics.storage.remote import storage_error

            error = storage_error(exc)
            if error is None or os.environ.get("REPRDYNAMICS_DEBUG"):
                raise
            raise click.ClickException(str(error)) from exc

    return wrapper


class _BadUsage(click.ClickException):
    """A one-line error that exits with code 2 (bad usage), like click's own."""

    exit_code = 2


def _bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be bound now, or None (the socket is closed again)."""
    # As uvicorn binds: IPv6 for a host with a colon, SO_REUSEADDR so that a port left in
    # TIME_WAIT by a stopped server counts as free (uvicorn would take it).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return exc
    return None


def _port_problem(host: str, port: int) -> str | None:
    """What stops a server from listening on ``host:port``, with a hint; None if nothing.

    Checked before uvicorn starts, which would only log ``[Errno 98] address already in
    use`` and stop. A port taken between this check and uvicorn's bind still fails there.
    """
    error = _bind_error(host, port)
    if error is None:
        return None
    if error.errno == errno.EADDRINUSE:
        free = next(
            (p for p in range(port + 1, min(port + 100, 65535) + 1) if not _bind_error(host, p)),
            None,
        )
        hint = f"try --port {free}" if free is not None else "choose another --port"
        return f"port {port} is in use on {host}; {hint}."
    return f"cannot listen on {host}:{port}: {error.strerror or error}."


def _check_port(host: str, port: int) -> None:
    problem = _port_problem(host, port)
    if problem is not None:
        raise _BadUsage(problem)


def _corrupt_run(path: str | os.PathLike[str]) -> CorruptRunError | None:
    """The error for a local directory that is a damaged run, not a directory of runs.

    ``is_run`` answers False for a run whose root ``zarr.json`` is truncated (or lost its
    ``format`` attribute), which would then be read as an empty directory of runs. A
    ``zarr.json`` that is not a JSON object, or one without our format beside a run's
    arrays, is a damaged run instead.
    """
    from reprdynamics.storage.run import FORMAT_NAME

    directory = Path(path)
    meta = directory / "zarr.json"
    try:
        if not meta.is_file():
            return None
        raw = meta.read_bytes()
    except OSError:
        return None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )
        return CorruptRunError(
            f"The run at {str(directory)!r} is corrupt: its zarr.json is not valid JSON "
            f"({detail}); the file may be truncated, e.g. by a crash while it was written."
        )
    if not isinstance(document, dict) or not isinstance(document.get("attributes", {}), dict):
        return CorruptRunError(
            f"The run at {str(directory)!r} is corrupt: its zarr.json is not a Zarr group's "
            f"metadata (a JSON object with an 'attributes' object)."
        )
    if document.get("attributes", {}).get("format") == FORMAT_NAME:
        return None
    arrays = sorted(
        name
        for name in ("representations", "snapshots", "complete", "predictions")
        if (directory / name).is_dir()
    )
    if not arrays:
        return None  # some other Zarr group, not ours
    return CorruptRunError(
        f"The run at {str(directory)!r} is corrupt: its zarr.json lacks the attribute "
        f"'format': {FORMAT_NAME!r}, although the directory holds a run's arrays "
        f"({', '.join(arrays)})."
    )


def _raise_if_corrupt_run(path: str) -> None:
    if not _is_url(path):
        error = _corrupt_run(path)
        if error is not None:
            raise error


def _parse_storage_options(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, Any] | None:
    # The value may hold a secret: messages never repeat it.
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"is not valid JSON ({exc}); give a JSON object such as '{{\"anon\": true}}'."
        ) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"must be a JSON object, not a JSON {type(parsed).__name__}.")
    return parsed


def _storage_options_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--storage-options",
        "storage_options",
        metavar="JSON",
        default=None,
        callback=_parse_storage_options,
        help="fsspec storage options for a run URL, as a JSON object, e.g. "
        '\'{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}\'. Without it s3:// '
        "reads credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_ENDPOINT_URL and AWS_DEFAULT_REGION.",
    )(func)


def _is_url(target: str) -> bool:
    from reprdynamics.storage.remote import is_url

    return is_url(target)


def _check_storage_options(target: str | None, storage_options: dict[str, Any] | None) -> None:
    if storage_options and not (target and _is_url(target)):
        raise click.BadParameter(
            "is only used with a run's URL (s3://bucket/run ...); "
            f"got {target or 'no location'!r}.",
            param_hint="--storage-options",
        )


def _describe(run: Any, *, decode: bool = False) -> dict[str, Any]:
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


def _print_info(facts: dict[str, Any]) -> None:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reprdynamics")
def main() -> None:
    """ReprDynamics: how a classification network's view of its data changes in training."""


@main.command()
@click.argument("run", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--verify",
    is_flag=True,
    help="Decode every stored chunk to find damaged ones (reads the whole run); without "
    "it, missing chunks are found from a listing.",
)
@_storage_options_option
@_friendly_errors
def info(
    run: str | None, as_json: bool, verify: bool, storage_options: dict[str, Any] | None
) -> None:
    """Describe RUN, a directory or a URL (default: the bundled sample run), and name its
    damaged snapshots, if any (exit code 1 when there are)."""
    from reprdynamics.storage import open_run

    _check_storage_options(run, storage_options)
    if run is None:
        from reprdynamics.sample import sample_run_path

        run = str(sample_run_path())
    facts = _describe(open_run(run, storage_options=storage_options), decode=verify)
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        _print_info(facts)
    if facts["damaged"]:
        sys.exit(1)


def _size(nbytes: float) -> str:
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
@_storage_options_option
@_friendly_errors
def cache_info(run: str, as_json: bool, storage_options: dict[str, Any] | None) -> None:
    """List the cache's entries of RUN, least recently used first, with its bound."""
    from reprdynamics.storage import open_run

    _check_storage_options(run, storage_options)
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
        f"Cache of {opened.location}: {len(entries)} entries, {_size(facts['nbytes'])} "
        f"of at most {_size(facts['limit'])} (the run records {_size(opened.recorded_nbytes)})"
    )
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.used)) if e.used else "never"
        state = "current" if e.current else ("stale" if e.complete else "unfinished")
        click.echo(f"  {e.key:<34} {_size(e.nbytes):>10}  used {used}  {state}")


@cache.command("clear")
@click.argument("run")
@click.option("--name", default=None, help="Only the entries of this result (e.g. neighbours).")
@_storage_options_option
@_friendly_errors
def cache_clear(run: str, name: str | None, storage_options: dict[str, Any] | None) -> None:
    """Delete the cache's entries of RUN (they are recomputed when next needed)."""
    from reprdynamics.storage import open_run

    _check_storage_options(run, storage_options)
    opened = open_run(run, mode="r+", storage_options=storage_options)
    count = sum(1 for e in opened.cache_entries() if name is None or e.name == name)
    freed = opened.cache_clear(name)
    click.echo(f"Removed {count} cache entries ({_size(freed)}) from {opened.location}.")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="runs/demo",
    show_default=True,
    help="Where to write the run.",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=15, show_default=True)
@click.option(
    "--label-noise",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Fraction of training labels to flip (known truth).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--overwrite/--no-overwrite",
    default=False,
    show_default=True,
    help="Replace an existing run at --out (without it an existing run is left alone).",
)
@click.option("--no-serve", is_flag=True, help="Only record the run; do not start the dashboard.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help=_PORT_HELP
)
@_friendly_errors
def demo(
    out: str, epochs: int, label_noise: float, seed: int, overwrite: bool, no_serve: bool, port: int
) -> None:
    """Train a small CNN on scikit-learn's digits images and record a run."""
    from reprdynamics.demo import run_demo
    from reprdynamics.storage import is_run

    # Checked before the minutes of training, which would otherwise be lost.
    if is_run(out) and not overwrite:
        raise click.ClickException(
            f"A run already exists at {out!r}; it was left unchanged. Pass --overwrite to "
            "replace it, or choose another --out."
        )
    if not no_serve:
        _check_port("127.0.0.1", port)
    path = run_demo(
        out,
        epochs=epochs,
        label_noise=label_noise,
        seed=seed,
        overwrite=overwrite,
        progress=click.echo,
    )
    click.echo(f"Recorded run: {path}")
    if no_serve:
        click.echo(f"Inspect it with: reprdynamics info {path}")
        return
    _serve_or_explain(str(path), host="127.0.0.1", port=port, open_browser=False)


def _serve_or_explain(target: str, *, host: str, port: int, open_browser: bool) -> None:
    try:
        from reprdynamics.server.app import serve as serve_app
    except ImportError:
        click.echo(
            "The dashboard is not part of this release yet. The run is ready for analysis:\n"
            f"  reprdynamics info {target}\n"
            f"  reprdynamics analyse {target}"
        )
        return
    _check_port(host, port)
    serve_app(target, host=host, port=port, open_browser=open_browser)


class _Progress:
    """A one-line progress bar on stderr (only where stderr is a terminal, or when forced)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = ""

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}"
        click.echo(line.ljust(len(self._last)), nl=False, err=True)
        self._last = line
        if done >= total:
            click.echo("", err=True)
            self._last = ""


_RQA_COLUMNS = ("rr", "det", "l_mean", "l_max", "entr", "lam", "tt", "v_max")


def _analyse_run(
    run: Any,
    kinds: list[str],
    k: int,
    layer: str | None,
    top: int,
    progress: Any,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Everything `analyse` reports for one run, as plain data."""
    from reprdynamics.analysis import api
    from reprdynamics.analysis.summary import fingerprint_recurrence

    report: dict[str, Any] = {
        "run": run.location,
        "n_snapshots": run.n_snapshots,
        "n_samples": run.n_samples,
        "n_complete": int(run.complete.sum()),
        "metadata": run.metadata,
        "fingerprints": {},
    }
    accuracy = run.metric("accuracy")
    if accuracy.size and np.isfinite(accuracy).any():
        report["final_accuracy"] = float(accuracy[np.isfinite(accuracy)][-1])
    for kind in kinds:
        if not KINDS[kind].applies_to(run):
            continue
        fp = api.fingerprint(run, kind, k=k, layer=layer, progress=progress, scheduler=scheduler)
        rqa, sweep = fingerprint_recurrence(fp)
        report["fingerprints"][kind] = {
            "labels": fp.labels,
            "matrix": fp.matrix.round(6).tolist(),
            "rqa": rqa.to_dict(),
            "nntf": {
                "laminarity": sweep.best_laminarity,
                "laminarity_band": sweep.best_laminarity_start,
                "entropy": sweep.best_entropy,
                "entropy_band": sweep.best_entropy_start,
            },
            "phase_changes": api.phase_changes_of(fp),
        }
    if run.kind != "features" or run.n_samples > k:
        table = api.sample_dynamics(
            run,
            neighbour_k=k if run.n_samples > k else None,
            neighbour_layer=layer,
            progress=progress,
            scheduler=scheduler,
        )
        labels = run.labels
        samples: dict[str, Any] = {}
        if table.dynamics.neighbour_stability is not None:
            ids = table.most_changed(top)
            samples["most_changed"] = [
                {
                    "id": int(i),
                    "label": None if labels is None else int(labels[i]),
                    "neighbour_stability": float(table["neighbour_stability"][i]),
                }
                for i in ids
            ]
        if table.dynamics.aum is not None:
            ids = table.suspected_mislabeled(top)
            samples["suspected_mislabeled"] = [
                {
                    "id": int(i),
                    "label": int(labels[i]),
                    "prediction": int(table["prediction"][i]),
                    "aum": float(table["aum"][i]),
                }
                for i in ids
            ]
            if "label_flipped" in table.extras:
                flipped = table.extras["label_flipped"].astype(bool)
                n_flipped = int(flipped.sum())
                if n_flipped:
                    ranked = table.suspected_mislabeled(n_flipped)
                    samples["label_noise_check"] = {
                        "flipped": n_flipped,
                        "precision_at_flipped": float(flipped[ranked].mean()),
                        "chance": n_flipped / flipped.size,
                    }
            samples["never_learned"] = int(table["never_learned"].sum())
        report["samples"] = samples
    return report


def _print_analysis(report: dict[str, Any]) -> None:
    echo = click.echo
    echo(
        f"Run {report['run']}: T = {report['n_snapshots']} ({report['n_complete']} complete), "
        f"N = {report['n_samples']}"
    )
    header = f"{'fingerprint':<22}" + "".join(f"{c:>8}" for c in _RQA_COLUMNS) + f"{'eps':>8}"
    echo("\nRecurrence quantification (threshold: 10% recurrence rate, Theiler window 1)")
    echo(header)
    for kind, fp in report["fingerprints"].items():
        r = fp["rqa"]
        cells = "".join(
            f"{r[c]:>8.3f}" if isinstance(r[c], float) else f"{r[c]:>8}" for c in _RQA_COLUMNS
        )
        echo(f"{kind:<22}{cells}{r['epsilon']:>8.3f}")
    echo("\nNNTF band sweep (best laminarity / entropy over bands of width 0.05)")
    for kind, fp in report["fingerprints"].items():
        n = fp["nntf"]
        echo(
            f"  {kind:<22} LAM {n['laminarity']:.3f} (band {n['laminarity_band']:.2f})   "
            f"ENTR {n['entropy']:.3f} (band {n['entropy_band']:.2f})"
        )
    echo("\nPhase changes")
    for kind, fp in report["fingerprints"].items():
        changes = fp["phase_changes"]
        text = (
            ", ".join(f"{c['between'][0]} | {c['between'][1]} ({c['score']:.3f})" for c in changes)
            or "none stands out"
        )
        echo(f"  {kind:<22} {text}")
    samples = report.get("samples", {})
    if "most_changed" in samples:
        echo("\nSamples whose neighbourhoods changed most (lowest neighbour stability)")
        echo(
            "  "
            + ", ".join(
                f"{s['id']} (label {s['label']}, {s['neighbour_stability']:.2f})"
                for s in samples["most_changed"]
            )
        )
    if "suspected_mislabeled" in samples:
        echo("\nSuspected mislabeled samples (lowest area under the margin)")
        echo(
            "  "
            + ", ".join(
                f"{s['id']} (label {s['label']}, predicted {s['prediction']}, AUM {s['aum']:.2f})"
                for s in samples["suspected_mislabeled"]
            )
        )
        echo(f"  never learned: {samples['never_learned']} samples")
    if "label_noise_check" in samples:
        c = samples["label_noise_check"]
        echo(
            f"  known flipped labels: {c['flipped']}; precision of the AUM ranking at "
            f"{c['flipped']}: {c['precision_at_flipped']:.2f} (chance {c['chance']:.2f})"
        )


def _print_comparison(reports: list[dict[str, Any]], kinds: list[str]) -> None:
    echo = click.echo
    keys = ("lr", "learning_rate", "momentum", "weight_decay")
    shown = [k for k in keys if any(k in r["metadata"] for r in reports)]
    head = f"{'run':<24}" + "".join(f"{k[:10]:>11}" for k in shown) + f"{'acc':>7}"
    for kind in kinds:
        short = kind.replace("neighbour-", "n-").replace("class-transition", "class")[:12]
        head += f"{short + ' LAM':>17}{'ENTR':>7}{'DET':>7}"
    echo(head)
    for r in reports:
        line = f"{Path(r['run']).name[:23]:<24}"
        line += "".join(f"{r['metadata'].get(k, ''):>11}" for k in shown)
        acc = r.get("final_accuracy")
        line += f"{acc:>7.3f}" if acc is not None else f"{'':>7}"
        for kind in kinds:
            fp = r["fingerprints"].get(kind)
            if fp is None:
                line += f"{'-':>17}{'-':>7}{'-':>7}"
                continue
            nntf, rqa = fp["nntf"], fp["rqa"]
            line += f"{nntf['laminarity']:>17.3f}{rqa['entr']:>7.3f}{rqa['det']:>7.3f}"
        echo(line)
    echo("\nLAM: NNTF best-band laminarity; ENTR, DET: RQA at a 10% recurrence rate.")


@main.command()
@click.argument("run_or_root", required=False)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(list(KINDS)),
    help="Fingerprint(s) to compute (repeatable; default all that apply).",
)
@click.option(
    "--k", type=click.IntRange(1), default=10, show_default=True, help="Neighbours per sample."
)
@click.option("--layer", default=None, help="Layer for neighbour and CKA fingerprints.")
@click.option(
    "--top", type=click.IntRange(1), default=10, show_default=True, help="How many samples to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the neighbour search on the Dask cluster at ADDRESS (tcp://host:port).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Run the neighbour search in N local worker processes.",
)
@_storage_options_option
@_friendly_errors
def analyse(
    run_or_root: str | None,
    kinds: tuple[str, ...],
    k: int,
    layer: str | None,
    top: int,
    as_json: bool,
    progress: bool | None,
    scheduler: str | None,
    workers: int | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """Fingerprints, RQA, phase changes and notable samples of a run or a directory of runs.

    RUN_OR_ROOT is a run, a directory of runs, or a run's URL (s3://bucket/run). Without
    an argument it analyses the bundled sample run. The numbers are the same wherever the
    neighbour search runs (--scheduler, --workers or threads here).
    """
    from reprdynamics.analysis.executors import get_executor

    if scheduler is not None and workers is not None:
        raise click.UsageError("Give --scheduler ADDRESS or --workers N, not both.")
    with get_executor(scheduler if scheduler is not None else workers) as executor:
        _analyse(run_or_root, kinds, k, layer, top, as_json, progress, executor, storage_options)


def _analyse(
    run_or_root: str | None,
    kinds: tuple[str, ...],
    k: int,
    layer: str | None,
    top: int,
    as_json: bool,
    progress: bool | None,
    executor: Any,
    storage_options: dict[str, Any] | None,
) -> None:
    from reprdynamics.analysis.api import list_runs
    from reprdynamics.storage import is_run, open_run

    _check_storage_options(run_or_root, storage_options)
    if run_or_root is None:
        from reprdynamics.sample import sample_run_path

        run_or_root = str(sample_run_path())
    selected = list(kinds) or list(KINDS)
    bar = _Progress(sys.stderr.isatty() if progress is None else progress)
    if _is_url(run_or_root):  # a URL names one run
        run = open_run(run_or_root, storage_options=storage_options)
        report = _analyse_run(run, selected, k, layer, top, bar, executor)
        click.echo(json.dumps(report, indent=2)) if as_json else _print_analysis(report)
        return
    _raise_if_corrupt_run(run_or_root)
    if is_run(run_or_root):
        report = _analyse_run(open_run(run_or_root), selected, k, layer, top, bar, executor)
        click.echo(json.dumps(report, indent=2)) if as_json else _print_analysis(report)
        return
    paths = list_runs(run_or_root)
    if not paths:
        raise click.ClickException(f"No ReprDynamics runs in {run_or_root!r}.")
    reports, damaged = [], []
    for path in paths:
        try:
            reports.append(_analyse_run(open_run(path), selected, k, layer, top, bar, executor))
        except ReprDynamicsError as exc:  # one damaged run does not stop the others
            damaged.append({"run": str(path), "error": str(exc)})
            click.echo(f"Skipping the run {path.name!r}: {exc}", err=True)
    if as_json:
        click.echo(json.dumps({"runs": reports, "damaged": damaged}, indent=2))
    elif reports:
        _print_comparison(reports, selected)
    if damaged:
        raise click.ClickException(
            f"{len(damaged)} of {len(paths)} runs could not be analysed: "
            + "; ".join(f"{Path(d['run']).name} ({d['error']})" for d in damaged)
        )


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
@click.option(
    "--k", type=click.IntRange(1), default=10, show_default=True, help="Neighbours per sample."
)
@click.option("--layer", default=None, help="Layer for neighbour and CKA fingerprints.")
@click.option(
    "--top", type=click.IntRange(1), default=10, show_default=True, help="How many samples to list."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@_storage_options_option
@_friendly_errors
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

    _check_storage_options(run_or_root, storage_options)
    target = Path(out)
    problem = _output_problem(target, "report")
    if problem is None and png_dir is not None:
        problem = _png_problem(Path(png_dir))
    if problem is not None:
        raise _BadUsage(problem)
    if run_or_root is None:
        from reprdynamics.sample import sample_run_path

        run_or_root = str(sample_run_path())
    elif not _is_url(run_or_root):
        if not Path(run_or_root).exists():
            raise click.ClickException(f"No run or directory of runs at {run_or_root!r}.")
        _raise_if_corrupt_run(run_or_root)
    bar = _Progress(sys.stderr.isatty() if progress is None else progress)
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
        f"Wrote {out} ({_size(size)}; {len(built.runs)} run{'s' if len(built.runs) != 1 else ''},"
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


@main.command()
@click.argument("run_or_root", required=False)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help=_PORT_HELP
)
@click.option("--host", default="127.0.0.1", show_default=True, help=_HOST_HELP)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--cache-limit",
    default=None,
    help="Bytes each run's cache of derived results may hold (512M, 2G, or a multiple of the "
    "run's size such as 4x; 0 keeps nothing). Default: $REPRDYNAMICS_CACHE_LIMIT, else 4x, "
    "at least 64 MiB.",
)
@_storage_options_option
@_friendly_errors
def serve(
    run_or_root: str | None,
    port: int,
    host: str,
    open_browser: bool,
    cache_limit: str | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """Serve the dashboard for a run, a directory of runs, a legacy save directory or a
    run's URL (s3://bucket/run).

    Without an argument it serves the bundled sample run.
    """
    from reprdynamics.server.app import serve as serve_app
    from reprdynamics.storage.legacy import is_legacy_dir

    _check_storage_options(run_or_root, storage_options)
    if cache_limit is not None:
        from reprdynamics.storage.run import CACHE_LIMIT_ENV, parse_cache_limit

        try:
            parse_cache_limit(cache_limit, 1)
        except ReprDynamicsError as exc:
            raise click.BadParameter(str(exc), param_hint="--cache-limit") from None
        os.environ[CACHE_LIMIT_ENV] = cache_limit
    if run_or_root is not None and not is_legacy_dir(run_or_root):
        _raise_if_corrupt_run(run_or_root)
    _check_port(host, port)
    serve_app(
        run_or_root,
        host=host,
        port=port,
        open_browser=open_browser,
        storage_options=storage_options,
    )


@main.command("import-legacy")
@click.argument("old_dir", type=click.Path(exists=True))
@click.argument("new_run", type=click.Path())
@click.option("--epochs", help="Comma-separated epoch of each snapshot (default 0..T-1).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run at NEW_RUN.")
@_friendly_errors
def import_legacy_cmd(old_dir: str, new_run: str, epochs: str | None, overwrite: bool) -> None:
    """Import a save directory of the original ReprDynamics (snapshots.json) as a run."""
    from reprdynamics.storage.legacy import import_legacy

    epoch_list = None
    if epochs:
        try:
            epoch_list = [int(e) for e in epochs.split(",")]
        except ValueError:
            raise click.BadParameter(
                "must be comma-separated integers", param_hint="--epochs"
            ) from None
    run = import_legacy(old_dir, new_run, epochs=epoch_list, overwrite=overwrite)
    click.echo(f"Imported {run.n_snapshots} snapshots of {run.n_samples} samples into {new_run}")
    _print_info(_describe(run))


@main.group("import")
def import_group() -> None:
    """Import recordings made with other tools (TensorBoard projector, dataset cartography)."""


@import_group.command("projector")
@click.argument("log_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("run", type=click.Path())
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Tag to import (repeatable; the first is the output layer). Default: every tag.",
)
@click.option("--label-column", default=None, help="metadata.tsv column holding the labels.")
@click.option("--no-labels", is_flag=True, help="Ignore metadata.tsv: import no labels.")
@click.option(
    "--class-names",
    default=None,
    help="Comma-separated class names in the order of the logits' columns.",
)
@click.option(
    "--kind",
    type=click.Choice(["features", "logits", "probabilities"]),
    default="features",
    show_default=True,
    help="What the (first) tag's tensors hold.",
)
@click.option("--layer", default=None, help="Layer name of the (first) tag in the run.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run at RUN.")
@_friendly_errors
def import_projector_cmd(
    log_dir: str,
    run: str,
    tags: tuple[str, ...],
    label_column: str | None,
    no_labels: bool,
    class_names: str | None,
    kind: str,
    layer: str | None,
    overwrite: bool,
) -> None:
    """Import TensorBoard projector checkpoints (SummaryWriter.add_embedding, one per step)
    from LOG_DIR as the run RUN."""
    from reprdynamics.recording.imports import import_projector

    imported = import_projector(
        log_dir,
        run,
        tag=list(tags) or None,
        label_column=label_column,
        labels=not no_labels,
        class_names=class_names.split(",") if class_names else None,
        kind=kind,
        layer=layer,
        overwrite=overwrite,
    )
    click.echo(f"Imported {imported.n_snapshots} steps of {imported.n_samples} samples into {run}")
    _print_info(_describe(imported))


@import_group.command("cartography")
@click.argument("dynamics_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("run", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace an existing run at RUN.")
@_friendly_errors
def import_cartography_cmd(dynamics_dir: str, run: str, overwrite: bool) -> None:
    """Import dataset-cartography training dynamics (dynamics_epoch_<e>.jsonl) from
    DYNAMICS_DIR as the run RUN."""
    from reprdynamics.recording.imports import import_cartography

    imported = import_cartography(dynamics_dir, run, overwrite=overwrite)
    click.echo(
        f"Imported {imported.n_snapshots} epochs of {imported.n_samples} examples into {run}"
    )
    _print_info(_describe(imported))


def legacy_main(argv: list[str] | None = None) -> None:
    """``ReprDynamics --save_dir DIR [--port 5000]``: the original tool's command."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="ReprDynamics",
        description="Legacy entry point of the original tool; see `reprdynamics --help`.",
    )
    parser.add_argument(
        "--save_dir",
        default=None,
        help="A run, a root of runs, or a legacy "
        "save directory (snapshots.json), imported on the fly into a cache.",
    )
    parser.add_argument(
        "--port", type=int, default=5000, help=f"{_PORT_HELP} (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help=f"{_HOST_HELP} (default: %(default)s)")
    args = parser.parse_args(argv)
    target = args.save_dir
    try:
        if target is not None:
            from reprdynamics.storage.legacy import is_legacy_dir, open_legacy_cached

            if is_legacy_dir(target):
                run = open_legacy_cached(target)
                print(f"{target} is a legacy save directory; imported it into {run.location}")
                # Served as the legacy directory (the import is reused), so the run is
                # named after it, not after its cache entry (name-hash).
            else:
                _raise_if_corrupt_run(target)
        else:
            from reprdynamics.sample import sample_run_path

            target = str(sample_run_path())
        _serve_or_explain(target, host=args.host, port=args.port, open_browser=False)
    except _BadUsage as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ReprDynamicsError, FileNotFoundError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
