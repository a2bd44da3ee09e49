"""Simulate a platform before provisioning it: a preset, shortened, from Python.

README: "Simulate before you provision". Run: python examples/simulate.py
The full presets run 100 replications of 7 simulated days; this one is shortened.
"""

from qlambda.sim import preset, run
from qlambda.sim.model import HOUR
from qlambda.sim.scenario import DAY

scenario = preset("big-q").replace(
    Q=(2, 4, 6), interarrival=(300, 900), duration=2 * DAY, warmup=6 * HOUR
)
result = run(scenario, reps=4)  # a progress bar on a terminal; quiet otherwise
drop = result.replications.groupby(["Q", "interarrival"]).drop_probability.mean()
print("mean drop probability by Q and interarrival (s):")
print(drop.round(3).to_string())
summary = result.summary()
print(summary[["Q", "interarrival", "drop_probability", "qpu_load"]].round(3).to_string())
