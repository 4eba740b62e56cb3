"""The docs the dashboard shows offline are copies of docs/ (issue #12).

``src/reprdynamics/server/static/docs/measures.md`` is what the cards' "?" links render;
it must be docs/measures.md byte for byte. ``python scripts/sync_docs.py`` refreshes it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ROOT / "src" / "reprdynamics" / "server" / "static" / "docs"


def _sync_docs():
    spec = importlib.util.spec_from_file_location("sync_docs", ROOT / "scripts" / "sync_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["measures.md"])
def test_packaged_copy_equals_docs(name: str) -> None:
    source = ROOT / "docs" / name
    if not source.is_file():
        pytest.skip(f"docs/{name} is not in this checkout")
    copy = PACKAGED / name
    assert copy.is_file(), f"{copy} is missing: run python scripts/sync_docs.py"
    assert copy.read_bytes() == source.read_bytes(), (
        f"{copy} differs from docs/{name}: run python scripts/sync_docs.py"
    )


def test_sync_docs_finds_and_fixes_a_stale_copy(tmp_path: Path) -> None:
    sync_docs = _sync_docs()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "measures.md").write_text("# Measures\n\nnew text\n")
    assert sync_docs.stale(tmp_path) == ["measures.md"]  # no copy yet
    assert sync_docs.sync(tmp_path) == ["measures.md"]
    assert sync_docs.stale(tmp_path) == []
    (tmp_path / "docs" / "measures.md").write_text("# Measures\n\nchanged\n")
    assert sync_docs.stale(tmp_path) == ["measures.md"]
    sync_docs.sync(tmp_path)
    copy = tmp_path / "src" / "reprdynamics" / "server" / "static" / "docs" / "measures.md"
    assert copy.read_text() == "# Measures\n\nchanged\n"


def test_packaged_docs_are_package_data() -> None:
    """pyproject ships server/static/**, so the copy and its page are installed."""
    text = (ROOT / "pyproject.toml").read_text()
    assert '"server/static/**/*"' in text
    for name in ("index.html", "render.js", "measures.md"):
        assert (PACKAGED / name).is_file(), name
