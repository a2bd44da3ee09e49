"""The dashboard's live stream: the viewer's job transitions (an admin's: everyone's, or
one job's), as Server-Sent Events, from the API's ``JobStreams`` hub.

Each transition carries what a jobs page row shows (function, owner, priority,
submission time, status and sub-status), read when it is sent, so the page builds or
updates the row without asking again. The stream holds one of the user's wait slots,
as the API's streams do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from qlambda.dashboard.routes.jobs import visible_job
from qlambda.dashboard.web import ViewerDep, platform_of
from qlambda.gateway.api.routes.streams import EventStreamResponse
from qlambda.gateway.settings import GatewaySettings
from qlambda.gateway.streams import JobStreams, Subscription, Transition, format_event
from qlambda.gateway.waits import WaitSlots
from qlambda.platform import Platform

router = APIRouter()


@router.get("/live")
async def live(request: Request, who: ViewerDep, job: str | None = None) -> StreamingResponse:
    platform = platform_of(request)
    streams: JobStreams = request.app.state.streams
    settings: GatewaySettings = request.app.state.settings
    wait_slots: WaitSlots = request.app.state.wait_slots
    if job is not None:
        await run_in_threadpool(visible_job, platform, who, job)
    wait_slots.take(who.name)
    if job is not None:
        subscription = streams.subscribe(job_id=job)
    else:
        subscription = streams.subscribe(owner=who.name, everyone=who.is_admin)

    def close() -> None:
        streams.unsubscribe(subscription)
        wait_slots.give_back(who.name)

    hello = {"user": who.name, "everyone": who.is_admin, "job": job}
    return EventStreamResponse(
        _transitions(platform, subscription, settings.heartbeat_seconds, hello), close
    )


async def _transitions(
    platform: Platform, subscription: Subscription, heartbeat: float, hello: dict[str, Any]
) -> AsyncIterator[bytes]:
    yield format_event("subscribed", hello)
    while True:
        try:
            transition = await asyncio.wait_for(subscription.queue.get(), heartbeat)
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        yield format_event("job", await run_in_threadpool(_row, platform, transition))


def _row(platform: Platform, transition: Transition) -> dict[str, Any]:
    """The transition with the job as a row shows it now (the news may be older)."""
    try:
        info = platform.info(transition["id"])
    except KeyError:  # deleted meanwhile
        return transition
    return {
        **transition,
        "status": info.status.value,
        "sub_status": info.sub_status,
        "function": info.function,
        "priority": info.priority,
        "created_at": info.created_at,
        "status_text": info.status_text,
    }
