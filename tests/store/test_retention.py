"""The retention policy deletes exactly what it says, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from qlambda.core.errors import ConfigurationError
from qlambda.platform import layout
from qlambda.platform.retention import (
    SERVER_DEFAULT,
    RetentionPolicy,
    Rule,
    apply_policy,
    server_policy,
)
from qlambda.store import Store, schema
from qlambda.store.migrate import upgrade

NOW = 1_800_000_000.0  # RETENTION_NOW of conftest.py: stored_job ages from it
HOUR, DAY = 3600.0, 86400.0


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.put_function(
        {"id": "f1", "name": "f", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1.0}
    ).result()
    yield store
    store.close()


def table_ids(store, table):
    column = table.c.id if table is schema.jobs else table.c.job_id
    with store.engine.connect() as conn:
        return sorted({row[0] for row in conn.execute(sa.select(column))})


def has_files(data_dir, job_id):
    return bool(layout.job_files(data_dir, job_id))


def test_jobs_go_whole_by_age_per_status_and_nothing_else(store, tmp_path, stored_job):
    jobs = {
        "done_new": stored_job(store, tmp_path, "DONE", 1 * HOUR),
        "done_old": stored_job(store, tmp_path, "DONE", 10 * DAY, big=True),
        "done_old_flat": stored_job(store, tmp_path, "DONE", 9 * DAY, flat=True),
        "error_mid": stored_job(store, tmp_path, "ERROR", 10 * DAY),
        "error_old": stored_job(store, tmp_path, "ERROR", 40 * DAY),
        "canceled_new": stored_job(store, tmp_path, "CANCELED", 2 * HOUR),
        "canceled_old": stored_job(store, tmp_path, "CANCELED", 2 * DAY),
        "dropped_old": stored_job(store, tmp_path, "DROPPED", 400 * DAY),  # no rule: kept
        "queued_ancient": stored_job(store, tmp_path, "QUEUED", 400 * DAY),
        "running_ancient": stored_job(store, tmp_path, "RUNNING", 400 * DAY),
    }
    store.writer.flush()
    policy = RetentionPolicy(
        {
            "DONE": Rule(max_age=7 * DAY),
            "ERROR": Rule(max_age=30 * DAY),
            "CANCELED": Rule(max_age=1 * DAY),
        },
        batch_size=2,
    )
    report = apply_policy(store, tmp_path, policy, now=NOW)

    gone = {"done_old", "done_old_flat", "error_old", "canceled_old"}
    kept = sorted(jobs[name] for name in jobs if name not in gone)
    assert table_ids(store, schema.jobs) == kept
    for table in (schema.events, schema.quantum_tasks, schema.checkpoints):
        assert table_ids(store, table) == kept, table.name
    for name, job_id in jobs.items():
        assert has_files(tmp_path, job_id) == (name not in gone), name
    assert not list((tmp_path / "results").rglob(f"{jobs['done_old']}.*"))
    assert report.statuses["DONE"].jobs == 2
    assert report.statuses["ERROR"].jobs == 1
    assert report.statuses["CANCELED"].jobs == 1
    assert report.total.events == 12 and report.total.quantum_tasks == 4  # 3 events each
    assert report.statuses["DONE"].file_bytes == 2 * (len("data") + len("printed\n")) + 2000
    # once more: nothing left to delete
    again = apply_policy(store, tmp_path, policy, now=NOW)
    assert again.total.jobs == 0 and table_ids(store, schema.jobs) == kept


def test_max_jobs_keeps_the_newest_of_that_status_only(store, tmp_path, stored_job):
    done = [stored_job(store, tmp_path, "DONE", age * HOUR) for age in range(1, 11)]
    errors = [stored_job(store, tmp_path, "ERROR", age * HOUR) for age in range(1, 6)]
    store.writer.flush()
    policy = RetentionPolicy({"DONE": Rule(max_jobs=3), "ERROR": Rule(max_jobs=0)}, batch_size=3)
    report = apply_policy(store, tmp_path, policy, now=NOW)
    assert table_ids(store, schema.jobs) == sorted(done[:3])  # the three that ended last
    assert report.statuses["DONE"].jobs == 7 and report.statuses["ERROR"].jobs == 5
    assert not any(has_files(tmp_path, job_id) for job_id in done[3:] + errors)


def test_output_max_age_keeps_the_row_and_events_and_drops_results_and_logs(
    store, tmp_path, stored_job
):
    fresh = stored_job(store, tmp_path, "DONE", 1 * HOUR)
    inline = stored_job(store, tmp_path, "DONE", 2 * DAY)
    big = stored_job(store, tmp_path, "DONE", 3 * DAY, big=True)
    stored_job(store, tmp_path, "DONE", 8 * DAY)  # past max_age: deleted whole
    store.writer.flush()
    policy = RetentionPolicy({"DONE": Rule(max_age=7 * DAY, output_max_age=1 * DAY)})
    report = apply_policy(store, tmp_path, policy, now=NOW)

    assert table_ids(store, schema.jobs) == sorted([fresh, inline, big])
    assert table_ids(store, schema.events) == sorted([fresh, inline, big])
    assert table_ids(store, schema.quantum_tasks) == sorted([fresh, inline, big])
    assert table_ids(store, schema.checkpoints) == [fresh]
    for job_id in (inline, big):
        row = store.get_job(job_id)
        assert row["status"] == "DONE" and row["output_deleted_at"] == NOW
        assert row["result"] is None and row["result_path"] is None and row["arguments"] == b""
        assert not has_files(tmp_path, job_id)
    assert store.get_job(fresh)["result"] == b"r" * 10 and has_files(tmp_path, fresh)
    assert store.get_job(fresh)["output_deleted_at"] is None
    assert not list((tmp_path / "results").rglob(f"{big}.*"))
    assert report.statuses["DONE"].jobs == 1 and report.statuses["DONE"].outputs == 2
    # a later pass does not count them again
    assert apply_policy(store, tmp_path, policy, now=NOW + 60).total.outputs == 0


def test_a_dry_run_deletes_nothing_and_reports_what_the_real_run_deletes(
    store, tmp_path, stored_job
):
    for age in (1 * HOUR, 2 * DAY, 3 * DAY, 9 * DAY, 10 * DAY):
        stored_job(store, tmp_path, "DONE", age, big=age > 5 * DAY)
    stored_job(store, tmp_path, "DROPPED", 2 * DAY)
    store.writer.flush()
    policy = RetentionPolicy(
        {"DONE": Rule(max_age=7 * DAY, output_max_age=1 * DAY), "DROPPED": Rule(max_age=DAY)},
        batch_size=2,
    )
    before = {t.name: table_ids(store, t) for t in (schema.jobs, schema.events)}
    files_before = sorted(p for p in tmp_path.rglob("*"))
    dry = apply_policy(store, tmp_path, policy, now=NOW, dry_run=True)
    assert {t.name: table_ids(store, t) for t in (schema.jobs, schema.events)} == before
    assert sorted(p for p in tmp_path.rglob("*")) == files_before
    real = apply_policy(store, tmp_path, policy, now=NOW)
    assert dry.dry_run and not real.dry_run
    assert {s: vars(r) for s, r in dry.statuses.items()} == {
        s: vars(r) for s, r in real.statuses.items()
    }
    assert (dry.total.jobs, dry.total.outputs) == (3, 2)


def test_jobs_still_finishing_in_the_platform_are_left_for_the_next_pass(
    store, tmp_path, stored_job
):
    finishing = stored_job(store, tmp_path, "DONE", 2 * DAY)
    other = stored_job(store, tmp_path, "DONE", 2 * DAY)
    store.writer.flush()
    policy = RetentionPolicy({"DONE": Rule(max_age=DAY)})
    report = apply_policy(store, tmp_path, policy, now=NOW, live=lambda: {finishing})
    assert table_ids(store, schema.jobs) == [finishing] and has_files(tmp_path, finishing)
    assert report.skipped_live == 1 and not has_files(tmp_path, other)
    apply_policy(store, tmp_path, policy, now=NOW)
    assert table_ids(store, schema.jobs) == []


def test_empty_shard_folders_go_but_never_one_an_unfinished_job_may_use(
    store, tmp_path, stored_job
):
    old = stored_job(store, tmp_path, "DONE", 10 * DAY)
    queued = stored_job(store, tmp_path, "QUEUED", 5 * DAY)
    shutil.rmtree(layout.job_dir(tmp_path, queued))  # not started yet: its shard is empty
    layout.job_log(tmp_path, queued).unlink()
    store.writer.flush()
    report = apply_policy(store, tmp_path, RetentionPolicy({"DONE": Rule(max_age=DAY)}), now=NOW)
    assert not layout.job_dir(tmp_path, old).parent.exists()  # older than the queued job
    assert layout.job_dir(tmp_path, queued).parent.exists()
    assert report.folders_removed == 2  # the old job's two levels


# ------------------------------------------------------------------ the policy


def test_a_retention_table_is_read_with_units_and_merged_per_status_onto_a_base():
    policy = server_policy(
        {"interval": "30s", "done": {"max_age": "2d", "output_max_age": "12h"}, "DROPPED": {}}
    )
    assert policy.interval == 30
    assert policy.rule("DONE") == Rule(max_age=2 * DAY, output_max_age=12 * HOUR)
    assert policy.rule("DROPPED").keeps_everything  # an empty table: keep them
    assert policy.rule("ERROR") == SERVER_DEFAULT.rule("ERROR")
    assert server_policy({"enabled": False}).keeps_everything
    assert server_policy(None) is SERVER_DEFAULT
    assert RetentionPolicy.from_mapping({"DONE": {"max_jobs": 5}}).interval == 600


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"keep": 1}, r"unknown \[retention\] setting\(s\) \['keep'\]; accepted: enabled, inter"),
        ({"DONE": {"age": "1d"}}, r"accepted: max_age, max_jobs, output_max_age"),
        ({"RUNNING": {"max_age": "1d"}}, "queued and running jobs are never deleted"),
        ({"DONE": {"max_age": "1h", "output_max_age": "1d"}}, "must be shorter than max_age"),
        ({"DONE": {"max_age": "soon"}}, r"cannot read max_age 'soon'.*'7d'"),
        ({"DONE": {"max_age": -1}}, "max_age must be at least 0"),
        ({"DONE": {"max_jobs": -1}}, "max_jobs must be an integer, 0 or more"),
        ({"DONE": {"max_jobs": "ten"}}, "max_jobs must be an integer"),
        ({"interval": "0.5s"}, "interval must be at least 1 s"),
        ({"batch_size": 0}, "batch_size must be 1 to 10000"),
        ({"enabled": False, "DONE": {"max_age": "1d"}}, "enabled = false keeps every job"),
    ],
)
def test_bad_retention_settings_say_what_is_accepted(table, message):
    with pytest.raises(ConfigurationError, match=message):
        RetentionPolicy.from_mapping(table)


def test_the_migration_gives_ended_jobs_without_an_end_time_one(database_url):
    engine = sa.create_engine(database_url)
    upgrade(engine, "0005")  # the revision before retention
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO functions (id, name, kind, payload, cpus, created_at) "
                "VALUES ('f1', 'f', 'pickle', :payload, 1, 1.0)"
            ),
            {"payload": b"x"},
        )
        for job_id, status, started in (
            ("a", "DONE", 5.0),
            ("b", "DROPPED", None),
            ("c", "QUEUED", None),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO jobs (id, function_id, function_name, owner, priority, status,"
                    " arguments, attempts, created_at, started_at)"
                    " VALUES (:id, 'f1', 'f', 'alice', 1.0, :status, :args, 0, 2.0, :started)"
                ),
                {"id": job_id, "status": status, "args": b"x", "started": started},
            )
    engine.dispose()
    store = Store(database_url)
    try:
        ended = {j: store.get_job(j)["ended_at"] for j in "abc"}
        assert ended == {"a": 5.0, "b": 2.0, "c": None}  # unfinished jobs have no end yet
        assert store.get_job("a")["output_deleted_at"] is None
    finally:
        store.close()
