"""The Ray engine: pilots and jobs on a private local Ray instance or a Ray cluster."""

from qlambda.engine.ray.engine import RayEngine

__all__ = ["RayEngine"]
