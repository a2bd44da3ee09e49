"""Execution options as a pipeline of steps around the backend (the decorators of [3]).

One module per technique, after mitiq's layout: ``readout`` (calibrated readout-error
mitigation), ``zne`` (zero-noise extrapolation), ``ddd`` (digital dynamical decoupling).
``base`` defines the :class:`PipelineStep` protocol and the data that flows through it,
``registry`` resolves options by name (built-ins, ``@register_step``, the
``qlambda.pipeline_steps`` entry points), ``measure`` is the one batched simulator call at
the bottom and ``runner`` turns a request's PUBs into executions and back.

This package imports neither mitiq nor the steps until an option is used.
"""

from qlambda.quantum.pipeline.base import (
    BackendView,
    Execution,
    Outcome,
    PassThrough,
    PipelineStep,
    run_steps,
)
from qlambda.quantum.pipeline.registry import (
    ENTRY_POINT_GROUP,
    UnknownOptionError,
    describe_options,
    known_options,
    register_step,
    resolve_options,
    unregister_step,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendView",
    "Execution",
    "Outcome",
    "PassThrough",
    "PipelineStep",
    "UnknownOptionError",
    "describe_options",
    "known_options",
    "register_step",
    "resolve_options",
    "run_steps",
    "unregister_step",
]
