"""How fast is the analysis? Prints the figures, ratios and a summary table of one run.

Usage::

    python benchmarks/bench_analysis.py [--quick] [--only {naive,scale,features}]
                                        [--backends exact,auto,faiss]

naive) Neighbour-transition fingerprint, N = 4,000 × T = 10 × D = 10, k = 10, all samples:
   ``reprdynamics.fingerprint`` on a run written with :class:`reprdynamics.Recorder`
   (``use_cache=False``), and the pure-array path (``k_nearest_neighbours`` per snapshot,
   ``neighbour_overlap``, ``neighbour_transition_fingerprint``), against a baseline written
   the original tool's way: a ``KNeighborsClassifier(algorithm="ball_tree")`` fitted per
   snapshot and queried one sample at a time in a Python loop, overlaps from Python sets.
   The baseline computes *our* definition (the k nearest *other* samples; the original
   counted the sample itself), and both must give the same matrix. Backends ``"exact"``
   (the default) and ``"auto"``. Target: ≥ 50x faster.
scale) N = 50,000 × T = 20 × D = 10 logits: neighbours, every fingerprint kind and
   ``sample_dynamics(neighbour_k=10)``, each timed, with backends ``"exact"``, ``"auto"``
   and ``"faiss"`` (all exact; what ``"auto"`` resolves to at this size is printed). Each
   backend analyses a fresh copy of the run in its own process pinned to 2 cores, so the
   peak memory (its max RSS) counts the analysis and not the recording. The run's cache
   starts empty: neighbours are computed once and reused by the neighbour fingerprints and
   ``sample_dynamics``, as in a session. Targets: ≤ 60 s in all, peak memory ≤ 3 GB.
features) N = 10,000 × T = 20, a 512-wide ``"penultimate"`` layer recorded next to the
   logits: neighbour-transition, neighbour-state and CKA fingerprints of that layer, with
   backends ``"exact"`` and ``"faiss"``, as in scale. Target: ≤ 60 s.

Synthetic but structured data: class clusters that sharpen over training, labels with 10 %
noise that the "network" memorises late. Wall and CPU time are both printed: on a shared
machine the load average (printed per part) says how much the wall times suffered.
``--quick`` shrinks every part (a CI smoke test, under 30 s; targets are then not judged);
``--backends`` replaces the backend list of every part. The code of ``reprdynamics``
(analysis, recording, storage) is hashed at the start and in every analysis process, so
edits made while the benchmark runs are flagged.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import reprdynamics as rd
from reprdynamics.analysis import (
    get_backend,
    k_nearest_neighbours,
    neighbour_overlap,
    neighbour_transition_fingerprint,
)

TARGET_SPEEDUP = 50.0  # ≥ 50x faster than the naive ball-tree baseline
TARGET_SCALE_SECONDS = 60.0  # N = 50,000 × T = 20 × D = 10, everything
TARGET_SCALE_PEAK_BYTES = 3e9  # 3 GB peak RSS of the analysis process
TARGET_FEATURES_SECONDS = 60.0  # N = 10,000 × T = 20 × D = 512, three fingerprints
CORES = 2  # the scale and features targets are for 2 cores
K = 10
N_CLASSES = 10
BATCH = 256
ALL_KINDS = ("neighbour-transition", "neighbour-state", "class-transition", "disagreement", "cka")
PARTS = ("naive", "scale", "features")
NAIVE_BACKENDS = ("exact", "auto")
SCALE_BACKENDS = ("exact", "auto", "faiss")
# "auto" is the NumPy exact backend for a wide layer of this size; faiss is the alternative.
FEATURE_BACKENDS = ("exact", "faiss")

Row = tuple[str, str, str, bool]  # measure, measured, target, met


# ---------------------------------------------------------------------------- helpers
def _max_rss_bytes(who: int = resource.RUSAGE_SELF) -> int:
    rss = resource.getrusage(who).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the max RSS stands in)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _max_rss_bytes()


def _source_digest() -> str:
    """Short hash of the code this benchmark runs, to spot edits made during a run."""
    root = Path(rd.__file__).parent
    digest = hashlib.sha256()
    files = [root / "__init__.py"]
    for package in ("analysis", "recording", "storage"):
        files += (root / package).rglob("*.py")
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def _load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average n/a"


class _Clock:
    """Wall and process-CPU time of a block (CPU counts every thread of this process)."""

    def __enter__(self) -> _Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def _environment() -> str:
    lines = [
        f"reprdynamics {rd.__version__} ({Path(rd.__file__).parent}), numpy {np.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}",
        f"cpu_count {os.cpu_count()}, usable cores "
        f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 'n/a'}, "
        f"{_load()}",
    ]
    try:
        from threadpoolctl import threadpool_info

        pools = [
            f"{p['internal_api']} {p.get('version') or ''} ({p['num_threads']} threads)"
            for p in threadpool_info()
        ]
        lines.append("thread pools: " + (", ".join(pools) or "none found"))
    except ImportError:
        lines.append("thread pools: threadpoolctl not installed")
    try:
        import faiss

        lines.append(f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} OpenMP threads)")
    except ImportError:
        lines.append("faiss not installed ('auto' is the NumPy exact backend)")
    try:
        import sklearn

        lines.append(f"scikit-learn {sklearn.__version__} (naive baseline)")
    except ImportError:
        lines.append("scikit-learn not installed (naive baseline skipped)")
    return "\n".join(lines)


def print_preamble(digest: str, quick: bool, quick_note: str) -> None:
    """The machine, the source digest and the sizes, before the first part."""
    print(_environment())
    print(f"reprdynamics source digest {digest} (changes are flagged per part)")
    print(f"QUICK mode: small sizes, {quick_note}" if quick else "full sizes")


def _limit_to_cores(cores: int, *, faiss_too: bool) -> str:
    """Pin this process to ``cores`` CPUs and size the BLAS / OpenMP pools to match.

    threadpoolctl limits only libraries already loaded, so faiss (whose OpenMP pool the
    "auto" backend uses) is imported first when it will be needed.
    """
    notes = []
    if hasattr(os, "sched_setaffinity"):
        usable = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, usable[:cores])
        notes.append(f"pinned to CPUs {usable[:cores]}")
    if faiss_too:
        try:
            import faiss

            faiss.omp_set_num_threads(cores)
        except ImportError:
            pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=cores)
        notes.append(f"thread pools limited to {cores}")
    except ImportError:
        notes.append("threadpoolctl missing: thread pools not limited")
    return ", ".join(notes)


# ---------------------------------------------------------------------------- data
class SyntheticTraining:
    """Outputs of a pretend classifier whose class clusters sharpen over training.

    Every sample keeps its own position (so neighbourhoods persist between snapshots) that
    shrinks as the class signal grows; fresh jitter each snapshot makes neighbourhoods
    change. 10 % of the labels are wrong, and the network memorises them late (their outputs
    drift towards the wrong class in the last third). With ``width`` a hidden layer of that
    width is produced and the logits are a fixed linear read-out of it.
    """

    def __init__(
        self, n: int, n_snapshots: int, *, width: int | None = None, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.n_snapshots = n, n_snapshots
        self.true = rng.integers(0, N_CLASSES, n)
        self.flipped = rng.random(n) < 0.1
        shift = rng.integers(1, N_CLASSES, n)
        self.labels = np.where(self.flipped, (self.true + shift) % N_CLASSES, self.true)
        dim = width or N_CLASSES
        if width is None:
            self.centres = 5.0 * np.eye(N_CLASSES)  # logits: the gold unit rises
            self.readout = None
        else:
            self.centres = rng.standard_normal((N_CLASSES, width))
            # A read-out mapping each class centre to 5 x its one-hot logit vector.
            gram = self.centres @ self.centres.T
            self.readout = 5.0 * self.centres.T @ np.linalg.inv(gram)
        self.own = rng.standard_normal((n, dim)) * (1.0 if width is None else 1.5)
        self.rng = rng

    def snapshots(self) -> Iterator[dict[str, np.ndarray]]:
        for t in range(self.n_snapshots):
            s = (t + 1) / self.n_snapshots
            memorised = max(0.0, (s - 2 / 3) * 3)
            target = np.where(self.flipped & (memorised > 0), self.labels, self.true)
            signal = (1 - memorised) * self.centres[self.true] + memorised * self.centres[target]
            jitter = self.rng.standard_normal(self.own.shape)
            hidden = s * signal + (1 - 0.8 * s) * self.own + 0.3 * jitter
            if self.readout is None:
                yield {"logits": hidden.astype(np.float32)}
            else:
                logits = hidden @ self.readout
                yield {
                    "logits": logits.astype(np.float32),
                    "penultimate": hidden.astype(np.float32),
                }


def record(path: Path, data: SyntheticTraining) -> dict[str, float]:
    """Write the synthetic training to a run with the Recorder, batch by batch."""
    rng = np.random.default_rng(1)
    clock = _Clock()
    with clock:
        with rd.Recorder(path, n_samples=data.n, labels=data.labels) as recorder:
            for epoch, layers in enumerate(data.snapshots()):
                order = rng.permutation(data.n)
                for start in range(0, data.n, BATCH):
                    ids = order[start : start + BATCH]
                    for name, values in layers.items():
                        recorder.store_batch(values[ids], ids, epoch, layer=name)
                recorder.end_snapshot()
        recorder.run.write_extra("label_flipped", data.flipped)
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "wall": clock.wall,
        "cpu": clock.cpu,
        "in_recorder": recorder.time_in_recorder,
        "disk": disk,
    }


def record_naive_run(
    workdir: Path, n: int, n_snapshots: int
) -> tuple[SyntheticTraining, Path, list[np.ndarray]]:
    """The naive part's run (seed 0), recorded, and its logits read back per snapshot."""
    data = SyntheticTraining(n, n_snapshots, seed=0)
    path = workdir / "naive-run"
    rec = record(path, data)
    print(f"    recording (Recorder)  {rec['wall']:.3f} s wall, run {_mib(rec['disk'])}")
    run = rd.open_run(path)
    return data, path, [run.read("logits", int(t)) for t in run.complete_snapshots]


