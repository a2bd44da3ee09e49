"""`qlambda retention`: the dry run shows what would go and deletes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from qlambda.platform import layout
from qlambda.store import Store, schema

DAY = 86400.0


def qlambda(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "qlambda.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def data_dir(tmp_path, stored_job):
    """Two old DONE jobs, a fresh one, an old ERROR and an ancient queued job."""
    store = Store.open(tmp_path)
    store.put_function(
        {"id": "f1", "name": "f", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1.0}
    ).result()
    now = time.time()
    ids = {
        "old": stored_job(store, tmp_path, "DONE", 10 * DAY, now=now),
        "old_flat": stored_job(store, tmp_path, "DONE", 9 * DAY, flat=True, now=now),
        "fresh": stored_job(store, tmp_path, "DONE", 60, now=now),
        "error": stored_job(store, tmp_path, "ERROR", 10 * DAY, now=now),
        "queued": stored_job(store, tmp_path, "QUEUED", 100 * DAY, now=now),
    }
    store.close()
    return tmp_path, ids


def stored_ids(data_dir):
    store = Store.open(data_dir)
    try:
        with store.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(sa.select(schema.jobs.c.id)))
    finally:
        store.close()


def test_the_dry_run_shows_the_policy_and_what_would_go_in_80_columns(data_dir):
    data_dir, ids = data_dir
    before = stored_ids(data_dir)
    done = qlambda("retention", "apply", "--dry-run", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Retention policy, applied every 10m" in done.stdout
    assert "Would delete (dry run)" in done.stdout
    policy, report = done.stdout.split("Would delete (dry run)")

    def cells(text):
        rows = [line.strip("│ ").split("│") for line in text.splitlines() if line[:1] == "│"]
        return {row[0].strip(): [c.strip() for c in row[1:]] for row in rows}

    # the server default: DONE jobs 7 days (at most a million), ERROR jobs 30 days
    assert cells(policy)["DONE"][:2] == ["7d", "1,000,000"]
    assert cells(policy)["ERROR"][:2] == ["30d", "100,000"]
    assert "QUEUED" not in cells(policy)
    assert cells(report)["DONE"][:4] == ["2", "0", "6", "2"]  # jobs, outputs, events, q. tasks
    assert cells(report)["total"][:4] == ["2", "0", "6", "2"]
    assert stored_ids(data_dir) == before
    assert all(layout.job_files(data_dir, i) for i in ids.values())


def test_apply_deletes_what_the_dry_run_showed_and_keeps_unfinished_jobs(data_dir):
    data_dir, ids = data_dir
    dry = qlambda("retention", "apply", "--dry-run", "--json", "--data-dir", str(data_dir))
    real = qlambda("retention", "apply", "--json", "--data-dir", str(data_dir))
    assert real.returncode == 0, real.stderr
    planned, report = json.loads(dry.stdout), json.loads(real.stdout)
    assert planned["dry_run"] and not report["dry_run"]
    assert planned["statuses"] == report["statuses"]
    assert report["statuses"]["DONE"]["jobs"] == 2
    assert report["policy"]["DONE"] == {"max_age": 7 * DAY, "max_jobs": 1_000_000}
    assert stored_ids(data_dir) == sorted([ids["fresh"], ids["error"], ids["queued"]])
    assert not layout.job_files(data_dir, ids["old_flat"])  # the earlier layout too
    assert layout.job_files(data_dir, ids["queued"])


def test_rules_given_on_the_command_line_apply_alone(data_dir):
    data_dir, ids = data_dir
    done = qlambda(
        "retention",
        "apply",
        "--status",
        "error",
        "--output-max-age",
        "1d",
        "--data-dir",
        str(data_dir),
    )
    assert done.returncode == 0, done.stderr
    assert len(stored_ids(data_dir)) == 5  # DONE jobs untouched: no rule for them here
    store = Store.open(data_dir)
    try:
        assert store.get_job(ids["error"])["output_deleted_at"] is not None
        assert store.get_job(ids["old"])["output_deleted_at"] is None
    finally:
        store.close()
    assert not layout.job_files(data_dir, ids["error"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-age", "1d"], "--max-age needs --status"),
        (["--status", "DONE"], "--status needs at least one of --max-age"),
        (["--status", "DONE", "--max-age", "never"], "cannot read max_age 'never'"),
        (["--status", "QUEUED", "--max-age", "1d"], "'QUEUED' is not one of"),
    ],
)
def test_bad_options_say_what_is_accepted(data_dir, args, message):
    data_dir, _ = data_dir
    done = qlambda("retention", "apply", "--data-dir", str(data_dir), *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert len(stored_ids(data_dir)) == 5


def test_a_config_file_changes_the_policy_and_unknown_settings_are_refused(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text('[retention]\ninterval = "1h"\n[retention.DONE]\nmax_age = "1h"\n')
    shown = qlambda("retention", "show", "--config", str(config), "--json")
    assert json.loads(shown.stdout)["DONE"] == {"max_age": 3600.0}
    assert json.loads(shown.stdout)["interval"] == 3600.0
    config.write_text("[retention]\nkeep_days = 7\n")
    refused = qlambda("retention", "show", "--config", str(config))
    assert refused.returncode == 1
    assert "unknown [retention] setting(s) ['keep_days']; accepted: enabled" in refused.stderr
    serve = qlambda("serve", "--config", str(config), "--port", "0")
    assert serve.returncode == 1 and "['keep_days']" in serve.stderr
