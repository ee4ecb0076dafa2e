"""The audit trail covers every consultation, collection, alteration and disclosure of a referral (DPA 2018 s.62):
a referral's whole journey through HTTP, each step leaving rows that say who, when, what and why."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import AuditEvent, Child
from tests.api.feedback_support import settle
from tests.api.records_support import STRATEGY
from tests.api.webhook_support import Receiver, event_of, running, settled, subscribe, workers
from tests.api.workflow_support import body as referral_body
from tests.api.workflow_support import outcomes_as_recommended
from tests.conftest import Actor

SENT = 201


@dataclass(frozen=True)
class Expect:
    """An audit row a step must leave: what was done to which record, by whom and why."""

    action: str
    entity_id: str | None
    actor: Actor | None  # None: the service itself (a webhook delivery)
    purpose: str
    entity: str = "referral"


class Trail:
    """Reads the audit rows each step of the journey adds."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.failures: list[str] = []

    def _last_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0))).scalar_one())

    @contextmanager
    def step(self, name: str) -> Iterator[list[Expect]]:
        """Run a step, which lists the rows it expects; then check each appeared, stamped within the step, with a
        purpose and its actor named, and that no row of the step lacks a purpose."""
        mark, started = self._last_id(), dt.datetime.now(dt.UTC)
        expected: list[Expect] = []
        yield expected
        finished = dt.datetime.now(dt.UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(AuditEvent).where(AuditEvent.id > mark).order_by(AuditEvent.id)).all()
        for row in rows:
            if not row.purpose:
                self.failures.append(f"{name}: {row.action} on {row.entity} {row.entity_id} says no purpose")
            if not started - dt.timedelta(seconds=1) <= row.at <= finished + dt.timedelta(seconds=1):
                self.failures.append(f"{name}: {row.action} stamped {row.at}, outside the step")
        for want in expected:
            found = [
                row
                for row in rows
                if (row.action, row.entity, row.entity_id) == (want.action, want.entity, want.entity_id)
                and row.purpose == want.purpose
                and row.actor_id == (want.actor.id if want.actor else None)
            ]
            if not found:
                seen = [(r.action, r.entity, r.entity_id, r.actor_id, r.purpose) for r in rows]
                who = want.actor.id if want.actor else "the service"
                self.failures.append(
                    f"{name}: no {want.action} of {want.entity} {want.entity_id} by {who} for {want.purpose!r}"
                    f" among {seen}"
                )
                continue
            row = found[0]
            if want.actor is None:
                ok = row.actor_kind == "system"
            elif want.actor.role == Role.referrer:
                ok = row.actor_kind == "organisation" and row.organisation_id == want.actor.id
                ok = ok and row.role == "referrer" and row.request_id is not None
            else:
                ok = row.actor_kind == "user" and row.role == str(want.actor.role) and row.request_id is not None
            if not ok:
                self.failures.append(f"{name}: {want.action} names its actor wrongly: {row}")


def child_ids(engine: sa.Engine, referral_id: str) -> list[str]:
    with engine.connect() as conn:
        stmt = sa.select(Child.id).where(Child.referral_id == uuid.UUID(referral_id)).order_by(Child.position)
        return [str(value) for value in conn.execute(stmt).scalars()]


