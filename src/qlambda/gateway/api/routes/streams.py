"""Server-Sent Events: one job's transitions, or all of a user's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qlambda.core.states import JobStatus
from qlambda.gateway.api.deps import CurrentUser, PlatformDep, SettingsDep, StreamsDep, own_job
from qlambda.gateway.api.routes.jobs import job_out
from qlambda.gateway.errors import ApiError
from qlambda.gateway.streams import event_stream, format_event

router = APIRouter(tags=["jobs"])
SSE = {
    "response_class": StreamingResponse,
    "responses": {200: {"content": {"text/event-stream": {}}}},
}


@router.get("/jobs/{job_id}/stream", **SSE)
async def job_stream(
    job_id: str,
    user: CurrentUser,
    platform: PlatformDep,
    settings: SettingsDep,
    streams: StreamsDep,
) -> StreamingResponse:
    """Server-Sent Events: the job's status now, each transition, then ``end``."""
    subscription = streams.subscribe(job_id=job_id)
    try:
        info = own_job(platform, user, job_id)
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


@router.get("/stream", **SSE)
async def user_stream(
    user: CurrentUser, settings: SettingsDep, streams: StreamsDep
) -> StreamingResponse:
    """Server-Sent Events: every transition of your jobs (an admin's: everyone's)."""
    subscription = streams.subscribe(owner=user.name, everyone=user.is_admin)
    hello = format_event("subscribed", {"user": user.name, "everyone": user.is_admin})
    return _sse(event_stream(streams, subscription, settings.heartbeat_seconds, [hello], _never))


def _never(_: Any) -> bool:
    return False


def _sse(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
