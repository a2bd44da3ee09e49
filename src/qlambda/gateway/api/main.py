"""All the API's routes, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from qlambda.gateway.api.routes import (
    circuits,
    functions,
    health,
    jobs,
    platform,
    streams,
    usage,
    users,
)

api_router = APIRouter()
api_router.include_router(functions.router)
api_router.include_router(jobs.router)
api_router.include_router(circuits.router)
api_router.include_router(streams.router)
api_router.include_router(platform.router)
api_router.include_router(users.router)
api_router.include_router(usage.router)
api_router.include_router(health.router)
