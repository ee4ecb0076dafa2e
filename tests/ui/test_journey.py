"""The practitioner's whole journey in a real browser, against a real server."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from schemas.enums import Role
from tests.conftest import Actor, LiveServer
from tests.ui.conftest import check_accessibility, screenshot
from tests.ui.support import PASSWORD, TODAY, add_staff, send_referral
from tests.validation_cases import valid_referral


def _sign_in(page: Any, email: str) -> None:
    page.goto("/queue")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fqueue$"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/queue$"))


def test_sign_in_claim_read_history_ask_decide_and_sign_out(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], new_page: Callable[..., Any]
) -> None:
    server = live_server_factory()
    police, health = make_org("police"), make_org("health")
    practitioner = add_staff(Role.practitioner, name="Priya Practitioner")
    with server.client() as api:
        earlier = valid_referral("police", today=TODAY)
        earlier["concerns"] = {
            "categories": ["neglect"],
            "summary": "Children left alone overnight; no food in the house.",
        }
        first = send_referral(api, police.headers, earlier)
        send_referral(api, police.headers, valid_referral("police", today=TODAY))  # amber, already waiting
        # The same child again, now with a disclosure of sexual abuse: red, and matched to the earlier referral.
        urgent = copy.deepcopy(earlier)
        urgent["concerns"] = {
            "categories": ["sexual_abuse", "neglect"],
            "indicators": ["disclosure_by_child"],
            "summary": "The child told her teacher that a family friend touches her when mum is out.",
        }
        red = send_referral(api, police.headers, urgent)

    page = new_page(server.base_url)
    # The browser's timers run on a clock the test can move on, to see the queue refresh itself.
    page.clock.install()
    page.goto("/sign-in")
    screenshot(page, "sign-in")
    check_accessibility(page, "sign-in")
    _sign_in(page, practitioner.email)

    # The new red referral is at the top of the queue.
    first_row = page.locator("#queue-table tbody tr").first
    expect(first_row).to_contain_text(red["reference"])
    expect(first_row).to_contain_text("Red")
    expect(first_row).to_contain_text("Unassigned")
    screenshot(page, "queue")
    check_accessibility(page, "queue")

    # Filtered to red, the queue refreshes itself every 30 seconds and keeps the filter.
    page.get_by_label("RAG").select_option("red")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/queue\?rag=red"))
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)
    with server.client() as api:
        danger = valid_referral("police", today=TODAY)
        danger["immediate_danger"] = True
        newer_red = send_referral(api, police.headers, danger)
        send_referral(api, police.headers, valid_referral("police", today=TODAY))
    page.clock.fast_forward("00:31")
    expect(page.locator("#queue-table tbody tr")).to_have_count(2)
    expect(page.locator("#queue-table")).to_contain_text(newer_red["reference"])
    first_row = page.locator("#queue-table tbody tr").first
    expect(first_row).to_contain_text(red["reference"])  # due first: received first

    # Claim it from its row.
    first_row.get_by_role("button", name=f"Claim {red['reference']}").click()
    expect(page).to_have_url(re.compile(f"/referrals/{red['id']}"))
    expect(page.get_by_text("You now hold this referral.")).to_be_visible()

    # Read the history: the child's voice and the earlier referral are beside the decision.
    expect(page.locator(".app-child-voice__words").first).to_contain_text("when Dad has been drinking")
    history = page.locator("#child-0 table")
    expect(history).to_contain_text(first["reference"])
    expect(history).to_contain_text("Neglect")
    expect(page.locator("#child-0")).to_contain_text("Sexual abuse is a concern")
    screenshot(page, "referral")
    check_accessibility(page, "referral")

    # Ask the health partner a question.
    page.get_by_label("Partner organisation").select_option(str(health.id))
    page.get_by_label("Question").fill(
        "Has the family's GP practice recorded any concerns about the children this year?"
    )
    page.get_by_role("button", name="Send information request").click()
    expect(page.get_by_text("Information request sent.")).to_be_visible()
    expect(page.locator("#information-requests")).to_contain_text("Has the family's GP practice recorded")
    expect(page.locator("#information-requests")).to_contain_text("Waiting")

    # Decide with a step-down: the override reason appears, and is demanded.
    override = page.locator("#outcomes-0-override_reason")
    expect(override).to_be_hidden()
    page.get_by_label("Early help", exact=True).check()
    expect(override).to_be_visible()
    page.get_by_label("Why this outcome for").fill("The family friend no longer visits; mum acted at once.")
    page.get_by_label("What the referrer will be told").fill(
        "Thank you. The family will be offered early help support; we will contact the school."
    )
    page.get_by_role("button", name="Record decision").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("enter the override reason")
    screenshot(page, "referral-decision-errors")
    check_accessibility(page, "referral with errors")
    summary.get_by_role("link").first.click()
    expect(override).to_be_focused()
    override.fill("Mum has stopped all contact with the family friend and police are investigating him.")
    page.get_by_role("button", name="Record decision").click()

    # A red step-down waits for a manager; the page shows what the referrer will then be told.
    expect(page.get_by_text("waits for a manager's approval before the referrer is told").first).to_be_visible()
    feedback = page.locator("#referrer-feedback")
    expect(feedback).to_contain_text("When a manager approves the step-down, the referrer will be told")
    expect(feedback).to_contain_text("The family will be offered early help support")
    screenshot(page, "referral-awaiting-approval")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=1$"))
    page.goto(f"/referrals/{red['id']}")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    assert page.script_errors == []
