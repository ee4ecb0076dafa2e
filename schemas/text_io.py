"""What every inbound body shares: text without the NUL character, which no text column can keep."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

NUL = "\x00"


def holds_nul(value: Any) -> bool:
    """Whether VALUE, or any text nested in it (keys too), contains U+0000."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


class TextIn(BaseModel):
    """Base of the request bodies: a NUL in any text is refused (422) where it is, instead of failing the write.

    PostgreSQL cannot store U+0000 in text or JSON, so without this a body holding one would get a 500 there
    and be stored on SQLite. The OpenAPI description says so once, for every body.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if holds_nul(value):
            raise PydanticCustomError("text_nul", "remove the NUL character (\\u0000): text cannot hold it")
        return value
