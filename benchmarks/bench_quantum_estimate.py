"""QPU time estimates against IBM Quantum's own, for the EfficientSU2 circuits of [1].

Baseline: IBM Runtime's ``usage_estimation["quantum_seconds"]`` for one Sampler job
running transpiled EfficientSU2(n) with 4096 shots, from the serverless_quantum_sim
dataset (``ibm_job_estimate_v5172cf5.csv``: ibm_nazca / ibm_strasbourg, Eagle r3).
Ours: ``estimate_qpu_seconds`` with the default device speed, on the circuit transpiled
for FakeSherbrooke (a 127-qubit Eagle), as a fake backend's executor estimates it.

Run: .venv/bin/python benchmarks/bench_quantum_estimate.py [path/to/ibm_job_estimate.csv]
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.transpiler import generate_preset_pass_manager

from qlambda.quantum.config import BackendConfig, make_fake_device
from qlambda.quantum.request import estimate_qpu_seconds, make_request
from qlambda.sim.traces import BUNDLED_DATASET, IBM_ESTIMATES_FILE

# the published IBM estimates, shipped with the simulator's dataset
DATA = BUNDLED_DATASET / IBM_ESTIMATES_FILE
SIZES = range(4, 26, 2)


def ibm_estimates(path: Path) -> dict[int, tuple[str, float]]:
    """n_qubits -> (backend, quantum_seconds); the last row of a size wins, as in [1]."""
    rows: dict[int, tuple[str, float]] = {}
    with path.open() as handle:
        for _timestamp, qubits, backend, seconds in csv.reader(handle):
            rows[int(qubits)] = (backend, float(seconds))
    return rows


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    if not path.exists():
        sys.exit(f"IBM estimate file {path} not found; pass its path as the first argument")
    ibm = ibm_estimates(path)
    config = BackendConfig(name="eagle", kind="aer", num_qubits=127)
    pass_manager = generate_preset_pass_manager(
        optimization_level=2, backend=make_fake_device("FakeSherbrooke"), seed_transpiler=1
    )
    print(
        f"{'qubits':>6} {'depth':>6} {'IBM backend':>15} {'IBM s':>7} {'qlambda s':>9} {'diff':>6}"
    )
    errors = []
    for n in SIZES:
        if n not in ibm:
            continue
        circuit = efficient_su2(n)
        circuit.measure_all()
        isa = pass_manager.run(circuit)
        request = make_request("sampler", [(isa, np.zeros(isa.num_parameters))], shots=4096)
        ours = estimate_qpu_seconds(request, config)
        backend, theirs = ibm[n]
        errors.append(ours - theirs)
        diff = ours - theirs
        print(f"{n:>6} {isa.depth():>6} {backend:>15} {theirs:>7.2f} {ours:>9.2f} {diff:>+6.2f}")
    print(
        f"mean difference {statistics.mean(errors):+.2f} s, "
        f"mean absolute {statistics.mean(map(abs, errors)):.2f} s over {len(errors)} sizes"
    )


if __name__ == "__main__":
    main()
