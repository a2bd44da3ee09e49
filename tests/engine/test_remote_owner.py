"""A task on another machine (Ray, Dask) stops when the control plane that owns it is gone,
instead of finishing behind its back (its side effects would then happen twice: once
there, once when another control plane runs the job again)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time

from qlambda.engine.remote.server import ChannelServer
from qlambda.engine.remote.task import OWNER_GONE_EXIT

WORKER = textwrap.dedent(
    """
    import pathlib, pickle, sys, time
    from qlambda.engine.remote.task import run_isolated

    address, folder = pickle.loads(bytes.fromhex(sys.argv[1])), pathlib.Path(sys.argv[2])

    def job():
        (folder / "started").write_text("yes")
        time.sleep(30)
        (folder / "finished").write_text("side effect")
        return "done"

    print(run_isolated(address, 7, job, (), {}, {}))
    """
)


OWNER = textwrap.dedent(
    """
    import sys, time
    from qlambda.engine.remote.server import ChannelServer

    server = ChannelServer(lambda task_id, message, send: print(type(message).__name__, flush=True))
    print(__import__("pickle").dumps(server.address).hex(), flush=True)
    time.sleep(600)
    """
)


def test_a_remote_task_stops_when_its_owner_goes(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        argument = owner.stdout.readline().strip()
        worker = subprocess.Popen([sys.executable, "-c", WORKER, argument, str(tmp_path)])
        assert owner.stdout.readline().strip() == "Hello"
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        owner.kill()  # the control plane dies
        owner.wait()
        assert worker.wait(20) == OWNER_GONE_EXIT
        assert not (tmp_path / "finished").exists()
    finally:
        for process in (owner, worker):
            if process is not None and process.poll() is None:
                process.kill()


def test_a_remote_task_whose_owner_stays_finishes(tmp_path):
    server = ChannelServer(lambda task_id, message, send: None)
    try:
        script = WORKER.replace("time.sleep(30)", "time.sleep(1)")
        argument = pickle.dumps(server.address).hex()
        finished = subprocess.run(
            [sys.executable, "-c", script, argument, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert finished.returncode == 0, finished.stderr
        assert "(True, 'done')" in finished.stdout
        assert (tmp_path / "finished").read_text() == "side effect"
    finally:
        server.close()
