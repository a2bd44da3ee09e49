"""Arrival processes: when jobs reach the platform, beyond a homogeneous Poisson stream.

* :class:`PoissonArrivals`: the model of [1], exponential gaps of a fixed mean;
* :class:`RecordedArrivals`: the very times a platform recorded (a CSV of times,
  such as an ``arrivals.csv`` kept beside a trace directory), replayed as they
  were, and repeated end to end when the simulated horizon is longer;
* :class:`RateProfile`: a daily profile of piecewise-constant rates (jobs per hour
  in equal slots of the day), a non-homogeneous Poisson process drawn by thinning.

Each draws from the replication's own arrival stream, so under one seed every
configuration sees the same arrivals (common random numbers). ``parse_arrivals``
reads the text form the CLI takes (``--arrivals``, ``--set arrivals=``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray

# Not imported from qlambda.sim.model: the model imports the workload, which imports this.
HOUR = 3600.0
DAY = 24 * HOUR
# Column names read as arrival times, in order of preference.
TIME_COLUMNS = ("arrival", "arrival_time", "created_at", "submitted_at", "time", "timestamp")
ARRIVALS_FILE = "arrivals.csv"  # looked for when --arrivals replay: names a directory
ACCEPTED_FORMS = (
    "poisson:GAP (mean gap, e.g. poisson:600 or poisson:10m), poisson:RATE/h (e.g. poisson:6/h), "
    "replay:FILE.csv (recorded times; a directory: its arrivals.csv), "
    "profile:R1,R2,... (jobs/h in equal slots of a day, e.g. 24 hourly rates) or "
    "profile:FILE.csv"
)


class ArrivalProcess(Protocol):
    """What the workload draw needs from an arrival process."""

    def draw(self, rng: np.random.Generator, horizon: float) -> FloatArray:
        """Sorted arrival times in ``[0, horizon)``."""
        ...

    def mean_gap(self, horizon: float) -> float:
        """Mean time between arrivals over ``[0, horizon)`` (for loads and tables)."""
        ...

    def describe(self) -> str: ...


def poisson_times(rng: np.random.Generator, gap: float, horizon: float) -> FloatArray:
    """Arrival times in ``[0, horizon)`` of a Poisson process with mean gap ``gap``."""
    if not gap > 0 or not math.isfinite(gap):
        raise ConfigurationError(f"interarrival must be > 0 seconds, got {gap}")
    chunks: list[FloatArray] = []
    last = 0.0
    chunk = int(horizon / gap * 1.1) + 16
    while last < horizon:
        times = last + np.cumsum(rng.exponential(gap, chunk))
        chunks.append(times)
        last = float(times[-1])
    arrivals = np.concatenate(chunks) if chunks else np.empty(0)
    return arrivals[arrivals < horizon]


@dataclass(frozen=True)
class PoissonArrivals:
    """Exponential gaps of mean ``interarrival`` seconds."""

    interarrival: float

    def __post_init__(self) -> None:
        if not self.interarrival > 0 or not math.isfinite(self.interarrival):
            raise ConfigurationError(f"interarrival must be > 0 seconds, got {self.interarrival}")

    def draw(self, rng: np.random.Generator, horizon: float) -> FloatArray:
        return poisson_times(rng, self.interarrival, horizon)

    def mean_gap(self, horizon: float) -> float:
        return self.interarrival

    def describe(self) -> str:
        return f"Poisson, mean gap {self.interarrival:g} s"


@dataclass(frozen=True)
class RecordedArrivals:
    """Recorded times (seconds), replayed from the first one at t=0.

    With ``repeat`` a horizon longer than the recording replays it again, end to
    end, each copy one mean gap after the previous one's last arrival; without it
    no job arrives after the recording ends. The draw uses no randomness.
    """

    times: tuple[float, ...]
    repeat: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.times, dtype=np.float64)
        if values.size == 0:
            raise ConfigurationError(f"no arrival time in {self.source or 'the recording'}")
        if not np.all(np.isfinite(values)):
            raise ConfigurationError(
                f"arrival times must be finite numbers ({self.source or 'recording'})"
            )
        if self.repeat and values.size < 2:
            raise ConfigurationError(
                "repeating a recording needs at least two arrival times (to know its rate)"
            )
        ordered = np.sort(values)
        object.__setattr__(self, "times", tuple(float(t) for t in ordered - ordered[0]))

    @property
    def period(self) -> float:
        """Span of one copy: the recording plus one mean gap."""
        span = self.times[-1]
        return span + span / (len(self.times) - 1) if len(self.times) > 1 else span

    def draw(self, rng: np.random.Generator, horizon: float) -> FloatArray:
        base = np.asarray(self.times, dtype=np.float64)
        if not self.repeat or self.period <= 0:
            return base[base < horizon]
        copies = math.ceil(horizon / self.period)
        tiled = (base[None, :] + self.period * np.arange(copies)[:, None]).ravel()
        return tiled[tiled < horizon]

    def mean_gap(self, horizon: float) -> float:
        count = len(self.draw(np.random.default_rng(0), horizon))
        return horizon / count if count else math.inf

    def describe(self) -> str:
        where = f" from {self.source}" if self.source else ""
        again = ", repeated" if self.repeat else ""
        return f"{len(self.times)} recorded arrivals{where}{again}"


@dataclass(frozen=True)
class RateProfile:
    """Piecewise-constant rates (jobs per hour), one per equal slot of ``period`` seconds.

    The profile repeats every ``period`` (a day by default: 24 rates are hourly).
    Times are drawn by thinning (Lewis and Shedler): a Poisson stream at the peak
    rate, each arrival kept with probability rate(t) / peak.
    """

    rates: tuple[float, ...]
    period: float = DAY
    source: str = ""

    def __post_init__(self) -> None:
        rates = tuple(float(r) for r in self.rates)
        object.__setattr__(self, "rates", rates)
        if not rates:
            raise ConfigurationError("a rate profile needs at least one rate")
        if any(not math.isfinite(r) or r < 0 for r in rates):
            raise ConfigurationError(f"rates must be finite and >= 0 jobs/h, got {list(rates)}")
        if max(rates) <= 0:
            raise ConfigurationError("a rate profile needs at least one rate > 0")
        if not self.period > 0:
            raise ConfigurationError(f"the profile's period must be > 0 s, got {self.period}")

    @property
    def slot(self) -> float:
        return self.period / len(self.rates)

    def rate_at(self, times: FloatArray) -> FloatArray:
        """Jobs per second at each time."""
        index = (np.mod(times, self.period) // self.slot).astype(np.int64)
        index = np.minimum(index, len(self.rates) - 1)
        return np.asarray(self.rates, dtype=np.float64)[index] / HOUR

    def expected_count(self, horizon: float) -> float:
        """Mean number of arrivals in ``[0, horizon)``: the integral of the rate."""
        per_period = sum(self.rates) * self.slot / HOUR
        whole, rest = divmod(horizon, self.period)
        partial = 0.0
        for i, rate in enumerate(self.rates):
            covered = min(max(rest - i * self.slot, 0.0), self.slot)
            partial += rate * covered / HOUR
        return whole * per_period + partial

    def draw(self, rng: np.random.Generator, horizon: float) -> FloatArray:
        peak = max(self.rates) / HOUR
        candidates = poisson_times(rng, 1.0 / peak, horizon)
        keep = rng.random(len(candidates)) * peak < self.rate_at(candidates)
        return candidates[keep]

    def mean_gap(self, horizon: float) -> float:
        count = self.expected_count(horizon)
        return horizon / count if count > 0 else math.inf

    def describe(self) -> str:
        where = f" from {self.source}" if self.source else ""
        return (
            f"daily profile{where}: {len(self.rates)} slots, "
            f"{min(self.rates):g}..{max(self.rates):g} jobs/h"
        )


def _read_number_or_time(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ConfigurationError(
            f"{where}: cannot read {text!r} as a time; accepted: seconds (e.g. 1735689600.5) "
            "or an ISO 8601 timestamp (e.g. 2026-01-05T09:30:00)"
        ) from None


def read_arrival_times(path: str | Path) -> tuple[float, ...]:
    """Times from a CSV: a header naming one of ``TIME_COLUMNS`` (or a single column),
    then one time per row, as seconds or ISO 8601 timestamps."""
    file = Path(path)
    if file.is_dir():
        file = file / ARRIVALS_FILE
    if not file.is_file():
        raise ConfigurationError(
            f"arrival times file {str(file)!r} does not exist; give a CSV with a header "
            f"naming one of {', '.join(TIME_COLUMNS)}, or a directory holding {ARRIVALS_FILE}"
        )
    with file.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ConfigurationError(f"{file}: expected a header and at least one arrival time")
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in TIME_COLUMNS if name in header), None)
    if column is None:
        if len(header) != 1:
            raise ConfigurationError(
                f"{file}: no arrival-time column in header {rows[0]!r}; "
                f"name it one of {', '.join(TIME_COLUMNS)}"
            )
        column = 0
    times = []
    for line, row in enumerate(rows[1:], start=2):
        if column >= len(row):
            raise ConfigurationError(f"{file}:{line}: row {row!r} has no column {column + 1}")
        times.append(_read_number_or_time(row[column], f"{file}:{line}"))
    return tuple(times)


def read_rate_profile(path: str | Path) -> tuple[float, ...]:
    """Rates from a CSV: a ``rate`` (jobs/h) column, or a single column; one row per slot."""
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"rate profile file {str(file)!r} does not exist")
    with file.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ConfigurationError(f"{file}: expected a header and one rate per row")
    header = [cell.strip().lower() for cell in rows[0]]
    names = ("rate", "jobs_per_hour", "rate_per_hour")
    column = next((header.index(name) for name in names if name in header), None)
    if column is None:
        if len(header) != 1:
            raise ConfigurationError(
                f"{file}: no rate column in header {rows[0]!r}; name it one of {', '.join(names)}"
            )
        column = 0
    rates = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            rates.append(float(row[column]))
        except (ValueError, IndexError):
            raise ConfigurationError(
                f"{file}:{line}: expected a rate in jobs per hour, got {row!r}"
            ) from None
    return tuple(rates)


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(
            f"cannot read rates {text!r}; give jobs per hour separated by commas"
        ) from None


def parse_gap(text: str) -> float:
    """``600``, ``10m`` (a mean gap) or ``6/h``, ``100/d`` (a rate)."""
    from qlambda.sim.scenario import parse_seconds

    value = text.strip()
    if "/" in value:
        count, _, unit = value.partition("/")
        units = {"s": 1.0, "m": 60.0, "h": HOUR, "d": DAY}
        try:
            rate = float(count)
        except ValueError:
            rate = -1.0
        if unit not in units or not rate > 0:
            raise ConfigurationError(
                f"cannot read rate {text!r}; use e.g. 6/h, 0.1/m or 150/d (jobs per unit)"
            )
        return units[unit] / rate
    return parse_seconds(value)


def parse_arrivals(text: str) -> ArrivalProcess:
    """An arrival process from its text form (see ``ACCEPTED_FORMS``)."""
    kind, sep, argument = text.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or not argument.strip():
        raise ConfigurationError(f"cannot read arrivals {text!r}; accepted: {ACCEPTED_FORMS}")
    argument = argument.strip()
    if kind == "poisson":
        return PoissonArrivals(parse_gap(argument))
    if kind in ("replay", "replay-once"):
        return RecordedArrivals(
            read_arrival_times(argument), repeat=kind == "replay", source=argument
        )
    if kind == "profile":
        if Path(argument).suffix.lower() == ".csv" or Path(argument).is_file():
            return RateProfile(read_rate_profile(argument), source=argument)
        return RateProfile(_rates(argument))
    raise ConfigurationError(f"unknown arrival process {kind!r}; accepted: {ACCEPTED_FORMS}")
