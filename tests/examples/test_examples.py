"""Every script in examples/ runs end to end, as a user would run it, and says what it did.

Each runs in a fresh process in a temporary directory with its own data directory; the
HTTP examples run against a real `qlambda serve` (QLAMBDA_URL / QLAMBDA_TOKEN).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_example(name: str, tmp_path: Path, **env: str) -> str:
    path = EXAMPLES / name
    command = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    environment = {
        **os.environ,
        "QLAMBDA_DATA_DIR": str(tmp_path / "data"),
        "QLAMBDA": f"{sys.executable} -m qlambda.cli",
        **env,
    }
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=600
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_jobs(tmp_path):
    out = run_example("jobs.py", tmp_path)
    assert re.search(r"result: \{'energy': -[\d.]+, 'nodes': 8\}", out)
    assert "events: SUBMITTED, ADMITTED, STARTED, QPU_QUEUED" in out and "DONE" in out
    assert "log: <Z...Z> on 8 qubits" in out
    assert (tmp_path / "data" / "qlambda.db").exists()  # the data went where it was told


def test_function_context(tmp_path):
    out = run_example("function_context.py", tmp_path)
    assert re.search(r"result: \d+\.\d+", out) and "finished after 5 steps" in out


def test_pilots(tmp_path):
    out = run_example("pilots.py", tmp_path)
    assert "map over 100 items: 100 results" in out
    counts = ast.literal_eval(out.split("Bell counts:")[1].splitlines()[0])
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1024
    assert "a task on the pilot's QPUs: <ZZ> = 1.000" in out


def test_costs(tmp_path):
    out = run_example("costs.py", tmp_path)
    assert re.search(r"job: 2 tasks, [\d.]+ QPU s, cost [\d.]+", out)
    assert "refused: QuotaExceededError: quantum task refused on backend 'qpu'" in out
    assert "during my window their task is waiting: True" in out
    assert "it ran once the window ended: True" in out


def test_qaoa_maxcut(tmp_path):
    out = run_example("qaoa_maxcut.py", tmp_path)
    assert "bare: cut" in out and re.search(r"job \w{17}: cut \d+ of \d+ in 40 iterations", out)


def test_simulate(tmp_path):
    out = run_example("simulate.py", tmp_path)
    assert "mean drop probability by Q and interarrival" in out and "qpu_load" in out


def test_traces_replay(tmp_path):
    out = run_example("traces_replay.py", tmp_path)
    assert "platform.json" in out and "weighted" in out and "qpu_load" in out


@pytest.mark.slow
def test_backends(tmp_path):
    out = run_example("backends.py", tmp_path)
    assert "noisy (FakeTorino)" in out and "torino: 1 tasks" in out


@pytest.mark.slow
def test_execution_options(tmp_path):
    out = run_example("execution_options.py", tmp_path)
    values = [float(v) for v in re.findall(r"<ZZZZ> = (-?\d\.\d+)", out)]
    assert len(values) == 4 and values[1] > values[0]  # readout mitigation helps


def test_ibm_runtime(tmp_path):
    out = run_example("ibm_runtime.py", tmp_path)
    values = [float(v) for v in re.findall(r"resilience_level=\d: (-?\d\.\d+)", out)]
    assert len(values) == 3 and values[1] > values[0] + 0.05  # readout mitigation helps
    assert "backend.run, 1000 shots: 1000 counts" in out
    assert "sampler, 4000 shots, XY4 decoupling and twirling" in out
    assert "options.twirling.enable_measure = True is not accepted; accepted: False" in out


@pytest.mark.slow
def test_scale_out(tmp_path):
    out = run_example("scale_out.py", tmp_path)
    assert "ray pilot: [0, 1, 4, 9, 16]" in out and "dask job: 285" in out


@pytest.mark.slurm
def test_hpc(slurm_cluster, tmp_path):
    out = run_example("hpc.py", tmp_path)  # SLURM_CONF points sbatch at the test cluster
    assert re.search(r"batch job \d+ ready in [\d.]+ s", out)
    assert "squares: [0, 1, 4, 9, 16] ..." in out
    assert re.search(r"ran in batch job\(s\): \['\d+'\]", out)
    assert "MPI task: 4 ranks, allreduce = 46" in out and "after cancel: ENDED" in out


def test_serverless(tmp_path):
    out = run_example("serverless.py", tmp_path)
    counts = ast.literal_eval(out.split("counts:")[1].splitlines()[0])
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000
    assert "status: DONE" in out and "prepared 1 circuits in child tasks" in out


def test_serverless_against_a_server(http_server, tmp_path):
    out = run_example("serverless.py", tmp_path, **_server_env(http_server))
    assert "status: DONE" in out and "prepared 1 circuits in child tasks" in out


def test_pilot_quantum(tmp_path):
    out = run_example("pilot_quantum.py", tmp_path)
    assert "squares: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in out
    counts = ast.literal_eval(out.split("Bell counts:")[1].splitlines()[0])
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000


def _server_env(server) -> dict[str, str]:
    return {"QLAMBDA_URL": server.url, "QLAMBDA_TOKEN": server.tokens["alice"]}


def test_http_client(http_server, tmp_path):
    out = run_example("http_client.py", tmp_path, **_server_env(http_server))
    assert "result: {'distinct':" in out and "distinct outcomes of 8 qubits" in out


def test_http_circuits(http_server, tmp_path):
    out = run_example("http_circuits.py", tmp_path, **_server_env(http_server))
    assert "result: DONE [{" in out and "'ev':" in out
    assert "a program that does not parse: 422" in out


def test_http_cli(http_server, tmp_path):
    out = run_example("http_cli.sh", tmp_path, **_server_env(http_server))
    assert "{'sum': 140}" in out and re.search(r"job \w{17} submitted", out)
    assert "canceled" in out


def test_every_example_is_run_here_and_named_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    scripts = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh"))
    tested = set(re.findall(r'run_example\("([\w.]+)"', Path(__file__).read_text()))
    helpers = {"work.py"}  # run by http_cli.sh
    assert set(scripts) - helpers == tested
    for name in [*scripts, "backends.toml"]:
        assert f"examples/{name}" in readme, f"README.md does not point at examples/{name}"
    for mentioned in set(re.findall(r"examples/[\w./]+\.(?:py|sh|toml)", readme)):
        assert (ROOT / mentioned).is_file(), f"README.md names {mentioned}, which is missing"


def test_retention(tmp_path):
    out = run_example("retention.py", tmp_path)
    assert "result: 49 | log: squaring 7" in out
    assert re.search(r"a few seconds later: the result of job \w{17} was deleted on ", out)
    assert "still listed: DONE | log now: ''" in out
