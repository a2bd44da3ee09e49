"""Every failure is an answer saying what was wrong and what is accepted.

Validation errors become one readable sentence; oversize bodies are refused
before they are read. A database that cannot be reached is answered 503 with
``Retry-After`` (nothing was done: the same request may succeed later). Anything
unforeseen is a fault of the server: it is caught at the edge and answered 500 with
an error id and nothing of the server's internals; the server's log shows the same id
with the traceback.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qlambda.store.faults import StoreUnavailableError, is_connection_error

log = logging.getLogger("qlambda.gateway")
UNREACHABLE = "the database cannot be reached; nothing was done: retry in a few seconds"


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for error in errors[:10]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        if error.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({error.get('ctx', {}).get('error', '')})")
            continue
        message = error.get("msg", "invalid")
        if error.get("type") == "extra_forbidden":
            message = "unknown field (not accepted here)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"detail": describe_validation(errors), "errors": json.loads(_safe_json(errors))},
            status_code=422,
        )

    @app.exception_handler(StoreUnavailableError)
    async def store_unavailable(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        return unavailable_response(exc)

    @app.exception_handler(Exception)
    async def unforeseen(request: Request, exc: Exception) -> JSONResponse:
        if is_connection_error(exc):  # a database error no store call turned into a 503
            return unavailable_response(StoreUnavailableError(UNREACHABLE))
        error_id = log_fault(exc, request.scope)
        return JSONResponse(fault_body(error_id), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint; the API is described at /docs and /openapi.json"
        elif exc.status_code == 405:
            detail = "this method is not accepted here; the API is described at /docs"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def unavailable_response(exc: StoreUnavailableError) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.detail},
        status_code=503,
        headers={"Retry-After": str(exc.retry_after)},
    )


def log_fault(exc: BaseException, scope: Scope) -> str:
    """Log an unforeseen error with its traceback under a new id, and return the id."""
    error_id = secrets.token_hex(6)
    log.error(
        "error %s on %s %s",
        error_id,
        scope.get("method", "?"),
        scope.get("path", "?"),
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_id


def fault_body(error_id: str) -> dict[str, str]:
    return {
        "detail": f"the server failed to answer this request (error id {error_id}); "
        "the operator finds what happened in the server's log under that id",
        "error_id": error_id,
    }


def _safe_json(value: Any) -> str:
    return json.dumps(value, default=str)


class Guard:
    """Outermost ASGI layer: bounds request bodies and turns crashes into answers."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.max_body_bytes
            except ValueError:
                await _answer(send, 400, "the Content-Length header is not a number")
                return
            if too_large:
                await _answer(
                    send, 413, f"the request body is larger than {self.max_body_bytes} bytes"
                )
                return
        received = 0
        answered = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not answered:
                    answered = True  # refuse now; the app sees the client leave
                    await _answer(
                        send, 413, f"the request body is larger than {self.max_body_bytes} bytes"
                    )
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except Exception as exc:
            if started or answered:
                if not answered:
                    log.exception("a response failed after it started")
                return
            if isinstance(exc, ApiError):
                await _answer(send, exc.status, exc.detail)
                return
            if is_connection_error(exc):
                if not isinstance(exc, StoreUnavailableError):
                    exc = StoreUnavailableError(UNREACHABLE)
                retry = [(b"retry-after", str(exc.retry_after).encode())]
                await _answer(send, 503, exc.detail, headers=retry)
                return
            await _answer(send, 500, body=fault_body(log_fault(exc, scope)))


async def _answer(
    send: Send,
    status: int,
    detail: str = "",
    body: dict[str, str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body_bytes = json.dumps(body or {"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body_bytes)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body_bytes})
