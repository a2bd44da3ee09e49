"""``/backends``: the platform's quantum backends as users see them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qlambda.gateway.api.deps import CurrentUser, PlatformDep

router = APIRouter(tags=["platform"])


@router.get("/backends")
def backends(user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    """The quantum backends with their queue lengths and utilization."""
    return platform.dispatcher.stats()
