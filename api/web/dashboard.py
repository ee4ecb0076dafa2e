"""The managers' dashboard: the leaders' summary figures as headline numbers, SVG bar charts and tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api.web.charts import bar_chart, percentage
from api.web.forms import FormErrors
from api.web.templating import LONDON
from triage.errors import Problem
from triage.reports import Period, Summary

# Quick choices of period, in days up to today.
PRESETS = (("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Last 12 months", 365))
PERIOD_FIELDS = {"report_from_invalid": "from", "report_to_invalid": "to", "report_range_invalid": "from"}


def presets(today: dt.date | None = None) -> list[dict[str, str]]:
    """Links for the usual periods, ending today (London)."""
    today = today or dt.datetime.now(LONDON).date()
    return [
        {"text": text, "from": (today - dt.timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
        for text, days in PRESETS
    ]


def period_errors(problems: list[Problem]) -> FormErrors:
    """The report period's problems against the period fields."""
    errors = FormErrors()
    for problem in problems:
        errors.add(PERIOD_FIELDS.get(problem.code, "from"), problem.message)
    return errors


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def period_values(period: Period) -> dict[str, str]:
    """The period's first and last days (London), for the period fields."""
    last = period.ends - dt.timedelta(microseconds=1)
    return {
        "from": period.starts.astimezone(LONDON).date().isoformat(),
        "to": last.astimezone(LONDON).date().isoformat(),
    }


def _non_zero(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


def _week_labels(weeks: dict[str, Any]) -> dict[str, str]:
    labels = {}
    for monday in weeks:
        day = dt.date.fromisoformat(monday)
        labels[monday] = f"Week of {day.day} {day:%b %Y}"
    return labels


def context(summary: Summary) -> dict[str, Any]:
    """What the dashboard shows for one period."""
    s = summary.sections
    volume, timeliness, outcomes = s["volume"], s["timeliness"], s["outcomes"]
    quality, neglect, feedback, re_referrals = s["referral_quality"], s["neglect"], s["feedback"], s["re_referrals"]
    median = timeliness["median_hours_to_decision"]
    headlines = [
        {
            "label": "Referrals received",
            "value": f"{volume['referrals']:,}",
            "note": f"{volume['children']:,} children",
        },
        {
            "label": "Decided on time",
            "value": percentage(timeliness["share_decided_on_time"]),
            "note": f"{timeliness['decided_on_time']:,} of {timeliness['due']:,} due",
        },
        {
            "label": "Median time to decision",
            "value": "\u2013" if median is None else f"{median:.1f} hours",
            "note": f"{timeliness['decided']:,} decided",
        },
        {
            "label": "Overdue now",
            "value": f"{timeliness['overdue_now']:,}",
            "note": f"{timeliness['undecided_now']:,} waiting for a decision",
        },
        {
            "label": "Converted to assessment or strategy discussion",
            "value": percentage(outcomes["share_converted"]),
            "note": f"of {outcomes['children_decided']:,} children decided",
        },
        {
            "label": "Stepped down from the rules",
            "value": percentage(outcomes["share_stepped_down"]),
            "note": _count(outcomes["stepped_down"], "child", "children"),
        },
        {
            "label": "Re-referred within 12 months",
            "value": percentage(re_referrals["share_re_referred"]),
            "note": f"{re_referrals['re_referred_within_12_months']:,} of {re_referrals['children']:,} children",
        },
        {
            "label": "Accepted first time",
            "value": percentage(quality["share_accepted_first_time"]),
            "note": _count(quality["rejected"], "submission") + " refused",
        },
        {
            "label": "Child's voice heard",
            "value": percentage(quality["share_voice_heard"]),
            "note": f"{quality['voice_heard']:,} of {quality['children']:,} children",
        },
        {
            "label": "Referrer told the decision",
            "value": percentage(feedback["share_told_decision"]),
            "note": f"{feedback['referrers_told_decision']:,} of {feedback['referrals_decided']:,} decided",
        },
    ]
    agencies = sorted(
        {*_non_zero(volume["referrals_by_agency"]), *_non_zero(quality["rejected_by_agency"])},
        key=list(volume["referrals_by_agency"]).index,
    )
    return {
        "period": summary.period,
        "generated_at": summary.generated_at,
        "headlines": headlines,
        "charts": {
            "weeks": bar_chart(
                "Referrals received each week",
                volume["referrals_by_week"],
                labels=_week_labels(volume["referrals_by_week"]),
            ),
            "agencies": bar_chart("Referrals by referring agency", _non_zero(volume["referrals_by_agency"])),
            "concerns": bar_chart("Referrals by concern", _non_zero(volume["referrals_by_concern"])),
            "timeliness": bar_chart(
                "Decisions against the clock",
                {
                    "decided_on_time": timeliness["decided_on_time"],
                    "decided_late": timeliness["decided_late"],
                    "overdue_now": timeliness["overdue_now"],
                },
                labels={"decided_on_time": "Decided on time", "decided_late": "Decided late"},
            ),
            "outcomes": bar_chart("Children by outcome", outcomes["children_by_outcome"]),
            "conversion": bar_chart(
                "Converted to assessment or strategy discussion, by referring agency",
                {k: v for k, v in outcomes["share_converted_by_agency"].items() if v is not None},
                percent=True,
            ),
            "rejected": bar_chart("Submissions refused, by agency", _non_zero(quality["rejected_by_agency"])),
            "voice": bar_chart(
                "Children whose voice was not heard, by reason", _non_zero(quality["voice_not_heard_by_reason"])
            ),
            "neglect": bar_chart("Children in neglect referrals, by age band", neglect["children_by_age_band"]),
        },
        "quality_rows": [
            {
                "agency": agency,
                "accepted": volume["referrals_by_agency"].get(agency, 0),
                "rejected": quality["rejected_by_agency"].get(agency, 0),
            }
            for agency in agencies
        ],
        "rejected_by_rule": quality["rejected_by_rule"],
        "conversion_rows": [
            {
                "agency": agency,
                "decided": decided,
                "converted": outcomes["converted_by_agency"].get(agency, 0),
                "share": percentage(outcomes["share_converted_by_agency"].get(agency)),
            }
            for agency, decided in outcomes["children_decided_by_agency"].items()
            if decided
        ],
        "neglect": neglect,
    }
