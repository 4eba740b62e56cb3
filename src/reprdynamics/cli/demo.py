"""``reprdynamics demo``: train a small CNN on the digits and record a run."""

from __future__ import annotations

import click

from reprdynamics.cli._common import PORT_HELP, check_port, friendly_errors
from reprdynamics.cli._main import main
from reprdynamics.cli.serve import serve_or_explain


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="runs/demo",
    show_default=True,
    help="Where to write the run.",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=15, show_default=True)
@click.option(
    "--label-noise",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Fraction of training labels to flip (known truth).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--overwrite/--no-overwrite",
    default=False,
    show_default=True,
    help="Replace an existing run at --out (without it an existing run is left alone).",
)
@click.option("--no-serve", is_flag=True, help="Only record the run; do not start the dashboard.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help=PORT_HELP
)
@friendly_errors
def demo(
    out: str, epochs: int, label_noise: float, seed: int, overwrite: bool, no_serve: bool, port: int
) -> None:
    """Train a small CNN on scikit-learn's digits images and record a run."""
    from reprdynamics.demo import run_demo
    from reprdynamics.storage import is_run

    # Checked before the minutes of training, which would otherwise be lost.
    if is_run(out) and not overwrite:
        raise click.ClickException(
            f"A run already exists at {out!r}; it was left unchanged. Pass --overwrite to "
            "replace it, or choose another --out."
        )
    if not no_serve:
        check_port("127.0.0.1", port)
    path = run_demo(
        out,
        epochs=epochs,
        label_noise=label_noise,
        seed=seed,
        overwrite=overwrite,
        progress=click.echo,
    )
    click.echo(f"Recorded run: {path}")
    if no_serve:
        click.echo(f"Inspect it with: reprdynamics info {path}")
        return
    serve_or_explain(str(path), host="127.0.0.1", port=port, open_browser=False)
