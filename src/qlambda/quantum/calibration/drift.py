"""A seeded drift model: a fake device's calibration changes over time like a real one's.

Fake devices ship one static calibration. Real devices drift: T1 and T2 wander (two-level
systems come and go), gate and readout errors with them, and a daily recalibration pulls
them back. The model moves every quantity by a multiplicative factor whose logarithm
follows a mean-reverting random walk (an Ornstein-Uhlenbeck process sampled every
``interval_seconds``), the same for a given ``seed`` and step in every process.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from qlambda.core.arrays import FloatArray
from qlambda.quantum.calibration.snapshot import Calibration, GateCalibration, QubitCalibration

_MAX_PROBABILITY = 0.5


@dataclass
class DriftModel:
    """``sigma``: spread of log-factors per step; ``reversion``: the fraction of the
    deviation recovered per step (0: a pure random walk; 1: independent every step)."""

    seed: int = 0
    sigma: float = 0.1
    interval_seconds: float = 600.0
    reversion: float = 0.2
    _states: dict[int, FloatArray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.sigma >= 0 or not 0 <= self.reversion <= 1 or not self.interval_seconds > 0:
            raise ValueError(
                "drift: sigma >= 0, 0 <= reversion <= 1 and interval_seconds > 0 are required; "
                f"got sigma={self.sigma}, reversion={self.reversion}, "
                f"interval_seconds={self.interval_seconds}"
            )

    def step_at(self, elapsed_seconds: float) -> int:
        return max(0, math.floor(elapsed_seconds / self.interval_seconds))

    def _log_factors(self, step: int, size: int) -> FloatArray:
        """The walk's state after ``step`` steps (0 at step 0), for ``size`` quantities."""
        if step == 0:
            return np.zeros(size)
        known = max((s for s in self._states if s <= step), default=0)
        state = self._states.get(known, np.zeros(size))
        for current in range(known + 1, step + 1):
            noise = np.random.default_rng([self.seed, current]).standard_normal(size)
            state = (1.0 - self.reversion) * state + self.sigma * noise
        self._states[step] = state
        if len(self._states) > 64:
            self._states.pop(min(self._states))
        return state

    def apply(self, base: Calibration, step: int, taken_at: float) -> Calibration:
        """``base`` drifted to ``step``: coherence times divided, errors multiplied, by the
        same kind of factor (a worse qubit is worse in every respect)."""
        if step == 0:
            return dataclasses.replace(base, step=0, taken_at=taken_at)
        n_qubits, n_gates = len(base.qubits), len(base.gates)
        factors = np.exp(self._log_factors(step, n_qubits + n_gates))
        qubits = tuple(
            QubitCalibration(
                t1=_divide(q.t1, factors[i]),
                t2=_coherence(q.t2, q.t1, factors[i]),
                readout_error=_scale(q.readout_error, factors[i]),
                prob_meas1_prep0=_scale(q.prob_meas1_prep0, factors[i]),
                prob_meas0_prep1=_scale(q.prob_meas0_prep1, factors[i]),
            )
            for i, q in enumerate(base.qubits)
        )
        gates = tuple(
            GateCalibration(g.gate, g.qubits, _scale(g.error, factors[n_qubits + j]), g.duration)
            for j, g in enumerate(base.gates)
        )
        return dataclasses.replace(base, qubits=qubits, gates=gates, step=step, taken_at=taken_at)


def _divide(value: float | None, factor: float) -> float | None:
    return None if value is None else value / factor


def _coherence(t2: float | None, t1: float | None, factor: float) -> float | None:
    if t2 is None:
        return None
    drifted = t2 / factor
    return drifted if t1 is None else min(drifted, max(t2, 2.0 * t1) / factor)


def _scale(value: float | None, factor: float) -> float | None:
    if value is None:
        return None
    # a calibration file may mark a broken gate with error 1: drift never improves it past 0.5
    return min(max(_MAX_PROBABILITY, value), value * factor)
