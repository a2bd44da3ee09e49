"""Which quantum backends the platform offers, read from TOML, a mapping or Python objects.

A backend's ``kind`` says what sort of QPU it is: an ideal Aer simulator (``"aer"``), a
noisy Aer simulator built from one of qiskit-ibm-runtime's fake IBM devices
(``"fake"``), or a kind an installed package adds (:mod:`qlambda.quantum.backends`).
Keys common to every kind are the fields of :class:`BackendConfig`; a kind's own keys
are kept in its ``settings`` and checked by the kind. The TOML format is a list of
``[[backend]]`` tables, one per backend (see ``docs/backends.md``). Every mistake is
reported as a :class:`ConfigurationError` that names the backend, the bad key or value
and what is accepted, because a typo in a configuration file must never silently give a
different platform.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from qlambda.core import ConfigurationError
from qlambda.quantum.backends import backend_kind, installed_kinds
from qlambda.quantum.backends.aer import DEFAULT_AER_QUBITS

__all__ = [  # what other modules import from here
    "DEFAULT_AER_QUBITS",
    "DEFAULT_TASK_TIMEOUT",
    "BackendConfig",
    "default_backends",
    "fake_device_names",
    "installed_kinds",
    "load_backends",
    "make_fake_device",
    "resolve_fake_device",
    "validate_backend",
]
DEFAULT_TASK_TIMEOUT = 600.0
"""Seconds one quantum task may run when its backend sets no ``task_timeout_seconds``."""


@dataclass(frozen=True)
class BackendConfig:
    """One quantum backend of the platform.

    The last four fields describe the speed of the real device the backend stands for.
    They feed :func:`qlambda.quantum.request.estimate_qpu_seconds`, which follows the shape
    of IBM Quantum's usage estimate: a fixed per-job overhead, then for every circuit
    execution ``shots x (rep_delay + depth x layer_seconds)``. The defaults are fitted to
    IBM's estimates for EfficientSU2 on Eagle devices (``ibm_job_estimate_v5172cf5.csv`` of
    the serverless_quantum_sim dataset): 4 to 24 qubits, 4096 shots, transpiled for a
    127-qubit Eagle, give 3.6 to 4.5 s against IBM's 3.7 to 5.3 s
    (``benchmarks/bench_qpu_estimate.py`` prints the comparison).
    """

    name: str
    kind: str
    device: str | None = None
    num_qubits: int | None = None
    concurrency: int = 1
    emulate_qpu_time: bool = False
    time_scale: float = 1.0
    seed: int | None = None
    max_parallel_threads: int = 1
    """Threads Aer may use for one task; 1 keeps a QPU slot from starving classical workers."""
    optimization_level: int | None = None
    """How circuits not yet written for the backend are transpiled when a call asks for no
    level: None lays them out on low-error qubits (level 2's noise-aware layout), routes and
    translates them, never cancelling a gate; 0-3 runs Qiskit's preset pass manager at that
    level (see :func:`qlambda.quantum.transpilation.device_pass_manager`)."""
    overhead_seconds: float = 2.35
    """Fixed time per task: loading the circuits, control electronics set-up, result return."""
    rep_delay_seconds: float = 250e-6
    """Wait between two shots so the qubits reset (IBM Eagle and Heron default: 250 us)."""
    layer_seconds: float = 2.0e-6
    """Time per layer of circuit depth, gates and readout averaged (fitted, see docs)."""
    estimate_default_shots: int = 4096
    """Shots assumed by the estimate when a request carries neither shots nor precision."""
    calibration_drift: float = 0.0
    """Fake devices: spread of the seeded calibration drift per step (0: static, as shipped);
    see ``qlambda.quantum.calibration.drift``. The drift seed is ``seed`` (or 0)."""
    drift_interval_seconds: float = 600.0
    """Fake devices: how often the drifting calibration moves."""
    calibration_refresh_seconds: float | None = None
    """Fake devices: snapshot the calibration into the store this often (None: on demand
    and when the platform starts)."""
    task_timeout_seconds: float = DEFAULT_TASK_TIMEOUT
    """The longest one quantum task may hold this backend's QPU slot (emulated QPU time
    included); past it the task is stopped and fails, and the slot serves the next one."""
    price: Any = None
    """What its tasks cost (``qlambda.quantum.prices.Price``, or a table of its components:
    ``per_second``, ``per_task``, ``per_circuit``, ``per_shot``); None: free."""
    simulator_device: str = "CPU"
    """Where Aer simulates: "CPU", or "GPU" (Aer's GPU method; needs a GPU Aer can use)."""
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    """The kind's own keys (``[[backend]]`` keys that are not fields here), checked by
    the kind (:meth:`qlambda.quantum.backends.BackendKind.validate`)."""

    @property
    def is_simulator_only(self) -> bool:
        """An ideal simulator has no device behind it: it gives exact values and may run
        tasks concurrently (its kind says so)."""
        return backend_kind(self.kind).exact


_FIELDS = {f.name: f for f in dataclasses.fields(BackendConfig)}


def default_backends() -> list[BackendConfig]:
    """The embedded platform's backends when nothing is configured: one ideal simulator."""
    return [BackendConfig(name="aer", kind="aer", num_qubits=DEFAULT_AER_QUBITS)]


def load_backends(source: str | Path | Mapping[str, Any] | Sequence[Any]) -> list[BackendConfig]:
    """Read and validate the platform's backends.

    ``source`` is one of: the path of a TOML file made of ``[[backend]]`` tables; a mapping
    of the same shape (``{"backend": [{...}, ...]}``); or a sequence whose items are
    :class:`BackendConfig` objects or mappings of their fields.
    """
    if isinstance(source, str | Path):
        entries = _entries_from_document(_read_toml(Path(source)), where=str(source))
    elif isinstance(source, Mapping):
        entries = _entries_from_document(source, where="backend configuration")
    elif isinstance(source, Sequence):
        entries = list(source)
    else:
        raise ConfigurationError(
            f"cannot read backends from a {type(source).__name__}; accepted: a TOML file path, "
            "a mapping {'backend': [...]}, or a list of BackendConfig objects or mappings"
        )
    if not entries:
        raise ConfigurationError("no backends configured; give at least one [[backend]] table")
    configs = [_to_config(entry, position=i) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise ConfigurationError(
                f"duplicate backend name {config.name!r}; every backend needs its own name"
            )
        seen.add(config.name)
    return configs


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"backend configuration file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"backend configuration file {str(path)!r}: {error}") from None


def _entries_from_document(document: Mapping[str, Any], *, where: str) -> list[Any]:
    unknown = sorted(set(document) - {"backend"})
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "accepted: 'backend' (a list of [[backend]] tables)"
        )
    entries = document.get("backend", [])
    if not isinstance(entries, list):
        raise ConfigurationError(
            f"{where}: 'backend' must be a list of tables (write [[backend]], not [backend])"
        )
    return entries


def _to_config(entry: Any, *, position: int) -> BackendConfig:
    if isinstance(entry, BackendConfig):
        return validate_backend(entry)
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"backend #{position + 1} is a {type(entry).__name__}; "
            "accepted: a table/mapping of backend fields or a BackendConfig"
        )
    label = f"backend {entry['name']!r}" if "name" in entry else f"backend #{position + 1}"
    missing = [key for key in ("name", "kind") if key not in entry]
    if missing:
        raise ConfigurationError(f"{label}: missing required key(s) {', '.join(missing)}")
    try:
        kind = backend_kind(entry["kind"])
    except ConfigurationError as error:
        raise ConfigurationError(f"{label}: {error}") from None
    common = {key: value for key, value in entry.items() if key in _FIELDS}
    own = {key: value for key, value in entry.items() if key not in _FIELDS}
    unknown = sorted(set(own) - set(kind.settings))
    if unknown:
        accepted = [f for f in _FIELDS if f != "settings"] + list(kind.settings)
        raise ConfigurationError(
            f"{label}: unknown key(s) {', '.join(map(repr, unknown))} for kind "
            f"{kind.name!r}; accepted: {', '.join(accepted)}"
        )
    if own:
        if not isinstance(common.get("settings", {}), Mapping):
            raise ConfigurationError(f"{label}: settings must be a table of the kind's keys")
        common["settings"] = {**common.get("settings", {}), **own}
    return validate_backend(BackendConfig(**common))


