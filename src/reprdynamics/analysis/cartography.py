"""The regions of a data map (Swayamdipta et al. 2020, "Dataset Cartography").

A data map places each sample by its *variability* (population std over snapshots of the
probability of its label) and *confidence* (mean of that probability). The paper names
three regions: *easy-to-learn* (high confidence, low variability), *hard-to-learn* (low
confidence, low variability) and *ambiguous* (high variability). It draws them as areas of
the map without fixed borders; this module fixes the borders so that a region is a number
the dashboard, the report and a user's script agree on:

* variability >= ``variability_threshold`` (0.2): ambiguous;
* otherwise confidence >= ``confidence_threshold`` (0.5): easy-to-learn;
* otherwise: hard-to-learn.

Variability of a probability lies in [0, 0.5]; 0.2 is where the paper's maps (SNLI,
WinoGrande) leave their dense low-variability arms. A sample whose confidence or
variability is undefined (NaN: no label) has no region (-1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.errors import InvalidParameterError
from reprdynamics.validation import Real, check

__all__ = [
    "AMBIGUOUS",
    "CONFIDENCE_THRESHOLD",
    "EASY",
    "HARD",
    "REGIONS",
    "VARIABILITY_THRESHOLD",
    "cartography_regions",
    "region_counts",
]

#: Region names, indexed by the codes :func:`cartography_regions` returns.
EASY, AMBIGUOUS, HARD = "easy-to-learn", "ambiguous", "hard-to-learn"
REGIONS = (EASY, AMBIGUOUS, HARD)
#: Variability at and above which a sample is ambiguous.
VARIABILITY_THRESHOLD = 0.2
#: Confidence at and above which a sample of low variability is easy to learn.
CONFIDENCE_THRESHOLD = 0.5


def _threshold(value: object, name: str, high: float) -> float:
    return check(value, Real(low=0, high=high), name, "cartography_regions")


def cartography_regions(
    confidence: ArrayLike,
    variability: ArrayLike,
    *,
    variability_threshold: float = VARIABILITY_THRESHOLD,
    confidence_threshold: float = CONFIDENCE_THRESHOLD,
) -> NDArray[np.int8]:
    """The data-map region of each sample: 0 easy-to-learn, 1 ambiguous, 2 hard-to-learn
    (see :data:`REGIONS`), -1 where confidence or variability is NaN.

    >>> cartography_regions([0.9, 0.5, 0.1, 0.9], [0.05, 0.3, 0.05, float("nan")]).tolist()
    [0, 1, 2, -1]
    """
    conf = np.asarray(confidence, dtype=np.float64)
    var = np.asarray(variability, dtype=np.float64)
    if conf.ndim != 1 or var.shape != conf.shape:
        raise InvalidParameterError(
            "The 'confidence' and 'variability' parameters of cartography_regions must be "
            f"1-D arrays of one length. Got shapes {conf.shape} and {var.shape} instead."
        )
    vt = _threshold(variability_threshold, "variability_threshold", 0.5)
    ct = _threshold(confidence_threshold, "confidence_threshold", 1.0)
    regions = np.where(var >= vt, 1, np.where(conf >= ct, 0, 2)).astype(np.int8)
    regions[np.isnan(conf) | np.isnan(var)] = -1
    return regions


def region_counts(regions: ArrayLike) -> dict[str, int]:
    """How many samples lie in each region (undefined ones left out), by name."""
    codes = np.asarray(regions)
    return {name: int(np.count_nonzero(codes == code)) for code, name in enumerate(REGIONS)}
