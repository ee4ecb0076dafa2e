"""Named errors the service raises; the API renders each as RFC 9457 problem details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission: where (a JSON Pointer), a stable code, and a prompt."""

    pointer: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "code": self.code, "message": self.message}


class FrontDoorError(Exception):
    """Base of every error the service means to tell a caller about."""

    status: int = 500
    title: str = "Internal error"
    type_slug: str = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotAuthenticated(FrontDoorError):
    status, title, type_slug = 401, "Not authenticated", "not-authenticated"


class NotAllowed(FrontDoorError):
    status, title, type_slug = 403, "Not allowed", "not-allowed"


class NotFound(FrontDoorError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(FrontDoorError):
    status, title, type_slug = 409, "Conflict", "conflict"


class BadRequest(FrontDoorError):
    status, title, type_slug = 400, "Bad request", "bad-request"


class Unavailable(FrontDoorError):
    status, title, type_slug = 503, "Service unavailable", "unavailable"


@dataclass
class Invalid(FrontDoorError):
    """A submission broke one or more rules; every problem is reported at once."""

    problems: list[Problem] = field(default_factory=list)
    summary: str = "The submission has problems to correct; each error says what to record."

    def __post_init__(self) -> None:
        FrontDoorError.__init__(self, self.summary)

    status = 422
    title = "Unprocessable content"
    type_slug = "validation"


class TooLarge(FrontDoorError):
    status, title, type_slug = 413, "Content too large", "content-too-large"
