"""The SDK users import: ``Client`` and ``Job``."""

from qlambda.client.client import Client, Job

__all__ = ["Client", "Job"]
