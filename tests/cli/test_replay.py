"""``qlambda simulate replay``: recorded traces replayed on the platform they came from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from qlambda.cli import main
from qlambda.sim.replay import Recording, replay_scenario
from qlambda.sim.traces import TRACE_FILES


def demo_like_traces(directory: Path, recording: bool = True) -> Path:
    """Short QAOA-like jobs on emulated QPUs, as `qlambda demo` records them: tens of
    ~50 ms quantum tasks per job, milliseconds of classical work, a job every 0.5 s."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    values = {
        "pre": lambda: rng.uniform(0.01, 0.03),
        "classical": lambda: rng.uniform(0.004, 0.008),
        "post": lambda: rng.uniform(0.003, 0.02),
        "iterations": lambda: int(rng.integers(25, 45)),
        "quantum": lambda: rng.uniform(0.045, 0.065),
    }
    for field, name in TRACE_FILES.items():
        rows = [f"n_qubits,{name.removesuffix('.csv')}"]
        for qubits in (4, 8, 12):
            rows += [f"{qubits},{values[field]()}" for _ in range(8)]
        (directory / name).write_text("\n".join(rows) + "\n")
    if recording:
        Recording(workers=2, qpus=2, interarrival=0.5, priorities=(1, 2, 4)).save(directory)
    return directory


def simulate(*args: str):
    return CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)


def test_replay_uses_the_recorded_platform_and_every_policy(tmp_path):
    traces = demo_like_traces(tmp_path / "traces")
    scenario = replay_scenario(traces)
    assert (scenario.C, scenario.Q, scenario.interarrival) == ((2,), (2,), (0.5,))
    assert scenario.qubits == (4, 8, 12) and scenario.priorities == (1.0, 2.0, 4.0)
    assert scenario.target_means is None and scenario.S == (1e9,)
    assert len(scenario.policies) == 5
    assert scenario.duration == 2000 * 0.5 and scenario.warmup == 100.0
    slower = replay_scenario(traces, ("interarrival=2", "Q=3"))
    assert slower.duration == 4000 and slower.Q == (3,)


def test_replaying_the_demos_traces_gives_numbers_worth_reading(tmp_path):
    """Under the published scenarios' parameters these jobs gave all-zero rows; replayed
    where they were recorded they queue, and more QPUs shorten the queues."""
    traces = demo_like_traces(tmp_path / "traces")
    done = simulate("replay", "--traces", str(traces), "--set", "Q=2..4", "--reps", "2", "--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)["summary"]
    assert {row["policy"] for row in rows} == {"fifo", "lifo", "random", "weighted", "priority"}
    by_q = {row["Q"]: row for row in rows if row["policy"] == "fifo"}
    assert all(row["avg_quantum_tasks"] > 0.5 and row["job_time_median"] > 0 for row in rows)
    assert by_q[2]["qpu_load"] > 1 > by_q[4]["qpu_load"]
    assert by_q[4]["job_time_median"] < by_q[3]["job_time_median"] < by_q[2]["job_time_median"]


def test_the_replay_table_reads_at_80_columns_and_warns_of_overload(tmp_path, assert_fits):
    traces = demo_like_traces(tmp_path / "traces")
    done = simulate("replay", "--traces", str(traces), "--set", "Q=2..5", "--reps", "2")
    assert done.exit_code == 0, done.output
    assert_fits(done.output)
    assert "QPU" in done.output and "weighted" in done.output
    assert "queues grow for as long as the simulation runs" in " ".join(done.output.split())


def test_replay_needs_traces_and_a_recording_or_settings(tmp_path):
    missing = simulate("replay")
    assert missing.exit_code == 2 and "replay needs --traces DIR" in missing.output
    bare = demo_like_traces(tmp_path / "bare", recording=False)
    unknown = simulate("replay", "--traces", str(bare), "--reps", "1")
    assert unknown.exit_code == 2
    assert "--set C=..., --set Q=..., --set interarrival=..." in unknown.output
    given = simulate(
        "replay",
        "--traces",
        str(bare),
        "--set",
        "C=1",
        "--set",
        "Q=3",
        "--set",
        "interarrival=0.4",
        "--reps",
        "1",
        "--policy",
        "fifo",
        "--json",
    )
    assert given.exit_code == 0, given.output
    assert json.loads(given.output)["summary"][0]["Q"] == 3
    (bare / "platform.json").write_text('{"workers": 2, "qpus": 1, "gap": 3}')
    wrong = simulate("replay", "--traces", str(bare))
    assert wrong.exit_code == 2 and "unknown key(s) gap" in wrong.output


def test_the_summary_table_of_a_preset_reads_at_80_columns(assert_fits):
    done = simulate(
        "big-c",
        "--reps",
        "1",
        "--set",
        "C=1,2",
        "--set",
        "interarrival=450,900",
        "--set",
        "duration=1d",
        "--set",
        "warmup=2h",
        "--jobs",
        "1",
    )
    assert done.exit_code == 0, done.output
    assert_fits(done.output)
    assert "Q=4" in done.output and "gap s" in done.output
