"""The store on SQLite and on a real PostgreSQL server: same behaviour on both."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from qlambda.core.events import Event, EventKind
from qlambda.store import Store, schema
from qlambda.store.migrate import current_revision, head_revision, upgrade


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.close()


def _function(store: Store, function_id: str = "f1") -> None:
    store.put_function(
        {
            "id": function_id,
            "name": "square",
            "kind": "pickle",
            "payload": b"\x00code",
            "cpus": 1,
            "created_at": 1.0,
        }
    ).result()


def _job(job_id: str, owner: str = "alice", created_at: float = 1.0, **extra) -> dict:
    return {
        "id": job_id,
        "function_id": "f1",
        "function_name": "square",
        "owner": owner,
        "priority": 1.0,
        "status": "QUEUED",
        "arguments": b"args",
        "attempts": 0,
        "created_at": created_at,
        **extra,
    }


def test_migrations_produce_exactly_the_declared_schema(store):
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert differences == []


def test_a_database_from_before_migrations_is_stamped_and_upgraded_keeping_its_rows(
    database_url,
):
    engine = sa.create_engine(database_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
        connection.execute(
            sa.text(
                "INSERT INTO functions (id, name, kind, payload, cpus, created_at) "
                "VALUES ('f1', 'square', 'pickle', :payload, 1, 1.0)"
            ),
            {"payload": b"code"},
        )
    engine.dispose()
    store = Store(database_url)
    try:
        assert store.get_function("f1")["name"] == "square"
        assert current_revision(store.engine) == head_revision()
        assert store.create_user("carol").startswith("qlk_")
    finally:
        store.close()


def test_tokens_are_stored_only_as_hashes_and_resolve_to_their_user(store):
    alice = store.create_user("alice")
    admin = store.create_user("root-1", role="admin")
    assert store.user_for_token(alice)["name"] == "alice"
    assert store.user_for_token(admin)["role"] == "admin"
    assert store.user_for_token(alice + "x") is None
    with store.engine.connect() as connection:
        stored = [tuple(row) for row in connection.execute(sa.select(schema.tokens))]
    assert len(stored) == 2
    assert all(alice not in map(str, row) and admin not in map(str, row) for row in stored)
    second = store.create_token("alice")
    assert second != alice and store.user_for_token(second)["name"] == "alice"


def test_bad_users_are_refused_with_what_is_accepted(store):
    store.create_user("alice")
    with pytest.raises(ValueError, match="already exists"):
        store.create_user("alice")
    with pytest.raises(ValueError, match="role must be one of user, admin"):
        store.create_user("bob", role="root")
    with pytest.raises(ValueError, match="letters, digits"):
        store.create_user("bob smith")


def test_concurrent_writers_share_commits_and_every_write_is_durable(store, database_url):
    _function(store)
    futures = []
    lock = threading.Lock()

    def submit(thread: int) -> None:
        for index in range(50):
            job_id = f"j{thread:02d}{index:03d}"
            event = Event(job_id, 1.0, EventKind.SUBMITTED, {"n": index})
            stored = store.insert_job(_job(job_id), event)
            more = store.add_events([Event(job_id, 2.0, EventKind.ADMITTED)])
            with lock:
                futures.extend([stored, more])

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for future in futures:
        future.result(30)
    store.close()
    reopened = Store(database_url)
    try:
        assert len(reopened.list_jobs(limit=None)) == 200
        assert len(reopened.events()) == 400
        assert reopened.events("j03049")[0].data == {"n": 49}
    finally:
        reopened.close()


def test_one_failing_write_does_not_take_its_batch_down(store):
    _function(store)
    good = store.insert_job(_job("ok"), Event("ok", 1.0, EventKind.SUBMITTED))
    bad = store.insert_job(_job("ok"), Event("ok", 1.0, EventKind.SUBMITTED))  # same id
    after = store.insert_job(_job("later"), Event("later", 1.0, EventKind.SUBMITTED))
    good.result(30)
    after.result(30)
    with pytest.raises(sa.exc.IntegrityError):
        bad.result(30)
    assert {row["id"] for row in store.list_jobs()} == {"ok", "later"}


def test_jobs_are_listed_by_owner_function_and_status_with_pagination(store):
    _function(store)
    for index in range(7):
        owner = "alice" if index % 2 == 0 else "bob"
        status = "DONE" if index < 3 else "QUEUED"
        store.insert_job(
            _job(f"j{index}", owner=owner, created_at=float(index), status=status),
            Event(f"j{index}", float(index), EventKind.SUBMITTED),
        ).result()
    alice = [row["id"] for row in store.list_jobs(owner="alice")]
    assert alice == ["j6", "j4", "j2", "j0"]
    assert [r["id"] for r in store.list_jobs(owner="alice", limit=2, offset=1)] == ["j4", "j2"]
    assert [r["id"] for r in store.list_jobs(statuses=["DONE"], owner="bob")] == ["j1"]
    assert store.list_jobs(function="nothing") == []
    assert len(store.list_jobs(function="square", limit=None)) == 7
    assert "arguments" not in store.list_jobs()[0]


def test_results_checkpoints_and_registrations_round_trip(store):
    _function(store)
    store.insert_job(_job("j"), Event("j", 1.0, EventKind.SUBMITTED)).result()
    store.update_job("j", {"status": "DONE", "result": b"\x01" * 1000, "ended_at": 2.0}).result()
    assert store.get_job("j")["result"] == b"\x01" * 1000
    store.save_checkpoint("j", 3.0, b"first").result()
    store.save_checkpoint("j", 4.0, b"second").result()
    assert store.load_checkpoint("j") == b"second"
    store.create_user("alice")
    store.register(
        {
            "owner": "alice",
            "name": "sq",
            "function_id": "f1",
            "created_at": 1.0,
            "parameters": [{"name": "x", "required": True, "kind": "KEYWORD"}],
        }
    ).result()
    _function(store, "f2")
    store.register(
        {"owner": "alice", "name": "sq", "function_id": "f2", "created_at": 2.0}
    ).result()
    assert store.registration("alice", "sq")["function_id"] == "f2"
    assert store.registration("bob", "sq") is None
    assert [r["name"] for r in store.registrations("alice")] == ["sq"]


def test_a_batch_groups_its_writes_and_keeps_their_order(store):
    _function(store)
    writes = []
    for index in range(20):  # queued together: one commit, grouped statements
        job_id = f"g{index:02d}"
        writes.append(store.insert_job(_job(job_id), Event(job_id, 1.0, EventKind.SUBMITTED)))
        writes.append(
            store.update_job(
                job_id,
                {"status": "RUNNING", "started_at": 2.0, "attempts": 1},
                Event(job_id, 2.0, EventKind.STARTED),
            )
        )
        if index % 2:
            writes.append(store.save_checkpoint(job_id, 2.5, b"state"))  # any SQL, in order
        writes.append(
            store.update_job(
                job_id, {"status": "DONE", "ended_at": 3.0}, Event(job_id, 3.0, EventKind.DONE)
            )
        )
    for write in writes:
        write.result(30)
    rows = {row["id"]: row for row in store.list_jobs(limit=None)}
    assert {row["status"] for row in rows.values()} == {"DONE"}  # the later update wins
    assert {(row["started_at"], row["ended_at"], row["attempts"]) for row in rows.values()} == {
        (2.0, 3.0, 1)
    }
    assert store.load_checkpoint("g01") == b"state" and store.load_checkpoint("g00") is None
    kinds = [event.kind for event in store.events("g07")]
    assert kinds == [EventKind.SUBMITTED, EventKind.STARTED, EventKind.CHECKPOINT, EventKind.DONE]
