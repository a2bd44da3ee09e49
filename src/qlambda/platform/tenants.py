"""Tenants of a shared platform: each one's jobs in a sandbox of its own.

The platform hands its engine a launcher per tenant (``qlambda.engine.local.sandbox``):
the tenant's job folders are its only writable place, its registered files are
readable, the rest of the data directory (and a SQLite database wherever it lives)
is hidden, and it runs as a uid of its own, the same for good (kept in the store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qlambda.platform.control import Platform


def tenant_sandboxes(platform: Platform) -> Any:
    """The engine's ``sandbox=``: a launcher for each tenant's zygote."""
    from qlambda.engine.local.sandbox import sandbox_factory

    settings = platform.config.sandbox

    def uid_of(tenant: str) -> int:
        return platform.store.tenant_uid(tenant, settings.uid_base)

    def writable(tenant: str) -> list[Path]:
        folder = platform.tenant_dir(tenant)
        folder.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            uid = uid_of(tenant)
            os.chown(folder, uid, uid)
        folder.chmod(0o700)
        return [folder]

    def readable(tenant: str) -> list[Path]:
        uploads = platform.data_dir / "functions" / tenant  # its registered files
        uploads.mkdir(parents=True, exist_ok=True)
        return [uploads]

    hidden = [platform.data_dir]
    database = getattr(platform.store.engine.url, "database", None)
    if platform.store.engine.dialect.name == "sqlite" and database:
        hidden.append(Path(database).resolve().parent)
    return sandbox_factory(
        settings, writable=writable, readable=readable, hidden=hidden, uid_of=uid_of
    )
