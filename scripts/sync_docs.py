"""Copy the docs the dashboard ships into the package (issue #12).

The dashboard's cards link their definitions in ``docs/measures.md``; the server must show
them offline, so a copy lives in ``src/reprdynamics/server/static/docs/``, rendered there by
``static/docs/index.html``. ``tests/test_packaged_docs.py`` fails when a copy differs.

Usage::

    python scripts/sync_docs.py          # refresh the copies
    python scripts/sync_docs.py --check  # exit 1, naming them, when a copy is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "src" / "reprdynamics" / "server" / "static" / "docs"
#: The docs pages the package ships, relative to ``docs/``.
PACKAGED = ("measures.md",)


def stale(root: Path = ROOT) -> list[str]:
    """The packaged copies that differ from (or lack) their source in ``docs/``."""
    target = root / "src" / "reprdynamics" / "server" / "static" / "docs"
    return [
        name
        for name in PACKAGED
        if not (target / name).is_file()
        or (target / name).read_bytes() != (root / "docs" / name).read_bytes()
    ]


def sync(root: Path = ROOT) -> list[str]:
    """Copy every stale page; returns the names copied."""
    target = root / "src" / "reprdynamics" / "server" / "static" / "docs"
    target.mkdir(parents=True, exist_ok=True)
    copied = stale(root)
    for name in copied:
        (target / name).write_bytes((root / "docs" / name).read_bytes())
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale copies")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"stale: {TARGET / name} differs from docs/{name}", file=sys.stderr)
        if names:
            print("run: python scripts/sync_docs.py", file=sys.stderr)
        return 1 if names else 0
    for name in sync():
        print(f"copied docs/{name} -> {TARGET / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
