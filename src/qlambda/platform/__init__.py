"""The control plane: admission, job runner, QPU dispatcher, function context, traces.

Names load on first use: a worker that only needs the function context does not
import the store and the engine's parent side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see of the names loaded on first use
    from qlambda.platform.config import PlatformConfig as PlatformConfig
    from qlambda.platform.control import Platform as Platform
    from qlambda.platform.functions import Function as Function
    from qlambda.platform.functions import function as function
    from qlambda.platform.jobs import JobInfo as JobInfo

_EXPORTS = {
    "Function": "qlambda.platform.functions",
    "function": "qlambda.platform.functions",
    "JobInfo": "qlambda.platform.jobs",
    "Platform": "qlambda.platform.control",
    "PlatformConfig": "qlambda.platform.config",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qlambda.platform' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
