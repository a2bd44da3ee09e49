"""Load generator and server harness shared by the gateway benchmarks.

The load runs in its own process (asyncio + httpx, keep-alive connections) so
that measuring does not share an interpreter with the server.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from qlambda.store import Store


class Server:
    """`qlambda serve` in a subprocess on a free loopback port, stopped by pid; its store
    is a SQLite file in its data directory, or the database at ``database_url``. The
    user ``bench`` is made, and ``users`` (name: that user's own limits) beside it."""

    def __init__(
        self,
        *options: str,
        config: str | None = None,
        database_url: str | None = None,
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.directory = tempfile.mkdtemp(prefix="qlambda-bench-")
        store = Store(database_url) if database_url else Store.open(self.directory)
        self.tokens = {"bench": store.create_user("bench")}
        for name, limits in (users or {}).items():
            self.tokens[name] = store.create_user(name, **limits)
        store.close()
        self.token = self.tokens["bench"]
        self.process, self.url = start_serve(self.directory, options, config, database_url)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far, its job workers
        (child processes) not included."""
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def headers(self, user: str = "bench") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def stop(self) -> None:
        stop_serve(self.process, self.directory)


def start_serve(
    directory: str,
    options: Sequence[str],
    config: str | None = None,
    database_url: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`qlambda serve` on a free loopback port over ``directory``: its process and URL
    once it is ready. Its store is the database at ``database_url``, or a SQLite file in
    ``directory``; ``config`` is the text of its server file."""
    ready = Path(directory) / "ready"
    command = [
        sys.executable,
        "-m",
        "qlambda.cli",
        "serve",
        "--port",
        "0",
        "--data-dir",
        directory,
        "--ready-file",
        str(ready),
        *options,
    ]
    if config is not None:
        path = Path(directory) / "server.toml"
        path.write_text(config)
        command += ["--config", str(path)]
    environment = {k: v for k, v in os.environ.items() if k != "QLAMBDA_DATABASE_URL"}
    if database_url:
        environment["QLAMBDA_DATABASE_URL"] = database_url
    process = subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (ready.exists() and ready.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{ready.read_text().strip()}"


def stop_serve(process: subprocess.Popen[bytes], directory: str) -> None:
    """Stop a server started by :func:`start_serve` (if still running), remove its folder."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(directory, ignore_errors=True)


async def _drive(
    url: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any,
    concurrency: int,
    duration: float | None,
    count: int | None,
    keys: bool = False,
) -> dict[str, Any]:
    """``concurrency`` keep-alive HTTP/1.1 connections, each sending a request as soon
    as the previous answer is in (a closed loop: the server sets the pace)."""
    address = urlsplit(url)
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {address.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    head = "\r\n".join(lines).encode()
    request = head + b"\r\n\r\n" + payload
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answers: list[Any] = []
    errors = 0
    sent = 0
    start = time.perf_counter()
    stop_at = None if duration is None else start + duration

    async def one_user() -> None:
        nonlocal sent, errors
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        try:
            while True:
                if stop_at is not None and time.perf_counter() >= stop_at:
                    return
                if count is not None:
                    if sent >= count:
                        return
                    sent += 1
                began = time.perf_counter()
                if keys:  # a fresh Idempotency-Key per request, as the Python client sends
                    key = uuid.uuid4().hex.encode()
                    writer.write(head + b"\r\nIdempotency-Key: " + key + b"\r\n\r\n" + payload)
                else:
                    writer.write(request)
                try:
                    status, answer = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(address.hostname, address.port)
                    continue
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
                if method == "POST" and status < 300:
                    answers.append(json.loads(answer))
        finally:
            writer.close()

    await asyncio.gather(*(one_user() for _ in range(concurrency)))
    return {
        "elapsed": time.perf_counter() - start,
        "latencies": latencies,
        "statuses": statuses,
        "answers": answers,
        "errors": errors,
    }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


def _child(queue: multiprocessing.Queue, arguments: tuple) -> None:
    queue.put(asyncio.run(_drive(*arguments)))


def load(
    url: str,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any = None,
    *,
    concurrency: int = 8,
    duration: float | None = None,
    count: int | None = None,
    keys: bool = False,
) -> dict[str, Any]:
    """Run the load in a separate process; returns its measurements. ``keys``: each
    request with an ``Idempotency-Key`` of its own."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_child,
        args=(queue, (url, headers, method, path, body, concurrency, duration, count, keys)),
    )
    process.start()
    result = queue.get()
    process.join()
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(result: dict[str, Any]) -> dict[str, float]:
    latencies = result["latencies"]
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / result["elapsed"],
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies) if latencies else float("nan"),
        "errors": result["errors"],
    }
