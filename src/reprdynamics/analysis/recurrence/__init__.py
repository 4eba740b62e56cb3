r"""Recurrence quantification analysis (RQA) of fingerprint matrices.

A fingerprint is a T×T matrix ``D`` of distances between training snapshots. Thresholding it
gives a recurrence matrix ``R`` (a recurrence plot), whose line structures summarise how
training revisits earlier states:

* :func:`recurrence_matrix` — ``R = [D <= ε]`` or a band ``R = [a <= D <= a + w]``;
* :func:`diagonal_line_distribution`, :func:`vertical_line_distribution` — line-length
  histograms ``P(l)``, with the line of identity excluded through a Theiler window;
* :func:`rqa` — the standard measures RR, DET, L, Lmax, ENTR, LAM, TT, Vmax as an
  :class:`RQAResult`;
* :func:`nntf_band_sweep` (with :func:`nntf_laminarity`, :func:`nntf_entropy`) — the band
  sweep of the Neural Network Training Fingerprint code, reproduced number for number,
  quirks included.

Conventions of :func:`rqa` (Marwan et al. 2007, section 3.2 and 5.3):

* The Theiler window ``w`` (``theiler``) removes the points with ``|i - j| < w`` before
  anything is counted: ``w = 1`` (default) removes the line of identity, ``w = 0`` keeps
  every point. Diagonals inside the window are dropped whole; vertical lines are cut where
  they cross the window.
* RR divides by the number of points *outside* the window, ``N² - |W|``, so that a matrix
  that is recurrent everywhere has RR = 1 for every ``w``.
* DET and LAM divide by the number of recurrence points outside the window. Every such point
  lies on exactly one diagonal and one vertical line, so the denominators are
  ``Σ_l l P(l) = Σ_v v P(v)``.
* Both triangles are counted: a symmetric matrix contributes each off-diagonal line twice,
  which leaves every ratio unchanged. Asymmetric matrices are accepted as they are.
* Empty cases: a measure whose denominator is zero (no recurrence point, no line of at least
  ``l_min`` or ``v_min``) is 0.0, not NaN, as in pyunicorn. ENTR of a single line length is 0.

References
----------
.. [1] N. Marwan, M. C. Romano, M. Thiel, J. Kurths, "Recurrence plots for the analysis of
   complex systems", Physics Reports 438 (5–6), 237–329 (2007).
   doi:10.1016/j.physrep.2006.11.001
.. [2] M. D. Ferreira, G. D. Cantareira, R. F. de Mello, F. V. Paulovich, "Neural network
   training fingerprint: visual analytics of the training process in classification neural
   networks", Journal of Visualization 25 (2022). Code:
   https://github.com/marthadais/NeuralNetworkTrainingFingerprint (``utils/measures.py``).
"""

from reprdynamics.analysis.recurrence.lines import (
    diagonal_line_distribution,
    vertical_line_distribution,
)
from reprdynamics.analysis.recurrence.matrix import recurrence_matrix
from reprdynamics.analysis.recurrence.nntf import (
    NNTF_BAND_STARTS,
    NNTFBandSweep,
    nntf_band_sweep,
    nntf_entropy,
    nntf_laminarity,
)
from reprdynamics.analysis.recurrence.quantification import RQAResult, rqa

__all__ = [
    "NNTF_BAND_STARTS",
    "NNTFBandSweep",
    "RQAResult",
    "diagonal_line_distribution",
    "nntf_band_sweep",
    "nntf_entropy",
    "nntf_laminarity",
    "recurrence_matrix",
    "rqa",
    "vertical_line_distribution",
]
