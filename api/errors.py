"""Every error rendered once, as RFC 9457 problem details."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage.errors import FrontDoorError, Invalid

PROBLEM = "application/problem+json"
log = structlog.get_logger("api.errors")

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def title_for(status: int) -> str:
    """The title of a problem with STATUS."""
    return _TITLES.get(status, "Error")


def problem(
    *, status: int, detail: str, instance: str, slug: str | None = None, title: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug or status}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _instance(request: Request) -> str:
    return request.url.path


async def _front_door_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FrontDoorError)
    extra = dict(exc.extra)
    if isinstance(exc, Invalid):
        extra["errors"] = [p.as_dict() for p in exc.problems]
    headers_extra = {}
    if "retry_after" in extra:
        headers_extra["Retry-After"] = str(extra["retry_after"])
    response = problem(
        status=exc.status, detail=exc.detail, instance=_instance(request), slug=exc.type_slug, title=exc.title, **extra
    )
    response.headers.update(headers_extra)
    return response


# pydantic names the member of a union (`ActionIn | str`) inside an error's location; a body's keys are snake_case.
_UNION_MEMBER = re.compile(r"^(?:[A-Z][A-Za-z0-9]*|str|int|float|bool|function-[a-z]+\[.*\])$")


def _without_union_branches(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Errors located in the body, without pydantic's union members in their locations. Where one member of a
    union has a real problem (the value was an object with a bad field), the other members' complaints that the
    value is not of their type are left out."""
    located = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        members = [i for i, part in enumerate(loc) if isinstance(part, str) and _UNION_MEMBER.match(part)]
        site = loc[: members[0]] if members else None
        body_loc = tuple(part for i, part in enumerate(loc) if i not in members)
        located.append(({**error, "loc": body_loc}, site, str(error.get("type", "")).endswith("_type")))
    real = {site for _, site, mismatch in located if site is not None and not mismatch}
    return [error for error, site, mismatch in located if not (mismatch and site in real)]


def _pointer(loc: tuple[Any, ...]) -> tuple[str, str | None]:
    if loc and loc[0] == "body":
        return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in loc[1:]), None
    if len(loc) >= 2:
        return "", f"{loc[0]}:{loc[1]}"
    return "", None


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(
            status=400,
            detail="The body is not valid JSON; send a JSON object encoded in UTF-8.",
            instance=_instance(request),
            slug="malformed-json",
        )
    rendered = []
    for e in _without_union_branches(errors):
        pointer, parameter = _pointer(tuple(e.get("loc", ())))
        item = {"pointer": pointer, "code": str(e.get("type", "invalid")), "message": _prompt(e, parameter)}
        if parameter:
            item["parameter"] = parameter.split(":", 1)[1]
        rendered.append(item)
    return problem(
        status=422,
        detail="The request has problems to correct; each error says what to send.",
        instance=_instance(request),
        slug="validation",
        errors=rendered,
    )


def _prompt(error: dict[str, Any], parameter: str | None) -> str:
    where = f"the '{parameter.split(':', 1)[1]}' parameter" if parameter else "this field"
    kind = error.get("type")
    if kind == "missing":
        return f"Give {where}: it is required."
    if kind == "extra_forbidden":
        return f"Remove {where}: it is not part of this request. Check the spelling against the API documentation."
    return f"Correct {where}: {error.get('msg', 'the value is not valid')}."


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is nothing at this address."
    response = problem(status=exc.status_code, detail=detail, instance=_instance(request))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database_unavailable", error_class=type(exc).__name__)
    response = problem(
        status=503,
        detail="The service cannot reach its database just now; retry shortly. Nothing you sent has been stored.",
        instance=_instance(request),
        slug="unavailable",
    )
    response.headers["Retry-After"] = "5"
    return response


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa.exc.DBAPIError)
    # Whatever the driver called it, a connection that broke under the request means the database is away.
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected_error", error_class=type(exc).__name__)
    return problem(
        status=500,
        detail="Something went wrong on our side; it has been logged. Retry later.",
        instance=_instance(request),
        slug="internal",
    )


def install(app: FastAPI) -> None:
    """Register the handlers: one place turns every error into problem+json."""
    app.add_exception_handler(FrontDoorError, _front_door_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa.exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa.exc.InterfaceError, _database_unavailable)
    app.add_exception_handler(sa.exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(sa.exc.DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
