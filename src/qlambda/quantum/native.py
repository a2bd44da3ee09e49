"""Keep Qiskit's native allocator safe in long-lived processes that start threads.

Qiskit's Rust extension allocates with mimalloc, whose main heap belongs to the first
thread that allocates through it. If that thread exits, threads started later crash
(SIGSEGV in ``mi_thread_init``) on their first native allocation: seen with qiskit 2.6
when a short-lived thread was the first to touch a circuit. A process that hosts the
platform claims the heap from the thread that creates the platform, which lives as long
as the platform does; the control plane's own threads never touch Qiskit objects.
"""

from __future__ import annotations

import threading

_claimed = False
_lock = threading.Lock()


def claim_native_heap() -> None:
    global _claimed
    with _lock:
        if _claimed:
            return
        from qiskit import QuantumCircuit

        QuantumCircuit(1).h(0)  # a native allocation from this thread
        _claimed = True
