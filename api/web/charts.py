"""Bar charts drawn as SVG on the server: no script, no styles inline, and every figure also in a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.web.templating import label

BAR_HEIGHT = 24
BAR_GAP = 10
LABEL_WIDTH = 300
PLOT_WIDTH = 380
VALUE_WIDTH = 80
TOP = 6


@dataclass(frozen=True)
class Bar:
    """One bar: where it is drawn and what it says."""

    label: str
    value: float | int | None
    text: str
    y: int
    width: int


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart's geometry."""

    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    plot_width: int
    bar_height: int = BAR_HEIGHT

    @property
    def empty(self) -> bool:
        return all(bar.value is None for bar in self.bars)


def bar_chart(
    title: str, values: dict[str, Any], *, percent: bool = False, labels: dict[str, str] | None = None
) -> BarChart:
    """Bars for each (key, value), longest for the largest value; shares (0 to 1) shown as percentages."""
    largest = max((v for v in values.values() if v), default=0)
    scale = 1.0 if percent else (largest or 1)
    bars = []
    for index, (key, value) in enumerate(values.items()):
        amount = value or 0
        bars.append(
            Bar(
                label=(labels or {}).get(key) or label(key),
                value=value,
                text=percentage(value) if percent else ("" if value is None else f"{value:,}"),
                y=TOP + index * (BAR_HEIGHT + BAR_GAP),
                width=max(0, round(PLOT_WIDTH * amount / scale)),
            )
        )
    return BarChart(
        title=title,
        bars=bars,
        width=LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height=TOP * 2 + max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP),
        label_width=LABEL_WIDTH,
        plot_width=PLOT_WIDTH,
    )


def percentage(share: float | None) -> str:
    """A share (0 to 1) as "42%"; a dash when there was nothing to count."""
    if share is None:
        return "\u2013"
    return f"{share * 100:.0f}%"
