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

from qlambda.engine.protocol import Encoded
from qlambda.quantum.envelope import ResultEnvelope
from qlambda.quantum.outcome import ExecutionOutcome
from qlambda.quantum.request import (
    DEFAULT_SHOTS,
    QuantumRequest,
    check_optimization_level,
    make_request,
)
from qlambda.quantum.runtime_options import (
    EstimatorOptions,
    PrimitiveOptions,
    RuntimeOptionError,
    SamplerOptions,
    make_options,
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
        value = _opened(self.future.result(timeout))
        if isinstance(value, ResultEnvelope):
            if self._opened is None:
                self._opened = value.open()
            return self._opened
        return value.result if isinstance(value, ExecutionOutcome) else value

    def metrics(self) -> dict[str, float | None]:
        """Backend busy, simulated and emulated seconds, when the platform reported them.

        Blocks until the request has run, like :meth:`result`.
        """
        value = _opened(self.future.result())
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


def _opened(value: Any) -> Any:
    """An answer an executor sent straight to this worker arrives as data."""
    if isinstance(value, Encoded):
        return ResultEnvelope.from_encoded(value)
    return value


def _check_submit(submit: object) -> None:
    if not callable(submit):
        raise TypeError(f"submit must be a callable returning a Future, got {submit!r}")


class TaggedJob(PlatformJob):
    """A job of a primitive whose ``options.environment.job_tags`` were set: ``tags``, and
    its result's ``metadata["job_tags"]``."""

    def __init__(self, future: Answer, request: QuantumRequest, tags: list[str]) -> None:
        super().__init__(future, request)
        self.tags = list(tags)

    def result(self, timeout: float | None = None) -> PrimitiveResult:
        result = super().result(timeout)
        result.metadata["job_tags"] = list(self.tags)
        return result


def _job(future: Answer, request: QuantumRequest, tags: list[str]) -> PlatformJob:
    return TaggedJob(future, request, tags) if tags else PlatformJob(future, request)


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
    device (None: the backend's default, which never cancels a gate). ``options``: IBM
    Runtime's sampler options (:class:`SamplerOptions`), set as code written for
    ``qiskit_ibm_runtime`` sets them (``sampler.options.default_shots = 10_000``).
    """

    mode_id: str | None = None
    """The session or batch its calls run in (:class:`qlambda.runtime.Session`), if any."""

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
        self._listed = _steps_for("sampler", options, strict_options)
        self._steps = _Steps("sampler", self._listed, strict_options and bool(options))
        if isinstance(default_shots, bool) or not isinstance(default_shots, int):
            raise TypeError(f"default_shots must be a positive integer, got {default_shots!r}")
        if default_shots < 1:
            raise ValueError(f"default_shots must be a positive integer, got {default_shots}")
        self._submit = submit
        self.backend = backend
        self._default_shots = default_shots
        self.options = SamplerOptions()

    @property
    def options(self) -> SamplerOptions:
        """IBM Runtime's sampler options; assign a dict or set them one by one."""
        return self._options

    @options.setter
    def options(self, value: Any) -> None:
        made = make_options(SamplerOptions, value)
        assert isinstance(made, SamplerOptions)
        self._options = made

    @property
    def default_shots(self) -> int:
        """``options.default_shots`` if set, else the sampler's own default."""
        shots = self._options.default_shots
        return int(shots) if shots else self._default_shots

    @property
    def steps(self) -> tuple[Any, ...]:
        """The execution-option steps each run goes through, outermost first."""
        return self._steps.resolve(self._options)

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> PlatformJob:
        tags = self._options.job_tags
        request = make_request(
            "sampler",
            _as_qiskit_pubs(pubs),
            shots=self.default_shots if shots is None else shots,
            backend=self.backend,
            options=self.steps,
            optimization_level=self.optimization_level,
            mode=self.mode_id,
            tags=tags,
        )
        return _job(self._submit(request), request, tags)


class PlatformEstimatorV2(BaseEstimatorV2):
    """Qiskit EstimatorV2 whose runs execute on a platform backend (by name, or chosen).

    ``default_precision`` None (the default) leaves the precision to the backend: exact
    values on an ideal simulator (as Qiskit's StatevectorEstimator and Aer's EstimatorV2),
    4096 shots (0.015625) on a noisy device, which cannot be exact. ``optimization_level``
    as for :class:`PlatformSamplerV2`; ``options`` IBM Runtime's estimator options
    (:class:`EstimatorOptions`: ``estimator.options.resilience_level = 1``).
    """

    mode_id: str | None = None

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
        self._listed = _steps_for("estimator", options, strict_options)
        self._steps = _Steps("estimator", self._listed, strict_options and bool(options))
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
        self._default_precision = default_precision
        self.options = EstimatorOptions()

    @property
    def options(self) -> EstimatorOptions:
        """IBM Runtime's estimator options; assign a dict or set them one by one."""
        return self._options

    @options.setter
    def options(self, value: Any) -> None:
        made = make_options(EstimatorOptions, value)
        assert isinstance(made, EstimatorOptions)
        self._options = made

    @property
    def default_precision(self) -> float | None:
        """From ``options`` (``default_shots`` n: ``1/sqrt(n)``) if set there, else the
        estimator's own default."""
        precision = self._options.precision()
        return self._default_precision if precision is None else precision

    @property
    def steps(self) -> tuple[Any, ...]:
        """The execution-option steps each run goes through, outermost first."""
        return self._steps.resolve(self._options)

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PlatformJob:
        tags = self._options.job_tags
        request = make_request(
            "estimator",
            _as_qiskit_pubs(pubs),
            precision=self.default_precision if precision is None else precision,
            backend=self.backend,
            options=self.steps,
            optimization_level=self.optimization_level,
            mode=self.mode_id,
            tags=tags,
        )
        return _job(self._submit(request), request, tags)


class PlatformStateVectors:
    """Final state vectors of circuits: ``run(pubs)`` is one ``statevector`` request,
    served by ideal simulators only (Cirq's ``simulate()``, PennyLane's adjoint gradients).

    Each PUB is a circuit without measurements and its parameter values; its result's
    ``data.state`` holds a state per parameter set, in Qiskit's qubit order (qubit 0 the
    least significant bit of the index).
    """

    mode_id: str | None = None

    def __init__(self, submit: Submit, *, backend: str | None = None) -> None:
        _check_submit(submit)
        self._submit = submit
        self.backend = backend

    def run(self, pubs: Iterable[SamplerPubLike]) -> PlatformJob:
        request = make_request(
            "statevector", _as_qiskit_pubs(pubs), backend=self.backend, mode=self.mode_id
        )
        return _job(self._submit(request), request, [])


class _Steps:
    """A primitive's steps: its listed execution options, or those its IBM-style options
    ask for once any mitigation option is set there (resolved once per setting)."""

    def __init__(self, primitive: str, listed: tuple[Any, ...], explicit: bool) -> None:
        self.primitive = primitive
        self.listed = listed
        self.explicit = explicit
        self._cache: tuple[str, tuple[Any, ...]] | None = None

    def resolve(self, options: PrimitiveOptions) -> tuple[Any, ...]:
        wanted = options.execution_options()
        if wanted is None:
            return self.listed
        if self.explicit:
            raise RuntimeOptionError(
                f"this {self.primitive} was made with execution options "
                f"{[getattr(s, 'name', s) for s in self.listed]}; its IBM-style mitigation "
                "options (resilience_level, resilience.*, dynamical_decoupling.enable) "
                "choose the steps themselves; accepted: one or the other"
            )
        key = repr(wanted)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, _steps_for(self.primitive, wanted))
        return self._cache[1]
