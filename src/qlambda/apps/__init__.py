"""Mini-apps that run on qlambda (and bare, on plain Qiskit primitives): the demo's workload."""
