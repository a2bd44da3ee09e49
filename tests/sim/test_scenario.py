"""Scenarios, presets and KEY=VALUE overrides."""

from __future__ import annotations

import pytest

from qlambda.core import ConfigurationError
from qlambda.sim import PRESETS, Scenario, preset, run
from qlambda.sim.model import HOUR
from qlambda.sim.scenario import DAY, parse_seconds


def test_presets_follow_table_2():
    small = preset("small")
    assert (small.C, small.S, small.Q, small.C_max, small.Q_max) == ((1,), (1e9,), (4,), 40, 40)
    assert small.interarrival == (600.0,) and small.qubits == (4, 6, 8, 10)
    assert small.priorities == (1, 2, 4) and len(small.policies) == 4
    assert (small.duration, small.warmup, small.reps) == (7 * DAY, 12 * HOUR, 100)
    big_q, big_c = preset("big-q"), preset("big-c")
    assert big_q.Q == (1, 2, 3, 4, 5, 6) and big_q.S == (1e9,) and big_q.policies == ("random",)
    assert big_c.C == (1, 2, 3, 4, 5, 6) and big_c.S == (1e7,) and big_c.Q == (4,)
    for big in (big_q, big_c):
        assert big.interarrival == (150, 300, 450, 600, 750, 900)
        assert big.qubits == (4, 8, 12, 16, 20, 24)
    assert len(list(big_c.points())) == 36
    with pytest.raises(ConfigurationError, match="accepted: small, big-q, big-c"):
        preset("huge")
    assert set(PRESETS) == {"small", "big-q", "big-c"}


def test_overrides_parse_lists_ranges_units_and_none():
    s = preset("small").override(
        [
            "Q=1..3",
            "interarrival=150..450..150",
            "warmup=6h",
            "duration=2d",
            "C_max=none",
            "qubits=4,8",
            "policy=fifo,random",
            "redraw=true",
            "S=1e7",
        ]
    )
    assert s.Q == (1, 2, 3) and s.interarrival == (150.0, 300.0, 450.0)
    assert (s.warmup, s.duration, s.C_max) == (6 * HOUR, 2 * DAY, None)
    assert s.qubits == (4, 8) and s.policies == ("fifo", "random")
    assert s.redraw_per_iteration and s.S == (1e7,)
    assert preset("small").override(["interarrival=10m"]).interarrival == (600.0,)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("bogus=1", "unknown scenario parameter 'bogus'"),
        ("Q", "KEY=VALUE"),
        ("Q=two", "cannot read 'two' as an integer"),
        ("Q=0", "Q must be a positive integer"),
        ("policies=sjf", "unknown policy 'sjf'"),
        ("warmup=soon", "cannot read a time"),
        ("redraw=maybe", "boolean"),
        ("Q=5..1", "LOW..HIGH"),
        ("synthetic=pre=exp:1", "synthetic workload lacks"),
        ("priorities=0", "priorities must be > 0"),
    ],
)
def test_bad_overrides_say_what_is_accepted(assignment, message):
    with pytest.raises(ConfigurationError, match=message):
        preset("small").override([assignment])


def test_parse_seconds_units():
    assert [parse_seconds(t) for t in ("90", "90s", "2m", "1.5h", "1d")] == [
        90,
        90,
        120,
        5400,
        86400,
    ]


def test_run_overrides_reps_and_seed_and_rejects_unknown_engine():
    scenario = Scenario(policies="random", duration=6 * HOUR, warmup=HOUR, reps=5)
    result = run(scenario, reps=2, seed=7, jobs=1)
    assert list(result.replications.seed) == [7, 8]
    with pytest.raises(ConfigurationError, match="unknown engine"):
        run(scenario, engine="turbo")


def test_unscaled_sizes_need_traces_of_their_own():
    scenario = Scenario(qubits=(4, 12), target_means=None, reps=1, duration=HOUR, warmup=0.0)
    with pytest.raises(ConfigurationError, match=r"no complete samples for \[12\]"):
        run(scenario, jobs=1)


def test_big_sizes_run_on_ibm_normalised_quantum_times():
    scenario = preset("big-c").replace(
        C=2, interarrival=450.0, duration=DAY, warmup=2 * HOUR, reps=1
    )
    result = run(scenario, jobs=1)
    assert set(result.jobs.num_qubits) <= {4, 8, 12, 16, 20, 24}
    assert result.replications.completed.iloc[0] > 0


def test_numpy_values_are_accepted_from_python():
    import numpy as np

    scenario = Scenario(C=np.arange(1, 3), Q=np.int64(2), qubits=np.array([4, 6]), reps=1)
    platforms = {(p.platform.C, p.platform.Q) for p in scenario.points()}
    assert platforms == {(1, 2), (2, 2)}
    assert scenario.qubits == (4, 6) and isinstance(scenario.qubits[0], int)
