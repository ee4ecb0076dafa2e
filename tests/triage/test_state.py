"""The referral state machine: every legal move stamps its time; every other move is refused with 409."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import ReferralStatus
from schemas.tables import Referral
from tests.api.workflow_support import refer, referral_row
from tests.conftest import Actor
from triage.errors import Conflict
from triage.workflow import state

S = ReferralStatus
AT = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)
LEGAL = sorted((source, to) for source, targets in state.TRANSITIONS.items() for to in targets)
ILLEGAL = sorted((source, to) for source, to in itertools.product(S, S) if to not in state.TRANSITIONS[source])


def test_the_table_names_every_status_and_the_moves_of_the_workflow() -> None:
    assert set(state.TRANSITIONS) == set(S) == set(state.ENTERED_AT)
    assert (S.received, S.in_triage) in LEGAL
    assert (S.awaiting_information, S.in_triage) in LEGAL
    assert (S.awaiting_approval, S.decided) in LEGAL and (S.awaiting_approval, S.in_triage) in LEGAL
    assert (S.decided, S.closed) in LEGAL
    assert state.TRANSITIONS[S.closed] == frozenset()
    # Nothing ever goes back to received, and nothing leaves closed.
    assert all(to != S.received for _, to in LEGAL)


@pytest.mark.parametrize(("source", "to"), LEGAL, ids=[f"{s}->{t}" for s, t in LEGAL])
def test_a_legal_move_sets_the_status_its_time_and_whether_it_is_decided(source: S, to: S) -> None:
    referral = Referral(status=source, decided=source in state.FINAL)
    left = state.transition(referral=referral, to=to, at=AT)
    assert left == source
    assert referral.status == to
    assert getattr(referral, state.ENTERED_AT[to]) == AT
    assert referral.decided is (to in (S.decided, S.closed))


@pytest.mark.parametrize(("source", "to"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_an_illegal_move_is_refused_with_409_and_changes_nothing(source: S, to: S) -> None:
    referral = Referral(status=source, decided=source in state.FINAL)
    with pytest.raises(Conflict) as refused:
        state.transition(referral=referral, to=to, at=AT)
    assert refused.value.status == 409
    assert refused.value.extra["status_now"] == source
    assert str(to) not in refused.value.extra["allowed"]
    assert referral.status == source
    assert getattr(referral, state.ENTERED_AT[to]) is None


def test_a_conditional_move_only_moves_a_referral_in_the_source_state(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    waiting = refer(client, police)["id"]
    started = refer(client, police)["id"]
    earlier = AT - dt.timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(
            sa.update(Referral)
            .where(Referral.id == uuid.UUID(started))
            .values(status=S.in_triage, in_triage_at=earlier)
        )
        values = state.conditional_move(source=S.received, to=S.in_triage, at=AT)
        conn.execute(
            sa.update(Referral).where(Referral.id.in_([uuid.UUID(waiting), uuid.UUID(started)])).values(**values)
        )
    moved, untouched = referral_row(engine, waiting), referral_row(engine, started)
    assert (moved.status, moved.in_triage_at, moved.decided) == (S.in_triage, AT, False)
    assert (untouched.status, untouched.in_triage_at) == (S.in_triage, earlier)


def test_a_conditional_move_the_table_forbids_is_refused_before_any_sql() -> None:
    with pytest.raises(Conflict):
        state.conditional_move(source=S.decided, to=S.in_triage, at=AT)
