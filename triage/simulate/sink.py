"""Bulk writing of simulated rows: COPY on PostgreSQL (on a thread, while the next batch is made), executemany
on SQLite; and reference numbers taken from the referral_number table, as intake takes them."""

from __future__ import annotations

import itertools
import operator
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from schemas.types import UTCDateTime
from triage.simulate.rows import Batch

# Parents before children, so every foreign key finds its row.
TABLE_ORDER = (
    "referral",
    "referral_concern",
    "child",
    "child_match",
    "decision",
    "information_request",
    "strategy_discussion",
    "feedback_event",
    "audit_event",
)


def reserve_numbers(engine: Engine, count: int) -> list[int]:
    """COUNT new reference numbers, committed at once: a batch that then fails leaves a gap, never a duplicate."""
    table = SQLModel.metadata.tables["referral_number"]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            stmt = sa.text(
                "INSERT INTO referral_number (id) SELECT nextval(pg_get_serial_sequence('referral_number', 'id')) "
                "FROM generate_series(1, :count) RETURNING id"
            )
            return sorted(int(row[0]) for row in conn.execute(stmt, {"count": count}))
        # SQLite: the transaction holds the write lock from BEGIN, so nobody takes the same numbers meanwhile.
        start = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1
        numbers = list(range(start, start + count))
        conn.execute(sa.insert(table), [{"id": number} for number in numbers])
        return numbers


NULL = "\\N"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _text(value: str) -> str:
    """A value in COPY's text format: backslash and the row and column separators escaped."""
    if value.isprintable() and "\\" not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _uuid(value: uuid.UUID) -> str:
    # PostgreSQL reads a UUID's 32 hex digits without hyphens; hex is much quicker to make than str().
    return value.hex


def _boolean(value: bool) -> str:
    return "t" if value else "f"


def _json_text(value: Any) -> str:
    return _text(_json(value))


def _converter(column: sa.Column[Any]) -> Callable[[Any], str]:
    """How one column's Python values are written in COPY's text format."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return _json_text
    if isinstance(kind, UTCDateTime | sa.DateTime | sa.Date):
        return operator.methodcaller("isoformat")
    if isinstance(kind, sa.Boolean):
        return _boolean
    if isinstance(kind, sa.Uuid):
        return _uuid
    if isinstance(kind, sa.Integer):
        return str
    return _text


def copy_text(name: str, rows: list[dict[str, Any]]) -> tuple[list[str], Iterator[str]]:
    """The columns of a table's rows, and the rows as lines of COPY text (every row has the same keys in order)."""
    columns = list(rows[0])
    table = SQLModel.metadata.tables[name]
    converters = [_converter(table.c[column]) for column in columns]

    def lines() -> Iterator[str]:
        for row in rows:
            yield (
                "\t".join(
                    [
                        NULL if value is None else convert(value)
                        for convert, value in zip(converters, row.values(), strict=True)
                    ]
                )
                + "\n"
            )

    return columns, lines()


def copy_batch(engine: Engine, batch: Batch) -> None:
    """Write a batch in one PostgreSQL transaction with COPY, table by table."""
    raw = engine.raw_connection()
    try:
        connection: Any = raw.driver_connection
        with connection.cursor() as cursor:
            for name in TABLE_ORDER:
                rows = batch.rows.get(name)
                if not rows:
                    continue
                columns, lines = copy_text(name, rows)
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for chunk in _chunks(lines):
                        copy.write("".join(chunk))
        connection.commit()
    except BaseException:
        raw.driver_connection.rollback()  # type: ignore[union-attr]
        raise
    finally:
        raw.close()


def _chunks(lines: Iterator[str], size: int = 2000) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(lines, size)):
        yield chunk


def insert_batch(engine: Engine, batch: Batch) -> None:
    """Write a batch in one transaction with executemany (SQLite, or any other database)."""
    with engine.begin() as conn:
        for name in TABLE_ORDER:
            rows = batch.rows.get(name)
            if rows:
                conn.execute(sa.insert(SQLModel.metadata.tables[name]), rows)


class Writer:
    """Writes batches in order; on PostgreSQL on a thread of its own, one batch behind the one being made."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.threaded = engine.dialect.name == "postgresql"
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="simulate-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    copy_batch(self.engine, batch)
                except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, which raises it
                    self._failure = error

    def write(self, batch: Batch) -> None:
        """Write BATCH (or queue it); raises the error of an earlier batch that failed."""
        self._raise()
        if self.threaded:
            self._queue.put(batch)
        else:
            insert_batch(self.engine, batch)

    def close(self) -> None:
        """Wait for every queued batch to be written."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._failure is not None:
            raise RuntimeError("writing simulated referrals failed") from self._failure


def analyse(engine: Engine, tables: Iterable[str] = TABLE_ORDER, *, vacuum: bool = False) -> None:
    """Bring PostgreSQL's statistics up to date after a bulk load (and its visibility maps, with VACUUM).

    ANALYZE samples, so it is quick at any size; autovacuum sets the visibility maps later, or VACUUM now."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in tables:
            conn.execute(sa.text(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {name}"))
