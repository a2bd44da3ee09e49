"""A parameter-shift gradient's tapes as shifted parameter values, worked out once per tape
structure.

An optimiser's every step differentiates a tape of one structure with new values:
PennyLane's ``param_shift`` then builds every shifted tape again (new operators, new
tapes, checked one by one) to say what this module says once per structure: shifted
tape *k* is the tape with slot ``slots[k]`` of its :class:`~.pennylane_circuits.
TapeProgram` moved by ``shifts[k]`` (None: not moved), and PennyLane's own processing
function combines their results into the Jacobian.

The plan is taken from ``param_shift`` itself, on the first tape of a structure, and
only where it is exactly that: every shifted tape keeps the structure and measurements
and moves one parameter by a constant (the same at three points: the tape's values, all
zeros, other values), the processing function gives the same Jacobian at two of those
points, and each step's values are float64, the type PennyLane shifts them in. Anything
else (a variance, shots, a trainable observable, a gate without such a rule) is
differentiated by ``param_shift`` every time, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.measurements import ExpectationMP
from pennylane.tape import QuantumScript

from qlambda.core.arrays import FloatArray
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.sdk.pennylane_circuits import TapeProgram, structure

PROBES = (0.0, 0.6180339887498949)
"""Values every trainable parameter takes in the plan's checks (plus the tape's own)."""


@dataclass(frozen=True)
class ShiftPlan:
    """Shifted tape k: slot ``slots[k]`` moved by ``shifts[k]``; ``combine``: PennyLane's
    processing of their results into the tape's Jacobian."""

    slots: tuple[int | None, ...]
    shifts: tuple[float, ...]
    combine: Callable[[Sequence[Any]], Any]

    def rows(self, values: FloatArray) -> list[FloatArray]:
        """The shifted tapes' slot values, from the tape's."""
        rows = []
        for slot, shift in zip(self.slots, self.shifts, strict=True):
            row = values.copy()
            if slot is not None:
                row[slot] = values[slot] + shift  # as PennyLane shifts it: p * 1.0 + s
            rows.append(row)
        return rows


def plannable(tape: QuantumScript) -> bool:
    """Whether a plan may stand for ``param_shift`` on this tape: analytic expectation
    values, every trainable parameter a float64 of an operation."""
    if tape.shots or tape.batch_size is not None:
        return False
    if not all(isinstance(m, ExpectationMP) for m in tape.measurements):
        return False
    parameters = tape.get_parameters(trainable_only=True, operations_only=True)
    if len(parameters) != len(tape.trainable_params):
        return False  # a trainable observable
    return all(_float64(p) for p in parameters)


def _float64(value: Any) -> bool:
    return type(value) is float or (
        isinstance(value, np.ndarray | np.generic) and value.dtype == np.float64
    )


def _moved(
    tape: QuantumScript, shifted: QuantumScript
) -> list[tuple[int, int, float, float]] | None:
    """(operation, parameter, before, after) of each parameter ``shifted`` changed; None
    where a parameter is not one number."""
    moved = []
    for number, (ours, theirs) in enumerate(zip(tape.operations, shifted.operations, strict=True)):
        for index, (before, after) in enumerate(zip(ours.data, theirs.data, strict=True)):
            if not (_float64(before) and _float64(after)):
                if before is after:
                    continue
                return None
            if float(before) != float(after):
                moved.append((number, index, float(before), float(after)))
    return moved


def _same_results(first: Any, second: Any) -> bool:
    try:
        a = np.asarray(first, dtype=float)
        b = np.asarray(second, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _make(tape: QuantumScript, program: TapeProgram) -> ShiftPlan | None:
    """The plan read off ``param_shift`` of ``tape``, or None if it is not exactly one."""
    trainable = list(tape.trainable_params)  # (indices among all the tape's parameters)
    probes = [tape.bind_new_parameters([value] * len(trainable), trainable) for value in PROBES]
    for probe, value in zip(probes, PROBES, strict=True):
        if probe.get_parameters() != [value] * len(trainable):
            return None
    made = [qml.gradients.param_shift(t) for t in (tape, *probes)]
    sizes = {len(tapes) for tapes, _ in made}
    if len(sizes) != 1:
        return None
    slots: list[int | None] = []
    shifts: list[float] = []
    for k in range(sizes.pop()):
        found = []
        for source, (tapes, _) in zip((tape, *probes), made, strict=True):
            shifted = tapes[k]
            if structure(shifted.operations) != structure(source.operations) or any(
                a is not b for a, b in zip(shifted.measurements, source.measurements, strict=False)
            ):
                return None
            if len(shifted.measurements) != len(source.measurements):
                return None
            moved = _moved(source, shifted)
            if moved is None:
                return None
            found.append(moved)
        if not any(found):
            slots.append(None)
            shifts.append(0.0)
            continue
        if any(len(moved) != 1 for moved in found):
            return None
        places = {(number, index) for ((number, index, _, _),) in found}
        if len(places) != 1:
            return None
        place = places.pop()
        if place not in program.sources:
            return None
        shift = found[1][0][3]  # at zero: 0.0 * 1.0 + s is s exactly
        if any(before + shift != after for ((_, _, before, after),) in found):
            return None
        slots.append(program.sources.index(place))
        shifts.append(shift)
    width = len(tape.measurements)
    results = [
        (k + 1) / 7.0 if width == 1 else tuple((k + 1) / (7.0 + m) for m in range(width))
        for k in range(len(slots))
    ]
    if not _same_results(made[0][1](results), made[2][1](results)):
        return None  # the processing depends on the values: not a plan
    return ShiftPlan(tuple(slots), tuple(shifts), made[0][1])


CACHE_SIZE = 256
_plans: LRUMemo[ShiftPlan | None] = LRUMemo(CACHE_SIZE)


def shift_plan(tape: QuantumScript, program: TapeProgram, key: Hashable) -> ShiftPlan | None:
    """The :class:`ShiftPlan` of a :func:`plannable` ``tape`` (whose program is
    ``program``), once per structure, trainable parameters and ``key`` (what else the
    gradient depends on: its measurements' kinds, wires and observables); None where
    ``param_shift`` must build the tapes."""
    full = (structure(tape.operations), tuple(tape.trainable_params), key)
    return _plans.get(full, lambda: _make(tape, program))
