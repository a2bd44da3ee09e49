"""QML: the classifier learns the digits, and sharding does not change its gradient."""

from __future__ import annotations

import numpy as np
import pytest

import qlambda
from qlambda.apps.qml_classifier import (
    ShardGradient,
    bare_gradient,
    classifier_circuit,
    combine,
    initial_weights,
    load_digits_task,
    shard_gradient,
    shift_pubs,
    train,
)
from qlambda.core.events import EventKind

# 60 training samples, 12 steps: the training below is seeded and its values exact, so
# it ends at the same accuracy every run (85.5% of the 110 held-out samples here);
# the margin says what "learns" means without pinning that figure.
CHANCE = 0.5  # the two classes are balanced in the test split
MARGIN = 0.2
AER = [{"name": "aer", "kind": "aer", "concurrency": 2}]


@pytest.fixture(scope="module")
def task():
    return load_digits_task((3, 5), 4, train_samples=60, seed=0)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with qlambda.Client(
        data_dir=tmp_path_factory.mktemp("qml"), workers=2, backends=AER, seed=1
    ) as client:
        assert client.wait_ready(180)
        yield client


def test_the_digits_become_two_balanced_classes_of_angles(task):
    assert task.x_train.shape == (60, 4) and len(task.y_test) == 110
    assert set(np.unique(task.y_train)) == {-1.0, 1.0}
    assert task.x_train.min() >= 0.0 and task.x_train.max() == pytest.approx(np.pi)
    assert task.x_test.min() >= 0.0 and task.x_test.max() <= np.pi
    assert abs(np.mean(task.y_test > 0) - CHANCE) < 0.02
    sizes = [len(y) for _, y in task.shards(3)]
    assert sizes == [20, 20, 20]


def test_the_parameter_shift_gradient_is_the_derivative_of_the_loss(task):
    x, y = task.x_train[:10], task.y_train[:10]
    weights = initial_weights(4, 2, seed=3)
    exact = bare_gradient(x, y, weights, 0.1, 2)
    step = 1e-5
    for j in (0, 5, 11):
        up, down = weights.copy(), weights.copy()
        up[j] += step
        down[j] -= step
        slope = (
            bare_gradient(x, y, up, 0.1, 2).loss_sum - bare_gradient(x, y, down, 0.1, 2).loss_sum
        ) / (2 * step)
        assert exact.gradient_sum[j] == pytest.approx(slope, abs=1e-6)
    assert len(shift_pubs(classifier_circuit(4, 2), x, weights)) == 2 * 16 + 1


def test_sharding_gives_the_unsharded_gradient(task, client):
    weights = initial_weights(4, 2, seed=1).tolist()
    whole = client.run(
        shard_gradient, x=task.x_train.tolist(), y=task.y_train.tolist(), weights=weights, bias=0.2
    )
    jobs = [
        client.run(shard_gradient, x=x.tolist(), y=y.tolist(), weights=weights, bias=0.2)
        for x, y in task.shards(3)
    ]
    loss, gradient, bias_gradient = combine([whole.result(120)])
    parts = [job.result(120) for job in jobs]
    sharded_loss, sharded_gradient, sharded_bias = combine(parts)
    assert np.abs(gradient).max() > 1e-3  # something to compare
    np.testing.assert_allclose(sharded_gradient, gradient, rtol=0, atol=1e-12)
    assert sharded_loss == pytest.approx(loss, abs=1e-12)
    assert sharded_bias == pytest.approx(bias_gradient, abs=1e-12)
    assert sum(p["count"] for p in parts) == 60
    # each shard's gradient was one quantum task, of 2P + 1 PUBs
    for job in jobs:
        finished = [e for e in job.events() if e.kind == EventKind.QPU_FINISHED]
        assert len(finished) == 1


def test_shards_of_unequal_size_are_weighted_by_their_samples(task):
    weights = initial_weights(4, 2, seed=1)
    whole = bare_gradient(task.x_train, task.y_train, weights, 0.0, 2)
    parts = [bare_gradient(x, y, weights, 0.0, 2) for x, y in task.shards(7)]  # 9 or 8 each
    assert sorted({p.count for p in parts}) == [8, 9]
    plain_mean = np.mean([np.asarray(p.gradient_sum) / p.count for p in parts], axis=0)
    combined = combine(parts)[1]
    np.testing.assert_allclose(combined, np.asarray(whole.gradient_sum) / 60, rtol=0, atol=1e-12)
    assert not np.allclose(plain_mean, combined, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_the_classifier_beats_chance_on_held_out_digits(task, client):
    steps = []
    result = train(client, task, 2, steps=12, workers=2, on_step=lambda s, n, loss: steps.append(s))
    assert steps == list(range(1, 13))
    assert result.losses[-1] < 0.6 * result.losses[0]
    assert result.test_accuracy >= CHANCE + MARGIN
    assert result.quantum_requests == 24 and result.test_samples == 110
    assert result.baseline_accuracy >= CHANCE + MARGIN  # the baseline is a real one


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": (3, 3)}, "two different digits"),
        ({"classes": (3, 12)}, "two different digits"),
        ({"features": 0}, "features must be from 1"),
        ({"features": 40}, "features must be from 1 to 12"),
        ({"test_fraction": 0.99}, "test_fraction"),
        ({"train_samples": 2}, "at least 4"),
    ],
)
def test_bad_tasks_are_refused_with_what_is_accepted(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits_task(**kwargs)


def test_bad_shards_are_refused_before_any_quantum_task(task):
    weights = initial_weights(4, 2, 0).tolist()
    with pytest.raises(ValueError, match="take 16 weights, got 3"):
        shard_gradient(None, task.x_train.tolist(), task.y_train.tolist(), [0.0] * 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels must be -1 or"):
        shard_gradient(None, task.x_train.tolist(), [0.0] * 60, weights)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one label per"):
        shard_gradient(None, task.x_train.tolist(), [1.0], weights)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 60 shards"):
        task.shards(61)
    with pytest.raises(ValueError, match="no samples"):
        combine([])
    assert ShardGradient(1, 0.0, [0.0], 0.0, 1).to_dict()["count"] == 1
