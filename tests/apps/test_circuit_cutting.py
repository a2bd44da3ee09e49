"""Circuit cutting: the reconstructed value agrees with the exact one within shot noise."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import SamplerV2

import qlambda
from qlambda.apps import circuit_cutting
from qlambda.apps.circuit_cutting import (
    cut_and_run,
    cutting_circuit,
    exact_expectation,
    mean_z,
    plan_cuts,
)
from qlambda.core.events import EventKind

# The shot-noise bound of circuit_cutting.shot_sigma is conservative; 4 of them
# is a tolerance a correct reconstruction misses with probability well below 1e-4.
TOLERANCE_SIGMAS = 4


def small_angle_circuit(num_qubits: int) -> object:
    """EfficientSU2 near |0...0>: <mean Z> is far from 0, so a reconstruction that
    lost a term (or returned 0) is far outside the tolerance."""
    circuit = efficient_su2(num_qubits, reps=2, entanglement="linear")
    angles = np.random.default_rng(5).uniform(0.0, 0.4, circuit.num_parameters)
    return circuit.assign_parameters(angles)


def test_two_cuts_give_the_seeds_72_subexperiments():
    plan = plan_cuts(cutting_circuit(8, reps=2, seed=1), mean_z(8), 4)
    assert len(plan.cuts) == 2
    assert plan.num_subexperiments == 72
    assert sorted(plan.subcircuit_widths.values()) == [4, 4]
    assert plan.sampling_overhead == pytest.approx(81.0)


def test_reconstruction_is_within_shot_noise_of_the_exact_value():
    circuit = small_angle_circuit(6)
    observable = mean_z(6)
    shots = 4096
    result = cut_and_run(circuit, observable, 3, [SamplerV2()], shots=shots, batch=12)
    exact = exact_expectation(circuit, observable)
    assert result.exact == pytest.approx(exact)
    assert abs(exact) > 0.5  # what the tolerance below must be small against
    assert result.sigma < 0.1
    assert result.cuts >= 1 and max(result.subcircuit_widths) <= 3
    assert abs(result.value - exact) <= TOLERANCE_SIGMAS * result.sigma
    assert result.error == pytest.approx(result.value - exact)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((6,), "subcircuit_qubits must be from 2 to 5"),
        ((1,), "subcircuit_qubits must be from 2 to 5"),
        (("3",), "subcircuit_qubits must be an integer"),
    ],
)
def test_subcircuit_sizes_that_need_no_cut_or_make_no_sense_are_refused(arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        plan_cuts(cutting_circuit(6), mean_z(6), *arguments)


def test_circuits_and_observables_that_cannot_be_cut_are_refused():
    unbound = efficient_su2(6, reps=1)
    with pytest.raises(ValueError, match="free parameters"):
        plan_cuts(unbound, mean_z(6), 3)
    measured = cutting_circuit(6).measure_all(inplace=False)
    with pytest.raises(ValueError, match="without measurements"):
        plan_cuts(measured, mean_z(6), 3)
    with pytest.raises(ValueError, match="on the circuit's 6 qubits"):
        plan_cuts(cutting_circuit(6), mean_z(5), 3)
    with pytest.raises(ValueError, match="real coefficients"):
        plan_cuts(cutting_circuit(6), SparsePauliOp("ZIIIII", 1j), 3)
    with pytest.raises(ValueError, match="sampling overhead under 4"):
        plan_cuts(cutting_circuit(6), mean_z(6), 2, max_overhead=4)


def test_serverless_arguments_are_checked():
    with pytest.raises(ValueError, match="non-empty list of names"):
        circuit_cutting.run(None, backends=[])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shots must be"):
        circuit_cutting.run(None, shots=0)  # type: ignore[arg-type]


def test_subexperiments_run_as_tasks_spread_over_backends_narrower_than_the_circuit(tmp_path):
    backends = [{"name": name, "kind": "aer", "num_qubits": 4} for name in ("qpu-a", "qpu-b")]
    with qlambda.Client(data_dir=tmp_path, workers=1, backends=backends, seed=3) as client:
        assert client.wait_ready(180)
        job = client.run(
            circuit_cutting.run,
            qubits=6,
            subcircuit_qubits=3,
            reps=1,
            shots=2048,
            backends=["qpu-a", "qpu-b"],
            batch=6,
        )
        result = job.result(600)
        finished = [e for e in job.events() if e.kind == EventKind.QPU_FINISHED]
        completed = {b["backend"]: b["completed"] for b in client.backends()}
    assert result["num_qubits"] == 6 and max(result["subcircuit_widths"]) <= 3
    assert len(finished) == result["tasks"] >= 2
    assert result["subexperiments"] > result["tasks"]
    # dealt round-robin: each backend ran half the tasks (one more for an odd count)
    assert sorted(completed.values()) == [len(finished) // 2, (len(finished) + 1) // 2]
    assert abs(result["error"]) <= TOLERANCE_SIGMAS * result["sigma"]
