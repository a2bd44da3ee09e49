"""``/health`` and ``/ready``: for load balancers and orchestrators, no token needed.

``/health`` (liveness) answers while the process serves requests. ``/ready`` (readiness)
answers 200 only while the database can be reached: during an outage it is 503 with
``Retry-After``, and so are the requests that need the database.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qlambda.gateway.api.deps import PlatformDep
from qlambda.gateway.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> dict[str, str]:
    """Liveness: the server answers (whatever its database does)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database cannot be reached"}},
)
async def ready(platform: PlatformDep) -> JSONResponse:
    """Readiness: 200 while the database answers (checked at most once a second),
    503 with ``Retry-After`` while it cannot be reached."""
    store = platform.store
    if await run_in_threadpool(store.probe):
        return JSONResponse({"ready": True, "database": "reachable"})
    error = store.health.unavailable()
    return JSONResponse(
        {"ready": False, "database": "unreachable", "detail": error.detail},
        status_code=503,
        headers={"Retry-After": str(error.retry_after)},
    )
