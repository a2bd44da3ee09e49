"""Scenarios: what to simulate, as one value that scripts, notebooks and the CLI share.

``C``, ``Q``, ``S``, ``interarrival`` and ``policies`` may list several values;
a scenario then stands for every combination of them (a sweep), each
replicated ``reps`` times with seeds ``seed, seed+1, ...``. The presets are
Table 2 of Cicconetti [1].
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES
from qlambda.sim.arrivals import ArrivalProcess, parse_arrivals
from qlambda.sim.model import HOUR, Platform
from qlambda.sim.workload import SyntheticWorkload

DAY = 24 * HOUR
IBM_TARGETS = "ibm"  # the IBM estimates file of the trace dataset

SWEEPABLE = ("C", "Q", "S", "interarrival", "policies")


def _as_tuple(value: object) -> tuple[object, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class Point:
    """One combination of a sweep: everything one replication needs besides its seed."""

    platform: Platform
    interarrival: float


@dataclass(frozen=True)
class Scenario:
    """Parameters of a simulation campaign (times in seconds; S in operations/s).

    ``target_means``: ``"ibm"`` (the dataset's ``ibm_job_estimate_v5172cf5.csv``),
    a path to a file in that format, or ``None`` to keep quantum samples as traced.
    ``traces``: a trace directory, ``None`` for the published dataset shipped with qlambda.
    ``synthetic``: draw jobs from distributions instead of traces.
    ``arrivals``: an arrival process (``qlambda.sim.arrivals``: recorded times, a daily
    rate profile) instead of Poisson arrivals; ``interarrival`` then becomes its mean
    gap over ``duration`` (what the tables and offered loads show).
    """

    name: str = "custom"
    C: tuple[int, ...] = (1,)
    Q: tuple[int, ...] = (4,)
    S: tuple[float, ...] = (1e9,)
    interarrival: tuple[float, ...] = (600.0,)
    policies: tuple[str, ...] = ("fifo", "lifo", "random", "weighted")
    C_max: int | None = 40
    Q_max: int | None = 40
    duration: float = 7 * DAY
    warmup: float = 12 * HOUR
    qubits: tuple[int, ...] = (4, 6, 8, 10)
    priorities: tuple[float, ...] = (1.0, 2.0, 4.0)
    reps: int = 100
    seed: int = 0
    traces: str | None = None
    target_means: str | None = IBM_TARGETS
    allow_unscaled: bool = False
    synthetic: SyntheticWorkload | None = None
    redraw_per_iteration: bool = False
    reference_compat: bool = False
    arrivals: ArrivalProcess | None = None
    notes: str = field(default="", compare=False)

    if TYPE_CHECKING:
        # What the generated __init__ accepts: a single value where a sweepable field
        # takes a tuple (__post_init__ makes it one).
        def __init__(
            self,
            name: str = ...,
            C: Iterable[int] | int = ...,
            Q: Iterable[int] | int = ...,
            S: Iterable[float] | float = ...,
            interarrival: Iterable[float] | float = ...,
            policies: Iterable[str] | str = ...,
            C_max: int | None = ...,
            Q_max: int | None = ...,
            duration: float = ...,
            warmup: float = ...,
            qubits: Iterable[int] | int = ...,
            priorities: Iterable[float] | float = ...,
            reps: int = ...,
            seed: int = ...,
            traces: str | None = ...,
            target_means: str | None = ...,
            allow_unscaled: bool = ...,
            synthetic: SyntheticWorkload | None = ...,
            redraw_per_iteration: bool = ...,
            reference_compat: bool = ...,
            arrivals: ArrivalProcess | None = ...,
            notes: str = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        for name in ("C", "Q", "S", "interarrival", "policies", "qubits", "priorities"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        object.__setattr__(self, "policies", tuple(str(p).lower() for p in self.policies))
        for name in ("C", "Q", "S", "interarrival", "policies", "qubits", "priorities"):
            if not getattr(self, name):
                raise ConfigurationError(f"{name} must list at least one value")
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown:
            raise ConfigurationError(
                f"unknown policy {unknown[0]!r}; accepted: {', '.join(POLICIES)}"
            )
        if not isinstance(self.reps, int) or self.reps < 1:
            raise ConfigurationError(f"reps must be a positive integer, got {self.reps!r}")
        if all(isinstance(q, numbers.Integral) for q in self.qubits):
            object.__setattr__(self, "qubits", tuple(int(q) for q in self.qubits))
        if any(not isinstance(q, int) or q < 1 for q in self.qubits):
            raise ConfigurationError(f"qubits must be positive integers, got {self.qubits}")
        if any(not p > 0 for p in self.priorities):
            raise ConfigurationError(f"priorities must be > 0, got {self.priorities}")
        if self.arrivals is not None:
            if len(self.interarrival) > 1:
                raise ConfigurationError(
                    "interarrival cannot be swept with an arrival process: "
                    f"{self.arrivals.describe()} sets the arrivals"
                )
            gap = self.arrivals.mean_gap(float(self.duration))
            object.__setattr__(self, "interarrival", (gap,))
        if any(not a > 0 for a in self.interarrival):
            raise ConfigurationError(f"interarrival must be > 0, got {self.interarrival}")
        list(self.points())  # validates every platform of the sweep

    def points(self) -> Iterator[Point]:
        for policy in self.policies:
            for c in self.C:
                for q in self.Q:
                    for s in self.S:
                        for gap in self.interarrival:
                            platform = Platform(
                                C=c,
                                S=float(s),
                                Q=q,
                                c_max=self.C_max,
                                q_max=self.Q_max,
                                duration=float(self.duration),
                                warmup=float(self.warmup),
                                policy=policy,
                                reference_compat=self.reference_compat,
                            )
                            yield Point(platform, float(gap))

    def replace(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)

    def override(self, assignments: Sequence[str]) -> Scenario:
        """Apply ``KEY=VALUE`` strings (the CLI's ``--set``)."""
        changes: dict[str, Any] = {}
        for text in assignments:
            key, sep, value = text.partition("=")
            if not sep:
                raise ConfigurationError(f"--set expects KEY=VALUE, got {text!r}")
            name = _field_name(key.strip())
            changes[name] = parse_value(name, value.strip())
        return self.replace(**changes)


PRESETS: dict[str, Scenario] = {
    "small": Scenario(
        name="small", notes="Table 2, Small: four policies, mixed priorities, 4..10 qubits."
    ),
    "big-q": Scenario(
        name="big-q",
        C=1,
        S=1e9,
        Q=tuple(range(1, 7)),
        interarrival=tuple(range(150, 901, 150)),
        qubits=(4, 8, 12, 16, 20, 24),
        priorities=1.0,
        policies="random",
        notes="Table 2, Big with S=1e9: the QPUs are the bottleneck; Q and load vary.",
    ),
    "big-c": Scenario(
        name="big-c",
        C=tuple(range(1, 7)),
        S=1e7,
        Q=4,
        interarrival=tuple(range(150, 901, 150)),
        qubits=(4, 8, 12, 16, 20, 24),
        priorities=1.0,
        policies="random",
        notes="Table 2, Big with S=1e7: classical workers are scarce; C and load vary.",
    ),
}


def preset(name: str) -> Scenario:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}"
        ) from None


