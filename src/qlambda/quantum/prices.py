"""What a backend's quantum tasks cost: a price per QPU second, per task, per circuit, per shot.

A price is chosen per backend in the configuration, whatever the backend's kind, so one
model fits each vendor's: IBM Quantum bills QPU time (``per_second``); Amazon Braket
bills each of its tasks (one circuit) and each shot (``per_circuit`` and ``per_shot``).
The components add up; cost is in whatever currency the prices are written in.

```toml
[[backend]]
name = "torino"
kind = "fake"
device = "FakeTorino"
price = { per_second = 1.60 }          # IBM pay-as-you-go: 96 USD a minute

[prices.aria]                           # or here, keyed by backend name
per_circuit = 0.30
per_shot = 0.03
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from qlambda.core.errors import ConfigurationError


@dataclass(frozen=True)
class Price:
    """Each component is in currency units; None or 0: not charged."""

    per_second: float = 0.0
    """Per second of QPU time (the device's time, as estimated or reported)."""
    per_task: float = 0.0
    """Per quantum task: one primitive ``run()`` call."""
    per_circuit: float = 0.0
    """Per circuit the device runs (PUBs x parameter sets x measurement bases); a Braket
    task is one circuit."""
    per_shot: float = 0.0
    """Per shot, over every circuit of the task."""

    def cost(self, qpu_seconds: float, circuits: int, shots: int) -> float:
        return (
            self.per_second * qpu_seconds
            + self.per_task
            + self.per_circuit * circuits
            + self.per_shot * shots
        )

    def describe(self) -> str:
        parts = [f"{value:g} {name.replace('_', ' ')}" for name, value in self.items() if value]
        return ", ".join(parts) or "free"

    def items(self) -> list[tuple[str, float]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


COMPONENTS = tuple(f.name for f in fields(Price))


def parse_price(value: Any, label: str) -> Price | None:
    """A ``price`` table (or a :class:`Price`, or None) as a Price; bad keys and values are
    refused, naming ``label`` (the backend) and what is accepted."""
    if value is None or isinstance(value, Price):
        price = value
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(COMPONENTS))
        if unknown:
            raise ConfigurationError(
                f"{label}: unknown price component(s) {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(COMPONENTS)}"
            )
        if not value:
            raise ConfigurationError(
                f"{label}: an empty price; give at least one of {', '.join(COMPONENTS)}"
            )
        price = Price(**dict(value))
    else:
        raise ConfigurationError(
            f"{label}: price must be a table such as {{ per_second = 1.6 }}, got {value!r}"
        )
    if price is not None:
        for name, amount in price.items():
            if (
                isinstance(amount, bool)
                or not isinstance(amount, int | float)
                or not math.isfinite(amount)
                or amount < 0
            ):
                raise ConfigurationError(
                    f"{label}: price {name} must be a finite number >= 0, got {amount!r}"
                )
    return price


def task_cost(price: Price | None, qpu_seconds: float, workload: Any, default_shots: int) -> float:
    """The cost of one task of ``workload`` (``qlambda.quantum.request.Workload``: per PUB,
    circuit executions, shots per execution or None for the device's default, depth)."""
    if price is None:
        return 0.0
    circuits = sum(executions for executions, _, _ in workload)
    shots = sum(executions * (shots or default_shots) for executions, shots, _ in workload)
    return price.cost(qpu_seconds, circuits, shots)
