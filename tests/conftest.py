"""Shared fixtures. Processes started here are the tests' own and are stopped by them."""

from __future__ import annotations

import os

# Workers inherit this; BLAS threads would oversubscribe the 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
