"""GHZ-4 on a noisy fake device (FakeKolkataV2): mitigation brings <ZZZZ> closer to 1.

Real Aer with the device's noise model, real mitiq; the runtime is seeded, each call draws
a fresh simulator seed, so repeats are independent yet the test is reproducible.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.pipeline import PassThrough
from qlambda.quantum.primitives import PlatformEstimatorV2

REPEATS = 8
PRECISION = 1 / 64  # 4096 shots


def ghz4() -> QuantumCircuit:
    circuit = QuantumCircuit(4)
    circuit.h(0)
    for qubit in range(3):
        circuit.cx(qubit, qubit + 1)
    return circuit


def measured(submit, options) -> np.ndarray:
    estimator = PlatformEstimatorV2(submit, options=options, default_precision=PRECISION)
    return np.array(
        [float(estimator.run([(ghz4(), "ZZZZ")]).result()[0].data.evs) for _ in range(REPEATS)]
    )


@pytest.fixture(scope="module")
def values(kolkata_runtime, pool):
    def submit(request):
        return pool.submit(lambda: kolkata_runtime.execute(request).result)

    return {
        # the same measurement path, no mitigation: independent samples like the others
        "raw": measured(submit, [PassThrough()]),
        "readout": measured(submit, ["readout"]),
        "zne+readout": measured(submit, ["readout", "zne"]),
    }


def mean_error(samples: np.ndarray) -> float:
    return float(np.mean(np.abs(1.0 - samples)))


def test_the_noisy_device_really_is_noisy(values):
    assert mean_error(values["raw"]) > 0.03


def test_readout_mitigation_reduces_the_mean_error(values):
    assert mean_error(values["readout"]) < 0.6 * mean_error(values["raw"])


def test_zne_with_readout_reduces_the_mean_error(values):
    assert mean_error(values["zne+readout"]) < 0.6 * mean_error(values["raw"])


def test_a_sampler_gets_a_readout_mitigated_distribution(kolkata_submit):
    from qlambda.quantum.primitives import PlatformSamplerV2

    circuit = ghz4()
    circuit.measure_all()
    raw, mitigated = [], []
    for _ in range(4):
        result = PlatformSamplerV2(kolkata_submit, options=["readout"]).run([circuit], shots=4096)
        pub = result.result()[0]
        counts = pub.data.meas.get_counts()
        raw.append((counts.get("0000", 0) + counts.get("1111", 0)) / 4096)
        quasi = pub.metadata["quasi_dists"]["meas"]
        mitigated.append(quasi.get("0000", 0.0) + quasi.get("1111", 0.0))
        assert sum(quasi.values()) == pytest.approx(1.0)
    assert np.mean(np.abs(1 - np.array(mitigated))) < 0.6 * np.mean(np.abs(1 - np.array(raw)))


def test_a_sampler_takes_readout_zne_and_ddd_in_one_simulator_call(kolkata_submit):
    from qlambda.quantum.primitives import PlatformSamplerV2

    circuit = ghz4()
    circuit.measure_all()
    sampler = PlatformSamplerV2(kolkata_submit, options=["readout", "zne", "ddd"])
    raw, mitigated = [], []
    for _ in range(4):
        result = sampler.run([circuit], shots=4096).result()
        assert result.metadata["simulator_calls"] == 1
        assert result.metadata["circuits"] == 3  # the three scale factors
        pub = result[0]
        counts = pub.data.meas.get_counts()  # the unfolded circuit's own counts
        assert sum(counts.values()) == 4096
        raw.append((counts.get("0000", 0) + counts.get("1111", 0)) / 4096)
        quasi = pub.metadata["quasi_dists"]["meas"]
        mitigated.append(quasi.get("0000", 0.0) + quasi.get("1111", 0.0))
        assert sum(quasi.values()) == pytest.approx(1.0, abs=1e-6)
    assert np.mean(np.abs(1 - np.array(mitigated))) < 0.6 * np.mean(np.abs(1 - np.array(raw)))


def test_the_reported_standard_error_matches_the_spread_over_repeats(kolkata_submit, values):
    estimator = PlatformEstimatorV2(kolkata_submit, options=["readout", "zne"])
    result = estimator.run([(ghz4(), "ZZZZ")], precision=PRECISION).result()
    reported = float(result[0].data.stds)
    plain = PlatformEstimatorV2(kolkata_submit, options=["readout"])
    unextrapolated = float(plain.run([(ghz4(), "ZZZZ")], precision=PRECISION).result()[0].data.stds)
    assert reported > 1.5 * unextrapolated  # extrapolation amplifies shot noise
    spread = float(np.std(values["zne+readout"], ddof=1))
    assert reported / 3 < spread < reported * 3
    assert result.metadata["simulator_calls"] == 1
