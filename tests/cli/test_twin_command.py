"""``qlambda twin``: what a user sees, and what it keeps."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from qlambda.cli import main


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--policy", "sjf"], "unknown policy 'sjf'"),
        (["--load", "fast"], "expected numbers separated by commas"),
        (["--load", "7"], "load must be in (0, 5)"),
        (["--jobs", "3"], "3 is not in the range x>=10"),
        (["--time-scale", "5"], "time_scale must be in [0.001, 1]"),
        (["--q-max", "0"], "--q-max takes a positive integer or none, got '0'"),
        (["--c-max", "many"], "--c-max takes a positive integer or none, got 'many'"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(tmp_path, arguments, message):
    out = tmp_path / "twin"
    result = CliRunner().invoke(main, ["twin", "--out", str(out), *arguments])
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()


@pytest.mark.slow
def test_a_small_twin_run_prints_its_comparison_and_keeps_its_data(
    tmp_path, monkeypatch, assert_fits
):
    arguments = ["twin", "--policy", "fifo", "--load", "0.6", "--jobs", "12", "--out", "twin"]
    monkeypatch.chdir(tmp_path)  # short paths in the output
    result = CliRunner().invoke(main, arguments)
    out = tmp_path / "twin"
    assert result.exit_code == 0, result.output
    assert_fits(result.output)
    for text in ("fifo load 0.6: C=2 Q=2", "median s", "prio 4", "8 qubits", "QPU utilisation"):
        assert text in result.output
    assert (out / "twin_cdf.png").stat().st_size > 10_000
    traces = out / "fifo-load0.6" / "traces"
    assert len((traces / "arrivals.csv").read_text().splitlines()) == 13  # header + 12
    recorded = json.loads((traces / "platform.json").read_text())
    assert (recorded["workers"], recorded["qpus"], recorded["policy"]) == (2, 2, "fifo")
    data = json.loads((out / "comparison.json").read_text())
    [run] = data["runs"]
    assert run["policy"] == "fifo" and run["jobs"] == 12
    assert {g["group"] for g in run["groups"]} >= {"all", "prio 1", "4 qubits"}
