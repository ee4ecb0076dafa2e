"""A manager's pages in a real browser: approving a red step-down, the dashboard and its CSV, and the rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from schemas.enums import Role
from tests.conftest import Actor, LiveServer
from tests.ui.conftest import check_accessibility, screenshot
from tests.ui.support import PASSWORD, TODAY, add_staff, send_referral
from tests.validation_cases import valid_referral


def _red_step_down(api: Any, police: Actor, practitioner: Any) -> dict[str, Any]:
    body = valid_referral("police", today=TODAY)
    body["immediate_danger"] = True
    sent = send_referral(api, police.headers, body)
    assert api.post(f"/v1/referrals/{sent['id']}/claim", headers=practitioner.headers).status_code == 200
    view = api.get(f"/v1/referrals/{sent['id']}", headers=practitioner.headers).json()
    decision = {
        "outcomes": [
            {
                "child_id": child["id"],
                "outcome": "early_help",
                "rationale": "Father has left the home and mother is engaging with support.",
                "override_reason": "Police confirm the father is in custody; no current risk in the home.",
            }
            for child in view["children"]
        ],
        "feedback": "Thank you for your referral. The family will be offered early help support.",
    }
    response = api.post(f"/v1/referrals/{sent['id']}/decision", json=decision, headers=practitioner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "awaiting_approval"
    return sent


def test_manager_approves_a_step_down_then_reads_the_dashboard_and_the_rules(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], new_page: Callable[..., Any]
) -> None:
    server = live_server_factory()
    police = make_org("police")
    practitioner = add_staff(Role.practitioner, name="Priya Practitioner")
    manager = add_staff(Role.manager, name="Morgan Manager")
    with server.client() as api:
        returned = _red_step_down(api, police, practitioner)
        approved = _red_step_down(api, police, practitioner)
        send_referral(api, police.headers, valid_referral("police", today=TODAY))

    page = new_page(server.base_url)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(manager.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Approvals").click()
    expect(page.locator(f"#approval-{approved['id']}-heading")).to_contain_text(approved["reference"])
    expect(page.locator("main")).to_contain_text("Police confirm the father is in custody")
    screenshot(page, "approvals")
    check_accessibility(page, "approvals")

    # Returning needs a comment; the error links to the comment box of that referral.
    section = page.locator("section", has=page.locator(f"#approval-{returned['id']}-heading"))
    section.get_by_role("button", name="Return to practitioner").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("reconsider")
    page.locator(".govuk-error-summary a").first.click()
    comment = page.locator(f"#comment-{returned['id']}")
    expect(comment).to_be_focused()
    comment.fill("Check with the school how the children presented this week before stepping down.")
    section = page.locator("section", has=page.locator(f"#approval-{returned['id']}-heading"))
    section.get_by_role("button", name="Return to practitioner").click()
    expect(page.get_by_text("Decision returned to the practitioner")).to_be_visible()

    page.get_by_role("button", name=f"Approve step-down for {approved['reference']}").click()
    expect(page.get_by_text("Step-down approved. The referrer has been told.")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No step-downs are waiting for approval.")

    # The referrer is now told the decision.
    page.goto(f"/referrals/{approved['id']}")
    told = page.locator("#referrer-feedback [data-feedback-event=decision_made]")
    expect(told).to_contain_text("The family will be offered early help support.")
    expect(told).to_contain_text("Early help")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("main h1")).to_have_text("Dashboard")
    headlines = page.locator(".app-headlines")
    expect(headlines).to_contain_text("Referrals received")
    expect(page.locator("#chart-outcomes-title + svg")).to_be_visible()
    screenshot(page, "dashboard")
    check_accessibility(page, "dashboard")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these figures as CSV").click()
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert csv_text.startswith("section,measure,breakdown,value")
    assert re.search(r"^volume,referrals,,3\r?$", csv_text, re.M)

    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"/dashboard\?from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d$"))
    page.get_by_label("From (first day)").fill("2026-12-31")
    page.get_by_label("To (last day, included)").fill("2026-01-01")
    page.get_by_role("button", name="Show this period").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("earlier than")

    page.get_by_role("link", name="Rules").click()
    expect(page.locator("main")).to_contain_text("Sexual abuse is a concern")
    screenshot(page, "rules")
    check_accessibility(page, "rules")
    assert page.script_errors == []
