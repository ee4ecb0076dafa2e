"""Matching a child to their earlier referrals (DOMAIN.md): same NHS number, or same names and date of birth."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import ConcernCategory
from schemas.tables import Child, Referral, ReferralConcern


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


def _matches(key: ChildKey) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if key.nhs_number:
        conditions.append(col(Child.nhs_number) == key.nhs_number)
    if key.date_of_birth is not None:
        conditions.append(sa.and_(col(Child.name_key) == key.name_key, col(Child.date_of_birth) == key.date_of_birth))
    return conditions


def find_earlier_referrals(
    *, session: Session, children: Sequence[ChildKey], before: dt.datetime
) -> list[list[EarlierReferral]]:
    """For each child, its earlier referrals (one entry per referral, newest first), in one indexed query."""
    conditions = [c for key in children for c in _matches(key)]
    result: list[list[EarlierReferral]] = [[] for _ in children]
    if not conditions:
        return result
    neglect = (
        sa.select(col(ReferralConcern.referral_id))
        .where(
            col(ReferralConcern.referral_id) == col(Child.referral_id),
            col(ReferralConcern.category) == ConcernCategory.neglect,
        )
        .exists()
    )
    stmt = (
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
        .where(sa.or_(*conditions), col(Referral.received_at) < before)
        .order_by(col(Referral.received_at).desc())
    )
    rows = session.execute(stmt).all()
    for index, key in enumerate(children):
        seen: set[uuid.UUID] = set()
        for row in rows:
            same_nhs = key.nhs_number is not None and row.nhs_number == key.nhs_number
            same_name = (
                key.date_of_birth is not None
                and row.name_key == key.name_key
                and row.date_of_birth == key.date_of_birth
            )
            if (same_nhs or same_name) and row.referral_id not in seen:
                seen.add(row.referral_id)
                result[index].append(
                    EarlierReferral(
                        child_id=row.id, referral_id=row.referral_id, received_at=row.received_at, neglect=bool(row[6])
                    )
                )
    return result
