"""qlambda: a hybrid classical-quantum serverless platform, and a simulator to plan it.

The names below load on first use, so ``import qlambda.sim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see of the names loaded on first use
    from qlambda.client import Client as Client
    from qlambda.client import Job as Job
    from qlambda.core import JobCanceledError as JobCanceledError
    from qlambda.core import JobDroppedError as JobDroppedError
    from qlambda.core import JobError as JobError
    from qlambda.core import JobFailedError as JobFailedError
    from qlambda.core import JobStatus as JobStatus
    from qlambda.core import QuotaExceededError as QuotaExceededError
    from qlambda.core import ResultDeletedError as ResultDeletedError
    from qlambda.core import SubStatus as SubStatus
    from qlambda.platform.functions import Function as Function
    from qlambda.platform.functions import function as function

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "qlambda.client",
    "Job": "qlambda.client",
    "Function": "qlambda.platform.functions",
    "function": "qlambda.platform.functions",
    "JobStatus": "qlambda.core",
    "SubStatus": "qlambda.core",
    "JobError": "qlambda.core",
    "JobFailedError": "qlambda.core",
    "JobCanceledError": "qlambda.core",
    "JobDroppedError": "qlambda.core",
    "QuotaExceededError": "qlambda.core",
    "ResultDeletedError": "qlambda.core",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qlambda' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
