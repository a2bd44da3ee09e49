"""Which backend kinds this process knows: the built-in ones, and those installed
packages declare under the ``qlambda.backends`` entry point group.

A package adds a kind without touching qlambda by declaring, in its ``pyproject.toml``::

    [project.entry-points."qlambda.backends"]
    mykind = "mypackage.kind:MyKind"      # a BackendKind subclass whose name is "mykind"

Entry points are read when a kind is first looked up, in every process that needs one
(the control plane, each QPU executor, a function's worker for ``ctx.backend``).
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import EntryPoint, entry_points

from qlambda.core import ConfigurationError
from qlambda.quantum.backends.kind import BackendKind

ENTRY_POINT_GROUP = "qlambda.backends"
_BUILT_IN = {
    "aer": "qlambda.quantum.backends.aer:AerKind",
    "fake": "qlambda.quantum.backends.fake:FakeKind",
    "ibm": "qlambda.quantum.backends.ibm:IBMKind",
}
_loaded: dict[str, BackendKind] = {}
_lock = threading.Lock()


def _entry_points() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def installed_kinds() -> list[str]:
    """Every kind name this process can resolve (built in or installed)."""
    return sorted({*_BUILT_IN, *_entry_points()})


def backend_kind(name: str) -> BackendKind:
    """The kind called ``name``; :class:`ConfigurationError` names the installed ones."""
    with _lock:
        found = _loaded.get(name)
        if found is None:
            found = _loaded[name] = _load(name)
        return found


def _load(name: str) -> BackendKind:
    if not isinstance(name, str):
        raise ConfigurationError(f"a backend kind is a name, got {name!r}")
    if name in _BUILT_IN:
        module, _, attribute = _BUILT_IN[name].partition(":")
        target = getattr(importlib.import_module(module), attribute)
        where = "qlambda"
    else:
        point = _entry_points().get(name)
        if point is None:
            raise ConfigurationError(
                f"unknown backend kind {name!r}; installed: {', '.join(installed_kinds())} "
                f"(a package adds one through the {ENTRY_POINT_GROUP!r} entry point)"
            )
        where = f"entry point {point.value!r}"
        try:
            target = point.load()
        except Exception as exc:
            raise ConfigurationError(
                f"backend kind {name!r} ({where}) cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
    kind = target() if isinstance(target, type) else target
    if not isinstance(kind, BackendKind):
        raise ConfigurationError(
            f"backend kind {name!r} ({where}) is a {type(kind).__name__}, not a "
            "qlambda.quantum.backends.BackendKind"
        )
    if kind.name != name:
        raise ConfigurationError(
            f"backend kind {name!r} ({where}) calls itself {kind.name!r}; the entry point's "
            "name and the kind's name must be the same"
        )
    return kind
