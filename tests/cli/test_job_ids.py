"""Job ids as users handle them: listed whole at 80 columns, named by a unique prefix."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest

QLAMBDA = [sys.executable, "-m", "qlambda.cli"]

JOBS_SCRIPT = textwrap.dedent(
    """
    import qlambda

    def a_function_with_a_rather_long_and_descriptive_name(n):
        print("working on", n)
        return n * n

    def fails():
        raise ValueError("the matrix is singular " + "and this message goes on " * 6)

    if __name__ == "__main__":
        client = qlambda.Client(workers=1)
        jobs = [client.run(a_function_with_a_rather_long_and_descriptive_name, n=n)
                for n in range(3)]
        jobs.append(client.run(fails))
        for job in jobs:
            try:
                job.result(120)
            except Exception:
                pass
        client.close()
    """
)


def qlambda(*args: str, data_dir=None):
    env = {**os.environ, "COLUMNS": "80"}
    if data_dir is not None:
        env["QLAMBDA_DATA_DIR"] = str(data_dir)
    return subprocess.run([*QLAMBDA, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("jobs")
    script = directory / "make_jobs.py"
    script.write_text(JOBS_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QLAMBDA_DATA_DIR": str(directory)},
    )
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture(scope="module")
def ids(data_dir) -> list[str]:
    listed = qlambda("jobs", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    return [row["id"] for row in json.loads(listed.stdout)]


def shortest_unique_prefix(job_id: str, ids: list[str]) -> str:
    for length in range(1, len(job_id) + 1):
        prefix = job_id[:length]
        if [i for i in ids if i.startswith(prefix)] == [job_id]:
            return prefix
    raise AssertionError(f"{job_id} has no unique prefix among {ids}")


def test_jobs_lists_whole_ids_at_80_columns(data_dir, ids, assert_fits):
    listed = qlambda("jobs", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert_fits(listed.stdout)
    assert len(ids) == 4
    for job_id in ids:
        assert job_id in listed.stdout
    assert "ValueError: the matrix is singular" in " ".join(listed.stdout.split())


def test_logs_takes_a_unique_prefix(data_dir, ids):
    job_id = ids[-1]  # the oldest: n=0
    prefix = shortest_unique_prefix(job_id, ids)
    shown = qlambda("logs", prefix, data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "working on 0\n"
    as_json = json.loads(qlambda("logs", prefix, "--json", data_dir=data_dir).stdout)
    assert as_json["id"] == job_id


def test_ambiguous_and_unknown_prefixes_are_errors_naming_the_candidates(data_dir, ids):
    common = shared_start(ids)
    ambiguous = qlambda("logs", common, data_dir=data_dir)
    assert ambiguous.returncode == 1
    assert f"'{common}' is the start of 4 job ids" in ambiguous.stderr
    assert all(job_id in ambiguous.stderr for job_id in ids)
    unknown = qlambda("logs", "zzz", data_dir=data_dir)
    assert unknown.returncode == 1
    assert "no job id starts with 'zzz'" in unknown.stderr
    odd = qlambda("logs", "../secrets", data_dir=data_dir)
    assert odd.returncode == 2 and "is not a job id" in odd.stderr


def shared_start(ids: list[str]) -> str:
    """The longest string every id starts with."""
    same = itertools.takewhile(lambda chars: len(set(chars)) == 1, zip(*ids, strict=True))
    return "".join(chars[0] for chars in same)
