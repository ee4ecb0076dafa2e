"""Helpers for the feedback and webhook tests: send and emit, follow the feed, walk the workflow."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import FeedbackEventKind
from schemas.tables import FeedbackEvent, Referral
from tests.api.workflow_support import claim, decide, refer
from tests.conftest import Actor
from tests.validation_cases import valid_referral
from triage import feed, feedback
from triage.db import get_engine, session_scope

TODAY = dt.date.today()


def settle(engine: sa.Engine) -> None:
    """Wait until the feed may show every committed event.

    On PostgreSQL the feed holds an event back while any older transaction in its database is still
    running, and parallel test workers share the database server: a moment's wait, never a gap.
    """
    if engine.dialect.name != "postgresql":
        return
    probe = sa.select(sa.func.coalesce(sa.func.max(FeedbackEvent.tx_id), 0) < feed.horizon())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(probe).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError("an older transaction kept the feed waiting for 15 s")


def send(client: TestClient, actor: Actor) -> dict[str, Any]:
    """Send a valid referral as ACTOR; its acknowledgement."""
    body = valid_referral(actor.agency or "police", today=TODAY)
    response = client.post("/v1/referrals", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    settle(get_engine())
    return dict(response.json())


def emit(engine: sa.Engine, referral_id: str, kind: FeedbackEventKind, *, outcomes: Any = None, times: int = 1) -> int:
    """Write events as the workflow does, through feedback.emit in one committed unit of work; the last id."""
    with session_scope(engine) as session:
        referral = session.get_one(Referral, uuid.UUID(referral_id))
        message = f"{referral.reference}: {kind}"
        for _ in range(times):
            row = feedback.emit(session=session, referral=referral, event=kind, message=message, outcomes=outcomes)
    settle(engine)
    assert row.id is not None
    return row.id


def poll(client: TestClient, actor: Actor, after: str | None = None, limit: int = 50) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["after"] = after
    response = client.get("/v1/feedback", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def drain(
    client: TestClient, actor: Actor, after: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """Follow next_cursor until the feed has nothing more; every item seen, and where to poll from next."""
    seen: list[dict[str, Any]] = []
    while True:
        page = poll(client, actor, after, limit)
        seen += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return seen, after


QUESTION = "Were the children seen at school this week, and did either of them say anything about home?"
FEEDBACK_TEXT = "A social worker will contact the family this week."


def journey(client: TestClient, org: Actor, practitioner: Actor) -> dict[str, Any]:
    """Send a referral, then claim, ask the referrer, decide and close it, as staff do."""
    sent = refer(client, org)
    claim(client, practitioner, sent["id"])
    asked = client.post(
        f"/v1/referrals/{sent['id']}/information-requests",
        json={"organisation_id": str(org.id), "question": QUESTION},
        headers=practitioner.headers,
    )
    assert asked.status_code == 201, asked.text
    decided = decide(client, practitioner, sent["id"], feedback=FEEDBACK_TEXT)
    assert decided.status_code == 201, decided.text
    closed = client.post(f"/v1/referrals/{sent['id']}/close", headers=practitioner.headers)
    assert closed.status_code == 200, closed.text
    settle(get_engine())
    return sent
