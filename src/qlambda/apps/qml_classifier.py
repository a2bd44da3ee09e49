"""QML: a variational classifier of scikit-learn's digits, trained data-parallel.

Pilot-Quantum's QML mini-app at this machine's scale. Two digit classes of the digits
data set that ships inside scikit-learn (8x8 images) are reduced by PCA to as many
features as the circuit has qubits and scaled to angles in ``[0, π]``; a circuit
*re-uploads* them (``RY(x_i)`` on qubit ``i``) before each of its ``layers`` trainable
layers (``RY``, ``RZ`` per qubit, then a CX chain). The model's output is
``f(x) = <Z_0> + b`` (a classical bias ``b``), its prediction the sign of ``f``, its
loss the mean squared error against labels ``±1``.

Gradients come from the parameter-shift rule: every weight appears in one rotation,
so ``∂<Z_0>/∂w_j = (<Z_0>(w + π/2 e_j) - <Z_0>(w - π/2 e_j)) / 2`` exactly. One
gradient evaluation of a shard of the training set is **one estimator request** whose
``2P + 1`` PUBs are the unshifted circuit and every shifted one, each bound to all the
shard's samples (:func:`shift_pubs`): a single quantum task in the platform's queues.

Training is data-parallel: the training set is cut into shards, each step runs one
job per shard (:func:`shard_gradient`, the serverless function) on the platform's
workers, and the driver (:func:`train`) averages their gradients, weighted by shard
size, and takes an Adam step. The shards' sums add up to the whole set's, so the
sharded gradient is the unsharded one (a test checks it). :func:`train_bare` runs the
same loop on a ``ProcessPoolExecutor`` with Aer's own estimator: the baseline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qlambda.apps.maxcut_problem import check_positive_int
from qlambda.core.arrays import FloatArray

__all__ = [
    "DigitsTask",
    "ShardGradient",
    "TrainingResult",
    "bare_gradient",
    "classical_baseline",
    "classifier_circuit",
    "combine",
    "evaluate",
    "initial_weights",
    "load_digits_task",
    "number_of_weights",
    "predict",
    "readout",
    "shard_gradient",
    "shift_pubs",
    "train",
    "train_bare",
]

DEFAULT_CLASSES = (3, 5)
"""Two digits a linear model separates well but not trivially (0 against 1 is)."""
MAX_FEATURES = 12
"""PCA features, one qubit each: past this a shard's request grows too heavy here."""
SHIFT = math.pi / 2

Progress = Callable[[int, int, float], None]
"""``(step done, steps in all, loss before the step)``."""


@dataclass(frozen=True)
class DigitsTask:
    """Two classes of the digits, as angles: train and held-out test samples.

    ``x_*`` rows are samples (``features`` angles in ``[0, π]``), ``y_*`` labels
    ``-1`` (the first class) and ``+1`` (the second).
    """

    classes: tuple[int, int]
    features: int
    x_train: FloatArray
    y_train: FloatArray
    x_test: FloatArray
    y_test: FloatArray

    def shards(self, count: int) -> list[tuple[FloatArray, FloatArray]]:
        """The training set in ``count`` contiguous parts of near-equal size."""
        check_positive_int("shards", count)
        if count > len(self.y_train):
            raise ValueError(
                f"{count} shards of {len(self.y_train)} training samples would leave some "
                f"empty; accepted: at most {len(self.y_train)} shards"
            )
        parts = np.array_split(np.arange(len(self.y_train)), count)
        return [(self.x_train[index], self.y_train[index]) for index in parts]


