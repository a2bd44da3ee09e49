"""What zero-noise extrapolation costs on a noisy fake device, against one plain call.

Workload: GHZ-8 and <Z..Z> with 4096 shots on FakeTorino (133 qubits, its full noise
model), in one run:
- plain: the estimator with no execution options (one simulator call);
- zne batched: options ["zne"] with 3 scale factors: the 3 folded circuits go to the
  simulator in ONE call (what the pipeline does);
- zne batched, new circuit: the same with a circuit never seen before on every call, so
  mitiq folds it again (folded circuits are cached per circuit in the executor);
- zne unbatched: the same 3 folded circuits, one simulator call each (the baseline a
  naive executor would be).
Median seconds per call over the timed calls (the first, with imports, is excluded).
As the QPU executor does once its device is built, the benchmark freezes the objects
built so far out of the garbage collector's full passes (see ``qlambda.platform.qpu``).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_zne_cost.py
"""

from __future__ import annotations

import gc
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qiskit import QuantumCircuit

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.pipeline import resolve_options
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime

CALLS = 9
WIDTH = 8


def ghz(width: int) -> QuantumCircuit:
    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    return circuit


def interleaved(variants: dict) -> dict[str, tuple[float, float]]:
    """Median seconds per call and last value of each variant, the variants taking turns so
    a change in the machine's load hits them all alike."""
    for call in variants.values():
        call()  # first call: imports, transpile cache, noise restriction
    gc.collect()
    gc.freeze()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    values: dict[str, float] = {}
    for _ in range(CALLS):
        for name, call in variants.items():
            started = time.perf_counter()
            values[name] = call()
            samples[name].append(time.perf_counter() - started)
    return {name: (statistics.median(samples[name]), values[name]) for name in variants}


def main() -> None:
    runtime = BackendRuntime(BackendConfig(name="torino", kind="fake", device="FakeTorino", seed=3))
    compare(runtime, "noise model restricted to the qubits in use (the runtime's default)")
    full = BackendRuntime(BackendConfig(name="torino", kind="fake", device="FakeTorino", seed=3))
    full.noise = None  # Aer gets the whole 133-qubit model on every call: seconds per call
    compare(full, "the device's full noise model on every call")


def compare(runtime: BackendRuntime, setting: str) -> None:
    observable = "Z" * WIDTH
    circuit = ghz(WIDTH)

    def plain() -> float:
        request = make_request("estimator", [(circuit, observable)], precision=1 / 64)
        return float(runtime.execute(request).result[0].data.evs)

    zne = resolve_options(["zne"])

    def batched() -> float:
        request = make_request("estimator", [(circuit, observable)], precision=1 / 64, options=zne)
        return float(runtime.execute(request).result[0].data.evs)

    pipeline = runtime.pipeline
    original_measure = pipeline.measure

    def unbatched() -> float:
        def one_call_each(executions):
            outcomes = []
            for execution in executions:
                outcomes.extend(original_measure([execution]))
            return outcomes

        pipeline.measure = one_call_each  # type: ignore[method-assign]
        try:
            return batched()
        finally:
            pipeline.measure = original_measure  # type: ignore[method-assign]

    angles = iter(range(1, 1000))

    def fresh() -> float:
        """A circuit never seen before (a new angle), so it is folded again."""
        variant = circuit.copy()
        variant.rz(next(angles) * 1e-3, 0)
        request = make_request("estimator", [(variant, observable)], precision=1 / 64, options=zne)
        return float(runtime.execute(request).result[0].data.evs)

    measured = interleaved(
        {
            "plain (no options)": plain,
            "zne, 3 scale factors, one batched call": batched,
            "zne, batched, a new circuit each call": fresh,
            "zne, 3 scale factors, one call each": unbatched,
        }
    )
    rows = [(name, seconds, value) for name, (seconds, value) in measured.items()]
    base = rows[0][1]
    print(f"\nGHZ-{WIDTH} <{observable}> on FakeTorino, 4096 shots, median of {CALLS} calls;")
    print(setting)
    print(f"{'variant':42} {'s/call':>8} {'x plain':>8} {'value':>7}")
    for name, seconds, value in rows:
        print(f"{name:42} {seconds:8.3f} {seconds / base:8.2f} {value:7.3f}")
    ratio = rows[1][1] / base
    print(f"zne (batched) / plain = {ratio:.2f}")


if __name__ == "__main__":
    main()
