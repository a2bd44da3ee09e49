"""Helpers shared by the sub-commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from qlambda.platform.config import DEFAULT_DATA_DIR

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"The platform's data directory (default: $QLAMBDA_DATA_DIR or ./{DEFAULT_DATA_DIR}).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def resolve_data_dir(data_dir: Path | None, must_exist: bool = True) -> Path:
    import os

    path = data_dir or Path(os.environ.get("QLAMBDA_DATA_DIR", DEFAULT_DATA_DIR))
    elsewhere = bool(os.environ.get("QLAMBDA_DATABASE_URL"))  # the store is not in the dir
    if must_exist and not elsewhere and not (path / "qlambda.db").exists():
        raise click.ClickException(
            f"no qlambda data in {str(path)!r}: run jobs there first, or pass --data-dir"
        )
    return path


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def server_options(command: Any) -> Any:
    """``--url`` and ``--token`` (or $QLAMBDA_URL, $QLAMBDA_TOKEN): talk to a server."""
    command = click.option(
        "--token",
        envvar="QLAMBDA_TOKEN",
        default=None,
        help="API token for the server (default: $QLAMBDA_TOKEN).",
    )(command)
    return click.option(
        "--url",
        envvar="QLAMBDA_URL",
        default=None,
        help="A qlambda server, e.g. http://127.0.0.1:8000 (default: $QLAMBDA_URL).",
    )(command)


def remote_client(url: str, token: str | None) -> Any:
    from qlambda.client.remote import RemoteClient

    try:
        return RemoteClient(url, token=token)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def service_call(call: Any) -> Any:
    """Run a call to a server; its refusals become a one-line CLI error."""
    import httpx

    from qlambda.core.errors import ServiceError

    try:
        return call()
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from None
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach the server: {exc}") from None
