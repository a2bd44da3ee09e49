"""Kind ``ibm``: an IBM Quantum device through ``qiskit-ibm-runtime``.

```toml
[[backend]]
name = "torino"
kind = "ibm"
device = "ibm_torino"                 # the IBM backend's name
instance = "crn:v1:bluemix:public:quantum-computing:us-east:a/...::"
token_env = "QISKIT_IBM_TOKEN"        # the default; or token_file = "/etc/qlambda/ibm.key"
num_qubits = 133                      # optional: lets the control plane route by width
```

``channel = "local"`` is qiskit-ibm-runtime's local testing mode: ``device`` names a
fake backend (``"fake_torino"``) that the SDK's own primitives, sessions and batches run
on Aer, in the executor, with no account.

The API key is read only in the backend's QPU executor process, from the variable
``token_env`` names (passed to that process alone and removed from every other worker's
environment) or from ``token_file``; it is never in the configuration, the database or
a function's reach. The device's target and calibration are read there too
(:attr:`BackendKind.calibration_from_device`) and reach the control plane as data.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qlambda.core import ConfigurationError
from qlambda.quantum.backends.kind import BackendKind

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from qlambda.quantum.backends.kind import Device
    from qlambda.quantum.config import BackendConfig

_targets: dict[str, Target] = {}  # device data key -> target, in a worker
CHANNELS = ("ibm_quantum_platform", "ibm_cloud", "local")
DEFAULT_TOKEN_ENV = "QISKIT_IBM_TOKEN"


class IBMKind(BackendKind):
    name = "ibm"
    calibration_from_device = True
    vendor_sessions = True
    settings = {  # noqa: RUF012 - read only
        "channel": "ibm_quantum_platform (default), ibm_cloud, or local (testing mode)",
        "instance": "the IBM Cloud instance: its CRN or name",
        "url": "the service's base URL (the SDK's default if unset)",
        "token_env": f"variable holding the API key (default {DEFAULT_TOKEN_ENV})",
        "token_file": "file holding the API key (read by the executor only)",
        "account": "name of an account saved with QiskitRuntimeService.save_account",
        "proxy": "HTTP(S) proxy URL for every request to IBM",
        "iam_url": "IBM Cloud IAM endpoint (the SDK's IAM_URL)",
        "verify": "verify TLS certificates (default true)",
        "poll_seconds": "how often a running job's status is read (default 1.0)",
    }

    def validate(self, config: BackendConfig) -> BackendConfig:
        self.check_settings(config)
        label = f"backend {config.name!r}"
        settings = config.settings
        channel = settings.get("channel", "ibm_quantum_platform")
        if channel not in CHANNELS:
            raise ConfigurationError(
                f"{label}: channel {channel!r}; accepted: {', '.join(CHANNELS)}"
            )
        if not isinstance(config.device, str) or not config.device:
            raise ConfigurationError(
                f"{label}: kind 'ibm' needs a 'device', the IBM backend's name such as "
                "'ibm_torino' (or with channel 'local' a fake backend such as 'fake_torino')"
            )
        for key in ("instance", "url", "token_env", "token_file", "account", "proxy", "iam_url"):
            if key in settings and not isinstance(settings[key], str):
                raise ConfigurationError(f"{label}: {key} must be text, got {settings[key]!r}")
        if "verify" in settings and not isinstance(settings["verify"], bool):
            raise ConfigurationError(f"{label}: verify must be true or false")
        poll = settings.get("poll_seconds", 1.0)
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll <= 60:
            raise ConfigurationError(f"{label}: poll_seconds is {poll!r}; accepted: 0 to 60")
        if "token_env" in settings and "token_file" in settings:
            raise ConfigurationError(f"{label}: give token_env or token_file, not both")
        if channel == "local":
            from qlambda.quantum.config import fake_device_width, resolve_fake_device

            device = resolve_fake_device(config.device)
            width = fake_device_width(device)
            if config.num_qubits is not None and config.num_qubits > width:
                raise ConfigurationError(
                    f"{label}: num_qubits {config.num_qubits} exceeds the {width} qubits of "
                    f"{device}; accepted: 1 to {width}"
                )
            return dataclasses.replace(config, num_qubits=config.num_qubits or width)
        return config

    def open(self, config: BackendConfig) -> Device:
        from qlambda.quantum.backends.ibm_device import IBMDevice

        return IBMDevice(config)

    def calibrated(self, config: BackendConfig) -> bool:
        return True

    def target(self, description: Mapping[str, Any]) -> Target:
        """Built as the SDK builds an ``IBMBackend``'s, from the configuration and
        properties the executor read (once per calibration, in each worker)."""
        data = description.get("device_data") or {}
        key = str(data.get("key"))
        found = _targets.get(key)
        if found is None:
            from qiskit_ibm_runtime.models import BackendProperties, QasmBackendConfiguration
            from qiskit_ibm_runtime.utils.backend_converter import convert_to_target

            properties = data.get("properties")
            found = _targets[key] = convert_to_target(
                QasmBackendConfiguration.from_dict(data["configuration"]),
                BackendProperties.from_dict(properties) if properties else None,
                include_control_flow=True,
            )
        return found

    def secret_variables(self, config: BackendConfig) -> tuple[str, ...]:
        if "token_file" in config.settings or config.settings.get("channel") == "local":
            return ()
        return (str(config.settings.get("token_env", DEFAULT_TOKEN_ENV)),)

    def executor_environment(self, config: BackendConfig) -> dict[str, str]:
        return {
            name: os.environ[name] for name in self.secret_variables(config) if name in os.environ
        }
