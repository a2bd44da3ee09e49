"""Admission control at job arrival (Cicconetti [1], Sec. II-C).

A job is accepted only while the active classical tasks are fewer than ``c_max``
and the pending quantum tasks (waiting, not executing) fewer than ``q_max``.
Accepted jobs are never interrupted, so the check happens once, at arrival.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdmissionDecision:
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AdmissionControl:
    """``None`` means no limit on that side."""

    c_max: int | None = None
    q_max: int | None = None

    def __post_init__(self) -> None:
        for label, value in (("c_max", self.c_max), ("q_max", self.q_max)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{label} must be a positive integer or None, got {value!r}")

    def decide(self, active_classical: int, pending_quantum: int) -> AdmissionDecision:
        if self.c_max is not None and active_classical >= self.c_max:
            return AdmissionDecision(
                False,
                f"admission control: {active_classical} active classical tasks "
                f"reach the limit C_max={self.c_max}",
            )
        if self.q_max is not None and pending_quantum >= self.q_max:
            return AdmissionDecision(
                False,
                f"admission control: {pending_quantum} pending quantum tasks "
                f"reach the limit Q_max={self.q_max}",
            )
        return AdmissionDecision(True)
