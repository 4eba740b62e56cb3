"""Mislabel detection: samples ranked by their area under the margin (Pleiss et al. 2020)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import describe_array
from reprdynamics.analysis.dynamics._parsing import _is_real
from reprdynamics.analysis.dynamics.table import SampleDynamics
from reprdynamics.errors import LabelsRequiredError, invalid_parameter
from reprdynamics.validation import Integer, OrNone, check


def _aum_of(source: SampleDynamics | ArrayLike, owner: str) -> NDArray[np.float64]:
    if isinstance(source, SampleDynamics):
        if source.aum is None:
            raise LabelsRequiredError(
                f"{owner} needs the AUM, which needs labels and logits or probabilities; "
                "this table has none."
            )
        return source.aum
    values = np.asarray(source)
    if not _is_real(values) or values.ndim != 1:
        raise invalid_parameter(
            "aum", owner, "a 1-D real array or a SampleDynamics", describe_array(values)
        )
    values = values.astype(np.float64, copy=False)
    if np.isinf(values).any():
        raise invalid_parameter("aum", owner, "finite or NaN (unknown label) values", values)
    return values


def mislabel_scores(source: SampleDynamics | ArrayLike) -> NDArray[np.float64]:
    """Suspicion that each sample is mislabelled: ``score_i = −AUM_i`` (higher = more suspect).

    Following Pleiss et al. 2020, a mislabelled sample's gold logit keeps losing to the class
    the rest of the data teaches the network, so its area under the margin is low (negative).
    NaN (unknown label) stays NaN.

    Parameters
    ----------
    source : SampleDynamics or array-like of shape (N,)
        A table with ``aum``, or the AUM values themselves.

    Examples
    --------
    >>> mislabel_scores([1.5, -2.0]).tolist()
    [-1.5, 2.0]
    """
    return -_aum_of(source, "mislabel_scores")


def mislabel_ranking(
    source: SampleDynamics | ArrayLike, *, top_k: int | None = None
) -> NDArray[np.int64]:
    """Sample indices from most to least suspected of being mislabelled (ascending AUM).

    Ties keep the smaller index first; samples with unknown labels (NaN AUM) come last.
    Pleiss et al. 2020 threshold the AUM with deliberately mislabelled "threshold samples";
    this ranking is the threshold-free part (inspect the top, or cut at AUM < 0).

    Parameters
    ----------
    source : SampleDynamics or array-like of shape (N,)
    top_k : int, optional
        Return only the first ``top_k`` indices.

    Examples
    --------
    >>> mislabel_ranking([0.5, -1.0, float("nan"), -1.0]).tolist()
    [1, 3, 0, 2]
    """
    top_k = check(top_k, OrNone(Integer(low=0)), "top_k", "mislabel_ranking")
    aum = _aum_of(source, "mislabel_ranking")
    # Stable sort of AUM ascending (= score descending); NaN sorts last in NumPy.
    order = np.argsort(aum, kind="stable").astype(np.int64)
    return order if top_k is None else order[: int(top_k)]