def _record_and_print(path: Path, data: SyntheticTraining, what: str) -> None:
    rec = record(path, data)
    print(
        f"    recording ({what})  {rec['wall']:.3f} s wall "
        f"({rec['in_recorder']:.3f} s inside the recorder), run {_mib(rec['disk'])}"
    )


# ---------------------------------------------------------------------------- naive
def naive_transition_fingerprint(
    snapshots: list[np.ndarray], labels: np.ndarray, k: int
) -> tuple[np.ndarray, list[list[list[int]]]]:
    """The original tool's way: a ball tree per snapshot, one query per sample, sets.

    Computes our definition: the k nearest *other* samples (k + 1 are asked for and the
    sample itself dropped; without it in the list, the farthest is dropped).
    """
    from sklearn.neighbors import KNeighborsClassifier

    lists: list[list[list[int]]] = []
    for X in snapshots:
        clf = KNeighborsClassifier(n_neighbors=k + 1, algorithm="ball_tree").fit(X, labels)
        per_sample = []
        for i in range(X.shape[0]):
            _, found = clf.kneighbors(X[i : i + 1], k + 1)
            ids = [int(j) for j in found[0]]
            per_sample.append([j for j in ids if j != i][:k])
        lists.append(per_sample)
    overlaps = [
        [len(set(a) & set(b)) / k for a, b in zip(lists[t], lists[t + 1], strict=True)]
        for t in range(len(lists) - 1)
    ]
    v = np.asarray(overlaps)
    m = v.shape[0]
    matrix = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            matrix[a, b] = matrix[b, a] = np.sqrt(np.mean((v[a] - v[b]) ** 2))
    return matrix, lists


