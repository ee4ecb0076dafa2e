"""Page routes: who is signed in, CSRF-checked forms, and errors shown as pages rather than problem+json."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfRefused,
    SignInRequired,
    WebSession,
    check_csrf,
    read_session,
    staff_user,
    write_session,
)
from api.web.templating import render
from schemas.enums import Role
from schemas.tables import StaffUser
from triage.auth import Caller, require_role, staff_caller
from triage.errors import FrontDoorError, Invalid

log = structlog.get_logger("api.pages")

ERROR_TITLES = {
    400: "There is a problem with the address",
    403: "You cannot do that",
    404: "Page not found",
    409: "Someone else got there first",
    422: "There is a problem",
    429: "Too many attempts",
}


@dataclass(frozen=True)
class Staff:
    """The member of staff signed in to this page request."""

    user: StaffUser
    caller: Caller
    web: WebSession

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def is_manager(self) -> bool:
        return self.caller.role in (Role.manager, Role.admin)


def _signed_in(request: Request, db: Session, *, activity: bool) -> Staff:
    web = read_session(request)
    user = staff_user(db=db, session=web) if web else None
    if user is None or web is None:
        raise SignInRequired
    if activity:
        # Re-signing the cookie restarts the idle timeout; automatic refreshes do not count as activity.
        request.state.web_session = web
    db.commit()  # end the lookup's transaction, as the API's caller dependency does
    return Staff(user=user, caller=staff_caller(user), web=web)


def signed_in(request: Request, db: SessionDep) -> Staff:
    """The signed-in member of staff (otherwise a 303 to the sign-in page)."""
    return _signed_in(request, db, activity=True)


def signed_in_polling(request: Request, db: SessionDep) -> Staff:
    """The signed-in member of staff, for automatic refreshes that must not keep an idle session alive."""
    return _signed_in(request, db, activity=False)


StaffPage = Annotated[Staff, Depends(signed_in)]
StaffPolling = Annotated[Staff, Depends(signed_in_polling)]


def manager_page(staff: StaffPage) -> Staff:
    """A signed-in manager or admin (403 page otherwise)."""
    require_role(staff.caller, Role.manager, Role.admin)
    return staff


ManagerPage = Annotated[Staff, Depends(manager_page)]


async def checked_form(request: Request) -> FormData:
    """The posted form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    submitted = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    check_csrf(read_session(request), submitted if isinstance(submitted, str) else None)
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def see_other(url: str) -> RedirectResponse:
    """A 303 after a form post, so a refresh never posts twice."""
    return RedirectResponse(url, status_code=303)


def _sign_in_redirect(request: Request) -> Response:
    target = "/sign-in"
    if request.method == "GET" and request.url.path not in ("/", "/sign-in"):
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(wanted, safe="")
    if request.headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load, instead of swapping the sign-in page into a table.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return see_other(target)


def error_page(request: Request, *, status: int, detail: str, problems: list[str] | None = None) -> Response:
    """An error as a page in the service's layout."""
    return render(
        request,
        "error.html",
        web_session=read_session(request),
        status_code=status,
        title=ERROR_TITLES.get(status, "Sorry, there is a problem with the service"),
        detail=detail,
        problems=problems or [],
    )


class PageRoute(APIRoute):
    """A page route: refreshes the session cookie, and turns refusals into pages and redirects."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                return _sign_in_redirect(request)
            except CsrfRefused:
                log.info("csrf_refused", route=self.path)
                return error_page(
                    request,
                    status=403,
                    detail="The form had expired or did not come from this service. "
                    "Go back, reload the page and try again.",
                )
            except RequestValidationError:
                return error_page(request, status=404, detail="Check the address of the page.")
            except Invalid as invalid:
                return error_page(
                    request,
                    status=invalid.status,
                    detail=invalid.detail,
                    problems=[p.message for p in invalid.problems],
                )
            except FrontDoorError as exc:
                return error_page(request, status=exc.status, detail=exc.detail)
            web = getattr(request.state, "web_session", None)
            if isinstance(web, WebSession) and response.status_code < 500:
                write_session(response, web)
            response.headers.setdefault("cache-control", "no-store")
            return response

        return page_handler
