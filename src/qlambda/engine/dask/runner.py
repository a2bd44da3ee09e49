"""The functions Dask workers run for qlambda: batches, isolated tasks, nested fan-out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qlambda.engine.local.engine import remote_error
from qlambda.engine.remote.server import ChannelAddress
from qlambda.engine.remote.task import Call, run_batch, run_isolated, warm_up


def dask_run_batch(
    calls: list[Call], preload: tuple[str, ...]
) -> tuple[list[tuple[bool, Any]], float]:
    warm_up(preload)
    return run_batch(calls)


def dask_run_isolated(
    address: ChannelAddress,
    task_id: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    preload: tuple[str, ...],
) -> tuple[bool, Any]:
    from distributed import get_worker

    warm_up(preload)
    options = {**options, "node": get_worker().address}
    return run_isolated(address, task_id, fn, args, kwargs, options, local_map=dask_map)


def dask_map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """A job's fan-out as tasks of the same cluster; the job's thread leaves the
    worker's pool while it waits (``worker_client`` secedes), so the fan-out can run."""
    from distributed import worker_client

    with worker_client() as client:
        futures = [
            client.submit(dask_run_batch, [(fn, (item,), {})], (), pure=False) for item in items
        ]
        values = []
        for results, _ in client.gather(futures):
            ok, value = results[0]
            if not ok:
                client.cancel(futures)
                raise remote_error(value)
            values.append(value)
        return values
