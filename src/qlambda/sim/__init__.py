"""The discrete-event simulator of a hybrid classical-quantum serverless platform.

The model is the one of Cicconetti [1] (IEEE TQE 2025, Sec. II-C),
driven by the platform's own scheduling policies and by traces in the format
the platform records::

    from qlambda.sim import preset, run
    result = run(preset("small"), reps=10)
    result.replications, result.jobs  # pandas DataFrames
"""

from qlambda.sim.model import Outcome, Platform
from qlambda.sim.runner import SimResult, replicate, resolve_source, run
from qlambda.sim.scenario import PRESETS, Point, Scenario, preset
from qlambda.sim.traces import TraceSet, default_traces_dir, load_traces, normalise_quantum
from qlambda.sim.workload import Distribution, SyntheticWorkload, Workload, draw_workload

__all__ = [
    "PRESETS",
    "Distribution",
    "Outcome",
    "Platform",
    "Point",
    "Scenario",
    "SimResult",
    "SyntheticWorkload",
    "TraceSet",
    "Workload",
    "default_traces_dir",
    "draw_workload",
    "load_traces",
    "normalise_quantum",
    "preset",
    "replicate",
    "resolve_source",
    "run",
]
