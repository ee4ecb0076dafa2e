"""The schema comes only from Alembic: upgrade, check and downgrade on the test database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import schemas.tables  # noqa: F401
from triage.db import alembic_config, normalise_url


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = sa.create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    engine = sa.create_engine(normalise_url(database_url))
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    command.upgrade(cfg, "head")
    engine = sa.create_engine(normalise_url(database_url))
    assert "referral" in sa.inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"])
def test_the_audit_log_refuses_changes(database_url: str, statement: str) -> None:
    engine = sa.create_engine(normalise_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_event (at, actor_kind, action, entity) "
                "VALUES (CURRENT_TIMESTAMP, 'system', 'test', 'x')"
            )
        )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT action FROM audit_event")).scalar_one() == "test"
    engine.dispose()
