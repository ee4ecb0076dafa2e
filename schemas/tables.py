"""The tables of the front door. The schema itself changes only through Alembic revisions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from schemas.types import JSONType, UTCDateTime, utc_now

# Stable constraint names, so that Alembic revisions can name what they alter.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Organisation(SQLModel, table=True):
    """A partner organisation that refers children (one agency type each)."""

    __tablename__ = "organisation"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    agency: str = Field(max_length=32)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class StaffUser(SQLModel, table=True):
    """A member of MASH staff (practitioner, manager or admin)."""

    __tablename__ = "staff_user"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    role: str = Field(max_length=32)
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A bearer key, stored only as its SHA-256 digest; it belongs to an organisation or a user."""

    __tablename__ = "api_key"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    role: str = Field(max_length=32)
    organisation_id: uuid.UUID | None = Field(default=None, foreign_key="organisation.id", index=True)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id", index=True)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set for short-lived access tokens issued at /oauth2/token; API keys do not expire.
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrganisationPublicKey(SQLModel, table=True):
    """A partner system's public key, for signed-JWT client authentication."""

    __tablename__ = "organisation_public_key"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "kid"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    kid: str = Field(max_length=200)
    jwk: Any = Field(default=None, sa_type=JSONType, nullable=True)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class UsedAssertion(SQLModel, table=True):
    """The jti of every client assertion accepted, so a replay is refused until it expires."""

    __tablename__ = "used_assertion"
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", primary_key=True)
    jti: str = Field(max_length=200, primary_key=True)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


class RateLimitWindow(SQLModel, table=True):
    """Requests counted per key, per limited action, per fixed window: shared by every server process."""

    __tablename__ = "rate_limit_window"
    subject: str = Field(max_length=64, primary_key=True)
    bucket: str = Field(max_length=32, primary_key=True)
    window_start: dt.datetime = Field(sa_type=UTCDateTime, primary_key=True)
    count: int = Field(default=0)


class ReferralNumber(SQLModel, table=True):
    """Hands out the numbers of references; a rolled-back intake leaves a gap, never a duplicate."""

    __tablename__ = "referral_number"
    id: int | None = Field(default=None, primary_key=True)


