"""The local engine: warm worker processes on this machine."""

from qlambda.engine.local.engine import DEFAULT_PRELOAD, LocalEngine

__all__ = ["DEFAULT_PRELOAD", "LocalEngine"]
