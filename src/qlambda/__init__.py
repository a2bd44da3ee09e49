"""qlambda: a hybrid classical-quantum serverless platform, and a simulator to plan it.

The names below load on first use, so ``import qlambda.sim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "ResultDeletedError": "qlambda.core",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qlambda' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
