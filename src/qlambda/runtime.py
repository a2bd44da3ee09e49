"""IBM-Runtime-style primitives over the platform: code written for ``qiskit_ibm_runtime``
runs inside a function with only its import line changed.

```python
from qlambda.runtime import SamplerV2, EstimatorV2, Session, Batch

def job(ctx):
    backend = ctx.backend("torino")            # a Qiskit BackendV2 with the device's Target
    with Session(backend=backend) as session:
        estimator = EstimatorV2(mode=session)
        estimator.options.resilience_level = 1  # -> the 'readout' execution option
        ...
```

``mode`` is a backend from ``ctx.backend(name)`` (or ``pilot.backend(name)``), a
:class:`Session` or a :class:`Batch` over one, or None inside a ``with Session(...)``
block. A Session or Batch here groups the calls of a job on one backend: every primitive
made with it runs there, and none runs once it is closed. It reserves no device time: a
vendor session (IBM's dedicated window) comes with a real device's adapter. Options
follow :mod:`qlambda.quantum.runtime_options`.

On a backend whose kind has vendor sessions (``ibm``), the calls of one Session run in
one IBM Runtime session (the device kept between them), those of a Batch in one Runtime
batch; the platform closes them when the job ends. ``ctx.session(name)`` and
``ctx.batch(name)`` make them from a backend's name.

Code that receives no ``ctx`` (a Qiskit Serverless function file, a helper module) gets
its backends from :class:`QiskitRuntimeService`: ``QiskitRuntimeService().backend(name)``
or ``.least_busy()`` inside a job or a pilot task are the platform's backends.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

from qlambda.quantum.platform_backend import PlatformBackend
from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformJob, PlatformSamplerV2
from qlambda.quantum.runtime_options import (
    EstimatorOptions,
    RuntimeOptionError,
    SamplerOptions,
)

__all__ = [
    "Batch",
    "EstimatorOptions",
    "EstimatorV2",
    "QiskitRuntimeService",
    "RuntimeOptionError",
    "SamplerOptions",
    "SamplerV2",
    "Session",
]

_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "qlambda_runtime_session", default=None
)


def current_session() -> Session | None:
    """The Session or Batch whose ``with`` block is running, if any."""
    return _current.get()


def _check_backend(backend: Any, what: str) -> PlatformBackend:
    if isinstance(backend, PlatformBackend):
        return backend
    raise TypeError(
        f"{what} takes a platform backend: ctx.backend(name) inside a function (or "
        f"pilot.backend(name)); got {type(backend).__name__}"
    )


class Session:
    """Calls grouped on one backend, as ``qiskit_ibm_runtime.Session``.

    ``max_time`` is accepted as IBM's (seconds, or a string such as ``"2h"``) and bounds
    nothing here: a job's time limit is its function's ``timeout``.
    """

    _kind = "session"

    def __init__(
        self,
        backend: Any = None,
        max_time: int | str | None = None,
        *,
        create_new: bool | None = True,
    ) -> None:
        if backend is None:
            raise TypeError(f"{type(self).__name__} needs backend=ctx.backend(name)")
        self._backend = _check_backend(backend, type(self).__name__)
        if max_time is not None and (
            isinstance(max_time, bool) or not isinstance(max_time, int | str)
        ):
            raise TypeError(f"max_time is seconds or a string such as '2h'; got {max_time!r}")
        self.max_time = max_time
        self.session_id = f"{self._kind}-{uuid.uuid4().hex[:12]}"
        self._active = True
        self._token: contextvars.Token[Session | None] | None = None

    @property
    def mode_backend(self) -> PlatformBackend:
        return self._backend

    def backend(self) -> str:
        """The backend's name (as IBM's ``Session.backend()``)."""
        name: str = self._backend.name
        return name

    def status(self) -> str:
        return "Open" if self._active else "Closed"

    def details(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "backend_name": self._backend.name,
            "mode": "dedicated" if self._kind == "session" else "batch",
            "state": self.status().lower(),
            "max_time": self.max_time,
        }

    def usage(self) -> float | None:
        return None

    def close(self) -> None:
        """No further calls run through it; calls already sent finish."""
        self._active = False

    def cancel(self) -> None:
        self.close()

    def check_open(self) -> None:
        if not self._active:
            raise RuntimeError(
                f"{type(self).__name__} {self.session_id} is closed; open a new one for "
                "further calls"
            )

    def __enter__(self) -> Session:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{self.session_id}, backend={self._backend.name!r}>"


class Batch(Session):
    """Calls grouped on one backend, as ``qiskit_ibm_runtime.Batch`` (here as a Session)."""

    _kind = "batch"


def _resolve_mode(mode: Any) -> tuple[PlatformBackend, Session | None]:
    if mode is None:
        session = _current.get()
        if session is None:
            raise TypeError(
                "mode is required outside a 'with Session(...)' block: a backend from "
                "ctx.backend(name), or a Session or Batch over one"
            )
        return session.mode_backend, session
    if isinstance(mode, Session):
        mode.check_open()
        return mode.mode_backend, mode
    return _check_backend(mode, "mode"), None


def _primitive_arguments(backend: PlatformBackend) -> dict[str, Any]:
    """What a platform primitive over ``backend`` is built with: its backend's quantum
    calls, pinned to it, with the job's execution options (IBM options set later)."""
    access = backend._access
    return {
        "submit": access._submit_quantum,
        "backend": backend.name,
        "options": access.execution_options,
        "strict_options": False,
    }


