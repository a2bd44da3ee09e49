"""A throw-away single-node SLURM cluster on this machine, for tests and benchmarks.

Installs Debian's ``slurmctld slurmd slurm-client munge`` with apt-get when they are
missing (needs root), then writes everything a cluster needs into a fresh private
directory: a munge key, a ``slurm.conf`` whose node line is what ``slurmd -C`` reports
for this machine, free ports, and state, spool, log and pid files. It starts ``munged``,
``slurmctld`` and ``slurmd`` there (nothing in /etc or /run is touched, so it never meets
a system's own SLURM), waits until the node is idle, and stops exactly the daemons it
started, by pid, after cancelling the cluster's jobs.

The batch commands (``sbatch``, ``squeue``, ``scancel``, ...) reach this cluster through
the ``SLURM_CONF`` variable, which ``Cluster.environment()`` sets.

    python scripts/slurm.py              # installs if need be; prints the versions
    python scripts/slurm.py start        # prints SLURM_CONF=... and the pids, leaves it up
    python scripts/slurm.py stop DIRECTORY
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # debian.py
from debian import apt_install

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "munged")
PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd")


def _find(command: str) -> str | None:
    return shutil.which(command) or next(
        (
            f"{folder}/{command}"
            for folder in ("/usr/sbin", "/sbin")
            if os.access(f"{folder}/{command}", os.X_OK)
        ),
        None,
    )


def ensure_installed() -> dict[str, str]:
    """The paths of the SLURM and munge commands, installing Debian's packages if needed."""
    found = {command: _find(command) for command in COMMANDS}
    if None in found.values():
        if os.geteuid() != 0:
            missing = ", ".join(c for c, p in found.items() if p is None)
            raise RuntimeError(
                f"SLURM is not installed ({missing} missing) and installing it needs root: "
                f"apt-get install {' '.join(PACKAGES)}"
            )
        apt_install(PACKAGES, recommends=False)
        found = {command: _find(command) for command in COMMANDS}
        missing = [c for c, p in found.items() if p is None]
        if missing:
            raise RuntimeError(f"apt-get installed SLURM but {', '.join(missing)} not found")
    return {command: path for command, path in found.items() if path is not None}


