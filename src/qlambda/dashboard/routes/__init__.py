"""The dashboard's pages, one module per page; ``router`` holds them all."""

from __future__ import annotations

from fastapi import APIRouter

from qlambda.dashboard.routes import auth, jobs, live, qpus, users, whatif

router = APIRouter(include_in_schema=False)
for module in (auth, jobs, live, qpus, users, whatif):
    router.include_router(module.router, prefix="/ui")
