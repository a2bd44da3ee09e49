"""SamplerV2 / EstimatorV2 implementations that hand each ``run()`` to the platform.

Inside a user function, ``ctx.sampler()`` and ``ctx.estimator()`` return these objects,
so code written for Qiskit's primitives runs unchanged. Each ``run()`` coerces the PUBs
in the caller's process (bad PUBs fail right there, with Qiskit's message), becomes one
:class:`QuantumRequest`, and is handed to ``submit``, which returns a
``concurrent.futures.Future`` of the :class:`PrimitiveResult` (or of the executor's
:class:`ExecutionOutcome`, whose timings the job then also reports). Where the request goes
(another process, a queue, a QPU slot) is the platform's business, not this module's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2, PrimitiveResult
from qiskit.primitives.base.base_primitive_job import BasePrimitiveJob
from qiskit.primitives.containers import EstimatorPubLike, SamplerPubLike
from qiskit.providers import JobStatus

from qlambda.quantum.envelope import ResultEnvelope
from qlambda.quantum.outcome import ExecutionOutcome
from qlambda.quantum.request import (
    DEFAULT_SHOTS,
    QuantumRequest,
    check_optimization_level,
    make_request,
)

# What a request's future resolves to: the result, or the result with the backend's timings,
# or either still sealed as it crossed from the control plane.
Answer = Future[PrimitiveResult] | Future[ExecutionOutcome] | Future[ResultEnvelope]
Submit = Callable[[QuantumRequest], Answer]


class PlatformJob(BasePrimitiveJob[PrimitiveResult, JobStatus]):
    """A primitive job backed by the platform's future for one quantum request."""

    def __init__(self, future: Answer, request: QuantumRequest) -> None:
        super().__init__(str(uuid.uuid4()))
        self.future = future
        self.request = request
        self._opened: PrimitiveResult | None = None

    def result(self, timeout: float | None = None) -> PrimitiveResult:
        """Block until the backend has run the request; re-raises its error if it failed."""
        value = self.future.result(timeout)
        if isinstance(value, ResultEnvelope):
            if self._opened is None:
                self._opened = value.open()
            return self._opened
        return value.result if isinstance(value, ExecutionOutcome) else value

    def metrics(self) -> dict[str, float | None]:
        """Backend busy, simulated and emulated seconds, when the platform reported them.

        Blocks until the request has run, like :meth:`result`.
        """
        value = self.future.result()
        if not isinstance(value, ExecutionOutcome | ResultEnvelope):
            return {}
        return {
            "busy_seconds": value.busy_seconds,
            "simulated_seconds": value.simulated_seconds,
            "emulated_seconds": value.emulated_seconds,
        }

    def status(self) -> JobStatus:
        if self.future.cancelled():
            return JobStatus.CANCELLED
        if self.future.done():
            return JobStatus.ERROR if self.future.exception() is not None else JobStatus.DONE
        if self.future.running():
            return JobStatus.RUNNING
        return JobStatus.QUEUED

    def done(self) -> bool:
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def in_final_state(self) -> bool:
        return self.future.done()

    def cancel(self) -> bool:
        """Withdraw the request if it has not started on a backend yet."""
        return self.future.cancel()


def _check_submit(submit: object) -> None:
    if not callable(submit):
        raise TypeError(f"submit must be a callable returning a Future, got {submit!r}")


def _as_qiskit_pubs(pubs: Iterable[Any]) -> list[Any]:
    """PUB-likes with circuits from any supported SDK made Qiskit circuits."""
    from qlambda.quantum.sdk.circuits import convert_pub, to_qiskit

    if isinstance(pubs, str) or hasattr(pubs, "all_qubits") or hasattr(pubs, "num_qubits"):
        to_qiskit(pubs)  # unsupported kinds say so first
        raise TypeError("pubs must be a list of PUBs, e.g. run([circuit]), not run(circuit)")
    return [convert_pub(pub) for pub in pubs]


