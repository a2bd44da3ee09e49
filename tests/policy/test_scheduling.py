"""QPU scheduling policies: orderings, draw usage, Weighted frequencies, errors."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from qlambda.policy import FIFO, LIFO, POLICIES, Random, StrictPriority, Weighted, make_policy


@dataclass(frozen=True)
class Task:
    arrival: float
    priority: float = 1.0
    job_id: int = 0
    estimated_duration: float | None = None


class CountingRandom:
    """A random source that records how many draws a policy took."""

    def __init__(self, value: float = 0.5) -> None:
        self.value, self.draws = value, 0

    def random(self) -> float:
        self.draws += 1
        return self.value


SHUFFLED = [Task(3.0, 1, 0), Task(1.0, 4, 1), Task(2.0, 2, 2), Task(5.0, 1, 3), Task(4.0, 2, 4)]


def test_fifo_picks_the_oldest_without_drawing():
    rng = CountingRandom()
    assert FIFO().select(SHUFFLED, rng) == 1
    assert rng.draws == 0


def test_lifo_picks_the_newest_without_drawing():
    rng = CountingRandom()
    assert LIFO().select(SHUFFLED, rng) == 3
    assert rng.draws == 0


def test_ties_fifo_first_queued_lifo_last_queued():
    tied = [Task(1.0, job_id=i) for i in range(3)]
    assert FIFO().select(tied, CountingRandom()) == 0
    assert LIFO().select(tied, CountingRandom()) == 2


def test_repeated_picks_drain_in_arrival_order():
    for policy, expected in (
        (FIFO(), [1.0, 2.0, 3.0, 4.0, 5.0]),
        (LIFO(), [5.0, 4.0, 3.0, 2.0, 1.0]),
    ):
        pending = list(SHUFFLED)
        order = []
        while pending:
            order.append(pending.pop(policy.select(pending, CountingRandom())).arrival)
        assert order == expected


def test_strict_priority_then_age():
    tasks = [Task(3.0, 2), Task(1.0, 2), Task(0.5, 1), Task(2.0, 4), Task(0.1, 4)]
    assert StrictPriority().select(tasks, CountingRandom()) == 4


@pytest.mark.parametrize("value", [0.0, 0.19, 0.2, 0.59, 0.999999])
def test_random_uses_one_draw_to_index_uniformly(value):
    rng = CountingRandom(value)
    assert Random().select(SHUFFLED, rng) == int(value * len(SHUFFLED))
    assert rng.draws == 1


def test_random_is_uniform():
    rng = random.Random(1)
    counts = np.bincount([Random().select(SHUFFLED, rng) for _ in range(50_000)], minlength=5)
    assert np.allclose(counts / counts.sum(), 0.2, atol=0.01)


def test_weighted_frequencies_are_proportional_to_priority():
    tasks = [Task(0.0, 1), Task(1.0, 2), Task(2.0, 4), Task(3.0, 1)]
    rng = np.random.default_rng(7)
    draws = 80_000
    counts = np.bincount([Weighted().select(tasks, rng) for _ in range(draws)], minlength=4)
    expected = np.array([1, 2, 4, 1]) / 8
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(counts / draws - expected) < 4 * sigma)


def test_weighted_threshold_walks_cumulative_priorities():
    tasks = [Task(0.0, 1), Task(1.0, 3)]  # cumulative 1, 4: u*4 < 1 picks the first
    assert Weighted().select(tasks, CountingRandom(0.24)) == 0
    assert Weighted().select(tasks, CountingRandom(0.26)) == 1


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_rejects_an_empty_pending_set(name):
    with pytest.raises(ValueError, match="at least one pending task"):
        make_policy(name).select([], CountingRandom())


def test_make_policy_by_name_and_unknown_names():
    assert isinstance(make_policy("WEIGHTED"), Weighted)
    instance = LIFO()
    assert make_policy(instance) is instance
    with pytest.raises(ValueError, match=r"unknown scheduling policy 'sjf'.*fifo"):
        make_policy("sjf")
