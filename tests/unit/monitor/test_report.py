"""The fleet report's arithmetic: windows, percentiles, success rates, trends, flaky and stale devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nornflow.monitor.report import (
    History,
    RunFact,
    Window,
    build,
    device_rows,
    flakiest,
    flow_rows,
    percent_trend,
    percentile,
    points_trend,
    rate,
    stale_backups,
)

END = datetime(2026, 3, 15, 6, 30, tzinfo=UTC)
WINDOW = Window.ending(END, 7)


def day(n: float) -> datetime:
    """``n`` days before the end of the window."""
    return END - timedelta(days=n)


def test_window_and_the_one_before_have_the_same_length_and_touch():
    assert WINDOW.start == END - timedelta(days=7)
    assert WINDOW.previous == Window(END - timedelta(days=14), WINDOW.start)
    assert WINDOW.days == 7
    assert day(0.1) in WINDOW and day(7) in WINDOW and END not in WINDOW
    assert day(7.01) not in WINDOW and day(7.01) in WINDOW.previous


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 0.5, None),
    ([4.0], 0.95, 4.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),           # nearest rank: ceil(0.5*4) = 2nd
    ([1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 3.0),
    ([float(v) for v in range(1, 21)], 0.95, 19.0),   # ceil(19) = 19th of 20
    ([float(v) for v in range(1, 101)], 0.95, 95.0),
    ([5.0, 1.0, 3.0], 0.95, 5.0),               # unsorted input
])
def test_nearest_rank_percentiles(values, q, expected):
    assert percentile(values, q) == expected


def test_rates_and_trends():
    assert rate(2, 3) == pytest.approx(0.4)
    assert rate(0, 0) is None
    assert points_trend(0.4, 0.8) == "▼ -40 pt"
    assert points_trend(0.9, 0.5) == "▲ +40 pt"
    assert points_trend(0.805, 0.8) == "= steady"
    assert points_trend(0.8, None) == "new" and points_trend(None, 0.5) == ""
    assert percent_trend(12.0, 10.0) == "▲ +20%"
    assert percent_trend(9.0, 10.0) == "▼ -10%"
    assert percent_trend(10.3, 10.0) == "= steady"
    assert percent_trend(3.0, None) == "new" and percent_trend(3.0, 0.0) == "new"


def run(flow: str, state: str, days_ago: float, seconds: float, deployment: str | None = "lab") -> RunFact:
    return RunFact(flow, deployment, state, day(days_ago), seconds)


def test_flow_rows_split_the_windows_and_ignore_cancelled_runs_in_the_rate():
    history = History(window=WINDOW, runs=[
        run("backup_configs", "COMPLETED", 1, 10), run("backup_configs", "FAILED", 2, 30),
        run("backup_configs", "COMPLETED", 3, 20), run("backup_configs", "CRASHED", 4, 40),
        run("backup_configs", "COMPLETED", 5, 50), run("backup_configs", "CANCELLED", 6, 1),
        run("backup_configs", "COMPLETED", 8, 10), run("backup_configs", "COMPLETED", 9, 10),
        run("backup_configs", "COMPLETED", 20, 999),                 # older than both windows: ignored
        run("show_commands", "COMPLETED", 1, 2, deployment=None),
    ])
    rows = flow_rows(history)
    backup, show = rows
    assert (backup.flow, backup.deployment, backup.runs, backup.failed) == ("backup_configs", "lab", 6, 2)
    assert backup.success == pytest.approx(3 / 5)          # the cancelled run counts neither way
    assert backup.p50 == 30 and backup.p95 == 50           # durations 10, 20, 30, 40, 50
    assert (backup.prev_runs, backup.prev_success, backup.prev_p50) == (2, 1.0, 10)
    assert backup.success_trend == "▼ -40 pt"
    assert backup.p50_trend == "▲ +200%"
    assert (show.flow, show.deployment, show.runs, show.success_trend) == ("show_commands", None, 1, "new")


def test_a_device_that_failed_3_of_5_runs_has_40_percent_and_is_the_flakiest():
    history = History(window=WINDOW)
    history.device("fra-leaf-03").ok, history.device("fra-leaf-03").failed = 2, 3
    history.device("fra-spine-01").ok = 5
    down = history.device("ams-spine-01")
    down.failed, down.last_error = 5, "connection refused"
    history.device("nyc-leaf-04").ok, history.device("nyc-leaf-04").failed = 9, 1
    history.device("never-seen")                            # in the inventory, no event at all
    rows = device_rows(history, END)
    by_host = {r.host: r for r in rows}
    assert by_host["fra-leaf-03"].success == pytest.approx(0.4)
    assert [r.host for r in rows] == ["ams-spine-01", "fra-leaf-03", "nyc-leaf-04", "fra-spine-01", "never-seen"]
    assert [r.host for r in flakiest(rows)] == ["fra-leaf-03", "nyc-leaf-04"]   # the down device is not flaky
    report = build(history, now=END)
    assert [d.host for d in report.failing] == ["ams-spine-01"]
    assert report.device_success == pytest.approx(16 / 25)


def test_flakiest_keeps_ten_ranked_by_share_then_count():
    history = History(window=WINDOW)
    for i in range(15):
        facts = history.device(f"d{i:02d}")
        facts.ok, facts.failed = 20 - i, i + 1
    top = flakiest(device_rows(history, END))
    assert len(top) == 10
    assert top[0].host == "d14" and top[-1].host == "d05"
    shares = [r.failed / r.runs for r in top]
    assert shares == sorted(shares, reverse=True)


def test_stale_backups_are_old_or_unknown_oldest_first():
    history = History(window=WINDOW)
    history.device("fresh").last_good_backup = day(0.5)
    history.device("week").last_good_backup = day(7)
    history.device("old").last_good_backup = day(12)
    history.device("never")
    rows = device_rows(history, END)
    assert {r.host: r.backup_age_days for r in rows}["fresh"] == pytest.approx(0.5)
    assert [r.host for r in stale_backups(rows, 7)] == ["never", "old", "week"]
    assert [r.host for r in stale_backups(rows, 13)] == ["never"]
    report = build(history, stale_days=7, now=END)
    assert report.stale_days == 7 and [r.host for r in report.stale] == ["never", "old", "week"]


AGES = {"h0": 0.5, "h1": 1.5, "h2": 2.5, "h3": 4.0, "h4": 8.0, "h5": None}


def aged_report(stale_days: float):
    from nornflow.monitor.report import build as build_report

    history = History(window=WINDOW)
    for host, age in AGES.items():
        history.device(host).last_good_backup = None if age is None else day(age)
    return build_report(history, stale_days=stale_days, now=END)


@pytest.mark.parametrize(("stale_days", "expected"), [
    (7, [("< 1 day", 1, "ok"), ("1-3 days", 2, "ok"), ("3-7 days", 1, "warn"), (">= 7 days (stale)", 1, "failed")]),
    (2, [("< 1 day", 1, "ok"), ("1-2 days", 1, "warn"), (">= 2 days (stale)", 3, "failed")]),
    (1, [("< 1 day", 1, "ok"), (">= 1 day (stale)", 4, "failed")]),
    (0.25, [("< 0.25 days", 0, "ok"), (">= 0.25 days (stale)", 5, "failed")]),
])
def test_backup_age_buckets_cut_where_the_stale_table_cuts(stale_days, expected):
    from nornflow.monitor import svg
    from nornflow.monitor.publish import _age_buckets

    colour = {svg.OK: "ok", svg.WARN: "warn", svg.FAILED: "failed"}
    report = aged_report(stale_days)
    rows = _age_buckets(report, 30)
    assert [(label, int(n), colour[c]) for label, n, c, _ in rows[:-1]] == expected
    assert rows[-1][:2] == ("none in 30 days", 1.0)
    # every device the stale table lists is in a red bar, and no green or amber bar holds one
    red = sum(int(n) for _, n, c, _ in rows if c == svg.FAILED)
    assert red == len(report.stale)
