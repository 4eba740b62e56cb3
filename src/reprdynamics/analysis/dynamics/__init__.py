"""Per-sample training dynamics: entropy, cartography, forgetting, AUM and stability.

Every measure summarises, for each sample, how the network's output for it evolved over the
snapshots ``t = 0..T-1`` of a run. Two ways to compute them give the same numbers:

* all at once, from a ``(T, N, C)`` array of outputs (tests and small runs):
  :func:`prediction_entropy`, :func:`cartography`, :func:`forgetting_events`,
  :func:`first_learned`, :func:`area_under_margin`, :func:`neighbour_stability`, and
  :func:`dynamics_from_outputs` for the whole table;
* streaming, one ``(N, C)`` snapshot at a time with :class:`DynamicsAccumulator`, which keeps
  O(N) running state plus the ``(T, N)`` float32 entropy — what the run-level code uses, since
  a ``(T, N, C)`` array of a large run need not fit in memory.

Outputs come in the run's ``kind``: ``"logits"`` (probabilities are their softmax),
``"probabilities"`` (used as given) or ``"features"`` (no prediction measure applies; only
neighbour stability does). Labels are ints, ``-1`` meaning unknown.

Unknown labels (``-1``) give NaN for the float label-based measures (confidence, variability,
correctness, AUM); for the integer and boolean ones they give ``forgetting_events = 0``,
``never_learned = False`` and ``first_learned = -1``, and :meth:`SampleDynamics.to_csv`
writes an empty cell for every label-based column of such a sample. With no labels at all
(``labels=None``) the single-measure functions raise :class:`LabelsRequiredError`, and the
table leaves those measures out.

One module per concept: :mod:`~reprdynamics.analysis.dynamics.entropy`,
:mod:`~reprdynamics.analysis.dynamics.dataset_cartography`,
:mod:`~reprdynamics.analysis.dynamics.forgetting`, :mod:`~reprdynamics.analysis.dynamics.margin`,
:mod:`~reprdynamics.analysis.dynamics.stability` (the measures),
:mod:`~reprdynamics.analysis.dynamics.table` (:class:`SampleDynamics` and its CSV),
:mod:`~reprdynamics.analysis.dynamics.batch` and :mod:`~reprdynamics.analysis.dynamics.streaming`
(the two ways to the table) and :mod:`~reprdynamics.analysis.dynamics.mislabels`.
"""

from reprdynamics.analysis.dynamics._parsing import OutputKind
from reprdynamics.analysis.dynamics.batch import dynamics_from_outputs, sample_dynamics
from reprdynamics.analysis.dynamics.dataset_cartography import Cartography, cartography
from reprdynamics.analysis.dynamics.entropy import prediction_entropy, softmax
from reprdynamics.analysis.dynamics.forgetting import Forgetting, first_learned, forgetting_events
from reprdynamics.analysis.dynamics.margin import area_under_margin
from reprdynamics.analysis.dynamics.mislabels import mislabel_ranking, mislabel_scores
from reprdynamics.analysis.dynamics.stability import neighbour_stability
from reprdynamics.analysis.dynamics.streaming import DynamicsAccumulator
from reprdynamics.analysis.dynamics.table import LABEL_MEASURES, SampleDynamics

__all__ = [
    "LABEL_MEASURES",
    "Cartography",
    "DynamicsAccumulator",
    "Forgetting",
    "OutputKind",
    "SampleDynamics",
    "area_under_margin",
    "cartography",
    "dynamics_from_outputs",
    "first_learned",
    "forgetting_events",
    "mislabel_ranking",
    "mislabel_scores",
    "neighbour_stability",
    "prediction_entropy",
    "sample_dynamics",
    "softmax",
]
