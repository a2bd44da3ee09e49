"""Backend kinds: the adapters between the platform and each sort of QPU.

- ``kind``: :class:`BackendKind` (the control plane's and the worker's side) and
  :class:`Device` (the QPU executor's side), the interface a kind implements;
- ``registry``: :func:`backend_kind` looks a kind up among the built-in ones and those
  installed packages declare under the ``qlambda.backends`` entry point group;
- ``aer``, ``fake``: the built-in kinds, an ideal Aer simulator and a noisy one built
  from a fake IBM device.
"""

from qlambda.quantum.backends.kind import BackendKind, Device, Report
from qlambda.quantum.backends.registry import ENTRY_POINT_GROUP, backend_kind, installed_kinds

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendKind",
    "Device",
    "Report",
    "backend_kind",
    "installed_kinds",
]
