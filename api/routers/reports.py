"""Reports for leaders (the performance summary) and the Children in Need census items, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.deps import ManagerDep, SessionDep
from schemas.types import utc_now
from triage import reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])

SUMMARY_COLUMNS = ("section", "measure", "breakdown", "value")
CSV = "text/csv"
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="First day (YYYY-MM-DD, Europe/London) or instant (ISO 8601 with offset). "
        "Default: 30 days before `to`.",
    ),
]
ToQuery = Annotated[
    str | None,
    Query(description="Last day, included (YYYY-MM-DD, Europe/London), or instant excluded. Default: now."),
]
AcceptHeader = Annotated[str | None, Header(description="`text/csv` for CSV; JSON otherwise.")]

SUMMARY_EXAMPLE = {
    "period": {"from": "2026-10-31T00:00:00+00:00", "to": "2026-11-30T00:00:00+00:00"},
    "generated_at": "2026-11-30T08:00:00+00:00",
    "volume": {"referrals": 412, "children": 590, "referrals_by_agency": {"police": 121, "school": 74}},
    "timeliness": {"share_decided_on_time": 0.91, "median_hours_to_decision": 6.5, "overdue_now": 3},
    "outcomes": {"children_decided": 570, "share_converted": 0.38, "share_stepped_down": 0.07},
    "re_referrals": {"children": 590, "re_referred_within_12_months": 131, "share_re_referred": 0.222},
    "referral_quality": {"share_accepted_first_time": 0.87, "share_voice_heard": 0.78},
    "neglect": {"referrals": 140, "children_by_age_band": {"unborn": 4, "0-1": 21, "2-6": 48}},
    "feedback": {"referrals_decided": 400, "referrers_told_decision": 400, "share_told_decision": 1.0},
}
SUMMARY_CSV_EXAMPLE = (
    "section,measure,breakdown,value\r\nvolume,referrals,,412\r\nvolume,referrals_by_agency,police,121\r\n"
    "neglect,children_by_age_band_and_outcome,0-1/early_help,6\r\n"
)
CIN_CSV_EXAMPLE = (
    ",".join(reports.CIN_COLUMNS) + "\r\n4b0f...,9c2e...,0d1a...,MASH-2026-000123,2026-04-02,6,Police,true\r\n"
)


def prefers_csv(accept: str | None) -> bool:
    """Whether the Accept header ranks text/csv above JSON."""
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    csv_weight = weights.get(CSV, 0.0)
    return csv_weight > 0 and csv_weight > weights.get("application/json", 0.0)


def csv_chunks(header: Iterable[str], rows: Iterable[Iterable[Any]], *, rows_per_chunk: int = 1000) -> Iterator[str]:
    """CSV text (RFC 4180) in chunks of many rows, so a long export streams without one write per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(["" if value is None else value for value in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _attachment(name: str, period: reports.Period) -> dict[str, str]:
    days = f"{period.starts.date().isoformat()}-{period.ends.date().isoformat()}"
    return {"Content-Disposition": f'attachment; filename="{name}-{days}.csv"'}


@router.get(
    "/summary",
    summary="What leaders need to see: volume, timeliness, outcomes, re-referrals, quality, neglect, feedback",
    description="Every figure is for the referrals received in the period, counted by the database. Shares are "
    "fractions (0 to 1), null when there is nothing to divide. `Accept: text/csv` gives the same figures, one "
    "row each (section, measure, breakdown, value).",
    responses={
        200: {
            "description": "The figures",
            "content": {"application/json": {"example": SUMMARY_EXAMPLE}, CSV: {"example": SUMMARY_CSV_EXAMPLE}},
        },
        422: {"description": "The period cannot be read, or 'from' is not before 'to'"},
    },
)
def get_summary(
    session: SessionDep, caller: ManagerDep, from_: FromQuery = None, to: ToQuery = None, accept: AcceptHeader = None
) -> Response:
    period = reports.report_period(starts=from_, ends=to, now=utc_now())
    summary = reports.summary(session=session, caller=caller, period=period)
    if prefers_csv(accept):
        body = "".join(csv_chunks(SUMMARY_COLUMNS, summary.rows()))
        return Response(body, media_type=f"{CSV}; charset=utf-8", headers=_attachment("summary", period))
    return JSONResponse(summary.as_json())


@router.get(
    "/cin-referrals",
    summary="Children in Need census: one row per child per referral received in the period (CSV)",
    description="The referral-level items of the annual return: the child (named by their first record here), "
    "the referral date (Europe/London), the census referral source and whether the child was referred within "
    "the 12 months before. Streamed, oldest first.",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The census items", "content": {CSV: {"example": CIN_CSV_EXAMPLE}}},
        422: {"description": "The period cannot be read, or 'from' is not before 'to'"},
    },
)
def get_cin_referrals(
    session: SessionDep, caller: ManagerDep, from_: FromQuery = None, to: ToQuery = None
) -> StreamingResponse:
    period = reports.report_period(starts=from_, ends=to, now=utc_now())
    items = reports.cin_referrals(session=session, caller=caller, period=period)
    return StreamingResponse(
        csv_chunks(reports.CIN_COLUMNS, items),
        media_type=f"{CSV}; charset=utf-8",
        headers=_attachment("cin-referrals", period),
    )
