"""The QAOA MaxCut mini-app, bare in this process and as a job on the platform.

README: "Mini-app: QAOA MaxCut". Run: python examples/qaoa_maxcut.py
"""

import qlambda
from qlambda.apps.qaoa_maxcut import run, run_bare

result = run_bare(nodes=8, ansatz="qaoa", reps=1, seed=1)
print(
    f"bare: cut {result.best_cut} of {result.optimum} "
    f"(approximation ratio {result.approximation_ratio:.2f}) in {result.iterations} iterations"
)
client = qlambda.Client()
job = client.run(run, nodes=6, ansatz="efficient_su2", maxiter=40, seed=1, priority=2)
value = job.result(timeout=300)
print(
    f"job {job.id}: cut {value['best_cut']} of {value['optimum']} "
    f"in {value['iterations']} iterations"
)
client.close()
