"""The summary's figures arranged by section, from the database's counts; the same figures as CSV rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from triage.reports.counts import (
    AGE_BANDS,
    AGENCIES,
    CONCERNS,
    OUTCOMES,
    REASONS,
    UNDECIDED,
    Counts,
    known_first,
)
from triage.reports.grouping import Grouped
from triage.reports.period import Period

SECTIONS = ("volume", "timeliness", "outcomes", "re_referrals", "referral_quality", "neglect", "feedback")


def share(part: int, whole: int) -> float | None:
    """PART as a fraction of WHOLE to four places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


class _Reader:
    """Reads the database's counts, zero where it found no rows, with every known value present."""

    def __init__(self, grouped: Grouped) -> None:
        self.grouped = grouped

    def total(self, measure: str) -> int:
        return self.grouped["total"][()][measure]

    def by(self, set_name: str, measure: str, known: list[str]) -> dict[str, int]:
        found = {key: counts[measure] for (key,), counts in self.grouped[set_name].items() if key is not None}
        return {key: found.get(key, 0) for key in known_first(known, found)}

    def by_two(
        self, set_name: str, measure: str, rows: list[str], columns: list[str], *, none: str | None = None
    ) -> dict[str, Any]:
        """Counts by two keys; a missing second key is named NONE (or left out when NONE is None)."""
        found = {
            (first, none if second is None else second): counts[measure]
            for (first, second), counts in self.grouped[set_name].items()
            if first is not None and (second is not None or none is not None)
        }
        row_keys = known_first(rows, (first for first, _ in found))
        column_keys = known_first(columns, (second for _, second in found))
        return {row: {column: found.get((row, column), 0) for column in column_keys} for row in row_keys}


def _known(known: list[str], found: dict[str, int]) -> dict[str, int]:
    return {key: found.get(key, 0) for key in known_first(known, found)}


@dataclass(frozen=True)
class Summary:
    """Every figure of DOMAIN.md's "What leaders need to see" for one period."""

    period: Period
    generated_at: dt.datetime
    sections: dict[str, dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """The JSON answer of GET /v1/reports/summary."""
        return {"period": self.period.as_json(), "generated_at": self.generated_at.isoformat(), **self.sections}

    def rows(self) -> Iterator[tuple[str, str, str, Any]]:
        """The same figures, one row each: section, measure, breakdown ("a" or "a/b"), value."""
        yield ("period", "from", "", self.period.starts.isoformat())
        yield ("period", "to", "", self.period.ends.isoformat())
        yield ("period", "generated_at", "", self.generated_at.isoformat())
        for section, measures in self.sections.items():
            for measure, value in measures.items():
                for breakdown, leaf in _leaves(value):
                    yield (section, measure, breakdown, leaf)


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}/{key}" if prefix else str(key))
    else:
        yield prefix, value


def arrange(*, counts: Counts, period: Period, now: dt.datetime) -> Summary:
    """The figures by section, with shares worked out from the counts."""
    referrals, children = _Reader(counts.referrals), _Reader(counts.children)
    weeks = [monday.isoformat() for monday in period.weeks()]
    received, named = referrals.total("n"), children.total("n")
    decided, on_time, overdue = referrals.total("decided"), referrals.total("on_time"), referrals.total("overdue")
    children_decided = children.total("decided")
    to_assessment, to_strategy = children.total("assessment"), children.total("strategy")
    decided_by_agency = children.by("agency", "decided", AGENCIES)
    converted_by_agency = children.by("agency", "converted", AGENCIES)
    rejected = sum(counts.rejected_by_agency.values())
    heard, again = children.total("heard"), children.total("again")
    stepped_down, told = children.total("stepped_down"), referrals.total("told")
    bands = list(AGE_BANDS)
    neglect_by_band = children.by("band", "n", bands)
    median = counts.median_hours
    sections: dict[str, dict[str, Any]] = {
        "volume": {
            "referrals": received,
            "children": named,
            "referrals_by_agency": referrals.by("agency", "n", AGENCIES),
            "children_by_agency": children.by("agency", "n", AGENCIES),
            "referrals_by_concern": _known(CONCERNS, counts.concerns),
            "referrals_by_week": referrals.by("week", "n", weeks),
            "children_by_week": referrals.by("week", "children", weeks),
        },
        "timeliness": {
            "decided": decided,
            "decided_on_time": on_time,
            "decided_late": decided - on_time,
            # Due means decided, or undecided after its time: a referral left to drift counts against the share.
            "due": decided + overdue,
            "share_decided_on_time": share(on_time, decided + overdue),
            "median_hours_to_decision": None if median is None else round(median, 2),
            "undecided_now": referrals.total("undecided"),
            "overdue_now": overdue,
        },
        "outcomes": {
            "children_decided": children_decided,
            "children_by_outcome": children.by("outcome", "n", OUTCOMES),
            "to_assessment": to_assessment,
            "to_strategy_discussion": to_strategy,
            "share_converted": share(to_assessment + to_strategy, children_decided),
            "children_decided_by_agency": decided_by_agency,
            "converted_by_agency": converted_by_agency,
            "share_converted_by_agency": {
                agency: share(converted_by_agency.get(agency, 0), count) for agency, count in decided_by_agency.items()
            },
            "children_by_agency_and_outcome": children.by_two("agency_outcome", "n", AGENCIES, OUTCOMES),
            "stepped_down": stepped_down,
            "share_stepped_down": share(stepped_down, children_decided),
        },
        "re_referrals": {
            "children": named,
            "re_referred_within_12_months": again,
            "share_re_referred": share(again, named),
        },
        "referral_quality": {
            "submissions": received + rejected,
            "accepted": received,
            "rejected": rejected,
            "share_accepted_first_time": share(received, received + rejected),
            "rejected_by_agency": _known(AGENCIES, counts.rejected_by_agency),
            "rejected_by_rule": _known([], counts.rejected_by_rule),
            "children": named,
            "voice_heard": heard,
            "share_voice_heard": share(heard, named),
            "voice_not_heard_by_reason": children.by("reason", "n", REASONS),
        },
        "neglect": {
            "referrals": counts.concerns.get("neglect", 0),
            "children": sum(neglect_by_band.values()),
            "children_by_age_band": neglect_by_band,
            "children_by_age_band_and_outcome": children.by_two(
                "band_outcome", "n", bands, [*OUTCOMES, UNDECIDED], none=UNDECIDED
            ),
        },
        "feedback": {
            "referrals_decided": decided,
            "referrers_told_decision": told,
            "share_told_decision": share(told, decided),
        },
    }
    return Summary(period=period, generated_at=now, sections=sections)
