"""A ``cirq.Sampler`` whose runs are platform quantum tasks.

Cirq code keeps its own shape: ``sampler.run(circuit, repetitions=1000)`` returns a
``cirq.Result`` with ``measurements[key]`` of shape (repetitions, qubits in the
measurement), and ``run_sweep`` resolves every parameter set and sends all the resolved
circuits as ONE platform sampler request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import numpy as np

from qlambda.quantum.sdk.circuits import from_cirq


class PlatformCirqSampler(cirq.Sampler):
    """Wraps a platform SamplerV2 (``ctx.sampler(...)``) as a Cirq sampler."""

    def __init__(self, sampler: Any) -> None:
        self._sampler = sampler

    def run_sweep(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        resolvers = list(cirq.to_resolvers(params))
        circuits = [from_cirq(cirq.resolve_parameters(program, r)) for r in resolvers]
        if not any(circuit.num_clbits for circuit in circuits):
            raise ValueError("the Cirq circuit has no measurements: add cirq.measure(...)")
        result = self._sampler.run([(c, None, repetitions) for c in circuits]).result()
        answers = []
        for resolver, pub in zip(resolvers, result, strict=True):
            measurements = {}
            for name, bits in pub.data.items():
                key = name[2:] if name.startswith("m_") else name
                measurements[key] = bits.to_bool_array(order="little").astype(np.int8)
            answers.append(cirq.ResultDict(params=resolver, measurements=measurements))
        return answers
