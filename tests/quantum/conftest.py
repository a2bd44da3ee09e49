"""Real backends behind a real ``submit``: BackendRuntime.execute in a thread pool.

That is the platform's execution path without the hop between processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from qiskit.primitives import PrimitiveResult

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import QuantumRequest
from qlambda.quantum.runtime import BackendRuntime, ExecutionOutcome

Submit = Callable[[QuantumRequest], "Future[PrimitiveResult]"]


class RecordingSubmit:
    """Runs every request on one runtime and keeps the requests and outcomes it saw."""

    def __init__(self, runtime: BackendRuntime, pool: ThreadPoolExecutor) -> None:
        self.runtime = runtime
        self.pool = pool
        self.requests: list[QuantumRequest] = []
        self.outcomes: list[ExecutionOutcome] = []

    def __call__(self, request: QuantumRequest) -> Future[PrimitiveResult]:
        self.requests.append(request)
        return self.pool.submit(self._run, request)

    def _run(self, request: QuantumRequest) -> PrimitiveResult:
        outcome = self.runtime.execute(request)
        self.outcomes.append(outcome)
        return outcome.result


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


@pytest.fixture(scope="module")
def aer_runtime() -> BackendRuntime:
    return BackendRuntime(BackendConfig(name="aer", kind="aer", seed=11))


@pytest.fixture
def aer_submit(aer_runtime: BackendRuntime, pool: ThreadPoolExecutor) -> RecordingSubmit:
    return RecordingSubmit(aer_runtime, pool)


@pytest.fixture(scope="module")
def kolkata_runtime() -> BackendRuntime:
    return BackendRuntime(
        BackendConfig(name="kolkata", kind="fake", device="FakeKolkataV2", seed=7)
    )


@pytest.fixture
def kolkata_submit(kolkata_runtime: BackendRuntime, pool: ThreadPoolExecutor) -> RecordingSubmit:
    return RecordingSubmit(kolkata_runtime, pool)
