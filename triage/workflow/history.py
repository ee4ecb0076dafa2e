"""A child's history: the earlier referrals matched at intake, and one child's whole chronology."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from schemas.tables import Child, ChildMatch, Referral, ReferralConcern
from triage import access, audit
from triage.auth import Caller
from triage.errors import NotFound

ORDERS = ("oldest", "newest")


def previous_referrals(session: Session, child_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """For each child, the earlier referrals matched to them at intake, newest first (two queries in all)."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {child_id: [] for child_id in child_ids}
    if not child_ids:
        return found
    earlier = aliased(Child)
    stmt = (
        sa.select(col(ChildMatch.child_id), earlier, Referral)
        .join(earlier, col(earlier.id) == col(ChildMatch.earlier_child_id))
        .join(Referral, col(Referral.id) == col(ChildMatch.earlier_referral_id))
        .where(col(ChildMatch.child_id).in_(child_ids))
        .order_by(col(Referral.received_at).desc(), col(Referral.id).desc())
    )
    rows = session.execute(stmt).all()
    concerns = _concerns(session, [row[2].id for row in rows])
    for child_id, earlier_child, referral in rows:
        found[child_id].append(_entry(earlier_child, referral, concerns))
    return found


def chronology(*, session: Session, caller: Caller, child_id: uuid.UUID, order: str = "oldest") -> dict[str, Any]:
    """One child's referrals, oldest first by default: this record and every record of the same child."""
    child = session.get(Child, child_id)
    if child is None:
        raise NotFound("There is no child with that id.")
    records = _same_child(session, child)
    earlier = aliased(Child)
    stmt = (
        sa.select(earlier, Referral)
        .join(Referral, col(Referral.id) == col(earlier.referral_id))
        .where(col(earlier.id).in_(records))
        .order_by(col(Referral.received_at), col(Referral.id))
    )
    rows = session.execute(stmt).all()
    concerns = _concerns(session, [referral.id for _, referral in rows])
    entries = []
    seen_referrals: set[uuid.UUID] = set()
    for record, referral in rows:
        # A referral naming the same child twice (a data-entry slip) is one event in the chronology.
        if referral.id in seen_referrals:
            continue
        seen_referrals.add(referral.id)
        entry = _entry(record, referral, concerns)
        entry["this_record"] = record.id == child.id
        entries.append(entry)
    if order == "newest":
        entries.reverse()
    audit.record_many(
        session=session,
        caller=caller,
        action="read_history",
        entity="referral",
        entity_ids=sorted(str(r) for r in seen_referrals),
        purpose=access.TRIAGE,
        detail={"child_id": str(child.id)},
    )
    return {
        "child": {
            "id": str(child.id),
            "first_name": child.first_name,
            "last_name": child.last_name,
            "date_of_birth": child.date_of_birth.isoformat() if child.date_of_birth else None,
            "expected_date_of_birth": child.expected_date_of_birth.isoformat()
            if child.expected_date_of_birth
            else None,
            "nhs_number": child.nhs_number,
        },
        "order": order,
        "referrals": entries,
    }


def _same_child(session: Session, child: Child) -> set[uuid.UUID]:
    """Every child record that is this child: linked at intake either way, or matching by DOMAIN.md's rules now."""
    same = {child.id}
    rules = []
    if child.nhs_number:
        rules.append(col(Child.nhs_number) == child.nhs_number)
    if child.date_of_birth is not None:
        rules.append(sa.and_(col(Child.name_key) == child.name_key, col(Child.date_of_birth) == child.date_of_birth))
    if rules:
        # Served by ix_child_nhs_number and ix_child_name_dob.
        same.update(session.execute(sa.select(col(Child.id)).where(sa.or_(*rules))).scalars())
    links_back = sa.select(col(ChildMatch.earlier_child_id)).where(col(ChildMatch.child_id) == child.id)
    # Later records linked to this one: found through the indexed earlier_referral_id, then narrowed.
    links_forward = sa.select(col(ChildMatch.child_id)).where(
        col(ChildMatch.earlier_referral_id) == child.referral_id, col(ChildMatch.earlier_child_id) == child.id
    )
    same.update(session.execute(links_back.union(links_forward)).scalars())
    return same


def _entry(child: Child, referral: Referral, concerns: dict[uuid.UUID, list[str]]) -> dict[str, Any]:
    return {
        "referral_id": str(referral.id),
        "reference": referral.reference,
        "child_id": str(child.id),
        "date": referral.received_at.isoformat(),
        "agency": referral.agency,
        "concerns": concerns.get(referral.id, []),
        "rating": {"level": child.level, "rag": child.rag, "pathway": child.pathway},
        "outcome": child.outcome,
        "status": referral.status,
    }


def _concerns(session: Session, referral_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    if referral_ids:
        stmt = (
            sa.select(col(ReferralConcern.referral_id), col(ReferralConcern.category))
            .where(col(ReferralConcern.referral_id).in_(set(referral_ids)))
            .order_by(col(ReferralConcern.referral_id), col(ReferralConcern.category))
        )
        for row in session.execute(stmt):
            found[row.referral_id].append(row.category)
    return found
