"""The simulated device behind one QPU slot; lives in the QPU executor process.

A :class:`BackendRuntime` builds its simulator once (for a fake IBM device: the noise
model, the transpiler for its target) and then executes one :class:`QuantumRequest` at
a time. All PUBs of a request go to the simulator in as few ``run()`` calls as Qiskit's
primitives allow (one per distinct shot count), because a noisy ``run()`` costs about the
same for one circuit as for ten.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from qiskit.primitives import BackendEstimatorV2, PrimitiveResult
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qlambda.quantum.config import BackendConfig, make_fake_device, validate_backend
from qlambda.quantum.noise import RestrictedNoise
from qlambda.quantum.request import QuantumRequest, check_fits, estimate_qpu_seconds
from qlambda.quantum.transpilation import TranspileCache, is_isa, supports_all


@dataclass(frozen=True)
class ExecutionOutcome:
    """What an executor sends back for one request.

    ``result`` is exactly what the Qiskit/Aer primitive returned. ``busy_seconds`` is the
    wall time the backend was occupied (simulation plus any emulated wait), which is what
    the dispatcher and traces use as the quantum task's duration.
    """

    result: PrimitiveResult
    busy_seconds: float
    simulated_seconds: float
    emulated_seconds: float | None


class BackendRuntime:
    """One backend's simulator, transpiler cache and primitives, built once."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = validate_backend(config)
        options = {"max_parallel_threads": self.config.max_parallel_threads}
        if self.config.kind == "fake":
            device = make_fake_device(self.config.device or "")
            self.simulator = AerSimulator.from_backend(device, **options)
            model = self.simulator.options.noise_model
            self.noise = RestrictedNoise(model) if model is not None else None
            pass_manager = generate_preset_pass_manager(
                optimization_level=self.config.optimization_level,
                backend=device,
                seed_transpiler=self.config.seed,
            )
            target = device.target
            self.transpiler = TranspileCache(
                needs_transpile=lambda circuit: not is_isa(circuit, target),
                transpile=pass_manager.run,
            )
            self._estimator: Any = BackendEstimatorV2(
                backend=self.simulator, options={"seed_simulator": self.config.seed}
            )
        else:
            self.simulator = AerSimulator(**options)
            self.noise = None
            names = frozenset(self.simulator.target.operation_names)
            pass_manager = generate_preset_pass_manager(
                optimization_level=0, backend=self.simulator, seed_transpiler=self.config.seed
            )
            self.transpiler = TranspileCache(
                needs_transpile=lambda circuit: not supports_all(circuit, names),
                transpile=pass_manager.run,
            )
            run_options = {} if self.config.seed is None else {"seed_simulator": self.config.seed}
            self._estimator = AerEstimatorV2.from_backend(
                self.simulator, options={"run_options": run_options}
            )
        self._sampler = AerSamplerV2.from_backend(self.simulator, seed=self.config.seed)

    def prepare(self, request: QuantumRequest) -> QuantumRequest:
        """The request with every PUB made runnable here (transpiled once per structure)."""
        pubs = tuple(self.transpiler.prepare_pub(pub) for pub in request.pubs)
        return dataclasses.replace(request, pubs=pubs)

    def execute(self, request: QuantumRequest) -> ExecutionOutcome:
        """Run ``request``; with QPU time emulation, stay busy as long as the device would."""
        check_fits(request, self.config)
        started = time.perf_counter()
        prepared = self.prepare(request)
        if self.noise is not None:
            circuits = (pub.circuit for pub in prepared.pubs)
            self.simulator.set_options(noise_model=self.noise.for_circuits(circuits))
        if request.primitive == "sampler":
            result = self._sampler.run(prepared.pubs).result()
        else:
            self._check_precision(prepared)
            result = self._estimator.run(prepared.pubs).result()
        simulated = time.perf_counter() - started
        emulated = None
        if self.config.emulate_qpu_time:
            emulated = estimate_qpu_seconds(prepared, self.config) * self.config.time_scale
            remaining = emulated - (time.perf_counter() - started)
            if remaining > 0:
                time.sleep(remaining)
        busy = time.perf_counter() - started
        return ExecutionOutcome(
            result=result, busy_seconds=busy, simulated_seconds=simulated, emulated_seconds=emulated
        )

    def _check_precision(self, request: QuantumRequest) -> None:
        if self.config.kind != "fake":
            return
        for index, pub in enumerate(request.pubs):
            if not pub.precision:
                raise ValueError(
                    f"pub {index} asks for precision 0 (exact), which a noisy device cannot give "
                    f"(backend {self.config.name!r}); accepted: a precision > 0, e.g. 0.015625"
                )
