"""Counting one set of rows several ways in one statement, with as little work per row as possible.

Each row is counted once into fine groups (every key at once; on PostgreSQL a few GROUPING SETS when one key
would multiply the groups), and the figures are then summed from those few thousand groups."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# set name -> the values of its keys -> measure -> count
Grouped = dict[str, dict[tuple[Any, ...], dict[str, int]]]
Condition = Callable[[Any], Any]


@dataclass(frozen=True)
class Grouping:
    """ROWS (a select of labelled columns) counted per named set of keys, each count filtered by a measure.

    FINE lists the groupings each row is counted into; every set's keys, and the columns its measures read,
    must lie within one of them."""

    rows: sa.Select
    fine: tuple[tuple[str, ...], ...]
    sets: Mapping[str, tuple[str, ...]]
    # measure -> the condition a fine group must meet to be counted (None: every group)
    measures: Mapping[str, Condition | None]
    # the fine grouping each set is summed from, by position in FINE
    source: Mapping[str, int]


def _fine_postgresql(grouping: Grouping) -> sa.CTE:
    rows = grouping.rows.subquery("counted")
    columns = sorted({name for fine in grouping.fine for name in fine})
    keys = [rows.c[name] for name in columns]
    # GROUPING() sets a bit for each column left out of a row's grouping; it says which fine grouping a row is.
    masks = {
        sum(1 << (len(columns) - 1 - i) for i, name in enumerate(columns) if name not in fine): number
        for number, fine in enumerate(grouping.fine)
    }
    if len(grouping.fine) == 1:
        single = sa.select(sa.literal(0).label("fine_id"), *keys, sa.func.count().label("n")).group_by(*keys)
        return single.cte("fine").prefix_with("MATERIALIZED")
    fine_id = sa.case(*((sa.func.grouping(*keys) == mask, number) for mask, number in masks.items()), else_=-1)
    sets = sa.func.grouping_sets(*(sa.tuple_(*(rows.c[k] for k in fine)) for fine in grouping.fine))
    stmt = sa.select(fine_id.label("fine_id"), *keys, sa.func.count().label("n")).group_by(sets)
    return stmt.cte("fine").prefix_with("MATERIALIZED")


def _fine_union(grouping: Grouping) -> sa.CTE:
    # SQLite has no GROUPING SETS: the same fine groups, one GROUP BY each over the rows materialised once.
    rows = grouping.rows.cte("counted").prefix_with("MATERIALIZED")
    columns = sorted({name for fine in grouping.fine for name in fine})
    branches = [
        sa.select(
            sa.literal(number).label("fine_id"),
            *(rows.c[name] if name in fine else sa.null().label(name) for name in columns),
            sa.func.count().label("n"),
        ).group_by(*(rows.c[name] for name in fine))
        for number, fine in enumerate(grouping.fine)
    ]
    return sa.union_all(*branches).cte("fine").prefix_with("MATERIALIZED")


def grouped_statement(grouping: Grouping, dialect: str) -> tuple[sa.CompoundSelect, list[str]]:
    """One statement giving (set number, the set's keys padded with NULL, one sum per measure) rows."""
    fine = _fine_postgresql(grouping) if dialect == "postgresql" else _fine_union(grouping)
    names = list(grouping.sets)
    widest = max(len(keys) for keys in grouping.sets.values())
    branches = []
    for number, set_name in enumerate(names):
        keys = [fine.c[k] for k in grouping.sets[set_name]]
        padded = [*keys, *(sa.null() for _ in range(widest - len(keys)))]
        sums = [
            sa.func.coalesce(sa.func.sum(fine.c.n if condition is None else sa.case((condition(fine.c), fine.c.n))), 0)
            for condition in grouping.measures.values()
        ]
        branch = sa.select(
            sa.literal(number).label("set_number"),
            *(sa.cast(key, sa.String).label(f"k{i}") for i, key in enumerate(padded)),
            *(sa.cast(total, sa.BigInteger).label(f"m{i}") for i, total in enumerate(sums)),
        ).where(fine.c.fine_id == grouping.source[set_name])
        if keys:
            branch = branch.group_by(*keys)
        branches.append(branch)
    return sa.union_all(*branches), names


def count_grouped(conn: sa.Connection, grouping: Grouping) -> Grouped:
    """Every set's counts, keyed by the values (as text) of that set's keys, in the order the set names them."""
    stmt, names = grouped_statement(grouping, conn.dialect.name)
    measures = list(grouping.measures)
    found: Grouped = {name: {} for name in names}
    for row in conn.execute(stmt):
        set_name = names[int(row[0])]
        width = len(grouping.sets[set_name])
        values = tuple(row[1 : 1 + width])
        found[set_name][values] = {m: int(row[-len(measures) + i]) for i, m in enumerate(measures)}
    for set_name, keys in grouping.sets.items():
        if not keys and not found[set_name]:
            found[set_name][()] = dict.fromkeys(measures, 0)
    return found
