"""The qlambda command, run as a user would."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

QLAMBDA = [sys.executable, "-m", "qlambda.cli"]


def qlambda(*args, cwd=None, timeout=600):
    env = {**os.environ, "COLUMNS": "80"}  # what an 80-column terminal would get
    return subprocess.run(
        [*QLAMBDA, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def test_help_lists_the_commands():
    done = qlambda("--help")
    assert done.returncode == 0
    for name in ("demo", "jobs", "backends", "traces"):
        assert name in done.stdout


def test_unknown_commands_and_options_fail():
    assert qlambda("frobnicate").returncode == 2
    assert qlambda("jobs", "--colour").returncode == 2


def test_backends_as_json():
    done = qlambda("backends", "--json")
    assert done.returncode == 0, done.stderr
    assert [b["name"] for b in json.loads(done.stdout)] == ["aer"]


def test_backends_table_keeps_long_names_whole_at_80_columns(tmp_path, assert_fits):
    config = tmp_path / "backends.toml"
    config.write_text(
        '[[backend]]\nname = "a-rather-long-backend-name-for-the-lab"\nkind = "fake"\n'
        'device = "FakeKolkataV2"\nemulate_qpu_time = true\ntime_scale = 0.001\n\n'
        '[[backend]]\nname = "aer"\nkind = "aer"\nconcurrency = 4\ntask_timeout_seconds = 90\n'
    )
    done = qlambda("backends", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout)
    assert "600 s" in done.stdout and "90 s" in done.stdout  # each backend's task limit
    assert "a-rather-long-backend-name-for-the-lab" in "".join(
        line.split()[0] for line in done.stdout.splitlines()[4:6]
    )


def test_jobs_needs_a_data_directory(tmp_path):
    done = qlambda("jobs", "--data-dir", str(tmp_path / "none"))
    assert done.returncode == 1
    assert "no qlambda data" in done.stderr


@pytest.mark.slow
def test_demo_then_jobs_then_traces_then_replay(tmp_path, assert_fits):
    data = tmp_path / "data"
    done = qlambda(
        "demo", "--jobs", "3", "--maxiter", "5", "--interarrival", "0.1", "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    assert "job time by priority" in done.stdout and "utilization" in done.stdout
    assert_fits(done.stdout.split("\nnext")[0])  # the tables; commands may be longer

    listed = qlambda("jobs", "--data-dir", str(data), "--json")
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["DONE"] * 3
    assert f"jobs --data-dir {data}" in done.stdout  # the demo says where its jobs are

    # the demo's suggested next step replays its own trace, on its own platform
    replay = next(line for line in done.stdout.splitlines() if "simulate replay" in line)
    args = shlex.split(replay.split("simulate", 1)[1])
    assert args[:3] == ["replay", "--traces", str(data / "traces")]
    recorded = json.loads((data / "traces" / "platform.json").read_text())
    assert recorded["qpus"] == 2 and recorded["policy"] == "weighted"
    assert recorded["priorities"] and recorded["interarrival"] > 0
    replayed = qlambda("simulate", *args, "--reps", "2", "--json")
    assert replayed.returncode == 0, replayed.stderr
    summary = json.loads(replayed.stdout)["summary"]
    assert {row["Q"] for row in summary} == {2, 3, 4, 5}
    assert all(row["avg_quantum_tasks"] > 0 and row["job_time_median"] > 0 for row in summary)

    out = tmp_path / "traces"
    exported = qlambda("traces", "export", str(out), "--data-dir", str(data), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["jobs"] == 3
    assert sorted(p.name for p in Path(out).iterdir()) == [
        "cost_time.csv",
        "exec_time.csv",
        "num_iterations.csv",
        "platform.json",
        "post.csv",
        "pre.csv",
    ]
    told = qlambda("traces", "export", str(out), "--data-dir", str(data), "--workers", "3")
    assert "simulate replay --traces" in told.stdout
    assert json.loads((out / "platform.json").read_text())["workers"] == 3


def test_serve_refuses_a_cluster_address_for_the_local_engine():
    done = qlambda("serve", "--ray-address", "auto", "--port", "0", timeout=120)
    assert done.returncode == 1
    assert "needs engine 'ray' or 'dask'" in done.stderr
