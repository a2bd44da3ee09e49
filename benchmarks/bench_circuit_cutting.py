"""Circuit cutting against the full simulation of the same circuit, measured in one run.

For each (circuit width, subcircuit width): EfficientSU2 (linear, reps=2) cut by
qiskit-addon-cutting, its subexperiments run on Aer's sampler in this process (cut),
and the exact <mean Z> from a statevector simulation of the whole circuit (full).
Columns: cuts, subexperiments, the cut run's wall time, the full simulation's, and
the reconstruction's error against the exact value with the shot-noise bound σ.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_circuit_cutting.py [--big]
(--big adds 24 and 26 qubits: a 26-qubit statevector takes 1 GiB).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse

from qlambda.apps.circuit_cutting import run_bare

SIZES = ((8, 4), (12, 6), (16, 8))
BIG = ((20, 10), (24, 12), (26, 13))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add 20-26 qubits")
    parser.add_argument("--shots", type=int, default=1024)
    args = parser.parse_args()
    header = f"{'qubits':>6} {'sub':>4} {'cuts':>4} {'subexp':>6} {'cut s':>7} "
    header += f"{'full s':>7} {'error':>8} {'σ':>6}"
    print(header)
    for qubits, sub in SIZES + (BIG if args.big else ()):
        r = run_bare(qubits, sub, reps=2, shots=args.shots)
        print(
            f"{qubits:>6} {sub:>4} {r.cuts:>4} {r.subexperiments:>6} {r.cut_seconds:>7.2f} "
            f"{r.full_seconds or 0:>7.3f} {r.error or 0:>+8.4f} {r.sigma:>6.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
