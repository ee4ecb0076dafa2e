"""Opaque cursors for keyset pagination: a page never skips or repeats a row as data changes."""

from __future__ import annotations

import base64
import json
from typing import Any

from triage.errors import Invalid, Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor holding the sort key of the last row of a page."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor(parameter: str = "cursor") -> Invalid:
    """The 422 for a cursor this service did not issue (or whose values do not fit the list it is for)."""
    return Invalid(
        problems=[
            Problem(
                pointer="",
                code="cursor_invalid",
                message=f"Use the next_cursor value from the previous page exactly as given, or leave {parameter} out.",
            )
        ],
        summary="The cursor is not one this service issued.",
    )


def decode_cursor(cursor: str | None, *, size: int, parameter: str = "cursor") -> list[Any] | None:
    """The sort key inside CURSOR; 422 when it was not made by this service."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(values, list) and len(values) == size:
            return values
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid_cursor(parameter)
