"""Jobs behave like the user's script: their directory, their tracebacks, no leftovers."""

from __future__ import annotations

import os
import sys

import pytest

from qlambda import JobFailedError

COUNTER = {"calls": 0}


def count_calls():
    COUNTER["calls"] += 1  # a module global: each job must see it fresh
    return COUNTER["calls"]


def test_module_globals_do_not_leak_from_one_job_to_the_next(client):
    values = [client.run(count_calls).result(60) for _ in range(6)]
    assert values == [1] * 6


def add_to_path(entry):
    sys.path.insert(0, entry)
    os.environ["QLAMBDA_TEST_LEAK"] = entry
    return len(sys.path)


def read_path(entry):
    return entry in sys.path, os.environ.get("QLAMBDA_TEST_LEAK")


def test_sys_path_and_environment_do_not_leak_either(client):
    for _ in range(4):  # enough to land on every warm worker at least once
        client.run(add_to_path, entry="/nonexistent/leak").result(60)
    for _ in range(4):
        assert client.run(read_path, entry="/nonexistent/leak").result(60) == (False, None)


def read_relative(name):
    with open(name) as handle:
        return handle.read()


def test_embedded_jobs_resolve_relative_paths_like_the_script(client, tmp_path, monkeypatch):
    (tmp_path / "input.txt").write_text("from the script's folder")
    monkeypatch.chdir(tmp_path)
    assert client.run(read_relative, name="input.txt").result(60) == "from the script's folder"


def test_a_job_in_its_own_directory_says_where_relative_paths_resolve(client):
    from qlambda.platform.functions import as_function

    function = as_function(read_relative)
    job_id, stored = client.platform.submit_payload(
        function.payload(),
        {"name": "missing.csv"},
        limits={"cpus": 1, "timeout_s": None, "memory_mb": None},
    )
    stored.result(30)
    job = client.job(job_id)
    with pytest.raises(JobFailedError) as caught:
        job.result(60)
    assert "FileNotFoundError" in caught.value.reason
    assert "a directory of its own" in caught.value.remote_traceback
    assert "zipped folder" in caught.value.remote_traceback


def fails_deep(depth):
    if depth == 0:
        raise ValueError("no convergence")
    return fails_deep(depth - 1)


def test_tracebacks_show_the_users_lines_and_no_platform_frames(client):
    with pytest.raises(JobFailedError) as caught:
        client.run(fails_deep, depth=2).result(60)
    text = caught.value.remote_traceback
    assert __file__ in text
    assert 'raise ValueError("no convergence")' in text
    assert "qlambda/" not in text.replace(__file__, "")
