"""What every submission goes through (``POST /jobs``, ``POST /circuits``): the caller's
priority range and active-job limit, and the ``Idempotency-Key`` that makes a retry
find the job already stored instead of storing another.

A key is stored in the job's row with a digest of the request, so a retry after a
server restart still finds it; the store's unique index on (owner, key) refuses a
second row, which is how a retry is told from a new submission without a lookup.
Retries of one key wait for each other here: only one server process uses a data
directory (``qlambda.platform.lock``).

While the database cannot be reached a submission is refused at once (503 with
``Retry-After``); one already waiting for its row when the database went away is given
up after ``PATIENCE`` seconds if its row was not being written (503: it is never
stored, so it never runs), and otherwise answered once its row is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from qlambda.core.errors import QuotaExceededError
from qlambda.gateway.auth import User
from qlambda.gateway.errors import ApiError
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform import JobInfo, Platform
from qlambda.platform.functions import FunctionPayload
from qlambda.store import PendingWrite
from qlambda.store.writer import PATIENCE

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
REPLAYED_HEADER = "Idempotent-Replayed"


def job_out(info: JobInfo) -> dict[str, Any]:
    row = dict(vars(info))  # flat scalars: no need for asdict's deep copy
    row["status"] = info.status.value
    return row


def check_priority(user: User, settings: GatewaySettings, priority: float) -> None:
    allowed = user.max_priority or settings.max_priority
    if priority > allowed:
        raise ApiError(
            422,
            f"priority {priority:g} is above your maximum of {allowed:g}; accepted: "
            f"0 < priority <= {allowed:g} (1 is the default; an admin sets a user's maximum)",
        )


def check_active_limit(platform: Platform, user: User, settings: GatewaySettings) -> None:
    limit = user.max_active_jobs or settings.max_active_jobs
    if limit is None:
        return
    active = platform.owner_active(user.name)
    if active >= limit:
        raise ApiError(
            429,
            f"you have {active} active (queued or running) jobs, the limit is {limit}; "
            "submit again once some have ended",
        )


def apply_running_limit(platform: Platform, user: User, settings: GatewaySettings) -> None:
    """The user's own running limit, if an admin changed it since the platform learnt it."""
    wanted = user.max_running_jobs or settings.max_running_jobs
    if platform.running_limit(user.name) != wanted:
        platform.limit_running_per_owner(None, {user.name: user.max_running_jobs})


def request_digest(path: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Submissions:
    """Submits jobs for the routes; holds the per-key locks of idempotent retries."""

    def __init__(self, platform: Platform, settings: GatewaySettings) -> None:
        self.platform = platform
        self.settings = settings
        self._keys: dict[tuple[str, str], list[Any]] = {}  # (user, key) -> [lock, users]

    async def submit(
        self,
        user: User,
        path: str,
        body: dict[str, Any],
        key: str | None,
        payload: FunctionPayload,
        arguments: dict[str, Any],
        limits: dict[str, Any],
        priority: float,
    ) -> JSONResponse:
        """Store one job (201), or answer the one stored under ``key`` (200)."""
        check_priority(user, self.settings, priority)
        if key is None:
            return await self._store(user, payload, arguments, limits, priority, None)
        if not KEY_PATTERN.match(key):
            raise ApiError(
                422,
                "the Idempotency-Key header must be 1-200 printable ASCII characters without "
                "spaces (a UUID is a good key)",
            )
        digest = request_digest(path, body)
        async with self._one_at_a_time(user.name, key):
            # Most keys are new: the job is stored straight away, and the store's unique
            # index on (owner, key) tells a retry (no lookup before each submission).
            try:
                return await self._store(user, payload, arguments, limits, priority, (key, digest))
            except (sa.exc.IntegrityError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status != 429:
                    raise
                found = await run_in_threadpool(self.platform.store.job_for_key, user.name, key)
                if found is None:
                    raise  # at the active limit, or not the key's index that refused it
            if found["request_digest"] != digest:
                raise ApiError(
                    422,
                    f"the Idempotency-Key {key!r} was used for another request (job "
                    f"{found['id']}); use a new key for a new submission",
                )
            info = await run_in_threadpool(self.platform.info, found["id"])
            return JSONResponse(job_out(info), status_code=200, headers={REPLAYED_HEADER: "true"})

    async def _store(
        self,
        user: User,
        payload: FunctionPayload,
        arguments: dict[str, Any],
        limits: dict[str, Any],
        priority: float,
        idempotency: tuple[str, str] | None,
    ) -> JSONResponse:
        self.platform.store.check_available()  # refused at once rather than queued
        check_active_limit(self.platform, user, self.settings)
        apply_running_limit(self.platform, user, self.settings)
        try:
            job_id, stored = self.platform.submit_payload(
                payload,
                arguments,
                limits=limits,
                priority=priority,
                owner=user.name,
                idempotency=idempotency,
            )
        except QuotaExceededError as exc:  # the user's QPU-second or cost quota is used up
            raise ApiError(429, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise ApiError(422, str(exc)) from None
        await self._committed(stored)
        return JSONResponse(job_out(self.platform.info(job_id)), status_code=201)

    async def submit_function(
        self,
        user: User,
        payload: FunctionPayload,
        arguments: dict[str, Any],
        limits: dict[str, Any],
        priority: float = 1.0,
    ) -> str:
        """Store a job of ``payload`` for ``user`` after the same checks as ``POST /jobs``
        (the dashboard's what-if runs); returns its id once it is stored."""
        check_priority(user, self.settings, priority)
        response = await self._store(user, payload, arguments, limits, priority, None)
        job: dict[str, Any] = json.loads(bytes(response.body))
        return str(job["id"])

    async def resubmit(self, user: User, job_id: str) -> str:
        """Submit a stored job again as a new job of its owner (its function, arguments,
        priority and options), after the checks of a submission by ``user``; returns the
        new job's id once it is stored."""
        row = await run_in_threadpool(self.platform.result_row, job_id)
        check_priority(user, self.settings, row["priority"])
        self.platform.store.check_available()
        check_active_limit(self.platform, user, self.settings)
        apply_running_limit(self.platform, user, self.settings)
        try:
            new_id, stored = self.platform.resubmit(job_id, owner=row["owner"])
        except QuotaExceededError as exc:
            raise ApiError(429, str(exc)) from None
        except KeyError as exc:
            raise ApiError(410, str(exc.args[0])) from None
        except (TypeError, ValueError) as exc:
            raise ApiError(422, str(exc)) from None
        await self._committed(stored)
        return new_id

    async def _committed(self, stored: PendingWrite) -> None:
        """Wait for the job's row on the event loop (``Store.committed``'s rules)."""
        store = self.platform.store
        waiting = asyncio.wrap_future(stored)
        started = asyncio.get_running_loop().time()
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=0.25)
            if done:
                waiting.result()
                return
            late = asyncio.get_running_loop().time() - started >= PATIENCE
            if late and not store.available and stored.withdraw():
                raise store.health.unavailable()

    @asynccontextmanager
    async def _one_at_a_time(self, user: str, key: str) -> AsyncIterator[None]:
        entry = self._keys.setdefault((user, key), [asyncio.Lock(), 0])
        entry[1] += 1  # requests holding or awaiting this key's lock
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._keys[(user, key)]