def validate_backend(config: BackendConfig) -> BackendConfig:
    """Check the common fields, then let the backend's kind check the rest and fill in
    what comes from the device (its width, its name).

    Returns a config whose ``num_qubits`` is set (for kind ``fake``, ``device`` is the
    fake backend's class name, e.g. ``"FakeTorino"``).
    """
    label = f"backend {config.name!r}"
    check_type(label, "name", config.name, str)
    if not config.name.strip():
        raise ConfigurationError("a backend name must not be empty")
    try:
        kind = backend_kind(config.kind)
    except ConfigurationError as error:
        raise ConfigurationError(f"{label}: {error}") from None
    if not isinstance(config.settings, Mapping):
        raise ConfigurationError(
            f"{label}: settings must be a mapping of the kind's own keys, "
            f"got {type(config.settings).__name__}"
        )
    for key in ("concurrency", "max_parallel_threads", "estimate_default_shots"):
        check_int(label, key, getattr(config, key), minimum=1)
    if config.optimization_level is not None:
        check_int(label, "optimization_level", config.optimization_level, minimum=0, maximum=3)
    check_type(label, "emulate_qpu_time", config.emulate_qpu_time, bool)
    if config.seed is not None:
        check_int(label, "seed", config.seed, minimum=0)
    check_number(label, "time_scale", config.time_scale, positive=True)
    for key in ("overhead_seconds", "rep_delay_seconds", "layer_seconds"):
        check_number(label, key, getattr(config, key), positive=False)
    if config.num_qubits is not None:
        check_int(label, "num_qubits", config.num_qubits, minimum=1)
    check_number(label, "calibration_drift", config.calibration_drift, positive=False)
    check_number(label, "drift_interval_seconds", config.drift_interval_seconds, positive=True)
    check_number(label, "task_timeout_seconds", config.task_timeout_seconds, positive=True)
    if config.calibration_refresh_seconds is not None:
        check_number(
            label, "calibration_refresh_seconds", config.calibration_refresh_seconds, positive=True
        )
    config = _with_price_and_device(config, label)

    if config.concurrency != 1 and not kind.exact:
        raise ConfigurationError(
            f"{label}: concurrency {config.concurrency} is not allowed for kind {kind.name!r} "
            "(a QPU runs one task at a time); accepted: 1, or use kind 'aer' for a "
            "concurrent simulator"
        )
    return kind.validate(dataclasses.replace(config, settings=dict(config.settings)))


