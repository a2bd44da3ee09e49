"""Platform settings: from Python keywords or a TOML file.

```toml
[platform]
data_dir = ".qlambda"
workers = 2          # cpus for classical work
engine = "local"     # local | ray | dask
engine_address = "auto"   # ray/dask: the cluster to join; omit for a private local one
policy = "fifo"      # fifo | lifo | random | weighted | priority
c_max = 40           # admission control; omit for no limit
q_max = 40
seed = 1
backend_selection = "least-loaded"  # | smallest-simulator | earliest-completion
hardware_threshold = 20             # wider requests go to device backends; omit: any
max_result_bytes = 33_554_432       # a larger result ends its job ERROR (32 MB)
max_log_bytes = 10_485_760          # a job's log stops growing there (10 MB)
max_interruptions = 3               # a job the server stopped under 3 times ends ERROR
replica = false      # one of several servers sharing a PostgreSQL database (docs/team.md)
lease_seconds = 15   # how long a control plane's jobs are its own without a heartbeat

[[backend]]          # the quantum backends (see docs/backends.md)
name = "aer"
kind = "aer"

[prices.aer]         # what quantum tasks cost, per backend (docs/costs.md)
per_second = 1.6

[quotas]             # per user, in QPU seconds and/or cost (docs/costs.md)
qpu_seconds = 600

[retention]          # how long ended jobs are kept (qlambda.platform.retention);
interval = "10m"     # embedded, everything is kept unless this table is given
[retention.DONE]
max_age = "7d"
```
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qlambda.core.errors import ConfigurationError
from qlambda.policy import POLICIES, AdmissionControl

DEFAULT_DATA_DIR = ".qlambda"


@dataclass(frozen=True)
class PlatformConfig:
    data_dir: str = DEFAULT_DATA_DIR
    engine: str = "local"  # where jobs run: local | ray | dask
    engine_address: str | None = None  # ray/dask cluster to join; None: a private local one
    workers: int | None = None  # default: this machine's cpu count (or the cluster's)
    max_workers: int | None = None  # processes, counting those lent by jobs waiting on QPUs
    policy: str = "fifo"
    seed: int | None = None
    c_max: int | None = None
    q_max: int | None = None
    backends: tuple[Any, ...] = field(default_factory=tuple)  # BackendConfig; empty = defaults
    backend_selection: str = (
        "least-loaded"  # least-loaded | smallest-simulator | earliest-completion
    )
    hardware_threshold: int | None = None  # wider requests go to device backends
    max_result_bytes: int | None = 32 * 1024 * 1024  # a larger result ends its job ERROR
    max_log_bytes: int | None = 10 * 1024 * 1024  # a job's log stops growing there
    max_interruptions: int = 3  # a job the server stopped under this often is not run again
    replica: bool = False  # one of several control planes sharing a PostgreSQL database
    lease_seconds: float = 15.0  # a control plane's jobs are its own while it renews this
    sandbox: Any = None  # SandboxSettings: tenants' jobs isolated (qlambda serve); None: not
    retention: Any = None  # RetentionPolicy or a [retention] mapping; None: keep every job
    prices: Any = None  # {backend name: Price or table}: the [prices] table (docs/costs.md)
    quotas: Any = None  # QuotaPolicy or a [quotas] mapping; None: no quotas

    def __post_init__(self) -> None:
        from qlambda.engine.registry import ENGINES

        if self.engine not in ENGINES:
            raise ConfigurationError(
                f"unknown engine {self.engine!r}; accepted: {', '.join(ENGINES)}"
            )
        if self.engine_address is not None and self.engine == "local":
            raise ConfigurationError(
                f"engine_address={self.engine_address!r} needs engine 'ray' or 'dask'; "
                "the local engine runs on this machine"
            )
        try:
            self.selection  # noqa: B018 - validates
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if self.policy not in POLICIES:
            raise ConfigurationError(
                f"unknown scheduling policy {self.policy!r}; accepted: {', '.join(POLICIES)}"
            )
        for label in ("workers", "max_workers", "max_result_bytes", "max_log_bytes"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{label} must be a positive integer, got {value!r}")
        if (
            isinstance(self.max_interruptions, bool)
            or not isinstance(self.max_interruptions, int)
            or self.max_interruptions < 1
        ):
            raise ConfigurationError(
                f"max_interruptions must be a positive integer, got {self.max_interruptions!r}"
            )
        if not isinstance(self.replica, bool):
            raise ConfigurationError(f"replica must be true or false, got {self.replica!r}")
        if (
            isinstance(self.lease_seconds, bool)
            or not isinstance(self.lease_seconds, int | float)
            or not 1 <= self.lease_seconds <= 3600
        ):
            raise ConfigurationError(
                f"lease_seconds must be a number of seconds from 1 to 3600, "
                f"got {self.lease_seconds!r}"
            )
        try:
            AdmissionControl(self.c_max, self.q_max)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if self.quotas is not None:
            from qlambda.platform.usage import QuotaPolicy

            object.__setattr__(self, "quotas", QuotaPolicy.from_mapping(self.quotas))
        if self.prices is not None:
            object.__setattr__(self, "prices", _price_table(self.prices))
        if self.retention is not None:
            from qlambda.platform.retention import RetentionPolicy

            object.__setattr__(self, "retention", RetentionPolicy.from_mapping(self.retention))

    @property
    def selection(self) -> Any:
        from qlambda.quantum.selection import Selection

        return Selection(self.backend_selection, self.hardware_threshold)

    @property
    def admission(self) -> AdmissionControl:
        return AdmissionControl(self.c_max, self.q_max)

    def resolved_backends(self) -> list[Any]:
        """The backends, each with its price from ``[prices]`` where that table sets one."""
        from qlambda.quantum.config import default_backends, load_backends

        backends = load_backends(list(self.backends)) if self.backends else default_backends()
        prices = dict(self.prices or {})
        names = {config.name for config in backends}
        unknown = sorted(set(prices) - names)
        if unknown:
            raise ConfigurationError(
                f"[prices] names no backend {', '.join(map(repr, unknown))}; the backends: "
                f"{', '.join(sorted(names))}"
            )
        for index, config in enumerate(backends):
            if config.name in prices:
                if config.price is not None:
                    raise ConfigurationError(
                        f"backend {config.name!r} has a price in its [[backend]] table and in "
                        "[prices]; give it in one place"
                    )
                backends[index] = replace(config, price=prices[config.name])
        return backends

    @classmethod
    def build(
        cls, source: str | Path | Mapping[str, Any] | None = None, **overrides: Any
    ) -> PlatformConfig:
        """From a TOML file or a mapping (``[platform]`` keys and ``[[backend]]`` tables),
        then keyword overrides; ``QLAMBDA_DATA_DIR`` sets the default data directory."""
        data: dict[str, Any] = {}
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise ConfigurationError(f"configuration file {str(path)!r} does not exist")
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
        elif source is not None:
            data = dict(source)
        unknown_sections = set(data) - {
            "platform",
            "backend",
            "sandbox",
            "retention",
            "prices",
            "quotas",
        }
        if unknown_sections:
            raise ConfigurationError(
                f"unknown configuration section(s) {sorted(unknown_sections)}; "
                "accepted: [platform], [[backend]], [sandbox], [retention], [prices], [quotas]"
            )
        settings = dict(data.get("platform", {}))
        if "backend" in data:
            settings["backends"] = data["backend"]
        if "sandbox" in data:
            settings["sandbox"] = sandbox_settings(data["sandbox"])
        for section in ("retention", "prices", "quotas"):
            if section in data:
                settings[section] = data[section]
        settings.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(settings) - known
        if unknown:
            raise ConfigurationError(
                f"unknown platform setting(s) {sorted(unknown)}; "
                f"accepted: {', '.join(sorted(known))}"
            )
        if "data_dir" not in settings and os.environ.get("QLAMBDA_DATA_DIR"):
            settings["data_dir"] = os.environ["QLAMBDA_DATA_DIR"]
        backends = settings.pop("backends", ())
        if backends:
            from qlambda.quantum.config import load_backends

            settings["backends"] = tuple(load_backends(backends))
        if "data_dir" in settings:
            settings["data_dir"] = str(settings["data_dir"])
        return cls(**settings)

    @property
    def sandboxed(self) -> bool:
        return self.sandbox is not None and self.sandbox.enabled

    def with_backends(self, backends: Sequence[Any]) -> PlatformConfig:
        from qlambda.quantum.config import load_backends

        return replace(self, backends=tuple(load_backends(list(backends))))


def _price_table(table: Any) -> dict[str, Any]:
    """``[prices]``: a table of backend names, each a price table (``per_second`` ...)."""
    from qlambda.quantum.prices import parse_price

    if not isinstance(table, Mapping):
        raise ConfigurationError(
            "[prices] must map backend names to price tables, e.g. [prices.torino] "
            f"per_second = 1.6; got {table!r}"
        )
    return {name: parse_price(value, f"[prices.{name}]") for name, value in table.items()}


def sandbox_settings(table: Mapping[str, Any]) -> Any:
    """A ``[sandbox]`` table as ``SandboxSettings``; unknown keys are refused."""
    from qlambda.engine.local.sandbox import SandboxSettings

    known = {f.name for f in fields(SandboxSettings)}
    unknown = set(table) - known
    if unknown:
        raise ConfigurationError(
            f"unknown [sandbox] setting(s) {sorted(unknown)}; accepted: {', '.join(sorted(known))}"
        )
    return SandboxSettings(**table)
