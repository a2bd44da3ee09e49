"""``qlambda cancel ID``: cancel a job on a server."""

from __future__ import annotations

import click

from qlambda.cli.common import (
    json_option,
    print_json,
    remote_client,
    remote_job_id,
    server_options,
    service_call,
)


@click.command(name="cancel")
@click.argument("job_id", metavar="ID")
@server_options
@json_option
def command(job_id: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Cancel job ID if it has not ended (needs a server: --url or $QLAMBDA_URL).

    ID may be the start of an id, if only one of your jobs' ids starts that way."""
    if not url:
        raise click.ClickException(
            "cancel talks to a running server: give --url (or set $QLAMBDA_URL)"
        )
    with remote_client(url, token) as client:
        job_id = remote_job_id(client, job_id)
        answer = service_call(lambda: client.request("POST", f"/jobs/{job_id}/cancel"))
    if as_json:
        print_json(answer)
    else:
        click.echo(f"{job_id} {'canceled' if answer['canceled'] else answer['status']}")
