"""The `registry-sync` command line: one click group, one sub-command per job.

A sub-command's module is imported only when that sub-command is chosen (or when `--help`
lists them all): the operator process (`run`) then holds only what it runs, not the demo,
the local control plane or the registry stand-in.
"""

from __future__ import annotations

import importlib

import click

from registry_sync import __version__

# Sub-command name → (module, attribute) of its click command.
SUBCOMMANDS = {
    "audit": ("registry_sync.audit.command", "audit"),
    "demo": ("registry_sync.demo.command", "demo"),
    "dev-registry": ("registry_sync.devregistry.command", "dev_registry"),
    "publish": ("registry_sync.pipeline_tasks.command", "publish_command"),
    "run": ("registry_sync.handlers.command", "run"),
    "verify-run": ("registry_sync.pipeline_tasks.command", "verify_run_command"),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module, attribute = SUBCOMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="registry-sync")
def main() -> None:
    """Keep deployed models, Model Registry entries and model-testing runs in agreement."""


if __name__ == "__main__":
    main()
