"""``qlambda run FILE[:FUNCTION] --arg k=v``: run a function from a file, on a server
(``--url``) or on a platform embedded in this command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from qlambda.cli.common import (
    data_dir_option,
    json_option,
    print_json,
    remote_client,
    server_options,
    service_call,
)


def parse_argument(text: str) -> tuple[str, Any]:
    """``k=v``: v as JSON when it parses (numbers, lists, true), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise click.BadParameter(f"{text!r} is not of the form name=value", param_hint="--arg")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@click.command(name="run")
@click.argument("target")
@click.option("--arg", "args", multiple=True, help="An argument, name=value (repeatable).")
@click.option("--priority", type=float, default=1.0, show_default=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the result.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for the result.")
@server_options
@data_dir_option
@json_option
def command(
    target: str,
    args: tuple[str, ...],
    priority: float,
    wait: bool,
    timeout: float | None,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Run FUNCTION (default: main) of the Python file FILE; print its result."""
    from qlambda.core.errors import JobError
    from qlambda.platform.functions import Function

    path, sep, name = target.rpartition(":")
    if not sep:
        path, name = target, "main"
    if not Path(path).is_file() or not path.endswith(".py"):
        raise click.BadParameter(f"{path!r} is not a Python file", param_hint="TARGET")
    arguments = dict(parse_argument(a) for a in args)
    function = Function(name=name, entrypoint=f"{path}:{name}")
    if url:
        client = remote_client(url, token)
    else:
        from qlambda.client import Client

        client = Client(data_dir=data_dir)
    try:
        job = service_call(lambda: client.run(function, priority=priority, arguments=arguments))
        if not wait:
            print_json({"id": job.id}) if as_json else click.echo(job.id)
            return
        if not as_json:  # on stderr, so stdout stays the result
            click.echo(f"job {job.id} submitted; waiting for its result", err=True)
        try:
            value = service_call(lambda: job.result(timeout))
        except JobError as exc:
            if as_json:
                print_json({"id": job.id, "status": exc.status, "reason": exc.reason})
            raise click.ClickException(f"job {job.id} {exc.status}: {exc.reason}") from None
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            print_json({"id": job.id, "status": "DONE", "result": value})
        else:
            click.echo(repr(value))
    finally:
        client.close()
