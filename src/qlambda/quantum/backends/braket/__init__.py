"""Kind ``braket``: an Amazon Braket device through ``amazon-braket-sdk``.

```toml
[[backend]]
name = "garnet"
kind = "braket"
device = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"   # an AwsDevice's ARN
s3_bucket = "amazon-braket-results-1234"                       # where Braket writes results
price = { per_circuit = 0.30, per_shot = 0.00145 }             # Braket: per task + per shot

[[backend]]
name = "braket-local"
kind = "braket"
device = "local"            # Braket's LocalSimulator (state vector); "local:braket_dm"
```

AWS credentials are read only in the backend's QPU executor process: the standard AWS
variables (passed to that process alone and removed from every other worker's
environment), a named ``profile`` of the server's AWS configuration, or the machine's
role; never the configuration, the database or a function's reach. The device's
capabilities (qubits, connectivity, gates, fidelities) are read there too
(:attr:`BackendKind.calibration_from_device`) and reach the control plane as data.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qlambda.core import ConfigurationError
from qlambda.quantum.backends.kind import BackendKind

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from qlambda.quantum.backends.kind import Device
    from qlambda.quantum.config import BackendConfig

LOCAL_DEVICES = ("local", "local:braket_sv", "local:braket_dm")
LOCAL_WIDTH = {"local": 26, "local:braket_sv": 26, "local:braket_dm": 13}
SDK_RANGE = "amazon-braket-sdk>=1.127,<1.128"
# the AWS SDK's own variables: credentials (secret) and where to find them or the service
SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BRAKET",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
)
_targets: dict[str, Target] = {}  # device data key -> target, in a worker


class BraketKind(BackendKind):
    name = "braket"
    calibration_from_device = True
    settings = {  # noqa: RUF012 - read only
        "region": "the AWS region (default: the device ARN's, else the AWS configuration's)",
        "profile": "a named profile of the server's AWS configuration",
        "s3_bucket": "the S3 bucket Braket writes results to (required for an AWS device)",
        "s3_prefix": "the key prefix of results in s3_bucket (default 'qlambda')",
        "reservation_arn": "a Braket Direct reservation's ARN: tasks run in its window",
        "poll_seconds": "how often a running task's state is read (default 1.0)",
    }

    def validate(self, config: BackendConfig) -> BackendConfig:
        self.check_settings(config)
        label = f"backend {config.name!r}"
        settings = config.settings
        device = config.device
        if not isinstance(device, str) or not (
            device in LOCAL_DEVICES or device.startswith("arn:aws:braket:")
        ):
            raise ConfigurationError(
                f"{label}: kind 'braket' needs a 'device': an AWS device's ARN such as "
                "'arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet', or a local simulator: "
                f"{', '.join(LOCAL_DEVICES)}; got {device!r}"
            )
        if importlib.util.find_spec("braket.devices") is None:
            raise ConfigurationError(
                f"{label}: kind 'braket' needs the Amazon Braket SDK: pip install "
                f"'qlambda[braket]' && pip install --no-deps '{SDK_RANGE}'"
            )
        for key in ("region", "profile", "s3_bucket", "s3_prefix", "reservation_arn"):
            if key in settings and not (isinstance(settings[key], str) and settings[key]):
                raise ConfigurationError(f"{label}: {key} must be text, got {settings[key]!r}")
        arn = settings.get("reservation_arn")
        if arn is not None and not arn.startswith("arn:aws:braket:"):
            raise ConfigurationError(
                f"{label}: reservation_arn {arn!r} is not a Braket reservation ARN "
                "(arn:aws:braket:<region>:<account>:reservation/<id>)"
            )
        if config.simulator_device != "CPU":
            raise ConfigurationError(
                f"{label}: simulator_device applies to Aer simulators; a Braket device "
                "runs where Braket runs it"
            )
        if config.emulate_qpu_time:
            raise ConfigurationError(
                f"{label}: emulate_qpu_time applies to simulated QPUs; a Braket device "
                "takes its own time"
            )
        poll = settings.get("poll_seconds", 1.0)
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll <= 60:
            raise ConfigurationError(f"{label}: poll_seconds is {poll!r}; accepted: 0 to 60")
        if device in LOCAL_DEVICES:
            extra = sorted(
                {"s3_bucket", "s3_prefix", "reservation_arn", "region", "profile"} & set(settings)
            )
            if extra:
                raise ConfigurationError(
                    f"{label}: {', '.join(extra)} apply only to an AWS device; the local "
                    "simulator runs in the executor, with no account"
                )
            width = LOCAL_WIDTH[device]
            if config.num_qubits is not None and config.num_qubits > width:
                raise ConfigurationError(
                    f"{label}: num_qubits {config.num_qubits} exceeds the {width} qubits of "
                    f"Braket's {device} simulator; accepted: 1 to {width}"
                )
            return dataclasses.replace(config, num_qubits=config.num_qubits or width)
        if "s3_bucket" not in settings:
            raise ConfigurationError(
                f"{label}: an AWS device needs 's3_bucket', the bucket Braket writes its "
                "results to (amazon-braket-... buckets are what Braket's console creates)"
            )
        return config

    def open(self, config: BackendConfig) -> Device:
        from qlambda.quantum.backends.braket.device import BraketDevice

        return BraketDevice(config)

    def calibrated(self, config: BackendConfig) -> bool:
        return config.device not in LOCAL_DEVICES

    def target(self, description: Mapping[str, Any]) -> Target:
        """Built from the capabilities the executor read (once per device data, per worker)."""
        from qlambda.quantum.backends.braket.circuits import braket_target

        data = description.get("device_data") or {}
        key = str(data.get("key"))
        found = _targets.get(key)
        if found is None:
            found = _targets[key] = braket_target(data)
        return found

    def secret_variables(self, config: BackendConfig) -> tuple[str, ...]:
        return () if config.device in LOCAL_DEVICES else SECRET_VARIABLES

    def executor_environment(self, config: BackendConfig) -> dict[str, str]:
        if config.device in LOCAL_DEVICES:
            return {}
        names = (*SECRET_VARIABLES, *AWS_VARIABLES)
        return {name: os.environ[name] for name in names if name in os.environ}
