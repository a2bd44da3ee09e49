"""Which backend runs a request: the one named, or the least loaded one that is wide enough.

The dispatcher owns the queues and so knows the load; this module only encodes the rule,
so the platform and its tests agree on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qlambda.core import CircuitTooWideError, UnknownBackendError
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import QuantumRequest, check_fits


def find_backend(name: str, backends: Sequence[BackendConfig]) -> BackendConfig:
    """The backend called ``name``; :class:`UnknownBackendError` lists the others if none is."""
    for config in backends:
        if config.name == name:
            return config
    raise UnknownBackendError(name, [config.name for config in backends])


def choose_backend(
    request: QuantumRequest,
    backends: Sequence[BackendConfig],
    load: Mapping[str, float] | None = None,
) -> BackendConfig:
    """The backend ``request`` should run on.

    A named backend must exist and be wide enough. Without a name, among the backends
    wide enough, the one with the fewest tasks (queued plus running, from ``load``) per
    concurrent slot wins; ties go to the backend configured first.
    """
    if request.backend is not None:
        config = find_backend(request.backend, backends)
        check_fits(request, config)
        return config
    fitting = [c for c in backends if c.num_qubits is None or request.num_qubits <= c.num_qubits]
    if not fitting:
        if not backends:
            raise UnknownBackendError("(any)", [])
        widest = max(backends, key=lambda c: c.num_qubits or 0)
        raise CircuitTooWideError(
            f"circuit needs {request.num_qubits} qubits; the widest backend "
            f"{widest.name!r} has {widest.num_qubits}"
        )
    load = load or {}
    return min(fitting, key=lambda c: load.get(c.name, 0) / c.concurrency)
