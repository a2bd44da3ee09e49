"""``/functions``: register a user's functions by name, list and describe them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qlambda.gateway import uploads
from qlambda.gateway.api.deps import CatalogDep, CurrentUser, PlatformDep, SettingsDep, registered
from qlambda.gateway.catalog import Catalog, Registered
from qlambda.gateway.errors import ApiError
from qlambda.gateway.models import FunctionOut, FunctionRegistration
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform import Platform

router = APIRouter(prefix="/functions", tags=["functions"])


@router.post("", status_code=201, response_model=FunctionOut)
def register_function(
    body: FunctionRegistration,
    user: CurrentUser,
    platform: PlatformDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Register a source file, a zipped folder (with an entry point) or a pickled
    callable under a name; a newer registration under the same name replaces it."""
    return register(catalog, platform, settings, body, user.name).describe()


@router.get("", response_model=list[FunctionOut])
def list_functions(user: CurrentUser, catalog: CatalogDep) -> list[dict[str, Any]]:
    return [entry.describe() for entry in catalog.list(None if user.is_admin else user.name)]


@router.get("/{name}", response_model=FunctionOut)
def get_function(name: str, user: CurrentUser, catalog: CatalogDep) -> dict[str, Any]:
    return registered(catalog, user, name).describe()


def register(
    catalog: Catalog,
    platform: Platform,
    settings: GatewaySettings,
    body: FunctionRegistration,
    owner: str,
) -> Registered:
    """Check and store one function for ``owner`` (the API and the start-up file use it)."""
    try:
        uploads.check_dependencies(body.dependencies)
        prepared = uploads.prepare(body, owner, platform.data_dir, settings)
    except uploads.UploadError as exc:
        raise ApiError(exc.status, str(exc)) from None
    if body.cpus > platform.engine.cpus:
        raise ApiError(
            422, f"cpus={body.cpus} is more than the workers have ({platform.engine.cpus})"
        )
    limits = {"cpus": body.cpus, "timeout_s": body.timeout, "memory_mb": body.memory}
    entry = Registered(owner, prepared.payload, limits, prepared.parameters, body.dependencies)
    catalog.add(entry)
    return entry
