"""Where jobs keep their files, what is left of them, and the embedded retention policy."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import qlambda
from qlambda.core.errors import ResultDeletedError
from qlambda.platform import layout
from qlambda.platform.config import PlatformConfig
from qlambda.store import Store, schema


def prints(text):
    print(text)
    return text


def silent(x):
    return x


def big_result(n):
    return b"x" * n


def test_job_folders_are_sharded_by_time_and_keep_only_what_has_content(client):
    data_dir = client.platform.data_dir
    writer = client.run(prints, text="hello")
    quiet = client.run(silent, x=1)
    large = client.run(big_result, n=2 << 20)
    assert writer.result(60) == "hello" and quiet.result(60) == 1
    assert len(large.result(60)) == 2 << 20
    shard = data_dir / "jobs" / writer.id[:5] / writer.id[5:7]
    assert (shard / f"{writer.id}.log").read_text() == "hello\n"
    assert writer.logs() == "hello\n"
    # embedded jobs run in the submitter's directory: no working directory of their own
    assert layout.job_files(data_dir, writer.id) == [shard / f"{writer.id}.log"]
    assert layout.job_files(data_dir, quiet.id) == []  # printed nothing: nothing left
    assert quiet.logs() == ""
    result_file = data_dir / "results" / large.id[:5] / large.id[5:7] / f"{large.id}.pickle"
    assert result_file.is_file()  # bytes are not JSON: a pickle
    assert not (data_dir / "jobs" / writer.id).exists()  # nothing in the flat layout


def says_attempt(ctx, pause):
    print(f"attempt {ctx.attempt}", flush=True)
    if ctx.attempt == 1:
        time.sleep(pause)
    return ctx.attempt


def _to_flat_layout(data_dir: Path, job_id: str) -> None:
    """Move a job's files where versions before the sharded layout kept them."""
    flat = layout.flat_job_dir(data_dir, job_id)
    (flat / layout.FLAT_WORK).mkdir(parents=True)
    shutil.move(layout.job_log(data_dir, job_id), flat / layout.FLAT_LOG)
    store = Store.open(data_dir)
    try:
        jobs = schema.jobs
        with store.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(log_path=str(flat / layout.FLAT_LOG))
            )
    finally:
        store.close()


@pytest.mark.slow
def test_a_data_dir_with_flat_job_folders_keeps_its_logs_and_resumes_in_them(tmp_path):
    first = qlambda.Client(data_dir=tmp_path, workers=1)
    try:
        ended = first.run(prints, text="from before")
        assert ended.result(60) == "from before"
        running = first.run(says_attempt, pause=120)
        deadline = time.monotonic() + 60
        while "attempt 1" not in running.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running.logs() == "attempt 1\n"
    finally:
        first.close()  # the running job stays stored as running
    _to_flat_layout(tmp_path, ended.id)
    _to_flat_layout(tmp_path, running.id)

    second = qlambda.Client(data_dir=tmp_path, workers=1)
    try:
        assert second.job(running.id).result(120) == 2
        assert second.job(running.id).logs() == "attempt 1\nattempt 2\n"
        assert second.job(ended.id).logs() == "from before\n"
        # it resumed in its old folder
        assert not layout.job_dir(tmp_path, running.id).exists()
        assert not layout.job_log(tmp_path, running.id).exists()
        # retention deletes folders of either layout
        from qlambda.platform.retention import RetentionPolicy, Rule, apply_policy

        policy = RetentionPolicy({"DONE": Rule(max_age=0)})
        report = apply_policy(second.platform.store, tmp_path, policy)
        assert report.statuses["DONE"].jobs == 2
        assert not layout.flat_job_dir(tmp_path, ended.id).exists()
        assert not layout.flat_job_dir(tmp_path, running.id).exists()
    finally:
        second.close()


def fails(message):
    print("about to fail")
    raise RuntimeError(message)


def test_the_embedded_platform_keeps_everything_unless_given_a_policy(tmp_path):
    assert PlatformConfig().retention is None
    retention = {"interval": "1s", "DONE": {"output_max_age": 0}, "ERROR": {"max_age": 0}}
    with qlambda.Client(data_dir=tmp_path, workers=1, retention=retention) as client:
        kept = client.run(prints, text="kept")
        failed = client.run(fails, message="boom")
        assert kept.wait(60) and failed.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            gone = [j.id for j in client.jobs()]
            # rows are marked first, their files deleted after: wait for both
            marked = kept.info().output_deleted_at is not None and failed.id not in gone
            if marked and not layout.job_files(tmp_path, kept.id):
                break
            time.sleep(0.2)
        assert kept.status() is qlambda.JobStatus.DONE  # the row stays
        with pytest.raises(ResultDeletedError, match=f"result of job {kept.id} was deleted"):
            kept.result()
        assert kept.logs() == ""
        assert not layout.job_files(tmp_path, kept.id)
        with pytest.raises(KeyError):
            client.job(failed.id)
        assert not layout.job_files(tmp_path, failed.id)
        events = client.platform.store.engine
        with events.connect() as conn:
            left = conn.execute(sa.select(schema.events.c.job_id).distinct()).scalars().all()
        assert left == [kept.id]


def keeps_its_state(ctx, seconds):
    """Fails (ends ERROR) if its checkpoint vanished while it ran."""
    print("started", flush=True)
    ctx.checkpoint({"step": 1})
    time.sleep(seconds)
    if ctx.restore() != {"step": 1}:
        raise RuntimeError("its checkpoint was deleted while it ran")
    return "intact"


def test_retention_running_beside_jobs_never_touches_what_they_use(tmp_path):
    retention = {"interval": "1s", "DONE": {"max_jobs": 0}}  # ended DONE jobs go at once
    with qlambda.Client(data_dir=tmp_path, workers=2, retention=retention) as client:
        long = client.run(keeps_its_state, seconds=4)
        for i in range(20):  # each is deleted soon after it ends
            client.run(silent, x=i)
        assert long.wait(60)
        deadline = time.monotonic() + 30
        while client.jobs() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.jobs() == []  # every DONE job went, the long one too: none ended ERROR
        assert client.platform.retention.passes >= 3  # passes ran while it did


def test_a_result_read_while_retention_deletes_it_is_reported_deleted_not_lost(tmp_path):
    from qlambda.platform.retention import RetentionPolicy, Rule, apply_policy

    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        kept, lost = client.run(big_result, n=2 << 20), client.run(big_result, n=2 << 20)
        assert len(kept.result(60)) == len(lost.result(60)) == 2 << 20
        platform = client.platform
        read_before = platform.result_row(kept.id)  # a reader got the row, then retention ran
        policy = RetentionPolicy({"DONE": Rule(output_max_age=0)})
        assert apply_policy(platform.store, tmp_path, policy).statuses["DONE"].outputs == 2
        with pytest.raises(ResultDeletedError):
            platform.load_result(read_before)
        # a result file lost some other way is a fault, not a deletion
        other = client.run(big_result, n=2 << 20)
        assert other.wait(60)
        (layout.result_dir(tmp_path, other.id) / f"{other.id}.pickle").unlink()
        with pytest.raises(FileNotFoundError):
            other.result()
