"""A script written as in the README, with no ``if __name__ == "__main__":`` guard."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# The README's first example, as a user saves it: top-level code, no guard.
SCRIPT = textwrap.dedent(
    """
    import qlambda

    with open(__file__ + ".runs", "a") as runs:  # counts how often this file runs
        runs.write("ran\\n")

    @qlambda.function(name="energy", cpus=1, timeout="10m", memory="2GB")
    def energy(ctx, nodes: int, reps: int = 1):
        ctx.status("computing")
        return {"energy": -5.2 * nodes / 8}

    client = qlambda.Client()                     # the embedded platform: no server, no config
    job = client.run(energy, priority=2, nodes=8) # returns once the job is stored
    print("status", job.status().value in ("QUEUED", "RUNNING", "DONE"))
    print("result", job.result(timeout=120))
    print("logs", repr(job.logs()))
    client.close()
    """
)


def test_an_unguarded_script_gets_its_result_and_runs_once(tmp_path):
    script = tmp_path / "energy.py"
    script.write_text(SCRIPT)
    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "QLAMBDA_DATA_DIR": str(tmp_path / "data")},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "result {'energy': -5.2}" in finished.stdout
    # workers never import the user's script: its top-level code ran in its own process only
    assert (tmp_path / "energy.py.runs").read_text() == "ran\n"
    assert "Traceback" not in finished.stderr, finished.stderr[-3000:]


CLASS_SCRIPT = textwrap.dedent(
    """
    from dataclasses import dataclass

    import qlambda

    @dataclass
    class Point:
        x: float
        y: float

    def mirror(point: Point) -> Point:
        return Point(point.y, point.x)

    client = qlambda.Client(workers=1)
    value = client.run(mirror, point=Point(1.0, 2.0)).result(timeout=120)
    print("same class", type(value) is Point, value == Point(2.0, 1.0))
    client.close()
    """
)


def test_classes_of_the_script_travel_by_value_and_come_back_as_themselves(tmp_path):
    script = tmp_path / "points.py"
    script.write_text(CLASS_SCRIPT)
    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "QLAMBDA_DATA_DIR": str(tmp_path / "data")},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "same class True True" in finished.stdout
