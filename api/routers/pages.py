"""The staff web pages: sign in, the queue, a referral, approvals, the dashboard and the rules."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from starlette.staticfiles import StaticFiles

from api.deps import SessionDep
from api.routers.reports import SUMMARY_COLUMNS, csv_chunks
from api.web import dashboard, forms, referral_page, sign_in, viewmodels
from api.web.forms import FormErrors
from api.web.routing import (
    CheckedForm,
    ManagerPage,
    PageRoute,
    Staff,
    StaffPage,
    StaffPolling,
    see_other,
)
from api.web.templating import render
from schemas.types import utc_now
from triage import access, reports
from triage.errors import Conflict, FrontDoorError, Invalid, NotAllowed
from triage.workflow import claims, decisions, information_requests, queue, rules_admin, strategy

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["pages"])

STATIC = StaticFiles(directory=Path(__file__).resolve().parent.parent / "static", check_dir=False)
QUEUE_FILTERS = ("rag", "status", "assigned", "overdue")


def page(request: Request, template: str, staff: Staff, status_code: int = 200, **context: Any) -> Response:
    """A page for a signed-in member of staff."""
    return render(request, template, web_session=staff.web, status_code=status_code, staff=staff, **context)


@router.get("/static/{path:path}")
async def static_file(path: str, request: Request) -> Response:
    response = await STATIC.get_response(path, request.scope)
    response.headers["cache-control"] = "public, max-age=300"
    return response


@router.get("/")
def home() -> Response:
    return see_other("/queue")


# --- signing in and out


@router.get("/sign-in")
def sign_in_page(request: Request, session: SessionDep, next: Annotated[str | None, Query()] = None) -> Response:
    return sign_in.page(request=request, session=session, next_url=next)


@router.post("/sign-in")
def sign_in_form(request: Request, session: SessionDep, form: CheckedForm) -> Response:
    return sign_in.submit(request=request, session=session, form=form)


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, form: CheckedForm) -> Response:
    return sign_in.sign_out(request=request, session=session)


# --- the queue


def _queue_filters(request: Request) -> dict[str, str]:
    return {k: v for k in QUEUE_FILTERS if (v := request.query_params.get(k, "").strip())}


def _queue_context(request: Request, session: SessionDep, staff: Staff) -> dict[str, Any]:
    filters = _queue_filters(request)
    cursor = request.query_params.get("cursor") or None
    found = queue.queue_page(
        session=session,
        caller=staff.caller,
        status=filters.get("status"),
        rag=filters.get("rag"),
        assigned=filters.get("assigned"),
        overdue=True if filters.get("overdue") == "true" else None,
        cursor=cursor,
        limit=50,
    )
    names = viewmodels.staff_names(session, (item.get("assigned_to") for item in found["items"]))
    return {
        "rows": viewmodels.queue_rows(found["items"], names=names, me=staff.id),
        "filters": filters,
        "filter_query": urlencode(filters),
        "cursor": cursor,
        "next_cursor": found["next_cursor"],
        "now": utc_now(),
    }


@router.get("/queue")
def queue_view(request: Request, session: SessionDep, staff: StaffPage) -> Response:
    return page(request, "queue.html", staff, **_queue_context(request, session, staff))


@router.get("/queue/rows")
def queue_rows(request: Request, session: SessionDep, staff: StaffPolling) -> Response:
    return page(request, "partials/queue_rows.html", staff, **_queue_context(request, session, staff))


@router.post("/referrals/{referral_id}/claim")
def claim(referral_id: uuid.UUID, session: SessionDep, staff: StaffPage, form: CheckedForm) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    claims.claim(session=session, caller=staff.caller, referral=referral)
    return see_other(f"/referrals/{referral_id}?done=claimed")


@router.post("/referrals/{referral_id}/release")
def release(referral_id: uuid.UUID, session: SessionDep, staff: StaffPage, form: CheckedForm) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    claims.release(session=session, caller=staff.caller, referral=referral)
    return see_other("/queue")


# --- one referral


def _referral_page(
    request: Request,
    session: SessionDep,
    staff: Staff,
    referral_id: uuid.UUID,
    *,
    status_code: int = 200,
    **forms_state: Any,
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    found = referral_page.context(session=session, staff=staff, referral=referral, **forms_state)
    return page(request, "referral.html", staff, status_code=status_code, **found)


def _refused(session: SessionDep, conflict: FrontDoorError) -> FormErrors:
    """A refusal (someone else holds it, the state moved on) shown at the top of the page, after undoing the work."""
    session.rollback()
    errors = FormErrors()
    errors.add("main-content", conflict.detail)
    return errors


@router.get("/referrals/{referral_id}")
def referral_view(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: StaffPage, done: str | None = None
) -> Response:
    return _referral_page(request, session, staff, referral_id, done=done)


@router.post("/referrals/{referral_id}/decision")
def decide(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: StaffPage, form: CheckedForm
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    children = referral_page.decision_children(session, referral)
    errors = FormErrors()
    posted = forms.parse_decision(form, children, errors)
    try:
        result = decisions.decide(
            session=session,
            caller=staff.caller,
            referral=referral,
            outcomes=posted.outcomes,
            feedback_text=posted.feedback,
        )
    except Invalid as invalid:
        forms.add_problems(
            errors,
            invalid.problems,
            renumber={"outcomes": posted.rows},
            messages=forms.decision_messages(children, posted.values),
        )
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
        return _referral_page(
            request, session, staff, referral_id, status_code=409, decision=posted.values, decision_errors=errors
        )
    if errors:
        session.rollback()
        return _referral_page(
            request, session, staff, referral_id, status_code=422, decision=posted.values, decision_errors=errors
        )
    done = "awaiting_approval" if result["state"] == "awaiting_approval" else "decided"
    return see_other(f"/referrals/{referral_id}?done={done}#decision")


@router.post("/referrals/{referral_id}/close")
def close(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: StaffPage, form: CheckedForm
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    try:
        decisions.close(session=session, caller=staff.caller, referral=referral)
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
        return _referral_page(request, session, staff, referral_id, status_code=409, decision_errors=errors)
    return see_other(f"/referrals/{referral_id}?done=closed#decision")


@router.post("/referrals/{referral_id}/information-requests")
def ask(referral_id: uuid.UUID, request: Request, session: SessionDep, staff: StaffPage, form: CheckedForm) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    errors = FormErrors()
    posted = forms.parse_information_request(form, errors)
    try:
        information_requests.ask(
            session=session,
            caller=staff.caller,
            referral=referral,
            # An organisation not chosen is already an error; triage still checks the rest, so all show at once.
            organisation_id=posted.organisation_id or uuid.UUID(int=0),
            question=posted.question,
            due_at=posted.due_at,
        )
    except Invalid as invalid:
        forms.add_problems(errors, invalid.problems, anchors={"due_at": "due-day"})
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
        return _referral_page(
            request, session, staff, referral_id, status_code=409, request_values=posted.values, request_errors=errors
        )
    if errors:
        session.rollback()
        return _referral_page(
            request, session, staff, referral_id, status_code=422, request_values=posted.values, request_errors=errors
        )
    return see_other(f"/referrals/{referral_id}?done=information_request#information-requests")


@router.post("/referrals/{referral_id}/strategy-discussion")
def record_strategy_discussion(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: StaffPage, form: CheckedForm
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    errors = FormErrors()
    posted = forms.parse_strategy(form, errors)
    try:
        strategy.record(
            session=session,
            caller=staff.caller,
            referral=referral,
            # A date that did not parse is already an error; a placeholder lets triage report everything else.
            held_at=posted.held_at or utc_now(),
            participants=posted.participants,
            safety_plan=posted.safety_plan,
            actions=posted.actions,
        )
    except Invalid as invalid:
        forms.add_problems(errors, forms.strategy_problems(invalid.problems), renumber={"participants": posted.rows},
                           anchors=forms.STRATEGY_ANCHORS)  # fmt: skip
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
    if errors:
        session.rollback()
        return _referral_page(
            request, session, staff, referral_id, status_code=422, strategy_values=posted.values, strategy_errors=errors
        )
    return see_other(f"/referrals/{referral_id}?done=strategy_discussion#strategy-discussion")


# --- managers: approvals and the dashboard


def _approvals_page(
    request: Request, session: SessionDep, staff: Staff, *, status_code: int = 200, **state: Any
) -> Response:
    waiting = queue.queue_page(session=session, caller=staff.caller, status="awaiting_approval", limit=200)
    approvals = viewmodels.approvals(session, waiting["items"], me=staff.id)
    state.setdefault("comment_values", {})
    state.setdefault("field_errors", {})
    return page(request, "approvals.html", staff, status_code=status_code, approvals=approvals, **state)


@router.get("/approvals")
def approvals_view(request: Request, session: SessionDep, staff: ManagerPage, done: str | None = None) -> Response:
    return _approvals_page(request, session, staff, done_message=referral_page.DONE_MESSAGES.get(done or ""))


@router.post("/referrals/{referral_id}/approve")
def approve(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: ManagerPage, form: CheckedForm
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    try:
        decisions.approve(session=session, caller=staff.caller, referral=referral)
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
        return _approvals_page(request, session, staff, status_code=409, errors=errors.summary)
    return see_other("/approvals?done=approved")


@router.post("/referrals/{referral_id}/return")
def return_decision(
    referral_id: uuid.UUID, request: Request, session: SessionDep, staff: ManagerPage, form: CheckedForm
) -> Response:
    referral = access.get_referral(session=session, caller=staff.caller, referral_id=referral_id)
    comment = forms.text(form, "comment")
    field = f"comment-{referral_id}"
    try:
        decisions.return_to_practitioner(session=session, caller=staff.caller, referral=referral, comment=comment)
    except Invalid as invalid:
        session.rollback()
        errors = FormErrors()
        for problem in invalid.problems:
            errors.add(field, problem.message)
        return _approvals_page(
            request, session, staff, status_code=422, errors=errors.summary, field_errors=errors.fields,
            comment_values={field: comment},
        )  # fmt: skip
    except (Conflict, NotAllowed) as refusal:
        errors = _refused(session, refusal)
        return _approvals_page(request, session, staff, status_code=409, errors=errors.summary)
    return see_other("/approvals?done=returned")


def _period(request: Request) -> tuple[dict[str, str], Any]:
    values = {k: v for k in ("from", "to") if (v := request.query_params.get(k, "").strip())}
    return values, reports.report_period(starts=values.get("from"), ends=values.get("to"), now=utc_now())


@router.get("/dashboard")
def dashboard_view(request: Request, session: SessionDep, staff: ManagerPage) -> Response:
    errors = FormErrors()
    try:
        asked, period = _period(request)
        shown = dashboard.period_values(period)
    except Invalid as invalid:
        errors = dashboard.period_errors(invalid.problems)
        asked, shown = {}, dict(request.query_params)
        period = reports.report_period(starts=None, ends=None, now=utc_now())
    summary = reports.summary(session=session, caller=staff.caller, period=period)
    return page(
        request,
        "dashboard.html",
        staff,
        status_code=422 if errors else 200,
        period_values=shown,
        period_errors=errors.fields,
        errors=errors.summary,
        presets=dashboard.presets(),
        # The download asks for the same period as the page (the default period when none was chosen).
        csv_query=urlencode(asked),
        **dashboard.context(summary),
    )


@router.get("/dashboard.csv")
def dashboard_csv(request: Request, session: SessionDep, staff: ManagerPage) -> Response:
    _values, period = _period(request)
    summary = reports.summary(session=session, caller=staff.caller, period=period)
    body = "".join(csv_chunks(SUMMARY_COLUMNS, summary.rows()))
    days = f"{period.starts.date().isoformat()}-{period.ends.date().isoformat()}"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="mash-summary-{days}.csv"'},
    )


# --- the rules


@router.get("/rules")
def rules_view(request: Request, session: SessionDep, staff: StaffPage) -> Response:
    active = rules_admin.active(session=session)
    versions = rules_admin.version_list(session=session)["items"]
    people = viewmodels.staff_names(session, (v.get("created_by") for v in versions))
    return page(request, "rules.html", staff, active=active, versions=versions, people=people)
