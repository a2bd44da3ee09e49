"""``qlambda simulate`` end to end: tables, figures, summary, errors."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from qlambda.cli import main

REPLICATION_COLUMNS = {
    "policy",
    "seed",
    "C",
    "Q",
    "S",
    "interarrival",
    "drop_probability",
    "avg_classical_tasks",
    "avg_quantum_tasks",
    "accepted",
    "dropped",
    "completed",
    "events",
    "wall_seconds",
}
JOB_COLUMNS = {
    "policy",
    "seed",
    "C",
    "Q",
    "S",
    "interarrival",
    "num_qubits",
    "priority",
    "job_time",
}
QUICK = ["--set", "duration=1d", "--set", "warmup=2h", "--jobs", "1", "--no-progress"]


def invoke(*args: str):
    return CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)


def test_small_preset_writes_tables_and_figures(tmp_path):
    result = invoke(
        "small",
        "--reps",
        "2",
        "--seed",
        "3",
        "--policy",
        "fifo",
        "--policy",
        "weighted",
        *QUICK,
        "--out",
        str(tmp_path),
        "--plots",
    )
    assert result.exit_code == 0, result.output
    reps = pd.read_csv(tmp_path / "replications.csv")
    jobs = pd.read_csv(tmp_path / "jobs.csv")
    assert set(reps.columns) >= REPLICATION_COLUMNS
    assert set(jobs.columns) >= JOB_COLUMNS
    assert sorted(reps.policy.unique()) == ["fifo", "weighted"]
    assert list(reps.seed.unique()) == [3, 4]
    assert len(jobs) == reps.completed.sum()
    figure = tmp_path / "plots" / "job_times.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "events/s" in result.output and "weighted" in result.output


def test_sweep_overrides_and_json_summary(tmp_path):
    result = invoke(
        "big-c",
        "--reps",
        "1",
        "--set",
        "C=1,2",
        "--set",
        "interarrival=450,900",
        *QUICK,
        "--json",
        "--out",
        str(tmp_path),
        "--plots",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    points = {(row["C"], row["interarrival"]) for row in payload["summary"]}
    assert points == {(1, 450.0), (1, 900.0), (2, 450.0), (2, 900.0)}
    names = {p.rsplit("/", 1)[-1] for p in payload["files"]}
    assert {"drop_load_c.png", "avg_tasks_c.png", "job_time_vs_c.png"} <= names


def test_reference_compat_and_synthetic_workload(tmp_path):
    result = invoke(
        "small",
        "--reps",
        "1",
        "--policy",
        "fifo",
        "--reference-compat",
        "--synthetic",
        "pre=const:1,classical=const:0.01,quantum=exp:2,post=const:0,iterations=const:50",
        *QUICK,
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    reps = pd.read_csv(tmp_path / "replications.csv")
    assert reps.reference_compat.all()
    # compat counts drops from t=0
    expected = reps.dropped_total / reps.arrived_total
    assert (reps.drop_probability == expected).all()


def test_bad_input_is_rejected_with_a_reason(tmp_path):
    cases = [
        (["huge"], "'huge' is not one of"),
        (["small", "--set", "Q=none"], "cannot read 'none' as an integer"),
        (["small", "--policy", "sjf"], "'sjf' is not one of"),
        (["small", "--plots"], "--plots needs --out"),
        (["small", "--frobnicate"], "No such option"),
        (["small", "--traces", str(tmp_path / "nowhere")], "does not exist"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_parquet_tables_read_back(tmp_path):
    result = invoke(
        "small",
        "--reps",
        "1",
        "--policy",
        "lifo",
        *QUICK,
        "--out",
        str(tmp_path),
        "--format",
        "parquet",
    )
    assert result.exit_code == 0, result.output
    reps = pd.read_parquet(tmp_path / "replications.parquet")
    jobs = pd.read_parquet(tmp_path / "jobs.parquet")
    assert len(jobs) == int(reps.completed.iloc[0]) > 0
