"""A 30-day volume chart as plain SVG shapes, drawn on the server: no chart library, no script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Bar:
    """One day's bar, in the chart's own coordinates."""

    day: date
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Sparkline:
    """The bars of a daily series, with the numbers its text alternative reads out.

    Attributes:
        bars: one per day, oldest first.
        width, height: the viewBox size.
        total: messages over the whole series.
        peak: the largest day's count (0 when nothing was sent).
        peak_day: the first day with that count, or None when nothing was sent.
    """

    bars: tuple[Bar, ...]
    width: int
    height: int
    total: int
    peak: int
    peak_day: date | None

    @property
    def bar_width(self) -> float:
        """Each bar's width, leaving a gap of a fifth between bars."""
        return self.width / max(len(self.bars), 1) * 0.8


def sparkline(series: list[tuple[date, int]], width: int = 300, height: int = 48) -> Sparkline:
    """Scale a daily series to bars; a day with messages keeps at least a sliver of height."""
    peak = max((count for _, count in series), default=0)
    step = width / max(len(series), 1)
    bars = []
    for index, (day, count) in enumerate(series):
        bar_height = 0.0 if peak == 0 or count == 0 else max(count / peak * (height - 2), 1.5)
        bars.append(
            Bar(day, count, round(index * step, 2), round(height - bar_height, 2), round(bar_height, 2))
        )
    peak_day = next((day for day, count in series if peak and count == peak), None)
    return Sparkline(tuple(bars), width, height, sum(count for _, count in series), peak, peak_day)
