"""Sandboxes for tenants' workers, from the kernel's own mechanisms.

Each tenant's zygote (and so every worker forked from it) starts through
bubblewrap (``bwrap``) in namespaces of its own:

* **mount**: the machine is read-only; the server's data directory, home
  directories, ``/tmp``, ``/run`` and ``/dev/shm`` are replaced by empty ones;
  the tenant's own job folders are the only writable place (plus a private
  ``/tmp``); the Python installation is bound back read-only where it was hidden;
* **PID**: the sandbox sees only its own processes, so it can signal no other
  process, nor read another's ``/proc/<pid>/environ``;
* **network** (unless allowed): only a loopback of its own;
* **IPC, UTS**: its own.

When the server runs as root the zygote then drops to an unprivileged uid of the
tenant's own (``uid_base`` + n), so the kernel's file permissions apply on top,
and sets rlimits (processes, file size, no core dumps). Where cgroups are
writable, each tenant gets a cgroup with a memory limit, a process limit and an
equal share of the cpus.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlambda.core.errors import ConfigurationError

log = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "none")
HIDDEN = ("/root", "/home", "/run", "/tmp", "/var/tmp", "/dev/shm", "/mnt", "/media", "/srv")
PASSED_VARIABLES = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "TZ")
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class SandboxSettings:
    """How tenants' jobs are isolated on ``qlambda serve`` (the ``[sandbox]`` table).

    ``mode``: "bwrap" (required), "auto" (bwrap when installed, else refuse to
    start), or "none" (jobs run as the server's user: one trusted user only).
    """

    mode: str = "auto"
    network: bool = False  # jobs may open outbound connections
    uid_base: int = 200_000  # tenants run as uid_base + n when the server is root
    memory_mb: float | None = None  # per tenant, all its workers together (cgroup)
    max_processes: int = 512  # per tenant
    max_file_mb: float = 4096  # the largest file a job may write (its log included)
    hide: tuple[str, ...] = ()  # more paths jobs must not see

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(
                f"unknown sandbox mode {self.mode!r}; accepted: {', '.join(MODES)}"
            )
        if not isinstance(self.network, bool):
            raise ConfigurationError(f"sandbox network must be true or false, not {self.network!r}")
        for name in ("uid_base", "max_processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"sandbox {name} must be a positive integer, not {value!r}"
                )
        for name in ("memory_mb", "max_file_mb"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ConfigurationError(f"sandbox {name} must be a positive number, not {value!r}")
        object.__setattr__(self, "hide", tuple(str(p) for p in self.hide))

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def check(self) -> str:
        """The bwrap executable; ``ConfigurationError`` saying what to do if it is missing."""
        found = shutil.which("bwrap")
        if found is None:
            raise ConfigurationError(
                "jobs of a shared server run in a sandbox, which needs bubblewrap: install it "
                "(Debian/Ubuntu: apt-get install bubblewrap), or start the server with "
                "--sandbox none if every user is trusted (jobs then run as the server's user)"
            )
        probe = subprocess.run(
            [found, "--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode != 0:
            raise ConfigurationError(
                f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()[:500]} "
                "(unprivileged user namespaces may be disabled; run the server as root, or "
                "start it with --sandbox none if every user is trusted)"
            )
        return found


@dataclass
class TenantSandbox:
    """Starts one tenant's zygote inside its sandbox (the engine's ``Launcher``)."""

    settings: SandboxSettings
    tenant: str
    bwrap: str
    writable: Sequence[Path]
    readable: Sequence[Path] = ()
    hidden: Sequence[Path] = ()
    tenant_uid: int | None = None
    cgroups: list[Path] = field(default_factory=list)

    namespaced = True

    @property
    def uid(self) -> int | None:
        return self.tenant_uid if os.getuid() == 0 else None

    @property
    def limits(self) -> dict[str, int]:
        return {
            "nproc": self.settings.max_processes,
            "fsize": int(self.settings.max_file_mb * 2**20),
        }

    def command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        args = [
            self.bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "qlambda-job",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        if not self.settings.network:
            args.append("--unshare-net")
        # Hidden in two rounds: first the usual places (this Python may live in one and
        # is bound back), then the server's own (nothing is bound back there but the
        # tenant's folders).
        general = [p for p in (Path(h) for h in HIDDEN) if p.exists()]
        strict = [Path(p) for p in self.settings.hide] + [Path(p) for p in self.hidden]
        strict = [p for p in strict if p.exists()]
        made: set[Path] = set()
        for path in general:
            args += ["--tmpfs", str(path)]
        for path in _runtime_paths():
            if any(_inside(path, h) for h in general) and not any(
                _inside(path, h) or _inside(h, path) for h in strict
            ):
                args += [*_mount_point(path, general, made), "--ro-bind", str(path), str(path)]
        for path in strict:
            args += ["--tmpfs", str(path)]
        for path in self.readable:
            args += _mount_point(path, general + strict, made)
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += _mount_point(path, general + strict, made)
            args += ["--bind", str(path), str(path)]
        args += ["--chdir", "/tmp", "--"]
        return args + argv, sandbox_environment(env)

    def prepare(self, process: subprocess.Popen[bytes]) -> None:
        self.cgroups = _join_cgroups(self.tenant, process.pid, self.settings)

    def release(self) -> None:
        for group in self.cgroups:
            with contextlib.suppress(OSError):
                group.rmdir()
        self.cgroups = []


def sandbox_environment(env: dict[str, str]) -> dict[str, str]:
    """What a sandboxed job sees of the environment: nothing of the server's secrets."""
    clean = {k: env[k] for k in PASSED_VARIABLES if k in env}
    clean.update(
        {
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "MPLCONFIGDIR": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        clean[key] = "1"
    return clean


def _runtime_paths() -> list[Path]:
    """Where this Python and its packages live: bound back if a hidden folder holds them."""
    import site
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(sysconfig.get_paths().values())
    paths.update(site.getsitepackages())
    paths.update(p for p in sys.path if p)
    paths.add(str(Path(sys.executable).resolve().parent))
    import qlambda

    paths.add(str(Path(qlambda.__file__).resolve().parents[1]))
    existing = sorted({Path(p).resolve() for p in paths if p and Path(p).exists()})
    kept: list[Path] = []
    for path in existing:  # the outermost of nested paths is enough
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return kept


def _mount_point(path: Path, hidden: Sequence[Path], made: set[Path]) -> list[str]:
    """Folders leading to ``path`` inside a hidden (empty) folder, made traversable:
    bubblewrap would make them, but only for root."""
    args: list[str] = []
    top = next((h for h in hidden if _inside(path, h) and h != path), None)
    if top is None:
        return args
    for folder in reversed(path.parents):
        if _inside(folder, top) and folder != top and folder not in made:
            made.add(folder)
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _join_cgroups(tenant: str, pid: int, settings: SandboxSettings) -> list[Path]:
    """Put the sandbox in cgroups of its own (cgroup v1 controllers or v2), where they
    are writable; a tenant without them still has its rlimits."""
    made: list[Path] = []
    name = f"qlambda-{os.getpid()}-{tenant}"
    limits: dict[str, dict[str, str]] = {
        "pids": {"pids.max": str(settings.max_processes)},
        "cpu": {},  # a group of its own: an equal share of the cpus among tenants
    }
    if settings.memory_mb is not None:
        limits["memory"] = {"memory.limit_in_bytes": str(int(settings.memory_mb * 2**20))}
    try:
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one hierarchy
            group = CGROUP_ROOT / name
            group.mkdir(exist_ok=True)
            made.append(group)
            (group / "pids.max").write_text(str(settings.max_processes))
            if settings.memory_mb is not None:
                (group / "memory.max").write_text(str(int(settings.memory_mb * 2**20)))
            (group / "cgroup.procs").write_text(str(pid))
            return made
        for controller, files in limits.items():
            base = CGROUP_ROOT / controller
            if not base.is_dir():
                continue
            group = base / name
            group.mkdir(exist_ok=True)
            made.append(group)
            for file, value in files.items():
                (group / file).write_text(value)
            (group / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        log.info("no cgroup for tenant %s (%s); its rlimits still apply", tenant, exc)
    return made


def sandbox_factory(
    settings: SandboxSettings,
    *,
    writable: Callable[[str], Sequence[Path]],
    readable: Callable[[str], Sequence[Path]],
    hidden: Sequence[Path],
    uid_of: Callable[[str], int],
) -> Callable[[str], Any]:
    """The engine's ``sandbox=``: a launcher per tenant, with its folders and uid."""
    bwrap = settings.check()

    def launcher(tenant: str) -> TenantSandbox:
        return TenantSandbox(
            settings,
            tenant,
            bwrap,
            writable=list(writable(tenant)),
            readable=[p for p in readable(tenant) if p.exists()],
            hidden=list(hidden),
            tenant_uid=uid_of(tenant),
        )

    return launcher
