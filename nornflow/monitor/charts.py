"""Small charts for the fleet report, drawn as SVG documents (see :mod:`nornflow.monitor.svg`).

Each function returns the SVG text; :func:`nornflow.monitor.svg.markdown_image` turns it
into markdown the Prefect UI draws. Bars are horizontal with the label on the left, so a
long device or flow name stays readable; every bar carries its value as text too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from nornflow.monitor import svg

WIDTH = 760
LABEL_W = 210
VALUE_W = 90
BAR_H = 16
ROW_GAP = 8
TOP = 40


def _frame(title: str, rows: int, extra: float = 0) -> svg.Canvas:
    height = TOP + max(rows, 1) * (BAR_H + ROW_GAP) + 18 + extra
    canvas = svg.Canvas(WIDTH, height, title=title)
    canvas.text(14, 24, svg.fit(title, WIDTH - 28, 14), size=14, weight="bold")
    return canvas


def _empty(canvas: svg.Canvas, text: str) -> str:
    canvas.text(14, TOP + 12, text, size=12, fill=svg.MUTED)
    return canvas.render()


def bars(title: str, rows: Sequence[tuple[str, float, str, str]], *, scale: float | None = None,
         empty: str = "nothing to show") -> str:
    """One horizontal bar per ``(label, value, colour, value text)``; ``scale`` is the full-width value."""
    canvas = _frame(title, len(rows))
    if not rows:
        return _empty(canvas, empty)
    top = scale or max((v for _, v, _, _ in rows), default=0) or 1.0
    span = WIDTH - LABEL_W - VALUE_W - 28
    for i, (label, value, colour, text) in enumerate(rows):
        y = TOP + i * (BAR_H + ROW_GAP)
        canvas.text(LABEL_W, y + BAR_H - 4, svg.fit(label, LABEL_W - 20, 12), size=12, anchor="end")
        canvas.rect(LABEL_W + 8, y, span, BAR_H, fill="#f7fafc", rx=3)
        canvas.rect(LABEL_W + 8, y, span * min(max(value / top, 0.0), 1.0), BAR_H, fill=colour, rx=3)
        canvas.text(LABEL_W + 16 + span, y + BAR_H - 4, text, size=12, fill=svg.MUTED)
    return canvas.render()


def paired_bars(title: str, rows: Sequence[tuple[str, float | None, float | None]],
                fmt: Callable[[float], str], *, scale: float | None = None, colour: str = svg.ACCENT,
                empty: str = "no runs in the window") -> str:
    """Per label a bar for this window and a thin grey one for the window before."""
    canvas = _frame(title, len(rows), extra=22)
    if not rows:
        return _empty(canvas, empty)
    values = [v for _, a, b in rows for v in (a, b) if v is not None]
    top = scale or max(values, default=0) or 1.0
    span = WIDTH - LABEL_W - VALUE_W - 28
    for i, (label, now, before) in enumerate(rows):
        y = TOP + i * (BAR_H + ROW_GAP)
        canvas.text(LABEL_W, y + BAR_H - 4, svg.fit(label, LABEL_W - 20, 12), size=12, anchor="end")
        if now is not None:
            canvas.rect(LABEL_W + 8, y, span * min(now / top, 1.0), BAR_H - 5, fill=colour, rx=2)
        if before is not None:
            canvas.rect(LABEL_W + 8, y + BAR_H - 4, span * min(before / top, 1.0), 4, fill=svg.PREVIOUS, rx=1)
        text = (fmt(now) if now is not None else "-") + (f" (was {fmt(before)})" if before is not None else "")
        canvas.text(LABEL_W + 16 + span, y + BAR_H - 4, svg.fit(text, VALUE_W + 20, 11), size=11, fill=svg.MUTED)
    legend = canvas.height - 20
    canvas.rect(LABEL_W + 8, legend - 9, 18, 10, fill=colour, rx=2)
    canvas.text(LABEL_W + 32, legend, "this window", size=11, fill=svg.MUTED)
    canvas.rect(LABEL_W + 128, legend - 6, 18, 4, fill=svg.PREVIOUS, rx=1)
    canvas.text(LABEL_W + 152, legend, "the window before", size=11, fill=svg.MUTED)
    return canvas.render()


def daily(title: str, days: Sequence[tuple[datetime, int, int]], boundary: datetime | None = None) -> str:
    """Stacked columns per day: good device runs (green) under failed ones (red)."""
    height, top, bottom, left = 240.0, 40.0, 200.0, 56.0
    canvas = svg.Canvas(WIDTH, height, title=title)
    canvas.text(14, 24, svg.fit(title, WIDTH - 28, 14), size=14, weight="bold")
    if not days:
        canvas.text(14, top + 12, "no device runs in the period", size=12, fill=svg.MUTED)
        return canvas.render()
    peak = max(good + bad for _, good, bad in days) or 1
    room = (WIDTH - left - 20) / len(days)
    bar = max(min(room * 0.7, 40), 2)
    for tick in (0, peak / 2, peak):
        y = bottom - (bottom - top) * tick / peak
        canvas.line(left, y, WIDTH - 14, y)
        canvas.text(left - 6, y + 4, f"{tick:.0f}", size=10, anchor="end", fill=svg.MUTED)
    for i, (day, good, bad) in enumerate(days):
        x = left + i * room + (room - bar) / 2
        h_good = (bottom - top) * good / peak
        h_bad = (bottom - top) * bad / peak
        canvas.rect(x, bottom - h_good, bar, h_good, fill=svg.OK)
        canvas.rect(x, bottom - h_good - h_bad, bar, h_bad, fill=svg.FAILED)
        if len(days) <= 16 or i % max(len(days) // 12, 1) == 0:
            canvas.text(x + bar / 2, bottom + 14, day.strftime("%m-%d"), size=10, anchor="middle", fill=svg.MUTED)
        if boundary is not None and i > 0 and days[i - 1][0] < boundary <= day:
            canvas.line(x - (room - bar) / 2, top - 6, x - (room - bar) / 2, bottom, stroke=svg.MUTED, dash="4 3")
    canvas.rect(left, height - 18, 12, 10, fill=svg.OK)
    canvas.text(left + 18, height - 9, "good device runs", size=11, fill=svg.MUTED)
    canvas.rect(left + 140, height - 18, 12, 10, fill=svg.FAILED)
    canvas.text(left + 158, height - 9, "failed device runs", size=11, fill=svg.MUTED)
    if boundary is not None:
        canvas.line(left + 290, height - 13, left + 312, height - 13, stroke=svg.MUTED, dash="4 3")
        canvas.text(left + 318, height - 9, "start of this window", size=11, fill=svg.MUTED)
    return canvas.render()
