"""Quantum backends: configuration, requests and their cost, the executor-side runtime, and
the SamplerV2/EstimatorV2 objects user functions call.

- ``config``: backends from TOML, a mapping or Python (imports no Qiskit);
- ``request``: one quantum task, its width check and its estimated QPU time;
- ``selection``: which backend runs a request (by name, or least loaded that fits);
- ``primitives``: ``PlatformSamplerV2`` / ``PlatformEstimatorV2``, in workers;
- ``runtime``: ``BackendRuntime``, the simulator of one QPU slot, in executor processes,
  with ``transpilation`` (transpile once per circuit structure) and ``noise`` (noise
  models restricted to the qubits in use);
- ``outcome``: ``ExecutionOutcome``, what an executor sends back;
- ``pipeline``: execution options (readout, zne, ddd, your own steps) as steps around the
  backend, run by ``pipeline_backend`` in the executor;
- ``sdk``: circuits from OpenQASM 2/3 and Cirq, a Cirq sampler and a PennyLane device;
- ``calibration``: calibration snapshots and their seeded drift.

Import the submodules directly so each process loads only what it needs.
"""

from qlambda.quantum.config import BackendConfig, default_backends, load_backends

__all__ = ["BackendConfig", "default_backends", "load_backends"]
