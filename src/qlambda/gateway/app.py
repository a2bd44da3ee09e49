"""The HTTP API: functions, jobs, results, logs, events, backends, users.

Every endpoint needs a bearer token. Users see and cancel only their own
functions and jobs; admins see everyone's. Submissions are answered only once
the job is stored (the platform's ``submit_payload`` Future), from the event
loop, without a thread hop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import cloudpickle
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qlambda import __version__
from qlambda.core.errors import ResultDeletedError
from qlambda.core.states import JobStatus, parse_status
from qlambda.gateway import errors, parameters, uploads
from qlambda.gateway.auth import Authenticator, User
from qlambda.gateway.catalog import Catalog, Registered
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import (
    CancelOut,
    CircuitRun,
    EventOut,
    FunctionOut,
    FunctionRegistration,
    JobOut,
    JobRequest,
    LogsOut,
    NewUserOut,
    Problem,
    ResultOut,
    UserOut,
    UserRequest,
)
from qlambda.gateway.settings import GatewaySettings
from qlambda.gateway.streams import JobStreams, event_stream, format_event
from qlambda.platform import JobInfo, Platform

bearer = HTTPBearer(auto_error=False, description="an API token from `qlambda users create`")
MAX_WAIT_SECONDS = 600.0
BODY_OVERHEAD = 64 * 1024  # JSON around a base64 upload
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    header = None if credentials is None else f"Bearer {credentials.credentials}"
    found = request.app.state.authenticator.user(header)
    if isinstance(found, str):
        raise ApiError(401, found)
    return found


CurrentUser = Annotated[User, Depends(current_user)]


def job_out(info: JobInfo) -> dict[str, Any]:
    row = dict(vars(info))  # flat scalars: no need for asdict's deep copy
    row["status"] = info.status.value
    return row


def create_app(platform: Platform, settings: GatewaySettings | None = None) -> FastAPI:
    """The ASGI application over a started platform (the caller owns the platform)."""
    settings = settings or GatewaySettings()
    authenticator = Authenticator(platform.store)
    # Jobs beyond a user's running limit wait queued (not refused): others' jobs go first.
    platform.limit_running_per_owner(settings.max_running_jobs)
    catalog = Catalog(platform)
    allowed_query: dict[int, set[str]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        streams = JobStreams(asyncio.get_running_loop())
        app.state.streams = streams
        platform.add_listener(streams.on_transition)
        try:
            yield
        finally:
            platform.remove_listener(streams.on_transition)

    async def reject_unknown_query(request: Request) -> None:
        route = request.scope.get("route")
        if route is None or not request.query_params:
            return
        names = allowed_query.get(id(route))
        if names is None:
            names = allowed_query[id(route)] = _query_names(route.dependant)
        unknown = sorted(set(request.query_params) - names)
        if unknown:
            listed = ", ".join(sorted(names)) or "none"
            raise ApiError(
                422, f"unknown query parameter(s) {', '.join(unknown)}; accepted: {listed}"
            )

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
    app.state.authenticator = authenticator
    app.state.catalog = catalog
    app.state.settings = settings

    def own_job(user: User, job_id: str) -> JobInfo:
        try:
            info = platform.info(job_id)
        except KeyError:
            info = None
        if info is None or (info.owner != user.name and not user.is_admin):
            raise ApiError(404, f"no job with id {job_id!r} among yours")
        return info

    def registered(user: User, name: str) -> Registered:
        entry = catalog.get(user.name, name)
        if entry is None:
            yours = ", ".join(r.payload.name for r in catalog.list(user.name)) or "none yet"
            raise ApiError(
                404,
                f"no function named {name!r} is registered for you; "
                f"yours: {yours} (POST /functions registers one)",
            )
        return entry

    # ------------------------------------------------------------- functions
    @app.post("/functions", status_code=201, response_model=FunctionOut, tags=["functions"])
    def register_function(body: FunctionRegistration, user: CurrentUser) -> dict[str, Any]:
        """Register a source file, a zipped folder (with an entry point) or a pickled
        callable under a name; a newer registration under the same name replaces it."""
        return register(catalog, platform, settings, body, user.name).describe()

    @app.get("/functions", response_model=list[FunctionOut], tags=["functions"])
    def list_functions(user: CurrentUser) -> list[dict[str, Any]]:
        return [entry.describe() for entry in catalog.list(None if user.is_admin else user.name)]

    @app.get("/functions/{name}", response_model=FunctionOut, tags=["functions"])
    def get_function(name: str, user: CurrentUser) -> dict[str, Any]:
        return registered(user, name).describe()

    # ------------------------------------------------------------------ jobs
    @app.post("/jobs", status_code=201, response_model=JobOut, tags=["jobs"])
    async def submit(body: JobRequest, user: CurrentUser) -> JSONResponse:
        """Run a registered function; answered once the job is stored."""
        entry = registered(user, body.function)
        if entry.parameters is not None:
            problem = parameters.mismatch(entry.payload.name, entry.parameters, body.arguments)
            if problem is not None:
                raise ApiError(422, problem)
        if settings.max_active_jobs is not None:
            check_active_limit(platform, settings.max_active_jobs, user.name)
        try:
            job_id, stored = platform.submit_payload(
                entry.payload,
                body.arguments,
                limits=entry.limits,
                priority=body.priority,
                owner=user.name,
            )
        except (TypeError, ValueError) as exc:
            raise ApiError(422, str(exc)) from None
        await asyncio.wrap_future(stored)
        return JSONResponse(job_out(platform.info(job_id)), status_code=201)

    @app.post("/circuits", status_code=201, response_model=JobOut, tags=["jobs"])
    async def run_circuits(body: CircuitRun, user: CurrentUser) -> JSONResponse:
        """Run OpenQASM programs as a job of the built-in function ``circuits``: its result
        is, per circuit, the counts of each register (sampler) or ``{ev, std}`` (estimator).
        Programs are parsed and checked against the backends before the job is stored."""
        from qlambda.apps.circuits import CIRCUITS, CircuitRunError, check_circuit_run

        widths = {
            config.name: int(config.num_qubits or 0) for config in platform.dispatcher.configs()
        }
        arguments = body.model_dump(exclude={"priority"})
        try:
            # parsing a program takes milliseconds: off the event loop
            await asyncio.to_thread(
                check_circuit_run,
                body.primitive,
                body.circuits,
                body.observables,
                body.backend,
                body.options,
                widths,
            )
        except CircuitRunError as exc:
            raise ApiError(422, str(exc)) from None
        if settings.max_active_jobs is not None:
            check_active_limit(platform, settings.max_active_jobs, user.name)
        function = CIRCUITS
        limits = {"cpus": 1, "timeout_s": function.timeout_s, "memory_mb": function.memory_mb}
        job_id, stored = platform.submit_payload(
            function.payload(), arguments, limits=limits, priority=body.priority, owner=user.name
        )
        await asyncio.wrap_future(stored)
        return JSONResponse(job_out(platform.info(job_id)), status_code=201)

    @app.get("/jobs", response_model=list[JobOut], tags=["jobs"])
    def list_jobs(
        user: CurrentUser,
        status: Annotated[list[str] | None, Query(description="repeatable")] = None,
        function: str | None = None,
        owner: Annotated[str | None, Query(description="admins only")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        """The newest jobs first, filtered, a page at a time."""
        try:
            statuses = None if not status else [parse_status(s).value for s in status]
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        if owner is not None and owner != user.name and not user.is_admin:
            raise ApiError(403, "only admins list other users' jobs; omit owner for yours")
        if not user.is_admin:
            owner = user.name
        infos = platform.list_jobs(statuses, limit, owner=owner, function=function, offset=offset)
        return [job_out(info) for info in infos]

    @app.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
    def job_status(job_id: str, user: CurrentUser) -> dict[str, Any]:
        return job_out(own_job(user, job_id))

    @app.get(
        "/jobs/{job_id}/result",
        response_model=ResultOut,
        tags=["jobs"],
        responses={410: {"model": Problem, "description": "deleted by the retention policy"}},
    )
    def job_result(
        job_id: str,
        user: CurrentUser,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds")] = 0,
    ) -> dict[str, Any]:
        """The return value (as JSON when it is, and cloudpickled), or why there is none."""
        info = own_job(user, job_id)
        if not info.status.is_final and wait > 0:
            platform.wait(job_id, min(wait, settings.max_wait_seconds))
            info = own_job(user, job_id)
        if not info.status.is_final:
            raise ApiError(
                409,
                f"job {job_id} has not ended (it is {info.status.value}); wait with "
                f"?wait=SECONDS or on /jobs/{job_id}/stream",
            )
        row = platform.result_row(job_id)
        answer: dict[str, Any] = {
            "id": job_id,
            "status": row["status"],
            "reason": row["reason"],
            "traceback": row["traceback"],
        }
        if row["status"] == JobStatus.DONE.value:
            try:
                blob = platform.result_bytes(row)
            except ResultDeletedError as exc:
                raise ApiError(410, str(exc)) from None
            answer["pickle"] = base64.b64encode(blob).decode() if blob is not None else None
            value = None if blob is None else cloudpickle.loads(blob)
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                answer["is_json"] = False
            else:
                answer["value"], answer["is_json"] = value, True
        return answer

    @app.get("/jobs/{job_id}/logs", response_model=LogsOut, tags=["jobs"])
    def job_logs(
        job_id: str, user: CurrentUser, offset: Annotated[int, Query(ge=0)] = 0
    ) -> dict[str, Any]:
        """What the function printed (stdout and stderr), from character ``offset`` on."""
        own_job(user, job_id)
        text = platform.logs(job_id)
        return {"id": job_id, "logs": text[offset:], "offset": len(text)}

    @app.get("/jobs/{job_id}/events", response_model=list[EventOut], tags=["jobs"])
    def job_events(job_id: str, user: CurrentUser) -> list[dict[str, Any]]:
        own_job(user, job_id)
        return [
            {"job_id": e.job_id, "ts": e.ts, "kind": e.kind.value, "data": e.data}
            for e in platform.events(job_id)
        ]

    @app.post("/jobs/{job_id}/cancel", response_model=CancelOut, tags=["jobs"])
    def cancel(job_id: str, user: CurrentUser) -> dict[str, Any]:
        own_job(user, job_id)
        canceled = platform.cancel(job_id)
        return {"id": job_id, "canceled": canceled, "status": platform.info(job_id).status.value}

    @app.get(
        "/jobs/{job_id}/stream",
        tags=["jobs"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def job_stream(job_id: str, user: CurrentUser, request: Request) -> StreamingResponse:
        """Server-Sent Events: the job's status now, each transition, then ``end``."""
        streams: JobStreams = request.app.state.streams
        subscription = streams.subscribe(job_id=job_id)
        try:
            info = own_job(user, job_id)
        except ApiError:
            streams.unsubscribe(subscription)
            raise
        first = [format_event("status", job_out(info))]
        if info.status.is_final:
            first.append(format_event("end", job_out(info)))
        return _sse(
            event_stream(
                streams,
                subscription,
                settings.heartbeat_seconds,
                first,
                lambda t: t["event"] == "ended" or JobStatus(t["status"]).is_final,
            )
        )

    @app.get(
        "/stream",
        tags=["jobs"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def user_stream(user: CurrentUser, request: Request) -> StreamingResponse:
        """Server-Sent Events: every transition of your jobs (an admin's: everyone's)."""
        streams: JobStreams = request.app.state.streams
        subscription = streams.subscribe(owner=user.name, everyone=user.is_admin)
        hello = format_event("subscribed", {"user": user.name, "everyone": user.is_admin})
        return _sse(
            event_stream(streams, subscription, settings.heartbeat_seconds, [hello], _never)
        )

    # -------------------------------------------------------------- platform
    @app.get("/backends", tags=["platform"])
    def backends(user: CurrentUser) -> list[dict[str, Any]]:
        """The quantum backends with their queue lengths and utilization."""
        return platform.dispatcher.stats()

    # ----------------------------------------------------------------- users
    @app.get("/me", response_model=UserOut, tags=["users"])
    def me(user: CurrentUser) -> dict[str, Any]:
        return _user_row(platform, user.name)

    @app.get("/users", response_model=list[UserOut], tags=["users"])
    def users(user: CurrentUser) -> list[dict[str, Any]]:
        if not user.is_admin:
            return [_user_row(platform, user.name)]
        return platform.store.list_users()

    @app.post("/users", status_code=201, response_model=NewUserOut, tags=["users"])
    def create_user(body: UserRequest, user: CurrentUser) -> dict[str, Any]:
        """Admins only. The answer holds the new user's token: it is shown once."""
        if not user.is_admin:
            raise ApiError(403, "only admins create users")
        try:
            token = platform.store.create_user(body.name, body.role)
        except ValueError as exc:
            raise ApiError(409 if "exists" in str(exc) else 422, str(exc)) from None
        return {**_user_row(platform, body.name), "token": token}

    return app


def register(
    catalog: Catalog,
    platform: Platform,
    settings: GatewaySettings,
    body: FunctionRegistration,
    owner: str,
) -> Registered:
    """Check and store one function for ``owner`` (the API and the start-up file use it)."""
    try:
        uploads.check_dependencies(body.dependencies)
        prepared = uploads.prepare(body, owner, platform.data_dir, settings)
    except uploads.UploadError as exc:
        raise ApiError(exc.status, str(exc)) from None
    if body.cpus > platform.engine.cpus:
        raise ApiError(
            422, f"cpus={body.cpus} is more than the workers have ({platform.engine.cpus})"
        )
    limits = {"cpus": body.cpus, "timeout_s": body.timeout, "memory_mb": body.memory}
    entry = Registered(owner, prepared.payload, limits, prepared.parameters, body.dependencies)
    catalog.add(entry)
    return entry


def check_active_limit(platform: Platform, limit: int, owner: str) -> None:
    active, _ = platform.owner_counts(owner)
    if active >= limit:
        raise ApiError(
            429,
            f"you have {active} active (queued or running) jobs, the limit is {limit}; "
            "submit again once some have ended",
        )


def _user_row(platform: Platform, name: str) -> dict[str, Any]:
    row = platform.store.get_user(name)
    if row is None:
        raise ApiError(404, f"no user {name!r}")
    return row


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {parameter.alias for parameter in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _never(_: Any) -> bool:
    return False


def _sse(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
