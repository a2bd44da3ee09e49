"""Engines by name, so pilots and the platform pick one from configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qlambda.core.errors import ConfigurationError

if TYPE_CHECKING:
    from qlambda.engine.base import Engine

ENGINES = ("local", "ray", "dask")
# a pilot may also be a batch job (qlambda.engine.slurm); the platform's jobs need a channel
PILOT_ENGINES = (*ENGINES, "slurm")


def create_engine(
    kind: str,
    *,
    cpus: int | None = None,
    max_workers: int | None = None,
    address: str | None = None,
    name: str = "engine",
    preload: tuple[str, ...] | None = None,
    sandbox: Any = None,
    trusted: bool = True,
) -> Engine:
    """``local``: warm processes here; ``ray`` / ``dask``: a private local instance of the
    framework, or the cluster at ``address``. ``preload``: modules each worker imports
    before its first task (default: the quantum stack). ``sandbox`` (local only): a
    launcher per tenant; ``trusted``: whether what tasks return may be unpickled here."""
    extra: dict[str, Any] = {} if preload is None else {"preload": tuple(preload)}
    if kind not in ENGINES:
        raise ConfigurationError(f"unknown engine {kind!r}; available: {', '.join(ENGINES)}")
    if kind == "local":
        if address is not None:
            raise ConfigurationError(
                f"the local engine runs on this machine and takes no address (got {address!r}); "
                "use engine='ray' or engine='dask' to join a cluster"
            )
        from qlambda.engine.local import LocalEngine

        return LocalEngine(
            cpus=cpus, max_workers=max_workers, name=name, sandbox=sandbox, trusted=trusted, **extra
        )
    if sandbox is not None:
        raise ConfigurationError(
            f"sandboxed jobs need the local engine; on {kind} the cluster's workers are shared "
            "by every job (see docs/security.md), so start the server with --sandbox none"
        )
    if max_workers is not None:
        raise ConfigurationError(
            f"max_workers applies to the local engine only; the {kind} engine's workers "
            "are the cluster's"
        )
    if kind == "ray":
        from qlambda.engine.ray import RayEngine

        return RayEngine(cpus, address=address, name=name, **extra)
    from qlambda.engine.dask import DaskEngine

    return DaskEngine(cpus, address=address, name=name, **extra)
