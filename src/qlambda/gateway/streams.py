"""Job transitions pushed to HTTP clients as Server-Sent Events.

The platform calls ``JobStreams.on_transition`` from its own threads at the
moment a job is stored, starts or ends; the hub hands the news to each
subscriber's asyncio queue on the event loop. Nobody polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

Transition = dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """Transitions of one job (``job_id``), of one owner, or of everyone (admin)."""

    queue: asyncio.Queue[Transition]
    job_id: str | None = None
    owner: str | None = None
    everyone: bool = False
    dropped: int = field(default=0)

    def wants(self, transition: Transition) -> bool:
        if self.job_id is not None:
            return bool(transition["id"] == self.job_id)
        return self.everyone or transition["owner"] == self.owner


class JobStreams:
    QUEUE_LIMIT = 10_000  # a subscriber that stops reading loses news, not the server

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self, **which: Any) -> Subscription:
        subscription = Subscription(asyncio.Queue(self.QUEUE_LIMIT), **which)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def on_transition(self, job_id: str, owner: str, what: str, status: str) -> None:
        """The platform's listener: runs on its threads, only schedules delivery."""
        if not self._subscriptions:
            return
        transition = {"id": job_id, "owner": owner, "event": what, "status": status}
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping
            self._loop.call_soon_threadsafe(self._deliver, transition)

    def _deliver(self, transition: Transition) -> None:
        with self._lock:
            targets = [s for s in self._subscriptions if s.wants(transition)]
        for subscription in targets:
            try:
                subscription.queue.put_nowait(transition)
            except asyncio.QueueFull:
                subscription.dropped += 1

    async def wait_for_end(self, job_id: str, current: Callable[[], Any], timeout: float) -> bool:
        """Await the job's end on the event loop, at most ``timeout`` seconds; True if it
        ended. ``current()`` gives the job's info (read after subscribing: no end missed)."""
        subscription = self.subscribe(job_id=job_id)
        try:
            if current().status.is_final:
                return True
            async with asyncio.timeout(timeout):
                while True:
                    transition = await subscription.queue.get()
                    if transition["event"] == "ended":
                        return True
        except TimeoutError:
            return False
        finally:
            self.unsubscribe(subscription)


def format_event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def event_stream(
    streams: JobStreams,
    subscription: Subscription,
    heartbeat: float,
    first: list[bytes],
    ends: Callable[[Transition], bool],
) -> AsyncIterator[bytes]:
    """Yield ``first``, then each transition, until ``ends`` says so or the client leaves."""
    try:
        for chunk in first:
            yield chunk
            if chunk.startswith(b"event: end"):
                return
        while True:
            try:
                transition = await asyncio.wait_for(subscription.queue.get(), heartbeat)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield format_event("transition", transition)
            if ends(transition):
                yield format_event("end", transition)
                return
    finally:
        streams.unsubscribe(subscription)
