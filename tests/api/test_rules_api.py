"""Rule sets over the API: read, validate with a dry run, and activate a new version that rates new referrals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import AuditEvent, RuleSet
from schemas.types import utc_now
from tests.api.workflow_support import body, refer, staff_view
from tests.conftest import Actor, LiveServer
from triage import intake
from triage.auth import Caller
from triage.db import get_engine, session_scope

# Housing concerns now call for early help; neglect and immediate danger rate as before.
VERSION_2 = """\
name: Local thresholds with housing early help
rules:
  - id: immediate-danger
    description: The referrer says the child is in immediate danger.
    when: immediate_danger
    level: 4
    rag: red
    pathway: immediate_protection
  - id: neglect
    description: Neglect is a concern.
    when: "'neglect' in concerns"
    level: 3
    rag: amber
    pathway: section_17_assessment
  - id: housing-need
    description: Housing is a concern; the family is offered early help.
    when: "'housing' in concerns"
    level: 2
    rag: green
    pathway: early_help
  - id: universal
    description: Universal services are open to every child.
    when: "true"
    level: 1
    rag: green
    pathway: universal_services
examples:
  - name: housing is early help
    facts: {concerns: [housing]}
    expect: {level: 2, rag: green, pathway: early_help, rules: [housing-need, universal]}
  - name: nothing is universal
    expect: {level: 1, rag: green, pathway: universal_services}