def array_transition_fingerprint(
    snapshots: list[np.ndarray], k: int, backend: str = "exact"
) -> tuple[np.ndarray, list[np.ndarray], str]:
    """The pure-array path: neighbours per snapshot, overlaps, fingerprint."""
    results = [k_nearest_neighbours(X, k, backend=backend) for X in snapshots]
    neighbours = [r.indices for r in results]
    overlaps = np.stack(
        [neighbour_overlap(neighbours[t], neighbours[t + 1]) for t in range(len(neighbours) - 1)]
    )
    return neighbour_transition_fingerprint(overlaps), neighbours, results[0].backend


def _median_clock(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    walls, cpus = [], []
    for _ in range(repeats):
        with _Clock() as clock:
            out = fn()
        walls.append(clock.wall)
        cpus.append(clock.cpu)
    return statistics.median(walls), statistics.median(cpus), out


def bench_naive(
    workdir: Path, n: int, n_snapshots: int, repeats: int, backends: list[str]
) -> list[Row]:
    print(
        f"\n[naive] Neighbour-transition fingerprint: N={n:,} x T={n_snapshots} x "
        f"D={N_CLASSES}, k={K}, all samples ({_load()})"
    )
    data, path, snapshots = record_naive_run(workdir, n, n_snapshots)

    with _Clock() as naive:
        naive_matrix, naive_lists = naive_transition_fingerprint(snapshots, data.labels, K)
    print(
        f"    {'naive (ball tree, 1 query per sample, sets)':<52}{naive.wall:8.3f} s wall "
        f"{naive.cpu:8.3f} s cpu ({n * n_snapshots:,} single-sample queries)"
    )
    rows: list[Row] = []
    size = f"{n:,}x{n_snapshots}x{N_CLASSES}"
    for backend in backends:
        array_transition_fingerprint(snapshots[:2], K, backend)  # warm-up, untimed
        wall, cpu, (matrix, ours, used) = _median_clock(
            lambda backend=backend: array_transition_fingerprint(snapshots, K, backend), repeats
        )
        api_wall, api_cpu, fp = _median_clock(
            lambda backend=backend: rd.fingerprint(
                path, "neighbour-transition", k=K, backend=backend, use_cache=False
            ),
            repeats,
        )
        knn = [
            _median_clock(lambda X=X, b=backend: k_nearest_neighbours(X, K, backend=b), 1)[0]
            for X in snapshots
        ]
        # Same neighbour sets and the same matrix, or the comparison means nothing.
        same = sum(
            set(naive_lists[t][i]) == set(ours[t][i].tolist())
            for t in range(n_snapshots)
            for i in range(n)
        )
        np.testing.assert_allclose(matrix, naive_matrix, rtol=0, atol=1e-12)
        np.testing.assert_allclose(fp.matrix, naive_matrix, rtol=0, atol=1e-12)
        diff = max(np.abs(matrix - naive_matrix).max(), np.abs(fp.matrix - naive_matrix).max())
        label = _backend_label(backend, used)
        for what, w, c in (
            (f"rd.fingerprint(run, use_cache=False) [{label}]", api_wall, api_cpu),
            (f"pure arrays [{label}]", wall, cpu),
        ):
            print(
                f"    {what:<52}{w:8.3f} s wall {c:8.3f} s cpu (median of {repeats}) "
                f"-> naive is {naive.wall / w:5.1f}x (wall) {naive.cpu / c:5.1f}x (cpu)"
            )
        print(
            f"      k_nearest_neighbours per snapshot (separate pass): median "
            f"{statistics.median(knn) * 1e3:.1f} ms; same neighbour sets as naive: {same:,} of "
            f"{n * n_snapshots:,}; max |fingerprint diff| "
            f"{diff:.1e}"
        )
        for what, w in (("rd.fingerprint", api_wall), ("pure arrays", wall)):
            rows.append(
                (
                    f"naive / {what} [{label}], {size}",
                    f"{naive.wall / w:.1f}x ({naive.wall:.2f} s / {w:.3f} s)",
                    f">= {TARGET_SPEEDUP:.0f}x",
                    naive.wall / w >= TARGET_SPEEDUP,
                )
            )
    return rows


# ---------------------------------------------------------------------------- child
def _resolved_backend(backend: str, n_samples: int, n_features: int) -> str:
    """The backend a name stands for at this size (``"auto"`` depends on it)."""
    accepted = inspect.signature(get_backend).parameters
    size = {"n_samples": n_samples, "n_features": n_features}
    return get_backend(backend, **{k: v for k, v in size.items() if k in accepted}).name


def _backend_label(asked: str, used: str) -> str:
    return asked if asked == used else f"{asked}->{used}"


def _analysis_child(conn: Any, task: str, path: str, backend: str) -> None:
    """Run one analysis in this fresh process and send back times and memory."""
    try:
        digest = _source_digest()
        pinned = _limit_to_cores(CORES, faiss_too=backend != "exact")
        rss_before = _rss_bytes()
        steps: list[tuple[str, float, float]] = []
        extra: dict[str, Any] = {}

        def step(name: str, fn: Callable[[], Any]) -> Any:
            with _Clock() as clock:
                out = fn()
            steps.append((name, clock.wall, clock.cpu))
            return out

        run = rd.open_run(path, mode="r+")
        layer = "penultimate" if task == "features" else run.output_layer
        kinds = (
            ("neighbour-transition", "neighbour-state", "cka")
            if task == "features"
            else (ALL_KINDS)
        )
        extra["knn_backend"] = _resolved_backend(backend, run.n_samples, run.layer_dim(layer))
        step(
            "neighbours (k=10, computed, cached)",
            lambda: rd.neighbours(run, k=K, layer=layer, backend=backend),
        )
        for kind in kinds:
            step(
                f"fingerprint {kind}",
                lambda kind=kind: rd.fingerprint(run, kind, k=K, layer=layer, backend=backend),
            )
        if task == "scale":
            table = step(
                "sample_dynamics (neighbour_k=10)",
                lambda: rd.sample_dynamics(run, neighbour_k=K, backend=backend),
            )
            flipped = np.asarray(run.extra("label_flipped"), dtype=bool)
            top = table.suspected_mislabeled(top_k=int(flipped.sum()))
            extra["mislabel_precision"] = float(flipped[top].mean())
        conn.send(
            {
                "steps": steps,
                "rss_before": rss_before,
                "rss_after": _rss_bytes(),
                "peak": _max_rss_bytes(),
                "pinned": pinned,
                "digest": digest,
                **extra,
            }
        )
    except BaseException:
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def spawned(target: Callable[..., None], args: tuple[Any, ...], what: str) -> dict[str, Any]:
    """What ``target(conn, *args)`` sends back from a fresh interpreter, and its wall time.

    The target sends one dict, ``{"error": traceback}`` if it failed; ``what`` names the
    task in the error raised then.
    """
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, not a fork of ours
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(child, *args))
    with _Clock() as clock:
        process.start()
        child.close()
        result = parent.recv()
        process.join()
    if "error" in result:
        raise RuntimeError(f"The {what} failed:\n{result['error']}")
    result["process_wall"] = clock.wall
    return result


