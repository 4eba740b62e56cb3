"""The small sample run that ships inside the package.

It is the digits demo (20 epochs, 10 % label noise, float16), written by
``python scripts/make_sample_run.py``, so ``reprdynamics serve`` with no argument shows a
real run. Open it read-only: it may live in a read-only site-packages.
"""

from __future__ import annotations

from pathlib import Path

from reprdynamics.errors import RunNotFoundError

__all__ = ["REGENERATE_COMMAND", "sample_run_path"]

REGENERATE_COMMAND = "python scripts/make_sample_run.py"


def sample_run_path() -> Path:
    """Directory of the bundled sample run.

    Raises
    ------
    RunNotFoundError
        The package was installed without its sample (e.g. built from a checkout where it
        was never generated).

    Examples
    --------
    >>> import reprdynamics as rd
    >>> rd.open_run(rd.sample_run_path()).n_samples
    1797
    """
    path = Path(__file__).resolve().parent / "sample_run"
    if not (path / "zarr.json").is_file():
        raise RunNotFoundError(
            f"The bundled sample run is missing from {str(path)!r}. In a source checkout, "
            f"regenerate it with `{REGENERATE_COMMAND}` (needs torch); otherwise reinstall "
            "reprdynamics from a wheel that includes its package data."
        )
    return path
