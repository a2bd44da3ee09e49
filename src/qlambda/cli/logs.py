"""``qlambda logs ID``: what a job printed."""

from __future__ import annotations

from pathlib import Path

import click

from qlambda.cli.common import (
    data_dir_option,
    json_option,
    local_job_id,
    print_json,
    remote_client,
    remote_job_id,
    resolve_data_dir,
    server_options,
    service_call,
)


@click.command(name="logs")
@click.argument("job_id", metavar="ID")
@server_options
@data_dir_option
@json_option
def command(
    job_id: str, url: str | None, token: str | None, data_dir: Path | None, as_json: bool
) -> None:
    """Print the stdout and stderr of job ID (from a server with --url, else as stored).

    ID may be the start of an id, if only one job's id starts that way."""
    if url:
        with remote_client(url, token) as client:
            job_id = remote_job_id(client, job_id)
            text = service_call(lambda: client.request("GET", f"/jobs/{job_id}/logs"))["logs"]
    else:
        from qlambda.store import Store

        store = Store.open(resolve_data_dir(data_dir))
        try:
            job_id = local_job_id(store, job_id)
            row = store.get_job(job_id)
        finally:
            store.close()
        if row is None:  # removed since its id was resolved
            raise click.ClickException(f"no job {job_id}")
        log = Path(row["log_path"] or "")
        text = log.read_text(errors="replace") if log.is_file() else ""
    if as_json:
        print_json({"id": job_id, "logs": text})
    else:
        click.echo(text, nl=False)
