"""Which backend runs a request: the one named, or one chosen automatically.

Only a backend that can serve a request is ever chosen (:func:`why_unfit`): wide enough,
and an ideal simulator when the request asks for exact values (precision 0). Among those,
automatic choice (no name, or ``"auto"``) follows the platform's :class:`Selection`:

- ``hardware_threshold``: requests wider than this many qubits go to device backends
  (kinds such as ``fake``), narrower ones to ideal simulators (kinds such as ``aer``,
  whose kind says it is exact), when such backends fit;
- then the mode: ``"least-loaded"`` (fewest tasks per slot), ``"smallest-simulator"``
  (the narrowest ideal simulator that fits, then the least loaded device), or
  ``"earliest-completion"`` (the lowest backlog plus this request's own expected time).

The dispatcher owns the queues and so knows the load and the backlog, and keeps a job's
unnamed calls on the backend its first one got; this module only encodes the rule, so the
platform and its tests agree on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qlambda.core import CircuitTooWideError, NoSuitableBackendError, UnknownBackendError
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import Routable, check_fits

AUTO = "auto"
SELECTION_MODES = ("least-loaded", "smallest-simulator", "earliest-completion")


@dataclass(frozen=True)
class Selection:
    """How the platform picks a backend for requests that do not name one."""

    mode: str = "least-loaded"
    hardware_threshold: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in SELECTION_MODES:
            raise ValueError(
                f"unknown backend selection {self.mode!r}; accepted: {', '.join(SELECTION_MODES)}"
            )
        if self.hardware_threshold is not None and (
            isinstance(self.hardware_threshold, bool)
            or not isinstance(self.hardware_threshold, int)
            or self.hardware_threshold < 0
        ):
            raise ValueError(
                "hardware_threshold must be a number of qubits >= 0, "
                f"got {self.hardware_threshold!r}"
            )


def find_backend(name: str, backends: Sequence[BackendConfig]) -> BackendConfig:
    """The backend called ``name``; :class:`UnknownBackendError` lists the others if none is."""
    for config in backends:
        if config.name == name:
            return config
    raise UnknownBackendError(name, [config.name for config in backends])


def why_unfit(request: Routable, config: BackendConfig) -> str | None:
    """Why ``config`` cannot serve ``request``, or None when it can.

    ``request`` is a :class:`~qlambda.quantum.request.QuantumRequest` or the envelope the
    dispatcher holds; both say the width and whether exact values are needed.
    """
    if config.num_qubits is not None and request.num_qubits > config.num_qubits:
        return f"circuit needs {request.num_qubits} qubits, it has {config.num_qubits}"
    if request.needs_exact and not config.is_simulator_only:
        if request.primitive == "statevector":
            return "a device has no state vector to give (only an ideal simulator has one)"
        return "a noisy device cannot give exact values (precision 0)"
    return None


def _describe(request: Routable) -> str:
    exact = ", exact values" if request.needs_exact and request.primitive != "statevector" else ""
    return f"{request.primitive} request ({request.num_qubits} qubits{exact})"


def choose_backend(
    request: Routable,
    backends: Sequence[BackendConfig],
    load: Mapping[str, float] | None = None,
    *,
    selection: Selection | None = None,
    completion: Callable[[BackendConfig], float] | None = None,
) -> BackendConfig:
    """The backend ``request`` should run on.

    A named backend must exist and be able to serve it. Without a name (or ``"auto"``),
    among the backends that can serve it, ``selection`` decides (see the module doc); by
    default the one with the fewest tasks (queued plus running, from ``load``) per
    concurrent slot wins. Ties go to the backend configured first. ``completion(config)``:
    seconds until this request would be done there (for ``"earliest-completion"``).
    When none can, the error says why for each backend.
    """
    if request.backend is not None and request.backend != AUTO:
        config = find_backend(request.backend, backends)
        check_fits(request, config)
        reason = why_unfit(request, config)
        if reason is not None:
            accepted = (
                "state vectors come from ideal simulators"
                if request.primitive == "statevector"
                else "accepted there: a precision > 0, or none (its default, 4096 shots); "
                "exact values come from ideal simulators"
            )
            raise NoSuitableBackendError(
                f"backend {config.name!r} cannot serve this {_describe(request)}: {reason}; "
                f"{accepted}: "
                + (
                    ", ".join(c.name for c in backends if c.is_simulator_only)
                    or "(none configured)"
                )
            )
        return config
    if not backends:
        raise UnknownBackendError("(any)", [])
    reasons = {c.name: why_unfit(request, c) for c in backends}
    fitting = [c for c in backends if reasons[c.name] is None]
    if not fitting:
        if all(c.num_qubits is not None and request.num_qubits > c.num_qubits for c in backends):
            widest = max(backends, key=lambda c: c.num_qubits or 0)
            raise CircuitTooWideError(
                f"circuit needs {request.num_qubits} qubits; the widest backend "
                f"{widest.name!r} has {widest.num_qubits}"
            )
        raise NoSuitableBackendError(
            f"no backend can serve this {_describe(request)}: "
            + "; ".join(f"{name!r}: {reason}" for name, reason in reasons.items())
        )
    load = load or {}
    selection = selection or Selection()

    def least_loaded(candidates: list[BackendConfig]) -> BackendConfig:
        return min(candidates, key=lambda c: load.get(c.name, 0) / c.concurrency)

    simulators = [c for c in fitting if c.is_simulator_only]
    devices = [c for c in fitting if not c.is_simulator_only]
    threshold = selection.hardware_threshold
    if threshold is not None:
        preferred = devices if request.num_qubits > threshold else simulators
        fitting = preferred or fitting
        simulators = [c for c in fitting if c.is_simulator_only]
        devices = [c for c in fitting if not c.is_simulator_only]
    if selection.mode == "smallest-simulator":
        if simulators:
            narrowest = min(c.num_qubits or 0 for c in simulators)
            return least_loaded([c for c in simulators if (c.num_qubits or 0) == narrowest])
        return least_loaded(devices)
    if selection.mode == "earliest-completion" and completion is not None:
        return min(fitting, key=completion)
    return least_loaded(fitting)
