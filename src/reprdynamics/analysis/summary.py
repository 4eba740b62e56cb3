"""What is reported with every fingerprint: its recurrence quantification and the NNTF's
band sweep (Ferreira et al., J. Visualization 2022), computed once for the server, the
command line and the report."""

from __future__ import annotations

import numpy as np

from reprdynamics.analysis.api import Fingerprint, rqa
from reprdynamics.analysis.recurrence import NNTFBandSweep, RQAResult, nntf_band_sweep

__all__ = ["fingerprint_recurrence"]


def fingerprint_recurrence(
    fp: Fingerprint,
    *,
    threshold: float | None = None,
    recurrence_rate: float | None = None,
) -> tuple[RQAResult, NNTFBandSweep]:
    """RQA of ``fp`` (at ``threshold``, or the one giving ``recurrence_rate``; default 10%)
    and the NNTF band sweep of its matrix.

    :func:`~reprdynamics.analysis.api.rqa` refuses NaN; the sweep's clip to [0, 1] only
    absorbs rounding outside it (every fingerprint is a distance in [0, 1]).
    """
    result = rqa(fp, threshold=threshold, recurrence_rate=recurrence_rate)
    return result, nntf_band_sweep(np.clip(fp.matrix, 0.0, 1.0))
