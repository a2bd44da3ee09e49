"""Quantum primitives for whoever can hand a sealed request to the QPU dispatcher.

A job's context sends requests over its worker's channel, a pilot straight to its
dispatcher; both offer the same front ends: Qiskit's SamplerV2 and EstimatorV2 (with
execution options), a Cirq sampler and a PennyLane device.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from qlambda.core.errors import UnknownBackendError
from qlambda.engine.channel import Channel

_current: contextvars.ContextVar[QuantumAccess | None] = contextvars.ContextVar(
    "qlambda_quantum_access", default=None
)


def current_access() -> QuantumAccess | None:
    """The context of the job or pilot task running here (its QPUs), or None outside one.

    What code that receives no ``ctx`` uses to reach the platform's QPUs: a Qiskit
    Serverless program's primitives, ``qlambda.runtime.QiskitRuntimeService``."""
    return _current.get()


@contextlib.contextmanager
def using_access(access: QuantumAccess) -> Iterator[QuantumAccess]:
    """Make ``access`` the :func:`current_access` of the code run inside the block."""
    token = _current.set(access)
    try:
        yield access
    finally:
        _current.reset(token)


class QuantumAccess:
    execution_options: list[Any] | None = None  # default options of the primitives

    def sampler(
        self,
        backend: str | None = None,
        *,
        default_shots: int = 1024,
        options: Iterable[Any] | None = None,
        optimization_level: int | None = None,
    ) -> Any:
        """A Qiskit SamplerV2 whose every ``run`` is a quantum task in the platform's queue.

        ``backend``: a name; None runs every unnamed call of a job on one backend, chosen
        at its first such call; ``"auto"`` chooses for each call.
        ``options``: execution options (``["ddd"]``, see ``qlambda.quantum.pipeline``),
        outermost first; by default the job's ``execution_options`` (those that apply to a
        sampler). ``[]`` turns them off. ``optimization_level``: 0-3 transpiles circuits not
        yet written for the device with Qiskit's preset pass manager at that level; None
        (the default) only lays them out, routes and translates them, cancelling nothing.
        """
        from qlambda.quantum.primitives import PlatformSamplerV2

        backend, mode = _in_session(backend)
        sampler = PlatformSamplerV2(
            self._submit_quantum,
            backend=backend,
            default_shots=default_shots,
            options=self.execution_options if options is None else options,
            strict_options=options is not None,
            optimization_level=optimization_level,
        )
        sampler.mode_id = mode
        return sampler

    def estimator(
        self,
        backend: str | None = None,
        *,
        default_precision: float | None = None,
        options: Iterable[Any] | None = None,
        optimization_level: int | None = None,
    ) -> Any:
        """A Qiskit EstimatorV2 whose every ``run`` is a quantum task in the platform's queue.

        ``default_precision`` None: exact values on an ideal simulator, 0.015625 (4096
        shots) on a noisy device. ``backend``, ``options`` and ``optimization_level`` as
        for :meth:`sampler`; ``options`` by default the job's ``execution_options``.
        """
        from qlambda.quantum.primitives import PlatformEstimatorV2

        backend, mode = _in_session(backend)
        estimator = PlatformEstimatorV2(
            self._submit_quantum,
            backend=backend,
            default_precision=default_precision,
            options=self.execution_options if options is None else options,
            strict_options=options is not None,
            optimization_level=optimization_level,
        )
        estimator.mode_id = mode
        return estimator

    def backend(self, name: str) -> Any:
        """Backend ``name`` as a Qiskit ``BackendV2``: its device's ``Target`` (for
        ``transpile`` and ``generate_preset_pass_manager``), ``run(circuits, shots=n)``
        through the platform's queue, and the ``mode`` of ``qlambda.runtime``'s
        SamplerV2, EstimatorV2, Session and Batch."""
        from qlambda.quantum.platform_backend import PlatformBackend

        if not isinstance(name, str) or not name:
            raise TypeError(f"ctx.backend takes a backend's name, e.g. 'aer'; got {name!r}")
        return PlatformBackend(self, self._describe_backend(name))

    def session(self, backend: str, max_time: int | str | None = None) -> Any:
        """A :class:`qlambda.runtime.Session` on backend ``backend``: the primitives made
        inside its ``with`` block (``ctx.sampler()``, ``ctx.estimator()``, or with
        ``mode=session``) run there, and on a backend with vendor sessions (kind ``ibm``)
        in one Runtime session, the device kept between their calls."""
        from qlambda.runtime import Session

        return Session(backend=self.backend(backend), max_time=max_time)

    def batch(self, backend: str, max_time: int | str | None = None) -> Any:
        """As :meth:`session`, a :class:`qlambda.runtime.Batch`: a vendor runs its calls
        as one Runtime batch (for a fan-out of independent circuits)."""
        from qlambda.runtime import Batch

        return Batch(backend=self.backend(backend), max_time=max_time)

    def cirq_sampler(
        self,
        backend: str | None = None,
        *,
        options: Iterable[Any] | None = None,
        optimization_level: int | None = None,
    ) -> Any:
        """A ``cirq.Sampler`` over the platform: ``run``/``run_sweep``/``run_batch`` return
        ``cirq.Result`` s (a sweep or a batch is one quantum task); on an ideal simulator
        also ``cirq.Simulator``'s ``simulate``/``simulate_sweep`` (final state vectors) and
        ``simulate_expectation_values(_sweep)``, each one quantum task."""
        from qlambda.quantum.sdk.cirq_sampler import PlatformCirqSampler

        level = optimization_level
        return PlatformCirqSampler(
            self.sampler(backend, options=options, optimization_level=level),
            estimator=self.estimator(backend, options=[], optimization_level=level),
            states=self.state_vectors(backend),
        )

    def state_vectors(self, backend: str | None = None) -> Any:
        """Final state vectors of circuits without measurements, from an ideal simulator
        (:class:`~qlambda.quantum.primitives.PlatformStateVectors`): ``run(pubs)`` is one
        quantum task; ``result()[i].data.state`` holds PUB i's states, Qiskit-ordered."""
        from qlambda.quantum.primitives import PlatformStateVectors

        backend, mode = _in_session(backend)
        states = PlatformStateVectors(self._submit_quantum, backend=backend)
        states.mode_id = mode
        return states

    def pennylane_device(
        self,
        wires: Any,
        backend: str | None = None,
        *,
        shots: int | None = None,
        options: Iterable[Any] | None = None,
        optimization_level: int | None = None,
    ) -> Any:
        """The ``qlambda.platform`` PennyLane device: QNodes run as platform quantum tasks.

        ``qml.expval`` / ``qml.var`` go to an estimator, ``qml.probs`` / ``qml.counts`` /
        ``qml.sample`` (with shots) to a sampler, both on ``backend`` with ``options``.
        Without shots (analytic mode) expectation values are exact on an ideal simulator;
        a noisy device, which cannot be exact, takes its default 4096 shots. Gradients
        are computed by the device, each one quantum task: ``diff_method="adjoint"`` (an
        ideal simulator's final states), ``"parameter-shift"`` (every shifted circuit in
        one request); ``"best"`` is adjoint on a named ideal simulator without options
        and shots, parameter shift otherwise.
        """
        from qlambda.quantum.backends import backend_kind
        from qlambda.quantum.sdk.pennylane_device import QlambdaDevice

        level = optimization_level
        exact = False
        if backend is not None and backend != "auto":
            exact = backend_kind(self._describe_backend(backend)["kind"]).exact
        return QlambdaDevice(
            wires=wires,
            shots=shots,
            estimator=self.estimator(backend, options=options, optimization_level=level),
            # made when a QNode first samples: an option only estimators take fails only then
            sampler=lambda: self.sampler(backend, options=options, optimization_level=level),
            states=self.state_vectors(backend),
            exact=exact and not options,
        )

    def backends(self) -> list[dict[str, Any]]:
        """The QPUs this code can reach: each one's ``name``, ``kind``, ``device``,
        ``num_qubits`` and ``load`` (its tasks waiting or executing now)."""
        return self._list_backends()

    def _list_backends(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _submit_quantum(self, request: Any) -> Future[Any]:
        from qlambda.quantum.envelope import seal

        return self._send(seal(request))

    def _describe_backend(self, name: str) -> dict[str, Any]:
        """``name``, ``kind``, ``device`` and ``num_qubits`` of backend ``name``; unknown
        names raise, listing the backends there are."""
        raise NotImplementedError

    def _send(self, envelope: Any) -> Future[Any]:
        """Hand a sealed request to the dispatcher; the Future resolves to its result."""
        raise NotImplementedError


class ChannelAccess(QuantumAccess):
    """Quantum access over a task's channel to whoever runs it: a job's context (the
    control plane answers) or a pilot task's (its pilot answers)."""

    _channel: Channel

    def _send(self, envelope: Any) -> Future[Any]:
        return self._channel.request("quantum", envelope.to_data())

    def _describe_backend(self, name: str) -> dict[str, Any]:
        described: dict[str, Any] = self._channel.request("backend", name).result()
        return described

    def _list_backends(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._channel.request("backends", None).result()
        return listed


def _in_session(backend: str | None) -> tuple[str | None, str | None]:
    """Inside a ``with Session(...)`` block, a primitive for its backend (or for none)
    runs in it: (backend, session id); elsewhere (backend, None)."""
    from qlambda.runtime import current_session

    session = current_session()
    if session is None or backend not in (None, session.backend()):
        return backend, None
    session.check_open()
    return session.backend(), session.session_id


def describe_backends(dispatcher: Any) -> list[dict[str, Any]]:
    """What :meth:`QuantumAccess.backends` returns, from a QPU dispatcher."""
    stats = {row["backend"]: row for row in dispatcher.stats()}
    described = []
    for config in dispatcher.configs():
        row = describe_backend([config], config.name)
        load = stats.get(config.name, {})
        row["num_qubits"] = row["num_qubits"] or load.get("num_qubits")
        row["load"] = load.get("pending", 0) + load.get("running", 0)
        described.append(row)
    return described


def describe_backend(configs: list[Any], name: str) -> dict[str, Any]:
    """What a function's ``ctx.backend(name)`` is built from; unknown names raise."""
    for config in configs:
        if config.name == name:
            return {
                "name": config.name,
                "kind": config.kind,
                "device": config.device,
                "num_qubits": config.num_qubits,
            }
    raise UnknownBackendError(name, [config.name for config in configs])
