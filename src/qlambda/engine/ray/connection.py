"""One Ray connection per process, shared by every Ray engine in it.

Ray allows a process one connection. Engines that ask for the same target share
it; the last one to leave closes it. With no address the connection is a
*private* local Ray instance: its own temp folder (so it never attaches to
another user's cluster through the shared default one), a token of its own, and
``ray.shutdown()`` stops exactly the processes it started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass

from qlambda.core.errors import ConfigurationError
from qlambda.engine.local.worker import THREAD_VARIABLES

SETUP_HOOK = "qlambda.engine.remote.task.warm_up"


@dataclass
class _Connection:
    target: str | None  # None: the private local instance
    owned: bool  # we called ray.init, so we call ray.shutdown
    temp_dir: str | None
    users: int = 0


_lock = threading.Lock()
_current: _Connection | None = None


def describe(address: str | None) -> str:
    return "a private local Ray instance" if address is None else f"the Ray cluster at {address}"


def acquire(address: str | None, cpus: int | None, preload: tuple[str, ...]) -> None:
    """Connect this process to Ray (or share its connection)."""
    global _current
    if address is None:
        _private_token()
    import ray

    with _lock:
        if _current is not None:
            if _current.target != address:
                raise ConfigurationError(
                    f"this process is already connected to {describe(_current.target)}; "
                    f"a process holds one Ray connection, so it cannot also use "
                    f"{describe(address)}"
                )
            _current.users += 1
            return
        if ray.is_initialized():  # the user connected this process to Ray themselves
            _current = _Connection(target=address, owned=False, temp_dir=None, users=1)
            return
        runtime_env = {
            "worker_process_setup_hook": SETUP_HOOK,
            "env_vars": {
                **dict.fromkeys(THREAD_VARIABLES, "1"),
                "QLAMBDA_PRELOAD": ",".join(preload),
            },
        }
        temp_dir = None
        try:
            if address is None:
                # a short path: Ray's unix sockets live under it
                temp_dir = tempfile.mkdtemp(prefix="qlr-", dir="/tmp")
                ray.init(
                    address="local",
                    num_cpus=cpus or os.cpu_count() or 1,
                    _temp_dir=temp_dir,
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, runtime_env=runtime_env, configure_logging=False)
        except Exception as exc:
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            if isinstance(exc, ConnectionError | RuntimeError | ValueError):
                raise ConfigurationError(f"cannot connect to {describe(address)}: {exc}") from exc
            raise
        _current = _Connection(target=address, owned=True, temp_dir=temp_dir, users=1)


def release() -> None:
    """Leave; the last engine out shuts the connection (and a private instance) down."""
    global _current
    import ray

    with _lock:
        if _current is None:
            return
        _current.users -= 1
        if _current.users > 0:
            return
        connection, _current = _current, None
    if connection.owned:
        with contextlib.suppress(Exception):
            ray.shutdown()
    if connection.temp_dir is not None:
        shutil.rmtree(connection.temp_dir, ignore_errors=True)


def _private_token() -> None:
    """A private instance gets a token of its own instead of one written to ~/.ray."""
    if "RAY_AUTH_MODE" not in os.environ:
        ensure_token()


def ensure_token() -> str:
    """Token authentication for this process and the Ray processes it starts.

    Uses ``RAY_AUTH_TOKEN`` when set, else makes one up (kept in this process's
    environment, never written to disk).
    """
    os.environ["RAY_AUTH_MODE"] = "token"
    token = os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(24))
    if "ray" in sys.modules:  # Ray read its settings at import: have it read them again
        # Config is in Ray's compiled module, but not in the stub Ray ships beside it
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")
    return token


def private_temp_dir() -> str | None:
    """The temp folder of the private instance this process runs, if it runs one."""
    with _lock:
        return None if _current is None else _current.temp_dir
