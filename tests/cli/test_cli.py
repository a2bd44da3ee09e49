"""The qlambda command, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

QLAMBDA = [sys.executable, "-m", "qlambda.cli"]


def qlambda(*args, cwd=None, timeout=600):
    return subprocess.run(
        [*QLAMBDA, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
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


def test_jobs_needs_a_data_directory(tmp_path):
    done = qlambda("jobs", "--data-dir", str(tmp_path / "none"))
    assert done.returncode == 1
    assert "no qlambda data" in done.stderr


@pytest.mark.slow
def test_demo_then_jobs_then_traces(tmp_path):
    data = tmp_path / "data"
    done = qlambda(
        "demo", "--jobs", "3", "--maxiter", "5", "--interarrival", "0.1", "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    assert "job time by priority" in done.stdout and "utilization" in done.stdout

    listed = qlambda("jobs", "--data-dir", str(data), "--json")
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["DONE"] * 3

    out = tmp_path / "traces"
    exported = qlambda("traces", "export", str(out), "--data-dir", str(data), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["jobs"] == 3
    assert sorted(p.name for p in Path(out).iterdir()) == [
        "cost_time.csv",
        "exec_time.csv",
        "num_iterations.csv",
        "post.csv",
        "pre.csv",
    ]


def test_serve_refuses_a_cluster_address_for_the_local_engine():
    done = qlambda("serve", "--ray-address", "auto", "--port", "0", timeout=120)
    assert done.returncode == 1
    assert "needs engine 'ray' or 'dask'" in done.stderr
