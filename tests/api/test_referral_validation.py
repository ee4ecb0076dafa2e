"""Every validation rule through the HTTP API: 422 problem+json, the pointer, and a prompt to act on."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.tables import Referral
from tests.conftest import Actor
from tests.validation_cases import (
    CASES,
    MULTI_PROBLEM_AGENCY,
    MULTI_PROBLEM_EXPECTED,
    MULTI_PROBLEM_MUTATE,
    TODAY_FOR_CASES,
    valid_referral,
)

PROMPT_VERBS = ("Record", "Give", "Say", "Add", "Remove", "Choose", "Use", "Check", "Tell", "Enter", "Explain")


@pytest.fixture
def orgs(make_org: Callable[..., Actor]) -> Callable[[str], Actor]:
    made: dict[str, Actor] = {}

    def get(agency: str) -> Actor:
        if agency not in made:
            made[agency] = make_org(agency)
        return made[agency]

    return get


def _is_prompt(message: str) -> bool:
    return len(message) >= 40 and message.split()[0] in PROMPT_VERBS and message != "Field required"


@pytest.mark.parametrize(("case_id", "agency", "mutate", "pointer", "code"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_is_a_422_with_pointer_and_prompt(
    client: TestClient,
    orgs: Callable[[str], Actor],
    engine: sa.Engine,
    case_id: str,
    agency: str,
    mutate: Callable[[dict[str, Any]], None],
    pointer: str,
    code: str,
) -> None:
    body = valid_referral(agency, today=TODAY_FOR_CASES)
    mutate(body)
    response = client.post("/v1/referrals", json=body, headers=orgs(agency).headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["instance"] == "/v1/referrals"
    matching = [e for e in problem["errors"] if e["pointer"] == pointer and e["code"] == code]
    assert matching, f"{case_id}: expected {code} at {pointer}, got {problem['errors']}"
    assert _is_prompt(matching[0]["message"]), matching[0]["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Referral)).scalar_one() == 0


def test_every_problem_is_reported_at_once(client: TestClient, orgs: Callable[[str], Actor]) -> None:
    body = valid_referral(MULTI_PROBLEM_AGENCY, today=TODAY_FOR_CASES)
    MULTI_PROBLEM_MUTATE(body)
    response = client.post("/v1/referrals", json=body, headers=orgs(MULTI_PROBLEM_AGENCY).headers)
    assert response.status_code == 422
    found = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert set(MULTI_PROBLEM_EXPECTED) <= found


@pytest.mark.parametrize(
    "agency",
    [
        "police",
        "health",
        "gp",
        "dental",
        "probation",
        "youth_justice",
        "school",
        "early_years",
        "housing",
        "local_authority",
        "voluntary",
        "other",
    ],
)
def test_a_valid_referral_from_each_agency_is_accepted(
    client: TestClient, orgs: Callable[[str], Actor], agency: str
) -> None:
    body = valid_referral(agency, today=TODAY_FOR_CASES)
    response = client.post("/v1/referrals", json=copy.deepcopy(body), headers=orgs(agency).headers)
    assert response.status_code == 201, response.text


def test_a_refused_submission_changes_nothing_already_accepted(
    client: TestClient, orgs: Callable[[str], Actor]
) -> None:
    police = orgs("police")
    accepted = client.post(
        "/v1/referrals", json=valid_referral("police", today=TODAY_FOR_CASES), headers=police.headers
    ).json()
    before = client.get(f"/v1/referrals/{accepted['id']}", headers=police.headers).json()
    bad = valid_referral("police", today=TODAY_FOR_CASES)
    del bad["children"][0]["voice"]
    assert (
        client.post("/v1/referrals", json=bad, headers={**police.headers, "Idempotency-Key": "k1"}).status_code == 422
    )
    after = client.get(f"/v1/referrals/{accepted['id']}", headers=police.headers).json()
    assert before == after
