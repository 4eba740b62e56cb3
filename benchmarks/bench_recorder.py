"""How much does recording cost? Prints the figures, ratios and a summary table of one run.

Usage::

    python benchmarks/bench_recorder.py [--quick]

a) Overhead on a real training step: the demo CNN (``reprdynamics.demo``) on the 1,797
   digits, batch 64, CPU, one torch thread. Epochs with the recorder (``store_batch`` of the
   logits and the penultimate layer every step, ``end_snapshot`` every epoch) alternate
   with epochs without it (ABBA order, so drift in machine load and training state hits
   both alike); medians of per-step times are compared.
b) Recording at scale with synthetic outputs: N = 50,000 samples × D = 10 × 20 snapshots in
   batches of 64, ids in a fresh random order every epoch. Reports the time spent inside
   the recorder (``Recorder.time_in_recorder``) and the peak extra memory (tracemalloc, in
   a separate pass because tracing slows NumPy down; and the growth of the process's max
   RSS) next to the size of one snapshot buffer, N × D × 4 bytes.
c) Against a naive recorder like the original tool's, which keeps every snapshot as an
   N × D array and rewrites all of them as JSON after every batch, on a size it can finish.

``--quick`` shrinks every part (a smoke test; targets are then not judged).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import reprdynamics as rd

TARGET_STEP_OVERHEAD = 0.02  # ≤ 2 % extra per step of the demo CNN (issue #10)
TARGET_SCALE_SECONDS = 2.0  # ≤ 2 s inside the recorder for 50,000 × 10 × 20


# ---------------------------------------------------------------------------- helpers
def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.2f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


# ---------------------------------------------------------------------------- a) CNN
def bench_training_overhead(
    workdir: Path, *, pairs: int, background: bool = True
) -> dict[str, dict[str, float]]:
    """Per-step cost of recording, by wall clock and by process CPU time.

    CPU time (``time.process_time``, all threads of the process) is the steadier figure
    when other processes compete for the cores; wall time is what a user waits for.
    """
    import torch

    from reprdynamics.demo import build_model, load_digits_data, train_epoch

    torch.set_num_threads(1)
    data = load_digits_data()
    model = build_model(hidden_dim=32, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.from_numpy(data.features)
    targets = torch.from_numpy(data.labels)
    recorder = rd.Recorder(
        workdir / ("cnn-bg" if background else "cnn"),
        n_samples=data.n_samples,
        labels=data.labels,
        inputs=data.images,
        background=background,
    )
    state = {"epoch": 0, "store_wall": 0.0, "store_cpu": 0.0}
    # The floor in context: the bare copies of the same rows into preallocated buffers,
    # timed inside the same training steps (rows of random ids miss the caches there).
    floor_bufs: dict[str, np.ndarray] = {}
    floor = {"wall": 0.0, "steps": 0}

    def floor_copy(ids, logits, penultimate) -> None:
        began = time.perf_counter()
        index = ids.numpy()
        for name, tensor in (("logits", logits), ("penultimate", penultimate)):
            values = tensor.detach().numpy()
            buf = floor_bufs.get(name)
            if buf is None:
                buf = floor_bufs[name] = np.empty((data.n_samples, values.shape[1]), np.float32)
            buf[index] = values
        floor["wall"] += time.perf_counter() - began
        floor["steps"] += 1

    def hook(ids, logits, penultimate) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        recorder.store_batch(logits, ids, state["epoch"], layer="logits")
        recorder.store_batch(penultimate, ids, state["epoch"], layer="penultimate")
        state["store_cpu"] += time.process_time() - cpu
        state["store_wall"] += time.perf_counter() - wall

    clocks = ("wall", "cpu")
    steps = {(c, r): [] for c in clocks for r in (False, True)}
    epochs = {(c, r): [] for c in clocks for r in (False, True)}
    ends: dict[str, list[float]] = {c: [] for c in clocks}
    stores: dict[str, float] = {c: 0.0 for c in clocks}

    def epoch(with_recorder: bool, keep: bool, floor_pass: bool = False) -> None:
        # A background write still running would slow the next epoch, recorded or not, and
        # hide the cost in the plain epochs: let it finish outside the timed region.
        recorder.flush()
        state["store_wall"] = state["store_cpu"] = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        result = train_epoch(
            model,
            optimizer,
            inputs,
            targets,
            batch_size=64,
            generator=generator,
            on_batch=hook if with_recorder else (floor_copy if floor_pass else None),
            time_steps=True,
        )
        end = {"wall": 0.0, "cpu": 0.0}
        if with_recorder:
            end_wall, end_cpu = time.perf_counter(), time.process_time()
            recorder.end_snapshot(metrics={"loss": result.loss, "accuracy": result.accuracy})
            end = {"cpu": time.process_time() - end_cpu, "wall": time.perf_counter() - end_wall}
            state["epoch"] += 1
        total = {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
        if not keep:
            return
        steps["wall", with_recorder].extend(result.step_times)
        steps["cpu", with_recorder].extend(result.step_cpu_times)
        for c in clocks:
            epochs[c, with_recorder].append(total[c])
            if with_recorder:
                ends[c].append(end[c])
                stores[c] += state[f"store_{c}"]

    epoch(False, keep=False)  # warm-up: first calls allocate, the first snapshot creates arrays
    epoch(True, keep=False)
    for i in range(pairs):
        order = (False, True, True, False) if i % 2 == 0 else (True, False, False, True)
        for with_recorder in order:
            epoch(with_recorder, keep=True)
    for _ in range(max(2, pairs // 2)):  # the floor, in epochs of their own
        epoch(False, keep=False, floor_pass=True)
    recorder.close()

    out: dict[str, dict[str, float]] = {}
    for c in clocks:
        n_steps = len(steps[c, True])
        steps_per_epoch = n_steps / len(epochs[c, True])
        plain = statistics.median(steps[c, False])
        recorded = statistics.median(steps[c, True])
        store_per_step = stores[c] / n_steps
        end_median = statistics.median(ends[c])
        out[c] = {
            "epochs_each": len(epochs[c, True]),
            "steps_per_epoch": steps_per_epoch,
            "step_plain": plain,
            "step_recorded": recorded,
            "step_overhead": recorded / plain - 1,
            "store_per_step": store_per_step,
            "store_overhead": store_per_step / plain,
            "end_snapshot": end_median,
            "end_per_step": end_median / steps_per_epoch,
            "all_in_overhead": (store_per_step + end_median / steps_per_epoch) / plain,
            "floor_per_step": floor["wall"] / max(floor["steps"], 1),
            "epoch_plain": statistics.median(epochs[c, False]),
            "epoch_recorded": statistics.median(epochs[c, True]),
        }
    return out


# ---------------------------------------------------------------------------- b) scale
def _record_synthetic(
    path: Path, n: int, d: int, snapshots: int, *, batch: int = 64, trace: bool = False
) -> dict[str, float]:
    """Record synthetic outputs; with ``trace``, measure peak traced memory instead of time."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, d)).astype(np.float32)
    drift = rng.standard_normal((n, d)).astype(np.float32) * 0.05
    orders = [rng.permutation(n) for _ in range(snapshots)]
    gc.collect()
    rss_before = _max_rss_bytes()
    if trace:
        tracemalloc.start()
        traced_before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
    began = time.perf_counter()
    recorder = rd.Recorder(path, n_samples=n)
    outside = 0.0  # making the synthetic batch is the "network", not the recorder
    for epoch in range(snapshots):
        order = orders[epoch]
        for start in range(0, n, batch):
            t0 = time.perf_counter()
            ids = order[start : start + batch]
            values = base[ids] + epoch * drift[ids]
            outside += time.perf_counter() - t0
            recorder.store_batch(values, ids, epoch)
        recorder.end_snapshot(metrics={"loss": 1.0 / (epoch + 1)})
    recorder.close()
    wall = time.perf_counter() - began
    out = {
        "wall": wall,
        "in_recorder": recorder.time_in_recorder,
        "outside": outside,
        "batches": snapshots * -(-n // batch),
        "rss_growth": _max_rss_bytes() - rss_before,
    }
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["traced_peak"] = peak - traced_before
    run = rd.open_run(path)
    assert run.n_snapshots == snapshots and run.complete.all(), run
    out["disk"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return out


# ---------------------------------------------------------------------------- c) naive
class NaiveJsonRecorder:
    """The original tool's strategy: every batch rewrites every snapshot as JSON."""

    def __init__(self, path: Path, n_samples: int) -> None:
        self.path = path
        self.n_samples = n_samples
        self.snapshots: list[np.ndarray] = []

    def store_batch(self, representation: np.ndarray, ids: np.ndarray, epoch: int) -> None:
        if len(self.snapshots) <= epoch:
            self.snapshots.append(np.zeros((self.n_samples, representation.shape[-1])))
        self.snapshots[epoch][ids] = representation
        with open(self.path, "w") as f:
            json.dump([s.tolist() for s in self.snapshots], f)


def bench_naive(workdir: Path, n: int, d: int, snapshots: int, *, batch: int = 64):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, d)).astype(np.float32)
    naive = NaiveJsonRecorder(workdir / "snapshots.json", n)
    began = time.perf_counter()
    for epoch in range(snapshots):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            ids = order[start : start + batch]
            naive.store_batch(base[ids], ids, epoch)
    naive_time = time.perf_counter() - began
    ours = _record_synthetic(workdir / "ours-small", n, d, snapshots, batch=batch)
    return naive_time, (workdir / "snapshots.json").stat().st_size, ours


