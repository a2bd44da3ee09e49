"""GHZ-4 <ZZZZ> (ideal 1) on noisy fake devices, raw and with each execution option.

For each device and option list: the mean of REPEATS independent estimates (4096 shots
each), their spread, and the mean absolute error against 1. The raw row goes through the
same measurement path with a step that changes nothing (``PassThrough``), so its repeats
are independent samples like the others' (a seeded plain estimator repeats its seed).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mitigation_ghz.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from qiskit import QuantumCircuit

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.pipeline import PassThrough, resolve_options
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime

REPEATS = 20
DEVICES = ("FakeKolkataV2", "FakeTorino")
OPTIONS = (
    [],
    ["readout"],
    ["zne"],
    [{"zne": {"extrapolation": "linear"}}],
    ["readout", "zne"],
    ["readout", "zne", "ddd"],
)


def ghz4() -> QuantumCircuit:
    circuit = QuantumCircuit(4)
    circuit.h(0)
    for qubit in range(3):
        circuit.cx(qubit, qubit + 1)
    return circuit


def label(options: list) -> str:
    if not options:
        return "raw"
    return "+".join(
        o if isinstance(o, str) else f"{next(iter(o))}({next(iter(o.values()))['extrapolation']})"
        for o in options
    )


def main() -> None:
    circuit = ghz4()
    for device in DEVICES:
        runtime = BackendRuntime(BackendConfig(name=device, kind="fake", device=device, seed=11))
        print(f"\n{device}: GHZ-4 <ZZZZ>, ideal 1, {REPEATS} repeats of 4096 shots")
        print(f"{'options':28} {'mean':>7} {'spread':>7} {'mean |error|':>13}")
        for options in OPTIONS:
            steps = resolve_options(options) if options else (PassThrough(),)
            values = np.array(
                [
                    float(
                        runtime.execute(
                            make_request(
                                "estimator", [(circuit, "ZZZZ")], precision=1 / 64, options=steps
                            )
                        )
                        .result[0]
                        .data.evs
                    )
                    for _ in range(REPEATS)
                ]
            )
            error = np.mean(np.abs(1.0 - values))
            print(
                f"{label(options):28} {values.mean():7.3f} {values.std(ddof=1):7.3f} {error:13.3f}"
            )
        sampler_table(runtime)


def sampler_table(runtime: BackendRuntime) -> None:
    """The same device with a sampler: P(0000) + P(1111), ideal 1, from the counts (raw)
    and from the mitigated quasi-distribution."""
    circuit = ghz4()
    circuit.measure_all()
    print(f"sampler, P(0000) + P(1111), ideal 1, {REPEATS} repeats of 4096 shots")
    for options in (["readout"], ["readout", "zne"], ["readout", "zne", "ddd"]):
        raw, mitigated = [], []
        for _ in range(REPEATS):
            request = make_request(
                "sampler", [circuit], shots=4096, options=resolve_options(options)
            )
            pub = runtime.execute(request).result[0]
            counts = pub.data.meas.get_counts()
            raw.append((counts.get("0000", 0) + counts.get("1111", 0)) / 4096)
            quasi = pub.metadata["quasi_dists"]["meas"]
            mitigated.append(quasi.get("0000", 0.0) + quasi.get("1111", 0.0))
        print(
            f"  {label(options):26} raw {np.mean(raw):6.3f}   mitigated {np.mean(mitigated):6.3f}"
            f" (spread {np.std(mitigated, ddof=1):.3f})"
        )


if __name__ == "__main__":
    main()
