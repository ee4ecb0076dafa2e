"""The decision form by keyboard alone; a referral that carries markup shows it as text; forms need their token."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from schemas.enums import Role
from tests.conftest import Actor, LiveServer
from tests.ui.conftest import screenshot
from tests.ui.support import PASSWORD, TODAY, add_staff, send_referral
from tests.validation_cases import valid_referral

HOSTILE = (
    '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'
    "<b>Father</b> shouted at the children & threw a plate."
)


def _signed_in_page(server: LiveServer, new_page: Callable[..., Any], email: str) -> Any:
    page = new_page(server.base_url)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/queue$"))
    return page


def _tab_to(page: Any, element_id: str, *, limit: int = 300) -> None:
    """Press Tab until the element has focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_the_decision_form_works_by_keyboard_alone(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], new_page: Callable[..., Any]
) -> None:
    server = live_server_factory()
    police = make_org("police")
    practitioner = add_staff(Role.practitioner)
    with server.client() as api:
        sent = send_referral(api, police.headers, valid_referral("police", today=TODAY))  # amber: section 17
        assert api.post(f"/v1/referrals/{sent['id']}/claim", headers=practitioner.headers).status_code == 200
    page = _signed_in_page(server, new_page, practitioner.email)
    page.goto(f"/referrals/{sent['id']}")

    # Into the outcome radios: Space chooses the first; arrow keys move the choice down to early help.
    _tab_to(page, "outcomes-0-outcome")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Early help", exact=True)).to_be_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "outcomes-0-rationale"
    page.keyboard.type("Mother has asked for help with routines; no sign of harm to the child.")
    # A step-down: the override reason is the very next stop for the keyboard.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "outcomes-0-override_reason"
    page.keyboard.type("The school will support attendance and the family accepts early help.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "feedback"
    page.keyboard.type("Thank you. The family has been offered early help.")
    # Past the details summary to the button, and Enter submits.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Record decision"
    page.keyboard.press("Enter")
    expect(page.get_by_text("Decision recorded. The referrer has been told.")).to_be_visible()
    expect(page.locator("#decision")).to_contain_text("Early help: a step-down from section 17 assessment")
    expect(page.locator("#referrer-feedback [data-feedback-event=decision_made]")).to_contain_text(
        "The family has been offered early help."
    )
    screenshot(page, "referral-decided")
    assert page.script_errors == []


def test_markup_in_a_referral_shows_as_text_and_a_form_without_its_token_is_refused(
    live_server_factory: Callable[..., LiveServer], make_org: Callable[..., Actor], new_page: Callable[..., Any]
) -> None:
    server = live_server_factory()
    police = make_org("police")
    practitioner = add_staff(Role.practitioner)
    body = valid_referral("police", today=TODAY)
    body["concerns"]["summary"] = HOSTILE
    body["children"][0]["voice"]["views"] = '<script>window.__xss = 3</script> "I am scared at home"'
    with server.client() as api:
        sent = send_referral(api, police.headers, body)
    page = _signed_in_page(server, new_page, practitioner.email)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/referrals/{sent['id']}")

    summary = page.locator("#what-was-sent p.app-preformatted")
    expect(summary).to_have_text(HOSTILE)
    expect(page.locator(".app-child-voice__words")).to_contain_text("<script>window.__xss = 3</script>")
    assert page.locator("main script, main img, #what-was-sent b").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    screenshot(page, "referral-with-markup")
    assert page.script_errors == []

    # The browser's own session cookie, but no CSRF token: refused, and nothing is claimed.
    refused = page.request.post(f"/referrals/{sent['id']}/claim", form={})
    assert refused.status == 403
    assert "did not come from this service" in refused.text()
    forged = page.request.post(f"/referrals/{sent['id']}/claim", form={"csrf_token": "forged"})
    assert forged.status == 403
    page.reload()
    expect(page.get_by_role("button", name="Claim this referral")).to_be_visible()
