"""Readout-error mitigation with the backend's calibrated readout errors.

The correction happens where shots become numbers (:mod:`.measure`). For an estimator,
each shot is weighted by the inverse of the tensored confusion matrix built from the
calibration, which for a Pauli expectation value is exact under independent readout
errors and needs no extra circuits. For a sampler, the counts stay as measured and the
PUB result's ``metadata["quasi_dists"]`` holds, per register, the distribution with the
confusion matrices inverted. On a backend without readout errors (an ideal simulator)
nothing changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from qlambda.quantum.pipeline.base import BackendView, Execution, PassThrough


class ReadoutMitigation(PassThrough):
    """Inverts the calibrated readout confusion matrix of every measured qubit."""

    name = "readout"
    primitives = ("estimator", "sampler")

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        return [dataclasses.replace(e, mitigate_readout=True) for e in executions], None