# ---------------------------------------------------------------------------- d) the floors
def bench_store_batch(path: Path, *, n: int, d: int, batch: int, rounds: int, calls: int):
    """``store_batch`` per call against its physical floor, ``buf[ids] = v``, interleaved."""
    import timeit

    rng = np.random.default_rng(0)
    ids = rng.permutation(n)[:batch]
    values = rng.standard_normal((batch, d)).astype(np.float32)
    buf = np.full((n, d), np.nan, dtype=np.float32)
    rec = rd.Recorder(path, n_samples=n)
    rec.store_batch(values, ids, 0)
    floor, ours = [], []
    for _ in range(rounds):
        floor.append(
            min(timeit.repeat(lambda: buf.__setitem__(ids, values), number=calls, repeat=3))
        )
        ours.append(
            min(timeit.repeat(lambda: rec.store_batch(values, ids, 0), number=calls, repeat=3))
        )
    rec.abort()  # a snapshot of 64 samples is not worth writing
    return statistics.median(ours) / calls, statistics.median(floor) / calls


def bench_snapshot_write(workdir: Path, *, n: int, d: int, snapshots: int, relu: bool = False):
    """One snapshot's write (``end_snapshot`` with ``background=False``) against ``np.save`` of
    the same array, interleaved; and what ``end_snapshot`` costs the training thread with
    background writes (the default). ``relu``: hidden features after a ReLU (half zeros,
    kind "features") instead of logits."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal((n, d)).astype(np.float32)
    options: dict[str, str] = {}
    if relu:
        values = np.maximum(values, 0)
        options = {"kind": "features", "output_layer": "hidden"}
    ids = np.arange(n)
    tag = "relu" if relu else "logits"
    sync = rd.Recorder(workdir / f"write-sync-{tag}", n_samples=n, background=False, **options)
    background = rd.Recorder(workdir / f"write-bg-{tag}", n_samples=n, **options)
    writes, saves, returns = [], [], []
    for t in range(snapshots):
        sync.store_batch(values, ids, t)
        began = time.perf_counter()
        sync.end_snapshot()
        writes.append(time.perf_counter() - began)
        began = time.perf_counter()
        np.save(workdir / f"save-{tag}-{t}.npy", values)
        saves.append(time.perf_counter() - began)
        background.store_batch(values, ids, t)
        began = time.perf_counter()
        background.end_snapshot()
        returns.append(time.perf_counter() - began)
        background.flush()  # outside the timed region: the next round starts quiet
    sync.close()
    background.close()
    # the first write creates the layer arrays: leave it out
    return (
        statistics.median(writes[1:]),
        statistics.median(saves[1:]),
        statistics.median(returns[1:]),
    )


def bench_mlp_step(workdir: Path, *, pairs: int) -> dict[str, float]:
    """A small MLP on the digits features (64 -> 32 -> 10, batch 64, Adam, one thread):
    median epoch time with the recorder (``store_batch`` of the logits every step,
    ``end_snapshot`` every epoch, writes in the background: the default) against without,
    ABBA order. The epoch time is the all-in figure: the snapshot write is in it."""
    import torch
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    digits = load_digits()
    x = torch.tensor(
        (digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-6), dtype=torch.float32
    )
    y = torch.tensor(digits.target)
    n = len(y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    recorder = rd.Recorder(workdir / "mlp", n_samples=n, labels=y.numpy())
    state = {"epoch": 0}
    times: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}

    def epoch(record: bool, keep: bool) -> None:
        recorder.flush()
        order = torch.randperm(n)
        began = time.perf_counter()
        for start in range(0, n, 64):
            step_began = time.perf_counter()
            ids = order[start : start + 64]
            logits = model(x[ids])
            loss = loss_fn(logits, y[ids])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if record:
                recorder.store_batch(logits, ids, state["epoch"])
            if keep:
                steps[record].append(time.perf_counter() - step_began)
        if record:
            recorder.end_snapshot(metrics={"loss": float(loss.detach())})
            state["epoch"] += 1
        if keep:
            times[record].append(time.perf_counter() - began)

    epoch(False, keep=False)
    epoch(True, keep=False)
    for i in range(pairs):
        for record in (False, True, True, False) if i % 2 == 0 else (True, False, False, True):
            epoch(record, keep=True)
    recorder.close()
    per_epoch = -(-n // 64)
    return {
        "step_plain": statistics.median(steps[False]),
        "step_recorded": statistics.median(steps[True]),
        "epoch_plain": statistics.median(times[False]),
        "epoch_recorded": statistics.median(times[True]),
        "steps": per_epoch,
    }


RANK_WORKER = """
import sys, time
import numpy as np
import reprdynamics as rd
path, rank, world, n, d, snapshots = sys.argv[1:7]
rank, world, n, d, snapshots = int(rank), int(world), int(n), int(d), int(snapshots)
rng = np.random.default_rng(0)
base = rng.standard_normal((n, d)).astype(np.float32)
rec = rd.Recorder(path, n_samples=n, rank=rank, world_size=world, rank_timeout=300)
began = time.perf_counter()
for t in range(snapshots):
    mine = np.random.default_rng(100 + t).permutation(n)[rank::world]
    for start in range(0, mine.size, 64):
        ids = mine[start : start + 64]
        rec.store_batch(base[ids] + t, ids, t)
    rec.end_snapshot()
