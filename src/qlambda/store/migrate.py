"""Schema migrations (Alembic), applied when a Store opens a database.

A database written before migrations existed (tables made by ``create_all``, no
``alembic_version``) is stamped at the first revision, which describes exactly
that schema, and then upgraded like any other.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"
PRE_MIGRATION_TABLES = {"functions", "jobs", "events", "quantum_tasks", "checkpoints"}


def alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default), in one transaction."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # concurrent openers of one fresh database wait for each other here
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7164371)"))
        tables = set(sa.inspect(connection).get_table_names())
        config = alembic_config(connection)
        if "alembic_version" not in tables and tables >= PRE_MIGRATION_TABLES:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision the migrations know."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
