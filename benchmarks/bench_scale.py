"""How does the analysis scale? Prints figures, baselines, ratios and a summary table of one run.

Usage::

    python benchmarks/bench_scale.py [--quick]
                                     [--only {knn,naive,growth,dashboard,memory,approx,dask}]

knn) Exact kNN of one mid-training snapshot (all rows, k = 10):
   ``k_nearest_neighbours(X, 10, backend="auto")`` against raw faiss (``IndexFlatL2`` on the
   same float32 X, ``search(X, 11)``) at its best thread setting (BLAS 1 or 2 threads ×
   OpenMP 1 or 2 threads, faiss's default block sizes). a) N = 50,000, D = 10, target
   auto / raw ≤ 1.0; b) N = 10,000, D = 512 (a ``penultimate`` layer), target ≤ 1.2;
   c) N = 100,000, D = 10: auto against the fastest exact path (our ``"faiss"`` and
   ``"kdtree"`` backends, and raw faiss, which is not tie-exact; 2 rounds), target ≤ 1.10. What
   ``"auto"`` chose and its estimates are printed; auto's indices must equal ``"faiss"``'s.
naive) Neighbour-transition fingerprint, N = 4,000 × T = 10 × D = 10, against the original
   tool's algorithm (``naive_transition_fingerprint`` of bench_analysis.py: a ball tree per
   snapshot, one query per sample, Python sets). Target ≥ 50x (stretch 100x); the matrices
   must agree.
growth) Time of the neighbour-transition fingerprint against N (T = 10, D = 10), and of
   raw faiss self-kNN of the same snapshots (the brute-force floor; from N = 50,000 on it
   is timed on 3 of the 10 snapshots and scaled, which leaves the exponent unchanged):
   exponent b of time ≈ a·N^b fitted on log-log. Target b ≤ 1.25 (D ≤ 16).
dashboard) The first neighbour-transition fingerprint as the dashboard asks for it
   (``rd.fingerprint(path, ...)``, empty cache), N = 100,000 × T = 20 × D = 10; the raw
   faiss floor of the same search is printed as the baseline. Target ≤ 30 s.
memory) Peak RSS of "every fingerprint + sample_dynamics", N = 20,000 at T = 20 and
   T = 100, each in a fresh (spawned) process, before and after the analysis. Target:
   peak(T=100) ≤ 1.15 × peak(T=20), judged on the child's own high-water mark (VmHWM):
   a spawned child's ``ru_maxrss`` starts at its parent's peak (Linux keeps the maximum
   across fork + exec), so it is printed but cannot be trusted. The peak-memory formula of
   docs/scale.md is evaluated next to the measurement.
approx) Approximate neighbours (``backend="faiss-ivf"``), N = 1,000,000 × T = 5 × D = 10,
   in a fresh process: time, recall and peak RSS (reported, no target).
dask) A 2-worker ``distributed.LocalCluster`` against threads in one process,
   N = 100,000 × T = 10 (T shrunk from 20 to keep the whole benchmark under ~25 min on 2
   cores); matrices must be exactly equal (the ratio is reported).

Synthetic data from bench_analysis.py (``SyntheticTraining``, recorded with its
``record()``). The machine is shared: compared things are interleaved (their order rotated
per repeat), medians of repeats are printed, the load average is printed per part, wall and
CPU time both, and every target is also given as a ratio to a baseline measured in this
run. ``--quick`` shrinks every part (a smoke test under ~90 s; targets printed, not judged;
correctness checks still are). The ``reprdynamics`` source is hashed at the start, after
each part and in every child process, so edits made while the benchmark runs are flagged.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analysis import (
    SyntheticTraining,
    _Clock,
    _load,
    _max_rss_bytes,
    _mib,
    _source_digest,
    naive_transition_fingerprint,
    print_preamble,
    record,
    record_naive_run,
    spawned,
)

import reprdynamics as rd
from reprdynamics.analysis import api as rd_api
from reprdynamics.analysis import k_nearest_neighbours, neighbour_overlap
from reprdynamics.analysis.neighbours import AutoKNNIndex, brute_force_seconds
from reprdynamics.server.arrays import decode_compact

K = 10
PARTS = ("knn", "naive", "growth", "dashboard", "memory", "approx", "dask")
TARGET_KNN_50K = 1.0  # auto / raw faiss, N=50k D=10
TARGET_KNN_512 = 1.2  # auto / raw faiss, N=10k D=512
TARGET_KNN_100K = 1.10  # auto / fastest exact path, N=100k D=10
TARGET_NAIVE = 50.0  # naive / ours
STRETCH_NAIVE = 100.0
TARGET_EXPONENT = 1.25  # time ~ N^b, D <= 16
TARGET_DASHBOARD_S = 30.0
TARGET_MEMORY_RATIO = 1.15  # peak(T=100) / peak(T=20)
FAISS_DEFAULT_BLOCKS = (4096, 1024)  # distance_compute_blas_query_bs, _database_bs
RAW_COMBOS = ((1, 1), (1, 2), (2, 1), (2, 2))  # (BLAS threads, OpenMP threads)
FP_KINDS = ("neighbour-transition", "neighbour-state", "class-transition", "disagreement", "cka")


# ---------------------------------------------------------------------------- results
@dataclass
class Row:
    measure: str
    figure: str
    baseline: str
    ratio: str
    target: str
    kind: str  # "target" (judged in full mode), "check" (always judged), "report"
    met: bool | None = None

    def verdict(self, quick: bool) -> str:
        if self.kind == "report":
            return "report"
        if self.kind == "target" and quick:
            return "n/a (quick)"
        if self.kind == "check":
            return "PASS" if self.met else "FAIL"
        return "PASS" if self.met else "MISS"


_DEFAULT_OMP: list[int] = []  # faiss's OpenMP threads at start-up
_BEST_RAW: dict[str, tuple[int, int]] = {}  # best raw faiss setting found, per data shape


def _hwm_bytes() -> int:
    """This process's own peak RSS (VmHWM of its address space; ru_maxrss elsewhere).

    A spawned child's ``ru_maxrss`` starts at its *parent's* peak (Linux keeps the maximum
    across fork/vfork + exec), so it cannot tell a child's analysis from what the parent
    held; VmHWM belongs to the child's own address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _max_rss_bytes()


