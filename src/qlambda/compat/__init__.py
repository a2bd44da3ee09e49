"""Compatibility layers: programs written for other platforms run on qlambda with their
import line changed.

* :mod:`qlambda.compat.serverless`: Qiskit Serverless functions and their clients
  (``get_arguments``, ``save_result``, ``distribute_task``, ``ServerlessClient``, ...);
* :mod:`qlambda.compat.pilot_quantum`: Pilot-Quantum's ``PilotComputeService``.

See docs/coming-from-qiskit-serverless.md and docs/coming-from-pilot-quantum.md.
"""
