"""The control plane: admission, job runner, QPU dispatcher, function context, traces.

Names load on first use: a worker that only needs the function context does not
import the store and the engine's parent side.
"""

from __future__ import annotations

import importlib
from typing import Any

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
