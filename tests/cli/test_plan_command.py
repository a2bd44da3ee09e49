"""``qlambda plan`` end to end: table, figure, server file, offline bound, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qlambda.cli import main
from qlambda.gateway.server import load_server_config

WORKLOAD = [
    "--set",
    "synthetic=pre=const:5,classical=const:0.01,quantum=exp:20,post=const:1,iterations=uniform:2:4",
    "--set",
    "duration=1d",
    "--set",
    "warmup=2h",
]
SEARCH = ["--C", "1,2", "--Q", "1..4", "--policy", "fifo,lifo", "--q-max", "5,none"]


def test_plan_prints_a_ranked_table_and_writes_figure_and_server_file(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = CliRunner().invoke(
        main,
        [
            "plan",
            "--rate",
            "40/h",
            "--slo",
            "p95<10m",
            "--max-drop",
            "1%",
            "--price",
            "worker-hour=1",
            "--price",
            "qpu-hour=20",
            *SEARCH,
            *WORKLOAD,
            "--out",
            str(out),
            "--jobs",
            "1",
            "--no-progress",
            "--offline-bound",
            "--offline-jobs",
            "4",
            "--offline-iterations",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines if not line.startswith("wrote ")) <= 80
    assert "32 configurations" in result.output
    assert any(line.lstrip().startswith("1 ") for line in lines)  # a ranked row
    assert "cheapest: policy=" in result.output
    assert "offline optimum" in result.output and "gap to optimum" in result.output
    table = pd.read_csv(out / "plan.csv")
    assert len(table) == 32
    assert table["verdict"].iloc[0] == "meets"
    assert (out / "pareto.png").stat().st_size > 10_000
    platform, _, _ = load_server_config(out / "server.toml", data_dir=str(tmp_path / "data"))
    best = table.iloc[0]
    assert platform.workers == best["C"]
    assert platform.policy == best["policy"]
    assert len(platform.resolved_backends()) == best["Q"]


def test_plan_json_gives_the_best_and_the_offline_gaps(tmp_path: Path) -> None:
    args = ["plan", "--rate", "40/h", "--slo", "mean<10m", *SEARCH, *WORKLOAD]
    args += ["--out", str(tmp_path), "--jobs", "1", "--json", "--price", "qpu-hour=1"]
    args += ["--offline-bound", "--offline-jobs", "3", "--offline-iterations", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.splitlines()[-1])
    assert data["configurations"] == 32
    assert data["best"]["Q"] == data["table"][0]["Q"]
    names = [row["schedule"] for row in data["offline"]]
    assert names[0] == "offline optimum" and set(names[1:]) == {"fifo", "lifo"}
    assert all(row["gap"] >= 0 for row in data["offline"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slo", "p95 > 2h"], "accepted: p50<30m, p95<2h"),
        (["--slo", "p95<2h", "--max-drop", "lots"], "a percentage (1%)"),
        (["--slo", "p95<2h", "--price", "gpu=1"], "accepted: worker-hour=AMOUNT"),
        (["--slo", "p95<2h", "--set", "Q=4"], "is what the plan searches"),
        (["--slo", "p95<2h", "--Q", "x"], "--Q: cannot read"),
        (["--slo", "p95<2h", "--policy", "sjf"], "unknown policy 'sjf'"),
        (["--max-drop", "1%", "--arrivals", "weekly:3"], "unknown arrival process"),
        ([], "give an objective"),
    ],
)
def test_plan_rejects_bad_input_saying_what_is_accepted(args: list[str], message: str) -> None:
    rate = [] if "--arrivals" in args else ["--rate", "6/h"]
    result = CliRunner().invoke(main, ["plan", *rate, *args, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_plan_needs_an_arrival_rate() -> None:
    result = CliRunner().invoke(main, ["plan", "--slo", "p95<2h"])
    assert result.exit_code == 2
    assert "give --rate" in result.output


def test_recorded_traces_keep_replays_span_at_the_rate_given() -> None:
    from qlambda.cli.plan import _base_scenario
    from qlambda.sim.traces import default_traces_dir

    base = _base_scenario(default_traces_dir(), "36/h", None, ())
    assert base.interarrival == (100.0,)
    assert base.duration == pytest.approx(2000 * 100.0)  # replay's 2,000 mean gaps
    assert base.warmup == pytest.approx(0.1 * base.duration)
    assert base.target_means is None  # recorded QPU times are kept as they are


def test_a_short_recording_is_repeated_long_enough_for_jobs_to_finish(tmp_path: Path) -> None:
    from qlambda.cli.plan import _base_scenario
    from qlambda.sim.arrivals import RecordedArrivals

    (tmp_path / "arrivals.csv").write_text("arrival\n0\n2\n2.5\n9\n")
    base = _base_scenario(None, None, f"replay:{tmp_path}", ())
    assert isinstance(base.arrivals, RecordedArrivals)
    assert base.duration == pytest.approx(2000 * 12.0 / 4)  # one copy: 9 s + a 3 s gap
    assert base.warmup == 0.0
