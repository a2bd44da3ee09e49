"""Alembic environment: migrations run on the connection the Store hands over."""

from __future__ import annotations

from alembic import context

from qlambda.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("qlambda migrations run through qlambda.store.migrate.upgrade(engine)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
