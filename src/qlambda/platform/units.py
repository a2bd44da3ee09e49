"""Parse the durations and sizes users write ("30s", "5m", "7d", "512MB", "2GB")."""

from __future__ import annotations

import re

_DURATION = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = {"": 1.0, "mb": 1.0, "m": 1.0, "gb": 1024.0, "g": 1024.0, "kb": 1 / 1024, "k": 1 / 1024}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def _parse(
    value: float | str | None, units: dict[str, float], what: str, zero: bool = False
) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number or a string like {_example(what)}, not a bool")
    if isinstance(value, int | float):
        number, factor = float(value), 1.0
    else:
        match = _NUMBER_UNIT.match(str(value))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in units:
            accepted = ", ".join(u for u in units if u)
            raise ValueError(
                f"cannot read {what} {value!r}; write a number or a number with a unit "
                f"({accepted}), e.g. {_example(what)}"
            )
        number, factor = float(match.group(1)), units[unit]
    if number < 0 or (number == 0 and not zero):
        raise ValueError(f"{what} must be {'at least 0' if zero else 'positive'}, got {value!r}")
    return number * factor


def _example(what: str) -> str:
    if what == "memory":
        return "'512MB' or '2GB'"
    return "'30s' or '5m'" if what == "timeout" else "'12h' or '7d'"


def parse_seconds(value: float | str | None) -> float | None:
    """Seconds from a number of seconds or a string such as '30s', '5m', '1h'."""
    return _parse(value, _DURATION, "timeout")


def parse_walltime(value: float | str | None) -> float | None:
    """A batch job's walltime in seconds, from seconds or a string such as '30m', '2h'."""
    return _parse(value, _DURATION, "walltime")


def parse_age(value: float | str, what: str) -> float:
    """Seconds, 0 or more, from a number of seconds or a string such as '12h', '7d', '2w'."""
    seconds = _parse(value, _DURATION, what, zero=True)
    assert seconds is not None
    return seconds


def parse_megabytes(value: float | str | None) -> float | None:
    """Megabytes from a number of MB or a string such as '512MB', '2GB'."""
    return _parse(value, _SIZE, "memory")
