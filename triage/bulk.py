"""Many rows in one statement, and statements run straight on PostgreSQL's driver: how intake writes a batch.

On PostgreSQL new rows travel as one JSON document, which the database unpacks into rows itself
(jsonb_populate_recordset): one statement and one parameter however many rows and tables, where an executemany
would send, convert and execute each row on its own. SQLite takes each table's rows as an executemany.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any, cast

import orjson
import psycopg
import sqlalchemy as sa
from psycopg import sql


def insert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ROWS (dicts with the same keys, each a column of TABLE) into TABLE, in one statement."""
    insert_all(connection, [(table, rows)])


def insert_all(connection: sa.Connection, tables: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
    """Insert the rows of several tables (each table's rows dicts with the same keys, each a column), a table
    after those its rows refer to. On PostgreSQL in one statement, whose foreign keys are checked once it has
    inserted them all; on SQLite one executemany per table, in the order given.

    Columns the rows leave out take their defaults. On PostgreSQL a JSON null in a JSON column is stored as SQL
    NULL, which reads back as None like the JSON null SQLAlchemy would store.
    """
    tables = [(table, rows) for table, rows in tables if rows]
    if not tables:
        return
    if connection.dialect.name != "postgresql":
        for table, rows in tables:
            connection.execute(sa.insert(table), rows)
        return
    shape = tuple((table.name, tuple(rows[0])) for table, rows in tables)
    with driver_errors(connection), driver(connection).cursor() as cursor:
        cursor.execute(_insert_sql(shape), (document([rows for _, rows in tables]),))


def document(value: Any) -> str:
    """VALUE as JSON for PostgreSQL to read: ids as text, dates and aware timestamps in ISO 8601."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


@functools.lru_cache(maxsize=64)
def _insert_sql(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """One INSERT per table of SHAPE ((table, columns), ...), each reading its rows from its place in the one
    JSON parameter: all but the last in a WITH clause."""
    inserts = []
    for position, (table, columns) in enumerate(shape):
        names = sql.SQL(", ").join(sql.Identifier(column) for column in columns)
        inserts.append(
            sql.SQL(
                "INSERT INTO {table} ({names}) SELECT {names}"
                " FROM jsonb_populate_recordset(NULL::{table}, (SELECT rows -> {position} FROM batch))"
            ).format(table=sql.Identifier(table), names=names, position=sql.Literal(position))
        )
    steps: list[sql.Composable] = [sql.SQL("batch AS (SELECT %s::jsonb AS rows)")]
    steps += [
        sql.SQL("{name} AS ({insert})").format(name=sql.Identifier(f"insert_{n}"), insert=insert)
        for n, insert in enumerate(inserts[:-1])
    ]
    return sql.SQL("WITH {steps} {last}").format(steps=sql.SQL(", ").join(steps), last=inserts[-1]).as_string()


def fetch(connection: sa.Connection, statement: sa.ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a Core STATEMENT, run on PostgreSQL's driver without SQLAlchemy's result processing.

    Parameters and rows are psycopg's own types (UUIDs, dates, aware datetimes, numbers, text, JSON): for
    statements that need no other conversion.
    """
    compiled = _compiled(statement, connection.dialect)
    with driver_errors(connection), driver(connection).cursor() as cursor:
        cursor.execute(compiled.string, compiled.construct_params(params))
        return cursor.fetchall()


@functools.lru_cache(maxsize=256)
def _compiled(statement: sa.ClauseElement, dialect: sa.Dialect) -> sa.Compiled:
    # column_keys=[]: an INSERT given no values compiles as SQLAlchemy runs it, with DEFAULT VALUES.
    return statement.compile(dialect=dialect, column_keys=[])


def driver(connection: sa.Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under CONNECTION, in CONNECTION's transaction."""
    return cast(psycopg.Connection[Any], connection.connection.driver_connection)


@contextlib.contextmanager
def driver_errors(connection: sa.Connection) -> Iterator[None]:
    """psycopg's errors raised outside SQLAlchemy's own calls raised as SQLAlchemy raises them, so the service
    answers a lost database the same way (503) wherever it is noticed."""
    try:
        yield
    except sa.exc.DBAPIError:
        raise
    except psycopg.Error as error:
        raise sa.exc.DBAPIError.instance(
            None, None, error, psycopg.Error, hide_parameters=True, dialect=connection.dialect
        ) from error
