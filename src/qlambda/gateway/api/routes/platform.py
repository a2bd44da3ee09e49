"""``/backends``: the platform's quantum backends as users see them; ``/controllers``:
the control planes on its database (replicas), for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qlambda.gateway.api.deps import CurrentUser, PlatformDep, admin_only

router = APIRouter(tags=["platform"])


@router.get("/backends")
def backends(user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    """The quantum backends with their queue lengths and utilization."""
    return platform.dispatcher.stats()


@router.get("/controllers")
def controllers(user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    """The control planes that used this database, oldest first, and whether each one's
    lease is live (replicas: which ones own jobs now)."""
    admin_only(user, "list control planes")
    return platform.controllers()
