"""The simulator stores referrals exactly as intake would: each simulated referral is sent through intake's own
store() at the same instant (then rolled back) and every stored value compared; plus the mix and the workflow."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import OUTCOME_RANK, Outcome, Role
from schemas.tables import (
    ApiKey,
    AuditEvent,
    Child,
    ChildMatch,
    Decision,
    FeedbackEvent,
    Referral,
    ReferralConcern,
    ReferralNumber,
)
from triage import intake
from triage.auth import Caller
from triage.clock import LONDON
from triage.history import ChildKey, find_earlier_referrals
from triage.simulate import simulate
from triage.validation import validate_referral

REFERRALS = 300
INTAKE_COLUMNS = (
    "organisation_id", "agency", "cin_referral_source", "received_at", "decision_due_at", "level", "rag", "rag_rank",
    "pathway", "rule_set_version", "reasons", "immediate_danger", "concerns_summary", "indicators", "referrer",
    "household", "consent", "consent_status", "agency_details", "created_by_key",
)  # fmt: skip
CHILD_SKIP = {"id", "referral_id", "outcome", "step_down"}


@pytest.fixture
def simulated(engine: sa.Engine) -> sa.Engine:
    # Over more than a year, so some earlier referrals are more than 12 months before a re-referral.
    simulate(engine=engine, referrals=REFERRALS, days=500, seed=11)
    return engine


def body_of(session: Session, referral: Referral, children: list[Child]) -> dict[str, Any]:
    """The referral as its partner sent it, rebuilt from what was stored."""
    categories = session.execute(
        sa.select(col(ReferralConcern.category)).where(col(ReferralConcern.referral_id) == referral.id)
    ).scalars()
    return {
        "referrer": referral.referrer,
        "immediate_danger": referral.immediate_danger,
        "concerns": {
            "categories": sorted(categories),
            "summary": referral.concerns_summary,
            "indicators": referral.indicators,
        },
        "children": [child.details for child in children],
        "household": referral.household,
        "consent": referral.consent,
        "agency_details": {k: v for k, v in referral.agency_details.items() if v is not None},
    }


def children_of(session: Session, referral_id: uuid.UUID) -> list[Child]:
    stmt = sa.select(Child).where(col(Child.referral_id) == referral_id).order_by(col(Child.position))
    return list(session.execute(stmt).scalars())


def matches_of(session: Session, children: list[Child]) -> set[tuple[int, uuid.UUID, uuid.UUID]]:
    position = {child.id: child.position for child in children}
    rows = session.execute(sa.select(ChildMatch).where(col(ChildMatch.child_id).in_(list(position)))).scalars()
    return {(position[m.child_id], m.earlier_child_id, m.earlier_referral_id) for m in rows}


def row_values(row: Any, skip: set[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in type(row).model_fields if name not in skip}


def test_every_simulated_referral_is_stored_as_intake_stores_it(simulated: sa.Engine) -> None:
    with Session(simulated) as session:
        referrals = list(session.execute(sa.select(Referral).order_by(col(Referral.received_at))).scalars())
    assert len(referrals) == REFERRALS
    compared_matches = 0
    for simulated_referral in referrals:
        with Session(simulated, expire_on_commit=False) as session:
            key = session.get_one(ApiKey, simulated_referral.created_by_key)
            assert key.organisation_id == simulated_referral.organisation_id
            caller = Caller(
                key_id=key.id,
                role=Role.referrer,
                organisation_id=simulated_referral.organisation_id,
                agency=simulated_referral.agency,
            )
            children = children_of(session, simulated_referral.id)
            body = body_of(session, simulated_referral, children)
            received_at = simulated_referral.received_at
            referral_in = validate_referral(body, agency=caller.agency, today=received_at.astimezone(LONDON).date())
            # Intake's own store, at the same instant: it sees the same earlier referrals, and not this one.
            stored = intake.store(session=session, caller=caller, referral_in=referral_in, received_at=received_at)
            for name in INTAKE_COLUMNS:
                assert getattr(stored, name) == getattr(simulated_referral, name), name
            stored_children = children_of(session, stored.id)
            assert [row_values(c, CHILD_SKIP) for c in stored_children] == [row_values(c, CHILD_SKIP) for c in children]
            expected_matches = matches_of(session, stored_children)
            assert matches_of(session, children) == expected_matches
            compared_matches += len(expected_matches)
            ack = session.execute(
                sa.select(col(FeedbackEvent.message)).where(
                    col(FeedbackEvent.referral_id) == simulated_referral.id, col(FeedbackEvent.event) == "acknowledged"
                )
            ).scalar_one()
            assert ack == intake.acknowledgement_message(stored).replace(stored.reference, simulated_referral.reference)
            created = session.execute(
                sa.select(AuditEvent).where(
                    col(AuditEvent.entity_id) == str(simulated_referral.id), col(AuditEvent.action) == "create"
                )
            ).scalar_one()
            assert created.detail == {
                "reference": simulated_referral.reference,
                "children": len(children),
                "rule_set_version": simulated_referral.rule_set_version,
            }
            assert (created.actor_id, created.role) == (simulated_referral.organisation_id, "referrer")
            session.rollback()
    assert compared_matches > 20, "the data set should hold children referred before"


def test_references_are_unique_numbers_from_the_referral_number_table(simulated: sa.Engine) -> None:
    with Session(simulated) as session:
        rows = session.execute(sa.select(col(Referral.reference), col(Referral.received_at))).all()
        numbers = set(session.execute(sa.select(col(ReferralNumber.id))).scalars())
    references = [reference for reference, _ in rows]
    assert len(set(references)) == len(references) == REFERRALS
    for reference, received_at in rows:
        found = re.fullmatch(r"MASH-(\d{4})-(\d{6,})", reference)
        assert found is not None
        assert int(found.group(1)) == received_at.astimezone(LONDON).year
        assert int(found.group(2)) in numbers


def test_the_mix_is_englands(simulated: sa.Engine) -> None:
    with Session(simulated) as session:
        agencies = Counter(session.execute(sa.select(col(Referral.agency))).scalars())
        children = session.execute(sa.select(col(Child.referrals_12m), col(Child.referral_id))).all()
    share = {agency: count / REFERRALS for agency, count in agencies.items()}
    # 300 draws: a share p lands within about 2.5 standard deviations, sqrt(p(1-p)/300).
    assert 0.22 <= share["police"] <= 0.36
    assert 0.12 <= share["school"] <= 0.24
    assert 0.09 <= share["health"] + share.get("gp", 0) + share.get("dental", 0) <= 0.21
    assert 0.08 <= share["local_authority"] <= 0.20
    re_referred = sum(1 for count, _ in children if count > 0) / len(children)
    assert 0.15 <= re_referred <= 0.29
    sizes = Counter(Counter(referral for _, referral in children).values())
    assert sizes[1] < REFERRALS and max(sizes) >= 3, "sibling groups are referred together"


def test_older_referrals_are_decided_and_their_referrers_told(simulated: sa.Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with Session(simulated) as session:
        referrals = list(session.execute(sa.select(Referral)).scalars())
        decided = [r for r in referrals if r.decided]
        old = [r for r in referrals if r.received_at < now - dt.timedelta(days=10)]
        # A few drift past their time (at most one in a thousand); the rest of the older ones are decided.
        assert len([r for r in old if not r.decided]) <= REFERRALS // 1000
        for referral in decided:
            assert referral.decided_at is not None
            assert referral.status in ("decided", "closed")
            assert referral.decided_on_time == (referral.decided_at <= referral.decision_due_at)
            decision = session.execute(sa.select(Decision).where(col(Decision.referral_id) == referral.id)).scalar_one()
            children = children_of(session, referral.id)
            assert [item["child_id"] for item in decision.outcomes] == [str(c.id) for c in children]
            for child, item in zip(children, decision.outcomes, strict=True):
                assert child.outcome == item["outcome"]
                step_down = OUTCOME_RANK[Outcome(child.outcome)] < OUTCOME_RANK[Outcome(child.pathway)]
                assert child.step_down is step_down is item["step_down"]
                assert (item["override_reason"] is not None) is step_down
            told = session.execute(
                sa.select(FeedbackEvent).where(
                    col(FeedbackEvent.referral_id) == referral.id, col(FeedbackEvent.event) == "decision_made"
                )
            ).scalar_one()
            assert [o["outcome"] for o in told.outcomes] == [c.outcome for c in children]
            assert told.at == referral.decided_at
            if decision.step_down and referral.rag == "red":
                assert decision.state == "approved" and decision.reviewed_by is not None


def test_a_second_run_adds_to_the_first_without_mistaking_children(engine: sa.Engine) -> None:
    # The same seed makes the same names and birthdays: the second run must choose others, or intake would match
    # new children to the first run's.
    simulate(engine=engine, referrals=60, days=30, seed=5)
    simulate(engine=engine, referrals=60, days=30, seed=5)
    with Session(engine) as session:
        keys = session.execute(sa.select(col(Child.name_key), col(Child.date_of_birth), col(Child.referral_id))).all()
        matched = session.execute(sa.select(sa.func.count()).select_from(ChildMatch)).scalar_one()
        re_referred = session.execute(
            sa.select(sa.func.count()).select_from(Child).where(col(Child.referrals_12m) > 0)
        ).scalar_one()
    assert len({(k, b, r) for k, b, r in keys}) == len(keys)
    per_identity = Counter((k, b) for k, b, _ in keys if b is not None)
    # Every repeated identity is a re-referral that intake would have linked.
    assert sum(count - 1 for count in per_identity.values()) == re_referred <= matched


@pytest.mark.postgres_only
def test_processes_side_by_side_never_share_a_child(engine: sa.Engine) -> None:
    # Two processes each keep their own families: intake's matching must find exactly the links each one made.
    simulate(engine=engine, referrals=160, days=60, seed=3, workers=2)
    with Session(engine) as session:
        referrals = list(session.execute(sa.select(Referral).order_by(col(Referral.received_at))).scalars())
        assert len(referrals) == 160
        numbers = [int(r.reference.rsplit("-", 1)[1]) for r in referrals]
        assert numbers == sorted(numbers), "references follow the order of receipt, as intake hands them out"
        for referral in referrals:
            children = children_of(session, referral.id)
            keys = [
                ChildKey(name_key=c.name_key, date_of_birth=c.date_of_birth, nhs_number=c.nhs_number,
                         unborn=c.unborn, age_years=c.age_years)
                for c in children
            ]  # fmt: skip
            found = find_earlier_referrals(session=session, children=keys, before=referral.received_at)
            expected = {(c.position, e.child_id, e.referral_id) for c, history in zip(children, found, strict=True)
                        for e in history}  # fmt: skip
            assert matches_of(session, children) == expected


def test_the_same_seed_draws_the_same_referrals_in_every_process() -> None:
    """What the simulator draws must not follow the process's string hashing (PYTHONHASHSEED differs per run)."""
    program = (
        "import random; from schemas.enums import Agency; from triage.simulate.bodies import PROFILES, concerns; "
        "rng = random.Random(7); print(PROFILES); print([concerns(a, rng, unborn=False) for a in Agency])"
    )
    drawn = [
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    ]
    assert drawn[0] and drawn[0] == drawn[1] == drawn[2]
