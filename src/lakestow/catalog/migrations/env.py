"""Alembic environment: migrations run on the connection that `Catalog.upgrade` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from lakestow.catalog.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` run by hand from a shell
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as own:
        context.configure(connection=own, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