rec.close()
print(time.perf_counter() - began)
"""


def bench_ranks(workdir: Path, *, n: int, d: int, snapshots: int, world: int) -> float:
    """Seconds from the recorders' creation to their close, the slowest rank's (samples
    split interleaved over ``world`` processes, each recording its share)."""
    import subprocess

    path = workdir / f"ranks-{world}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RANK_WORKER,
                str(path),
                str(r),
                str(world),
                str(n),
                str(d),
                str(snapshots),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in reversed(range(world))
    ]
    seconds = [float(p.communicate(timeout=900)[0].strip().splitlines()[-1]) for p in procs]
    run = rd.open_run(path)
    assert run.n_snapshots == snapshots and run.complete.all(), run
    return max(seconds)


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the ReprDynamics recorder.")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    args = parser.parse_args(argv)
    quick = args.quick
    n_big, d_big, t_big = (10_000, 10, 5) if quick else (50_000, 10, 20)
    n_naive, t_naive = (1_000, 2) if quick else (2_000, 3)
    pairs = 2 if quick else 10

    import torch

    print(
        f"reprdynamics {rd.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"{'QUICK mode: targets not judged' if quick else 'full sizes'}"
    )
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "n/a (quick)" if quick else ("PASS" if ok else "FAIL")

    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        workdir = Path(tmp)

        # d) the rows of issue #10: each figure beside its floor, measured in this run
        n_d = 10_000 if quick else 50_000
        print(f"\n[d] Figures against their floors (load average {os.getloadavg()[0]:.2f})")
        ours, floor = bench_store_batch(
            workdir / "store", n=n_d, d=10, batch=64, rounds=3 if quick else 9, calls=5_000
        )
        ratio = ours / floor
        print(
            f"    store_batch, 64 x 10 floats, N={n_d:,}: {ours * 1e6:.2f} us per call; "
            f"floor buf[ids] = v {floor * 1e6:.2f} us; ratio {ratio:.2f}"
        )
        rows.append(
            (
                "store_batch / buf[ids]=v",
                f"{ours * 1e6:.2f} / {floor * 1e6:.2f} us = {ratio:.2f}x",
                "<= 2x",
                verdict(ratio <= 2.0),
            )
        )
        write, save, returns = bench_snapshot_write(
            workdir, n=n_d, d=10, snapshots=6 if quick else 21
        )
        ratio = write / save
        print(
            f"    snapshot write {n_d:,} x 10 (background=False): {_ms(write)}; np.save "
            f"{_ms(save)}; ratio {ratio:.2f}; end_snapshot with background writes returns "
            f"in {_ms(returns)}"
        )
        rows.append(
            (
                "snapshot write / np.save",
                f"{_ms(write)} / {_ms(save)} = {ratio:.2f}x",
                "<= 3x",
                verdict(ratio <= 3.0),
            )
        )
        rows.append(
            ("end_snapshot, background (default)", _ms(returns), "(training thread)", "see text")
        )
        write, save, _ = bench_snapshot_write(
            workdir, n=n_d, d=32, snapshots=4 if quick else 11, relu=True
        )
        print(
            f"    the same for ReLU features {n_d:,} x 32: write {_ms(write)}; np.save "
            f"{_ms(save)}; ratio {write / save:.2f}"
        )
        rows.append(
            (
                "snapshot write / np.save, 32-d ReLU",
                f"{_ms(write)} / {_ms(save)} = {write / save:.2f}x",
                "(context)",
                "see text",
            )
        )
        mlp = bench_mlp_step(workdir, pairs=2 if quick else 10)
        step_over = mlp["step_recorded"] / mlp["step_plain"] - 1
        all_in = mlp["epoch_recorded"] / mlp["epoch_plain"] - 1
        print(
            f"    MLP on digits, {mlp['steps']} steps per epoch: median step "
            f"{mlp['step_plain'] * 1e6:.0f} -> {mlp['step_recorded'] * 1e6:.0f} us "
            f"({step_over:+.1%}); median epoch {_ms(mlp['epoch_plain'])} -> "
            f"{_ms(mlp['epoch_recorded'])} ({all_in:+.1%}, snapshot write included)"
        )
        rows.append(
            (
                "MLP step, recording every epoch",
                f"{step_over:+.1%} per step, {all_in:+.1%} all-in",
                "<= +5% all-in",
                verdict(all_in <= 0.05),
            )
        )
        t_ranks = 3 if quick else 10
        one = bench_ranks(workdir, n=n_d, d=10, snapshots=t_ranks, world=1)
        two = bench_ranks(workdir, n=n_d, d=10, snapshots=t_ranks, world=2)
        rate_one, rate_two = n_d * t_ranks / one, n_d * t_ranks / two
        print(
            f"    recording {n_d:,} x 10 x {t_ranks} snapshots: 1 process {one:.2f} s "
            f"({rate_one:,.0f} rows/s); 2 processes {two:.2f} s ({rate_two:,.0f} rows/s); "
            f"ratio {rate_two / rate_one:.2f}"
        )
        rows.append(
            (
                "2-process / 1-process throughput",
                f"{rate_two:,.0f} / {rate_one:,.0f} rows/s = {rate_two / rate_one:.2f}x",
                "(2 cores here)",
                "see text",
            )
        )

        # b) first, while the process is small, so max-RSS growth means something
        print(f"\n[b] Synthetic recording: N={n_big:,} x D={d_big} x {t_big} snapshots, batch 64")
        timed = _record_synthetic(workdir / "scale", n_big, d_big, t_big)
        traced = _record_synthetic(workdir / "scale-traced", n_big, d_big, t_big, trace=True)
        buffer_bytes = n_big * d_big * 4
        print(f"    batches stored                 {timed['batches']:,}")
        print(f"    time inside the recorder       {timed['in_recorder']:.3f} s")
        per_batch = timed["in_recorder"] / timed["batches"]
        print(f"      per batch (incl. snapshots)  {per_batch * 1e6:.1f} us")
        print(
            f"    wall time of the loop          {timed['wall']:.3f} s "
            f"(making synthetic batches: {timed['outside']:.3f} s)"
        )
        print(f"    one snapshot buffer N*D*4      {_mib(buffer_bytes)}")
        print(
            f"    peak extra memory (tracemalloc){_mib(traced['traced_peak']):>12} "
            f"= {traced['traced_peak'] / buffer_bytes:.2f} x buffer"
        )
        print(
            f"    max-RSS growth (untraced pass) {_mib(timed['rss_growth']):>12} "
            f"= {timed['rss_growth'] / buffer_bytes:.2f} x buffer"
        )
        print(
            f"    run on disk                    {_mib(timed['disk'])} "
            f"(raw float32: {_mib(buffer_bytes * t_big)})"
        )
        rows.append(
            (
                f"time in recorder, {n_big:,}x{d_big}x{t_big}",
                f"{timed['in_recorder']:.3f} s",
                f"<= {TARGET_SCALE_SECONDS:.0f} s",
                verdict(timed["in_recorder"] <= TARGET_SCALE_SECONDS),
            )
        )
        rows.append(
            (
                "peak extra memory (tracemalloc)",
                f"{_mib(traced['traced_peak'])} ({traced['traced_peak'] / buffer_bytes:.1f}x buf)",
                f"~ 1 buffer ({_mib(buffer_bytes)})",
                "see text",
            )
        )

        # c) naive JSON recorder at a size it can finish, ours at the same size
        print(
            f"\n[c] Naive JSON-per-batch recorder vs ours: N={n_naive:,} x D={d_big} x "
            f"{t_naive} snapshots, batch 64"
        )
        naive_time, naive_bytes, ours = bench_naive(workdir, n_naive, d_big, t_naive)
        print(f"    naive (original tool's way)    {naive_time:.3f} s, JSON {_mib(naive_bytes)}")
        print(
            f"    ours, time inside recorder     {ours['in_recorder']:.4f} s "
            f"(loop wall {ours['wall']:.4f} s), run {_mib(ours['disk'])}"
        )
        ratio = naive_time / ours["in_recorder"]
        print(f"    ratio naive / ours             {ratio:,.0f} x")
        rows.append(
            (
                f"naive JSON / ours, {n_naive:,}x{d_big}x{t_naive}",
                f"{naive_time:.2f} s / {ours['in_recorder']:.4f} s = {ratio:,.0f}x",
                "faster",
                verdict(ratio > 1),
            )
        )

        # a) real training step
        print(
            f"\n[a] Demo CNN on digits (N=1,797, batch 64, 1 torch thread): {pairs} ABBA "
            f"pairs = {2 * pairs} epochs with and {2 * pairs} without the recorder"
        )
        both = bench_training_overhead(workdir, pairs=pairs)
        for clock, label in (("wall", "wall clock"), ("cpu", "process CPU time")):
            a = both[clock]
            print(f"    -- {label}")
            print(f"    steps per epoch                {a['steps_per_epoch']:.0f}")
            print(f"    median step, no recorder       {_ms(a['step_plain'])}")
            print(
                f"    median step, with recorder     {_ms(a['step_recorded'])}  "
                f"({a['step_overhead']:+.1%})"
            )
            print(
                f"    2 x store_batch per step       {_ms(a['store_per_step'])}  "
                f"({a['store_overhead']:.1%} of a median plain step)"
            )
            print(
                f"    floor: bare copies per step    {_ms(a['floor_per_step'])}  (the same rows "
                f"into preallocated arrays, in epochs of their own; ratio "
                f"{a['store_per_step'] / a['floor_per_step']:.2f})"
            )
            print(
                f"    end_snapshot per epoch         {_ms(a['end_snapshot'])}  "
                f"(= {_ms(a['end_per_step'])} per step over {a['steps_per_epoch']:.0f} steps)"
            )
            print(f"    store + end_snapshot per step  {a['all_in_overhead']:.1%} of a plain step")
            print(f"    median epoch, no recorder      {_ms(a['epoch_plain'])}")
            print(
                f"    median epoch, with recorder    {_ms(a['epoch_recorded'])}  "
                f"({a['epoch_recorded'] / a['epoch_plain'] - 1:+.1%})"
            )
        for clock in ("cpu", "wall"):
            a = both[clock]
            rows.append(
                (
                    f"median step overhead ({clock})",
                    f"{a['step_overhead']:+.1%}",
                    f"<= {TARGET_STEP_OVERHEAD:.0%}",
                    verdict(a["step_overhead"] <= TARGET_STEP_OVERHEAD),
                )
            )
            rows.append(
                (
                    f"store_batch x2 / plain step ({clock})",
                    f"{a['store_overhead']:.1%}",
                    f"<= {TARGET_STEP_OVERHEAD:.0%}",
                    verdict(a["store_overhead"] <= TARGET_STEP_OVERHEAD),
                )
            )
        a = both["cpu"]
        rows.append(
            (
                "store + end_snapshot / step (cpu)",
                f"{a['all_in_overhead']:.1%}",
                f"(end_snapshot {_ms(a['end_snapshot'])}, {a['steps_per_epoch']:.0f}-step epochs)",
                "see text",
            )
        )

        # a') the same with background snapshot writes (Recorder(background=True))
        print("\n[a'] The same with snapshot writes on the training thread (background=False)")
        bg = bench_training_overhead(workdir, pairs=pairs, background=False)
        for clock in ("wall", "cpu"):
            b = bg[clock]
            print(
                f"    {clock:<4} median step {_ms(b['step_plain'])} -> {_ms(b['step_recorded'])} "
                f"({b['step_overhead']:+.1%}); end_snapshot returns in {_ms(b['end_snapshot'])}; "
                f"median epoch {b['epoch_recorded'] / b['epoch_plain'] - 1:+.1%}"
            )
            rows.append(
                (
                    f"median step overhead, background=False ({clock})",
                    f"{b['step_overhead']:+.1%}",
                    f"<= {TARGET_STEP_OVERHEAD:.0%}",
                    verdict(b["step_overhead"] <= TARGET_STEP_OVERHEAD),
                )
            )
            rows.append(
                (
                    f"epoch overhead, background=False ({clock})",
                    f"{b['epoch_recorded'] / b['epoch_plain'] - 1:+.1%}",
                    "(training-loop view)",
                    "see text",
                )
            )

    print("\nSummary")
    widths = [
        max(len(r[i]) for r in [*rows, ("measure", "measured", "target", "verdict")])
        for i in range(4)
    ]
    header = ("measure", "measured", "target", "verdict")
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
