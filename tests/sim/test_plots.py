"""Which of the paper's figures a sweep yields, written as real PNG files."""

from __future__ import annotations

from qlambda.sim import preset, run
from qlambda.sim.model import HOUR
from qlambda.sim.plots import plot_result

PNG = b"\x89PNG\r\n\x1a\n"


def test_q_sweep_gives_the_drop_heat_map(tmp_path):
    scenario = preset("big-q").replace(
        Q=(2, 4), interarrival=(300.0, 900.0), duration=12 * HOUR, warmup=HOUR, reps=1
    )
    result = run(scenario, jobs=1)
    written = plot_result(result.replications, result.jobs, tmp_path, prefix="bigq_")
    assert [p.name for p in written] == ["bigq_drop_load_q.png"]
    assert written[0].read_bytes()[:8] == PNG


def test_policy_comparison_gives_the_box_plots(tmp_path):
    scenario = preset("small").replace(
        policies=("fifo", "weighted"), duration=12 * HOUR, warmup=HOUR, reps=1
    )
    result = run(scenario, jobs=1)
    written = plot_result(result.replications, result.jobs, tmp_path)
    assert [p.name for p in written] == ["job_times.png"]
    assert written[0].stat().st_size > 10_000
