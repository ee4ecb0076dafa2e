"""A synthetic referral as the rows intake stores for it: referral, concerns, children, history links, rating,
decision clock, acknowledgement and audit (the same computations as triage/intake.py, without one flush each)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from schemas.enums import RAG_RANK, Agency, FeedbackEventKind, Rag, ReferralStatus, concern_bits
from schemas.referral_in import AGENCY_DETAILS_MODELS
from schemas.tables import Referral
from triage.cin import cin_referral_source
from triage.clock import LONDON, decision_due_at
from triage.history import name_key
from triage.intake import (
    YEAR,
    acknowledgement_message,
    concern_rows,
    copied_to_child,
    jsonable,
    most_urgent,
    rated_child,
    union_reasons,
)
from triage.rules import CompiledRuleSet, Rating
from triage.simulate.people import Earlier, Identity
from triage.validation import age_on


@dataclass(frozen=True)
class Sender:
    """A simulated partner organisation and the key its referrals arrive with."""

    organisation_id: uuid.UUID
    agency: Agency
    key_id: uuid.UUID


@dataclass
class Batch:
    """Rows to write, per table, in the order the foreign keys need."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    referrals: int = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)


# Ids come from the system's randomness, not the seed (a second run with the same seed must not reuse them), drawn
# once and stretched: the system call per id would cost more than the rest of a referral.
_ids = random.Random(uuid.uuid4().int)


def new_id() -> uuid.UUID:
    """A fresh version 4 UUID."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4)


def audit_row(
    *,
    at: dt.datetime,
    actor: tuple[str, uuid.UUID, uuid.UUID | None, str],
    action: str,
    referral_id: uuid.UUID,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event about a referral; ACTOR is (kind, id, organisation id, role)."""
    kind, actor_id, organisation_id, role = actor
    return {
        "at": at,
        "actor_kind": kind,
        "actor_id": actor_id,
        "organisation_id": organisation_id,
        "role": role,
        "action": action,
        "entity": "referral",
        "entity_id": str(referral_id),
        "purpose": purpose,
        "request_id": None,
        "detail": detail,
    }


