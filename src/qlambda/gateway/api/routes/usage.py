"""``/usage``: QPU seconds and cost per user and backend, with each user's quota."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from qlambda.gateway.api.deps import CurrentUser, PlatformDep, admin_only
from qlambda.gateway.api.routes.users import user_row
from qlambda.gateway.models import UsageOut

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=UsageOut)
def usage(
    user: CurrentUser,
    platform: PlatformDep,
    since: Annotated[
        float | None, Query(ge=0, description="a time (seconds since the epoch); none: all")
    ] = None,
    name: Annotated[
        str | None, Query(alias="user", description="admins: another user, or * for all")
    ] = None,
) -> dict[str, Any]:
    """Yours (admins: ``user`` names whose, ``*`` everyone's), read from the database, so
    every replica answers the same."""
    owner: str | None = user.name
    if name is not None and name != user.name:
        admin_only(user, "see other users' usage")
        owner = None if name == "*" else name
        if owner is not None:
            user_row(platform, owner)  # unknown users: 404
    return platform.usage_report(owner, since)
