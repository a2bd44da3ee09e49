"""What the routes share, as typed dependencies: the caller, the platform, the settings.

The application keeps one of each in ``app.state`` (set by ``create_app``); a route
asks for them by type (``user: CurrentUser``, ``platform: PlatformDep``) and none of
them adds a parameter to the OpenAPI schema besides the bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qlambda.gateway.auth import Authenticator, User
from qlambda.gateway.catalog import Catalog, Registered
from qlambda.gateway.circuit_checks import CircuitChecks
from qlambda.gateway.errors import ApiError
from qlambda.gateway.settings import GatewaySettings
from qlambda.gateway.streams import JobStreams
from qlambda.gateway.submissions import Submissions
from qlambda.gateway.waits import WaitSlots
from qlambda.platform import JobInfo, Platform

bearer = HTTPBearer(auto_error=False, description="an API token from `qlambda users create`")


# The getters are coroutines: FastAPI would run plain functions on its thread pool,
# a thread hop per dependency per request.
async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_streams(request: Request) -> JobStreams:
    streams: JobStreams = request.app.state.streams
    return streams


async def get_submissions(request: Request) -> Submissions:
    submissions: Submissions = request.app.state.submissions
    return submissions


async def get_wait_slots(request: Request) -> WaitSlots:
    wait_slots: WaitSlots = request.app.state.wait_slots
    return wait_slots


async def get_circuit_checks(request: Request) -> CircuitChecks:
    circuit_checks: CircuitChecks = request.app.state.circuit_checks
    return circuit_checks


PlatformDep = Annotated[Platform, Depends(get_platform)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
StreamsDep = Annotated[JobStreams, Depends(get_streams)]
WaitSlotsDep = Annotated[WaitSlots, Depends(get_wait_slots)]
SubmissionsDep = Annotated[Submissions, Depends(get_submissions)]
CircuitChecksDep = Annotated[CircuitChecks, Depends(get_circuit_checks)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a retry with the same key (and body) returns the job already stored",
    ),
]


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    header = None if credentials is None else f"Bearer {credentials.credentials}"
    authenticator: Authenticator = request.app.state.authenticator
    found = authenticator.user(header)
    if isinstance(found, str):
        raise ApiError(401, found)
    return found


CurrentUser = Annotated[User, Depends(current_user)]


def admin_only(user: User, what: str) -> None:
    if not user.is_admin:
        raise ApiError(403, f"only admins {what}")


def own_job(platform: Platform, user: User, job_id: str) -> JobInfo:
    """The job if the caller may see it (theirs, or any for an admin); else 404."""
    try:
        info = platform.info(job_id)
    except KeyError:
        info = None
    if info is None or (info.owner != user.name and not user.is_admin):
        raise ApiError(404, f"no job with id {job_id!r} among yours")
    return info


def registered(catalog: Catalog, user: User, name: str) -> Registered:
    entry = catalog.get(user.name, name)
    if entry is None:
        yours = ", ".join(r.payload.name for r in catalog.list(user.name)) or "none yet"
        raise ApiError(
            404,
            f"no function named {name!r} is registered for you; "
            f"yours: {yours} (POST /functions registers one)",
        )
    return entry


async def reject_unknown_query(request: Request) -> None:
    """A query parameter that no part of the route reads is an error, not ignored."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    known: dict[int, set[str]] = request.app.state.query_names
    names = known.get(id(route))
    if names is None:
        names = known[id(route)] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        listed = ", ".join(sorted(names)) or "none"
        raise ApiError(422, f"unknown query parameter(s) {', '.join(unknown)}; accepted: {listed}")


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {parameter.alias for parameter in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
