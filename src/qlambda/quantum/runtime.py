"""The simulated device behind one QPU slot of kind ``aer`` or ``fake``; lives in the
QPU executor process (the :class:`~qlambda.quantum.backends.Device` those kinds open).

A :class:`BackendRuntime` builds its simulator once (for a fake IBM device: the noise
model, the transpiler for its target) and then executes one :class:`QuantumRequest` at
a time. On a noisy device every request, with execution options or not, is measured
through its pipeline: all circuits of the request in one simulator call (a noisy
``run()`` costs about the same for one circuit as for three), shots drawn from exact
probabilities where that is the same distribution. An ideal simulator runs plain
requests on :class:`~qlambda.quantum.ideal_simulation.IdealSampler` (shots drawn from
exact probabilities; Aer's sampler for mid-circuit measurements) and on
:class:`CompiledEstimator`, and alone has state vectors (``statevector`` requests).

An estimator PUB that asked for no precision gets the backend's: exact values on an ideal
simulator, :data:`DEFAULT_PRECISION` (4096 shots) on a noisy device, which cannot be exact.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.transpiler import PassManager, generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qlambda.core import CircuitTooWideError
from qlambda.quantum.backends.kind import Device, Report
from qlambda.quantum.compiled_estimator import CompiledEstimator
from qlambda.quantum.config import BackendConfig, make_fake_device, validate_backend
from qlambda.quantum.estimator_measurements import measured_circuit
from qlambda.quantum.ideal_simulation import IdealSampler, StateVectors
from qlambda.quantum.noise import RestrictedNoise
from qlambda.quantum.outcome import ExecutionOutcome
from qlambda.quantum.pipeline_backend import PipelineBackend
from qlambda.quantum.request import (
    DEFAULT_PRECISION,
    QuantumRequest,
    check_fits,
    estimate_qpu_seconds,
    make_request,
)
from qlambda.quantum.transpilation import (
    TranspileCache,
    binds_unreliably,
    device_pass_manager,
    is_isa,
    supports_all,
    without_unbindable,
)

__all__ = ["BackendRuntime", "ExecutionOutcome", "apply_calibration"]


def transpile_placing_readout(pass_manager: PassManager, circuit: QuantumCircuit) -> QuantumCircuit:
    """Transpile ``circuit``; one without measurements (an estimator's) is placed as if
    every qubit were measured, then runs without those measurements.

    The layout passes score a placement by the errors of the instructions in the circuit;
    with no measurement in it, readout errors do not count, and an estimator circuit can
    land on a qubit that reads out badly (on FakeTorino a GHZ-4 went to a qubit with 8.7%
    readout error, against 0.5-2.3% for the sampler's placement).
    """
    if any(item.operation.name == "measure" for item in circuit.data):
        return pass_manager.run(circuit)
    measured = circuit.copy()
    measured.measure_all()
    compiled = pass_manager.run(measured)
    compiled.remove_final_measurements(inplace=True)
    return compiled


def apply_calibration(target: Any, calibration: Any) -> None:
    """Write a calibration snapshot's numbers into a device's Qiskit target."""
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties

    properties = list(target.qubit_properties or [])
    for index, qubit in enumerate(calibration.qubits[: len(properties)]):
        old = properties[index]
        properties[index] = QubitProperties(
            t1=qubit.t1 if qubit.t1 is not None else old.t1,
            t2=qubit.t2 if qubit.t2 is not None else old.t2,
            frequency=old.frequency,
        )
        if qubit.readout_error is not None and "measure" in target:
            current = target["measure"].get((index,))
            if current is not None:
                target.update_instruction_properties(
                    "measure",
                    (index,),
                    InstructionProperties(duration=current.duration, error=qubit.readout_error),
                )
    if properties:
        target.qubit_properties = properties
    for gate in calibration.gates:
        if gate.error is None or gate.gate not in target:
            continue
        current = target[gate.gate].get(gate.qubits)
        if current is not None:
            target.update_instruction_properties(
                gate.gate,
                gate.qubits,
                InstructionProperties(duration=current.duration, error=gate.error),
            )


def _built_on_first_use(
    build: Callable[[], PassManager],
) -> Callable[[QuantumCircuit], QuantumCircuit]:
    """A transpile function whose pass manager is built when first needed.

    Building a preset pass manager loads every transpiler plugin installed (2-3 s with
    qiskit-ibm-runtime's); an ideal simulator rarely needs one, and a level nobody asks
    for is never built.
    """
    built: list[PassManager] = []

    def transpile(circuit: QuantumCircuit) -> QuantumCircuit:
        if not built:
            built.append(build())
        return built[0].run(circuit)

    return transpile


def _run_here(primitive: Any, pubs: list[Any]) -> PrimitiveResult:
    """Run coerced PUBs on a Qiskit/Aer primitive in the calling thread.

    The public ``run()`` starts a new thread per call (``PrimitiveJob``), which costs
    milliseconds on a loaded machine for every task of a variational loop; the executor
    already runs one task at a time, so it calls the primitives' ``_run`` directly when
    they have one (Aer's SamplerV2 and :class:`CompiledEstimator` do).
    """
    run = getattr(primitive, "_run", None)
    if callable(run):
        return run(pubs)
    return primitive.run(pubs).result()


class BackendRuntime(Device):
    """One backend's simulator, transpiler cache and primitives, built once: a fake IBM
    device's noisy simulator when the config names a ``device``, else an ideal one.

    An ideal simulator's runtime may serve several tasks at once from threads (its
    ``concurrency``); a noisy device's runtime runs one task at a time, since it swaps
    the simulator's noise model per task.

    Circuits are made runnable by one :class:`TranspileCache` per optimization level in
    use: the backend's ``optimization_level`` unless a request asks for its own.
    """

    def __init__(self, config: BackendConfig) -> None:
        self.config = validate_backend(config)
        options: dict[str, Any] = {"max_parallel_threads": self.config.max_parallel_threads}
        if self.config.simulator_device != "CPU":  # Aer's GPU method (docs/costs.md)
            options["device"] = self.config.simulator_device
        self._transpilers: dict[int | None, TranspileCache] = {}
        self._transpilers_lock = threading.Lock()
        if self.config.device is not None:
            device = make_fake_device(self.config.device)
            self.device: Any = device
            self.device_qubits: int | None = device.num_qubits
            self.simulator = AerSimulator.from_backend(device, **options)
            model = self.simulator.options.noise_model
            self.noise = RestrictedNoise(model) if model is not None else None
            self._exclusive: AbstractContextManager[object] = threading.RLock()
            self.transpiler_for(None)  # the default level's pass manager, built at start-up
        else:
            self.simulator = AerSimulator(**options)
            self.device = None
            self.device_qubits = None
            self.noise = None
            self._exclusive = nullcontext()
            run_options = {} if self.config.seed is None else {"seed_simulator": self.config.seed}
            self._estimator = CompiledEstimator(self.simulator, run_options)
            self._sampler = AerSamplerV2.from_backend(self.simulator, seed=self.config.seed)
            self._drawn = IdealSampler(self.simulator, self.config.seed)
            self._states = StateVectors(self.simulator)
        self._pipeline: PipelineBackend | None = None
        self.calibration: Any = None
        """The calibration snapshot this runtime compiles and simulates against (None: the
        device's own, as shipped)."""

    def calibrate(self, calibration: Any) -> bool:
        """Compile and simulate against ``calibration`` from now on.

        The device's target takes the snapshot's T1, T2, gate and readout errors; the noise
        model is rebuilt from it; the transpiler is rebuilt too, so its noise-aware layout
        (VF2Layout scores placements by the target's errors) picks qubits with the current
        calibration, and every cached compilation is dropped. Returns True when compiled
        circuits were invalidated (the snapshot changed and the cache held some).
        """
        if self.device is None or calibration is None:
            return False
        if self.calibration is not None and self.calibration.id == calibration.id:
            return False
        first = self.calibration is None
        self.calibration = calibration
        if first and calibration.step == 0:
            return False  # the device's own calibration: nothing to rebuild
        with self._exclusive:
            apply_calibration(self.device.target, calibration)
            from qiskit_aer.noise import NoiseModel

            model = NoiseModel.from_backend(self.device)
            self.simulator.set_options(noise_model=model)
            self.noise = RestrictedNoise(model)
            with self._transpilers_lock:
                invalidated = any(len(cache) for cache in self._transpilers.values())
                self._transpilers = {}
            self.transpiler_for(None)
            if self._pipeline is not None:
                self._pipeline.recalibrated(calibration)
        return invalidated

    @property
    def transpiler(self) -> TranspileCache:
        """The transpile cache of the backend's default optimization level."""
        return self.transpiler_for(None)

    def transpiler_for(self, level: int | None) -> TranspileCache:
        """The transpile cache for requests asking for ``level`` (None: the backend's)."""
        if level is None:
            level = self.config.optimization_level
        with self._transpilers_lock:
            cache = self._transpilers.get(level)
            if cache is None:
                cache = self._transpilers[level] = self._make_transpiler(level)
        return cache

    def _make_transpiler(self, level: int | None) -> TranspileCache:
        """A device's circuits are transpiled unless already ISA (never touched then); an
        ideal simulator's only for gates it lacks, unless a level was asked for."""
        seed = self.config.seed
        if self.device is not None:
            target = self.device.target
            pass_manager = device_pass_manager(self.device, level, seed)
            return TranspileCache(
                needs_transpile=lambda circuit: not is_isa(circuit, target),
                transpile=lambda circuit: transpile_placing_readout(pass_manager, circuit),
            )
        names = frozenset(self.simulator.target.operation_names)
        run_pass_manager = _built_on_first_use(
            lambda: generate_preset_pass_manager(
                optimization_level=0 if level is None else level,
                backend=self.simulator,
                seed_transpiler=seed,
            )
        )

        def transpile(circuit: QuantumCircuit) -> QuantumCircuit:
            if level is not None or not supports_all(circuit, names):
                circuit = run_pass_manager(circuit)
            return without_unbindable(circuit)

        return TranspileCache(
            needs_transpile=(
                (lambda circuit: not supports_all(circuit, names) or binds_unreliably(circuit))
                if level is None
                else (lambda circuit: True)
            ),
            transpile=transpile,
        )

    @property
    def pipeline(self) -> PipelineBackend:
        """What execution options run against; built on first use."""
        if self._pipeline is None:
            self._pipeline = PipelineBackend(self)
        return self._pipeline

    def prepare(self, request: QuantumRequest) -> QuantumRequest:
        """The request with every PUB made runnable here (transpiled once per structure)
        and every estimator PUB's precision settled (the backend's default if none)."""
        transpiler = self.transpiler_for(request.optimization_level)
        pubs = tuple(transpiler.prepare_pub(pub) for pub in request.pubs)
        if request.primitive == "estimator":
            pubs = tuple(self._with_precision(pub) for pub in pubs)
        return dataclasses.replace(request, pubs=pubs)

    def _with_precision(self, pub: EstimatorPub) -> EstimatorPub:
        """``pub``, or with no precision asked for, with this backend's: exact on an ideal
        simulator, :data:`DEFAULT_PRECISION` on a noisy device."""
        if pub.precision is not None:
            return pub
        default = DEFAULT_PRECISION if self.device is not None else 0.0
        return EstimatorPub(
            pub.circuit, pub.observables, pub.parameter_values, default, validate=False
        )

    def execute(self, request: QuantumRequest, report: Report | None = None) -> ExecutionOutcome:
        """Run ``request``; with QPU time emulation, stay busy as long as the device would."""
        check_fits(request, self.config)
        self._check_device_width(request)
        started = time.perf_counter()
        prepared = self.prepare(request)
        result = self._measure(prepared)
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

    def warm_up(self) -> float:
        """Run a one-shot circuit so the first user task pays no first-call costs.

        Returns the seconds it took; emulated QPU time is not applied.
        """
        circuit = QuantumCircuit(1)
        circuit.measure_all()
        request = make_request("sampler", [circuit], shots=4)  # 4 > 2^1: a noisy device's
        started = time.perf_counter()  # shots are drawn from probabilities, warm that too
        self._measure(self.prepare(request))
        with self._transpilers_lock:  # hold user circuits only: a recalibration reports those
            for cache in self._transpilers.values():
                cache.clear()
        return time.perf_counter() - started

    def _measure(self, prepared: QuantumRequest) -> PrimitiveResult:
        """A noisy device measures every request through its pipeline (no options: no
        steps), so plain and mitigated calls are simulated and sampled alike; an ideal
        simulator runs plain requests on Aer's primitives, except estimates with shots of
        a circuit that measures mid-circuit, which only shots can sample."""
        if prepared.primitive == "statevector":
            return self._state_vectors(prepared)
        if prepared.primitive == "estimator":
            self._check_precision(prepared)
        if prepared.options or self.device is not None or self._sampled_estimates(prepared):
            return self.pipeline.run(prepared)
        if prepared.primitive == "sampler":
            drawn = self._drawn.run_pubs(prepared.pubs)
            if drawn is not None:
                return drawn
        primitive = self._sampler if prepared.primitive == "sampler" else self._estimator
        return _run_here(primitive, list(prepared.pubs))

    def _state_vectors(self, prepared: QuantumRequest) -> PrimitiveResult:
        """Final states: an ideal simulator's alone, and with no execution option."""
        if self.device is not None:
            raise ValueError(
                f"backend {self.config.name!r} simulates the noisy device {self.config.device}, "
                "which has no single final state; accepted: a state vector from an ideal "
                "simulator (kind 'aer')"
            )
        if prepared.options:
            raise ValueError(
                "execution options do not apply to a state vector; accepted: none (options=[])"
            )
        return self._states.run_pubs(prepared.pubs)

    def _check_device_width(self, request: QuantumRequest) -> None:
        """A circuit laid out for a larger device cannot be re-laid on this one."""
        if self.device_qubits is None:
            return
        for pub in request.pubs:
            if pub.circuit.num_qubits > self.device_qubits:
                raise CircuitTooWideError(
                    f"circuit has {pub.circuit.num_qubits} qubits (transpiled for another "
                    f"device?); backend {self.config.name!r} ({self.config.device}) has "
                    f"{self.device_qubits}; send the circuit before transpiling it"
                )

    def _sampled_estimates(self, request: QuantumRequest) -> bool:
        memo = self.pipeline.view.memo
        return request.primitive == "estimator" and any(
            pub.precision and measured_circuit(pub.circuit, memo).mid_circuit
            for pub in request.pubs
        )

    def _check_precision(self, request: QuantumRequest) -> None:
        if self.device is None:
            return
        for index, pub in enumerate(request.pubs):
            if not pub.precision:
                raise ValueError(
                    f"pub {index} asks for precision 0 (exact), which a noisy device cannot give "
                    f"(backend {self.config.name!r}); accepted: a precision > 0, e.g. 0.015625, "
                    "or no precision (its default, 4096 shots)"
                )
