"""Which of the figures of [1] a sweep yields, written as real PNG files."""

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


def test_figures_say_what_they_show(tmp_path):
    """Titles carry the shared parameters, policies are named, integer axes tick integers,
    and a figure showing one load of a sweep says which."""
    from qlambda.sim.plots import (
        average_tasks_figure,
        job_time_vs_c_figure,
        job_times_figure,
    )

    sweep = preset("big-c").replace(
        C=(1, 2, 3), interarrival=(450.0, 900.0), duration=12 * HOUR, warmup=HOUR, reps=2
    )
    result = run(sweep, jobs=1)
    tasks = average_tasks_figure(result.replications)
    title = tasks._suptitle.get_text()
    assert "Q=4" in title and "S=1e7 ops/s" in title and "policy Random" in title
    assert "2 reps" in title
    for ax in tasks.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1, 2, 3]
    labels = [t.get_text() for t in tasks.axes[1].get_legend().get_texts()]
    assert labels == ["8", "4"]  # every load of the sweep, in jobs/h
    chosen = job_time_vs_c_figure(result.jobs, 450.0).axes[0].get_title()
    assert "8 jobs/h (1 of the 2 loads swept" in chosen and "Q=4" in chosen

    small = preset("small").replace(duration=12 * HOUR, warmup=HOUR, reps=1)
    boxes = job_times_figure(run(small, jobs=1).jobs)
    names = [t.get_text() for t in boxes.axes[0].get_xticklabels()]
    assert names == ["FIFO", "LIFO", "Random", "Weighted"]
    title = boxes._suptitle.get_text()
    assert "C=1, Q=4, S=1e9 ops/s, load 6 jobs/h, 1 rep" in title


def test_a_reference_compat_run_says_so_in_its_titles(tmp_path):
    import matplotlib.image

    scenario = preset("small").replace(
        policies=("fifo", "lifo"), duration=12 * HOUR, warmup=HOUR, reps=1, reference_compat=True
    )
    result = run(scenario, jobs=1)
    from qlambda.sim.plots import describe, job_times_figure

    assert "reference_compat" in describe(result.replications)
    assert "reference_compat" in job_times_figure(result.jobs, compat=True)._suptitle.get_text()
    written = plot_result(result.replications, result.jobs, tmp_path)
    assert matplotlib.image.imread(written[0]).shape[1] > 1000
