"""The control plane: admission, job runner, QPU dispatcher, function context, traces."""

from qlambda.platform.config import PlatformConfig
from qlambda.platform.control import Platform
from qlambda.platform.functions import Function, function
from qlambda.platform.jobs import JobInfo

__all__ = ["Function", "JobInfo", "Platform", "PlatformConfig", "function"]
