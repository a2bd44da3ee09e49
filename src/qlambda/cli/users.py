"""``qlambda users``: the users of a server's store and their API tokens."""

from __future__ import annotations

from pathlib import Path

import click

from qlambda.cli.common import data_dir_option, json_option, print_json, resolve_data_dir


@click.group(name="users")
def command() -> None:
    """Create and list users (reads the store: run it where the server's data is)."""


@command.command(name="create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and cancel everyone's jobs, create users.")
@data_dir_option
@json_option
def create(name: str, admin: bool, data_dir: Path | None, as_json: bool) -> None:
    """Add a user and print their API token (shown once; only its hash is stored)."""
    from qlambda.store import Store

    path = resolve_data_dir(data_dir, must_exist=False)
    path.mkdir(parents=True, exist_ok=True)
    store = Store.open(path)
    try:
        token = store.create_user(name, "admin" if admin else "user")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        print_json({"name": name, "role": "admin" if admin else "user", "token": token})
    else:
        click.echo(token)


@command.command(name="token")
@click.argument("name")
@data_dir_option
def token(name: str, data_dir: Path | None) -> None:
    """Print a new, additional API token for an existing user."""
    from qlambda.store import Store

    store = Store.open(resolve_data_dir(data_dir))
    try:
        if store.get_user(name) is None:
            raise click.ClickException(f"no user {name!r}; `qlambda users create {name}` adds one")
        click.echo(store.create_token(name))
    finally:
        store.close()


@command.command(name="list")
@data_dir_option
@json_option
def list_users(data_dir: Path | None, as_json: bool) -> None:
    """The users and their roles."""
    from qlambda.store import Store

    store = Store.open(resolve_data_dir(data_dir))
    try:
        rows = store.list_users()
    finally:
        store.close()
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}\t{row['role']}")
