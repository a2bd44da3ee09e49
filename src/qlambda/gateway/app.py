"""The HTTP API: functions, jobs, results, logs, events, backends, users.

Every endpoint needs a bearer token (but ``/health`` and ``/ready``). Users see and
cancel only their own functions and jobs; admins see everyone's. While the database
cannot be reached, requests that need it are answered 503 with ``Retry-After``.
Submissions are answered only once the job is stored (the platform's
``submit_payload`` Future), from the event loop, without a thread hop. The routes
live in ``qlambda.gateway.api.routes``, one module per resource; this module builds
the application around them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse

from qlambda import __version__
from qlambda.gateway import errors
from qlambda.gateway.api.deps import reject_unknown_query
from qlambda.gateway.api.main import api_router
from qlambda.gateway.api.routes.functions import register
from qlambda.gateway.auth import Authenticator
from qlambda.gateway.catalog import Catalog
from qlambda.gateway.circuit_checks import CircuitChecks
from qlambda.gateway.models import Fault, Problem
from qlambda.gateway.settings import GatewaySettings
from qlambda.gateway.streams import JobStreams
from qlambda.gateway.submissions import Submissions
from qlambda.gateway.waits import WaitSlots
from qlambda.platform import Platform

__all__ = ["create_app", "register"]

BODY_OVERHEAD = 64 * 1024  # JSON around a base64 upload
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **{code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 422, 429)},
    500: {"model": Fault, "description": "an unexpected error, logged under its error_id"},
    503: {
        "model": Problem,
        "description": "the database cannot be reached: nothing was done; retry after "
        "the Retry-After header's seconds",
    },
}


def create_app(platform: Platform, settings: GatewaySettings | None = None) -> FastAPI:
    """The ASGI application over a started platform (the caller owns the platform)."""
    settings = settings or GatewaySettings()
    # Jobs beyond a user's running limit wait queued (not refused): others' jobs go first.
    platform.limit_running_per_owner(settings.max_running_jobs)
    own_limits = {row["name"]: row["max_running_jobs"] for row in platform.store.list_users()}
    platform.limit_running_per_owner(None, {k: v for k, v in own_limits.items() if v})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        streams = JobStreams(asyncio.get_running_loop())
        app.state.streams = streams
        platform.add_listener(streams.on_transition)
        try:
            yield
        finally:
            platform.remove_listener(streams.on_transition)
            app.state.circuit_checks.close()

    app = FastAPI(
        title="qlambda",
        version=__version__,
        description="Hybrid classical-quantum serverless functions over HTTP.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
        responses=PROBLEMS,
    )
    errors.install(app)
    app.add_middleware(
        errors.Guard, max_body_bytes=settings.max_upload_bytes * 4 // 3 + BODY_OVERHEAD
    )
    app.state.platform = platform
    app.state.settings = settings
    app.state.authenticator = Authenticator(platform.store, platform.data_dir)
    app.state.submissions = Submissions(platform, settings)
    app.state.catalog = Catalog(platform)
    if platform.bus is not None:  # replicas: what another one changed is read again
        authenticator, catalog = app.state.authenticator, app.state.catalog
        platform.bus.on("u", lambda fields: authenticator.forget(fields[0]))
        platform.bus.on("r", lambda fields: catalog.forget("|".join(fields[1:]), fields[0]))
    app.state.wait_slots = WaitSlots(settings.max_waits_per_user)
    app.state.circuit_checks = CircuitChecks()
    app.state.query_names = {}
    app.include_router(api_router)
    from qlambda.dashboard import mount  # the web dashboard at /ui

    mount(app)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/jobs", status_code=303)

    return app
