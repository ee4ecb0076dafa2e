"""Matching a child to their earlier referrals (DOMAIN.md): same NHS number, or same names and date of birth."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import ConcernCategory
from schemas.tables import Child, Referral, ReferralConcern
from triage import bulk


@dataclass(frozen=True)
class ChildKey:
    """What a child is matched on, plus the age the rules need."""

    name_key: str
    date_of_birth: dt.date | None
    nhs_number: str | None
    unborn: bool
    age_years: int | None


@dataclass(frozen=True)
class EarlierReferral:
    """An earlier referral of the same child."""

    child_id: uuid.UUID
    referral_id: uuid.UUID
    received_at: dt.datetime
    neglect: bool


def name_key(first_name: str, last_name: str) -> str:
    """First and last name compared case- and space-insensitively."""
    return "".join(first_name.split()).casefold() + "|" + "".join(last_name.split()).casefold()


_Matching = sa.Select[uuid.UUID, uuid.UUID, str | None, str, dt.date | None, dt.datetime, bool]


def _shape(children: Sequence[ChildKey]) -> tuple[tuple[bool, bool], ...]:
    """Which of each child's keys can be matched on: its NHS number, its names and date of birth."""
    return tuple((bool(key.nhs_number), key.date_of_birth is not None) for key in children)


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple[tuple[bool, bool], ...]) -> _Matching | None:
    """The matching query for children of SHAPE, built once with bound parameters (None: nothing to match on)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for index, (by_nhs, by_name) in enumerate(shape):
        if by_nhs:
            conditions.append(col(Child.nhs_number) == sa.bindparam(f"nhs_{index}"))
        if by_name:
            conditions.append(
                sa.and_(
                    col(Child.name_key) == sa.bindparam(f"name_{index}"),
                    col(Child.date_of_birth) == sa.bindparam(f"dob_{index}"),
                )
            )
    if not conditions:
        return None
    neglect = (
        sa.select(col(ReferralConcern.referral_id))
        .where(
            col(ReferralConcern.referral_id) == col(Child.referral_id),
            col(ReferralConcern.category) == str(ConcernCategory.neglect),
        )
        .exists()
    )
    stmt: _Matching = (
        sa.select(
            col(Child.id),
            col(Child.referral_id),
            col(Child.nhs_number),
            col(Child.name_key),
            col(Child.date_of_birth),
            col(Referral.received_at),
            neglect,
        )
        .join(Referral, col(Referral.id) == col(Child.referral_id))
        .where(sa.or_(*conditions), col(Referral.received_at) < sa.bindparam("before"))
        .order_by(col(Referral.received_at).desc())
    )
    return stmt


def find_earlier_referrals(
    *, session: Session, children: Sequence[ChildKey], before: dt.datetime
) -> list[list[EarlierReferral]]:
    """For each child, its earlier referrals (one entry per referral, newest first), in one indexed query."""
    (found,) = find_earlier_referrals_many(connection=session.connection(), wanted=[(children, before)])
    return found


def _matching_query(*, children: Sequence[ChildKey], before: dt.datetime) -> tuple[_Matching, dict[str, Any]] | None:
    """The query that matches one referral's children elsewhere than on PostgreSQL, and its parameters (None when
    no child can be matched)."""
    stmt = _statement(_shape(children))
    if stmt is None:
        return None
    params: dict[str, Any] = {"before": before}
    for index, key in enumerate(children):
        if key.nhs_number:
            params[f"nhs_{index}"] = key.nhs_number
        if key.date_of_birth is not None:
            params[f"name_{index}"], params[f"dob_{index}"] = key.name_key, key.date_of_birth
    return stmt, params


# PostgreSQL matches the children of many referrals in one statement: their keys travel as one JSON document, and
# each child is looked up as _matching_query looks it up (by the NHS number and by names and date of birth indexes).
_MATCHING_MANY = sa.text(
    """
    SELECT k.position, m.id, m.referral_id, m.nhs_number, m.name_key, m.date_of_birth, m.received_at, m.neglect
    FROM jsonb_to_recordset(CAST(:keys AS JSONB))
        AS k(position integer, nhs_number text, name_key text, date_of_birth date, before timestamptz)
    CROSS JOIN LATERAL (
        SELECT c.id, c.referral_id, c.nhs_number, c.name_key, c.date_of_birth, r.received_at,
            EXISTS (
                SELECT FROM referral_concern AS rc WHERE rc.referral_id = c.referral_id AND rc.category = :neglect
            ) AS neglect
        FROM child AS c JOIN referral AS r ON r.id = c.referral_id
        WHERE (c.nhs_number = k.nhs_number OR (c.name_key = k.name_key AND c.date_of_birth = k.date_of_birth))
            AND r.received_at < k.before
    ) AS m
    ORDER BY m.received_at DESC
    """
)


def find_earlier_referrals_many(
    *, connection: sa.Connection, wanted: Sequence[tuple[Sequence[ChildKey], dt.datetime]]
) -> list[list[list[EarlierReferral]]]:
    """find_earlier_referrals for each of several referrals (its children, and when it was received): on
    PostgreSQL in one statement, elsewhere one for each referral."""
    if connection.dialect.name != "postgresql":
        each = []
        for children, before in wanted:
            query = _matching_query(children=children, before=before)
            matched = connection.execute(*query).all() if query is not None else []
            each.append(earlier_referrals(children=children, rows=matched))
        return each
    keys = [
        {
            "position": position,
            "nhs_number": key.nhs_number,
            "name_key": key.name_key,
            "date_of_birth": key.date_of_birth,
            "before": before,
        }
        for position, (children, before) in enumerate(wanted)
        for key in children
    ]
    rows: list[list[Any]] = [[] for _ in wanted]
    found = bulk.fetch(
        connection, _MATCHING_MANY, {"keys": bulk.document(keys), "neglect": str(ConcernCategory.neglect)}
    )
    for position, child_id, referral_id, nhs_number, row_name_key, date_of_birth, received_at, neglect in found:
        # received_at in UTC, as UTCDateTime reads it.
        row = (child_id, referral_id, nhs_number, row_name_key, date_of_birth, received_at.astimezone(dt.UTC), neglect)
        rows[position].append(row)
    return [earlier_referrals(children=children, rows=of) for (children, _), of in zip(wanted, rows, strict=True)]


def earlier_referrals(*, children: Sequence[ChildKey], rows: Sequence[Any]) -> list[list[EarlierReferral]]:
    """Each child's earlier referrals among the rows of _matching_query (newest first, one entry per referral)."""
    result: list[list[EarlierReferral]] = [[] for _ in children]
    for index, key in enumerate(children):
        seen: set[uuid.UUID] = set()
        for row in rows:
            child_id, referral_id, nhs_number, row_name_key, date_of_birth, received_at, neglect = row
            same_nhs = key.nhs_number is not None and nhs_number == key.nhs_number
            same_name = (
                key.date_of_birth is not None and row_name_key == key.name_key and date_of_birth == key.date_of_birth
            )
            if (same_nhs or same_name) and referral_id not in seen:
                seen.add(referral_id)
                result[index].append(
                    EarlierReferral(
                        child_id=child_id, referral_id=referral_id, received_at=received_at, neglect=bool(neglect)
                    )
                )
    return result
