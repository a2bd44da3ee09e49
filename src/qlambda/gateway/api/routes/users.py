"""``/me`` and ``/users``: who is calling; (admins) the users, their limits, their tokens.

A user may list and revoke their own tokens; admins anyone's. A revocation takes
effect at the next request: the server's token cache forgets the user's tokens.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from qlambda.gateway.api.deps import CurrentUser, PlatformDep, WaitSlotsDep, admin_only
from qlambda.gateway.auth import User
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import (
    MeOut,
    NewUserOut,
    RevokedOut,
    TokenOut,
    UserLimits,
    UserOut,
    UserRequest,
)
from qlambda.platform import Platform

router = APIRouter(tags=["users"])


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser, platform: PlatformDep, wait_slots: WaitSlotsDep) -> dict[str, Any]:
    return {**user_row(platform, user.name), "open_waits": wait_slots.held(user.name)}


@router.get("/users", response_model=list[UserOut])
def users(user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    if not user.is_admin:
        return [user_row(platform, user.name)]
    return platform.store.list_users()


@router.post("/users", status_code=201, response_model=NewUserOut)
def create_user(body: UserRequest, user: CurrentUser, platform: PlatformDep) -> dict[str, Any]:
    """Admins only. The answer holds the new user's token: it is shown once."""
    admin_only(user, "create users")
    expires_at = None if body.expires_in_seconds is None else time.time() + body.expires_in_seconds
    limits = body.model_dump(include=set(UserLimits.model_fields))
    try:
        token = platform.store.create_user(body.name, body.role, expires_at=expires_at, **limits)
    except ValueError as exc:
        raise ApiError(409 if "exists" in str(exc) else 422, str(exc)) from None
    return {**user_row(platform, body.name), "token": token}


@router.patch("/users/{name}", response_model=UserOut)
def set_limits(
    name: str, body: UserLimits, user: CurrentUser, platform: PlatformDep, request: Request
) -> dict[str, Any]:
    """Admins only: change a user's limits (the fields given; null: the server's default)."""
    admin_only(user, "change users' limits")
    user_row(platform, name)
    try:
        row = platform.store.set_user_limits(name, **body.model_dump(exclude_unset=True))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    request.app.state.authenticator.forget(name)
    platform.limit_running_per_owner(None, {name: row["max_running_jobs"]})
    platform.usage.forget(name)
    return row


@router.get("/users/{name}/tokens", response_model=list[TokenOut])
def tokens(name: str, user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    """A user's tokens by id (the secrets are never stored): yours, or anyone's for admins."""
    _self_or_admin(user, name, "list other users' tokens")
    user_row(platform, name)
    return platform.store.tokens(name)


@router.delete("/users/{name}/tokens", response_model=RevokedOut)
def revoke_all(
    name: str, user: CurrentUser, platform: PlatformDep, request: Request
) -> dict[str, Any]:
    """Revoke every token of a user, at once."""
    return revoke(name, None, user, platform, request)


@router.delete("/users/{name}/tokens/{token_id}", response_model=RevokedOut)
def revoke_one(
    name: str, token_id: str, user: CurrentUser, platform: PlatformDep, request: Request
) -> dict[str, Any]:
    """Revoke one token, named by its id (or the start of it, 6 characters or more)."""
    return revoke(name, token_id, user, platform, request)


def revoke(
    name: str, token_id: str | None, user: User, platform: Platform, request: Request
) -> dict[str, Any]:
    _self_or_admin(user, name, "revoke other users' tokens")
    user_row(platform, name)
    try:
        revoked = platform.store.revoke_tokens(name, token_id)
    except ValueError as exc:
        raise ApiError(404 if "has no token" in str(exc) else 422, str(exc)) from None
    request.app.state.authenticator.forget(name)
    return {"user": name, "revoked": revoked}


def _self_or_admin(user: User, name: str, what: str) -> None:
    if name != user.name and not user.is_admin:
        raise ApiError(403, f"only admins {what}")


def user_row(platform: Platform, name: str) -> dict[str, Any]:
    row = platform.store.get_user(name)
    if row is None:
        raise ApiError(404, f"no user {name!r}")
    return row
