"""``reprdynamics import-legacy`` and ``reprdynamics import projector | cartography``."""

from __future__ import annotations

import click

from reprdynamics.cli._common import friendly_errors
from reprdynamics.cli._main import main
from reprdynamics.cli.info import describe_run, print_info


@main.command("import-legacy")
@click.argument("old_dir", type=click.Path(exists=True))
@click.argument("new_run", type=click.Path())
@click.option("--epochs", help="Comma-separated epoch of each snapshot (default 0..T-1).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run at NEW_RUN.")
@friendly_errors
def import_legacy_cmd(old_dir: str, new_run: str, epochs: str | None, overwrite: bool) -> None:
    """Import a save directory of the original ReprDynamics (snapshots.json) as a run."""
    from reprdynamics.storage.legacy import import_legacy

    epoch_list = None
    if epochs:
        try:
            epoch_list = [int(e) for e in epochs.split(",")]
        except ValueError:
            raise click.BadParameter(
                "must be comma-separated integers", param_hint="--epochs"
            ) from None
    run = import_legacy(old_dir, new_run, epochs=epoch_list, overwrite=overwrite)
    click.echo(f"Imported {run.n_snapshots} snapshots of {run.n_samples} samples into {new_run}")
    print_info(describe_run(run))


@main.group("import")
def import_group() -> None:
    """Import recordings made with other tools (TensorBoard projector, dataset cartography)."""


@import_group.command("projector")
@click.argument("log_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("run", type=click.Path())
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Tag to import (repeatable; the first is the output layer). Default: every tag.",
)
@click.option("--label-column", default=None, help="metadata.tsv column holding the labels.")
@click.option("--no-labels", is_flag=True, help="Ignore metadata.tsv: import no labels.")
@click.option(
    "--class-names",
    default=None,
    help="Comma-separated class names in the order of the logits' columns.",
)
@click.option(
    "--kind",
    type=click.Choice(["features", "logits", "probabilities"]),
    default="features",
    show_default=True,
    help="What the (first) tag's tensors hold.",
)
@click.option("--layer", default=None, help="Layer name of the (first) tag in the run.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run at RUN.")
@friendly_errors
def import_projector_cmd(
    log_dir: str,
    run: str,
    tags: tuple[str, ...],
    label_column: str | None,
    no_labels: bool,
    class_names: str | None,
    kind: str,
    layer: str | None,
    overwrite: bool,
) -> None:
    """Import TensorBoard projector checkpoints (SummaryWriter.add_embedding, one per step)
    from LOG_DIR as the run RUN."""
    from reprdynamics.recording.imports import import_projector

    imported = import_projector(
        log_dir,
        run,
        tag=list(tags) or None,
        label_column=label_column,
        labels=not no_labels,
        class_names=class_names.split(",") if class_names else None,
        kind=kind,
        layer=layer,
        overwrite=overwrite,
    )
    click.echo(f"Imported {imported.n_snapshots} steps of {imported.n_samples} samples into {run}")
    print_info(describe_run(imported))


@import_group.command("cartography")
@click.argument("dynamics_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("run", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace an existing run at RUN.")
@friendly_errors
def import_cartography_cmd(dynamics_dir: str, run: str, overwrite: bool) -> None:
    """Import dataset-cartography training dynamics (dynamics_epoch_<e>.jsonl) from
    DYNAMICS_DIR as the run RUN."""
    from reprdynamics.recording.imports import import_cartography

    imported = import_cartography(dynamics_dir, run, overwrite=overwrite)
    click.echo(
        f"Imported {imported.n_snapshots} epochs of {imported.n_samples} examples into {run}"
    )
    print_info(describe_run(imported))
