"""The `registry-sync` command line: one click group, one sub-command per job."""

from __future__ import annotations

import click

from registry_sync import __version__


@click.group()
@click.version_option(__version__, prog_name="registry-sync")
def main() -> None:
    """Keep deployed models, Model Registry entries and model-testing runs in agreement."""