class RuleSet(SQLModel, table=True):
    """One version of the threshold rules, as the YAML a partnership wrote."""

    __tablename__ = "rule_set"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(unique=True)
    source: str
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    created_by: uuid.UUID | None = Field(default=None)
    active: bool = Field(default=False, index=True)
    activated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Referral(SQLModel, table=True):
    """A submission from a partner about one or more children."""

    __tablename__ = "referral"
    __table_args__ = (
        # The queue: undecided referrals, most urgent first.
        sa.Index("ix_referral_queue", "decided", "rag_rank", "decision_due_at"),
        sa.Index("ix_referral_org_received", "organisation_id", "received_at"),
        sa.Index("ix_referral_assigned_queue", "assigned_to", "decided", "rag_rank", "decision_due_at"),
        # Reports: everything the summary reads of a referral, in received order (an index-only scan).
        sa.Index(
            "ix_referral_report",
            "received_at",
            "agency",
            "decided",
            "decided_on_time",
            "decision_due_at",
            "decided_at",
            "told",
            "child_count",
            "concern_bits",
        ),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reference: str = Field(max_length=32, unique=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id")
    agency: str = Field(max_length=32)
    cin_referral_source: str = Field(max_length=4)
    status: str = Field(max_length=32, index=True)
    decided: bool = Field(default=False)
    received_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    decision_due_at: dt.datetime = Field(sa_type=UTCDateTime)
    in_triage_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    awaiting_information_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    awaiting_approval_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_on_time: bool | None = Field(default=None)
    assigned_to: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The rating of the most urgent child.
    level: int
    rag: str = Field(max_length=8)
    rag_rank: int
    pathway: str = Field(max_length=32)
    rule_set_version: int
    reasons: Any = Field(default=None, sa_type=JSONType, nullable=True)
    immediate_danger: bool
    concerns_summary: str
    indicators: Any = Field(default=None, sa_type=JSONType, nullable=True)
    referrer: Any = Field(default=None, sa_type=JSONType, nullable=True)
    household: Any = Field(default=None, sa_type=JSONType, nullable=True)
    consent: Any = Field(default=None, sa_type=JSONType, nullable=True)
    consent_status: str = Field(max_length=16)
    agency_details: Any = Field(default=None, sa_type=JSONType, nullable=True)
    created_by_key: uuid.UUID | None = Field(default=None)
    # For the reports, so that a period's figures read one slim index of referrals and join nothing: how many
    # children the referral names, its concern categories (schemas.enums.CONCERN_BITS), and whether the referrer
    # has been sent the decision (a decision_made event).
    child_count: int
    concern_bits: int
    told: bool = Field(default=False)


class ReferralConcern(SQLModel, table=True):
    """One concern category of a referral; a row each so reports can count them in SQL."""

    __tablename__ = "referral_concern"
    __table_args__ = (sa.Index("ix_referral_concern_category", "category", "referral_id"),)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", primary_key=True)
    category: str = Field(max_length=40, primary_key=True)


class Child(SQLModel, table=True):
    """A child named in a referral, with their own rating and, once decided, outcome."""

    __tablename__ = "child"
    __table_args__ = (
        sa.Index("ix_child_name_dob", "name_key", "date_of_birth"),
        sa.Index("ix_child_nhs_number", "nhs_number"),
        # Reports: everything the summary reads of a child, in received order (an index-only scan).
        sa.Index(
            "ix_child_report",
            "received_at",
            "agency",
            "outcome",
            "voice_not_obtained_reason",
            "neglect",
            "unborn",
            "age_years",
            "step_down",
            "voice_heard",
            "referrals_12m",
        ),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    position: int
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    # first and last name, lower-cased with spaces removed, joined by "|": for history matching.
    name_key: str = Field(max_length=210)
    date_of_birth: dt.date | None = Field(default=None)
    expected_date_of_birth: dt.date | None = Field(default=None)
    unborn: bool = Field(default=False)
    age_years: int | None = Field(default=None)
    nhs_number: str | None = Field(default=None, max_length=10)
    gender: str | None = Field(default=None, max_length=40)
    address: Any = Field(default=None, sa_type=JSONType, nullable=True)
    postcode: str = Field(max_length=10)
    details: Any = Field(default=None, sa_type=JSONType, nullable=True)
    voice: Any = Field(default=None, sa_type=JSONType, nullable=True)
    voice_heard: bool
    voice_not_obtained_reason: str | None = Field(default=None, max_length=32)
    history: Any = Field(default=None, sa_type=JSONType, nullable=True)
    current_plan: str = Field(max_length=32)
    referrals_12m: int = Field(default=0)
    neglect_referrals_12m: int = Field(default=0)
    level: int
    rag: str = Field(max_length=8)
    pathway: str = Field(max_length=32)
    reasons: Any = Field(default=None, sa_type=JSONType, nullable=True)
    outcome: str | None = Field(default=None, max_length=32)
    step_down: bool | None = Field(default=None)
    # The referral's, copied for the reports, which then count children without joining referrals or concerns:
    # none of them ever changes once the referral is received.
    received_at: dt.datetime = Field(sa_type=UTCDateTime)
    agency: str = Field(max_length=32)
    neglect: bool


class ChildMatch(SQLModel, table=True):
    """A link from a child to an earlier record of the same child, found at intake."""

    __tablename__ = "child_match"
    child_id: uuid.UUID = Field(foreign_key="child.id", primary_key=True)
    earlier_child_id: uuid.UUID = Field(foreign_key="child.id", primary_key=True)
    earlier_referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)


class Decision(SQLModel, table=True):
    """A practitioner's decision on a referral, with its approval where a step-down needs one."""

    __tablename__ = "decision"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    decided_by: uuid.UUID = Field(foreign_key="staff_user.id")
    decided_at: dt.datetime = Field(sa_type=UTCDateTime)
    outcomes: Any = Field(default=None, sa_type=JSONType, nullable=True)
    feedback: str
    step_down: bool = Field(default=False)
    state: str = Field(max_length=32)
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    reviewed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str | None = Field(default=None)


class InformationRequest(SQLModel, table=True):
    """A question MASH staff ask a partner organisation about a referral."""

    __tablename__ = "information_request"
    __table_args__ = (sa.Index("ix_information_request_org_status", "organisation_id", "status", "asked_at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id")
    question: str
    due_at: dt.datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    asked_by: uuid.UUID = Field(foreign_key="staff_user.id")
    asked_at: dt.datetime = Field(sa_type=UTCDateTime)
    response: str | None = Field(default=None)
    answered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by_key: uuid.UUID | None = Field(default=None)


class StrategyDiscussion(SQLModel, table=True):
    """A multi-agency strategy discussion held about a referral."""

    __tablename__ = "strategy_discussion"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    held_at: dt.datetime = Field(sa_type=UTCDateTime)
    participants: Any = Field(default=None, sa_type=JSONType, nullable=True)
    safety_plan: str
    actions: Any = Field(default=None, sa_type=JSONType, nullable=True)
    recorded_by: uuid.UUID = Field(foreign_key="staff_user.id")
    recorded_at: dt.datetime = Field(sa_type=UTCDateTime)


class FeedbackEvent(SQLModel, table=True):
    """What the referrer is told, in the order it happened."""

    __tablename__ = "feedback_event"
    __table_args__ = (
        sa.Index("ix_feedback_event_org_id", "organisation_id", "id"),
        # The feed's order on PostgreSQL is (tx_id, id): one organisation's, and every one (staff).
        sa.Index("ix_feedback_event_org_tx", "organisation_id", "tx_id", "id"),
        sa.Index("ix_feedback_event_tx", "tx_id", "id"),
        # Reports: which referrals' referrers were told the decision.
        sa.Index(
            "ix_feedback_event_decision_made",
            "referral_id",
            postgresql_where=sa.text("event = 'decision_made'"),
            sqlite_where=sa.text("event = 'decision_made'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    referral_id: uuid.UUID = Field(foreign_key="referral.id", index=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id")
    event: str = Field(max_length=32)
    at: dt.datetime = Field(sa_type=UTCDateTime)
    message: str
    outcomes: Any = Field(default=None, sa_type=JSONType, nullable=True)
    # The writing transaction's id on PostgreSQL, so a poller can wait for slower writers to commit.
    # A trigger stamps it on every insert (migration feedback_1), whoever writes the row; NULL on SQLite.
    tx_id: int | None = Field(default=None, sa_type=sa.BigInteger)


class WebhookSubscription(SQLModel, table=True):
    """A partner's endpoint for pushed feedback events (Standard Webhooks)."""

    __tablename__ = "webhook_subscription"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    url: str = Field(max_length=2000)
    events: Any = Field(default=None, sa_type=JSONType, nullable=True)
    # Needed in clear to sign each delivery (HMAC); it is never shown again after creation.
    secret: str = Field(max_length=100)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one row per event per subscription, written with the event."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "state", "next_attempt_at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id", index=True)
    event_id: int = Field(sa_type=sa.BigInteger)
    state: str = Field(max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: dt.datetime = Field(sa_type=UTCDateTime)
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    leased_by: str | None = Field(default=None, max_length=64)
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when and why. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_entity", "entity", "entity_id", "id"),
        sa.Index("ix_audit_event_actor", "actor_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    at: dt.datetime = Field(sa_type=UTCDateTime)
    actor_kind: str = Field(max_length=16)
    actor_id: uuid.UUID | None = Field(default=None)
    organisation_id: uuid.UUID | None = Field(default=None)
    role: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    entity_id: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=200)
    request_id: str | None = Field(default=None, max_length=64)
    detail: Any = Field(default=None, sa_type=JSONType, nullable=True)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to an Idempotency-Key, replayed to retries from the same organisation."""

    __tablename__ = "idempotency_record"
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id", primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    response: Any = Field(default=None, sa_type=JSONType, nullable=True)
    referral_id: uuid.UUID | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class RejectedSubmission(SQLModel, table=True):
    """A refused referral: who sent it and when, never what it said."""

    __tablename__ = "rejected_submission"
    __table_args__ = (sa.Index("ix_rejected_submission_at", "at", "organisation_id"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id")
    agency: str = Field(max_length=32)
    at: dt.datetime = Field(sa_type=UTCDateTime)


class RejectedRule(SQLModel, table=True):
    """One failed rule of a refused referral (its code and where, indices blanked out)."""

    __tablename__ = "rejected_rule"
    __table_args__ = (sa.Index("ix_rejected_rule_at", "at", "code"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    submission_id: uuid.UUID = Field(foreign_key="rejected_submission.id", index=True)
    organisation_id: uuid.UUID = Field(foreign_key="organisation.id")
    at: dt.datetime = Field(sa_type=UTCDateTime)
    code: str = Field(max_length=64)
    pointer: str = Field(max_length=200)
