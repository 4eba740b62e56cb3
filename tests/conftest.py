"""Shared fixtures: the original tool's sample save directory beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LEGACY_SAMPLE = REPO_ROOT.parent / "shared" / "legacy_sample"


@pytest.fixture(scope="session")
def legacy_sample() -> Path:
    """``../shared/legacy_sample``: skipped where absent, but a failure in CI."""
    if not (LEGACY_SAMPLE / "snapshots.json").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the legacy sample at {LEGACY_SAMPLE}, and it is missing.")
        pytest.skip(f"the original tool's sample is not at {LEGACY_SAMPLE} (a clone elsewhere)")
    return LEGACY_SAMPLE