def _in_child(task: str, path: Path, backend: str) -> dict[str, Any]:
    return spawned(_analysis_child, (task, str(path), backend), f"{task} analysis ({backend})")


def _analysed_copies(
    task: str, base: Path, backends: list[str], digest: str
) -> Iterator[tuple[str, dict[str, Any], float]]:
    """(backend, child result, total wall) for each backend, on its own copy of the run."""
    for backend in backends:
        copy = base.with_name(f"{base.name}-{backend}")
        shutil.copytree(base, copy)  # an empty cache for each backend
        result = _in_child(task, copy, backend)
        shutil.rmtree(copy)
        yield backend, result, _print_child(result, backend, digest)


def _print_child(result: dict[str, Any], backend: str, started_digest: str) -> float:
    print(
        f"    backend [{_backend_label(backend, result['knn_backend'])}]; {result['pinned']}; "
        f"{_load()}"
    )
    if result["digest"] != started_digest:
        print(
            f"    NOTE: the reprdynamics source changed since the benchmark started "
            f"({started_digest} -> {result['digest']}); this analysis ran the newer code."
        )
    total_wall = sum(w for _, w, _ in result["steps"])
    total_cpu = sum(c for _, _, c in result["steps"])
    for name, wall, cpu in result["steps"]:
        print(f"      {name:<38} {wall:8.3f} s wall {cpu:8.3f} s cpu")
    print(
        f"      {'total':<38} {total_wall:8.3f} s wall {total_cpu:8.3f} s cpu "
        f"(process incl. start-up {result['process_wall']:.1f} s)"
    )
    print(
        f"      RSS before {_mib(result['rss_before'])}, after {_mib(result['rss_after'])}, "
        f"peak {_mib(result['peak'])} = {result['peak'] / 1e9:.2f} GB"
    )
    return total_wall