def _clear_memo() -> None:
    rd_api._MEMO.clear()


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    with _Clock() as clock:
        out = fn()
    return clock.wall, clock.cpu, out


def _interleaved(
    contenders: dict[str, Callable[[], tuple[float, float, Any]]], repeats: int
) -> dict[str, tuple[float, float, Any]]:
    """Run every contender ``repeats`` times, rotating the order; medians of wall and CPU.

    A contender returns ``(wall, cpu, output)`` itself, so set-up (thread limits, memo
    clearing) stays outside its clock. The last output of each is kept.
    """
    names = list(contenders)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    outs: dict[str, Any] = {}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu, out = contenders[name]()
            walls[name].append(wall)
            cpus[name].append(cpu)
            outs[name] = out
    return {n: (statistics.median(walls[n]), statistics.median(cpus[n]), outs[n]) for n in names}


def _ours_knn(X: np.ndarray, backend: Any) -> Callable[[], tuple[float, float, Any]]:
    def run() -> tuple[float, float, Any]:
        index = AutoKNNIndex() if backend == "auto" else backend
        wall, cpu, result = _timed(lambda: k_nearest_neighbours(X, K, backend=index))
        return wall, cpu, (result, index)

    return run


def _raw_faiss(
    X: np.ndarray, blas: int, omp: int, k_search: int = K + 1
) -> tuple[float, float, np.ndarray]:
    """faiss IndexFlatL2 built on X and searched with every row, at one thread setting."""
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.cvar.distance_compute_blas_query_bs = FAISS_DEFAULT_BLOCKS[0]
    faiss.cvar.distance_compute_blas_database_bs = FAISS_DEFAULT_BLOCKS[1]
    with threadpool_limits(blas, user_api="blas"):
        faiss.omp_set_num_threads(omp)
        try:
            with _Clock() as clock:
                index = faiss.IndexFlatL2(X.shape[1])
                index.add(X)
                _, found = index.search(X, k_search)
        finally:
            faiss.omp_set_num_threads(_DEFAULT_OMP[0] if _DEFAULT_OMP else os.cpu_count() or 1)
    return clock.wall, clock.cpu, found


def _raw_contender(X: np.ndarray, combo: tuple[int, int]) -> Callable[[], tuple[float, float, Any]]:
    return lambda: _raw_faiss(X, *combo)


def _combo_name(combo: tuple[int, int]) -> str:
    return f"raw faiss (BLAS {combo[0]}, OpenMP {combo[1]})"


def _raw_others(found: np.ndarray) -> np.ndarray:
    """Raw faiss's k+1 results without the query itself (or the last, if it is absent)."""
    n, k1 = found.shape
    is_self = found == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k1 - 1)
    keep = np.arange(k1)[None, :] != drop[:, None]
    return found[keep].reshape(n, k1 - 1)


def _snapshot(data: SyntheticTraining, layer: str, t: int) -> np.ndarray:
    for pos, layers in enumerate(data.snapshots()):
        if pos == t:
            return np.ascontiguousarray(layers[layer], dtype=np.float32)
    raise ValueError(t)


def _snapshots_of(path: Path) -> list[np.ndarray]:
    run = rd.open_run(path)
    return [
        np.ascontiguousarray(run.read(run.output_layer, int(t)), dtype=np.float32)
        for t in run.complete_snapshots
    ]


def _best_combo(results: dict[str, tuple[float, float, Any]]) -> tuple[int, int]:
    return min(RAW_COMBOS, key=lambda c: results[_combo_name(c)][0])


def _print_timings(results: dict[str, tuple[float, float, Any]], repeats: int) -> None:
    for name, (wall, cpu, _) in results.items():
        print(f"      {name:<44}{wall:9.3f} s wall {cpu:9.3f} s cpu (median of {repeats})")


def _exponent(ns: list[int], times: list[float]) -> float:
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(times), 1)[0])


def _note_digest(digest: str, where: str) -> None:
    now = _source_digest()
    if now != digest:
        print(
            f"    NOTE: the reprdynamics source changed ({digest} -> {now}) {where}; "
            "the figures may mix versions."
        )


