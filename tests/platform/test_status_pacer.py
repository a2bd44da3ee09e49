"""A function's sub-status is paced: the latest always arrives, the flood does not."""

from __future__ import annotations

import time

from qlambda.core.events import EventKind
from qlambda.platform.status_pacer import StatusPacer


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_first_goes_at_once_then_the_latest_after_the_interval() -> None:
    sent: list[str] = []
    pacer = StatusPacer(sent.append, interval=0.2)
    for step in range(50):
        pacer.set(f"step {step}")
    assert sent == ["step 0"]  # the rest are held: only the newest of them will go
    _wait_for(lambda: len(sent) == 2)
    assert sent == ["step 0", "step 49"]


def test_close_sends_the_held_status_and_drops_later_ones() -> None:
    sent: list[str] = []
    pacer = StatusPacer(sent.append, interval=60.0)
    pacer.set("first")
    pacer.set("held")
    pacer.close()
    pacer.set("after the end")
    assert sent == ["first", "held"]


def chatty_status(ctx, steps):
    for step in range(steps):
        ctx.status(f"step {step}")
    ctx.status("last words")
    return steps


def test_a_job_that_reports_every_step_stores_few_statuses_ending_with_its_last(client):
    job = client.run(chatty_status, steps=500)
    assert job.result(60) == 500
    statuses = [e.data["status"] for e in job.events() if e.kind is EventKind.SUB_STATUS]
    assert statuses[0] == "step 0"
    assert statuses[-1] == "last words"
    assert len(statuses) < 100
