"""Zero-noise extrapolation (mitiq): run each circuit at amplified noise, extrapolate to 0.

Noise is amplified by unitary folding (G -> G G^-1 G) of the circuit as it will run, after
transpilation: folding before it would be undone, since an optimising transpiler cancels a
gate against its inverse. All scale factors of all circuits leave in one batched call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from qlambda.core.arrays import FloatArray
from qlambda.quantum.pipeline.base import BackendView, Execution, Outcome

EXTRAPOLATIONS = ("richardson", "linear", "exponential")
FOLDINGS = ("random", "global")


class ZeroNoiseExtrapolation:
    """``scale_factors`` (>= 1, the first usually 1), ``extrapolation`` ("richardson",
    "linear" or "exponential": ``A exp(-x / tau)`` fitted to the values, IBM Runtime's
    default, which falls back to linear when the values do not share a sign; a sampler's
    distributions extrapolate linearly then) and ``folding`` ("random": mitiq's
    fold_gates_at_random, "global": fold_global)."""

    name = "zne"
    primitives = ("estimator", "sampler")

    def __init__(
        self,
        scale_factors: Sequence[float] = (1.0, 3.0, 5.0),
        extrapolation: str = "richardson",
        folding: str = "random",
        seed: int = 0,
    ) -> None:
        factors = tuple(float(f) for f in scale_factors)
        if (
            len(factors) < 2
            or any(not f >= 1.0 for f in factors)
            or len(set(factors)) != len(factors)
        ):
            raise ValueError(
                f"scale_factors are at least two distinct numbers >= 1, e.g. [1, 3, 5]; "
                f"got {list(scale_factors)!r}"
            )
        if extrapolation not in EXTRAPOLATIONS:
            raise ValueError(
                f"unknown extrapolation {extrapolation!r}; accepted: {', '.join(EXTRAPOLATIONS)}"
            )
        if folding not in FOLDINGS:
            raise ValueError(f"unknown folding {folding!r}; accepted: {', '.join(FOLDINGS)}")
        self.scale_factors = factors
        self.extrapolation = extrapolation
        self.folding = folding
        self.seed = seed

    @property
    def circuits_per_execution(self) -> int:
        """Circuits run per circuit given: one per scale factor (for time estimates)."""
        return len(self.scale_factors)

    def _fold(self, circuit: Any, factor: float) -> Any:
        from mitiq.zne.scaling import fold_gates_at_random, fold_global
        from mitiq.zne.scaling.folding import UnfoldableCircuitError

        if factor == 1.0:
            return circuit
        try:
            if self.folding == "global":
                return fold_global(circuit, factor)
            return fold_gates_at_random(circuit, factor, seed=self.seed)
        except UnfoldableCircuitError as exc:
            raise ValueError(
                f"execution option 'zne' cannot fold this circuit (mitiq: {exc}); accepted: "
                "circuits whose measurements all come last"
            ) from None

    def _fold_all(self, circuit: Any, backend: BackendView) -> list[Any]:
        """The circuit at every scale factor, folded on its active qubits, back in the
        backend's instruction set (folding adds inverses such as sxdg that it lacks)."""
        from qlambda.quantum.pipeline.circuits import compact, expand

        small, physical = compact(circuit)
        return [
            circuit
            if factor == 1.0
            else backend.rebase(expand(self._fold(small, factor), physical, circuit))
            for factor in self.scale_factors
        ]

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        from qlambda.quantum.transpilation import circuit_token

        folded: list[Execution] = []
        settings = (backend.name, self.folding, self.seed, self.scale_factors)
        for execution in executions:
            # folding goes through mitiq's conversions (Qiskit -> OpenQASM -> Cirq and back),
            # which costs about as much as simulating; a circuit sent again is folded once
            circuits = backend.memo.get(
                ("folded", circuit_token(execution.circuit), *settings),
                functools.partial(self._fold_all, execution.circuit, backend),
            )
            folded.extend(
                Execution(
                    circuit, execution.shots, execution.observable, execution.mitigate_readout
                )
                for circuit in circuits
            )
        return folded, len(executions)

    def weights(self) -> FloatArray:
        """The extrapolated value as a linear combination of the measured ones.

        Richardson and linear extrapolation are both linear in the values, so extrapolating
        unit vectors gives the coefficients, and with them the standard error. Exponential
        extrapolation is a linear fit of the values' logarithms: these are its weights.
        """
        extrapolate = self._extrapolate
        size = len(self.scale_factors)
        return np.array([extrapolate(list(np.eye(size)[i])) for i in range(size)])

    def _extrapolate(self, values: list[float]) -> float:
        from mitiq.zne.inference import LinearFactory, RichardsonFactory

        factory = RichardsonFactory if self.extrapolation == "richardson" else LinearFactory
        # exponential: the linear fit, applied to logarithms (see _estimate)
        return float(factory.extrapolate(list(self.scale_factors), values))

    def _estimate(
        self, values: list[float], stds: FloatArray, weights: FloatArray
    ) -> tuple[float, float, str]:
        """(value, standard error, extrapolation used) at zero noise."""
        data = np.array(values)
        if self.extrapolation == "exponential":
            if np.all(data > 0) or np.all(data < 0):
                # A exp(-x/tau): log|y| is linear in x, so A = sign * exp(w . log|y|)
                value = float(np.sign(data[0]) * np.exp(weights @ np.log(np.abs(data))))
                std = abs(value) * float(np.sqrt(np.sum((weights * stds / data) ** 2)))
                return value, std, "exponential"
            return float(weights @ data), float(np.sqrt(np.sum((weights * stds) ** 2))), "linear"
        return (
            self._extrapolate(values),
            float(np.sqrt(np.sum((weights * stds) ** 2))),
            self.extrapolation,
        )

    def _extrapolate_distributions(self, chunk: Sequence[Outcome], weights: FloatArray) -> Outcome:
        """A sampler's outcome: every outcome's probability extrapolated to zero noise.

        The counts stay those of the unfolded circuit; ``metadata["quasi_dists"]`` gets the
        extrapolated quasi-distribution per register (from the readout-mitigated ones when
        ``readout`` ran inside).
        """
        per_factor = []
        for outcome in chunk:
            quasi = outcome.metadata.get("quasi_dists")
            if quasi is None:
                quasi = {}
                for name, bits in (outcome.bits or {}).items():
                    counts = bits.get_counts()
                    total = sum(counts.values())
                    quasi[name] = {key: value / total for key, value in counts.items()}
            per_factor.append(quasi)
        extrapolated = {}
        for name in per_factor[0]:
            keys = set().union(*(dist[name] for dist in per_factor))
            extrapolated[name] = {
                key: float(
                    sum(
                        w * dist[name].get(key, 0.0)
                        for w, dist in zip(weights, per_factor, strict=True)
                    )
                )
                for key in sorted(keys)
            }
        metadata = {
            "quasi_dists": extrapolated,
            "zne": {"scale_factors": list(self.scale_factors)},
        }
        return Outcome(bits=chunk[0].bits, metadata=metadata)

    def post(
        self, outcomes: Sequence[Outcome], context: Any, backend: BackendView
    ) -> list[Outcome]:
        size = len(self.scale_factors)
        weights = self.weights()
        results = []
        for start in range(0, context * size, size):
            chunk = outcomes[start : start + size]
            if chunk[0].value is None:
                results.append(self._extrapolate_distributions(chunk, weights))
                continue
            # an estimator's outcomes all carry a value (the first one's says which it is)
            values = [float(o.value) for o in chunk]  # type: ignore[arg-type]
            stds = np.array([float(o.std or 0.0) for o in chunk])
            value, std, used = self._estimate(values, stds, weights)
            zne: dict[str, Any] = {"scale_factors": list(self.scale_factors), "values": values}
            if used != self.extrapolation:
                zne["extrapolation"] = used
            results.append(Outcome(value=value, std=std, metadata={"zne": zne}))
        return results