# ---------------------------------------------------------------------------- knn
def bench_knn(quick: bool) -> list[Row]:
    repeats = 1 if quick else 3
    repeats_c = 1 if quick else 2  # four paths of ~10-20 s each at N=100k: 2 rounds
    rows: list[Row] = []
    sizes = {
        "a": (5_000 if quick else 50_000, None),
        "b": (2_000 if quick else 10_000, 512),
        "c": (10_000 if quick else 100_000, None),
    }
    T = 10
    # a) and b): auto against raw faiss at each of its thread settings.
    for part, target in (("a", TARGET_KNN_50K), ("b", TARGET_KNN_512)):
        n, width = sizes[part]
        layer = "logits" if width is None else "penultimate"
        data = SyntheticTraining(n, T, width=width, seed=10 + ord(part))
        X = _snapshot(data, layer, T // 2)
        dim = X.shape[1]
        print(
            f"\n[knn {part}] Exact kNN of one snapshot ({layer}, mid-training t={T // 2}): "
            f"N={n:,} x D={dim}, k={K}, all rows ({_load()})"
        )
        contenders = {"ours backend='auto'": _ours_knn(X, "auto")}
        contenders.update({_combo_name(c): _raw_contender(X, c) for c in RAW_COMBOS})
        k_nearest_neighbours(X[: min(n, 2000)], K, backend="auto")  # warm-up (imports)
        results = _interleaved(contenders, repeats)
        _print_timings(results, repeats)
        best = _best_combo(results)
        _BEST_RAW[f"D{dim}"] = best
        auto_wall = results["ours backend='auto'"][0]
        raw_wall = results[_combo_name(best)][0]
        auto_result, auto_index = results["ours backend='auto'"][2]
        print(
            f"    auto chose {auto_index.chosen_.name!r} (result.backend {auto_result.backend!r}),"
            f" estimates {_fmt_estimates(auto_index.estimates_)}"
        )
        wall_f, _, faiss_result = _timed(lambda X=X: k_nearest_neighbours(X, K, backend="faiss"))
        same = np.array_equal(auto_result.indices, faiss_result.indices)
        agree = float(
            np.mean(
                neighbour_overlap(auto_result.indices, _raw_others(results[_combo_name(best)][2]))
            )
        )
        print(
            f"    best raw faiss setting: {_combo_name(best)}; auto / raw = "
            f"{auto_wall / raw_wall:.2f}; our 'faiss' backend (once) {wall_f:.3f} s"
        )
        print(
            f"    exactness: auto indices == 'faiss' indices: {same}; raw faiss (not tie-exact)"
            f" shares {agree:.2%} of the neighbour slots"
        )
        rows.append(
            Row(
                f"knn {part}) auto vs raw faiss, {n:,}x{dim}",
                _s(auto_wall),
                f"{_s(raw_wall)} (BLAS {best[0]}, OMP {best[1]})",
                _x(auto_wall / raw_wall),
                f"<= {target:.2f}x",
                "target",
                auto_wall / raw_wall <= target,
            )
        )
        rows.append(
            Row(
                f"knn {part}) auto == 'faiss' indices",
                str(same),
                "'faiss' backend",
                "-",
                "equal",
                "check",
                same,
            )
        )

    # c) auto against every exact path.
    n = sizes["c"][0]
    data = SyntheticTraining(n, T, seed=12)
    X = _snapshot(data, "logits", T // 2)
    del data
    best = _BEST_RAW.get("D10", (1, 2))
    print(
        f"\n[knn c] Exact kNN of one snapshot: N={n:,} x D=10, k={K}: auto against the fastest "
        f"exact path ({_load()})"
    )
    print(f"    raw faiss at the best setting of knn a): {_combo_name(best)}")
    contenders = {
        "ours backend='auto'": _ours_knn(X, "auto"),
        "ours backend='faiss'": _ours_knn(X, "faiss"),
        "ours backend='kdtree'": _ours_knn(X, "kdtree"),
        "raw faiss (not tie-exact)": _raw_contender(X, best),
    }
    results = _interleaved(contenders, repeats_c)
    _print_timings(results, repeats_c)
    auto_result, auto_index = results["ours backend='auto'"][2]
    faiss_result = results["ours backend='faiss'"][2][0]
    tree_result = results["ours backend='kdtree'"][2][0]
    print(
        f"    auto chose {auto_index.chosen_.name!r} (result.backend {auto_result.backend!r}), "
        f"estimates {_fmt_estimates(auto_index.estimates_)}"
    )
    paths = {name: results[name][0] for name in list(contenders)[1:]}
    fastest = min(paths, key=paths.__getitem__)
    ours_fastest = min(("ours backend='faiss'", "ours backend='kdtree'"), key=paths.__getitem__)
    auto_wall = results["ours backend='auto'"][0]
    same = np.array_equal(auto_result.indices, faiss_result.indices)
    tree_same = np.array_equal(tree_result.indices, faiss_result.indices)
    agree = float(
        np.mean(
            neighbour_overlap(
                faiss_result.indices, _raw_others(results["raw faiss (not tie-exact)"][2])
            )
        )
    )
    print(
        f"    fastest exact path: {fastest} {paths[fastest]:.3f} s -> auto / fastest = "
        f"{auto_wall / paths[fastest]:.2f} (auto / fastest of ours, {ours_fastest}: "
        f"{auto_wall / paths[ours_fastest]:.2f})"
    )
    print(
        f"    exactness: auto == 'faiss': {same}; 'kdtree' == 'faiss': {tree_same}; raw faiss "
        f"shares {agree:.2%} of the neighbour slots (raw faiss does not apply the tie rule)"
    )
    rows.append(
        Row(
            f"knn c) auto vs fastest exact path, {n:,}x10",
            f"{_s(auto_wall)} [{auto_index.chosen_.name}]",
            f"{_s(paths[fastest])} [{fastest.replace('ours backend=', '')}]",
            _x(auto_wall / paths[fastest]),
            f"<= {TARGET_KNN_100K:.2f}x",
            "target",
            auto_wall <= TARGET_KNN_100K * paths[fastest],
        )
    )
    rows.append(
        Row(
            "knn c) auto == 'faiss' == 'kdtree' indices",
            str(same and tree_same),
            "'faiss' backend",
            "-",
            "equal",
            "check",
            same and tree_same,
        )
    )
    return rows


def _fmt_estimates(estimates: dict[str, float]) -> str:
    if not estimates:
        return "{} (nothing probed)"
    return "{" + ", ".join(f"{k}: {v:.2f} s" for k, v in estimates.items()) + "}"


# ---------------------------------------------------------------------------- naive
def bench_naive(workdir: Path, quick: bool) -> list[Row]:
    n, T, repeats = (400, 4, 1) if quick else (4_000, 10, 3)
    print(
        f"\n[naive] Neighbour-transition fingerprint: N={n:,} x T={T} x D=10, k={K}, against "
        f"the original tool's algorithm ({_load()})"
    )
    data, path, snapshots = record_naive_run(workdir, n, T)

    def ours() -> tuple[float, float, Any]:
        _clear_memo()
        return _timed(lambda: rd.fingerprint(path, "neighbour-transition", k=K, use_cache=False))

    def naive() -> tuple[float, float, Any]:
        return _timed(lambda: naive_transition_fingerprint(snapshots, data.labels, K)[0])

    ours()  # warm-up: imports, faiss start-up
    results = _interleaved({"ours rd.fingerprint(use_cache=False)": ours, "naive": naive}, repeats)
    _print_timings(results, repeats)
    ours_wall, _, fp = results["ours rd.fingerprint(use_cache=False)"]
    naive_wall, _, naive_matrix = results["naive"]
    diff = float(np.abs(fp.matrix - naive_matrix).max())
    speedup = naive_wall / ours_wall
    print(
        f"    naive / ours = {speedup:.1f}x (target >= {TARGET_NAIVE:.0f}x, stretch "
        f"{STRETCH_NAIVE:.0f}x); max |ours - naive| = {diff:.1e}; backend {fp.params['backend']}"
    )
    size = f"{n:,}x{T}x10"
    return [
        Row(
            f"naive / ours speed-up, {size}",
            _s(ours_wall),
            f"{_s(naive_wall)} (naive)",
            f"{speedup:.1f}x",
            f">= {TARGET_NAIVE:.0f}x (stretch {STRETCH_NAIVE:.0f}x)",
            "target",
            speedup >= TARGET_NAIVE,
        ),
        Row(
            "naive == ours fingerprint",
            f"max diff {diff:.1e}",
            "naive matrix",
            "-",
            "<= 1e-12",
            "check",
            diff <= 1e-12,
        ),
    ]


# ---------------------------------------------------------------------------- growth
def _calibrate_raw(X: np.ndarray, key: str, repeats: int) -> tuple[int, int]:
    if key in _BEST_RAW:
        print(f"    raw faiss setting from knn: {_combo_name(_BEST_RAW[key])}")
        return _BEST_RAW[key]
    results = _interleaved({_combo_name(c): _raw_contender(X, c) for c in RAW_COMBOS}, repeats)
    best = _best_combo(results)
    print(
        f"    raw faiss setting calibrated on N={X.shape[0]:,}: {_combo_name(best)} "
        f"({', '.join(f'{b}/{o}: {results[_combo_name((b, o))][0]:.3f} s' for b, o in RAW_COMBOS)})"
    )
    _BEST_RAW[key] = best
    return best


def _raw_floor(snapshots: list[np.ndarray], combo: tuple[int, int]) -> tuple[float, float]:
    wall = cpu = 0.0
    for X in snapshots:
        w, c, _ = _raw_faiss(X, *combo)
        wall += w
        cpu += c
    return wall, cpu


def bench_growth(workdir: Path, quick: bool) -> list[Row]:
    T = 10
    ns = [1_000, 2_000, 4_000] if quick else [4_000, 10_000, 25_000, 50_000, 100_000]
    reps = {n: 1 if quick else (3 if n <= 25_000 else 1) for n in ns}
    # The raw floor of the largest sizes is sampled (first, middle, last snapshot, scaled to
    # T): a constant factor leaves the fitted exponent unchanged and saves minutes.
    sampled = {n: n >= 50_000 for n in ns}
    print(
        f"\n[growth] Neighbour-transition fingerprint time against N: T={T}, D=10, k={K}, "
        f"N in {ns} ({_load()})"
    )
    calib = SyntheticTraining(min(25_000, ns[-1]), 4, seed=19)
    combo = _calibrate_raw(_snapshot(calib, "logits", 2), "D10", 1 if quick else 2)
    del calib
    ours_t: list[float] = []
    raw_t: list[float] = []
    for n in ns:
        path = workdir / f"growth-{n}"
        record(path, SyntheticTraining(n, T, seed=20))
        snapshots = _snapshots_of(path)

        def ours(path: Path = path) -> tuple[float, float, Any]:
            _clear_memo()
            return _timed(
                lambda: rd.fingerprint(path, "neighbour-transition", k=K, use_cache=False)
            )

        picks = sorted({0, T // 2, T - 1}) if sampled[n] else list(range(T))

        def raw(snapshots: list[np.ndarray] = snapshots, picks=picks) -> tuple[float, float, Any]:
            wall, cpu = _raw_floor([snapshots[t] for t in picks], combo)
            return wall * T / len(picks), cpu * T / len(picks), None

        results = _interleaved({"ours": ours, "raw": raw}, reps[n])
        ours_t.append(results["ours"][0])
        raw_t.append(results["raw"][0])
        (ow, oc, _), (rw, rc, _) = results["ours"], results["raw"]
        print(
            f"    N={n:>7,}: ours {ow:8.3f} s wall {oc:8.3f} s cpu | raw faiss floor "
            f"({len(picks)} of {T} self-kNN searches{', x T/3' if sampled[n] else ''}) "
            f"{rw:8.3f} s wall {rc:8.3f} s cpu | ours/raw {ow / rw:.2f} "
            f"(median of {reps[n]}; {_load()})"
        )
        shutil.rmtree(path)
        del snapshots
    b_ours, b_raw = _exponent(ns, ours_t), _exponent(ns, raw_t)
    local = [
        f"{math.log(ours_t[i + 1] / ours_t[i]) / math.log(ns[i + 1] / ns[i]):.2f}"
        for i in range(len(ns) - 1)
    ]
    print(
        f"    fitted exponent b (time ~ a N^b): ours {b_ours:.2f}, raw faiss {b_raw:.2f}; "
        f"ours between consecutive N: {', '.join(local)}"
    )
    if b_ours > TARGET_EXPONENT:
        print(
            f"    ours misses b <= {TARGET_EXPONENT}: the exact brute-force floor itself grows as "
            f"N^{b_raw:.2f} (exact kNN of 10-D data is quadratic unless a tree pays off)"
        )
    return [
        Row(
            f"growth exponent b, fingerprint, N {ns[0]:,}..{ns[-1]:,}",
            f"b = {b_ours:.2f}",
            f"raw faiss b = {b_raw:.2f}",
            _x(b_ours / b_raw),
            f"b <= {TARGET_EXPONENT}",
            "target",
            b_ours <= TARGET_EXPONENT,
        ),
        Row(
            f"growth time at N={ns[-1]:,}, T={T}",
            _s(ours_t[-1]),
            f"{_s(raw_t[-1])} (raw faiss floor)",
            _x(ours_t[-1] / raw_t[-1]),
            "-",
            "report",
        ),
    ]


# ---------------------------------------------------------------------------- dashboard
def bench_dashboard(workdir: Path, quick: bool) -> list[Row]:
    n, T = (10_000, 5) if quick else (100_000, 20)
    print(
        f"\n[dashboard] First neighbour-transition fingerprint, empty cache: N={n:,} x T={T} x "
        f"D=10, k={K} ({_load()})"
    )
    path = workdir / "dashboard-run"
    rec = record(path, SyntheticTraining(n, T, seed=40))
    print(f"    recorded with record(): {rec['wall']:.1f} s, run {_mib(rec['disk'])}")
    snapshots = _snapshots_of(path)
    combo = _BEST_RAW.get("D10") or _calibrate_raw(snapshots[0][:25_000], "D10", 1)
    picks = sorted({0, T // 2, T - 1})
    # The raw floor is sampled (first, middle, last snapshot) before and after ours.
    w0, c0 = _raw_floor([snapshots[picks[0]]], combo)
    _clear_memo()
    wall, cpu, fp = _timed(lambda: rd.fingerprint(str(path), "neighbour-transition", k=K))
    rest = _raw_floor([snapshots[t] for t in picks[1:]], combo)
    floor = (w0 + rest[0]) / len(picks) * T
    floor_cpu = (c0 + rest[1]) / len(picks) * T
    _clear_memo()
    cached_wall, _, fp2 = _timed(lambda: rd.fingerprint(str(path), "neighbour-transition", k=K))
    print(
        f"    first fingerprint {wall:.2f} s wall {cpu:.2f} s cpu (cached: {fp.params['cached']})"
    )
    print(
        f"    raw faiss floor {floor:.2f} s wall {floor_cpu:.2f} s cpu (self-kNN of {len(picks)} "
        f"of {T} snapshots timed, x {T}/{len(picks)}; {_combo_name(combo)}); "
        f"ours / floor {wall / floor:.2f}"
    )
    print(
        f"    second call (from the run's cache, memo cleared) {cached_wall:.3f} s, "
        f"cached: {fp2.params['cached']}, same matrix: {np.array_equal(fp.matrix, fp2.matrix)}"
    )
    if wall > TARGET_DASHBOARD_S and floor > TARGET_DASHBOARD_S:
        print(
            f"    the {TARGET_DASHBOARD_S:.0f} s target is below the raw brute-force floor "
            f"({floor:.0f} s) on this machine"
        )
    approx_wall, approx = _dashboard_request(path, "approximate")
    _clear_memo()
    exact_rows = np.asarray(fp.matrix)
    approx_matrix = decode_compact(approx["matrix"]).astype(np.float64)
    print(
        f"    the dashboard's 'approximate' switch (HTTP, faiss-ivf, empty cache): "
        f"{approx_wall:.2f} s, recall {approx['params'].get('recall', float('nan')):.3f}, "
        f"largest difference from the exact matrix "
        f"{float(np.nanmax(np.abs(approx_matrix - exact_rows))):.4f}"
    )
    shutil.rmtree(path)
    return [
        Row(
            f"dashboard, approximate switch (instead), {n:,}x{T}x10",
            _s(approx_wall),
            f"{_s(wall)} (exact, first call)",
            _x(approx_wall / wall),
            f"<= {TARGET_DASHBOARD_S:.0f} s",
            "target",
            approx_wall <= TARGET_DASHBOARD_S,
        ),
        Row(
            f"dashboard first fingerprint, {n:,}x{T}x10",
            _s(wall),
            f"{_s(floor)} (raw faiss floor)",
            _x(wall / floor),
            f"<= {TARGET_DASHBOARD_S:.0f} s",
            "target",
            wall <= TARGET_DASHBOARD_S,
        ),
    ]


def _dashboard_request(path: Path, neighbours: str) -> tuple[float, dict[str, Any]]:
    """Time the dashboard's own request for the fingerprint, answered by the real server app.

    The run's neighbour cache is cleared first, so the search is part of the figure; the
    202 progress answers are polled every 50 ms, as the browser does.
    """
    import warnings

    from reprdynamics.server.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    shutil.rmtree(path / "cache", ignore_errors=True)
    _clear_memo()
    query = f"kind=neighbour-transition&k={K}&neighbours={neighbours}"
    url = f"/api/runs/{path.name}/fingerprint?{query}"
    with TestClient(create_app(path)) as client, _Clock() as clock:
        while True:
            response = client.get(url)
            if response.status_code == 200:
                break
            if response.status_code != 202:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
            time.sleep(0.05)
    return clock.wall, response.json()


# ---------------------------------------------------------------------------- children
def _child(conn: Any, task: str, path: str) -> None:
    """One analysis in a fresh (spawned) process: times, memory, source digest."""
    try:
        digest = _source_digest()
        import faiss  # noqa: F401  (libraries loaded before "before", so it counts data)
        import scipy.spatial  # noqa: F401

        run = rd.open_run(path)
        before, hwm_before = _max_rss_bytes(), _hwm_bytes()
        steps: list[tuple[str, float, float]] = []
        extra: dict[str, Any] = {}
        if task == "memory":
            for kind in FP_KINDS:
                w, c, _ = _timed(lambda kind=kind: rd.fingerprint(path, kind, k=K))
                steps.append((f"fingerprint {kind}", w, c))
            w, c, _ = _timed(lambda: rd.sample_dynamics(path, neighbour_k=K))
            steps.append(("sample_dynamics(neighbour_k=10)", w, c))
        else:  # approx
            w, c, fp = _timed(
                lambda: rd.fingerprint(path, "neighbour-transition", k=K, backend="faiss-ivf")
            )
            steps.append(("fingerprint neighbour-transition [faiss-ivf]", w, c))
            extra["recall"] = fp.params.get("recall")
        conn.send(
            {
                "steps": steps,
                "before": before,
                "after": _max_rss_bytes(),
                "hwm_before": hwm_before,
                "peak": _hwm_bytes(),
                "digest": digest,
                "n": run.n_samples,
                **extra,
            }
        )
    except BaseException:
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def _in_child(task: str, path: Path) -> dict[str, Any]:
    result = spawned(_child, (task, str(path)), f"{task} child")
    result["wall"] = sum(w for _, w, _ in result["steps"])
    result["cpu"] = sum(c for _, _, c in result["steps"])
    return result


def _print_child(result: dict[str, Any], digest: str) -> None:
    for name, wall, cpu in result["steps"]:
        print(f"      {name:<46}{wall:9.3f} s wall {cpu:9.3f} s cpu")
    print(
        f"      {'total':<46}{result['wall']:9.3f} s wall {result['cpu']:9.3f} s cpu "
        f"(process incl. start-up {result['process_wall']:.1f} s)"
    )
    print(
        f"      ru_maxrss before the analysis {_mib(result['before'])}, after "
        f"{_mib(result['after'])}, increase {_mib(result['after'] - result['before'])} "
        f"(a spawned child's ru_maxrss starts at the parent's peak)"
    )
    print(
        f"      own peak RSS (VmHWM) before {_mib(result['hwm_before'])}, after "
        f"{_mib(result['peak'])}, increase {_mib(result['peak'] - result['hwm_before'])}"
    )
    if result["digest"] != digest:
        print(f"      NOTE: the child ran changed source ({digest} -> {result['digest']})")


# ---------------------------------------------------------------------------- memory
def _documented_peak() -> list[str]:
    docs = Path(__file__).resolve().parent.parent / "docs"
    hits = []
    for doc in sorted(docs.rglob("*.md")) if docs.is_dir() else []:
        for number, line in enumerate(doc.read_text(errors="replace").splitlines(), 1):
            if re.search(r"peak", line, re.IGNORECASE):
                hits.append(f"{doc.relative_to(docs.parent)}:{number}: {line.strip()}")
    return hits


def _documented_formula(lines: list[str]) -> tuple[str, Callable[..., float]] | None:
    """The documented ``peak ≈ ...`` formula as a function of R0, W, n, D, k, T (bytes).

    Read from the docs at run time, so the prediction follows the documentation as it is.
    """
    for line in lines:
        if "peak ≈" not in line:
            continue
        text = line.split("peak ≈", 1)[1].strip()
        expr = text.replace("R₀", "R0").replace("·", "*").replace("×", "*")
        expr = re.sub(
            r"\s*(KiB|MiB|GiB)\b",
            lambda m: {"KiB": "*2**10", "MiB": "*2**20", "GiB": "*2**30"}[m.group(1)],
            expr,
        )
        if not re.fullmatch(r"[\w\s.+*/()\-,]+", expr):
            return None
        try:
            code = compile(expr, "docs", "eval")
        except SyntaxError:
            return None

        def predict(code: Any = code, **names: float) -> float:
            scope = {"__builtins__": {}, "max": max, "min": min, **names}
            return float(eval(code, scope))

        return text, predict
    return None


def _print_prediction(lines: list[str], r0: float, n: int, T: int, measured: float) -> None:
    formula = _documented_formula(lines)
    if formula is None:
        print("      (no evaluable 'peak ≈' formula found in docs/)")
        return
    text, predict = formula
    workers = os.cpu_count() or 1  # the default thread executor: a thread per core
    try:
        predicted = predict(R0=r0, W=workers, n=n, D=10, k=K, T=T)
    except Exception as exc:  # a formula with other names than these
        print(f"      could not evaluate the documented formula {text!r}: {exc}")
        return
    print(
        f"      documented formula (R0 = the child's VmHWM before = {_mib(r0)}, W = {workers}, "
        f"n = {n:,}, D = 10, k = {K}, T = {T}): {_mib(predicted)}; measured {_mib(measured)} "
        f"= {measured / predicted:.2f} x the prediction"
    )


def bench_memory(workdir: Path, quick: bool, digest: str) -> list[Row]:
    n, Ts = (2_000, (5, 20)) if quick else (20_000, (20, 100))
    print(
        f"\n[memory] Every fingerprint + sample_dynamics, N={n:,} x D=10, T in {Ts}, each in a "
        f"fresh spawned process; faiss and SciPy imported before 'before' ({_load()})"
    )
    results = {}
    for T in Ts:
        path = workdir / f"memory-{T}"
        rec = record(path, SyntheticTraining(n, T, seed=50 + T))
        print(f"    T={T}: recorded {rec['wall']:.1f} s, run {_mib(rec['disk'])} ({_load()})")
        results[T] = _in_child("memory", path)
        _print_child(results[T], digest)
        shutil.rmtree(path)
    lo, hi = results[Ts[0]], results[Ts[1]]
    ratio = hi["peak"] / lo["peak"]
    growth = (hi["peak"] - hi["hwm_before"]) / max(lo["peak"] - lo["hwm_before"], 1)
    b_time = math.log(hi["wall"] / lo["wall"]) / math.log(Ts[1] / Ts[0])
    print(
        f"    own peak (VmHWM) T={Ts[1]} / T={Ts[0]} = {ratio:.3f} (increase ratio {growth:.2f}; "
        f"ru_maxrss ratio {hi['after'] / lo['after']:.3f}); time "
        f"grows as T^{b_time:.2f} ({lo['wall']:.1f} s -> {hi['wall']:.1f} s)"
    )
    docs = _documented_peak()
    if docs:
        print("    documented peak-memory statements (docs/):")
        for line in docs:
            print(f"      {line}")
        for T in Ts:
            _print_prediction(docs, results[T]["hwm_before"], n, T, results[T]["peak"])
    else:
        print("    no peak-memory formula documented in docs/ (grep 'peak'): measured numbers only")
    return [
        Row(
            f"memory peak RSS (VmHWM) T={Ts[1]} vs T={Ts[0]}, N={n:,}",
            _mib(hi["peak"]),
            f"{_mib(lo['peak'])} (T={Ts[0]})",
            _x(ratio),
            f"<= {TARGET_MEMORY_RATIO:.2f}x",
            "target",
            ratio <= TARGET_MEMORY_RATIO,
        ),
        Row(
            f"memory time T={Ts[1]} vs T={Ts[0]}",
            _s(hi["wall"]),
            f"{_s(lo['wall'])} (T={Ts[0]})",
            f"{hi['wall'] / lo['wall']:.2f}x, T^{b_time:.2f}",
            "-",
            "report",
        ),
    ]


# ---------------------------------------------------------------------------- approx
def bench_approx(workdir: Path, quick: bool, digest: str) -> list[Row]:
    n, T = (50_000, 2) if quick else (1_000_000, 5)
    print(
        f"\n[approx] Approximate neighbours (faiss-ivf) in a fresh process: N={n:,} x T={T} x "
        f"D=10, k={K} ({_load()})"
    )
    path = workdir / "approx-run"
    data = SyntheticTraining(n, T, seed=60)
    rec = record(path, data)
    del data
    print(f"    recorded with record(): {rec['wall']:.1f} s, run {_mib(rec['disk'])}")
    result = _in_child("approx", path)
    _print_child(result, digest)
    model = brute_force_seconds(n, n, 10, threads=os.cpu_count() or 1) * T
    recall = result.get("recall")
    docs = _documented_peak()
    if docs:
        _print_prediction(docs, result["hwm_before"], n, T, result["peak"])
    print(
        f"    recall {recall}; exact flat search would take ~{model:.0f} s by the library's "
        f"cost model (brute_force_seconds, not measured)"
    )
    shutil.rmtree(path)
    return [
        Row(
            f"approx faiss-ivf fingerprint, {n:,}x{T}x10",
            _s(result["wall"]),
            f"~{_s(model)} (exact, cost model)",
            _x(result["wall"] / model),
            "-",
            "report",
        ),
        Row(
            "approx recall / peak RSS",
            f"recall {recall:.4f}" if isinstance(recall, float) else f"recall {recall}",
            "exact = 1",
            f"peak (VmHWM) {_mib(result['peak'])}",
            "-",
            "report",
        ),
    ]


# ---------------------------------------------------------------------------- dask
def bench_dask(workdir: Path, quick: bool) -> list[Row]:
    n, T, repeats = (10_000, 4, 2) if quick else (100_000, 10, 1)
    note = "" if quick else " (T shrunk from 20 to 10, 1 run each, to stay under ~25 min)"
    print(
        f"\n[dask] 2-worker LocalCluster against threads in one process: N={n:,} x T={T} x D=10,"
        f" k={K}{note} ({_load()})"
    )
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("    distributed not installed: skipped")
        return [Row("dask", "skipped", "-", "-", "-", "report")]
    base = workdir / "dask-run"
    record(base, SyntheticTraining(n, T, seed=70))
    warm = workdir / "dask-warm"
    record(warm, SyntheticTraining(1_000, 2, seed=71))
    with _Clock() as start:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    print(f"    cluster started in {start.wall:.1f} s (not counted)")
    counter = [0]
    try:
        for scheduler in (client, None):  # warm-up: imports in the workers and here
            copy = workdir / f"dask-warm-{counter[0]}"
            counter[0] += 1
            shutil.copytree(warm, copy)
            rd.fingerprint(copy, "neighbour-transition", k=K, scheduler=scheduler)

        def on(scheduler: Any) -> Callable[[], tuple[float, float, Any]]:
            def run() -> tuple[float, float, Any]:
                copy = workdir / f"dask-copy-{counter[0]}"
                counter[0] += 1
                shutil.copytree(base, copy)  # an empty cache each time
                _clear_memo()
                out = _timed(
                    lambda: rd.fingerprint(copy, "neighbour-transition", k=K, scheduler=scheduler)
                )
                shutil.rmtree(copy)
                return out

            return run

        results = _interleaved(
            {"threads (scheduler=None)": on(None), "LocalCluster (2 workers)": on(client)},
            repeats,
        )
    finally:
        client.close()
        cluster.close()
    _print_timings(results, repeats)
    threads_wall, _, fp_threads = results["threads (scheduler=None)"]
    dask_wall, _, fp_dask = results["LocalCluster (2 workers)"]
    equal = np.array_equal(fp_threads.matrix, fp_dask.matrix)
    print(
        f"    cluster / threads = {dask_wall / threads_wall:.2f} (CPU above counts this process "
        f"only); matrices exactly equal: {equal}"
    )
    return [
        Row(
            f"dask LocalCluster vs threads, {n:,}x{T}x10",
            _s(dask_wall),
            f"{_s(threads_wall)} (threads)",
            _x(dask_wall / threads_wall),
            "~1x on 2 cores",
            "report",
        ),
        Row(
            "dask == threads fingerprint",
            str(equal),
            "threads matrix",
            "-",
            "equal",
            "check",
            equal,
        ),
    ]


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark how the ReprDynamics analysis scales.")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--only", choices=PARTS, help="run one part")
    args = parser.parse_args(argv)
    quick = args.quick
    parts = [args.only] if args.only else list(PARTS)
    digest = _source_digest()
    try:
        import faiss

        _DEFAULT_OMP.append(faiss.omp_get_max_threads())
    except ImportError:
        print("faiss is not installed: this benchmark needs it")
        return 1

    print_preamble(digest, quick, "targets printed, not judged")
    rows: list[Row] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        for part in parts:
            part_began = time.perf_counter()
            try:
                if part == "knn":
                    rows += bench_knn(quick)
                elif part == "naive":
                    rows += bench_naive(workdir, quick)
                elif part == "growth":
                    rows += bench_growth(workdir, quick)
                elif part == "dashboard":
                    rows += bench_dashboard(workdir, quick)
                elif part == "memory":
                    rows += bench_memory(workdir, quick, digest)
                elif part == "approx":
                    rows += bench_approx(workdir, quick, digest)
                else:
                    rows += bench_dask(workdir, quick)
            except Exception:
                traceback.print_exc()
                rows.append(
                    Row(f"{part}: error", "see traceback", "-", "-", "runs", "check", False)
                )
            print(f"    [{part} took {time.perf_counter() - part_began:.1f} s; {_load()}]")
            _note_digest(digest, f"during part {part}")
    header = ("measure", "figure", "baseline", "ratio", "target", "verdict")
    table = [(r.measure, r.figure, r.baseline, r.ratio, r.target, r.verdict(quick)) for r in rows]
    print(f"\nSummary (whole benchmark {time.perf_counter() - began:.1f} s, {_load()})")
    widths = [max(len(r[i]) for r in [*table, header]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    _note_digest(digest, "while the benchmark ran")
    return 1 if any(r.kind == "check" and not r.met for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
