"""Runs whose logits are noise, for the tests that need a run but not particular numbers.

Importable from every test folder: pytest puts ``tests/`` on ``sys.path`` for its conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import reprdynamics as rd


def noise_run(path: Path, n: int, *, snapshots: int = 3, labels: bool = True) -> Path:
    """Record ``snapshots`` epochs of standard normal (n, 3) logits to ``path``, and return it.

    The labels are ``i % 3`` (none when ``labels`` is false); the seed is fixed, so the same
    arguments record the same run.
    """
    rng = np.random.default_rng(0)
    with rd.Recorder(path, n_samples=n, labels=np.arange(n) % 3 if labels else None) as rec:
        for epoch in range(snapshots):
            rec.store_batch(rng.normal(size=(n, 3)), ids=np.arange(n), epoch=epoch)
    return path
