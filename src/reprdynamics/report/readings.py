"""One-line readings of the analysis results, written from their numbers.

Nothing is measured here: each function reads a result (a fingerprint matrix and its phase
changes, a precision table) and says in words what its largest entries are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from reprdynamics.analysis.kinds import KINDS

__all__ = ["KIND_TITLES", "fingerprint_reading", "mislabel_reading"]


class _Titles(Mapping[str, str]):
    """The report's heading of each fingerprint kind (its spec's ``title``)."""

    def __getitem__(self, kind: str) -> str:
        spec = KINDS[kind]
        return spec.title or f"{spec.label[0].upper()}{spec.label[1:]} fingerprint"

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


#: What each fingerprint compares, for titles.
KIND_TITLES: Mapping[str, str] = _Titles()


def fingerprint_reading(
    kind: str,
    matrix: np.ndarray,
    labels: Sequence[str],
    transition: bool,
    phase_changes: Sequence[Mapping[str, Any]],
) -> str:
    """What a fingerprint says, in one line.

    Names the pair of rows with the largest off-diagonal entry and the phase changes (the
    strongest first), e.g. "Neighbourhoods changed most differently between epochs 0→1 and
    17→18 (D = 0.412); phase change between 0→1 and 1→2 (score 0.652)."

    Examples
    --------
    >>> m = np.array([[0, .2, .9], [.2, 0, .4], [.9, .4, 0]])
    >>> print(fingerprint_reading("disagreement", m, ["0", "1", "2"], False, []))
    Predictions differ most between epochs 0 and 2 (disagreement = 0.900); no phase change
    stands out.
    """
    spec = KINDS.get(kind)
    what, entry = spec.reading if spec is not None else ("rows differ most", "D")
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    rows = "transitions" if transition else "snapshots"
    if n < 2:
        head = f"Only one {rows[:-1]}: nothing to compare"
    else:
        upper = np.where(np.triu(np.ones((n, n), dtype=bool), 1) & np.isfinite(m), m, -np.inf)
        a, b = np.unravel_index(int(np.argmax(upper)), upper.shape)
        value = float(m[a, b])
        if not np.isfinite(upper[a, b]):
            head = "The fingerprint has no finite entries"
        elif value <= 0:
            head = f"The fingerprint is zero: all {rows} look the same"
        else:
            head = (
                f"{what[0].upper()}{what[1:]} between epochs {labels[a]} and "
                f"{labels[b]} ({entry} = {value:.3f})"
            )
    changes = sorted(phase_changes, key=lambda c: -float(c["score"]))
    if not changes:
        tail = "no phase change stands out"
    else:
        parts = [
            f"{c['between'][0]} and {c['between'][1]} (score {float(c['score']):.3f})"
            for c in changes[:3]
        ]
        more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        noun = "phase change" if len(changes) == 1 else "phase changes"
        tail = f"{noun} between " + "; ".join(parts) + more
    return f"{head}; {tail}."


def mislabel_reading(n_flipped: int, n_samples: int, rows: Sequence[Mapping[str, Any]]) -> str:
    """The precision of the mislabel ranking at k = number of flips, in one line.

    Examples
    --------
    >>> print(mislabel_reading(10, 100, [{"k": 10, "hits": 7, "precision": 0.7}]))
    Of the 10 known flipped labels, 7 are among the 10 most suspected samples (precision 0.70;
    chance 0.10).
    """
    at = next((r for r in rows if int(r["k"]) == n_flipped), None)
    chance = n_flipped / n_samples if n_samples else float("nan")
    if at is None:
        return f"{n_flipped} known flipped labels (chance precision {chance:.2f})."
    return (
        f"Of the {n_flipped} known flipped labels, {at['hits']} are among the {n_flipped} most "
        f"suspected samples (precision {float(at['precision']):.2f}; chance {chance:.2f})."
    )
