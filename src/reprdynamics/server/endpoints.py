"""The endpoint table: every route with its parameters, which both the routes and the
OpenAPI description are built from, so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from starlette.routing import Route

from reprdynamics.analysis.kinds import KINDS
from reprdynamics.server import impl
from reprdynamics.server.arrays import (
    MAX_SELECTION_CHARS,
    ORDERED_IDS_PATTERN,
    SELECTION_PATTERN,
)
from reprdynamics.server.handlers import (
    column_binary,
    compare,
    compare_samples,
    fingerprint,
    job,
    labels,
    local,
    measure,
    measure_binary,
    overview,
    predictions,
    projection,
    projection_binary,
    report_html,
    rqa,
    runs,
    samples,
    samples_csv,
    samples_parquet,
    selection,
    thumb,
    thumbs,
    transitions,
)
from reprdynamics.server.openapi import openapi
from reprdynamics.server.requests import Handler
from reprdynamics.server.static_files import index, static
from reprdynamics.server.thumbnails import MAX_SPRITE_IDS


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Parameter:
    """A documented request parameter, with every constraint the server enforces that does
    not depend on the run (those the run sets, such as ids below N, are in the text).

    ``ids`` parameters are strings of ids and ranges in a query and may also be lists of
    ints in a JSON body (at most ``max_items``). A string parameter given empty is refused
    (``min_length``), as is any parameter given empty.
    """

    name: str
    type: str = "string"
    description: str = ""
    where: str = "query"
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    pattern: str | None = None
    min_length: int = 1
    max_length: int | None = None
    ids: bool = False
    max_items: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """A route and its OpenAPI description.

    ``body`` is the media type of a POST's body: JSON holding the parameters, or the
    octet-stream of a selection bitmask.
    """

    path: str
    handler: Handler
    summary: str
    methods: tuple[str, ...] = ("GET",)
    params: tuple[Parameter, ...] = ()
    response: str = "application/json"
    computes: bool = False
    body: str = "application/json"
    tags: tuple[str, ...] = field(default=("api",))

    @property
    def reads_run(self) -> bool:
        """Whether the endpoint opens a run (so it may answer 404, 422 or 502 for it)."""
        return "{run}" in self.path or self.path.startswith("/api/compare")

    @property
    def binary(self) -> bool:
        """A typed-array endpoint with an ETag (304 when the client's copy is current)."""
        return self.path.endswith(".bin")


_RUN = Parameter(
    "run", where="path", required=True, description="A run name as listed by /api/runs."
)
# The two runs of a comparison.
_RUN_A = Parameter("a", required=True, description="First run name.")
_RUN_B = Parameter("b", required=True, description="Second run name.")
_SAMPLES = Parameter(
    "samples",
    description="Selection: ids and inclusive ranges, e.g. '0-99,150', 'all', or the token "
    "of a registered selection ('sel:<32 hex digits>', see /selection); absent = all "
    "samples. Ids lie in [0, N) (N = the run's n_samples) and a selection names at most N "
    "ids in all (ids repeated by overlapping ranges count each time), refused with 400 as "
    f"soon as it names more; at most {MAX_SELECTION_CHARS:,} characters. A POST body may "
    "give a list of at most N ints instead.",
    pattern=SELECTION_PATTERN,
    max_length=MAX_SELECTION_CHARS,
    ids=True,
)
_ROWS = Parameter(
    "rows",
    description="Only these rows of the table, in id order: a selection as `samples` "
    "(ids, ranges or a token), each among the samples `samples` selects. The table is "
    "computed over `samples`, so neighbour stability stays what the whole table shows.",
    pattern=SELECTION_PATTERN,
    max_length=MAX_SELECTION_CHARS,
    ids=True,
)
_COLUMNS = Parameter(
    "columns",
    description="Comma-separated columns of the table, in the order wanted, each once "
    "(default: all of them, the run's extras last); an unknown one is a 400.",
)
_K = Parameter(
    "k",
    "integer",
    f"Neighbours per sample, in [1, min(n-1, {impl.MAX_K})] (n = selection size); the "
    f"server computes at most {impl.MAX_K} (each k is a stack cached in the run).",
    default=10,
    minimum=1,
    maximum=impl.MAX_K,
)
_K_TABLE = Parameter(
    "k",
    "integer",
    f"Neighbours for neighbour stability, in [0, min(n-1, {impl.MAX_K})] (0: leave it out).",
    default=10,
    minimum=0,
    maximum=impl.MAX_K,
)
_LAYER = Parameter(
    "layer", description="Layer of the run, one of its layers (default: the output layer)."
)
_KIND = Parameter(
    "kind",
    description="Fingerprint kind.",
    default="neighbour-transition",
    enum=tuple(KINDS),
)
_DEBIASED = Parameter("debiased", "boolean", "Debiased CKA (kind=cka only).", default=False)
_THRESHOLD = Parameter(
    "threshold",
    "number",
    "Recurrence threshold ε >= 0 (R = [D <= ε]); default: the one giving 10% recurrence. "
    "Not with recurrence_rate.",
    minimum=0,
)
_RATE = Parameter(
    "recurrence_rate",
    "number",
    "Fixed recurrence rate in (0, 1] (instead of threshold).",
    exclusive_minimum=0,
    maximum=1,
)
_NEIGHBOURS = Parameter(
    "neighbours",
    description=(
        "Neighbour search of the neighbour kinds: 'exact' (default) or 'approximate' "
        "(faiss IVF-Flat, for very large runs; the measured recall is in params.recall)."
    ),
    default="exact",
    enum=("exact", "approximate"),
)
_FP = (
    _KIND,
    _K,
    _LAYER,
    replace(_SAMPLES, description=f"{_SAMPLES.description} A fingerprint needs at least 2 ids."),
    _DEBIASED,
    _NEIGHBOURS,
)
# Snapshot indices count from 0; the server takes no negative (from the end) index.
_SNAPSHOT = Parameter(
    "snapshot",
    "integer",
    "Snapshot index in [0, T-1] (T = the run's n_snapshots; no negative indices); default: "
    "the last.",
    minimum=0,
)
_MEASURE = Parameter("name", description="Measure.", default="entropy", enum=impl.MEASURES)


def _snapshot_pair(complete: bool) -> tuple[Parameter, Parameter]:
    what = "A complete snapshot" if complete else "A snapshot"
    return (
        Parameter("a", "integer", f"{what} in [0, T-1] (default: the first complete).", minimum=0),
        Parameter("b", "integer", f"{what} in [0, T-1] (default: the last complete).", minimum=0),
    )


def _table_download(suffix: str, handler: Handler, summary: str, response: str) -> Endpoint:
    """The per-sample table as a file (``samples.<suffix>``): every format takes the same
    selection, rows and columns."""
    return Endpoint(
        f"/api/runs/{{run}}/samples.{suffix}",
        handler,
        summary,
        methods=("GET", "POST"),
        params=(_RUN, _K_TABLE, _LAYER, _SAMPLES, _ROWS, _COLUMNS),
        response=response,
        computes=True,
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", index, "The single-page dashboard (static/index.html).", response="text/html"),
    Endpoint(
        "/static/{path:path}",
        static,
        "Front-end assets; /static/plotly.min.js comes from the installed plotly package.",
        params=(
            Parameter("path", where="path", required=True, description="File inside static/."),
        ),
        response="*/*",
    ),
    Endpoint("/openapi.json", openapi, "This OpenAPI description."),
    Endpoint("/api/runs", runs, "The runs served: name, size, kind, layers, created."),
    Endpoint(
        "/api/runs/{run}",
        overview,
        "Overview of a run (re-read on every call, so new snapshots appear).",
        params=(_RUN,),
    ),
    Endpoint(
        "/api/runs/{run}/labels",
        labels,
        "Labels as compact int32 (N,), -1 = unknown, and class names.",
        params=(_RUN,),
    ),
    Endpoint(
        "/api/runs/{run}/predictions",
        predictions,
        "Predicted class per sample at a snapshot: compact int32 (N,), -1 = not recorded.",
        params=(_RUN, _SNAPSHOT),
    ),
    Endpoint(
        "/api/runs/{run}/thumbs.png",
        thumbs,
        "Sprite sheet of thumbnails, row-major in ceil(sqrt(n)) columns (header "
        "X-Grid-Columns), cells in the order of ids.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            Parameter(
                "ids",
                description=f"Ids and ranges in order, e.g. '5,0-3', repeats kept: at most "
                f"{MAX_SPRITE_IDS} ids (counted while parsing). Empty, absent or 'all': all "
                f"samples, when N <= {MAX_SPRITE_IDS}. A POST body may give a list of ints.",
                pattern=ORDERED_IDS_PATTERN,
                min_length=0,
                max_length=MAX_SELECTION_CHARS,
                ids=True,
                max_items=MAX_SPRITE_IDS,
            ),
            Parameter(
                "size",
                "integer",
                "Cell size in pixels, 4..256, and at most 8192 // ceil(sqrt(n)).",
                default=32,
                minimum=4,
                maximum=256,
            ),
        ),
        response="image/png",
    ),
    Endpoint(
        "/api/runs/{run}/thumb/{sample_id}.png",
        thumb,
        "One thumbnail.",
        params=(
            _RUN,
            Parameter(
                "sample_id",
                "integer",
                "Sample id in [0, N) (N or more: 404).",
                where="path",
                required=True,
                minimum=0,
            ),
            Parameter(
                "size", "integer", "Size in pixels, 4..512.", default=64, minimum=4, maximum=512
            ),
        ),
        response="image/png",
    ),
    Endpoint(
        "/api/runs/{run}/fingerprint",
        fingerprint,
        "A training fingerprint (compact float32 M×M matrix) with row labels and phase changes.",
        methods=("GET", "POST"),
        params=(_RUN, *_FP),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/rqa",
        rqa,
        "Recurrence quantification of a fingerprint and the NNTF band sweep.",
        methods=("GET", "POST"),
        params=(_RUN, *_FP, _THRESHOLD, _RATE),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/measure",
        measure,
        "A per-sample measure at one snapshot: ids (compact int32) and values (compact "
        "float32, NaN where undefined). A label measure on a run without labels, or any "
        "measure on a features run: 422.",
        methods=("GET", "POST"),
        params=(_RUN, _MEASURE, _SNAPSHOT, _SAMPLES),
    ),
    Endpoint(
        "/api/runs/{run}/local",
        local,
        "One sample's k nearest neighbours among the selection at snapshots a and b.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            Parameter("id", "integer", "The sample, in [0, N).", required=True, minimum=0),
            *_snapshot_pair(complete=True),
            _K,
            _LAYER,
            _SAMPLES,
        ),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/transitions",
        transitions,
        "NNTF class-transition matrix Δ between snapshots a and b (C×C counts).",
        methods=("GET", "POST"),
        params=(_RUN, *_snapshot_pair(complete=False), _SAMPLES),
    ),
    Endpoint(
        "/api/runs/{run}/samples",
        samples,
        "Per-sample table: columns and one compact array per column.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            _K_TABLE,
            _LAYER,
            _SAMPLES,
        ),
        computes=True,
    ),
    _table_download(
        "csv",
        samples_csv,
        "The per-sample table as a CSV download (the run's extras included), or only `columns`.",
        "text/csv",
    ),
    _table_download(
        "parquet",
        samples_parquet,
        "The per-sample table as a Parquet download: the columns of the CSV, ints, floats "
        "and booleans typed, null where the CSV is empty. Needs pyarrow on the server "
        "(422 otherwise; the run overview's `exports` lists 'parquet' when it is there).",
        "application/vnd.apache.parquet",
    ),
    Endpoint(
        "/api/runs/{run}/report.html",
        report_html,
        "The self-contained HTML report of the run for the selection (what `reprdynamics "
        "report` writes: fingerprints with phase changes, RQA, NNTF sweep, data map, notable "
        "samples), as a download.",
        methods=("GET", "POST"),
        params=(
            _RUN,
            replace(_SAMPLES, description=f"{_SAMPLES.description} A report needs 2 ids."),
        ),
        response="text/html",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/projection",
        projection,
        "2-D PCA fitted on all complete snapshots, applied to each: coords compact float32 "
        "(T, n, 2).",
        methods=("GET", "POST"),
        params=(_RUN, _LAYER, _SAMPLES),
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/selection",
        selection,
        "Register a selection as a bitmask (body: ceil(N/8) bytes, bit i = bit i%8 of byte "
        "i//8); answers {token, n_selected}. Use samples=<token> in other requests.",
        methods=("POST",),
        params=(_RUN,),
        body="application/octet-stream",
    ),
    Endpoint(
        "/api/runs/{run}/measure.bin",
        measure_binary,
        "A per-sample measure at one snapshot as little-endian float32 (n,), in the order "
        "of the selection's sorted ids; ETag keyed by the run's state.",
        params=(_RUN, _MEASURE, _SNAPSHOT, _SAMPLES),
        response="application/octet-stream",
    ),
    Endpoint(
        "/api/runs/{run}/projection.bin",
        projection_binary,
        "One snapshot of the projection: (n, 2) uint16 codes (X-Scale, X-Offset per axis; "
        "65535 = NaN) or float32.",
        params=(
            _RUN,
            _LAYER,
            _SAMPLES,
            Parameter(
                "snapshot",
                "integer",
                "A projected (complete) snapshot, in [0, T-1] (default: the last).",
                minimum=0,
            ),
            Parameter(
                "encoding", description="Encoding.", default="uint16", enum=("uint16", "float32")
            ),
        ),
        response="application/octet-stream",
        computes=True,
    ),
    Endpoint(
        "/api/runs/{run}/column.bin",
        column_binary,
        "One numeric column of the per-sample table as little-endian float32 (n,).",
        params=(
            _RUN,
            Parameter("column", required=True, description="Column name, as in /samples."),
            _K_TABLE,
            _LAYER,
            _SAMPLES,
        ),
        response="application/octet-stream",
        computes=True,
    ),
    Endpoint(
        "/api/compare",
        compare,
        "Fingerprints and RQA of two runs with the same samples.",
        methods=("GET", "POST"),
        params=(_RUN_A, _RUN_B, *_FP, _THRESHOLD, _RATE),
        computes=True,
    ),
    Endpoint(
        "/api/compare/samples",
        compare_samples,
        "Two runs with the same samples compared sample by sample: columns id, label (a's), "
        "learned_a/b (correct at the last complete snapshot), forgotten_a/b (correct at some "
        "snapshot, not at the last), aum_a/b, aum_change (b - a), forgetting_events_a/b, "
        "neighbour_stability_a/b and _change (b - a; not with k=0) as compact arrays.",
        methods=("GET", "POST"),
        params=(
            _RUN_A,
            replace(_RUN_B, description="Second run name (the same N as a)."),
            _K_TABLE,
            _LAYER,
            _SAMPLES,
        ),
        computes=True,
    ),
    Endpoint(
        "/api/jobs/{job}",
        job,
        "Progress (202) or result (200) of a background computation.",
        params=(Parameter("job", where="path", required=True, description="Job id from a 202."),),
        computes=True,
    ),
)


#: The parameters each handler declares, checked by :func:`check_declared`.
DECLARED: dict[Any, tuple[Parameter, ...]] = {e.handler: e.params for e in ENDPOINTS}


def build_routes() -> list[Route]:
    return [Route(e.path, e.handler, methods=list(e.methods)) for e in ENDPOINTS]