def _check_open(session: Session | None) -> None:
    if session is not None:
        session.check_open()


class SamplerV2(PlatformSamplerV2):
    """``qiskit_ibm_runtime.SamplerV2`` over a platform backend: ``SamplerV2(mode=backend,
    options={...})``; each ``run`` is one quantum task on that backend."""

    def __init__(self, mode: Any = None, options: Any = None) -> None:
        backend, self._session = _resolve_mode(mode)
        super().__init__(**_primitive_arguments(backend))
        self.options = options
        self.mode = mode if mode is not None else self._session
        self.mode_id = None if self._session is None else self._session.session_id

    def run(self, pubs: Any, *, shots: int | None = None) -> PlatformJob:
        _check_open(self._session)
        return super().run(pubs, shots=shots)


class EstimatorV2(PlatformEstimatorV2):
    """``qiskit_ibm_runtime.EstimatorV2`` over a platform backend: ``EstimatorV2(mode=
    backend, options={...})``; each ``run`` is one quantum task on that backend."""

    def __init__(self, mode: Any = None, options: Any = None) -> None:
        backend, self._session = _resolve_mode(mode)
        super().__init__(**_primitive_arguments(backend))
        self.options = options
        self.mode = mode if mode is not None else self._session
        self.mode_id = None if self._session is None else self._session.session_id

    def run(self, pubs: Any, *, precision: float | None = None) -> PlatformJob:
        _check_open(self._session)
        return super().run(pubs, precision=precision)


class QiskitRuntimeService:
    """``qiskit_ibm_runtime.QiskitRuntimeService`` inside a job or a pilot task: its
    backends are the platform's (the one running the code), each call a quantum task in
    the platform's queue.

    The credentials IBM's constructor takes (``channel``, ``token``, ``instance``, ...)
    are accepted and unused: a device's credentials are its QPU executor's, never a
    job's. Outside a job or pilot task there is no platform to reach, and it says so.
    """

    def __init__(
        self,
        channel: str | None = None,
        token: str | None = None,
        url: str | None = None,
        filename: str | None = None,
        name: str | None = None,
        instance: str | None = None,
        proxies: Any = None,
        verify: bool | None = None,
        private_endpoint: bool | None = None,
        url_resolver: Any = None,
        region: str | None = None,
        plans_preference: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        from qlambda.platform.quantum_access import current_access

        access = current_access()
        if access is None:
            raise RuntimeError(
                "qlambda.runtime.QiskitRuntimeService reaches the platform's backends from "
                "code running in a job or a pilot task; here there is none (submit the code "
                "with qlambda.Client().run(...) or pilot.submit(...))"
            )
        self._access = access
        self.channel = channel or "qlambda"

    def backends(
        self, name: str | None = None, min_num_qubits: int | None = None, **filters: Any
    ) -> list[PlatformBackend]:
        """The platform's backends (named ``name``, at least ``min_num_qubits`` wide);
        ``simulator=True/False`` and ``operational`` filter as IBM's do."""
        rows = self._rows(name, min_num_qubits, filters)
        return [self._access.backend(row["name"]) for row in rows]

    def backend(self, name: str | None = None, instance: str | None = None) -> PlatformBackend:
        """Backend ``name`` (None: the least busy)."""
        del instance
        if name is None:
            return self.least_busy()
        backend: PlatformBackend = self._access.backend(name)
        return backend

    get_backend = backend

    def least_busy(
        self,
        min_num_qubits: int | None = None,
        instance: str | None = None,
        filters: Any = None,
        **kwargs: Any,
    ) -> PlatformBackend:
        """The backend with the fewest tasks waiting or executing, among those at least
        ``min_num_qubits`` wide."""
        del instance
        if filters is not None:
            raise TypeError("filters (a callable) is not accepted; use min_num_qubits")
        rows = self._rows(None, min_num_qubits, kwargs)
        if not rows:
            raise ValueError(
                f"no backend has {min_num_qubits} qubits or more; backends: "
                + ", ".join(f"{r['name']} ({r['num_qubits']})" for r in self._access.backends())
            )
        best = min(rows, key=lambda row: row["load"])
        backend: PlatformBackend = self._access.backend(best["name"])
        return backend

    def _rows(
        self, name: str | None, min_num_qubits: int | None, filters: dict[str, Any]
    ) -> list[dict[str, Any]]:
        unknown = sorted(set(filters) - {"simulator", "operational", "dynamic_circuits"})
        if unknown:
            raise TypeError(
                f"unknown filter(s) {', '.join(unknown)}; accepted: name, min_num_qubits, "
                "simulator, operational"
            )
        rows = list(self._access.backends())
        if name is not None:
            rows = [row for row in rows if row["name"] == name]
        if min_num_qubits is not None:
            rows = [row for row in rows if (row["num_qubits"] or 0) >= min_num_qubits]
        if "simulator" in filters:  # ideal simulators; the others stand for devices
            rows = [row for row in rows if (row["kind"] == "aer") == bool(filters["simulator"])]
        return rows
