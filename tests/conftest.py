"""Shared fixtures. Processes started here are the tests' own and are stopped by them."""

from __future__ import annotations

import itertools
import os
import sys

import pytest

# Workers inherit this; BLAS threads would oversubscribe the 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _load_script(name: str):
    """One of the project's scripts/ (postgres_server, slurm) as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"qlambda_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real single-node SLURM (munged, slurmctld, slurmd from scripts/slurm.py) for the
    session; the batch commands of this process and its children reach it through
    ``SLURM_CONF``. Stopped, its jobs cancelled, by the pids it started."""
    cluster = _load_script("slurm").start()
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.config
    yield cluster
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback for the whole session, stopped by its pid."""
    server = _load_script("postgres_server").start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server for this test alone, which it may kill -9 and restart
    (``.kill()``, ``.restart()``: same port, same data)."""
    server = _load_script("postgres_server").start()
    yield server
    server.stop()


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database of each kind the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{os.getpid()}_{next(_databases)}")


# --- jobs stored directly, with their files, for the retention tests -----------------------

RETENTION_NOW = 1_800_000_000.0
_serial = itertools.count(1)


def _stored_job(store, data_dir, status, age, *, flat=False, result=b"r" * 10, big=False, now=None):
    """A job that ended ``age`` seconds before ``now`` (unfinished ones were created then),
    with two events, a quantum task, a checkpoint, a log and a working folder."""
    from qlambda.core.events import Event, EventKind
    from qlambda.platform import layout

    ended = (RETENTION_NOW if now is None else now) - age
    job_id = f"{int(ended * 1000):011x}{next(_serial):06x}"
    if flat:
        folder = layout.flat_job_dir(data_dir, job_id)
        workdir, log = folder / layout.FLAT_WORK, folder / layout.FLAT_LOG
    else:
        workdir, log = layout.job_dir(data_dir, job_id), layout.job_log(data_dir, job_id)
    workdir.mkdir(parents=True)
    (workdir / "out.txt").write_text("data")
    log.write_text("printed\n")
    row = {
        "id": job_id,
        "function_id": "f1",
        "function_name": "f",
        "owner": "alice",
        "priority": 1.0,
        "status": status,
        "arguments": b"args",
        "attempts": 1,
        "created_at": ended - 1,
        "ended_at": None if status in ("QUEUED", "RUNNING") else ended,
        "log_path": str(log),
        "result": None if big else result,
    }
    if big:
        path = layout.result_dir(data_dir, job_id) / f"{job_id}.pickle"
        path.write_bytes(b"R" * 2000)
        row["result_path"] = str(path)
    events = [Event(job_id, ended - 1, EventKind.SUBMITTED), Event(job_id, ended, EventKind.DONE)]
    store.insert_job(row, *events).result()
    store.add_quantum_task(
        {
            "job_id": job_id,
            "seq": 1,
            "backend": "aer",
            "primitive": "sampler",
            "num_qubits": 2,
            "queued_at": ended - 1,
            "outcome": "done",
        }
    )
    store.save_checkpoint(job_id, ended, b"state").result()
    return job_id


@pytest.fixture
def stored_job():
    """``stored_job(store, data_dir, status, age_seconds, flat=, big=, now=)``: a job row
    (with events, a quantum task, a checkpoint, a log and a working folder) that ended
    ``age`` seconds before ``now`` (unfinished ones were created then); returns its id.
    ``store`` needs a function ``f1``; ``flat``: the folder layout of earlier versions."""
    return _stored_job
