"""A throw-away PostgreSQL server on loopback, for tests and benchmarks.

Installs Debian's ``postgresql`` with apt-get when it is missing, initialises a
cluster in a fresh temporary directory owned by the ``postgres`` user, starts it
on a free loopback port and stops it by its pid.

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
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=environment
        )
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


def start(timeout: float = 60) -> Server:
    """Initialise and start a cluster; returns once it accepts connections."""
    bin_dir = ensure_installed()
    account = pwd.getpwnam(USER)
    directory = tempfile.mkdtemp(prefix="qlambda-pg-")
    os.chown(directory, account.pw_uid, account.pw_gid)
    data = os.path.join(directory, "data")
    as_postgres = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    subprocess.run(
        [f"{bin_dir}/initdb", "-D", data, "-U", USER, "-A", "trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=directory,
        **as_postgres,
    )
    port = free_port()
    log = open(os.path.join(directory, "server.log"), "wb")  # noqa: SIM115
    process = subprocess.Popen(
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
        **as_postgres,
    )
    server = Server(
        f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres", process.pid, directory, process
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        )
        if ready.returncode == 0:
            return server
        if process.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"PostgreSQL did not start; see {directory}/server.log")


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
