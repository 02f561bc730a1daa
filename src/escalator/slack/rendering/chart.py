"""The digest's chart: the last fortnight's raised and resolved per day, and the time to resolve."""

from __future__ import annotations

import io

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from escalator.services.digest import DayTrend


def render_trend_chart(trend: list[DayTrend]) -> bytes:
    """A PNG: bars of raised vs resolved per day, a line of the median hours to resolve."""
    labels = [f"{d.day:%d %b}" for d in trend]
    positions = range(len(trend))
    # A Figure of its own, not pyplot's global one: workers render from several threads.
    figure = Figure(figsize=(9, 4), dpi=100)
    counts = figure.subplots()
    counts.bar(
        [p - 0.2 for p in positions],
        [d.raised for d in trend],
        width=0.4,
        label="raised",
        color="#e76f51",
    )
    counts.bar(
        [p + 0.2 for p in positions],
        [d.resolved for d in trend],
        width=0.4,
        label="resolved",
        color="#2a9d8f",
    )
    counts.set_ylabel("escalations")
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=8)
    hours = counts.twinx()
    hours.plot(
        list(positions),
        [d.median_resolve.total_seconds() / 3600 if d.median_resolve else None for d in trend],
        color="#264653",
        marker="o",
        label="median hours to resolve",
    )
    hours.set_ylabel("median hours to resolve")
    hours.set_ylim(bottom=0)
    handles = counts.get_legend_handles_labels()[0] + hours.get_legend_handles_labels()[0]
    counts.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    counts.set_title("Escalations, last 14 days")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
