"""Scheduling policies and admission control: small pure objects used by the
platform's QPU dispatcher and by the simulator alike."""

from qlambda.policy.admission import AdmissionControl, AdmissionDecision
from qlambda.policy.scheduling import (
    FIFO,
    LIFO,
    POLICIES,
    PendingTask,
    Policy,
    Random,
    RandomSource,
    StrictPriority,
    Weighted,
    make_policy,
)

__all__ = [
    "FIFO",
    "LIFO",
    "POLICIES",
    "AdmissionControl",
    "AdmissionDecision",
    "PendingTask",
    "Policy",
    "Random",
    "RandomSource",
    "StrictPriority",
    "Weighted",
    "make_policy",
]
