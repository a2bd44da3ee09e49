"""Real `qlambda serve` processes for the gateway tests, stopped by their pid."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qlambda.store import Store

READY_TIMEOUT = 120
_replica_sets = itertools.count()


class ServerProcess:
    """One `qlambda serve` on a free loopback port over ``data_dir``."""

    def __init__(self, data_dir: Path, *options: str, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.options = options
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.starts = 0

    def start(self) -> ServerProcess:
        self.starts += 1
        ready = self.data_dir / f"ready-{self.starts}"
        log = open(self.data_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qlambda.cli",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
                "--ready-file",
                str(ready),
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not (ready.exists() and ready.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(self.log())
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{ready.read_text().strip()}"
        return self

    def _environment(self) -> dict[str, str]:
        environment = {**os.environ, "QLAMBDA_DATA_DIR": str(self.data_dir)}
        environment.pop("QLAMBDA_DATABASE_URL", None)
        if self.database_url is not None:
            environment["QLAMBDA_DATABASE_URL"] = self.database_url
        return environment

    def log(self) -> str:
        path = self.data_dir / f"server-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no chance to write anything more."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def http(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def make_users(
    data_dir: Path, *names: str, admin: str | None = None, database_url: str | None = None
) -> dict[str, str]:
    store = Store(database_url) if database_url else Store.open(data_dir)
    try:
        tokens = {name: store.create_user(name) for name in names}
        if admin is not None:
            tokens[admin] = store.create_user(admin, "admin")
    finally:
        store.close()
    return tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A shared server with users alice, bob and the admin root."""
    data_dir = tmp_path_factory.mktemp("gateway")
    tokens = make_users(data_dir, "alice", "bob", admin="root")
    process = ServerProcess(data_dir, "--workers", "2").start()
    process.tokens = tokens
    yield process
    process.stop()


@pytest.fixture
def new_server(tmp_path):
    """``new_server(*options, users=("alice",))``: a server of this test's own over
    ``tmp_path``, with those users (tokens in ``.tokens``); stopped after the test."""
    started: list[ServerProcess] = []

    def start(
        *options: str, users: tuple[str, ...] = ("alice",), database_url: str | None = None
    ) -> ServerProcess:
        tokens = make_users(tmp_path, *users, database_url=database_url)
        process = ServerProcess(tmp_path, *options, database_url=database_url)
        process.tokens = tokens
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


REPLICA_CONFIG = """
[platform]
lease_seconds = {lease}
policy = "{policy}"
{backends}
"""


@pytest.fixture
def replicas(tmp_path, postgres_server):
    """``replicas(count, *options, lease=6, policy="fifo", backends="")``: that many
    ``qlambda serve --replica`` processes on one new PostgreSQL database, each over a data
    directory of its own, started one after the other; users alice, bob and the admin root
    (tokens in ``replicas.tokens``), the database's URL in ``replicas.database``. Every
    process started is stopped after the test."""
    database = postgres_server.create_database(f"replicas_{os.getpid()}_{next(_replica_sets)}")
    started: list[ServerProcess] = []

    def start(
        count: int,
        *options: str,
        lease: float = 6,
        policy: str = "fifo",
        backends: str = "",
        database_url: str | None = None,
    ) -> list[ServerProcess]:
        config = tmp_path / f"replica-{len(started)}.toml"
        config.write_text(REPLICA_CONFIG.format(lease=lease, policy=policy, backends=backends))
        group = []
        for _ in range(count):
            data_dir = tmp_path / f"replica-{len(started)}"
            data_dir.mkdir()
            process = ServerProcess(
                data_dir,
                "--replica",
                "--sandbox",
                "none",
                "--config",
                str(config),
                *options,
                database_url=database_url or database,
            )
            started.append(process)
            group.append(process.start())
        return group

    start.tokens = make_users(tmp_path, "alice", "bob", admin="root", database_url=database)
    start.database = database
    yield start
    for process in started:
        process.stop()
