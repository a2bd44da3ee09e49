"""The ``qlambda`` command. Each sub-command lives in its own module of this package
and exposes a click command named ``command``."""

from __future__ import annotations

import importlib

import click

from qlambda import __version__

# Sub-command modules, imported lazily so `qlambda --help` stays fast.
COMMAND_MODULES: dict[str, str] = {
    "app": "qlambda.cli.app",
    "demo": "qlambda.cli.demo",
    "traces": "qlambda.cli.traces",
    "jobs": "qlambda.cli.jobs",
    "backends": "qlambda.cli.backends",
    "simulate": "qlambda.cli.simulate",
    "plan": "qlambda.cli.plan",
    "twin": "qlambda.cli.twin",
    "serve": "qlambda.cli.serve",
    "users": "qlambda.cli.users",
    "run": "qlambda.cli.run",
    "logs": "qlambda.cli.logs",
    "cancel": "qlambda.cli.cancel",
    "retention": "qlambda.cli.retention",
    "usage": "qlambda.cli.usage",
    "dashboard": "qlambda.cli.dashboard",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        command: click.Command = importlib.import_module(module_name).command
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qlambda")
def main() -> None:
    """qlambda: hybrid classical-quantum serverless jobs, and a simulator to plan them."""
