"""``qlambda serve``: the platform and its HTTP API in one process.

The platform is created on the main thread, which also runs uvicorn's event loop
for the life of the server (the quantum stack's native allocator must not first
be used from a short-lived thread).

A server applies the retention policy ``SERVER_DEFAULT`` (qlambda.platform.retention)
unless its ``[retention]`` table changes it. A configuration file may hold, beside
``[platform]``, ``[[backend]]`` and ``[retention]``:

```toml
[gateway]                  # the defaults; an admin can set a user's own limits
max_upload_bytes = 10_485_760
max_active_jobs = 100      # per user; more is answered with 429
max_running_jobs = 10      # per user; more wait queued
max_priority = 10          # per user; priorities are in (0, max_priority], more is 422
max_waits_per_user = 20    # open result waits and event streams; more is 429
max_result_bytes = 33_554_432  # a larger stored result is not sent (422)

[[function]]               # registered at start-up
name = "square"
owner = "alice"
source = "functions/square.py"   # or: zip = "pkg.zip" with entrypoint = "main.py:run"
function = "square"
dependencies = ["numpy>=2"]
```
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qlambda.core.errors import ConfigurationError
from qlambda.gateway.api.routes.functions import register
from qlambda.gateway.app import create_app
from qlambda.gateway.errors import ApiError, describe_validation
from qlambda.gateway.models import FunctionRegistration
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform import Platform, PlatformConfig
from qlambda.platform.retention import server_policy

FENCED_CLOSE_SECONDS = 5.0
FUNCTION_KEYS = {
    "name",
    "owner",
    "source",
    "function",
    "zip",
    "entrypoint",
    "dependencies",
    "cpus",
    "timeout",
    "memory",
}


def load_server_config(
    path: str | Path | None, **platform_overrides: Any
) -> tuple[PlatformConfig, GatewaySettings, list[dict[str, Any]]]:
    data: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigurationError(f"configuration file {str(file)!r} does not exist")
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{file}: not valid TOML: {exc}") from None
        base = file.parent
    gateway = dict(data.pop("gateway", {}))
    functions = list(data.pop("function", []))
    known = {f.name for f in fields(GatewaySettings)}
    unknown = set(gateway) - known
    if unknown:
        raise ConfigurationError(
            f"unknown [gateway] setting(s) {sorted(unknown)}; accepted: {', '.join(sorted(known))}"
        )
    try:
        settings = GatewaySettings(**gateway)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"[gateway]: {exc}") from None
    data["retention"] = server_policy(data.get("retention"))
    platform = PlatformConfig.build(data, **platform_overrides)
    return platform, settings, [_function_entry(f, base) for f in functions]


def _function_entry(entry: Mapping[str, Any], base: Path) -> dict[str, Any]:
    unknown = set(entry) - FUNCTION_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown [[function]] key(s) {sorted(unknown)}; "
            f"accepted: {', '.join(sorted(FUNCTION_KEYS))}"
        )
    if "owner" not in entry or "name" not in entry:
        raise ConfigurationError("each [[function]] needs a name and an owner")
    if ("source" in entry) == ("zip" in entry):
        raise ConfigurationError(
            f"function {entry['name']!r}: give exactly one of source = 'file.py' "
            "(with function = 'name') or zip = 'folder.zip' (with entrypoint = 'main.py:name')"
        )
    entrypoint: str | None  # a zip without one is refused when the function is registered
    if "source" in entry:
        file = base / entry["source"]
        kind, entrypoint = "source", f"{file.name}:{entry.get('function', entry['name'])}"
    else:
        file = base / entry["zip"]
        kind, entrypoint = "zip", entry.get("entrypoint")
    if not file.is_file():
        raise ConfigurationError(f"function {entry['name']!r}: no file {str(file)!r}")
    body = {
        "name": entry["name"],
        "kind": kind,
        "content": base64.b64encode(file.read_bytes()).decode(),
        "entrypoint": entrypoint,
        "dependencies": entry.get("dependencies", []),
    }
    for key in ("cpus", "timeout", "memory"):
        if key in entry:
            body[key] = entry[key]
    return {"owner": entry["owner"], "body": body}


def register_functions(app: Any, platform: Platform, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        try:
            body = FunctionRegistration(**entry["body"])
            register(app.state.catalog, platform, app.state.settings, body, entry["owner"])
        except ValidationError as exc:
            raise ConfigurationError(
                f"function {entry['body']['name']!r}: {describe_validation(exc.errors())}"
            ) from None
        except ApiError as exc:
            raise ConfigurationError(f"function {entry['body']['name']!r}: {exc.detail}") from None


def serve(
    config: PlatformConfig,
    settings: GatewaySettings,
    functions: list[dict[str, Any]],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    ready_file: str | None = None,
) -> None:
    import uvicorn

    if config.sandbox is None:  # a shared server isolates its tenants unless told not to
        from qlambda.engine.local.sandbox import SandboxSettings

        config = dataclasses.replace(config, sandbox=SandboxSettings())
    platform = Platform(config)  # the store is open: workers need not know where it is
    os.environ.pop("QLAMBDA_DATABASE_URL", None)
    platform.start()
    try:
        app = create_app(platform, settings)
        register_functions(app, platform, functions)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=log_level,
                access_log=False,
                timeout_graceful_shutdown=5,
                backlog=4096,
            )
        )
        _announce_when_started(server, platform, ready_file)
        _stop_when_fenced(server, platform)
        server.run()
    finally:
        if platform.fenced_reason is None:
            platform.close()
        else:  # its workers are stopped; the database may not answer: do not wait for it
            closing = threading.Thread(target=platform.close, name="qlambda-close", daemon=True)
            closing.start()
            closing.join(FENCED_CLOSE_SECONDS)
    if platform.fenced_reason is not None:
        raise LeaseLostError(
            f"control plane {platform.controller.id} stopped its jobs and exits: "
            f"{platform.fenced_reason}. Start it again: it claims what no live replica owns."
        )


class LeaseLostError(ConfigurationError):
    """The server could not keep its lease (replicas): it stopped its jobs and exits."""


def _stop_when_fenced(server: Any, platform: Platform) -> None:
    """A replica that lost its lease stops serving: its jobs are no longer its own."""

    def watch() -> None:
        platform.fenced.wait()
        server.should_exit = True

    threading.Thread(target=watch, name="qlambda-fenced", daemon=True).start()


def _announce_when_started(server: Any, platform: Platform, ready_file: str | None) -> None:
    """Once the server accepts connections: record its address with its control plane,
    and write the bound port to ``ready_file``."""
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets=sockets)
        if not server.servers:
            return
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        with contextlib.suppress(Exception):  # only shown to people; the database may be away
            platform.controller.set_address(f"http://{host}:{port}")
        if ready_file is not None:
            Path(ready_file).write_text(f"{port}\n")

    server.startup = startup
