"""Calibration of each backend: snapshots, their history, drift, and placement.

- ``snapshot``: :class:`Calibration`, one backend's T1, T2, gate errors and durations,
  readout errors and timestamp, read from a fake device's bundled calibration file
  (plain JSON: the control plane reads it without importing Qiskit);
- ``drift``: :class:`DriftModel`, a seeded model that makes a static fake device's
  calibration change over time as a real device's does;
- ``manager``: :class:`CalibrationManager`, snapshots into the store, refreshed on demand
  or periodically, with history.
"""

from qlambda.quantum.calibration.drift import DriftModel
from qlambda.quantum.calibration.snapshot import Calibration, device_calibration

__all__ = ["Calibration", "DriftModel", "device_calibration"]
