"""The ``qlambda.platform`` PennyLane device against ``default.qubit``, on real simulators.

Sample-based measurements (probs, counts, sample) must come back exactly as
``default.qubit`` shapes them (types, dtypes, keys, wire and bit order) and agree with its
exact probabilities within shot noise; expval and var come from the estimator.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.sdk.pennylane_device import QlambdaDevice, UnsupportedMeasurementError

WIRES = ["a", "b", "c"]
SHOTS = 4000
TOLERANCE = 0.04  # five standard errors of a frequency at 4000 shots


def prepare() -> None:
    # distinct, correlated marginals: a swapped wire or bit order changes every answer
    qml.X("a")
    qml.RY(0.8, wires="b")
    qml.RY(2.0, wires="c")
    qml.CNOT(wires=["b", "c"])


def platform_device(submit, wires=WIRES) -> QlambdaDevice:
    return qml.device(
        "qlambda.platform",
        wires=wires,
        estimator=PlatformEstimatorV2(submit, default_precision=1 / 128),
        sampler=PlatformSamplerV2(submit),
    )


def run(device, measure, shots=SHOTS):
    @qml.qnode(device, shots=shots)
    def circuit():
        prepare()
        return measure()

    return circuit()


def exact_probs(wires) -> np.ndarray:
    return run(qml.device("default.qubit", wires=WIRES), lambda: qml.probs(wires=wires), None)


def exact_expval(observable) -> float:
    reference = qml.device("default.qubit", wires=WIRES)
    return float(run(reference, lambda: qml.expval(observable), None))


def same_form(ours, theirs) -> None:
    """Equal structure, types, dtypes, shapes and dictionary keys (values may differ).

    expval and var are Python floats, as the device has always returned them.
    """
    if isinstance(theirs, np.floating):
        assert isinstance(ours, float)
        return
    assert type(ours) is type(theirs)
    if isinstance(theirs, tuple):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            same_form(a, b)
    elif isinstance(theirs, dict):
        assert {type(k) for k in ours} == {type(k) for k in theirs}
        assert {type(v) for v in ours.values()} == {type(v) for v in theirs.values()}
    else:
        assert np.shape(ours) == np.shape(theirs)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype


MEASUREMENTS = {
    "probs of some wires, reordered": lambda: qml.probs(wires=["c", "a", "b"]),
    "probs of all wires": lambda: qml.probs(),
    "probs of a Pauli word": lambda: qml.probs(op=qml.X("c")),
    "counts of wires": lambda: qml.counts(wires=["c", "b"]),
    "counts, all outcomes": lambda: qml.counts(wires=["a", "b"], all_outcomes=True),
    "counts of an observable": lambda: qml.counts(qml.Z("b") @ qml.Z("c")),
    "samples of wires": lambda: qml.sample(wires=["b", "c"]),
    "samples of one wire": lambda: qml.sample(wires="c"),
    "samples of an observable": lambda: qml.sample(qml.Y("b")),
    "expval, var and probs": lambda: (
        qml.expval(qml.Z("b")),
        qml.var(qml.X("c")),
        qml.probs(wires=["b"]),
    ),
}


@pytest.mark.parametrize("measure", MEASUREMENTS.values(), ids=MEASUREMENTS.keys())
@pytest.mark.parametrize("shots", [SHOTS, [1000, (500, 2)]], ids=["shots", "shot vector"])
def test_results_have_default_qubit_s_form(aer_submit, measure, shots):
    ours = run(platform_device(aer_submit), measure, shots)
    theirs = run(qml.device("default.qubit", wires=WIRES), measure, shots)
    same_form(ours, theirs)


@pytest.mark.parametrize("wires", [["c", "a", "b"], ["b"], ["c", "b"]])
def test_probabilities_follow_pennylane_s_wire_order(aer_submit, wires):
    probs = run(platform_device(aer_submit), lambda: qml.probs(wires=wires))
    assert np.allclose(probs, exact_probs(wires), atol=TOLERANCE)


def test_counts_and_samples_are_big_endian_in_the_measured_wires(aer_submit):
    device = platform_device(aer_submit)
    counts = run(device, lambda: qml.counts(wires=["c", "b"], all_outcomes=True))
    samples = run(device, lambda: qml.sample(wires=["c", "a"]))
    assert list(counts) == ["00", "01", "10", "11"]
    assert sum(counts.values()) == SHOTS
    # the first character is wire c, the second wire b, as in qml.probs(wires=["c", "b"])
    frequencies = np.array([counts[k] for k in counts]) / SHOTS
    assert np.allclose(frequencies, exact_probs(["c", "b"]), atol=TOLERANCE)
    assert samples.shape == (SHOTS, 2)
    assert (samples[:, 1] == 1).all()  # wire a is flipped
    assert samples[:, 0].mean() == pytest.approx(exact_probs(["c"])[1], abs=TOLERANCE)


def test_observable_measurements_rotate_into_the_observable_s_basis(aer_submit):
    device = platform_device(aer_submit)
    samples = run(device, lambda: qml.sample(qml.X("b") @ qml.X("c")))
    assert set(np.unique(samples)) == {-1.0, 1.0}
    assert samples.mean() == pytest.approx(exact_expval(qml.X("b") @ qml.X("c")), abs=0.08)
    plus = run(device, lambda: qml.probs(op=qml.X("a")))  # |1> on a: X is +1 or -1, evenly
    assert np.allclose(plus, [0.5, 0.5], atol=TOLERANCE)
    parity = run(device, lambda: qml.counts(qml.Z("b") @ qml.Z("c")))
    exact = exact_probs(["b", "c"])
    assert parity[-1.0] / SHOTS == pytest.approx(exact[1] + exact[2], abs=TOLERANCE)


def test_variances_of_pauli_words_and_sums(aer_submit):
    device = platform_device(aer_submit)
    reference = qml.device("default.qubit", wires=WIRES)
    observables = [qml.Z("b"), qml.X("a"), qml.Z("b") + 0.5 * qml.Z("c"), qml.Z("b") + qml.X("b")]
    for observable in observables:
        ours = run(device, lambda o=observable: qml.var(o))
        exact = run(reference, lambda o=observable: qml.var(o), None)
        assert isinstance(ours, float)
        assert ours == pytest.approx(float(exact), abs=0.06)


def test_a_mixed_tape_is_one_estimator_and_one_sampler_request(aer_submit):
    expval, var, probs = run(
        platform_device(aer_submit),
        lambda: (qml.expval(qml.Z("b")), qml.var(qml.Z("b")), qml.probs(wires=["b", "c"])),
    )
    assert sorted(r.primitive for r in aer_submit.requests) == ["estimator", "sampler"]
    assert expval == pytest.approx(np.cos(0.8), abs=0.05)
    assert var == pytest.approx(np.sin(0.8) ** 2, abs=0.05)
    assert np.allclose(probs, exact_probs(["b", "c"]), atol=TOLERANCE)


def test_a_shot_vector_gives_independent_partitions(aer_submit):
    result = run(
        platform_device(aer_submit),
        lambda: (qml.expval(qml.Z("c")), qml.sample(wires=["a"])),
        [(300, 3)],
    )
    assert len(result) == 3
    expvals = [partition[0] for partition in result]
    assert len(set(expvals)) == 3  # each partition its own estimate, not one copied
    assert all(partition[1].shape == (300, 1) for partition in result)
    assert len(aer_submit.requests) == 2


def test_a_parameter_shift_jacobian_of_probabilities_is_one_sampler_request(aer_submit):
    def jacobian(device, shots):
        @qml.qnode(device, shots=shots, diff_method="parameter-shift")
        def circuit(x):
            qml.RY(x[0], wires=0)
            qml.RY(x[1], wires=1)
            qml.CNOT(wires=[0, 1])
            return qml.probs(wires=[0, 1])

        return qml.jacobian(circuit)(pnp.array([0.7, -0.4], requires_grad=True))

    ours = jacobian(platform_device(aer_submit, wires=2), 20000)
    exact = jacobian(qml.device("default.qubit", wires=2), None)
    assert ours.shape == exact.shape == (4, 2)
    assert np.allclose(ours, exact, atol=0.03)
    # the device computes the gradient: the forward tape and all four shifted tapes in one
    assert [r.primitive for r in aer_submit.requests] == ["sampler"]
    assert len(aer_submit.requests[0].pubs) == 5


@pytest.mark.parametrize(
    "measure",
    [
        qml.state,
        lambda: qml.density_matrix(wires=["a"]),
        lambda: qml.mutual_info(wires0=["a"], wires1=["b"]),
        lambda: qml.vn_entropy(wires=["a"]),
        lambda: qml.sample(qml.Hermitian(np.eye(2), wires="a")),
    ],
    ids=["state", "density_matrix", "mutual_info", "vn_entropy", "sample of a Hermitian"],
)
def test_unsupported_measurements_say_what_is_accepted(aer_submit, measure):
    with pytest.raises(UnsupportedMeasurementError, match=r"accepted: qml\.expval and qml\.var"):
        run(platform_device(aer_submit), measure)
    assert aer_submit.requests == []


@pytest.mark.parametrize("measure", [qml.probs, qml.counts, qml.sample])
def test_sample_based_measurements_need_shots(aer_submit, measure):
    with pytest.raises(ValueError, match=r"needs shots: give the QNode shots"):
        run(platform_device(aer_submit), lambda: measure(wires=["a"]), None)
    assert aer_submit.requests == []


def test_a_device_without_a_sampler_says_what_to_give(aer_submit):
    device = qml.device("qlambda.platform", wires=WIRES, estimator=PlatformEstimatorV2(aer_submit))
    with pytest.raises(ValueError, match=r"sampler=ctx\.sampler"):
        run(device, lambda: qml.probs(wires=["a"]))


def test_probabilities_on_a_noisy_transpiled_device(kolkata_submit):
    # compiled onto FakeKolkataV2's qubits: layout must not reorder PennyLane's wires
    probs = run(platform_device(kolkata_submit), lambda: qml.probs(wires=["c", "a", "b"]))
    assert np.allclose(probs, exact_probs(["c", "a", "b"]), atol=0.08)  # readout, gate noise


ANGLES = np.array([0.1, 2.5, np.pi])


def broadcast(device, measure, shots):
    @qml.qnode(device, shots=shots)
    def circuit(x):
        qml.RY(x, wires=0)
        qml.X(wires=1)
        return measure()

    return circuit(ANGLES)


@pytest.mark.parametrize(
    ("measure", "exact"),
    [
        (lambda: qml.expval(qml.Z(0)), lambda: qml.expval(qml.Z(0))),
        (lambda: qml.var(qml.Z(0)), lambda: qml.var(qml.Z(0))),
        (lambda: qml.probs(wires=[1, 0]), lambda: qml.probs(wires=[1, 0])),
        (lambda: qml.sample(wires=[0]), lambda: qml.probs(wires=[0])),
    ],
    ids=["expval", "var", "probs", "sample"],
)
def test_broadcast_parameters_run_as_one_batch(aer_submit, measure, exact):
    ours = broadcast(platform_device(aer_submit, wires=2), measure, SHOTS)
    same_form(ours, broadcast(qml.device("default.qubit", wires=2), measure, SHOTS))
    assert len(aer_submit.requests) == 1  # one request, not one per parameter set
    expected = broadcast(qml.device("default.qubit", wires=2), exact, None)
    if ours.ndim == 3:  # samples: parameter set x shots x wire; the frequency of 1
        ours, expected = ours.mean(axis=1), expected[:, 1:]
    assert np.allclose(ours, expected, atol=0.05)


def test_broadcast_counts_are_refused(aer_submit):
    @qml.qnode(platform_device(aer_submit, wires=1), shots=10)
    def circuit(x):
        qml.RY(x, wires=0)
        return qml.counts()

    with pytest.raises(UnsupportedMeasurementError, match="once per parameter set"):
        circuit(np.array([0.1, 0.2]))


def test_analytic_mode_is_analytic_on_an_ideal_simulator(aer_submit, kolkata_submit):
    """shots=None: default.qubit's exact values, to the last digits, and a gradient that
    is exact too; a noisy device cannot be exact and takes its default 4096 shots."""
    ideal = qml.device("qlambda.platform", wires=WIRES, estimator=PlatformEstimatorV2(aer_submit))
    observables = [qml.Z("b") @ qml.Z("c"), qml.X("b") + 0.5 * qml.Z("a"), qml.Y("c")]
    for observable in observables:
        ours = run(ideal, lambda observable=observable: qml.expval(observable), None)
        assert ours == pytest.approx(exact_expval(observable), abs=1e-12)
    variance = run(ideal, lambda: qml.var(qml.X("b")), None)
    reference = run(qml.device("default.qubit", wires=WIRES), lambda: qml.var(qml.X("b")), None)
    assert variance == pytest.approx(float(reference), abs=1e-12)

    def energy(device):
        @qml.qnode(device, diff_method="parameter-shift")
        def circuit(theta):
            qml.RY(theta, wires="a")
            qml.CNOT(wires=["a", "b"])
            return qml.expval(qml.Z("a") @ qml.Z("b") + qml.X("a"))

        return circuit

    theta = pnp.array(0.7, requires_grad=True)
    reference = qml.grad(energy(qml.device("default.qubit", wires=WIRES)))(theta)
    assert qml.grad(energy(ideal))(theta) == pytest.approx(float(reference), abs=1e-12)

    noisy = qml.device(
        "qlambda.platform", wires=WIRES, estimator=PlatformEstimatorV2(kolkata_submit)
    )
    run(noisy, lambda: qml.expval(qml.Z("b")), None)
    assert kolkata_submit.outcomes[-1].result[0].metadata["shots"] == 4096