def _steps_for(
    primitive: str, options: Iterable[Any] | None, strict: bool = True
) -> tuple[Any, ...]:
    """Resolve execution options here, in the caller's process, so mistakes fail at once.

    ``strict=False`` (a job's default options) skips steps that do not apply to this
    primitive instead of failing: ``["readout", "zne"]`` for a job still lets it sample.
    """
    if not options:
        return ()
    from qlambda.quantum.pipeline import resolve_options

    steps = resolve_options(options)
    if not strict:
        return tuple(
            step
            for step in steps
            if primitive in getattr(step, "primitives", ("sampler", "estimator"))
        )
    for step in steps:
        accepted = getattr(step, "primitives", ("sampler", "estimator"))
        if primitive not in accepted:
            name = getattr(step, "name", type(step).__name__)
            raise ValueError(
                f"execution option {name!r} works with the {' and '.join(accepted)} only, "
                f"not the {primitive}"
            )
    return steps


class PlatformSamplerV2(BaseSamplerV2):
    """Qiskit SamplerV2 whose runs execute on a platform backend (by name, or chosen).

    ``optimization_level``: Qiskit's preset level for circuits not yet written for the
    device (None: the backend's default, which never cancels a gate).
    """

    def __init__(
        self,
        submit: Submit,
        *,
        backend: str | None = None,
        default_shots: int = DEFAULT_SHOTS,
        options: Iterable[Any] | None = None,
        strict_options: bool = True,
        optimization_level: int | None = None,
    ) -> None:
        _check_submit(submit)
        check_optimization_level(optimization_level)
        self.optimization_level = optimization_level
        self.options = _steps_for("sampler", options, strict_options)
        if isinstance(default_shots, bool) or not isinstance(default_shots, int):
            raise TypeError(f"default_shots must be a positive integer, got {default_shots!r}")
        if default_shots < 1:
            raise ValueError(f"default_shots must be a positive integer, got {default_shots}")
        self._submit = submit
        self.backend = backend
        self.default_shots = default_shots

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> PlatformJob:
        request = make_request(
            "sampler",
            _as_qiskit_pubs(pubs),
            shots=self.default_shots if shots is None else shots,
            backend=self.backend,
            options=self.options,
            optimization_level=self.optimization_level,
        )
        return PlatformJob(self._submit(request), request)


class PlatformEstimatorV2(BaseEstimatorV2):
    """Qiskit EstimatorV2 whose runs execute on a platform backend (by name, or chosen).

    ``default_precision`` None (the default) leaves the precision to the backend: exact
    values on an ideal simulator (as Qiskit's StatevectorEstimator and Aer's EstimatorV2),
    4096 shots (0.015625) on a noisy device, which cannot be exact. ``optimization_level``
    as for :class:`PlatformSamplerV2`.
    """

    def __init__(
        self,
        submit: Submit,
        *,
        backend: str | None = None,
        default_precision: float | None = None,
        options: Iterable[Any] | None = None,
        strict_options: bool = True,
        optimization_level: int | None = None,
    ) -> None:
        _check_submit(submit)
        check_optimization_level(optimization_level)
        self.optimization_level = optimization_level
        self.options = _steps_for("estimator", options, strict_options)
        if default_precision is not None:
            if isinstance(default_precision, bool) or not isinstance(
                default_precision, int | float
            ):
                raise TypeError(
                    "default_precision must be a number >= 0, or None for the backend's "
                    f"default, got {default_precision!r}"
                )
            if not default_precision >= 0:
                raise ValueError(f"default_precision must be >= 0, got {default_precision}")
            default_precision = float(default_precision)
        self._submit = submit
        self.backend = backend
        self.default_precision = default_precision

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PlatformJob:
        request = make_request(
            "estimator",
            _as_qiskit_pubs(pubs),
            precision=self.default_precision if precision is None else precision,
            backend=self.backend,
            options=self.options,
            optimization_level=self.optimization_level,
        )
        return PlatformJob(self._submit(request), request)
