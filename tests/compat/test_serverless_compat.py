"""A Qiskit Serverless function and its notebook run on qlambda with their import lines
changed, embedded and against a real `qlambda serve`; their primitives go through the
platform's queue, and the results agree with Qiskit's own."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.compat.migrate import migrate_tree
from tests.gateway.conftest import ServerProcess, make_users

from qlambda.compat.pilot_quantum import gpus_on_this_machine
from qlambda.core.events import EventKind
from qlambda.core.states import JobStatus
from qlambda.store import Store

PROGRAMS = Path(__file__).parent / "programs" / "serverless"
SHOTS = 2000


def run_notebook(folder: Path, env: dict[str, str]) -> tuple[dict, str]:
    """Run the migrated notebook in a fresh interpreter, as a user would."""
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, **env, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, str(folder / "notebook.py")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), done.stdout


def migrated(tmp_path: Path) -> Path:
    folder = tmp_path / "program"
    changed = migrate_tree(PROGRAMS, folder)
    # only import lines changed: the serverless ones and qiskit_ibm_runtime's
    assert len(changed) == 3, changed
    assert all(line.startswith("from qlambda.") for line in changed), changed
    return folder


def check_against_qiskit(result: dict) -> None:
    """GHZ states sampled by the child tasks and a Bell pair on the backend, against
    the exact distribution (each outcome 1/2; 5 standard deviations)."""
    tolerance = 5 * math.sqrt(SHOTS * 0.25)
    assert [sorted(counts) for counts in result["sampled"]] == [["00", "11"], ["000", "111"]]
    for counts in [*result["sampled"], result["bell_counts"]]:
        assert sum(counts.values()) == SHOTS
        for count in counts.values():
            assert abs(count - SHOTS / 2) < tolerance
    assert sorted(result["bell_counts"]) == ["00", "11"]
    assert result["zz"] == pytest.approx(1.0, abs=1e-9)  # the ideal simulator is exact
    assert result["backend"] == "aer"


def job_id_of(stdout: str) -> str:
    return next(x.split()[1] for x in stdout.splitlines() if x.startswith("submitted "))


@pytest.mark.slow
def test_the_function_and_its_notebook_run_embedded_with_only_imports_changed(tmp_path):
    folder = migrated(tmp_path)
    data_dir = tmp_path / "data"
    result, stdout = run_notebook(folder, {"QLAMBDA_DATA_DIR": str(data_dir)})
    check_against_qiskit(result)
    assert "ended DONE" in stdout
    assert "sampled 2 circuits in parallel" in stdout  # the job's log, through job.logs()
    assert "listed True" in stdout and "by function True" in stdout
    store = Store.open(data_dir)
    try:
        events = store.events(job_id_of(stdout))
    finally:
        store.close()
    kinds = [event.kind for event in events]
    # the estimator and the sampler each ran as a quantum task in the platform's queue
    assert kinds.count(EventKind.QPU_QUEUED) == 2
    assert kinds.count(EventKind.QPU_FINISHED) == 2
    stages = [e.data.get("status") for e in events if e.kind is EventKind.SUB_STATUS]
    assert "MAPPING" in stages and "WAITING_FOR_QPU" in stages


@pytest.mark.slow
def test_the_notebook_runs_against_qlambda_serve(tmp_path):
    folder = migrated(tmp_path)
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    tokens = make_users(data_dir, "alice")
    server = ServerProcess(data_dir, "--workers", "2").start()
    try:
        env = {"GATEWAY_HOST": server.url, "GATEWAY_TOKEN": tokens["alice"]}
        result, stdout = run_notebook(folder, env)
        check_against_qiskit(result)
        assert "ended DONE" in stdout and "sampled 2 circuits in parallel" in stdout
        assert "listed True" in stdout and "by function True" in stdout
        with server.http(tokens["alice"]) as http:
            events = http.get(f"/jobs/{job_id_of(stdout)}/events").json()
        kinds = [event["kind"] for event in events]
        assert kinds.count("QPU_QUEUED") == 2 and kinds.count("QPU_FINISHED") == 2
    finally:
        server.stop()


# ---------------------------------------------------------------- the client's API
FAILING = """
from qlambda.compat.serverless import get_arguments, save_result

arguments = get_arguments()
print("about to fail")
raise ValueError(f"bad input {arguments['x']}")
"""

WAITING = """
import time
from qlambda.compat.serverless import save_result

time.sleep(60)
save_result({"never": True})
"""

ECHO = """
import os
import numpy as np
from qlambda.compat.serverless import get_arguments, save_result

