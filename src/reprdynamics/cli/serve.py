"""``reprdynamics serve`` and the original tool's ``ReprDynamics --save_dir DIR``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reprdynamics.cli._common import (
    HOST_HELP,
    PORT_HELP,
    BadUsage,
    check_port,
    check_storage_options,
    friendly_errors,
    raise_if_corrupt_run,
    storage_options_option,
)
from reprdynamics.cli._main import main
from reprdynamics.errors import ReprDynamicsError


def serve_or_explain(target: str, *, host: str, port: int, open_browser: bool) -> None:
    try:
        from reprdynamics.server.app import serve as serve_app
    except ImportError:
        click.echo(
            "The dashboard is not part of this release yet. The run is ready for analysis:\n"
            f"  reprdynamics info {target}\n"
            f"  reprdynamics analyse {target}"
        )
        return
    check_port(host, port)
    serve_app(target, host=host, port=port, open_browser=open_browser)


@main.command()
@click.argument("run_or_root", required=False)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help=PORT_HELP
)
@click.option("--host", default="127.0.0.1", show_default=True, help=HOST_HELP)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--cache-limit",
    default=None,
    help="Bytes each run's cache of derived results may hold (512M, 2G, or a multiple of the "
    "run's size such as 4x; 0 keeps nothing). Default: $REPRDYNAMICS_CACHE_LIMIT, else 4x, "
    "at least 64 MiB.",
)
@storage_options_option
@friendly_errors
def serve(
    run_or_root: str | None,
    port: int,
    host: str,
    open_browser: bool,
    cache_limit: str | None,
    storage_options: dict[str, Any] | None,
) -> None:
    """Serve the dashboard for a run, a directory of runs, a legacy save directory or a
    run's URL (s3://bucket/run).

    Without an argument it serves the bundled sample run.
    """
    from reprdynamics.server.app import serve as serve_app
    from reprdynamics.storage.legacy import is_legacy_dir

    check_storage_options(run_or_root, storage_options)
    if cache_limit is not None:
        from reprdynamics.storage.run import CACHE_LIMIT_ENV, parse_cache_limit

        try:
            parse_cache_limit(cache_limit, 1)
        except ReprDynamicsError as exc:
            raise click.BadParameter(str(exc), param_hint="--cache-limit") from None
        os.environ[CACHE_LIMIT_ENV] = cache_limit
    if run_or_root is not None and not is_legacy_dir(run_or_root):
        raise_if_corrupt_run(run_or_root)
    check_port(host, port)
    serve_app(
        run_or_root,
        host=host,
        port=port,
        open_browser=open_browser,
        storage_options=storage_options,
    )


def legacy_main(argv: list[str] | None = None) -> None:
    """``ReprDynamics --save_dir DIR [--port 5000]``: the original tool's command."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="ReprDynamics",
        description="Legacy entry point of the original tool; see `reprdynamics --help`.",
    )
    parser.add_argument(
        "--save_dir",
        default=None,
        help="A run, a root of runs, or a legacy "
        "save directory (snapshots.json), imported on the fly into a cache.",
    )
    parser.add_argument(
        "--port", type=int, default=5000, help=f"{PORT_HELP} (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help=f"{HOST_HELP} (default: %(default)s)")
    args = parser.parse_args(argv)
    target = args.save_dir
    try:
        if target is not None:
            from reprdynamics.storage.legacy import is_legacy_dir, open_legacy_cached

            if is_legacy_dir(target):
                run = open_legacy_cached(target)
                print(f"{target} is a legacy save directory; imported it into {run.location}")
                # Served as the legacy directory (the import is reused), so the run is
                # named after it, not after its cache entry (name-hash).
            else:
                raise_if_corrupt_run(target)
        else:
            from reprdynamics.sample import sample_run_path

            target = str(sample_run_path())
        serve_or_explain(target, host=args.host, port=args.port, open_browser=False)
    except BadUsage as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ReprDynamicsError, FileNotFoundError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