"""
YAML = {"Content-Type": "application/yaml"}


def headers(actor: Actor, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**actor.headers, **(extra or {})}


def test_the_active_rules_and_their_versions_can_be_read(client: TestClient, practitioner: Actor) -> None:
    rules = client.get("/v1/rules", headers=practitioner.headers)
    assert rules.status_code == 200
    active = rules.json()
    assert active["version"] == 1 and active["name"]
    by_id = {rule["id"]: rule for rule in active["rules"]}
    assert set(by_id["protection-plan"]) >= {"id", "description", "level", "rag", "pathway", "when"}
    assert (by_id["protection-plan"]["level"], by_id["protection-plan"]["rag"]) == (4, "red")
    assert by_id["protection-plan"]["when"] == "child.current_plan == 'child_protection'"
    versions = client.get("/v1/rules/versions", headers=practitioner.headers).json()["items"]
    assert [(v["version"], v["active"]) for v in versions] == [(1, True)]


def test_problems_come_back_with_their_line_numbers(client: TestClient, manager: Actor) -> None:
    broken = VERSION_2.replace("when: \"'neglect' in concerns\"", "when: \"'neglekt' in concerns\"")
    broken = broken.replace("    level: 2\n", "    level: 7\n")
    response = client.post("/v1/rules/validate", content=broken, headers=headers(manager, YAML))
    assert response.status_code == 200
    result = response.json()
    assert result["valid"] is False and result["dry_run"] is None
    lines = broken.splitlines()
    by_path = {p["path"]: p for p in result["problems"]}
    assert "neglekt" in lines[by_path["/rules/1/when"]["line"] - 1]
    assert "level: 7" in lines[by_path["/rules/2/level"]["line"] - 1]
    unreadable = client.post("/v1/rules/validate", json={"source": "rules: [\n"}, headers=manager.headers)
    assert unreadable.json()["valid"] is False and unreadable.json()["problems"][0]["line"]


def test_failing_examples_are_listed(client: TestClient, manager: Actor) -> None:
    wrong = VERSION_2.replace(
        "expect: {level: 2, rag: green, pathway: early_help", "expect: {level: 3, rag: green, pathway: early_help"
    )
    result = client.post(
        "/v1/rules/validate", content=wrong, headers=headers(manager, {"Content-Type": "text/plain"})
    ).json()
    assert result["valid"] is False and result["problems"] == []
    [failure] = result["examples"]
    assert "housing is early help" in failure and "expected level 3" in failure


def _send_backdated(org: Actor, days: int) -> None:
    sent = body("green")
    sent["children"][0]["voice"]["recorded_on"] = (dt.date.today() - dt.timedelta(days=days + 5)).isoformat()
    caller = Caller(key_id=org.key_id, role=Role.referrer, organisation_id=org.id, agency=org.agency)
    with session_scope(get_engine()) as session:
        intake.submit(
            session=session, caller=caller, body=sent, idempotency_key=None, now=utc_now() - dt.timedelta(days=days)
        )


def test_the_dry_run_counts_the_ratings_that_would_change_over_30_days(
    client: TestClient, police: Actor, manager: Actor
) -> None:
    refer(client, police, "green")
    refer(client, police, "green")
    refer(client, police, "amber")
    refer(client, police, "red")
    _send_backdated(police, days=45)
    result = client.post("/v1/rules/validate", json={"source": VERSION_2}, headers=manager.headers).json()
    assert result["valid"] is True and result["problems"] == [] and result["examples"] == []
    dry = result["dry_run"]
    assert (dry["referrals_considered"], dry["children_considered"]) == (4, 4)
    assert (dry["changed"], dry["raised"], dry["lowered"], dry["referrals_changed"]) == (2, 2, 0, 2)
    assert dry["by_rule"]["housing-need"] == {"fired_before": 0, "fired_after": 2}
    assert dry["by_rule"]["universal"] == {"fired_before": 4, "fired_after": 4}
    assert dry["by_rule"]["additional-needs"]["fired_after"] == 0
    # Validating stores nothing.
    assert client.get("/v1/rules", headers=manager.headers).json()["version"] == 1


def test_a_rule_set_that_cannot_rate_recent_children_is_not_valid(
    client: TestClient, police: Actor, manager: Actor
) -> None:
    refer(client, police, "green")
    neglect_only = VERSION_2.split("  - id: housing-need")[0] + (
        "examples:\n  - name: neglect\n    facts: {concerns: [neglect]}\n"
        "    expect: {level: 3, rag: amber, pathway: section_17_assessment}\n"
    )
    result = client.post("/v1/rules/validate", json={"source": neglect_only}, headers=manager.headers).json()
    assert result["valid"] is False and result["dry_run"]["could_not_rate"] == 1
    assert "could not rate 1" in result["problems"][0]["message"]
    refused = client.post("/v1/rules", json={"source": neglect_only}, headers=manager.headers)
    assert refused.status_code == 422


def test_a_new_version_rates_new_referrals_while_old_ratings_keep_theirs(
    client: TestClient, police: Actor, manager: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    old = refer(client, police, "green")["id"]
    assert client.post("/v1/rules", content=VERSION_2, headers=headers(practitioner, YAML)).status_code == 403
    stored = client.post("/v1/rules", content=VERSION_2, headers=headers(manager, YAML))
    assert stored.status_code == 201, stored.text
    assert stored.json()["version"] == 2 and stored.json()["active"] is True
    assert stored.json()["dry_run"]["raised"] == 1
    assert client.get("/v1/rules", headers=practitioner.headers).json()["version"] == 2
    versions = client.get("/v1/rules/versions", headers=practitioner.headers).json()["items"]
    assert [(v["version"], v["active"]) for v in versions] == [(2, True), (1, False)]
    assert versions[0]["created_by"] == str(manager.id)
    new = refer(client, police, "green")["id"]
    new_view, old_view = staff_view(client, practitioner, new), staff_view(client, practitioner, old)
    assert new_view["triage"]["rule_set_version"] == 2
    assert (new_view["triage"]["level"], new_view["triage"]["pathway"]) == (2, "early_help")
    assert [r["rule_id"] for r in new_view["children"][0]["triage"]["reasons"]] == ["housing-need", "universal"]
    assert old_view["triage"]["rule_set_version"] == 1
    assert (old_view["triage"]["level"], old_view["triage"]["pathway"]) == (1, "universal_services")
    with engine.connect() as conn:
        audited = conn.execute(
            sa.select(AuditEvent.actor_id, AuditEvent.entity_id).where(AuditEvent.action == "activate")
        ).all()
    assert [(row.actor_id, row.entity_id) for row in audited] == [(manager.id, "2")]


def test_an_invalid_version_is_refused_and_nothing_changes(
    client: TestClient, admin_user: Actor, engine: sa.Engine
) -> None:
    wrong = VERSION_2.replace("rag: green, pathway: early_help, rules", "rag: amber, pathway: early_help, rules")
    refused = client.post("/v1/rules", json={"source": wrong}, headers=admin_user.headers)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["errors"][0]["code"] == "rule_set_example_failed" and problem["examples"]
    broken = client.post("/v1/rules", content="name: x\nrules: []\n", headers=headers(admin_user, YAML))
    assert broken.status_code == 422 and broken.json()["problems"][0]["line"] == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RuleSet)).scalar_one() == 1
    assert client.get("/v1/rules", headers=admin_user.headers).json()["version"] == 1


def test_the_body_must_be_yaml_or_json_with_the_source(client: TestClient, manager: Actor) -> None:
    xml = client.post(
        "/v1/rules/validate", content="<rules/>", headers=headers(manager, {"Content-Type": "application/xml"})
    )
    assert xml.status_code == 400
    empty: dict[str, Any] = {}
    missing = client.post("/v1/rules/validate", json=empty, headers=manager.headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["pointer"] == "/source"


def test_every_server_process_rates_with_the_new_version_once_it_is_active(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], make_user: Callable[..., Actor]
) -> None:
    server = live_server_factory(workers=2)
    police, manager = make_org("police"), make_user(Role.manager)
    with server.client(police) as partner, server.client(manager) as staff:
        # Both processes rate (and cache version 1) before the change.
        before = [partner.post("/v1/referrals", json=body("green")).json()["id"] for _ in range(4)]
        assert staff.post("/v1/rules", content=VERSION_2, headers=YAML).status_code == 201
        after = [partner.post("/v1/referrals", json=body("green")).json()["id"] for _ in range(6)]
        versions = {
            rid: staff.get(f"/v1/referrals/{rid}").json()["triage"]["rule_set_version"] for rid in before + after
        }
    assert [versions[rid] for rid in before] == [1] * 4
    assert [versions[rid] for rid in after] == [2] * 6
