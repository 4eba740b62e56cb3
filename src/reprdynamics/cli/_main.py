"""The ``reprdynamics`` command group the commands are registered on."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reprdynamics")
def main() -> None:
    """ReprDynamics: how a classification network's view of its data changes in training."""
