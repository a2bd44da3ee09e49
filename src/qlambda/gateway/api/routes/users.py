"""``/me`` and ``/users``: who is calling, and (admins) the users of the service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qlambda.gateway.api.deps import CurrentUser, PlatformDep, admin_only
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import NewUserOut, UserOut, UserRequest
from qlambda.platform import Platform

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser, platform: PlatformDep) -> dict[str, Any]:
    return user_row(platform, user.name)


@router.get("/users", response_model=list[UserOut])
def users(user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    if not user.is_admin:
        return [user_row(platform, user.name)]
    return platform.store.list_users()


@router.post("/users", status_code=201, response_model=NewUserOut)
def create_user(body: UserRequest, user: CurrentUser, platform: PlatformDep) -> dict[str, Any]:
    """Admins only. The answer holds the new user's token: it is shown once."""
    admin_only(user, "create users")
    try:
        token = platform.store.create_user(body.name, body.role)
    except ValueError as exc:
        raise ApiError(409 if "exists" in str(exc) else 422, str(exc)) from None
    return {**user_row(platform, body.name), "token": token}


def user_row(platform: Platform, name: str) -> dict[str, Any]:
    row = platform.store.get_user(name)
    if row is None:
        raise ApiError(404, f"no user {name!r}")
    return row
