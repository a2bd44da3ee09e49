"""Helpers shared by the sub-commands."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable
from functools import partial
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


def figure_option(default: str) -> Callable[[Any], Any]:
    """``--figure PATH``: where a command writes its PNG (``default`` in the current directory)."""
    option: Callable[[Any], Any] = click.option(
        "--figure",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help="Where to write the PNG figure.",
    )
    return option


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


def invocation() -> str:
    """How the user can run this command again: ``qlambda`` when that is on the PATH and
    is this program, else the path they ran (e.g. ``.venv/bin/qlambda``)."""
    import os
    import shutil

    ran = Path(sys.argv[0])
    found = shutil.which("qlambda")
    if ran.name != "qlambda":  # python -m qlambda.cli
        return "qlambda" if found else f"{sys.executable} -m qlambda.cli"
    if found and Path(found).resolve() == ran.resolve():
        return "qlambda"
    path = ran.resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path) if path.is_absolute() else os.path.abspath(path)


# Candidates listed when a job id prefix matches several jobs.
MAX_CANDIDATES = 10


def _checked_prefix(given: str) -> str:
    if not given or not all(c.isalnum() or c in "-_" for c in given):
        raise click.BadParameter(
            f"{given!r} is not a job id: ids are letters and digits (as `qlambda jobs` lists "
            "them); a unique prefix is enough",
            param_hint="ID",
        )
    return given


def unique_job_id(given: str, matches: list[str]) -> str:
    """The one id ``given`` names (the id itself, or a unique prefix of it)."""
    if given in matches:
        return given
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise click.ClickException(
            f"no job id starts with {given!r}; `qlambda jobs` lists the newest jobs"
        )
    shown = ", ".join(matches[:MAX_CANDIDATES])
    count = f"more than {MAX_CANDIDATES}" if len(matches) > MAX_CANDIDATES else len(matches)
    raise click.ClickException(
        f"{given!r} is the start of {count} job ids: {shown}; give more of the id"
    )


def local_job_id(store: Any, given: str) -> str:
    """Resolve an id or a unique prefix against a store."""
    prefix = _checked_prefix(given)
    return unique_job_id(prefix, store.job_ids_starting_with(prefix, limit=MAX_CANDIDATES + 1))


def remote_job_id(client: Any, given: str) -> str:
    """Resolve an id or a unique prefix among the jobs a server shows this user."""
    prefix = _checked_prefix(given)
    try:
        service_call(lambda: client.request("GET", f"/jobs/{prefix}"))
        return prefix
    except click.ClickException:
        pass  # not a whole id (or the server is down: listing says so)
    matches: list[str] = []
    page = 1000
    for offset in itertools.count(0, page):
        infos = service_call(partial(client.job_infos, limit=page, offset=offset))
        matches += [info.id for info in infos if info.id.startswith(prefix)]
        if len(infos) < page or len(matches) > MAX_CANDIDATES:
            break
    return unique_job_id(prefix, matches)
