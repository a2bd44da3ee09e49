"""A platform backend as a Qiskit ``BackendV2``: its device's target, and ``run``.

``ctx.backend("torino")`` returns one, so code written for a real backend works inside a
function: ``generate_preset_pass_manager(backend=backend)`` and ``transpile(circuits,
backend=backend)`` compile against the device's :class:`~qiskit.transpiler.Target` (a
fake device's own; an ideal simulator's is all-to-all over its width), and
``backend.run(circuits, shots=n)`` (what mitiq's executors call) sends the circuits
through the platform's queue as one sampler task and returns a job whose
``result().get_counts()`` reads as Qiskit's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, JobStatus, JobV1, Options
from qiskit.result import Result
from qiskit.transpiler import Target

from qlambda.quantum.backends import backend_kind

RUN_OPTIONS = ("shots", "memory", "seed_simulator")
"""What ``backend.run`` takes besides the circuits (``seed_simulator`` only as None: a
backend's randomness is its configured ``seed``), as Qiskit's ``BackendSamplerV2`` and
``BackendEstimatorV2`` call it."""


@cache
def ideal_target(num_qubits: int) -> Target:
    """Every standard gate Aer simulates, on every qubit and pair: an ideal simulator."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit_aer import AerSimulator

    simulated = set(AerSimulator().configuration().basis_gates)
    gates = (set(get_standard_gate_name_mapping()) & simulated) | {"measure", "reset", "delay"}
    return Target.from_configuration(basis_gates=sorted(gates), num_qubits=num_qubits)


class PlatformBackend(BackendV2):
    """One of the platform's backends, seen from a function: a Qiskit ``BackendV2``.

    ``access`` is whoever can submit quantum tasks (a job's context, a pilot);
    ``description`` the backend's ``name``, ``kind``, ``device`` and ``num_qubits`` (and
    what its kind needs to build the device's target, ``device_data``).
    """

    def __init__(self, access: Any, description: dict[str, Any]) -> None:
        name = str(description["name"])
        super().__init__(
            name=name,
            description=f"qlambda backend {name!r} ({description.get('device') or 'ideal'})",
            backend_version="1",
        )
        self._access = access
        self.kind = str(description["kind"])
        self.device = description.get("device")
        self._target = backend_kind(self.kind).target(description)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> int | None:
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=1024)

    def sampler(self, **kwargs: Any) -> Any:
        """A platform SamplerV2 pinned to this backend."""
        return self._access.sampler(self.name, **kwargs)

    def estimator(self, **kwargs: Any) -> Any:
        """A platform EstimatorV2 pinned to this backend."""
        return self._access.estimator(self.name, **kwargs)

    def run(
        self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any
    ) -> PlatformBackendJob:
        """Run circuits as one quantum task; ``shots`` per circuit (1024 by default),
        ``memory=True`` keeps every shot."""
        unknown = sorted(set(options) - set(RUN_OPTIONS))
        if unknown:
            raise ValueError(
                f"backend.run got unknown option(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(RUN_OPTIONS)} (the circuits' measurements give the counts)"
            )
        if options.get("seed_simulator") is not None:
            raise ValueError(
                "backend.run takes no seed_simulator: a platform backend's randomness is its "
                "configured 'seed'; accepted: seed_simulator=None"
            )
        memory = options.get("memory", False)
        if not isinstance(memory, bool):
            raise TypeError(f"backend.run memory is True or False; got {memory!r}")
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        for circuit in circuits:
            if not isinstance(circuit, QuantumCircuit):
                raise TypeError(
                    f"backend.run takes Qiskit QuantumCircuits; got {type(circuit).__name__}"
                )
            if not circuit.clbits:
                raise ValueError(
                    f"circuit {circuit.name!r} measures nothing; backend.run returns counts "
                    "of classical bits, so add measurements (circuit.measure_all())"
                )
        shots = options.get("shots", self.options.shots)
        # the job's sampler runs with no execution options: counts as measured
        job = self._access.sampler(self.name, options=[]).run(
            [(circuit, None, shots) for circuit in circuits]
        )
        return PlatformBackendJob(self, job, circuits, memory)


class PlatformBackendJob(JobV1):
    """What ``PlatformBackend.run`` returns: ``result()`` is a Qiskit ``Result``."""

    def __init__(
        self, backend: PlatformBackend, job: Any, circuits: list[QuantumCircuit], memory: bool
    ) -> None:
        super().__init__(backend, str(uuid.uuid4()))
        self._job = job
        self._circuits = circuits
        self._memory = memory

    def submit(self) -> None:
        raise RuntimeError("the circuits were submitted by backend.run")

    def status(self) -> JobStatus:
        status: JobStatus = self._job.status()
        return status

    def cancel(self) -> bool:
        cancelled: bool = self._job.cancel()
        return cancelled

    def result(self, timeout: float | None = None) -> Result:
        """Counts per circuit, keyed as Qiskit's (registers separated by spaces), and with
        ``memory=True`` every shot (``get_memory``)."""
        from qiskit.primitives import BitArray

        primitive = self._job.result(timeout)
        experiments = []
        for circuit, pub in zip(self._circuits, primitive, strict=True):
            registers = [pub.data[register.name] for register in circuit.cregs]
            joined = BitArray.concatenate_bits(registers) if len(registers) > 1 else registers[0]
            data: dict[str, Any] = {
                "counts": {hex(int(key, 2)): value for key, value in joined.get_counts().items()}
            }
            if self._memory:  # every shot, in order
                data["memory"] = [hex(int(bits, 2)) for bits in joined.get_bitstrings()]
            experiments.append(
                {
                    "shots": int(joined.num_shots),
                    "success": True,
                    "data": data,
                    "header": {
                        "name": circuit.name,
                        "creg_sizes": [[r.name, r.size] for r in circuit.cregs],
                        "memory_slots": circuit.num_clbits,
                    },
                }
            )
        return Result.from_dict(
            {
                "backend_name": self._backend.name,
                "backend_version": "1",
                "qobj_id": self.job_id(),
                "job_id": self.job_id(),
                "success": True,
                "results": experiments,
            }
        )