def node_line(slurmd: str = "slurmd") -> str:
    """This machine's ``NodeName=...`` line as ``slurmd -C`` reports it (cpus, sockets,
    cores, threads, memory), with the node reached on loopback."""
    output = subprocess.run([slurmd, "-C"], capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("NodeName="):
            return f"{line.strip()} NodeAddr=127.0.0.1 State=UNKNOWN"
    raise RuntimeError(f"slurmd -C printed no NodeName line: {output!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(directory: str, node: str, name: str = "qlambda") -> str:
    """A single-node ``slurm.conf`` in ``directory``; returns its path.

    No cgroups (``proctrack/linuxproc``, ``task/none``): containers seldom delegate
    them, and a test cluster does not need to fence jobs in. Cores are the consumable
    resource, so a job of one core leaves the others to the next."""
    user = pwd.getpwuid(os.geteuid()).pw_name  # root on a test machine
    for sub in ("state", "spool"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    path = os.path.join(directory, "slurm.conf")
    lines = [
        f"ClusterName={name}",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        f"SlurmUser={user}",
        f"SlurmdUser={user}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={directory}/munge.socket",
        f"StateSaveLocation={directory}/state",
        f"SlurmdSpoolDir={directory}/spool",
        f"SlurmctldPidFile={directory}/slurmctld.pid",
        f"SlurmdPidFile={directory}/slurmd.pid",
        f"SlurmctldLogFile={directory}/slurmctld.log",
        f"SlurmdLogFile={directory}/slurmd.log",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "ReturnToService=2",
        # a job past its walltime is signalled, then killed this many seconds later
        "KillWait=5",
        "MinJobAge=300",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=sched_interval=1",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "InactiveLimit=0",
        "Waittime=0",
        node,
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


@dataclass
class Cluster:
    """A running single-node cluster; ``environment()`` points the batch commands at it."""

    directory: str
    config: str
    pids: dict[str, int] = field(default_factory=dict)
    partition: str = PARTITION

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": self.config}

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A batch command against this cluster, e.g. ``run("squeue", "-h")``."""
        return subprocess.run(
            list(command), capture_output=True, text=True, env=self.environment(), check=check
        )

    def jobs(self) -> list[str]:
        """The ids of the cluster's jobs that have not ended."""
        listing = self.run("squeue", "-h", "-o", "%i", check=False).stdout
        return [line.strip() for line in listing.splitlines() if line.strip()]

    def stop(self) -> None:
        stop(self.directory)


def start(timeout: float = 60) -> Cluster:
    """Write the configuration, start munged, slurmctld and slurmd; returns when the node
    takes jobs."""
    paths = ensure_installed()
    directory = tempfile.mkdtemp(prefix="qlambda-slurm-")
    os.chmod(directory, 0o755)  # jobs run as root here, but slurmstepd reads the spool
    config = write_config(directory, node_line(paths["slurmd"]))
    cluster = Cluster(directory, config)
    try:
        _start_munge(paths["munged"], directory)
        cluster.pids["munged"] = _read_pid(f"{directory}/munged.pid", timeout)
        env = cluster.environment()
        for daemon in ("slurmctld", "slurmd"):
            log = open(f"{directory}/{daemon}.out", "ab")  # noqa: SIM115
            # -D: in the foreground, so the pid is the daemon's own; -i: no saved state
            flags = ["-D", "-i"] if daemon == "slurmctld" else ["-D"]
            process = subprocess.Popen(
                [paths[daemon], *flags, "-f", config],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            cluster.pids[daemon] = process.pid
            _write(f"{directory}/{daemon}.started", str(process.pid))
        _wait_idle(cluster, timeout)
    except BaseException:
        stop(directory)
        raise
    return cluster


def _start_munge(munged: str, directory: str) -> None:
    key = f"{directory}/munge.key"
    with open(key, "wb") as handle:
        handle.write(os.urandom(1024))
    os.chmod(key, 0o400)
    subprocess.run(
        [
            munged,
            f"--socket={directory}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={directory}/munged.pid",
            f"--log-file={directory}/munged.log",
            f"--seed-file={directory}/munged.seed",
            "--force",  # it runs as root, in a directory it does not own the parents of
        ],
        check=True,
        capture_output=True,
    )


def _read_pid(path: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError), open(path) as handle:
            return int(handle.read().strip())
        time.sleep(0.05)
    raise RuntimeError(f"no pid in {path} after {timeout:g} s")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _wait_idle(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for daemon in ("slurmctld", "slurmd"):
            if not _alive(cluster.pids[daemon]):
                raise RuntimeError(
                    f"{daemon} exited; see {cluster.directory}/{daemon}.log and {daemon}.out"
                )
        probe = cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False)
        state = probe.stdout.strip()
        if probe.returncode == 0 and state.split("\n")[0].rstrip("*") in ("idle", "mixed"):
            return
        time.sleep(0.3)
    raise RuntimeError(
        f"the SLURM node did not become idle within {timeout:g} s (state {state!r}); "
        f"see {cluster.directory}/slurmctld.log"
    )


def stop(directory: str) -> None:
    """Cancel the cluster's jobs, stop its daemons (by the pids it wrote), remove it."""
    config = f"{directory}/slurm.conf"
    pids = {}
    for daemon in DAEMONS:
        name = "munged.pid" if daemon == "munged" else f"{daemon}.started"
        with contextlib.suppress(OSError, ValueError), open(f"{directory}/{name}") as handle:
            pids[daemon] = int(handle.read().strip())
    if "slurmctld" in pids and _alive(pids["slurmctld"]):
        environment = {**os.environ, "SLURM_CONF": config}
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            listing = subprocess.run(
                ["squeue", "-h", "-o", "%i"],
                capture_output=True,
                text=True,
                env=environment,
                timeout=10,
            ).stdout.split()
            if listing:
                subprocess.run(
                    ["scancel", "--full", *listing], env=environment, timeout=10, check=False
                )
                _wait_steps_gone(directory, 15)
    for daemon in ("slurmd", "slurmctld", "munged"):
        if daemon in pids:
            _terminate(pids[daemon])
    shutil.rmtree(directory, ignore_errors=True)


def _wait_steps_gone(directory: str, timeout: float) -> None:
    """Wait for the jobs' ``slurmstepd`` processes (their sockets in the spool) to end."""
    spool = f"{directory}/spool"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if not any(name.endswith((".0", ".batch", ".extern")) for name in os.listdir(spool)):
                return
        time.sleep(0.2)


def _terminate(pid: int, timeout: float = 15) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    try:
        if not argv:
            paths = ensure_installed()
            version = subprocess.run(
                [paths["slurmctld"], "-V"], capture_output=True, text=True
            ).stdout.strip()
            print(f"SLURM: {version} ({paths['sbatch']}); node: {node_line(paths['slurmd'])}")
            return 0
        if argv[:1] == ["start"]:
            cluster = start()
            print(f"SLURM_CONF={cluster.config}\nDIRECTORY={cluster.directory}")
            for daemon, pid in cluster.pids.items():
                print(f"{daemon.upper()}_PID={pid}")
            return 0
        if argv[:1] == ["stop"] and len(argv) == 2:
            stop(argv[1])
            return 0
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"slurm: {error}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
