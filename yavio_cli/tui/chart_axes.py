"""The axes of the dashboard's charts of counts over time: a short label per bucket (`03-01` for
days and weeks, `14:00` for hours, `2026-03` for months) and a count axis from zero marked in
whole numbers (2 users, never 2.7), each with only as many marks as the chart has room for.
Plotext drops the marks that would overlap, but which ones it drops varies from run to run:
given no more than fit, it draws them all, the same every time."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

__all__ = ["bucket_labels", "count_axis", "time_axis"]

# The most marks an axis shows, however much room it has.
MAX_TIME_TICKS = 8
MAX_COUNT_TICKS = 4
# What the plot's frame, x marks and their labels take of the chart's height, and about what
# the y labels and the frame take of its width.
_FRAME_ROWS = 3
_FRAME_COLUMNS = 6


def bucket_labels(bucket: str, stamps: list[str]) -> list[str]:
    """The label of each ISO-8601 bucket start in `stamps`, for buckets of `bucket`."""
    cut = {"hour": slice(11, 16), "month": slice(0, 7)}.get(bucket, slice(5, 10))
    return [stamp[cut] for stamp in stamps]


def time_axis(chart: PlotextPlot, labels: list[str]) -> None:
    """Put `labels` under the points 1…n of `chart`, one every few: a label and a space
    between each two."""
    room = (chart.content_size.width - _FRAME_COLUMNS) // (max(map(len, labels), default=1) + 2)
    step = -(-len(labels) // max(1, min(MAX_TIME_TICKS, room)))
    chart.plt.xticks(list(range(1, len(labels) + 1))[::step], labels[::step])


def count_axis(chart: PlotextPlot, top: int) -> None:
    """A y axis from zero to `top` or a little above (a range without any keeps a floor at
    zero), with evenly spaced whole-number marks, one every other row at most."""
    room = (chart.content_size.height - _FRAME_ROWS) // 2
    step = -(-max(1, top) // max(1, min(MAX_COUNT_TICKS, room)))
    marks = -(-max(1, top) // step)
    plot: Any = chart.plt
    plot.ylim(0, step * marks)
    plot.yticks([step * mark for mark in range(marks + 1)])
