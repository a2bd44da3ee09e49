"""The Ray remote functions qlambda runs: batches of small tasks, and isolated tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray

from qlambda.engine.local.engine import remote_error
from qlambda.engine.remote.server import ChannelAddress
from qlambda.engine.remote.task import Call, run_batch, run_isolated


@ray.remote
def ray_run_batch(calls: list[Call]) -> tuple[list[tuple[bool, Any]], float]:
    return run_batch(calls)


@ray.remote
def ray_run_isolated(
    address: ChannelAddress,
    task_id: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: dict[str, Any],
) -> tuple[bool, Any]:
    return run_isolated(address, task_id, fn, args, kwargs, options, local_map=ray_map)


def ray_map(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """A job's fan-out as nested Ray tasks: ``ray.get`` lends the job's cpus meanwhile."""
    refs = [ray_run_batch.remote([(fn, (item,), {})]) for item in items]
    values = []
    for results, _ in ray.get(refs):
        ok, value = results[0]
        if not ok:
            for ref in refs:
                ray.cancel(ref)
            raise remote_error(value)
        values.append(value)
    return values
