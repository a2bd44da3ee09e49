"""Quantum backends: configuration, requests and their cost, the executor-side runtime, and
the SamplerV2/EstimatorV2 objects user functions call.

``config``, ``request`` and ``selection`` are cheap to import and used by the control
plane; ``runtime`` (the simulators) lives in QPU executor processes; ``primitives`` in
workers. Import the submodules directly so each process loads only what it needs.
"""

from qlambda.quantum.config import BackendConfig, default_backends, load_backends

__all__ = ["BackendConfig", "default_backends", "load_backends"]