def _with_price_and_device(config: BackendConfig, label: str) -> BackendConfig:
    from qlambda.quantum.prices import parse_price
    from qlambda.quantum.simulator_device import check_simulator_device

    check_simulator_device(config.simulator_device, label)
    return dataclasses.replace(config, price=parse_price(config.price, label))


def check_type(label: str, key: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{label}: {key} must be a {kind.__name__}, got {value!r} ({type(value).__name__})"
        )


def check_int(
    label: str, key: str, value: Any, *, minimum: int, maximum: int | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{label}: {key} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" to {maximum}" if maximum is not None else " or more"
        raise ConfigurationError(f"{label}: {key} is {value}; accepted: {minimum}{upper}")


def check_number(label: str, key: str, value: Any, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{label}: {key} must be a finite number, got {value!r}")
    if (positive and value <= 0) or value < 0:
        accepted = "a number > 0" if positive else "a number >= 0"
        raise ConfigurationError(f"{label}: {key} is {value}; accepted: {accepted}")


def _normalise_device(name: str) -> str:
    key = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    key = key.removeprefix("fake")
    return key.removesuffix("v2")


@cache
def _fake_device_classes() -> dict[str, str]:
    """Normalised device name -> class name of every fake BackendV2 in qiskit-ibm-runtime."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes: dict[str, str] = {}
    for attribute in dir(fake_provider):
        candidate = getattr(fake_provider, attribute)
        if (
            attribute.startswith("Fake")
            and isinstance(candidate, type)
            and issubclass(candidate, FakeBackendV2)
        ):
            classes[_normalise_device(attribute)] = attribute
    return classes


def fake_device_names() -> list[str]:
    """Class names of the fake IBM devices a ``kind = "fake"`` backend can stand for."""
    return sorted(_fake_device_classes().values())


def resolve_fake_device(name: str) -> str:
    """``"FakeTorino"``, ``"fake_torino"`` or ``"torino"`` -> ``"FakeTorino"``."""
    found = _fake_device_classes().get(_normalise_device(name))
    if found is None:
        raise ConfigurationError(
            f"unknown fake device {name!r}; available: {', '.join(fake_device_names())}"
        )
    return found


def make_fake_device(name: str) -> Any:
    """An instance of the fake IBM backend class ``name`` (a class name or an alias)."""
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, resolve_fake_device(name))()


@cache
def fake_device_width(name: str) -> int:
    """Number of qubits of a fake device (reads its bundled configuration once)."""
    return int(make_fake_device(name).num_qubits)
