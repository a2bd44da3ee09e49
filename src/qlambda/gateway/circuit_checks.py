"""``POST /circuits`` checks its OpenQASM programs in a child process, never in the server.

A parser allocates what a program declares and a program is anyone's text, so the
server only forwards it: a warm worker process of a small engine of its own scans
each program against its limits (``qlambda.quantum.qasm``), parses it and checks it
against the backends (``qlambda.apps.circuits.check_circuit_run``), with a memory
ceiling (an address-space rlimit and the engine's memory limit) and a time limit.
Past either, that worker is replaced and the run is refused; the server is unharmed.
The engine starts at the first ``POST /circuits`` (a server that gets none runs no
such process) and trusts nothing its workers send back: a refusal crosses as the
error's type and message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from qlambda.core.errors import TaskFailedError, TimeLimitError, WorkerDiedError

CHECK_TIMEOUT = 30.0
"""Seconds one run's programs may take to scan, parse and check."""
CHECK_MEMORY_MB = 1024
"""How much a checking worker may grow while it checks one run."""
PRELOAD = (
    "qiskit",
    "qiskit.qasm2",
    "qiskit.qasm3",
    "qlambda.quantum.qasm",
    "qlambda.apps.circuits",
)


def limit_address_space(extra_mb: int) -> None:
    """Engine initializer: the worker may map at most ``extra_mb`` more than it has now, so
    a sudden allocation fails in the worker (MemoryError) before memory runs out."""
    import resource

    import psutil

    mapped = psutil.Process().memory_info().vms
    limit = mapped + (extra_mb << 20)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class CircuitChecks:
    """The checking engine: one warm worker, started on first use."""

    def __init__(self, timeout: float = CHECK_TIMEOUT, memory_mb: int = CHECK_MEMORY_MB) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._engine: Any = None
        self._lock = threading.Lock()
        self._closed = False

    def _get(self) -> Any:
        from qlambda.engine.local import LocalEngine

        with self._lock:
            if self._closed:
                raise RuntimeError("the server is stopping")
            if self._engine is None:
                engine = LocalEngine(
                    cpus=1,
                    max_workers=2,
                    preload=PRELOAD,
                    initializer=limit_address_space,
                    initargs=(2 * self.memory_mb,),
                    name="openqasm",
                    trusted=False,
                )
                engine.start()
                self._engine = engine
            return self._engine

    async def check(
        self,
        primitive: str,
        circuits: Sequence[str],
        observables: Any,
        backend: str | None,
        options: Iterable[Any] | None,
        widths: dict[str, int],
    ) -> None:
        """Raise ``CircuitRunError`` for a run the platform would refuse."""
        from qlambda.apps.circuits import CircuitRunError, check_circuit_run
        from qlambda.engine.base import TaskSpec

        engine = await asyncio.to_thread(self._get)  # the first call may start it
        spec = TaskSpec(
            check_circuit_run,
            (primitive, list(circuits), observables, backend, options, widths),
            timeout_s=self.timeout,
            memory_mb=self.memory_mb,
            name="openqasm check",
        )
        try:
            await asyncio.wrap_future(engine.submit(spec))
        except TimeLimitError:
            raise CircuitRunError(
                f"the programs took longer than {self.timeout:g} s to check; accepted: "
                "programs the parser reads within that time"
            ) from None
        except WorkerDiedError as exc:  # past the memory limit (or killed)
            reason = str(exc).split("\n\n", 1)[0]
            raise CircuitRunError(f"the programs could not be checked: {reason}") from None
        except TaskFailedError as exc:
            info = getattr(exc, "remote_info", None)
            if info is not None and info.type == "CircuitRunError":
                raise CircuitRunError(info.message) from None
            if info is not None and info.type == "MemoryError":
                raise CircuitRunError(
                    f"the programs need more than the {self.memory_mb} MB a check may use"
                ) from None
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown(wait=False)