def load_digits_task(
    classes: Sequence[int] = DEFAULT_CLASSES,
    features: int = 4,
    *,
    test_fraction: float = 0.3,
    train_samples: int | None = None,
    seed: int = 0,
) -> DigitsTask:
    """scikit-learn's digits, two ``classes``, PCA to ``features`` angles.

    The split is stratified and seeded; the scaler, the PCA and the angle range are
    fitted on the training samples only (test angles are clipped into ``[0, π]``).
    ``train_samples`` keeps that many training samples (stratified), for small runs.
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    pair = tuple(classes)
    if len(pair) != 2 or len(set(pair)) != 2 or not all(c in range(10) for c in pair):
        raise ValueError(f"classes must be two different digits from 0 to 9, got {classes!r}")
    if isinstance(features, bool) or not isinstance(features, int):
        raise ValueError(f"features must be an integer, got {features!r}")
    if not 1 <= features <= MAX_FEATURES:
        raise ValueError(f"features must be from 1 to {MAX_FEATURES} (one qubit each)")
    if not 0.05 <= test_fraction <= 0.8:
        raise ValueError(f"test_fraction must be from 0.05 to 0.8, got {test_fraction!r}")
    images, digits = load_digits(return_X_y=True)
    keep = np.isin(digits, pair)
    x, y = images[keep], np.where(digits[keep] == pair[0], -1.0, 1.0)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    if train_samples is not None:
        check_positive_int("train_samples", train_samples)
        if train_samples < len(y_train):
            if train_samples < 4:
                raise ValueError("train_samples must be at least 4 (two per class)")
            x_train, _, y_train, _ = train_test_split(
                x_train, y_train, train_size=train_samples, random_state=seed, stratify=y_train
            )
    scaler = StandardScaler().fit(x_train)
    pca = PCA(features, random_state=seed).fit(scaler.transform(x_train))
    reduced_train = pca.transform(scaler.transform(x_train))
    reduced_test = pca.transform(scaler.transform(x_test))
    angles = MinMaxScaler((0.0, math.pi)).fit(reduced_train)
    return DigitsTask(
        classes=(int(pair[0]), int(pair[1])),
        features=features,
        x_train=angles.transform(reduced_train),
        y_train=y_train,
        x_test=np.clip(angles.transform(reduced_test), 0.0, math.pi),
        y_test=y_test,
    )


def classical_baseline(task: DigitsTask) -> float:
    """Test accuracy of a logistic regression on the same features."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(task.x_train, task.y_train)
    return float(model.score(task.x_test, task.y_test))


def classifier_circuit(features: int, layers: int = 2) -> QuantumCircuit:
    """``layers`` times: ``RY(x_i)`` on every qubit, ``RY(w)`` and ``RZ(w)`` on every
    qubit, a CX chain; ``2 * features * layers`` weights ``w``, features ``x``."""
    check_positive_int("features", features)
    check_positive_int("layers", layers)
    x = ParameterVector("x", features)
    w = ParameterVector("w", 2 * features * layers)
    circuit = QuantumCircuit(features)
    weight = 0
    for _ in range(layers):
        for qubit in range(features):
            circuit.ry(x[qubit], qubit)
        for qubit in range(features):
            circuit.ry(w[weight], qubit)
            circuit.rz(w[weight + 1], qubit)
            weight += 2
        for qubit in range(features - 1):
            circuit.cx(qubit, qubit + 1)
    return circuit


def number_of_weights(features: int, layers: int) -> int:
    return 2 * features * layers


def readout(features: int) -> SparsePauliOp:
    """``Z`` on qubit 0."""
    return SparsePauliOp.from_sparse_list([("Z", [0], 1.0)], num_qubits=features)


def _bindings(circuit: QuantumCircuit, x: FloatArray, weights: FloatArray) -> FloatArray:
    """One row per sample, columns in ``circuit.parameters`` order (sorted by name)."""
    values = np.empty((len(x), circuit.num_parameters))
    for column, parameter in enumerate(circuit.parameters):
        index = parameter.index  # a ParameterVectorElement: "x[i]" or "w[j]"
        values[:, column] = x[:, index] if parameter.name.startswith("x[") else weights[index]
    return values


def shift_pubs(
    circuit: QuantumCircuit, x: FloatArray, weights: FloatArray
) -> list[tuple[QuantumCircuit, SparsePauliOp, FloatArray]]:
    """The ``2P + 1`` PUBs of one gradient evaluation: unshifted, then each weight
    shifted by ``+π/2``, then each by ``-π/2``; every PUB binds all samples."""
    observable = readout(circuit.num_qubits)
    pubs = [(circuit, observable, _bindings(circuit, x, weights))]
    for sign in (1.0, -1.0):
        for j in range(len(weights)):
            shifted = weights.copy()
            shifted[j] += sign * SHIFT
            pubs.append((circuit, observable, _bindings(circuit, x, shifted)))
    return pubs


