"""Digital dynamical decoupling (mitiq): fill idle windows with gate sequences that
multiply to the identity, so slow noise on idle qubits is echoed away.

Inserted into the circuit as it will run (after transpilation, which would otherwise
remove the sequences as identities).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qlambda.quantum.pipeline.base import BackendView, Execution, PassThrough

RULES = ("xx", "xyxy", "yy")


class DynamicalDecoupling(PassThrough):
    """``rule``: the sequence put in every idle window, one of mitiq's rules."""

    name = "ddd"

    def __init__(self, rule: str = "xx") -> None:
        if rule not in RULES:
            raise ValueError(f"unknown ddd rule {rule!r}; accepted: {', '.join(RULES)}")
        self.rule = rule

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        from mitiq.ddd import insert_ddd_sequences, rules

        from qlambda.quantum.pipeline.circuits import compact, expand

        rule = getattr(rules, self.rule)
        cache: dict[int, Any] = {}
        decoupled = []
        for execution in executions:
            key = id(execution.circuit)
            if key not in cache:
                small, physical = compact(execution.circuit)
                padded = insert_ddd_sequences(small, rule)
                cache[key] = backend.rebase(expand(padded, physical, execution.circuit))
            decoupled.append(
                Execution(
                    cache[key], execution.shots, execution.observable, execution.mitigate_readout
                )
            )
        return decoupled, None
