"""``qlambda users``: the users of a server's store, their limits and their API tokens.

It works on the store directly, beside a running server: a change to tokens or
limits is announced in the data directory, and the server applies it at its next
request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qlambda.cli.common import data_dir_option, json_option, print_json, resolve_data_dir

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m', '2w', '3600s' -> seconds."""
    found = DURATION.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise click.BadParameter(
            f"{text!r} is not a duration; accepted: a positive number with a unit "
            "s, m, h, d or w (30d, 12h, 90m)"
        )
    return float(found.group(1)) * UNITS[found.group(2)]


def _expires_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--expires",
        default=None,
        help="The token stops working after this long: 30d, 12h, 90m, 2w (default: never).",
    )(command)


def _limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, kind, text in reversed(
        [
            ("--max-priority", click.FloatRange(min=0, min_open=True, max=1000), "priority"),
            ("--max-active-jobs", click.IntRange(min=1), "queued plus running jobs"),
            ("--max-running-jobs", click.IntRange(min=1), "running jobs"),
            ("--max-qpu-seconds", click.FloatRange(min=0), "QPU seconds (a quota)"),
            ("--max-cost", click.FloatRange(min=0), "cost of quantum tasks (a quota)"),
        ]
    ):
        command = click.option(
            flag,
            type=kind,
            default=None,
            help=f"This user's highest {text} (default: the server's).",
        )(command)
    return command


LIMITS = ("max_priority", "max_active_jobs", "max_running_jobs", "max_qpu_seconds", "max_cost")


def _expiry(expires: str | None) -> float | None:
    return None if expires is None else time.time() + parse_duration(expires)


def _open(data_dir: Path | None, must_exist: bool = True) -> tuple[Any, Path]:
    from qlambda.store import Store

    path = resolve_data_dir(data_dir, must_exist=must_exist)
    path.mkdir(parents=True, exist_ok=True)
    return Store.open(path), path


@click.group(name="users")
def command() -> None:
    """Create, list, limit users; make and revoke their tokens (run it where the server's
    data is)."""


@command.command(name="create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and cancel everyone's jobs, create users.")
@_limit_options
@_expires_option
@data_dir_option
@json_option
def create(
    name: str,
    admin: bool,
    max_priority: float | None,
    max_active_jobs: int | None,
    max_running_jobs: int | None,
    max_qpu_seconds: float | None,
    max_cost: float | None,
    expires: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Add a user and print their API token (shown once; only its hash is stored)."""
    from qlambda.store.store import token_digest, token_id

    expires_at = _expiry(expires)
    store, _ = _open(data_dir, must_exist=False)
    role = "admin" if admin else "user"
    try:
        token = store.create_user(
            name,
            role,
            expires_at=expires_at,
            max_priority=max_priority,
            max_active_jobs=max_active_jobs,
            max_running_jobs=max_running_jobs,
            max_qpu_seconds=max_qpu_seconds,
            max_cost=max_cost,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "name": name,
                "role": role,
                "token": token,
                "token_id": token_id(token_digest(token)),
                "expires_at": expires_at,
            }
        )
    else:
        click.echo(token)


@command.command(name="token")
@click.argument("name")
@_expires_option
@data_dir_option
def token(name: str, expires: str | None, data_dir: Path | None) -> None:
    """Print a new, additional API token for an existing user."""
    expires_at = _expiry(expires)
    store, _ = _open(data_dir)
    try:
        if store.get_user(name) is None:
            raise click.ClickException(f"no user {name!r}; `qlambda users create {name}` adds one")
        click.echo(store.create_token(name, expires_at=expires_at))
    finally:
        store.close()


@command.command(name="tokens")
@click.argument("name")
@data_dir_option
@json_option
def tokens(name: str, data_dir: Path | None, as_json: bool) -> None:
    """A user's tokens by id (the secrets are not stored): created, expires, revoked."""
    store, _ = _open(data_dir)
    try:
        if store.get_user(name) is None:
            raise click.ClickException(f"no user {name!r}")
        rows = store.tokens(name)
    finally:
        store.close()
    if as_json:
        print_json(rows)
        return
    click.echo(f"{'id':<14}{'created':<18}{'expires':<18}{'revoked':<18}")
    for row in rows:
        cells = [_when(row[k]) for k in ("created_at", "expires_at", "revoked_at")]
        click.echo(f"{row['id']:<14}" + "".join(f"{cell:<18}" for cell in cells))


@command.command(name="revoke")
@click.argument("name")
@click.option(
    "--token",
    "which",
    default=None,
    help="Only this token: its id from `qlambda users tokens` (6+ characters) or the token.",
)
@data_dir_option
def revoke(name: str, which: str | None, data_dir: Path | None) -> None:
    """Revoke all of a user's tokens (or one): a running server refuses them at once."""
    from qlambda.gateway.auth import announce_change

    store, path = _open(data_dir)
    try:
        if store.get_user(name) is None:
            raise click.ClickException(f"no user {name!r}")
        revoked = store.revoke_tokens(name, which)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    announce_change(path)
    click.echo(f"revoked {len(revoked)} token(s) of {name}: {', '.join(revoked) or 'none live'}")


@command.command(name="set")
@click.argument("name")
@_limit_options
@click.option(
    "--default",
    "defaults",
    multiple=True,
    type=click.Choice([limit.replace("_", "-") for limit in LIMITS]),
    help="Back to the server's default for this limit (repeatable).",
)
@data_dir_option
def set_limits(
    name: str,
    max_priority: float | None,
    max_active_jobs: int | None,
    max_running_jobs: int | None,
    max_qpu_seconds: float | None,
    max_cost: float | None,
    defaults: tuple[str, ...],
    data_dir: Path | None,
) -> None:
    """Change a user's own limits; a running server applies them at the next request
    (quotas within a few seconds)."""
    from qlambda.gateway.auth import announce_change

    given = {
        "max_priority": max_priority,
        "max_active_jobs": max_active_jobs,
        "max_running_jobs": max_running_jobs,
        "max_qpu_seconds": max_qpu_seconds,
        "max_cost": max_cost,
    }
    changes: dict[str, float | None] = {k: v for k, v in given.items() if v is not None}
    changes.update({d.replace("-", "_"): None for d in defaults})
    if not changes:
        raise click.UsageError("give a limit to change (--max-priority ...) or --default NAME")
    store, path = _open(data_dir)
    try:
        row = store.set_user_limits(name, **changes)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    announce_change(path)
    click.echo(_describe(row))


@command.command(name="list")
@data_dir_option
@json_option
def list_users(data_dir: Path | None, as_json: bool) -> None:
    """The users, their roles and their own limits (-: the server's default)."""
    store, _ = _open(data_dir)
    try:
        rows = store.list_users()
    finally:
        store.close()
    if as_json:
        print_json(rows)
        return
    titles = ("priority", "active", "running", "QPU s", "cost")
    click.echo(f"{'name':<20}{'role':<7}" + "".join(f"{t:>10}" for t in titles))
    click.echo(f"{'':<27}{'(the highest of each; -: the server default)':>50}")
    for row in rows:
        click.echo(_describe(row))


def _describe(row: dict[str, Any]) -> str:
    cells = ["-" if row.get(k) is None else f"{row[k]:g}" for k in LIMITS]
    return f"{row['name'][:19]:<20}{row['role']:<7}" + "".join(f"{c[:9]:>10}" for c in cells)


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))
