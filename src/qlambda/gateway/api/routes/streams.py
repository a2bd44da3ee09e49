"""Server-Sent Events: one job's transitions, or all of a user's.

Each open stream holds one of the user's wait slots (``WaitSlots``) until it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from qlambda.core.states import JobStatus
from qlambda.gateway.api.deps import (
    CurrentUser,
    PlatformDep,
    SettingsDep,
    StreamsDep,
    WaitSlotsDep,
    own_job,
)
from qlambda.gateway.streams import event_stream, format_event
from qlambda.gateway.submissions import job_out

router = APIRouter(tags=["jobs"])
SSE: dict[str, Any] = {
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
    wait_slots: WaitSlotsDep,
) -> StreamingResponse:
    """Server-Sent Events: the job's status now, each transition, then ``end``."""
    wait_slots.take(user.name)
    subscription = streams.subscribe(job_id=job_id)

    def close() -> None:
        streams.unsubscribe(subscription)
        wait_slots.give_back(user.name)

    try:
        info = own_job(platform, user, job_id)
    except BaseException:
        close()
        raise
    first = [format_event("status", job_out(info))]
    if info.status.is_final:
        first.append(format_event("end", job_out(info)))
    chunks = event_stream(
        streams,
        subscription,
        settings.heartbeat_seconds,
        first,
        lambda t: t["event"] == "ended" or JobStatus(t["status"]).is_final,
    )
    return EventStreamResponse(chunks, close)


@router.get("/stream", **SSE)
async def user_stream(
    user: CurrentUser, settings: SettingsDep, streams: StreamsDep, wait_slots: WaitSlotsDep
) -> StreamingResponse:
    """Server-Sent Events: every transition of your jobs (an admin's: everyone's)."""
    wait_slots.take(user.name)
    subscription = streams.subscribe(owner=user.name, everyone=user.is_admin)

    def close() -> None:
        streams.unsubscribe(subscription)
        wait_slots.give_back(user.name)

    hello = format_event("subscribed", {"user": user.name, "everyone": user.is_admin})
    chunks = event_stream(streams, subscription, settings.heartbeat_seconds, [hello], _never)
    return EventStreamResponse(chunks, close)


class EventStreamResponse(StreamingResponse):
    """An SSE response that runs ``on_close`` once it ends, however it ends."""

    def __init__(self, chunks: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(
            chunks,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def _never(_: Any) -> bool:
    return False
