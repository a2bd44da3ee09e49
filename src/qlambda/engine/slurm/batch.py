"""The batch system's own commands (``sbatch``, ``squeue``, ``scancel``), run and read.

Each command runs with a time limit and its output is parsed defensively: SLURM
versions and site wrappers add lines, clusters' names and whitespace, and a job that
ended may already have left ``squeue``. Commands honour ``SLURM_CONF`` like any
user's shell would.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from qlambda.core.errors import ConfigurationError

COMMAND_TIMEOUT = 30.0
# states in which the job still holds (or waits for) its allocation
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "SUSPENDED",
    }
)
STARTED_STATES = frozenset({"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"})
# what a final state means, in words a user reads in a failed task's error
ENDINGS = {
    "TIMEOUT": "its walltime ran out",
    "CANCELLED": "it was cancelled (scancel, or by an administrator)",
    "NODE_FAIL": "a node of its allocation failed",
    "PREEMPTED": "it was preempted by the scheduler",
    "FAILED": "its batch script failed",
    "COMPLETED": "its batch script ended",
    "OUT_OF_MEMORY": "it ran out of memory",
    "BOOT_FAIL": "its nodes failed to boot",
    "DEADLINE": "it reached its deadline",
    "REVOKED": "it was revoked",
}


class BatchError(RuntimeError):
    """A batch command failed; the message carries what the command said."""


@dataclass(frozen=True)
class JobState:
    """One line of ``squeue`` for a job: its state, SLURM's reason, and seconds left
    (None when the job has no limit or has not started)."""

    state: str
    reason: str
    seconds_left: float | None
    nodes: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def started(self) -> bool:
        return self.state in STARTED_STATES

    def describe(self) -> str:
        why = ENDINGS.get(self.state, "it left the queue")
        reason = f"; SLURM's reason: {self.reason}" if self.reason not in ("", "None") else ""
        return f"{self.state}: {why}{reason}"


def command_path(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(
            f"engine='slurm' needs SLURM's {name} on this machine's PATH, and there is none: "
            "run where the cluster's batch commands are (a login node), or install "
            "slurm-client"
        )
    return found


def run(arguments: Sequence[str], *, timeout: float = COMMAND_TIMEOUT) -> str:
    """A batch command's standard output; ``BatchError`` with its stderr when it fails."""
    command = [command_path(arguments[0]), *arguments[1:]]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BatchError(f"{arguments[0]} did not answer within {timeout:g} s") from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise BatchError(f"{arguments[0]} failed: {said}")
    return done.stdout


def submit(script: str, options: Sequence[str]) -> str:
    """``sbatch`` the script; returns the job id. With ``--parsable`` SLURM prints
    ``id`` or ``id;cluster``; site wrappers may print more lines around it."""
    output = run(["sbatch", "--parsable", *options, script])
    return parse_job_id(output)


def parse_job_id(output: str) -> str:
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        match = re.fullmatch(r"(\d+)(?:;\S+)?", line) or re.fullmatch(
            r"Submitted batch job (\d+)(?: on cluster \S+)?", line
        )
        if match:
            return match.group(1)
    raise BatchError(f"sbatch printed no job id: {output.strip()!r}")


def state(job_id: str) -> JobState | None:
    """The job as ``squeue`` shows it (finished jobs too, while SLURM remembers them);
    None once it has forgotten the job."""
    try:
        output = run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%i|%T|%r|%L|%N"])
    except BatchError as exc:
        if "Invalid job id" in str(exc):
            return None
        raise
    return parse_state(output, job_id)


def parse_state(output: str, job_id: str) -> JobState | None:
    for line in output.splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) != 5 or fields[0].split("_")[0] != job_id:
            continue
        state = fields[1].split()[0].rstrip("+") if fields[1] else "UNKNOWN"
        return JobState(state, fields[2], parse_duration(fields[3]), fields[4])
    return None


def cancel(job_id: str) -> None:
    run(["scancel", job_id])


def parse_duration(text: str) -> float | None:
    """Seconds from SLURM's ``[days-][hours:]minutes:seconds`` (or ``minutes``); None
    for ``UNLIMITED``, ``NOT_SET``, ``INVALID`` and the like."""
    text = text.strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        return None
    days, first, second, third = match.groups()
    if third is not None:  # hours:minutes:seconds
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:  # minutes:seconds, or days-hours:minutes
        seconds = int(first) * 3600 + int(second) * 60 if days else int(first) * 60 + int(second)
    else:  # minutes, or days-hours
        seconds = int(first) * 3600 if days else int(first) * 60
    return float(seconds + int(days or 0) * 86400)


def format_walltime(seconds: float) -> str:
    """``--time`` for sbatch: SLURM counts whole minutes, so a limit is rounded up."""
    minutes = max(1, math.ceil(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00"
