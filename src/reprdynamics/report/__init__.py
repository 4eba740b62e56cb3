"""The self-contained report of a run, or of a directory of runs (``reprdynamics report``).

:func:`build_report` gathers what the analysis layer says about each run
(:mod:`reprdynamics.report.content`); :meth:`Report.to_html` writes it as one HTML file
that needs nothing else (:mod:`reprdynamics.report.html`) and :meth:`Report.write_pngs`
draws every figure as a PNG with Pillow (:mod:`reprdynamics.report.png`). See
``docs/report.md``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprdynamics.analysis.reads import Progress
from reprdynamics.report.content import Comparison, RunReport, comparison, run_report
from reprdynamics.report.figures import Figure
from reprdynamics.storage.run import Run

__all__ = ["Report", "RunReport", "build_report", "report_of_runs"]


@dataclass(frozen=True, eq=False)
class Report:
    """A report: one section per run and, for several runs, their comparison.

    Attributes
    ----------
    title : str
    runs : list of RunReport
    comparison : Comparison or None
        Only for two or more runs.
    skipped : dict
        Runs of a root that could not be reported: ``{name: why}``.
    """

    title: str
    runs: list[RunReport]
    comparison: Comparison | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def figures(self) -> list[Figure]:
        """Every figure, in the order of the page."""
        out: list[Figure] = []
        if self.comparison is not None:
            for pair in self.comparison.pairs:
                out.extend(pair.figures)
        for run in self.runs:
            out.extend(run.figures)
        return out

    def to_html(self) -> str:
        """The whole report as one self-contained HTML document."""
        from reprdynamics.report.html import page

        return page(
            self.title,
            self.runs,
            self.comparison,
            self.figures,
            skipped=self.skipped,
            version=_version(),
        )

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_html` to ``path`` (atomically: a reader never sees half)."""
        target = Path(path)
        text = self.to_html()
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def write_pngs(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Draw every figure as ``DIR/<figure id>.png``; returns the paths written."""
        from reprdynamics.report.png import render

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for figure in self.figures:
            path = folder / f"{figure.id}.png"
            render(figure).save(path, format="PNG")
            paths.append(path)
        return paths


def figure_prefixes(names: list[str]) -> list[str]:
    """Prefixes of the runs' figure ids (and PNG names): the run's name in safe characters,
    with its position added where two names would read the same."""
    slugs = [re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "run" for name in names]
    return [
        f"{slug}-" if slugs.count(slug) == 1 else f"{slug}-{i}-" for i, slug in enumerate(slugs)
    ]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reprdynamics")
    except PackageNotFoundError:
        return ""


def report_of_runs(
    runs: list[tuple[str, Run]],
    *,
    title: str | None = None,
    k: int = 10,
    layer: str | None = None,
    top: int = 10,
    samples: Any = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    skipped: dict[str, str] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> Report:
    """The report of named, opened runs (a comparison when there are several).

    With ``on_error``, a run that cannot be reported (a :class:`ReprDynamicsError`) is
    passed to it and left out (listed in :attr:`Report.skipped`); without, the error
    propagates.
    """
    from reprdynamics.errors import ReprDynamicsError

    skipped = dict(skipped or {})
    reports = []
    prefixes = figure_prefixes([name for name, _ in runs]) if len(runs) > 1 else [""] * len(runs)
    for (name, run), prefix in zip(runs, prefixes, strict=True):
        try:
            reports.append(
                run_report(
                    run,
                    k=k,
                    layer=layer,
                    top=top,
                    samples=samples,
                    use_cache=use_cache,
                    progress=progress,
                    prefix=prefix,
                    name=name,
                )
            )
        except ReprDynamicsError as exc:
            if on_error is None:
                raise
            skipped[name] = str(exc)
            on_error(name, exc)
    if not reports:
        from reprdynamics.errors import NotEnoughSnapshotsError

        reasons = "; ".join(f"{n}: {e}" for n, e in skipped.items())
        raise NotEnoughSnapshotsError(f"No run could be reported ({reasons}).")
    compared = comparison(reports) if len(reports) > 1 else None
    if title is None:
        title = reports[0].name if len(runs) == 1 else f"{len(reports)} runs"
    return Report(title=title, runs=reports, comparison=compared, skipped=skipped)


def build_report(
    target: str | os.PathLike[str] | Run | None = None,
    *,
    k: int = 10,
    layer: str | None = None,
    top: int = 10,
    samples: Any = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    storage_options: dict[str, Any] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> Report:
    """The report of a run, a run's URL, a directory of runs, or (``None``) the bundled
    sample run.

    Parameters
    ----------
    k, layer
        Neighbours per sample and the layer of the neighbour and CKA fingerprints.
    top
        How many most-changed and suspected-mislabeled samples to list.
    samples
        A selection of sample ids (every run of a root must have the ids).
    on_error
        Called with (run name, error) for a run of a root that cannot be reported, which
        is then left out; without it the first such error propagates.

    Examples
    --------
    >>> import reprdynamics as rd
    >>> from reprdynamics.report import build_report
    >>> report = build_report(rd.sample_run_path(), samples=range(200), use_cache=False)
    >>> [fp.kind for fp in report.runs[0].fingerprints][:2]
    ['neighbour-transition', 'neighbour-state']
    """
    from reprdynamics.storage import is_run, open_run
    from reprdynamics.storage.remote import is_url

    title, skipped, root_errors = None, None, None
    if isinstance(target, Run):
        runs = [(target.name, target)]
    else:
        if target is None:
            from reprdynamics.sample import sample_run_path

            target = sample_run_path()
        location = os.fspath(target)
        if is_url(location) or is_run(location):
            run = open_run(location, storage_options=storage_options)
            runs = [(run.name, run)]
        else:
            runs, skipped = _open_root(location, on_error)
            title, root_errors = Path(location).resolve().name, on_error
    # One run: its error is the answer (on_error is for the runs of a root).
    return report_of_runs(
        runs,
        title=title,
        k=k,
        layer=layer,
        top=top,
        samples=samples,
        use_cache=use_cache,
        progress=progress,
        skipped=skipped,
        on_error=root_errors,
    )


def _open_root(
    location: str, on_error: Callable[[str, Exception], None] | None
) -> tuple[list[tuple[str, Run]], dict[str, str]]:
    """The runs of a directory of runs, and ``{name: why}`` of those that would not open."""
    from reprdynamics.analysis.api import list_runs
    from reprdynamics.storage import open_run

    paths = list_runs(location)
    if not paths:
        from reprdynamics.errors import RunNotFoundError

        raise RunNotFoundError(f"No ReprDynamics runs in {location!r}.")
    runs = []
    skipped: dict[str, str] = {}
    for path in paths:
        try:
            runs.append((path.name, open_run(path)))
        except Exception as exc:
            from reprdynamics.errors import ReprDynamicsError

            if on_error is None or not isinstance(exc, ReprDynamicsError):
                raise
            skipped[path.name] = str(exc)
            on_error(path.name, exc)
    if not runs:
        from reprdynamics.errors import CorruptRunError

        raise CorruptRunError(
            f"No run in {location!r} could be opened: "
            + "; ".join(f"{n} ({e})" for n, e in skipped.items())
        )
    return runs, skipped