def test_every_read_change_and_disclosure_of_a_referral_is_audited(
    client: TestClient, engine: sa.Engine, make_org: Callable[..., Actor], make_user: Callable[..., Actor]
) -> None:
    police, health = make_org("police"), make_org("health")
    practitioner, manager = make_user(Role.practitioner), make_user(Role.manager)
    trail = Trail(engine)

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def get(actor: Actor, path: str, **params: Any) -> Any:
        return ok(client.get(path, params=params, headers=actor.headers))

    def post(actor: Actor, path: str, body: Any = None, status: int = 200) -> Any:
        return ok(client.post(path, json=body, headers=actor.headers), status)

    with running(Receiver()) as receiver:
        subscribe(client, police, receiver, events=["decision_made"])
        first_body = referral_body("amber")
        earlier = post(police, "/v1/referrals", first_body, SENT)["id"]
        again = referral_body("amber")
        again["children"] = first_body["children"]

        # Collection: a second referral about the same child, so its staff view shows the first as history.
        with trail.step("intake") as expect:
            referral_id = post(police, "/v1/referrals", again, SENT)["id"]
            expect.append(Expect("create", referral_id, police, "referral received"))
        child_id = child_ids(engine, referral_id)[0]

        # Consultation by the referrer: the referral and the list of its referrals.
        with trail.step("partner reads its referral") as expect:
            get(police, f"/v1/referrals/{referral_id}")
            expect.append(Expect("read", referral_id, police, "referrer following up its referral"))
        with trail.step("partner lists its referrals") as expect:
            get(police, "/v1/referrals")
            expect += [Expect("list", r, police, "referrer following up its referral") for r in (referral_id, earlier)]

        # Consultation by staff: the queue (each referral shown, and the read itself), the staff view (with the
        # earlier referral shown as the child's history), and the child's chronology.
        with trail.step("queue") as expect:
            get(practitioner, "/v1/queue")
            expect += [Expect("list", r, practitioner, "triage queue") for r in (referral_id, earlier)]
            expect.append(Expect("read_queue", None, practitioner, "triage queue", entity="queue"))
        with trail.step("empty queue page") as expect:
            assert get(practitioner, "/v1/queue", rag="red")["items"] == []
            expect.append(Expect("read_queue", None, practitioner, "triage queue", entity="queue"))
        with trail.step("staff view") as expect:
            get(practitioner, f"/v1/referrals/{referral_id}")
            expect.append(Expect("read", referral_id, practitioner, "safeguarding triage"))
            expect.append(Expect("read_history", earlier, practitioner, "safeguarding triage"))
        with trail.step("chronology") as expect:
            get(practitioner, f"/v1/children/{child_id}/history")
            expect += [Expect("read_history", r, practitioner, "safeguarding triage") for r in (referral_id, earlier)]

        # Alteration by staff, and information shared by a partner.
        with trail.step("claim") as expect:
            post(practitioner, f"/v1/referrals/{referral_id}/claim")
            expect.append(Expect("claim", referral_id, practitioner, "safeguarding triage"))
        with trail.step("information request") as expect:
            question = {"organisation_id": str(health.id), "question": "Is the family registered with your service?"}
            request_id = post(practitioner, f"/v1/referrals/{referral_id}/information-requests", question, SENT)["id"]
            expect.append(
                Expect("information_requested", referral_id, practitioner, "information sharing with the MASH")
            )
        with trail.step("partner reads the request") as expect:
            get(health, "/v1/information-requests", status="open")
            expect.append(Expect("list_information_requests", referral_id, health, "information sharing with the MASH"))
        with trail.step("partner answers") as expect:
            answer = {"response": "Registered since 2019; both children were seen in March."}
            post(health, f"/v1/information-requests/{request_id}/response", answer)
            expect.append(Expect("information_answered", referral_id, health, "information sharing with the MASH"))
        with trail.step("strategy discussion") as expect:
            held = {"held_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(), **STRATEGY}
            post(practitioner, f"/v1/referrals/{referral_id}/strategy-discussion", held, SENT)
            expect.append(Expect("strategy_discussion", referral_id, practitioner, "safeguarding triage"))
        with trail.step("decision") as expect:
            view = get(practitioner, f"/v1/referrals/{referral_id}")
            decision = {"outcomes": outcomes_as_recommended(view), "feedback": "A social worker will call the family."}
            post(practitioner, f"/v1/referrals/{referral_id}/decision", decision, SENT)
            expect.append(Expect("decide", referral_id, practitioner, "safeguarding triage"))
        settle(engine)

        # Disclosure, pulled: the referrer polls its feed and the referral's own feedback.
        with trail.step("feed") as expect:
            assert referral_id in {item["referral_id"] for item in get(police, "/v1/feedback")["items"]}
            expect += [Expect("read_feedback", r, police, "feedback to the referrer") for r in (referral_id, earlier)]
        with trail.step("referral feedback") as expect:
            get(police, f"/v1/referrals/{referral_id}/feedback")
            expect.append(Expect("read_feedback", referral_id, police, "feedback to the referrer"))

        # Disclosure, pushed: the decision is delivered by webhook, and the partner follows the link with its key.
        with trail.step("webhook delivery") as expect:
            with workers(engine):
                receiver.wait_for(settled(engine, 1))
            [delivery] = receiver.deliveries
            assert event_of(delivery) == "decision_made"
            expect.append(Expect("disclose", referral_id, None, "feedback to the referrer"))
        with trail.step("partner follows the webhook") as expect:
            get(police, urlsplit(delivery.payload["data"]["url"]).path)
            get(police, f"/v1/referrals/{delivery.payload['data']['referral_id']}")
            expect.append(Expect("read_feedback", referral_id, police, "feedback to the referrer"))
            expect.append(Expect("read", referral_id, police, "referrer following up its referral"))

        # A manager closes it: an alteration too.
        with trail.step("close") as expect:
            post(manager, f"/v1/referrals/{referral_id}/close")
            expect.append(Expect("close", referral_id, manager, "safeguarding triage"))

    assert not trail.failures, "\n".join(trail.failures)
    # The disclosure says what went to whom, and that the receiver took it.
    with engine.connect() as conn:
        [detail] = conn.execute(sa.select(AuditEvent.detail).where(AuditEvent.action == "disclose")).scalars()
    assert detail["to_organisation_id"] == str(police.id) and detail["event"] == "decision_made"
    assert detail["via"] == "webhook" and detail["status"] == 204 and detail["attempt"] == 1