# ---------------------------------------------------------------------------- scale
def bench_scale(
    workdir: Path, n: int, n_snapshots: int, backends: list[str], digest: str
) -> list[Row]:
    print(
        f"\n[scale] Neighbours, all fingerprints and per-sample dynamics: N={n:,} x "
        f"T={n_snapshots} x D={N_CLASSES}, k={K}, {CORES} cores ({_load()})"
    )
    base = workdir / "scale-run"
    _record_and_print(base, SyntheticTraining(n, n_snapshots, seed=2), "Recorder")
    rows: list[Row] = []
    size = f"{n:,}x{n_snapshots}x{N_CLASSES}"
    for backend, result, wall in _analysed_copies("scale", base, backends, digest):
        print(
            f"      AUM finds the flipped labels: precision {result['mislabel_precision']:.2f} "
            f"among the lowest-AUM 10 %"
        )
        used = _backend_label(backend, result["knn_backend"])
        rows.append(
            (
                f"scale {size} [{used}]",
                f"{wall:.1f} s",
                f"<= {TARGET_SCALE_SECONDS:.0f} s",
                wall <= TARGET_SCALE_SECONDS,
            )
        )
        rows.append(
            (
                f"scale peak RSS [{used}]",
                f"{result['peak'] / 1e9:.2f} GB",
                f"<= {TARGET_SCALE_PEAK_BYTES / 1e9:.0f} GB",
                result["peak"] <= TARGET_SCALE_PEAK_BYTES,
            )
        )
    return rows


