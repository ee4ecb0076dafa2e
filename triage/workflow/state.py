"""The referral's status as an explicit state machine: one table of legal moves, one transition function."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from schemas.enums import ReferralStatus
from schemas.tables import Referral
from schemas.types import UTCDateTime
from triage.errors import Conflict

S = ReferralStatus

# Every legal move. A step-down on a red referral waits in awaiting_approval; a decision may be made
# while partners have still to answer (a red referral cannot wait for them), and a further request
# while one is open keeps the referral in awaiting_information.
TRANSITIONS: Mapping[ReferralStatus, frozenset[ReferralStatus]] = MappingProxyType(
    {
        S.received: frozenset({S.in_triage, S.awaiting_information}),
        S.in_triage: frozenset({S.awaiting_information, S.awaiting_approval, S.decided}),
        S.awaiting_information: frozenset({S.awaiting_information, S.in_triage, S.awaiting_approval, S.decided}),
        S.awaiting_approval: frozenset({S.in_triage, S.decided}),
        S.decided: frozenset({S.closed}),
        S.closed: frozenset(),
    }
)

# The column holding when the referral last entered each state.
ENTERED_AT: Mapping[ReferralStatus, str] = MappingProxyType(
    {
        S.received: "received_at",
        S.in_triage: "in_triage_at",
        S.awaiting_information: "awaiting_information_at",
        S.awaiting_approval: "awaiting_approval_at",
        S.decided: "decided_at",
        S.closed: "closed_at",
    }
)

# A referral leaves the queue once its decision is final (a step-down awaiting approval is not).
FINAL = frozenset({S.decided, S.closed})

_WHY_NOT: Mapping[ReferralStatus, str] = MappingProxyType(
    {
        S.received: "it has not been triaged yet",
        S.in_triage: "it is being triaged and has no decision yet",
        S.awaiting_information: "it is waiting for partners to answer information requests",
        S.awaiting_approval: "its decision is waiting for a manager's approval",
        S.decided: "it has been decided",
        S.closed: "it is closed",
    }
)


def can_move(current: ReferralStatus | str, to: ReferralStatus) -> bool:
    """Whether a referral in CURRENT may move to TO."""
    return to in TRANSITIONS[ReferralStatus(current)]


def refusal(current: ReferralStatus | str, to: ReferralStatus) -> Conflict:
    """The 409 for a move the state machine does not allow."""
    current = ReferralStatus(current)
    return Conflict(
        f"The referral cannot move from {current} to {to}: {_WHY_NOT[current]}.",
        status_now=str(current),
        allowed=sorted(str(s) for s in TRANSITIONS[current]),
    )


def transition(*, referral: Referral, to: ReferralStatus, at: dt.datetime) -> ReferralStatus:
    """Move REFERRAL to TO, stamping the state's time; 409 for an illegal move. Returns the status it left."""
    previous = ReferralStatus(referral.status)
    if not can_move(previous, to):
        raise refusal(previous, to)
    referral.status = to
    setattr(referral, ENTERED_AT[to], at)
    referral.decided = to in FINAL
    return previous


def conditional_move(*, source: ReferralStatus, to: ReferralStatus, at: dt.datetime) -> dict[str, Any]:
    """Column values for one UPDATE that moves a referral from SOURCE to TO, and leaves it as it is otherwise."""
    if not can_move(source, to):
        raise refusal(source, to)
    in_source = col(Referral.status) == source
    stamp = ENTERED_AT[to]
    return {
        "status": sa.case((in_source, sa.literal(str(to))), else_=col(Referral.status)),
        stamp: sa.case((in_source, sa.literal(at, type_=UTCDateTime())), else_=col(getattr(Referral, stamp))),
        "decided": sa.case((in_source, sa.literal(to in FINAL)), else_=col(Referral.decided)),
    }
