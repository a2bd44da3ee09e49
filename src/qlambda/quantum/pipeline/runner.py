"""A request's PUBs through the pipeline and back into Qiskit's result containers.

Each PUB is flattened into one :class:`Execution` per element of its broadcast shape, the
steps run over all of them together (so every circuit of the request, including all the
circuits steps add, is measured in one batched call), and the outcomes are folded back
into the PUB's shape: ``evs``/``stds`` for an estimator, ``BitArray`` s for a sampler.

An estimator's circuit runs without its final measurements, the terms they dephase
dropped (:mod:`qlambda.quantum.estimator_measurements`); one measuring mid-circuit runs
as written, its measurements sampled with the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from qiskit.primitives import BitArray, DataBin, PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.pub_result import PubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.containers.sampler_pub_result import SamplerPubResult
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.pipeline.base import (
    BackendView,
    Execution,
    Measure,
    Outcome,
    PipelineStep,
    run_steps,
)
from qlambda.quantum.request import QuantumRequest


def _bound(pub: EstimatorPub | SamplerPub, index: tuple[int, ...]) -> object:
    if pub.parameter_values.num_parameters == 0:
        return pub.circuit
    return pub.parameter_values.bind(pub.circuit, index)


def _estimator_executions(pub: EstimatorPub, backend: BackendView) -> list[Execution]:
    from qlambda.quantum.estimator_measurements import dephase, measured_circuit

    shots = _shots(pub)
    measured = measured_circuit(pub.circuit, backend.memo)
    runs = EstimatorPub(
        measured.circuit,
        pub.observables,
        pub.parameter_values,
        pub.precision,
        validate=False,
    )
    param_shape = pub.parameter_values.shape
    param_index = np.fromiter(np.ndindex(param_shape), dtype=object).reshape(param_shape)
    indices, observables = np.broadcast_arrays(param_index, pub.observables)
    bound: dict[tuple[int, ...], object] = {}
    executions = []
    identity = "I" * pub.circuit.num_qubits
    for position in np.ndindex(*pub.shape):
        where = indices[position]
        if where not in bound:
            bound[where] = _bound(runs, where)
        terms = dephase(observables[position], measured.dephased) or {identity: 0.0}
        observable = SparsePauliOp.from_list(list(terms.items()))
        executions.append(Execution(bound[where], shots, observable))
    return executions


def _shots(pub: EstimatorPub) -> int:
    """Shots per execution as Qiskit's BackendEstimatorV2 counts them; 0 for precision 0,
    exact values (only an ideal simulator serves those)."""
    return math.ceil(1.0 / pub.precision**2) if pub.precision else 0


def _sampler_executions(pub: SamplerPub) -> list[Execution]:
    return [
        Execution(_bound(pub, index), int(pub.shots))
        for index in np.ndindex(*pub.parameter_values.shape)
    ]


def _estimator_result(
    pub: EstimatorPub, outcomes: Sequence[Outcome], names: list[str]
) -> PubResult:
    evs = np.array([o.value for o in outcomes], dtype=float).reshape(pub.shape)
    stds = np.array([o.std for o in outcomes], dtype=float).reshape(pub.shape)
    metadata = {
        "target_precision": pub.precision,
        "shots": _shots(pub),
        "execution_options": names,
        "outcomes": [o.metadata for o in outcomes if o.metadata],
    }
    return PubResult(DataBin(evs=evs, stds=stds, shape=pub.shape), metadata=metadata)


def _sampler_result(
    pub: SamplerPub, outcomes: Sequence[Outcome], names: list[str]
) -> SamplerPubResult:
    shape = pub.parameter_values.shape
    registers = {}
    # A sampler's outcomes all carry their bits (Outcome.bits is None for an estimator's).
    for name in outcomes[0].bits or {}:
        arrays = [o.bits[name].array for o in outcomes]  # type: ignore[index]
        stacked = np.stack(arrays).reshape(*shape, *arrays[0].shape)
        registers[name] = BitArray(stacked, outcomes[0].bits[name].num_bits)  # type: ignore[index]
    metadata: dict[str, Any] = {"shots": int(pub.shots), "execution_options": names}
    quasi = [o.metadata["quasi_dists"] for o in outcomes if "quasi_dists" in o.metadata]
    if quasi:  # readout-mitigated distributions, one per binding, in the PUB's order
        metadata["quasi_dists"] = quasi if shape else quasi[0]
    return SamplerPubResult(DataBin(**registers, shape=shape), metadata=metadata)


def run_request(
    request: QuantumRequest,
    steps: Sequence[PipelineStep],
    backend: BackendView,
    measure: Measure,
) -> PrimitiveResult:
    """Run a prepared request (circuits runnable on the backend) through ``steps``."""
    names = [getattr(step, "name", type(step).__name__) for step in steps]
    if request.primitive == "estimator":
        per_pub = [_estimator_executions(pub, backend) for pub in request.pubs]
    else:
        per_pub = [_sampler_executions(pub) for pub in request.pubs]
    executions = [execution for group in per_pub for execution in group]
    outcomes = run_steps(steps, executions, backend, measure)
    results = []
    start = 0
    for pub, group in zip(request.pubs, per_pub, strict=True):
        mine = outcomes[start : start + len(group)]
        start += len(group)
        if request.primitive == "estimator":
            results.append(_estimator_result(pub, mine, names))
        else:
            results.append(_sampler_result(pub, mine, names))
    return PrimitiveResult(results, metadata={"version": 2, "execution_options": names})
