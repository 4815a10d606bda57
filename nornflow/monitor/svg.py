"""SVG pictures the Prefect UI really draws: built as text, shown as a data-URL image.

The Prefect UI (v1 and v2, 3.9) prints a mermaid block as text and strips inline ``<svg>``
from markdown, but it draws a markdown image whose source is a data URL
(``![plan](data:image/svg+xml;base64,...)``), so every picture NornFlow publishes is an
SVG document turned into one. Such an image cannot load fonts, scripts or other files:
everything it needs is in the document, text uses the generic ``sans-serif`` family, and
the picture paints its own white background so it reads in the UI's dark theme too.

This module has no imports from NornFlow: :mod:`nornflow.plan` draws its graphs with it.
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK = "#1a202c"
MUTED = "#4a5568"
GRID = "#e2e8f0"

#: Colours by meaning, shared by the charts and the plan graph.
OK = "#2f855a"
FAILED = "#c53030"
WARN = "#d69e2e"
NEUTRAL = "#718096"
ACCENT = "#2b6cb0"
PREVIOUS = "#a0aec0"


def esc(text: object) -> str:
    """Text safe inside an SVG element or attribute."""
    return escape(str(text), {'"': "&quot;", "'": "&#39;"})


def fit(text: str, width: float, size: float = 12) -> str:
    """``text`` cut with an ellipsis to about ``width`` pixels at font ``size`` (no font metrics here)."""
    room = max(int(width / (size * 0.6)), 1)
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def wrap(text: str, width: float, size: float = 12, max_lines: int = 3) -> list[str]:
    """``text`` in lines of about ``width`` pixels at font ``size``, broken after a space, ``_``, ``-``,
    ``.`` or ``/`` where one is near (else mid-word); the last of ``max_lines`` is cut with an ellipsis.

    A picture shown as an image has no tooltips, so a name that must be read whole is wrapped.
    """
    room = max(int(width / (size * 0.6)), 1)
    lines: list[str] = []
    rest = text.strip()
    while rest and len(lines) < max_lines - 1 and len(rest) > room:
        cut = max((rest.rfind(c, 0, room) for c in " _-./"), default=-1)
        cut = cut + 1 if cut >= room // 2 else room
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        lines.append(fit(rest, width, size))
    return lines or [""]


def num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


class Canvas:
    """An SVG document assembled element by element; :meth:`render` returns its text."""

    def __init__(self, width: float, height: float, *, title: str | None = None,
                 background: str = "#ffffff") -> None:
        self.width = width
        self.height = height
        self.title = title
        self._defs: list[str] = []
        self._items: list[str] = []
        if background:
            self.rect(0, 0, width, height, fill=background, stroke=GRID, rx=6)

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str | None = None,
             rx: float = 0, dash: str | None = None, stroke_width: float = 1, tooltip: str | None = None) -> None:
        attrs = f'x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}" height="{num(max(h, 0))}" fill="{fill}"'
        if stroke:
            attrs += f' stroke="{stroke}" stroke-width="{num(stroke_width)}"'
        if rx:
            attrs += f' rx="{num(rx)}"'
        if dash:
            attrs += f' stroke-dasharray="{dash}"'
        inner = f"<title>{esc(tooltip)}</title>" if tooltip else ""
        self._items.append(f"<rect {attrs}>{inner}</rect>" if inner else f"<rect {attrs}/>")

    def text(self, x: float, y: float, text: object, *, size: float = 12, anchor: str = "start",
             weight: str = "normal", fill: str = INK) -> None:
        self._items.append(
            f'<text x="{num(x)}" y="{num(y)}" font-size="{num(size)}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{esc(text)}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID, width: float = 1,
             dash: str | None = None) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self._items.append(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{stroke}" '
            f'stroke-width="{num(width)}"{extra}/>'
        )

    def path(self, d: str, *, stroke: str, width: float = 1.5, dash: str | None = None,
             arrow: str | None = None, fill: str = "none") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        if arrow:
            extra += f' marker-end="url(#{arrow})"'
        self._items.append(f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{num(width)}"{extra}/>')

    def arrowhead(self, name: str, color: str) -> str:
        """Define an arrowhead marker of ``color`` once; returns its id for :meth:`path`."""
        if not any(f'id="{name}"' in d for d in self._defs):
            self._defs.append(
                f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
                f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            )
        return name

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(self.width)}" height="{num(self.height)}" '
            f'viewBox="0 0 {num(self.width)} {num(self.height)}" font-family="{FONT}">'
        )
        title = f"<title>{esc(self.title)}</title>" if self.title else ""
        defs = f"<defs>{''.join(self._defs)}</defs>" if self._defs else ""
        return head + title + defs + "".join(self._items) + "</svg>"


def data_url(svg: str) -> str:
    """The SVG document as a ``data:image/svg+xml;base64,...`` URL."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def markdown_image(alt: str, svg: str) -> str:
    """A markdown image the Prefect UI draws: ``![alt](data:image/svg+xml;base64,...)``."""
    clean = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{clean}]({data_url(svg)})"
