"""A throw-away PostgreSQL server on loopback, for tests and benchmarks.

Installs Debian's ``postgresql`` with apt-get when it is missing, initialises a
cluster in a fresh temporary directory owned by the ``postgres`` user, starts it
on a free loopback port and stops it by its pid. ``Server.kill()`` is ``kill -9`` of
the server and its backends; ``Server.restart()`` starts it again on the same port
and data directory (it recovers from its write-ahead log), for tests of outages.

    python scripts/postgres_server.py start    # prints URL and PID, leaves it running
    python scripts/postgres_server.py stop PID DIRECTORY
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # debian.py
from debian import apt_install

USER = "postgres"


def binaries() -> str | None:
    """The newest installed server's bin directory, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major_version)
    return os.path.dirname(found[-1]) if found else None


def _major_version(path: str) -> int:
    return int(path.split("/")[4])


def ensure_installed() -> str:
    """The bin directory of a PostgreSQL server, installing Debian's package if needed."""
    found = binaries()
    if found is None:
        if os.geteuid() != 0:
            raise RuntimeError("PostgreSQL is not installed and installing it needs root")
        apt_install(["postgresql"])
        found = binaries()
        if found is None:
            raise RuntimeError("apt-get installed postgresql but no server binary was found")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    pid: int
    directory: str
    process: subprocess.Popen | None = None
    port: int = 0
    bin_dir: str = ""

    def database_url(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{database}"

    def create_database(self, database: str) -> str:
        """A new empty database on this server; returns its SQLAlchemy URL."""
        import psycopg

        address = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(address, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        return self.database_url(database)

    def stop(self) -> None:
        stop(self.pid, self.directory, self.process)

    def kill(self) -> None:
        """``kill -9`` of the server and every backend: nothing is flushed or said to
        the clients, whose connections break."""
        try:
            os.killpg(self.pid, signal.SIGKILL)  # its own session: the backends too
        except ProcessLookupError:
            return
        if self.process is not None:
            self.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.05)

    def restart(self, timeout: float = 60) -> None:
        """Start the server again on the same port and data directory (after ``kill``)."""
        self.process = _launch(self.bin_dir, self.directory, self.port)
        self.pid = self.process.pid
        _wait_ready(self, timeout)


def start(timeout: float = 60) -> Server:
    """Initialise and start a cluster; returns once it accepts connections."""
    bin_dir = ensure_installed()
    account = pwd.getpwnam(USER)
    directory = tempfile.mkdtemp(prefix="qlambda-pg-")
    os.chown(directory, account.pw_uid, account.pw_gid)
    data = os.path.join(directory, "data")
    subprocess.run(
        [f"{bin_dir}/initdb", "-D", data, "-U", USER, "-A", "trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=directory,
        **_as_postgres(),
    )
    port = free_port()
    process = _launch(bin_dir, directory, port)
    server = Server(
        f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres",
        process.pid,
        directory,
        process,
        port,
        bin_dir,
    )
    _wait_ready(server, timeout)
    return server


def _as_postgres() -> dict:
    account = pwd.getpwnam(USER)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _launch(bin_dir: str, directory: str, port: int) -> subprocess.Popen:
    data = os.path.join(directory, "data")
    log = open(os.path.join(directory, "server.log"), "ab")  # noqa: SIM115
    return subprocess.Popen(
        [
            f"{bin_dir}/postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-k",
            directory,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=on",
            "-c",
            "max_connections=200",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
        start_new_session=True,
        **_as_postgres(),
    )


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [f"{server.bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(server.port)],
            capture_output=True,
        )
        if ready.returncode == 0:
            return
        if server.process is not None and server.process.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"PostgreSQL did not start; see {server.directory}/server.log")


def stop(pid: int, directory: str | None, process: subprocess.Popen | None = None) -> None:
    """Fast shutdown of the server with this pid, then remove its directory."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    else:
        if process is not None:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                process.wait()
        else:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        server = start()
        print(f"URL={server.url}\nPID={server.pid}\nDIRECTORY={server.directory}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 3:
        stop(int(argv[1]), argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