def feedback_row(
    referral: dict[str, Any],
    event: FeedbackEventKind,
    at: dt.datetime,
    message: str,
    outcomes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One feedback event for the referring organisation."""
    return {
        "referral_id": referral["id"],
        "organisation_id": referral["organisation_id"],
        "event": str(event),
        "at": at,
        "message": message,
        "outcomes": outcomes,
    }


def _child_row(
    body: dict[str, Any],
    *,
    referral_id: uuid.UUID,
    child_id: uuid.UUID,
    position: int,
    age: int | None,
    facts: dict[str, Any],
    rating: Rating,
) -> dict[str, Any]:
    voice = body["voice"]
    return {
        "id": child_id,
        "referral_id": referral_id,
        "position": position,
        "first_name": body["first_name"],
        "last_name": body["last_name"],
        "name_key": name_key(body["first_name"], body["last_name"]),
        "date_of_birth": dt.date.fromisoformat(body["date_of_birth"]) if "date_of_birth" in body else None,
        "expected_date_of_birth": dt.date.fromisoformat(body["expected_date_of_birth"])
        if "expected_date_of_birth" in body
        else None,
        "unborn": "date_of_birth" not in body,
        "age_years": age,
        "nhs_number": body.get("nhs_number"),
        "gender": body.get("gender"),
        "address": body["address"],
        "postcode": body["address"]["postcode"],
        "details": body,
        "voice": voice,
        "voice_heard": "views" in voice,
        "voice_not_obtained_reason": voice.get("not_obtained_reason"),
        "history": body["history"],
        "current_plan": body["history"]["current_plan"],
        **rated_child(facts, rating),
    }


@dataclass
class Stored:
    """What the workflow needs to know about a referral just stored."""

    referral: dict[str, Any]
    children: list[dict[str, Any]]


def intake_rows(
    *,
    batch: Batch,
    body: dict[str, Any],
    identities: list[Identity],
    sender: Sender,
    received_at: dt.datetime,
    number: int,
    rule_set: CompiledRuleSet,
) -> Stored:
    """Add the rows intake would store for BODY, received at RECEIVED_AT, to the batch."""
    today = received_at.astimezone(LONDON).date()
    referral_id = new_id()
    concerns = sorted(set(body["concerns"]["categories"]))
    indicators = sorted(set(body["concerns"].get("indicators") or []))
    model = AGENCY_DETAILS_MODELS[sender.agency]
    # Intake keeps the agency details as its model dumps them: every field, null where not given.
    details = jsonable({name: body["agency_details"].get(name) for name in model.model_fields})
    neglect = "neglect" in concerns
    children: list[dict[str, Any]] = []
    ratings: list[Rating] = []
    for position, (child_body, identity) in enumerate(zip(body["children"], identities, strict=True)):
        born = identity.date_of_birth
        # Intake matches on names and date of birth (or NHS number): an unborn child has neither on record.
        history = identity.earlier if born is not None else []
        recent = [e for e in history if e.received_at >= received_at - YEAR]
        age = age_on(born, today) if born is not None else None
        facts = {
            "immediate_danger": body["immediate_danger"],
            "agency": str(sender.agency),
            "concerns": concerns,
            "indicators": indicators,
            "child": {"age_years": age, "unborn": born is None, "current_plan": child_body["history"]["current_plan"]},
            "agency_details": details,
            "history": {"referrals_12m": len(recent), "neglect_referrals_12m": sum(1 for e in recent if e.neglect)},
        }
        rating = rule_set.rate(facts)
        ratings.append(rating)
        child_id = new_id()
        children.append(
            _child_row(
                child_body,
                referral_id=referral_id,
                child_id=child_id,
                position=position,
                age=age,
                facts=facts,
                rating=rating,
            )
        )
        for earlier in history:
            batch.add(
                "child_match",
                {
                    "child_id": child_id,
                    "earlier_child_id": earlier.child_id,
                    "earlier_referral_id": earlier.referral_id,
                },
            )
        if born is not None:
            identity.earlier.append(Earlier(child_id, referral_id, received_at, neglect))
    top = most_urgent(ratings)
    reference = f"MASH-{received_at.astimezone(LONDON).year}-{number:06d}"
    due = decision_due_at(received_at=received_at, rag=top.rag)
    referral = {
        "id": referral_id,
        "reference": reference,
        "organisation_id": sender.organisation_id,
        "agency": str(sender.agency),
        "cin_referral_source": cin_referral_source(sender.agency),
        "status": str(ReferralStatus.received),
        "decided": False,
        "received_at": received_at,
        "decision_due_at": due,
        "in_triage_at": None,
        "awaiting_information_at": None,
        "awaiting_approval_at": None,
        "decided_at": None,
        "closed_at": None,
        "decided_on_time": None,
        "assigned_to": None,
        "claimed_at": None,
        "level": top.level,
        "rag": top.rag,
        "rag_rank": RAG_RANK[Rag(top.rag)],
        "pathway": top.pathway,
        "rule_set_version": rule_set.version,
        "reasons": union_reasons(ratings),
        "immediate_danger": body["immediate_danger"],
        "concerns_summary": body["concerns"]["summary"],
        "indicators": indicators,
        "referrer": body["referrer"],
        "household": body["household"],
        "consent": body["consent"],
        "consent_status": body["consent"]["status"],
        "agency_details": details,
        "created_by_key": sender.key_id,
        "child_count": len(children),
        "concern_bits": concern_bits(concerns),
        "told": False,
    }
    batch.add("referral", referral)
    for row in concern_rows(referral_id, concerns):
        batch.add("referral_concern", row)
    for child in children:
        child.update(copied_to_child(str(sender.agency), concerns, received_at))
        batch.add("child", child)
    # The acknowledgement reads only the reference and the due time.
    stand_in = cast(Referral, SimpleNamespace(reference=reference, decision_due_at=due))
    batch.add(
        "feedback_event",
        feedback_row(referral, FeedbackEventKind.acknowledged, received_at, acknowledgement_message(stand_in)),
    )
    batch.add(
        "audit_event",
        audit_row(
            at=received_at,
            actor=("organisation", sender.organisation_id, sender.organisation_id, "referrer"),
            action="create",
            referral_id=referral_id,
            purpose="referral received",
            detail={"reference": reference, "children": len(children), "rule_set_version": rule_set.version},
        ),
    )
    batch.referrals += 1
    return Stored(referral=referral, children=children)
