"""The same pilots and jobs on Ray and on Dask: private local instances here.

README: "Scaling out: Ray and Dask". Run: python examples/scale_out.py
With a cluster, give its address: PilotDescription(engine="ray", address="auto"),
qlambda.Client(engine="dask", engine_address="tcp://scheduler:8786").
"""

import os

import qlambda
from qlambda.pilot import PilotDescription, PilotManager


def where(x: int) -> tuple[int, int]:
    """A task: its square, and the process that ran it."""
    return x * x, os.getpid()


def job(ctx, n: int) -> int:
    return sum(ctx.map(lambda x: x * x, range(n)))  # fan-out inside a job, on the engine


if __name__ == "__main__":
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="ray", cores=2))  # private Ray
        results = list(pilot.map(where, range(20)))
        print(
            "ray pilot:",
            [square for square, _ in results][:5],
            "...",
            len({pid for _, pid in results}),
            "worker process(es)",
        )
    client = qlambda.Client(engine="dask", workers=2)  # jobs on a private Dask cluster
    print("dask job:", client.run(job, n=10).result(timeout=300))
    client.close()
