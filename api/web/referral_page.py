"""The referral page's view model: what was sent, each child's voice and history, the work on it, its forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from api.web import forms, viewmodels
from api.web.forms import FormErrors
from api.web.routing import Staff
from schemas.enums import OUTCOME_RANK, Agency, Outcome, ReferralStatus
from schemas.tables import Referral
from triage import admin, feed, views
from triage.workflow.decisions import NEXT_STEPS

DECIDABLE = frozenset({ReferralStatus.in_triage, ReferralStatus.awaiting_information})
DONE_MESSAGES = {
    "claimed": "You now hold this referral.",
    "information_request": "Information request sent. The partner answers through the API; the answer appears here.",
    "decided": "Decision recorded. The referrer has been told.",
    "awaiting_approval": "Decision recorded. It is a step-down on a red referral, so it waits for a manager's "
    "approval before the referrer is told.",
    "strategy_discussion": "Strategy discussion recorded.",
    "approved": "Step-down approved. The referrer has been told.",
    "returned": "Decision returned to the practitioner with your comment.",
    "closed": "Referral closed. The referrer has been told.",
}


def child_model(child: dict[str, Any], index: int) -> dict[str, Any]:
    """One child as the page shows them: age, voice, rating and history, and their decision radios."""
    voice = child.get("voice") or {}
    heard = bool(voice.get("views"))
    recommended = child.get("triage", {}).get("pathway")
    recommended_rank = OUTCOME_RANK.get(Outcome(recommended), 0) if recommended in set(Outcome) else 0
    return {
        **child,
        "index": index,
        "name": forms.child_name(child),
        "age_text": _age_text(child),
        "voice_heard": heard,
        "voice": voice,
        "recommended": recommended,
        "recommended_rank": recommended_rank,
        "outcome_items": [
            {
                "value": str(outcome),
                "rank": OUTCOME_RANK[outcome],
                "step_down": OUTCOME_RANK[outcome] < recommended_rank,
            }
            for outcome in Outcome
        ],
    }


def _age_text(child: dict[str, Any]) -> str:
    if child.get("expected_date_of_birth"):
        return f"Unborn, expected {_day(child['expected_date_of_birth'])}"
    born = child.get("date_of_birth")
    if not born:
        return ""
    birth = dt.date.fromisoformat(born)
    today = dt.date.today()
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return f"Born {_day(born)} ({viewmodels.child_age(years)} old)" if years >= 1 else f"Born {_day(born)} (under 1)"


def _day(value: str) -> str:
    day = dt.date.fromisoformat(value[:10])
    return f"{day.day} {day:%B %Y}"


def context(
    *,
    session: Session,
    staff: Staff,
    referral: Referral,
    done: str | None = None,
    decision: dict[str, str] | None = None,
    decision_errors: FormErrors | None = None,
    request_values: dict[str, str] | None = None,
    request_errors: FormErrors | None = None,
    strategy_values: dict[str, str] | None = None,
    strategy_errors: FormErrors | None = None,
) -> dict[str, Any]:
    """Everything the referral page shows; reading the referral and its feedback is audited by triage."""
    view = views.read_referral(session=session, caller=staff.caller, referral=referral)
    feedback = feed.referral_feedback(session=session, caller=staff.caller, referral=referral)
    children = [child_model(child, index) for index, child in enumerate(view["children"])]
    decisions = view.get("decisions", [])
    people = viewmodels.staff_names(
        session,
        [view.get("assigned_to")]
        + [d.get("decided_by") for d in decisions]
        + [d.get("reviewed_by") for d in decisions]
        + [r.get("asked_by") for r in view.get("information_requests", [])]
        + [s.get("recorded_by") for s in view.get("strategy_discussions", [])],
    )
    holder = view.get("assigned_to")
    errors = [e for group in (decision_errors, request_errors, strategy_errors) if group for e in group.summary]
    return {
        "referral": view,
        "children": children,
        "children_by_id": {child["id"]: child for child in children},
        "people": people,
        "clock": viewmodels.clock(view["decision_due_at"]),
        "decided": view["status"] in (ReferralStatus.decided, ReferralStatus.closed),
        "holder": viewmodels.holder_text(holder, names=people, me=staff.id),
        "mine": holder == str(staff.id),
        "can_claim": holder is None and view["status"] not in (ReferralStatus.decided, ReferralStatus.closed),
        "can_release": holder is not None
        and view["status"] != ReferralStatus.awaiting_approval
        and (holder == str(staff.id) or staff.is_manager)
        and view["status"] not in (ReferralStatus.decided, ReferralStatus.closed),
        "can_decide": holder == str(staff.id) and view["status"] in DECIDABLE,
        "pending_decision": next((d for d in reversed(decisions) if d["state"] == "awaiting_approval"), None),
        "returned_decision": next((d for d in reversed(decisions) if d["state"] == "returned"), None),
        "feedback_events": feedback["items"],
        "next_steps": {str(outcome): text for outcome, text in NEXT_STEPS.items()},
        "organisations": admin.list_organisations(session=session),
        "agencies": [str(agency) for agency in Agency],
        "done_message": DONE_MESSAGES.get(done or ""),
        "errors": errors,
        "decision": decision or {},
        "decision_errors": (decision_errors or FormErrors()).fields,
        "request_values": request_values or {},
        "request_errors": (request_errors or FormErrors()).fields,
        "strategy_values": strategy_values or forms.strategy_defaults(),
        "strategy_errors": (strategy_errors or FormErrors()).fields,
        "participant_rows": range(forms.PARTICIPANT_ROWS),
    }


def decision_children(session: Session, referral: Referral) -> list[dict[str, Any]]:
    """The referral's children as the decision form numbers them: id, names and the rules' recommendation."""
    return [
        {
            "id": str(child.id),
            "first_name": child.first_name,
            "last_name": child.last_name,
            "triage": {"pathway": child.pathway},
        }
        for child in views.children_of(session, [referral.id])[referral.id]
    ]