@dataclass(frozen=True)
class ShardGradient:
    """Sums over one shard's samples, so shards combine exactly: squared errors,
    the gradient of the squared errors (weights, then bias) and correct predictions."""

    count: int
    loss_sum: float
    gradient_sum: list[float]
    bias_gradient_sum: float
    correct: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gradient_from_values(values: FloatArray, y: FloatArray, bias: float) -> ShardGradient:
    """From the ``(2P + 1, samples)`` expectation values of :func:`shift_pubs`."""
    weights = (len(values) - 1) // 2
    error = values[0] + bias - y
    derivatives = (values[1 : weights + 1] - values[weights + 1 :]) / 2
    return ShardGradient(
        count=len(y),
        loss_sum=float(np.sum(error**2)),
        gradient_sum=[float(v) for v in 2 * derivatives @ error],
        bias_gradient_sum=float(2 * np.sum(error)),
        correct=int(np.sum(np.sign(values[0] + bias) == y)),
    )


def _estimate_gradient(
    estimator: Callable[[], Any], x: Any, y: Any, weights: Any, bias: float, layers: int
) -> ShardGradient:
    """Checks the shard before it asks ``estimator()`` for the primitive."""
    x_array, y_array, w_array = _check_shard(x, y, weights, layers)
    circuit = classifier_circuit(x_array.shape[1], layers)
    result = estimator().run(shift_pubs(circuit, x_array, w_array)).result()
    values = np.array([np.asarray(pub.data.evs, dtype=float) for pub in result])
    return gradient_from_values(values, y_array, float(bias))


