"""Helpers for the report tests: send referrals through the API, then move and decide them in the database."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import col

from schemas.tables import Child, FeedbackEvent, Referral, RejectedRule, RejectedSubmission
from tests.conftest import Actor
from tests.validation_cases import child, valid_referral
from triage.db import session_scope

TODAY = dt.date.today()
UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
NOT_SEEN = {"not_obtained_reason": "not_seen", "explanation": "The child was asleep upstairs when we visited."}
PRE_VERBAL = {"not_obtained_reason": "pre_verbal", "explanation": "She is fourteen months old and not yet talking."}
# The period: Monday 23 March to Sunday 5 April 2026 in London. The clocks go forward on Sunday 29 March, so
# it starts at 00:00 GMT (= UTC) and ends at 00:00 BST on 6 April (23:00 UTC on the 5th).
PERIOD = {"from": "2026-03-23", "to": "2026-04-05"}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Case:
    """One referral of the data set, once sent: its id and its children's ids in order."""

    id: uuid.UUID
    children: list[uuid.UUID] = field(default_factory=list)


def body(agency: str, *children: dict[str, Any], concerns: list[str]) -> dict[str, Any]:
    referral = valid_referral(agency, today=TODAY)
    referral["children"] = list(children)
    referral["concerns"] = {"categories": concerns, "summary": "A concern described in the referrer's words."}
    return referral


def kid(age: int, voice: dict[str, Any] | None = None) -> dict[str, Any]:
    made = child(today=TODAY, age=age)
    if voice is not None:
        made["voice"] = voice
    return made


class Data:
    """Sends referrals and moves or decides them directly in the test database."""

    def __init__(self, client: TestClient, engine: sa.Engine) -> None:
        self.client = client
        self.engine = engine

    def send(self, org: Actor, referral: dict[str, Any], *, received: dt.datetime, due: dt.datetime) -> Case:
        response = self.client.post("/v1/referrals", json=referral, headers=org.headers)
        assert response.status_code == 201, response.text
        case = Case(id=uuid.UUID(response.json()["id"]))
        with session_scope(self.engine) as session:
            stored = session.get_one(Referral, case.id)
            stored.received_at, stored.decision_due_at = received, due
            # The copy intake keeps on each child of the time of receipt moves with it.
            session.execute(sa.update(Child).where(col(Child.referral_id) == case.id).values(received_at=received))
            children = session.execute(
                sa.select(Child.id).where(col(Child.referral_id) == case.id).order_by(col(Child.position))
            )
            case.children = list(children.scalars())
        return case

    def refuse(self, org: Actor, referral: dict[str, Any], *, when: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            before = set(session.execute(sa.select(RejectedSubmission.id)).scalars())
        assert self.client.post("/v1/referrals", json=referral, headers=org.headers).status_code == 422
        with session_scope(self.engine) as session:
            (new,) = set(session.execute(sa.select(RejectedSubmission.id)).scalars()) - before
            session.execute(sa.update(RejectedSubmission).where(col(RejectedSubmission.id) == new).values(at=when))
            session.execute(sa.update(RejectedRule).where(col(RejectedRule.submission_id) == new).values(at=when))

    def decide(
        self, case: Case, *, after: dt.timedelta, on_time: bool, outcomes: list[tuple[str, bool]], told: bool
    ) -> None:
        with session_scope(self.engine) as session:
            referral = session.get_one(Referral, case.id)
            referral.decided, referral.decided_on_time, referral.status = True, on_time, "decided"
            referral.decided_at = referral.received_at + after
            for child_id, (outcome, step_down) in zip(case.children, outcomes, strict=True):
                stored = session.get_one(Child, child_id)
                stored.outcome, stored.step_down = outcome, step_down
            referral.told = told
            if told:
                session.add(
                    FeedbackEvent(
                        referral_id=referral.id,
                        organisation_id=referral.organisation_id,
                        event="decision_made",
                        at=referral.decided_at,
                        message="Decided.",
                    )
                )


def zeros(names: list[str], **given: Any) -> dict[str, Any]:
    return {name: given.get(name, 0) for name in names}


AGENCIES = ["police", "health", "gp", "dental", "probation", "youth_justice", "school", "early_years", "housing",
            "local_authority", "voluntary", "other"]  # fmt: skip
OUTCOMES = ["no_further_action", "universal_services", "early_help", "section_17_assessment", "strategy_discussion",
            "immediate_protection"]  # fmt: skip


def summary(client: TestClient, manager: Actor, **params: str) -> dict[str, Any]:
    """The JSON summary for PARAMS (by default the data set's period), asserting it was given."""
    response = client.get("/v1/reports/summary", params=params or PERIOD, headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()
