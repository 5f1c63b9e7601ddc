"""The `registry-sync` command line: one click group, one sub-command per job."""

from __future__ import annotations

import click

from registry_sync import __version__
from registry_sync.audit.command import audit
from registry_sync.demo.command import demo
from registry_sync.devregistry.command import dev_registry
from registry_sync.run_command import run


@click.group()
@click.version_option(__version__, prog_name="registry-sync")
def main() -> None:
    """Keep deployed models, Model Registry entries and model-testing runs in agreement."""


main.add_command(run)
main.add_command(dev_registry)
main.add_command(audit)
main.add_command(demo)

if __name__ == "__main__":
    main()
