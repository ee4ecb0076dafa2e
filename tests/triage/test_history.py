"""Matching a child to their earlier referrals, and the history facts the rules see."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from schemas.enums import Role
from schemas.tables import Child, ChildMatch
from tests.conftest import Actor
from tests.validation_cases import valid_referral
from triage import intake
from triage.auth import Caller
from triage.db import get_engine, session_scope

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def _caller(org: Actor) -> Caller:
    return Caller(key_id=org.key_id, role=Role.referrer, organisation_id=org.id, agency=org.agency)


def send(org: Actor, body: dict[str, Any], *, at: dt.datetime) -> dict[str, Any]:
    for child in body["children"]:
        if "recorded_on" in child.get("voice", {}):
            # Heard well before the earliest backdated receipt used here.
            child["voice"]["recorded_on"] = "2025-01-01"
    with session_scope(get_engine()) as session:
        return intake.submit(session=session, caller=_caller(org), body=body, idempotency_key=None, now=at).body


def child_of(referral_id: str) -> Child:
    with session_scope(get_engine()) as session:
        return session.execute(sa.select(Child).where(Child.referral_id == uuid.UUID(referral_id))).scalars().first()  # type: ignore[return-value]


def a_child(**changes: Any) -> dict[str, Any]:
    body = valid_referral("police", today=NOW.date())
    child = body["children"][0]
    child.update({"first_name": "Jamie", "last_name": "Smith", "date_of_birth": "2015-03-02"})
    child.pop("nhs_number", None)
    child.update(changes)
    return body


def test_same_names_and_date_of_birth_match_ignoring_case_and_spaces(police: Actor) -> None:
    first = send(police, a_child(), at=NOW - dt.timedelta(days=30))
    second = send(police, a_child(first_name=" jamie ", last_name="SMITH"), at=NOW)
    child = child_of(second["id"])
    assert child.referrals_12m == 1
    with session_scope(get_engine()) as session:
        links = session.execute(sa.select(ChildMatch).where(ChildMatch.child_id == child.id)).scalars().all()
    assert [str(link.earlier_referral_id) for link in links] == [first["id"]]
    assert any(r["rule_id"] == "re-referral" for r in child.reasons)


def test_the_nhs_number_matches_even_when_names_differ(police: Actor, make_org: Any) -> None:
    health = make_org("health")
    body = valid_referral("health", today=NOW.date())
    nhs = body["children"][0]["nhs_number"]
    send(health, body, at=NOW - dt.timedelta(days=10))
    renamed = a_child(nhs_number=nhs, first_name="Jay", last_name="Jones", date_of_birth="2014-01-01")
    child = child_of(send(police, renamed, at=NOW)["id"])
    assert child.referrals_12m == 1


def test_a_different_date_of_birth_is_a_different_child(police: Actor) -> None:
    send(police, a_child(), at=NOW - dt.timedelta(days=30))
    child = child_of(send(police, a_child(date_of_birth="2015-03-03"), at=NOW)["id"])
    assert child.referrals_12m == 0


def test_only_the_last_365_days_count_as_re_referrals(police: Actor) -> None:
    send(police, a_child(), at=NOW - dt.timedelta(days=400))
    send(police, a_child(), at=NOW - dt.timedelta(days=200))
    child = child_of(send(police, a_child(), at=NOW)["id"])
    assert child.referrals_12m == 1
    with session_scope(get_engine()) as session:
        links = session.execute(sa.select(ChildMatch).where(ChildMatch.child_id == child.id)).scalars().all()
    assert len(links) == 2, "the whole history is linked, not just the last year"


def test_repeated_neglect_escalates(police: Actor) -> None:
    def neglect() -> dict[str, Any]:
        body = a_child()
        body["concerns"]["categories"] = ["neglect"]
        body["concerns"]["indicators"] = ["hunger"]
        return body

    first = child_of(send(police, neglect(), at=NOW - dt.timedelta(days=90))["id"])
    send(police, neglect(), at=NOW - dt.timedelta(days=30))
    third = child_of(send(police, neglect(), at=NOW)["id"])
    assert first.level == 3
    assert third.neglect_referrals_12m == 2
    assert third.level == 4 and third.pathway == "strategy_discussion"
    assert any(r["rule_id"] == "cumulative-neglect" for r in third.reasons)


def test_an_unborn_child_is_not_matched_on_a_placeholder_name(police: Actor) -> None:
    def unborn() -> dict[str, Any]:
        body = a_child(first_name="Unborn", last_name="Smith")
        child = body["children"][0]
        child.pop("date_of_birth")
        child["expected_date_of_birth"] = (NOW.date() + dt.timedelta(days=60)).isoformat()
        child["voice"] = {
            "not_obtained_reason": "unborn",
            "explanation": "The baby is not yet born; mother is 30 weeks pregnant.",
        }
        return body

    send(police, unborn(), at=NOW - dt.timedelta(days=5))
    child = child_of(send(police, unborn(), at=NOW)["id"])
    assert child.unborn and child.age_years is None
    assert child.referrals_12m == 0


def test_siblings_in_one_referral_are_matched_separately(police: Actor) -> None:
    body = a_child()
    sibling = dict(body["children"][0], first_name="Robin", date_of_birth="2018-06-01")
    body["children"].append(sibling)
    send(police, body, at=NOW - dt.timedelta(days=20))
    again = a_child(first_name="Robin", date_of_birth="2018-06-01")
    child = child_of(send(police, again, at=NOW)["id"])
    assert child.referrals_12m == 1
