"""Terminal line charts in braille, for `yard timeseries`.

A pure function from points to lines of text: no colours, no terminal, so
it is tested character by character. Each character cell holds a grid
of 2 by 4 braille dots, which gives a chart four times the resolution of one mark
per cell. The x axis is time (gaps stay visible), the y axis runs from the
smallest to the largest value; consecutive points are joined by a line.

Example (four points, 24 columns by 3 rows)::

    3 ┤                ⣀⠤⠔⠒⠉
      │        ⢀⣀⡠⠤⠔⠒⠊⠉
    1 ┤⣀⡠⠤⠔⠒⠒⠉⠉⠁
      └─────────────────────
       09:00Z         10:00Z
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["ChartView", "format_number", "render_chart"]

# Bit of the braille dot at (column 0-1, row 0-3 from the top) of a cell (Unicode 2800 block).
_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_BASE = 0x2800


@dataclass(frozen=True)
class ChartView:
    """A titled chart, already drawn: the title, a summary, and the lines of the plot."""

    title: str
    summary: str
    lines: list[str]


def format_number(value: float) -> str:
    """A value for people: whole numbers without ``.0``, others to 6 significant digits.

    >>> format_number(21.0), format_number(21.53333333), format_number(1e20)
    ('21', '21.5333', '1e+20')
    """
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _time_format(first: datetime, last: datetime) -> str:
    # Times of day alone when the chart fits in one UTC day; seconds for short windows.
    if first.astimezone(UTC).date() != last.astimezone(UTC).date():
        return "%Y-%m-%d %H:%MZ"
    return "%H:%M:%SZ" if (last - first).total_seconds() < 600 else "%H:%MZ"


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The dots from (x0, y0) to (x1, y1) inclusive (Bresenham)."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        twice = 2 * err
        if twice >= dy:
            err += dy
            x0 += sx
        if twice <= dx:
            err += dx
            y0 += sy


def render_chart(
    times: Sequence[datetime],
    values: Sequence[float | None],
    *,
    width: int,
    height: int = 10,
) -> list[str]:
    """Draw ``values`` over ``times`` in at most ``width`` columns and ``height`` rows of dots.

    Missing values (``None``, NaN) are left out. Returns the lines of the
    chart: y labels and axis, the plot, the x axis and the first and last time.
    """
    points = sorted(
        (t, v) for t, v in zip(times, values, strict=True) if v is not None and math.isfinite(v)
    )
    if not points:
        return ["(no values in this window)"]
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    if low == high:  # a flat line sits in the middle
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    top, bottom = format_number(high), format_number(low)
    label_width = max(len(top), len(bottom))
    cols = max(width - label_width - 2, 4)
    rows = max(height, 2)
    dots_x, dots_y = cols * 2, rows * 4

    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds()

    def dot(t: datetime, v: float) -> tuple[int, int]:
        x = 0 if span == 0 else round((t - first).total_seconds() / span * (dots_x - 1))
        y = round((v - low) / (high - low) * (dots_y - 1))
        return x, dots_y - 1 - y  # row 0 is the top

    cells = [[0] * cols for _ in range(rows)]
    previous: tuple[int, int] | None = None
    for t, v in points:
        here = dot(t, v)
        for x, y in _line(*(previous or here), *here):
            cells[y // 4][x // 2] |= _DOT_BITS[y % 4][x % 2]
        previous = here

    lines = []
    for r, row in enumerate(cells):
        label = top if r == 0 else bottom if r == rows - 1 else ""
        axis = "┤" if label else "│"
        plot = "".join(chr(_BRAILLE_BASE + bits) if bits else " " for bits in row)
        lines.append(f"{label:>{label_width}} {axis}{plot}".rstrip())
    lines.append(" " * label_width + " └" + "─" * cols)
    fmt = _time_format(first, last)
    start, end = first.astimezone(UTC).strftime(fmt), last.astimezone(UTC).strftime(fmt)
    gap = cols - len(start) - len(end)
    if span == 0 or gap < 1:
        lines.append(" " * (label_width + 2) + start)
    else:
        lines.append(" " * (label_width + 2) + start + " " * gap + end)
    return lines
