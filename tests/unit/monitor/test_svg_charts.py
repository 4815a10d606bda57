"""Pictures the Prefect UI draws: well-formed SVG, escaped text, a data-URL markdown image."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from nornflow.monitor import charts, svg

NS = "{http://www.w3.org/2000/svg}"


def parse(document: str) -> ET.Element:
    root = ET.fromstring(document)
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_markdown_image_is_a_base64_data_url_of_the_document():
    document = svg.Canvas(100, 50, title="t").render()
    line = svg.markdown_image("a [plan]\nx", document)
    assert line.startswith("![a (plan) x](data:image/svg+xml;base64,") and line.endswith(")")
    encoded = line.split("base64,", 1)[1][:-1]
    assert base64.b64decode(encoded).decode() == document


def test_text_is_escaped_and_cut_to_fit():
    canvas = svg.Canvas(200, 40)
    canvas.text(0, 10, 'a <b> & "c"')
    root = parse(canvas.render())
    assert 'a <b> & "c"' in texts(root)
    assert svg.fit("x" * 100, 60, 10) == "x" * 9 + "…"
    assert svg.fit("short", 600) == "short"
    assert svg.num(3.0) == "3" and svg.num(2.25) == "2.2"


def test_bars_scale_to_the_largest_value_and_label_every_bar():
    root = parse(charts.bars("Flaky", [("fra-leaf-03", 0.6, svg.FAILED, "3/5 failed"),
                                       ("<odd>", 0.3, svg.FAILED, "3/10 failed")], scale=1.0))
    assert {"Flaky", "fra-leaf-03", "<odd>", "3/5 failed", "3/10 failed"} <= set(texts(root))
    filled = [float(r.get("width", 0)) for r in root.iter(f"{NS}rect") if r.get("fill") == svg.FAILED]
    assert len(filled) == 2 and filled[0] == 2 * filled[1]


def test_paired_bars_show_both_windows_and_empty_charts_say_so():
    root = parse(charts.paired_bars("Success", [("backup_configs", 0.4, 0.8)], lambda v: f"{v * 100:.0f}%",
                                    scale=1.0))
    assert "40% (was 80%)" in texts(root)
    assert "no runs in the window" in texts(parse(charts.paired_bars("Success", [], str)))
    assert "nothing to show" in texts(parse(charts.bars("x", [])))


def test_daily_columns_stack_failed_on_good_and_mark_the_window():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    days = [(start + timedelta(days=i), 10, i) for i in range(14)]
    root = parse(charts.daily("Runs", days, boundary=start + timedelta(days=7)))
    reds = [r for r in root.iter(f"{NS}rect") if r.get("fill") == svg.FAILED]
    greens = [r for r in root.iter(f"{NS}rect") if r.get("fill") == svg.OK]
    assert len(reds) == 15 and len(greens) == 15            # 14 days + the legend's swatch
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{NS}line"))
    assert "03-01" in texts(root) and "start of this window" in texts(root)
    assert "no device runs in the period" in texts(parse(charts.daily("Runs", [])))
