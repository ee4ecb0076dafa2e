"""Logs are structured JSON with a request id, and never carry a child's personal data."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.conftest import Actor, LiveServer
from tests.validation_cases import valid_referral


def _personal_values(body: dict[str, Any]) -> list[str]:
    values = [body["concerns"]["summary"], body["referrer"]["name"]]
    for child in body["children"]:
        values += [
            child["first_name"],
            child["last_name"],
            child["address"]["postcode"],
            child["address"]["line1"],
            child["voice"].get("views") or child["voice"]["explanation"],
        ]
        values += [child[k] for k in ("date_of_birth", "expected_date_of_birth", "nhs_number") if child.get(k)]
    return [v for v in values if v and len(v) >= 4]


def test_the_journey_leaves_no_personal_data_in_the_logs(
    live_server_factory: Any, make_org: Any, make_user: Any
) -> None:
    server: LiveServer = live_server_factory(workers=1, env={"LOG_LEVEL": "DEBUG"})
    police: Actor = make_org("police")
    practitioner: Actor = make_user("practitioner")
    body = valid_referral("police", today=dt.date.today())
    bad = valid_referral("police", today=dt.date.today())
    bad["children"][0]["voice"] = {"views": "n/a"}
    bad["children"][0]["nhs_number"] = "1234567890"
    with server.client(police) as partner, server.client(practitioner) as staff:
        created = partner.post("/v1/referrals", json=body, headers={"X-Request-ID": "journey-1"})
        assert created.status_code == 201
        referral_id = created.json()["id"]
        assert partner.post("/v1/referrals", json=bad).status_code == 422
        assert partner.get(f"/v1/referrals/{referral_id}").status_code == 200
        assert partner.get("/v1/referrals").status_code == 200
        assert staff.get(f"/v1/referrals/{referral_id}").status_code == 200
        for path in ("/v1/queue", f"/v1/referrals/{referral_id}/feedback", "/v1/feedback"):
            staff.get(path)
            partner.get(path)
        partner.post("/v1/referrals", content=b"{not json", headers={"Content-Type": "application/json"})
    log_text = server.log_path.read_text()
    lines = [line for line in log_text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # Everything the server process logs is JSON; the only plain text is the operator's start-up hint.
    assert all(
        "admin bootstrap" in line or line.startswith(("No admin", "    ")) for line in lines if not line.startswith("{")
    )
    requests = [r for r in records if r.get("event") == "request"]
    assert len(requests) >= 8
    assert all(r.get("request_id") for r in requests)
    assert any(r["request_id"] == "journey-1" for r in requests)
    for value in _personal_values(body) + _personal_values(bad) + ["1234567890"]:
        assert value not in log_text, f"a personal value reached the log: {value[:3]}..."
