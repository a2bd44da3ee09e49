"""Error mitigation as execution options: raw, readout, and ZNE + readout on a noisy device.

README: "Execution options, any SDK, calibration". Run: python examples/execution_options.py
"""

from pathlib import Path

from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

import qlambda

CONFIG = Path(__file__).with_name("backends.toml")  # defines the noisy "torino"


def ghz_parity(ctx, options: list) -> float:
    """<ZZZZ> of a GHZ-4 state: 1 on an ideal device, less on a noisy one."""
    circuit = QuantumCircuit(4)
    circuit.h(0)
    for qubit in range(3):
        circuit.cx(qubit, qubit + 1)
    estimator = ctx.estimator("torino", options=options)
    return float(estimator.run([(circuit, SparsePauliOp("ZZZZ"))]).result()[0].data.evs)


client = qlambda.Client(backends=CONFIG, seed=1)
for options in ([], ["readout"], ["readout", {"zne": {"extrapolation": "linear"}}]):
    value = client.run(ghz_parity, options=options).result(timeout=600)
    label = " + ".join(o if isinstance(o, str) else str(o) for o in options) or "raw"
    print(f"{label:50s} <ZZZZ> = {value:.3f} (ideal 1)")
# options stored with the job are the default of its primitives
job = client.run(ghz_parity, options=None, execution_options=["readout"])
print(f"{'readout, as the job execution_options':50s} <ZZZZ> = {job.result(600):.3f}")
client.close()
