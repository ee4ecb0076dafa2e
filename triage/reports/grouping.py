"""Counting one set of rows several ways in one statement, with as little work per row as possible.

Each row is hashed once, into fine groups keyed by a few columns; everything else a figure needs of a row is
counted inside its fine group (a filtered count or a sum), since a count costs a row less than another key. Every
figure is then summed from the few thousand fine groups, in the same statement."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# set name -> the values of its keys -> measure -> count
Grouped = dict[str, dict[tuple[Any, ...], dict[str, int]]]
# What a fine group adds to a measure, from the fine group's columns (its keys and its counts).
Measure = Callable[[Any], Any]


@dataclass(frozen=True)
class Grouping:
    """ROWS (a select of labelled columns) grouped by KEYS into fine groups, each with the COUNTS of its rows;
    then each named set of keys (a subset of KEYS) gets the sum of every measure over its fine groups.

    COUNTS maps a column name to an aggregate over ROWS' columns (such as a filtered count). LABELS optionally
    turns a key's value into the text the figures show, once per fine group rather than once per row."""

    rows: sa.Select
    keys: tuple[str, ...]
    counts: Mapping[str, Callable[[Any], Any]]
    sets: Mapping[str, tuple[str, ...]]
    measures: Mapping[str, Measure]
    labels: Mapping[str, Callable[[Any], Any]] | None = None


def _fine(grouping: Grouping) -> sa.CTE:
    rows = grouping.rows.subquery("counted")
    keys = [rows.c[name] for name in grouping.keys]
    counts = [aggregate(rows.c).label(name) for name, aggregate in grouping.counts.items()]
    # Materialised: every set reads the fine groups, which are counted once.
    return sa.select(*keys, *counts).group_by(*keys).cte("fine").prefix_with("MATERIALIZED")


def grouped_statement(grouping: Grouping) -> tuple[sa.CompoundSelect, list[str]]:
    """One statement giving (set number, the set's keys padded with NULL, one sum per measure) rows."""
    fine = _fine(grouping)
    labels = grouping.labels or {}
    names = list(grouping.sets)
    widest = max(len(keys) for keys in grouping.sets.values())
    branches = []
    for number, set_name in enumerate(names):
        keys = [fine.c[k] for k in grouping.sets[set_name]]
        shown = [labels[k](fine.c[k]) if k in labels else fine.c[k] for k in grouping.sets[set_name]]
        padded = [*shown, *(sa.null() for _ in range(widest - len(keys)))]
        sums = [sa.func.coalesce(sa.func.sum(measure(fine.c)), 0) for measure in grouping.measures.values()]
        branch = sa.select(
            sa.literal(number).label("set_number"),
            *(sa.cast(key, sa.String).label(f"k{i}") for i, key in enumerate(padded)),
            *(sa.cast(total, sa.BigInteger).label(f"m{i}") for i, total in enumerate(sums)),
        ).select_from(fine)
        if keys:
            branch = branch.group_by(*keys)
        branches.append(branch)
    return sa.union_all(*branches), names


def count_grouped(conn: sa.Connection, grouping: Grouping) -> Grouped:
    """Every set's counts, keyed by the values (as text) of that set's keys, in the order the set names them."""
    stmt, names = grouped_statement(grouping)
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
