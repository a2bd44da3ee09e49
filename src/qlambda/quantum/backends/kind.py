"""What a backend kind is: the adapter between the platform and one sort of QPU.

A kind (``aer``, ``fake``, or one a package installs, see :mod:`.registry`) answers two
sorts of questions, in two places:

- in the control plane (no credentials, nothing slow): are a ``[[backend]]`` table's
  settings valid (:meth:`BackendKind.validate`), can the backend give exact values and
  run several tasks at once (:attr:`BackendKind.exact`), what is its calibration
  (:meth:`BackendKind.calibration`), which environment variables its executor needs and
  every other process must not see (:meth:`BackendKind.executor_environment`);
- in a function's worker: the device's Qiskit ``Target`` (:meth:`BackendKind.target`),
  so ``ctx.backend(name)`` can be transpiled for;
- in the backend's QPU executor process, the only one that talks to the device: the
  :class:`Device` that :meth:`BackendKind.open` builds once, which then runs one
  :class:`~qlambda.quantum.request.QuantumRequest` after another.

``docs/backends.md`` ("Writing a backend kind") walks through a complete one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from qlambda.core import ConfigurationError

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from qlambda.quantum.calibration import Calibration
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.outcome import ExecutionOutcome
    from qlambda.quantum.request import QuantumRequest

Report = Callable[[dict[str, Any]], None]
"""How a device tells the platform about a task while it runs (a vendor's job id, its
status, its place in the vendor's queue): plain data, shown in the job's events."""


class Device(ABC):
    """One backend's device, inside its QPU executor process.

    ``device_qubits``: its width (None: no device behind it, an ideal simulator).
    ``calibration``: the snapshot it compiles against (None: its own, as built).
    """

    device_qubits: int | None = None
    calibration: Calibration | None = None

    @abstractmethod
    def execute(self, request: QuantumRequest, report: Report | None = None) -> ExecutionOutcome:
        """Run ``request`` (PUBs as the function sent them: transpiling for the device is
        the device's business) and return its result with how long it held the device."""

    def warm_up(self) -> float:
        """Run something small so the first task pays no first-call costs; the seconds
        it took."""
        return 0.0

    def calibrate(self, calibration: Calibration) -> bool:
        """Compile against ``calibration`` from now on; True when compiled circuits were
        invalidated by it."""
        return False

    def snapshot(self, taken_at: float) -> Calibration | None:
        """The device's calibration read from the device itself, for kinds whose
        calibration only the executor can read (:attr:`BackendKind.calibration_from_device`)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Plain data a function's worker needs to build the device's ``Target``
        (:meth:`BackendKind.target`), for kinds that can only learn it here."""
        return {}

    def cancel(self, vendor_jobs: list[str]) -> None:  # noqa: B027 - a simulator has none
        """Stop work this backend's previous executor left behind (vendor jobs it had
        submitted when the task was stopped). Nothing to do for a simulator."""

    def close_modes(self, modes: list[str]) -> None:  # noqa: B027 - a simulator has none
        """The job whose calls ran in these sessions or batches (``QuantumRequest.mode``)
        ended: close the vendor's sessions opened for them."""


class BackendKind(ABC):
    """A sort of backend. Subclasses set :attr:`name` and implement :meth:`validate` and
    :meth:`open`; everything else has a default fit for a simulator without a device.

    ``settings``: the kind's own ``[[backend]]`` keys and what each means; a table may
    carry them besides the common keys (``name``, ``kind``, ``num_qubits``, ...), and
    :meth:`check_settings` refuses any other. They reach :meth:`validate` and
    :meth:`open` as ``config.settings``.
    """

    name: ClassVar[str]
    settings: ClassVar[Mapping[str, str]] = {}
    exact: ClassVar[bool] = False
    """An ideal simulator: exact expectation values (precision 0), and several tasks at
    once (``concurrency``); a device gives neither."""
    calibration_from_device: ClassVar[bool] = False
    """The calibration (and the target's data) is read by the executor
    (:meth:`Device.snapshot`, :meth:`Device.describe`), not here."""
    vendor_sessions: ClassVar[bool] = False
    """Calls in a session or batch run in a vendor's (:meth:`Device.close_modes` when
    their job ends)."""

    @abstractmethod
    def validate(self, config: BackendConfig) -> BackendConfig:
        """Check what this kind accepts (common keys it cannot honour, its own settings)
        and fill in what comes from the device (``num_qubits``, ``device``); raise
        :class:`~qlambda.core.ConfigurationError` saying what is wrong and what is
        accepted. Runs in the control plane: no credentials, no network."""

    @abstractmethod
    def open(self, config: BackendConfig) -> Device:
        """Build the device of a validated ``config``; runs once per executor process."""

    def calibrated(self, config: BackendConfig) -> bool:
        """Whether the backend has a calibration the platform snapshots."""
        return False

    def calibration(self, config: BackendConfig, taken_at: float) -> Calibration | None:
        """The backend's calibration now, read in the control plane (None: it has none,
        or :attr:`calibration_from_device`)."""
        return None

    def target(self, description: Mapping[str, Any]) -> Target:
        """The device's Qiskit ``Target``, in a function's worker. ``description``: the
        backend's ``name``, ``kind``, ``device``, ``num_qubits`` and what its executor's
        :meth:`Device.describe` returned (under ``"device_data"``). By default an ideal
        simulator's: every standard gate on every qubit and pair."""
        from qlambda.quantum.platform_backend import ideal_target

        return ideal_target(int(description["num_qubits"]))

    def executor_environment(self, config: BackendConfig) -> dict[str, str]:
        """Environment variables (credentials) the backend's executor needs from the
        server's environment. Only its executor gets them; they are removed from every
        other worker's environment (:attr:`secret_variables`)."""
        return {}

    def secret_variables(self, config: BackendConfig) -> tuple[str, ...]:
        """Names of environment variables that hold this backend's secrets."""
        return ()

    def check_settings(self, config: BackendConfig) -> None:
        """Refuse settings this kind does not know, listing those it does."""
        unknown = sorted(set(config.settings) - set(self.settings))
        if unknown:
            accepted = ", ".join(self.settings) or "none"
            raise ConfigurationError(
                f"backend {config.name!r}: unknown key(s) {', '.join(map(repr, unknown))} "
                f"for kind {self.name!r}; its own keys: {accepted}"
            )
