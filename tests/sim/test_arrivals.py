"""Arrival processes: recorded times replay exactly, daily profiles give the right counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from qlambda.cli import main
from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray
from qlambda.sim import Scenario, run
from qlambda.sim.arrivals import (
    PoissonArrivals,
    RateProfile,
    RecordedArrivals,
    parse_arrivals,
    read_arrival_times,
)
from qlambda.sim.scenario import parse_value
from qlambda.sim.workload import Streams, SyntheticWorkload, draw_workload

TINY = SyntheticWorkload.parse(
    "pre=const:1,classical=const:0.1,quantum=const:2,post=const:1,iterations=const:2"
)


def _draw(arrivals: object, horizon: float, seed: int = 0) -> FloatArray:
    workload = draw_workload(
        Streams.from_seed(seed),
        interarrival=600.0,
        horizon=horizon,
        qubits=(4,),
        priorities=(1.0,),
        synthetic=TINY,
        arrivals=arrivals,  # type: ignore[arg-type]
    )
    return workload.arrival


def test_recorded_times_are_replayed_as_given(tmp_path: Path) -> None:
    path = tmp_path / "arrivals.csv"
    path.write_text("job_id,created_at\na,1000.5\nb,1003\nc,1010\nd,1002\n")
    process = parse_arrivals(f"replay-once:{path}")
    assert isinstance(process, RecordedArrivals)
    # sorted, first arrival at t=0, gaps kept to the bit
    assert np.array_equal(_draw(process, 100.0), [0.0, 1.5, 2.5, 9.5])
    # a horizon that ends inside the recording cuts it there
    assert np.array_equal(_draw(process, 2.0), [0.0, 1.5])


def test_recording_repeats_end_to_end_over_a_longer_horizon(tmp_path: Path) -> None:
    (tmp_path / "arrivals.csv").write_text("arrival\n0\n3\n9\n")
    process = parse_arrivals(f"replay:{tmp_path}")  # a directory: its arrivals.csv
    # one copy spans 9 s plus one mean gap (4.5 s)
    assert np.allclose(_draw(process, 30.0), [0, 3, 9, 13.5, 16.5, 22.5, 27.0])
    assert process.mean_gap(27.0) == pytest.approx(27.0 / 6)


def test_iso_timestamps_and_a_single_unnamed_column(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("when\n2026-01-05T09:00:00\n2026-01-05T09:00:30\n")
    assert read_arrival_times(path)[1] - read_arrival_times(path)[0] == 30.0


def test_replayed_arrivals_are_the_simulated_jobs(tmp_path: Path) -> None:
    times = np.sort(np.random.default_rng(1).uniform(0, 40_000, 60))
    path = tmp_path / "arrivals.csv"
    path.write_text("arrival\n" + "\n".join(repr(float(t)) for t in times) + "\n")
    scenario = Scenario(
        synthetic=TINY,
        arrivals=parse_value("arrivals", f"replay-once:{path}"),
        duration=50_000.0,
        warmup=0.0,
        policies="fifo",
        C_max=None,
        Q_max=None,
        reps=2,
    )
    assert scenario.interarrival[0] == pytest.approx(50_000.0 / 60)
    result = run(scenario, jobs=1, progress=False)
    assert (result.replications["arrived"] == 60).all()
    for _, jobs in result.jobs.groupby("seed"):
        assert np.allclose(np.sort(jobs["arrival"].to_numpy()), times - times[0])


def test_a_daily_profile_gives_poisson_counts_at_each_hours_rate() -> None:
    rates = [0.0] * 6 + [12.0] * 6 + [3.0] * 12  # night, busy morning, quiet rest
    profile = RateProfile(tuple(rates))
    days = 40
    times = _draw(profile, days * 86400.0, seed=7)
    hours = (times % 86400.0 // 3600).astype(int)
    counts = np.bincount(hours, minlength=24)
    assert counts[:6].sum() == 0  # a rate of 0 means no job at all
    expected = np.asarray(rates[6:]) * days
    # each busy hour's count is Poisson(rate x days): a chi-square test of the 18 cells
    chi2 = (((counts[6:] - expected) ** 2) / expected).sum()
    assert stats.chi2.sf(chi2, df=len(expected)) > 1e-3
    # and the total is what the profile integrates to
    assert profile.expected_count(days * 86400.0) == pytest.approx(sum(rates) * days)
    total = counts.sum()
    assert abs(total - sum(rates) * days) < 4 * np.sqrt(sum(rates) * days)


def test_a_profile_repeats_daily_and_its_mean_gap_counts_partial_days() -> None:
    profile = parse_arrivals("profile:2,4")  # 2 jobs/h for 12 h, then 4 jobs/h
    assert isinstance(profile, RateProfile)
    assert profile.slot == 12 * 3600
    assert profile.expected_count(18 * 3600) == pytest.approx(2 * 12 + 4 * 6)
    assert profile.mean_gap(86400.0) == pytest.approx(86400.0 / 72)


def test_poisson_rates_and_gaps() -> None:
    assert parse_arrivals("poisson:6/h") == PoissonArrivals(600.0)
    assert parse_arrivals("poisson:10m") == PoissonArrivals(600.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weekly:1,2", "unknown arrival process 'weekly'"),
        ("replay", "cannot read arrivals"),
        ("profile:1,x", "cannot read rates"),
        ("profile:0,0", "at least one rate > 0"),
        ("profile:1,-2", "finite and >= 0"),
        ("poisson:6/week", "cannot read rate"),
        ("replay:/nonexistent/arrivals.csv", "does not exist"),
    ],
)
def test_bad_arrival_specs_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_arrivals(text)


def test_bad_arrival_files_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival\n1\nsoon\n")
    with pytest.raises(ConfigurationError, match=r"bad.csv:3: cannot read 'soon'"):
        read_arrival_times(bad)
    headerless = tmp_path / "two.csv"
    headerless.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigurationError, match="no arrival-time column"):
        read_arrival_times(headerless)
    single = tmp_path / "one.csv"
    single.write_text("arrival\n5\n")
    with pytest.raises(ConfigurationError, match="at least two arrival times"):
        parse_arrivals(f"replay:{single}")


def test_an_arrival_process_cannot_be_swept_with_interarrival() -> None:
    with pytest.raises(ConfigurationError, match="cannot be swept"):
        Scenario(interarrival=(300, 600), arrivals=PoissonArrivals(100.0))


def test_simulate_takes_arrivals_and_rejects_bad_ones(tmp_path: Path) -> None:
    quick = ["--set", "duration=1d", "--set", "warmup=1h", "--jobs", "1", "--no-progress"]
    runner = CliRunner()
    profile = "profile:" + ",".join(["1"] * 12 + ["5"] * 12)
    args = ["simulate", "small", "--policy", "fifo", "--reps", "1", "--json"]
    good = runner.invoke(main, [*args, *quick, "--arrivals", profile])
    assert good.exit_code == 0, good.output
    assert '"interarrival": 1200.0' in good.output  # 72 jobs a day
    bad = runner.invoke(main, ["simulate", "small", "--arrivals", "burst:3", *quick])
    assert bad.exit_code == 2
    assert "unknown arrival process 'burst'" in bad.output
    assert "replay:FILE.csv" in bad.output