# ---------------------------------------------------------------------------- features
def bench_features(
    workdir: Path, n: int, n_snapshots: int, width: int, backends: list[str], digest: str
) -> list[Row]:
    print(
        f"\n[features] Fingerprints of a {width}-wide layer: N={n:,} x T={n_snapshots} x "
        f"D={width} ('penultimate', next to the logits), k={K}, {CORES} cores ({_load()})"
    )
    path = workdir / "features-run"
    data = SyntheticTraining(n, n_snapshots, width=width, seed=3)
    _record_and_print(path, data, "Recorder, 2 layers")
    rows: list[Row] = []
    for backend, result, wall in _analysed_copies("features", path, backends, digest):
        rows.append(
            (
                f"features {n:,}x{n_snapshots}x{width}, 3 fps "
                f"[{_backend_label(backend, result['knn_backend'])}]",
                f"{wall:.1f} s",
                f"<= {TARGET_FEATURES_SECONDS:.0f} s",
                wall <= TARGET_FEATURES_SECONDS,
            )
        )
    return rows


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the ReprDynamics analyses.")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--only", choices=PARTS, help="run one part")
    parser.add_argument(
        "--backends",
        type=lambda text: [b.strip() for b in text.split(",") if b.strip()],
        help="comma-separated neighbour backends for every part "
        "(default: naive exact,auto; scale exact,auto,faiss; features exact,faiss)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    parts = [args.only] if args.only else list(PARTS)
    digest = _source_digest()

    print_preamble(digest, quick, "targets not judged")
    rows: list[Row] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        workdir = Path(tmp)
        if "naive" in parts:
            sizes = (400, 4, 1) if quick else (4_000, 10, 3)
            rows += bench_naive(workdir, *sizes, args.backends or list(NAIVE_BACKENDS))
            if _source_digest() != digest:
                print(
                    f"    NOTE: the reprdynamics source changed during this part "
                    f"({digest} -> {_source_digest()}); the figures above mix versions."
                )
        if "scale" in parts:
            sizes = (3_000, 5) if quick else (50_000, 20)
            rows += bench_scale(workdir, *sizes, args.backends or list(SCALE_BACKENDS), digest)
        if "features" in parts:
            sizes = (1_000, 5, 64) if quick else (10_000, 20, 512)
            backends = args.backends or list(FEATURE_BACKENDS)
            rows += bench_features(workdir, *sizes, backends, digest)
    table = [
        (m, v, t, "n/a (quick)" if quick else "PASS" if met else "MISS") for m, v, t, met in rows
    ]
    print(f"\nSummary (whole benchmark {time.perf_counter() - began:.1f} s, {_load()})")
    header = ("measure", "measured", "target", "verdict")
    widths = [max(len(r[i]) for r in [*table, header]) for i in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if _source_digest() != digest:
        print(
            f"NOTE: the reprdynamics source changed while the benchmark ran ({digest} -> "
            f"{_source_digest()})."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