# --- parsing of KEY=VALUE overrides ---------------------------------------------------------

_ALIASES = {
    "policy": "policies",
    "c_max": "C_max",
    "q_max": "Q_max",
    "cmax": "C_max",
    "qmax": "Q_max",
    "redraw": "redraw_per_iteration",
    "compat": "reference_compat",
    "target": "target_means",
    "targets": "target_means",
}
_SETTABLE = [f.name for f in dataclasses.fields(Scenario) if f.name not in ("name", "notes")]
_UNITS = {"s": 1.0, "m": 60.0, "h": HOUR, "d": DAY}


def _field_name(key: str) -> str:
    if key in _SETTABLE:
        return key
    lowered = key.lower()
    for name in _SETTABLE:
        if name.lower() == lowered:
            return name
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    raise ConfigurationError(
        f"unknown scenario parameter {key!r}; accepted: {', '.join(_SETTABLE)}"
    )


def parse_seconds(text: str) -> float:
    """``600``, ``600s``, ``30m``, ``12h`` or ``7d``."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([smhd]?)\s*", text)
    if not match:
        raise ConfigurationError(f"cannot read a time from {text!r}; use e.g. 600, 30m, 12h, 7d")
    try:
        return float(match.group(1)) * _UNITS.get(match.group(2) or "s", 1.0)
    except ValueError:
        raise ConfigurationError(f"cannot read a time from {text!r}") from None


def _numbers(text: str, kind: type[int] | type[float]) -> tuple[float, ...]:
    """``1,2,3``, a range ``1..6`` or ``150..900..150`` (inclusive)."""
    values: list[float] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if ".." in part:
            bounds = part.split("..")
            try:
                low, high = kind(bounds[0]), kind(bounds[1])
                step = kind(bounds[2]) if len(bounds) == 3 else kind(1)
            except (ValueError, IndexError):
                raise ConfigurationError(
                    f"cannot read range {part!r}; use LOW..HIGH[..STEP]"
                ) from None
            if len(bounds) > 3 or step <= 0 or high < low:
                raise ConfigurationError(f"cannot read range {part!r}; use LOW..HIGH[..STEP]")
            value = low
            while value <= high + (1e-9 if kind is float else 0):
                values.append(value)
                value += step
            continue
        try:
            number = float(part)
            values.append(int(number) if kind is int and number == int(number) else kind(part))
        except ValueError:
            raise ConfigurationError(
                f"cannot read {part!r} as {'an integer' if kind is int else 'a number'}"
            ) from None
    if not values:
        raise ConfigurationError(f"no value given in {text!r}")
    return tuple(values)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"cannot read {text!r} as a boolean; use true or false")


def parse_value(name: str, text: str) -> Any:
    """The typed value of scenario field ``name`` from its text."""
    if name in ("C", "Q", "qubits"):
        return _numbers(text, int)
    if name in ("S", "priorities"):
        return _numbers(text, float)
    if name == "interarrival":
        return (
            tuple(parse_seconds(p) for p in text.split(","))
            if ".." not in text
            else _numbers(text, float)
        )
    if name == "policies":
        return tuple(p.strip().lower() for p in text.split(",") if p.strip())
    if name in ("C_max", "Q_max"):
        if text.lower() in ("none", "inf", "unlimited"):
            return None
        return _numbers(text, int)[0]
    if name in ("duration", "warmup"):
        return parse_seconds(text)
    if name in ("reps", "seed"):
        return _numbers(text, int)[0]
    if name in ("allow_unscaled", "redraw_per_iteration", "reference_compat"):
        return _boolean(text)
    if name == "traces":
        return None if text.lower() in ("", "default") else str(Path(text))
    if name == "target_means":
        return None if text.lower() in ("none", "off") else text
    if name == "synthetic":
        return None if text.lower() in ("none", "off") else SyntheticWorkload.parse(text)
    if name == "arrivals":
        return None if text.lower() in ("none", "off", "poisson") else parse_arrivals(text)
    raise ConfigurationError(f"parameter {name!r} cannot be set from text")
