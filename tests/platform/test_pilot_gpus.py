"""GPUs in pilot descriptions and task resources: placed by engines that can, refused
with the reason by those that run on this machine when it has none."""

from __future__ import annotations

import os
import time

import pytest

from qlambda.core.errors import ConfigurationError
from qlambda.engine.dask.cluster import LoopbackDaskCluster
from qlambda.engine.gpus import machine_gpus
from qlambda.pilot import PilotDescription, PilotManager

GPUS_HERE, HOW = machine_gpus()
needs_no_gpu = pytest.mark.skipif(
    GPUS_HERE > 0, reason=f"this machine has a GPU ({HOW}): the refusal cannot be shown"
)


def worker_name():
    from distributed import get_worker

    return get_worker().name


def visible_devices():
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@needs_no_gpu
def test_the_local_engine_refuses_gpus_saying_the_machine_has_none():
    manager = PilotManager()
    with pytest.raises(ConfigurationError, match=r"gpus=1: the local engine .* has no GPU"):
        manager.create_pilot(PilotDescription(engine="local", gpus=1))
    # a private Ray or Dask instance runs here too
    with pytest.raises(ConfigurationError, match=r"gpus=2: the ray engine .* has no GPU"):
        manager.create_pilot(PilotDescription(engine="ray", cores=1, gpus=2))
    pilot = manager.create_pilot(PilotDescription(engine="local", cores=1))
    try:
        with pytest.raises(ConfigurationError, match=r"gpus=1: .*nvidia-smi lists none"):
            pilot.submit(worker_name, resources={"gpus": 1})
    finally:
        pilot.cancel()


@pytest.mark.skipif(GPUS_HERE == 0, reason=f"no GPU here: {HOW}")
def test_a_ray_pilot_gives_a_gpu_task_its_device():
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="ray", cores=1, gpus=1))
        assert pilot.submit(visible_devices, resources={"gpus": 1}).result(120) not in (None, "")


@pytest.mark.cluster
def test_a_dask_pilot_places_gpu_tasks_on_the_worker_that_declares_gpus():
    cluster = LoopbackDaskCluster()
    try:
        cluster.scheduler()
        cluster.add_worker("cpu-only")
        cluster.add_worker("with-gpu", resources={"GPU": 1})
        with PilotManager() as manager:
            pilot = manager.create_pilot(PilotDescription(engine="dask", address=cluster.address))
            deadline = time.monotonic() + 90
            while len(pilot.engine.workers()) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            names = [
                f.result(120)
                for f in [pilot.submit(worker_name, resources={"gpus": 1}) for _ in range(6)]
            ]
            assert set(names) == {"with-gpu"}
            with pytest.raises(ValueError, match=r"GPU"):
                pilot.submit(worker_name, resources={"gpus": 2})
    finally:
        cluster.shutdown()
