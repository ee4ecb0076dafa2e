"""Access scoping, decided in one place: every read of referrals, feedback and requests starts here."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.tables import FeedbackEvent, InformationRequest, Referral, WebhookSubscription
from triage.auth import Caller
from triage.errors import NotFound

# Why a record is read or changed, as the audit trail records it (DPA 2018 s.62: the justification of each access).
TRIAGE = "safeguarding triage"
FOLLOW_UP = "referrer following up its referral"
FEEDBACK = "feedback to the referrer"
INFORMATION_SHARING = "information sharing with the MASH"
OVERSIGHT = "manager's review of a step-down"


def reading_purpose(caller: Caller) -> str:
    """Why CALLER reads a referral: staff to triage it, a partner to follow up what it sent."""
    return TRIAGE if caller.is_staff else FOLLOW_UP


def readable_referrals(caller: Caller) -> sa.Select[Any]:
    """The referrals CALLER may see: all for staff, its own organisation's for a partner."""
    stmt = sa.select(Referral)
    if not caller.is_staff:
        stmt = stmt.where(col(Referral.organisation_id) == _organisation(caller))
    return stmt


def readable_information_requests(caller: Caller) -> sa.Select[Any]:
    """Information requests CALLER may see: all for staff, those addressed to its organisation for a partner."""
    stmt = sa.select(InformationRequest)
    if not caller.is_staff:
        stmt = stmt.where(col(InformationRequest.organisation_id) == _organisation(caller))
    return stmt


def readable_feedback(caller: Caller) -> sa.Select[Any]:
    """Feedback events CALLER may see: those about its own organisation's referrals."""
    stmt = sa.select(FeedbackEvent)
    if not caller.is_staff:
        stmt = stmt.where(col(FeedbackEvent.organisation_id) == _organisation(caller))
    return stmt


def readable_webhook_subscriptions(caller: Caller) -> sa.Select[Any]:
    """Webhook subscriptions CALLER may see: its own organisation's only (staff have none)."""
    return sa.select(WebhookSubscription).where(col(WebhookSubscription.organisation_id) == _organisation(caller))


def get_referral(*, session: Session, caller: Caller, referral_id: uuid.UUID, for_update: bool = False) -> Referral:
    """One referral through the caller's scope; 404 exactly as if it did not exist when out of scope."""
    stmt = readable_referrals(caller).where(col(Referral.id) == referral_id)
    if for_update:
        stmt = stmt.with_for_update()
    referral = session.execute(stmt).scalar_one_or_none()
    if referral is None:
        raise NotFound("There is no referral with that id.")
    return referral


def get_information_request(*, session: Session, caller: Caller, request_id: uuid.UUID) -> InformationRequest:
    """One information request through the caller's scope; 404 when out of scope."""
    stmt = readable_information_requests(caller).where(col(InformationRequest.id) == request_id)
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound("There is no information request with that id.")
    return found


def _organisation(caller: Caller) -> uuid.UUID:
    if caller.organisation_id is None:
        # A partner without an organisation can see nothing; never fall back to "everything".
        return uuid.UUID(int=0)
    return caller.organisation_id
