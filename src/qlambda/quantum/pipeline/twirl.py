"""Pauli twirling of two-qubit gates: each circuit runs as several randomised copies whose
two-qubit gates are sandwiched between random Paulis that cancel ideally, so coherent
gate errors average into Pauli noise; the copies share the circuit's shots.

The copies come from Qiskit's ``pauli_twirl_2q_gates`` (CX, CZ, ECR and iSwap), applied to
the circuit as it will run (after transpilation, ZNE's folding included when ``zne``
comes first) and translated back into the backend's gates without any optimisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from qlambda.quantum.pipeline.base import BackendView, Execution, Outcome

AUTO = "auto"


def _count(name: str, value: int | str) -> int | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"twirl {name} must be a positive integer or 'auto'; got {value!r}")
    return value


class PauliTwirling:
    """``num_randomizations`` copies per circuit and ``shots_per_randomization``, each a
    positive integer or ``"auto"`` (as IBM Runtime: ``max(64, ceil(shots / 32))`` shots
    per copy); the circuit's own shots are always what runs in total, split between the
    copies. An exact estimate (no shots) runs ``num_randomizations`` copies (1 if auto).
    ``seed`` fixes the randomisation (None: fresh every run)."""

    name = "twirl"
    primitives = ("estimator", "sampler")

    def __init__(
        self,
        num_randomizations: int | str = AUTO,
        shots_per_randomization: int | str = AUTO,
        seed: int | None = None,
    ) -> None:
        self.num_randomizations = _count("num_randomizations", num_randomizations)
        self.shots_per_randomization = _count("shots_per_randomization", shots_per_randomization)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"twirl seed must be an integer >= 0 or None; got {seed!r}")
        self.seed = seed

    @property
    def circuits_per_execution(self) -> int:
        """Copies per circuit, for time estimates (auto: IBM's 32 for 4096 shots)."""
        return self.num_randomizations if isinstance(self.num_randomizations, int) else 32

    def split(self, shots: int) -> list[int]:
        """Shots per copy: ``shots`` in total (0 for each copy of an exact estimate)."""
        number, per = self.num_randomizations, self.shots_per_randomization
        if shots == 0:
            return [0] * (number if isinstance(number, int) else 1)
        if not isinstance(number, int):
            if not isinstance(per, int):
                per = max(64, math.ceil(shots / 32))
            number = math.ceil(shots / per)
        number = max(1, min(number, shots))
        base, extra = divmod(shots, number)
        return [base + (1 if index < extra else 0) for index in range(number)]

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        from qiskit.circuit import pauli_twirl_2q_gates

        rng = np.random.default_rng(self.seed)
        twirled: list[Execution] = []
        splits = []
        for execution in executions:
            parts = self.split(execution.shots)
            copies = pauli_twirl_2q_gates(
                execution.circuit, seed=int(rng.integers(2**63)), num_twirls=len(parts)
            )
            for copy, shots in zip(copies, parts, strict=True):
                copy = backend.rebase(copy)
                if execution.circuit.layout is not None:
                    copy._layout = execution.circuit.layout  # the copy runs on the same qubits
                twirled.append(
                    Execution(copy, shots, execution.observable, execution.mitigate_readout)
                )
            splits.append(parts)
        return twirled, splits

    def post(
        self, outcomes: Sequence[Outcome], context: Any, backend: BackendView
    ) -> list[Outcome]:
        results = []
        start = 0
        for parts in context:
            chunk = outcomes[start : start + len(parts)]
            start += len(parts)
            results.append(self._combine(chunk, parts))
        return results

    def _combine(self, chunk: Sequence[Outcome], parts: list[int]) -> Outcome:
        total = sum(parts)
        weights = np.full(len(parts), 1.0 / len(parts)) if total == 0 else np.array(parts) / total
        metadata: dict[str, Any] = {"twirl": {"num_randomizations": len(parts)}}
        if chunk[0].value is not None:
            values = np.array([float(o.value or 0.0) for o in chunk])
            stds = np.array([float(o.std or 0.0) for o in chunk])
            return Outcome(
                value=float(weights @ values),
                std=float(np.sqrt(np.sum((weights * stds) ** 2))),
                metadata=metadata,
            )
        from qiskit.primitives import BitArray

        bits = {
            name: BitArray.concatenate_shots([o.bits[name] for o in chunk])  # type: ignore[index]
            for name in chunk[0].bits or {}
        }
        if all("quasi_dists" in o.metadata for o in chunk):
            quasi: dict[str, dict[str, float]] = {}
            for weight, outcome in zip(weights, chunk, strict=True):
                for register, dist in outcome.metadata["quasi_dists"].items():
                    target = quasi.setdefault(register, {})
                    for key, value in dist.items():
                        target[key] = target.get(key, 0.0) + float(weight) * float(value)
            metadata["quasi_dists"] = quasi
        return Outcome(bits=bits, metadata=metadata)
