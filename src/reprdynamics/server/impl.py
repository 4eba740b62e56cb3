"""What the dashboard's endpoints answer, as plain data, without HTTP (one name for the
modules that do it: workspace, computation, checks and the ``*_endpoints`` modules).

Every endpoint of ``docs/http_api.md`` has a function here. Quick ones (``overview_impl``,
``measure_impl`` ...) take the :class:`Workspace`, the run name and the request's
:class:`~reprdynamics.server.arrays.Params`, and return plain data (dicts, lists, compact
arrays). Ones that may compute for long (fingerprint, rqa, samples, projection, local,
compare) have a ``prepare_*`` function that validates everything up front and returns a
:class:`Computation`: a key (endpoint, run location, run state, canonical parameters), the
heavy ``compute(progress)`` to run in a worker thread, and a cheap ``render(result)``; the
routes hand it to the job registry. ``Computation.run()`` does both at once (tests, scripts).

Validation happens here, at the edge: every bad parameter becomes an
:class:`~reprdynamics.server.arrays.ApiError` naming it, and errors of the analysis layer are
mapped to HTTP statuses by :func:`api_error`.
"""

from __future__ import annotations

from reprdynamics.analysis.reads import Progress as Progress  # the type of progress callbacks
from reprdynamics.analysis.snapshot_measures import MEASURES, measure_at
from reprdynamics.server.arrays import api_error
from reprdynamics.server.computation import (
    Computation,
    computation_key,
)
from reprdynamics.server.fingerprint_endpoints import (
    compared_runs,
    prepare_compare,
    prepare_fingerprint,
    prepare_rqa,
)
from reprdynamics.server.run_endpoints import (
    labels_impl,
    measure_impl,
    measure_spec,
    overview_impl,
    predictions_impl,
    runs_impl,
    transitions_impl,
)
from reprdynamics.server.sample_endpoints import (
    column_compact,
    prepare_local,
    prepare_projection,
    prepare_report,
    prepare_samples,
    sample_table,
    samples_spec,
)
from reprdynamics.server.thumbnail_endpoints import (
    thumb_impl,
    thumbs_impl,
)
from reprdynamics.server.workspace import (
    DEFAULT_K,
    MAX_K,
    Workspace,
)

__all__ = [
    "DEFAULT_K",
    "MAX_K",
    "MEASURES",
    "Computation",
    "Workspace",
    "api_error",
    "column_compact",
    "compared_runs",
    "computation_key",
    "labels_impl",
    "measure_at",
    "measure_impl",
    "measure_spec",
    "overview_impl",
    "predictions_impl",
    "prepare_compare",
    "prepare_fingerprint",
    "prepare_local",
    "prepare_projection",
    "prepare_report",
    "prepare_rqa",
    "prepare_samples",
    "runs_impl",
    "sample_table",
    "samples_spec",
    "thumb_impl",
    "thumbs_impl",
    "transitions_impl",
]