arguments = get_arguments()
save_result({"doubled": np.asarray(arguments["values"]) * 2, "mode": os.environ["MODE"]})
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from qlambda.compat.serverless import LocalClient

    folder = tmp_path_factory.mktemp("functions")
    for name, text in {"failing.py": FAILING, "waiting.py": WAITING, "echo.py": ECHO}.items():
        (folder / name).write_text(text)
    client = LocalClient(data_dir=tmp_path_factory.mktemp("data"), workers=2)
    client.folder = folder
    yield client
    client.close()


def upload(client, title: str, entrypoint: str, **options):
    from qlambda.compat.serverless import QiskitFunction

    folder = str(client.folder)
    return client.upload(
        QiskitFunction(title=title, entrypoint=entrypoint, working_dir=folder, **options)
    )


def test_a_failing_function_is_error_with_its_message_and_log(client):
    from qlambda.compat.serverless import QiskitServerlessException

    job = upload(client, "failing", "failing.py").run(x=3)
    with pytest.raises(QiskitServerlessException, match="ValueError: bad input 3"):
        job.result()
    assert job.status() == "ERROR"
    assert "ValueError: bad input 3" in job.error_message()
    assert "about to fail" in job.logs()
    assert client.status(job.job_id) == "ERROR"


def test_a_stopped_job_is_canceled(client):
    from qlambda.compat.serverless import QiskitServerlessException

    job = client.run(upload(client, "waiting", "waiting.py"))
    assert job.status() in ("QUEUED", "RUNNING")
    assert job.stop()
    with pytest.raises(QiskitServerlessException):
        job.result()
    assert job.status() == "CANCELED" and job.in_terminal_state()


def test_arguments_results_and_env_vars_travel_as_qiskit_runtime_json(client):
    import numpy as np

    function = upload(client, "echo", "echo.py", env_vars={"MODE": "fast"})
    job = client.run("echo", arguments={"values": np.arange(3)})
    result = job.result()
    assert isinstance(result["doubled"], np.ndarray)
    assert result["doubled"].tolist() == [0, 2, 4] and result["mode"] == "fast"
    assert job.job_id in [j.job_id for j in function.jobs()]
    assert client.job(job.job_id).status() == "DONE"
    assert "MODE" not in os.environ  # set only while the function ran


def test_what_cannot_run_is_refused_saying_why(client):
    from qlambda.compat.serverless import QiskitFunction, QiskitServerlessException

    with pytest.raises(QiskitServerlessException, match="custom containers"):
        client.upload(QiskitFunction(title="img", image="icr.io/me/fn:1"))
    with pytest.raises(QiskitServerlessException, match="not a file in working_dir"):
        upload(client, "missing", "nowhere.py")
    with pytest.raises(QiskitServerlessException, match="not installed"):
        upload(client, "deps", "echo.py", dependencies=["no-such-package-xyz>=1"])
    with pytest.raises(QiskitServerlessException, match="no function 'unknown'; uploaded:"):
        client.run("unknown")
    with pytest.raises(QiskitServerlessException, match="no host"):
        from qlambda.compat.serverless import ServerlessClient

        os.environ.pop("ENV_GATEWAY_PROVIDER_HOST", None)
        os.environ.pop("QLAMBDA_URL", None)
        ServerlessClient(token="x")


def test_outside_a_job_the_function_file_runs_as_a_plain_script():
    from qlambda.compat.serverless import (
        QiskitServerlessException,
        distribute_task,
        get,
        get_arguments,
        put,
        save_result,
    )

    @distribute_task(target={"cpu": 1})
    def double(x):
        return 2 * x

    assert get_arguments() == {}
    assert save_result({"a": 1}) is False
    assert get([double(1), double(2)]) == [2, 4]
    assert get(put("kept")) == "kept"
    with pytest.raises(QiskitServerlessException, match="unknown target key"):
        distribute_task(target={"cpus": 1})
    if not gpus_on_this_machine():
        with pytest.raises(QiskitServerlessException, match="no GPU"):
            distribute_task(target={"gpu": 1})
    with pytest.raises(RuntimeError, match="in a job or a pilot task"):
        from qlambda.runtime import QiskitRuntimeService

        QiskitRuntimeService()


def test_status_strings_are_qiskit_serverless_ones():
    from qlambda.compat.serverless import serverless_status

    assert serverless_status(JobStatus.QUEUED, None) == "QUEUED"
    assert serverless_status(JobStatus.RUNNING, "CLASSICAL") == "RUNNING"
    assert serverless_status(JobStatus.RUNNING, "WAITING_FOR_QPU") == "RUNNING: WAITING_FOR_QPU"
    assert serverless_status(JobStatus.RUNNING, "MAPPING") == "RUNNING: MAPPING"
    assert serverless_status(JobStatus.DONE, None) == "DONE"
    assert serverless_status(JobStatus.ERROR, None) == "ERROR"
    assert serverless_status(JobStatus.CANCELED, None) == "CANCELED"
    assert serverless_status(JobStatus.DROPPED, None) == "ERROR"
