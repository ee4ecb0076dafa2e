"""The Jinja environment of the pages: GOV.UK Frontend macros, our templates, and display filters."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape

from api.web.session import CSRF_FIELD, WebSession

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
LONDON = ZoneInfo("Europe/London")

# Words staff read instead of the controlled values' spelling.
LABELS = {
    "gp": "GP",
    "fgm": "FGM",
    "nhs_number": "NHS number",
    "local_authority": "Local authority children's social care",
    "section_17_assessment": "Section 17 assessment (child in need)",
    "strategy_discussion": "Strategy discussion (section 47)",
    "immediate_protection": "Immediate protection",
    "no_further_action": "No further action",
    "child_sexual_exploitation": "Child sexual exploitation",
    "child_criminal_exploitation": "Child criminal exploitation",
    "pre_verbal": "Pre-verbal",
    "seen_not_spoken_to": "Seen, not spoken to",
    "unsafe_to_ask": "Unsafe to ask",
    "in_triage": "In triage",
    "awaiting_information": "Awaiting information",
    "awaiting_approval": "Awaiting approval",
    "red": "Red",
    "amber": "Amber",
    "green": "Green",
}
RAG_TAG_CLASSES = {"red": "govuk-tag--red", "amber": "govuk-tag--orange", "green": "govuk-tag--green"}


def label(value: Any) -> str:
    """A controlled value as words ("early_help" -> "Early help")."""
    if value is None:
        return ""
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").capitalize())


def as_london(value: Any) -> dt.datetime | None:
    """A stored time (or ISO text) in Europe/London."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(LONDON)
    return None


def when(value: Any) -> str:
    """A time as staff read it: "Tue 1 Dec 2026, 14:05"."""
    moment = as_london(value)
    if moment is None:
        return str(value) if isinstance(value, dt.date) else ""
    return f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M}"


def day(value: Any) -> str:
    """A date as "1 December 2026"."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = as_london(value) or value
    return f"{value.day} {value:%B %Y}"


def duration(seconds: float) -> str:
    """A span of time in hours and minutes ("3 hours 5 minutes", "45 minutes")."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if mins or not parts:
        parts.append(f"{mins} minute{'s' if mins != 1 else ''}")
    return " ".join(parts[:2])


@lru_cache
def environment() -> Environment:
    """The one Jinja environment, with autoescaping on for every template."""
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(TEMPLATES_DIR),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(label=label, when=when, day=day, duration=duration)
    env.globals.update(rag_tag_class=lambda rag: RAG_TAG_CLASSES.get(str(rag), "govuk-tag--grey"))
    return env


def render(
    request: Request,
    template: str,
    *,
    web_session: WebSession | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page rendered with what every page needs: the CSRF field, the signed-in user and the current path."""
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            csrf_field=CSRF_FIELD,
            csrf_token=web_session.csrf_token if web_session else "",
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)