def _check_shard(
    x: Any, y: Any, weights: Any, layers: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x_array = np.asarray(x, dtype=float)
    y_array = np.asarray(y, dtype=float)
    w_array = np.asarray(weights, dtype=float)
    if x_array.ndim != 2 or len(x_array) == 0 or len(x_array) != len(y_array):
        raise ValueError(
            f"x must be a non-empty list of samples (lists of angles) and y one label per "
            f"sample; got x of shape {x_array.shape} and {len(y_array)} labels"
        )
    if not np.all(np.isin(y_array, (-1.0, 1.0))):
        raise ValueError("labels must be -1 or +1")
    expected = number_of_weights(x_array.shape[1], layers)
    if w_array.shape != (expected,):
        raise ValueError(
            f"{x_array.shape[1]} features and {layers} layers take {expected} weights, "
            f"got {w_array.size}"
        )
    return x_array, y_array, w_array


class FunctionContext(Protocol):
    """What the serverless functions use of the platform's function context."""

    def estimator(self, backend: str | None = None) -> Any: ...


def shard_gradient(
    ctx: FunctionContext,
    x: list[list[float]],
    y: list[float],
    weights: list[float],
    bias: float = 0.0,
    layers: int = 2,
    backend: str | None = None,
) -> dict[str, Any]:
    """The serverless function: the loss and gradient sums of one shard, from one
    estimator request (one quantum task) of ``2P + 1`` PUBs; a :class:`ShardGradient`
    as a dict."""
    check_positive_int("layers", layers)
    return _estimate_gradient(lambda: ctx.estimator(backend), x, y, weights, bias, layers).to_dict()


def predict(
    ctx: FunctionContext,
    x: list[list[float]],
    weights: list[float],
    bias: float = 0.0,
    layers: int = 2,
    backend: str | None = None,
) -> list[float]:
    """The serverless function: ``f(x)`` of every sample, in one estimator request."""
    check_positive_int("layers", layers)
    x_array = np.asarray(x, dtype=float)
    _check_shard(x_array, np.ones(len(x_array)), weights, layers)
    circuit = classifier_circuit(x_array.shape[1], layers)
    bindings = _bindings(circuit, x_array, np.asarray(weights, dtype=float))
    result = ctx.estimator(backend).run([(circuit, readout(circuit.num_qubits), bindings)])
    return [float(v) + float(bias) for v in np.atleast_1d(result.result()[0].data.evs)]


def evaluate(outputs: Sequence[float] | FloatArray, y: FloatArray) -> float:
    """Accuracy of the signs of ``outputs`` against labels ``y``."""
    return float(np.mean(np.sign(np.asarray(outputs)) == y))


def combine(parts: Sequence[ShardGradient | dict[str, Any]]) -> tuple[float, FloatArray, float]:
    """The whole set's mean loss, weight gradient and bias gradient from shard sums."""
    shards = [p if isinstance(p, ShardGradient) else ShardGradient(**p) for p in parts]
    count = sum(s.count for s in shards)
    if not count:
        raise ValueError("no samples in the shards to combine")
    gradient = np.sum([np.asarray(s.gradient_sum) for s in shards], axis=0) / count
    loss = sum(s.loss_sum for s in shards) / count
    return loss, gradient, sum(s.bias_gradient_sum for s in shards) / count


class Adam:
    """Adam on a flat vector (weights then bias), as in Kingma and Ba."""

    def __init__(self, size: int, rate: float, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.rate, self.beta1, self.beta2 = rate, beta1, beta2
        self.first: FloatArray = np.zeros(size)
        self.second: FloatArray = np.zeros(size)
        self.steps = 0

    def step(self, gradient: FloatArray) -> FloatArray:
        self.steps += 1
        self.first = self.beta1 * self.first + (1 - self.beta1) * gradient
        self.second = self.beta2 * self.second + (1 - self.beta2) * gradient**2
        first = self.first / (1 - self.beta1**self.steps)
        second = self.second / (1 - self.beta2**self.steps)
        update: FloatArray = self.rate * first / (np.sqrt(second) + 1e-8)
        return update


@dataclass(frozen=True)
class TrainingResult:
    """One training run. ``seconds`` and ``seconds_per_step`` cover the gradient steps
    only (not the test evaluation); ``losses`` is the training loss before each step."""

    where: str
    workers: int
    shards: int
    steps: int
    train_samples: int
    test_samples: int
    features: int
    layers: int
    weights: list[float]
    bias: float
    losses: list[float]
    train_accuracy: float
    test_accuracy: float
    baseline_accuracy: float
    seconds: float
    seconds_per_step: float
    quantum_requests: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GradientOf = Callable[[FloatArray, float], list[ShardGradient | dict[str, Any]]]
"""Computes every shard's :class:`ShardGradient` for the given weights and bias."""


def optimise(
    gradient_of: GradientOf,
    weights: FloatArray,
    steps: int,
    rate: float,
    on_step: Progress | None = None,
) -> tuple[FloatArray, float, list[float], float, float]:
    """Adam for ``steps`` steps; (weights, bias, losses, last train accuracy, seconds)."""
    check_positive_int("steps", steps)
    if not rate > 0:
        raise ValueError(f"the learning rate must be positive, got {rate!r}")
    adam = Adam(len(weights) + 1, rate)
    bias = 0.0
    losses: list[float] = []
    accuracy = 0.0
    started = time.perf_counter()
    for step in range(1, steps + 1):
        parts = gradient_of(weights, bias)
        loss, gradient, bias_gradient = combine(parts)
        shards = [p if isinstance(p, ShardGradient) else ShardGradient(**p) for p in parts]
        accuracy = sum(s.correct for s in shards) / sum(s.count for s in shards)
        losses.append(loss)
        update = adam.step(np.append(gradient, bias_gradient))
        weights = weights - update[:-1]
        bias -= float(update[-1])
        if on_step is not None:
            on_step(step, steps, loss)
    return weights, bias, losses, accuracy, time.perf_counter() - started


def initial_weights(features: int, layers: int, seed: int) -> FloatArray:
    """Small random angles: the circuit starts near a product state, away from the
    flat regions of a fully random one."""
    size = number_of_weights(features, layers)
    return np.random.default_rng(seed).uniform(-0.3, 0.3, size)


class Runner(Protocol):
    """A qlambda ``Client`` (embedded or remote): ``run(fn, **kwargs)`` gives a job."""

    def run(self, function: Any, /, **kwargs: Any) -> Any: ...


def train(
    client: Runner,
    task: DigitsTask,
    shards: int,
    *,
    layers: int = 2,
    steps: int = 30,
    rate: float = 0.1,
    seed: int = 0,
    backend: str | None = None,
    workers: int = 0,
    where: str = "platform",
    timeout: float | None = 600.0,
    on_step: Progress | None = None,
) -> TrainingResult:
    """Train on the platform behind ``client``: each step one :func:`shard_gradient`
    job per shard, all in flight at once, averaged here; then one :func:`predict` job
    on the test set. ``workers`` is recorded in the result (the platform's size)."""
    check_positive_int("layers", layers)
    parts = task.shards(shards)
    plain = [(x.tolist(), y.tolist()) for x, y in parts]

    def gradient_of(weights: FloatArray, bias: float) -> list[ShardGradient | dict[str, Any]]:
        jobs = [
            client.run(
                shard_gradient,
                x=x,
                y=y,
                weights=weights.tolist(),
                bias=bias,
                layers=layers,
                backend=backend,
            )
            for x, y in plain
        ]
        return [job.result(timeout) for job in jobs]

    weights, bias, losses, train_accuracy, seconds = optimise(
        gradient_of, initial_weights(task.features, layers, seed), steps, rate, on_step
    )
    outputs = client.run(
        predict,
        x=task.x_test.tolist(),
        weights=weights.tolist(),
        bias=bias,
        layers=layers,
        backend=backend,
    ).result(timeout)
    return _result(
        where,
        workers,
        shards,
        steps,
        task,
        layers,
        weights,
        bias,
        losses,
        train_accuracy,
        evaluate(outputs, task.y_test),
        seconds,
        steps * shards,
    )


def _result(
    where: str,
    workers: int,
    shards: int,
    steps: int,
    task: DigitsTask,
    layers: int,
    weights: FloatArray,
    bias: float,
    losses: list[float],
    train_accuracy: float,
    test_accuracy: float,
    seconds: float,
    requests: int,
) -> TrainingResult:
    return TrainingResult(
        where=where,
        workers=workers,
        shards=shards,
        steps=steps,
        train_samples=len(task.y_train),
        test_samples=len(task.y_test),
        features=task.features,
        layers=layers,
        weights=[float(w) for w in weights],
        bias=bias,
        losses=losses,
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        baseline_accuracy=classical_baseline(task),
        seconds=seconds,
        seconds_per_step=seconds / steps,
        quantum_requests=requests,
    )


def bare_gradient(x: Any, y: Any, weights: Any, bias: float, layers: int) -> ShardGradient:
    """One shard's gradient on Aer's own EstimatorV2 in this process (exact values)."""
    from qiskit_aer.primitives import EstimatorV2

    return _estimate_gradient(EstimatorV2, x, y, weights, bias, layers)


def train_bare(
    task: DigitsTask,
    shards: int,
    pool: Executor | None = None,
    *,
    layers: int = 2,
    steps: int = 30,
    rate: float = 0.1,
    seed: int = 0,
    on_step: Progress | None = None,
) -> TrainingResult:
    """The baseline: the same training, each shard's gradient a task of ``pool`` (a
    ``ProcessPoolExecutor``; None: every shard in this process, one after another)."""
    from qiskit_aer.primitives import EstimatorV2

    parts = task.shards(shards)

    def gradient_of(weights: FloatArray, bias: float) -> list[ShardGradient | dict[str, Any]]:
        if pool is None:
            return [bare_gradient(x, y, weights, bias, layers) for x, y in parts]
        futures = [pool.submit(bare_gradient, x, y, weights, bias, layers) for x, y in parts]
        return [future.result() for future in futures]

    weights, bias, losses, train_accuracy, seconds = optimise(
        gradient_of, initial_weights(task.features, layers, seed), steps, rate, on_step
    )
    circuit = classifier_circuit(task.features, layers)
    bindings = _bindings(circuit, task.x_test, weights)
    values = EstimatorV2().run([(circuit, readout(task.features), bindings)]).result()[0].data.evs
    workers = int(getattr(pool, "_max_workers", 1) or 1)
    return _result(
        "bare",
        workers,
        shards,
        steps,
        task,
        layers,
        weights,
        bias,
        losses,
        train_accuracy,
        evaluate(np.asarray(values) + bias, task.y_test),
        seconds,
        steps * shards,
    )
