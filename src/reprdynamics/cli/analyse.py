"""``reprdynamics analyse``: fingerprints, RQA, phase changes and notable samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from reprdynamics.analysis.kinds import KINDS
from reprdynamics.cli._common import (
    check_storage_options,
    friendly_errors,
    is_url_target,
    neighbour_options,
    progress_option,
    raise_if_corrupt_run,
    storage_options_option,
)
from reprdynamics.cli._main import main
from reprdynamics.errors import ReprDynamicsError


class ProgressBar:
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
@neighbour_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@progress_option
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
@storage_options_option
@friendly_errors
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
    from reprdynamics.analysis.api import list_runs
    from reprdynamics.analysis.executors import get_executor
    from reprdynamics.storage import is_run, open_run

    if scheduler is not None and workers is not None:
        raise click.UsageError("Give --scheduler ADDRESS or --workers N, not both.")
    with get_executor(scheduler if scheduler is not None else workers) as executor:
        check_storage_options(run_or_root, storage_options)
        if run_or_root is None:
            from reprdynamics.sample import sample_run_path

            run_or_root = str(sample_run_path())
        selected = list(kinds) or list(KINDS)
        bar = ProgressBar(sys.stderr.isatty() if progress is None else progress)
        if is_url_target(run_or_root):  # a URL names one run
            run = open_run(run_or_root, storage_options=storage_options)
        else:
            raise_if_corrupt_run(run_or_root)
            run = open_run(run_or_root) if is_run(run_or_root) else None
        if run is not None:
            report = _analyse_run(run, selected, k, layer, top, bar, executor)
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
