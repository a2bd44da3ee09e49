"""Circuits from any SDK, results in the caller's shape.

- ``circuits``: Qiskit circuits, OpenQASM 2 and 3 strings and Cirq circuits become Qiskit
  circuits before a request is made (anything else is refused, saying what is accepted);
- ``cirq_circuits``: Cirq circuits converted gate by gate, once per structure, their
  parameters symbolic;
- ``cirq_sampler``: a ``cirq.Sampler`` whose runs are platform quantum tasks, returning
  ``cirq.ResultDict`` s (a sweep: one task), with ``cirq.Simulator``'s ``simulate`` and
  expectation values on ideal simulators;
- ``pennylane_circuits``: PennyLane tapes converted the same way;
- ``pennylane_device``: the ``qlambda.platform`` PennyLane device, whose executions go
  through the platform's queue as at most one estimator and one sampler request per batch
  of tapes (expval/var; probs/counts/sample shaped as ``default.qubit`` shapes them), and
  whose gradients (parameter shift; adjoint, with ``adjoint``) are one request each.

Cirq and PennyLane are imported only by the modules that need them (they cost seconds).
"""
