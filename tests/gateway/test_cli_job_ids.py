"""The CLI against a server, naming jobs as users do: printed by run, by a unique prefix."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

QLAMBDA = [sys.executable, "-m", "qlambda.cli"]


def qlambda(server, user: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QLAMBDA_URL": server.url, "QLAMBDA_TOKEN": server.tokens[user]}
    return subprocess.run([*QLAMBDA, *args], capture_output=True, text=True, timeout=300, env=env)


def test_run_prints_the_id_and_logs_and_cancel_take_a_prefix(server, tmp_path):
    script = tmp_path / "work.py"
    script.write_text(
        "import time\n\ndef main(x):\n    print('got', x)\n    return x + 1\n\n"
        "def slow():\n    time.sleep(60)\n"
    )
    ran = qlambda(server, "alice", "run", str(script), "--arg", "x=41")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "42\n"  # the result alone on stdout
    job_id = ran.stderr.split()[1]
    assert ran.stderr.startswith(f"job {job_id} submitted") and len(job_id) == 17

    started = qlambda(server, "alice", "run", f"{script}:slow", "--no-wait")
    slow_id = started.stdout.strip()
    others = [job_id]
    prefix = next(
        slow_id[:n] for n in range(1, 18) if not any(o.startswith(slow_id[:n]) for o in others)
    )
    logs = qlambda(server, "alice", "logs", job_id[:-2])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "got 41\n"
    canceled = qlambda(server, "alice", "cancel", prefix)
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.stdout == f"{slow_id} canceled\n"

    common = shared_start([job_id, slow_id])
    ambiguous = qlambda(server, "alice", "cancel", common)
    assert ambiguous.returncode == 1
    assert job_id in ambiguous.stderr and slow_id in ambiguous.stderr
    assert "give more of the id" in ambiguous.stderr
    # another user's jobs are not candidates
    strangers = qlambda(server, "bob", "logs", job_id[:-2])
    assert strangers.returncode == 1 and "no job id starts with" in strangers.stderr


def shared_start(ids: list[str]) -> str:
    """The longest string every id starts with."""
    same = itertools.takewhile(lambda chars: len(set(chars)) == 1, zip(*ids, strict=True))
    return "".join(chars[0] for chars in same)
