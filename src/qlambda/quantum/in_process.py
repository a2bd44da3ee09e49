"""A quantum call's code path without the platform's queue and process hops, for
measuring what those cost: requests are sealed, opened and run by a QPU executor's
device built in the calling process."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def in_process_submit(backend: str = "aer") -> Callable[[Any], Future[Any]]:
    """A ``submit`` for the platform's primitives (``PlatformSamplerV2(submit)``, ...)
    that runs each request on a device of kind ``backend`` in this process."""
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.envelope import seal, seal_outcome
    from qlambda.quantum.runtime import BackendRuntime

    runtime = BackendRuntime(BackendConfig(name="local", kind=backend))

    def submit(request: Any) -> Future[Any]:
        answer: Future[Any] = Future()
        answer.set_result(seal_outcome(runtime.execute(seal(request).open())))
        return answer

    return submit
