"""``/jobs``: submit a registered function, list, inspect, wait for, cancel jobs."""

from __future__ import annotations

import base64
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qlambda.core.errors import ResultDeletedError
from qlambda.core.states import JobStatus, parse_status
from qlambda.gateway import parameters
from qlambda.gateway.api.deps import (
    CatalogDep,
    CurrentUser,
    IdempotencyKey,
    PlatformDep,
    SettingsDep,
    StreamsDep,
    SubmissionsDep,
    WaitSlotsDep,
    own_job,
    registered,
)
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import (
    CancelOut,
    EventOut,
    JobOut,
    JobRequest,
    JobUsageOut,
    LogsOut,
    Problem,
    ResultOut,
)
from qlambda.gateway.settings import GatewaySettings
from qlambda.gateway.streams import JobStreams
from qlambda.gateway.submissions import job_out
from qlambda.gateway.waits import WaitSlots
from qlambda.platform import Platform
from qlambda.platform.output_caps import megabytes

MAX_WAIT_SECONDS = 600.0
MAX_OFFSET = 2**31  # past any store's integer range, a page offset is refused, not a fault

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=201, response_model=JobOut, responses={200: {"model": JobOut}})
async def submit(
    body: JobRequest,
    user: CurrentUser,
    catalog: CatalogDep,
    submissions: SubmissionsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Run a registered function; answered 201 once the job is stored. A retry with the
    same ``Idempotency-Key`` is answered 200 with the job already stored."""
    entry = registered(catalog, user, body.function)
    if entry.parameters is not None:
        problem = parameters.mismatch(entry.payload.name, entry.parameters, body.arguments)
        if problem is not None:
            raise ApiError(422, problem)
    return await submissions.submit(
        user,
        "/jobs",
        body.model_dump(),
        idempotency_key,
        entry.payload,
        body.arguments,
        entry.limits,
        body.priority,
    )


@router.get("", response_model=list[JobOut])
def list_jobs(
    user: CurrentUser,
    platform: PlatformDep,
    status: Annotated[list[str] | None, Query(description="repeatable")] = None,
    function: str | None = None,
    owner: Annotated[str | None, Query(description="admins only")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
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


@router.get("/{job_id}", response_model=JobOut)
async def job_status(
    job_id: str,
    user: CurrentUser,
    platform: PlatformDep,
    settings: SettingsDep,
    streams: StreamsDep,
    wait_slots: WaitSlotsDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds")] = 0,
) -> dict[str, Any]:
    """The job's status. ``wait`` holds the request (no thread) until the job ends, at
    most that long: the answer comes the moment it ends, or after ``wait`` seconds."""
    info = await run_in_threadpool(own_job, platform, user, job_id)
    if not info.status.is_final and wait > 0:
        await _wait_for_end(platform, settings, streams, wait_slots, user.name, job_id, wait)
        info = await run_in_threadpool(own_job, platform, user, job_id)
    return job_out(info)


async def _wait_for_end(
    platform: Platform,
    settings: GatewaySettings,
    streams: JobStreams,
    wait_slots: WaitSlots,
    user: str,
    job_id: str,
    wait: float,
) -> None:
    with wait_slots.slot(user):
        await streams.wait_for_end(
            job_id, lambda: platform.info(job_id), min(wait, settings.max_wait_seconds)
        )


@router.get("/{job_id}/usage", response_model=JobUsageOut)
def job_usage(job_id: str, user: CurrentUser, platform: PlatformDep) -> dict[str, Any]:
    """What the job's quantum tasks used and cost so far, in all and per backend."""
    own_job(platform, user, job_id)
    return platform.job_usage(job_id)


@router.get(
    "/{job_id}/result",
    response_model=ResultOut,
    responses={410: {"model": Problem, "description": "deleted by the retention policy"}},
)
async def job_result(
    job_id: str,
    user: CurrentUser,
    platform: PlatformDep,
    settings: SettingsDep,
    streams: StreamsDep,
    wait_slots: WaitSlotsDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds")] = 0,
) -> dict[str, Any]:
    """The return value (as JSON when it is, and cloudpickled), or why there is none.
    ``wait`` holds the request (no thread) until the job ends, at most that long."""
    info = await run_in_threadpool(own_job, platform, user, job_id)
    if not info.status.is_final and wait > 0:
        await _wait_for_end(platform, settings, streams, wait_slots, user.name, job_id, wait)
        info = await run_in_threadpool(own_job, platform, user, job_id)
    if not info.status.is_final:
        raise ApiError(
            409,
            f"job {job_id} has not ended (it is {info.status.value}); wait with "
            f"?wait=SECONDS or on /jobs/{job_id}/stream",
        )
    return await run_in_threadpool(_result_answer, platform, settings, job_id)


def _result_answer(platform: Platform, settings: GatewaySettings, job_id: str) -> dict[str, Any]:
    row = platform.result_row(job_id)
    answer: dict[str, Any] = {
        "id": job_id,
        "status": row["status"],
        "reason": row["reason"],
        "traceback": row["traceback"],
    }
    if row["status"] == JobStatus.DONE.value:
        try:
            _check_result_size(row, settings.max_result_bytes)
            encoded = platform.stored_result(row)
        except ResultDeletedError as exc:
            raise ApiError(410, str(exc)) from None
        if encoded is None:
            answer["value"], answer["is_json"] = None, True
        elif encoded.format == "json":
            answer["value"], answer["is_json"] = encoded.decode(trusted=False), True
        else:  # opaque here: only the owner's client unpickles it
            answer["pickle"], answer["is_json"] = base64.b64encode(encoded.data).decode(), False
    return answer


def _check_result_size(row: dict[str, Any], limit: int) -> None:
    """A stored result past the gateway's cap is refused before it is read."""
    if row.get("output_deleted_at") is not None:
        raise ResultDeletedError(row["id"], row["output_deleted_at"])
    if row.get("result_path"):
        try:
            size = os.stat(row["result_path"]).st_size
        except FileNotFoundError:
            return  # reading it tells whether retention deleted it or it was lost
    else:
        size = len(row["result"] or b"")
    if size > limit:
        raise ApiError(
            422,
            f"the result of job {row['id']} is {megabytes(size)}, more than this server "
            f"sends ({megabytes(limit)}, its max_result_bytes)",
        )


@router.get("/{job_id}/logs", response_model=LogsOut)
def job_logs(
    job_id: str,
    user: CurrentUser,
    platform: PlatformDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """What the function printed (stdout and stderr), from character ``offset`` on; a log
    stops at the platform's ``max_log_bytes`` (``truncated`` says it did)."""
    own_job(platform, user, job_id)
    text, truncated = platform.log_text(job_id)
    return {"id": job_id, "logs": text[offset:], "offset": len(text), "truncated": truncated}


@router.get("/{job_id}/events", response_model=list[EventOut])
def job_events(job_id: str, user: CurrentUser, platform: PlatformDep) -> list[dict[str, Any]]:
    own_job(platform, user, job_id)
    return [
        {"job_id": e.job_id, "ts": e.ts, "kind": e.kind.value, "data": e.data}
        for e in platform.events(job_id)
    ]


@router.post("/{job_id}/cancel", response_model=CancelOut)
def cancel(job_id: str, user: CurrentUser, platform: PlatformDep) -> dict[str, Any]:
    own_job(platform, user, job_id)
    canceled = platform.cancel(job_id)
    return {"id": job_id, "canceled": canceled, "status": platform.info(job_id).status.value}


@router.post("/{job_id}/resubmit", status_code=201, response_model=JobOut)
async def resubmit(
    job_id: str, user: CurrentUser, platform: PlatformDep, submissions: SubmissionsDep
) -> dict[str, Any]:
    """Submit the job again as a new job: the same function, arguments, priority and
    execution options, for the same owner; answered once the new job is stored."""
    await run_in_threadpool(own_job, platform, user, job_id)
    new_id = await submissions.resubmit(user, job_id)
    return job_out(await run_in_threadpool(platform.info, new_id))
