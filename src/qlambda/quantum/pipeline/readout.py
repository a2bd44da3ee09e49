"""Readout-error mitigation with the backend's calibrated readout errors.

The correction happens where shots become numbers (:mod:`.measure`): each shot is weighted
by the inverse of the tensored confusion matrix built from the calibration, which for a
Pauli expectation value is exact under independent readout errors and needs no extra
circuits. On a backend without readout errors (an ideal simulator) the step changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from qlambda.quantum.pipeline.base import BackendView, Execution, PassThrough


class ReadoutMitigation(PassThrough):
    """Inverts the calibrated readout confusion matrix of every measured qubit."""

    name = "readout"
    primitives = ("estimator",)

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        return [dataclasses.replace(e, mitigate_readout=True) for e in executions], None
