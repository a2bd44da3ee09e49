"""Close the loop: run jobs, export their traces, replay them in the simulator.

README: "Traces" and "Simulate before you provision". Run: python examples/traces_replay.py
"""

import tempfile
import time

import qlambda
from qlambda.apps.qaoa_maxcut import run as qaoa
from qlambda.platform.traces import export_traces, job_traces
from qlambda.sim import run as simulate
from qlambda.sim.replay import replay_scenario

# One simulated QPU that takes 1% of the time a real device would.
QPU = {"name": "qpu", "kind": "aer", "emulate_qpu_time": True, "time_scale": 0.01}

client = qlambda.Client(backends=[QPU], workers=2)
jobs = []
for nodes, priority in ((4, 1), (6, 2), (8, 4), (6, 1)):
    jobs.append(client.run(qaoa, nodes=nodes, maxiter=15, seed=nodes, priority=priority))
    time.sleep(0.5)  # a job every half second: the arrival rate the replay keeps
for job in jobs:
    job.result(timeout=300)
table, tasks = job_traces(client.platform.store)  # pandas DataFrames
print(table[["n_qubits", "priority", "num_iterations", "pre", "cost_time", "job_time"]])
directory = tempfile.mkdtemp(prefix="traces-")
written = export_traces(client.platform.store, directory, workers=2, qpus=1)
client.close()
print("written:", ", ".join(path.name for path in written.values()))

# the same workload on the recorded platform, then with a second QPU
scenario = replay_scenario(directory, ("Q=1,2", "policies=fifo,weighted"))
summary = simulate(scenario, reps=3).summary()
print(summary[["policy", "Q", "qpu_load", "job_time_median", "job_time_p95"]].round(2))
