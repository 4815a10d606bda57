"""Change windows with a fixed clock: midnight crossing, DST nights in Berlin, freezes, exceptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nornflow.change import CalendarError, OverrideError, Target, check_targets, load_calendar, parse_calendar
from nornflow.change.windows import Override, upcoming

CALENDAR = {
    "timezone": "Europe/Berlin",
    "windows": [
        {"name": "fra-night", "sites": ["fra"], "days": "tue-thu", "start": "22:00", "end": "04:00"},
        {"name": "ams-weekend", "sites": "ams", "days": ["sat"], "start": "22:00", "end": "04:00"},
        {"name": "nyc-day", "sites": ["nyc"], "days": "mon-fri", "start": "09:00", "end": "17:00",
         "timezone": "America/New_York"},
    ],
    "freezes": [{"name": "year-end", "start": "2026-12-18", "end": "2027-01-04", "reason": "year-end freeze"}],
    "exceptions": [
        {"name": "CHG-42", "sites": ["fra"], "start": "2026-03-10 14:00", "end": "2026-03-10 16:00"},
        {"name": "fra-dc-move", "sites": ["fra"], "start": "2026-03-11 21:00", "end": "2026-03-12 06:00",
         "allow": False, "reason": "power work"},
    ],
}
FRA, AMS, NYC, LON = (Target("fra-spine-01", site="fra"), Target("ams-spine-01", site="ams"),
                      Target("nyc-spine-01", site="nyc"), Target("lon-spine-01", site="lon"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def decide(target: Target, at: str, **options):
    return check_targets([target], parse_calendar(CALENDAR), now=utc(at), **options)[target.name]


def test_window_crossing_midnight_is_open_on_both_sides():
    # Tue 2026-03-03 22:00 CET = 21:00 UTC; Wed 04:00 CET = 03:00 UTC.
    assert not decide(FRA, "2026-03-03T20:59").allowed
    late = decide(FRA, "2026-03-03T21:00")
    assert late.allowed and late.rule == "window fra-night" and late.closes_at == utc("2026-03-04T03:00")
    assert decide(FRA, "2026-03-04T02:59").allowed  # after midnight, Wednesday
    assert not decide(FRA, "2026-03-04T03:00").allowed
    assert not decide(FRA, "2026-03-06T22:00").allowed  # Friday night: not a window day


def test_next_window_message_names_local_and_utc_time():
    friday = decide(FRA, "2026-03-06T12:00")
    assert friday.next_opens == utc("2026-03-10T13:00")  # the CHG-42 exception, Tue 14:00 CET
    monday = decide(FRA, "2026-03-16T12:00")
    assert monday.next_opens == utc("2026-03-17T21:00") and monday.next_closes == utc("2026-03-18T03:00")
    assert ("outside its change window (outside its change windows); not touched; next window "
            "Tue 2026-03-17 22:00 CET (21:00 UTC) to Wed 2026-03-18 04:00 CET (03:00 UTC)") in monday.message


def test_spring_forward_night_is_an_hour_shorter():
    # Last Sunday of March 2026: 02:00 CET becomes 03:00 CEST. Sat 22:00 CET -> Sun 04:00 CEST is 5 h.
    opened = decide(AMS, "2026-03-28T21:00")
    assert opened.allowed and opened.closes_at == utc("2026-03-29T02:00")
    assert opened.closes_at - opened.at == timedelta(hours=5)
    assert decide(AMS, "2026-03-29T01:59").allowed  # 03:59 CEST
    assert not decide(AMS, "2026-03-29T02:00").allowed  # 04:00 CEST
    summer = decide(AMS, "2026-03-30T12:00")
    assert summer.next_opens == utc("2026-04-04T20:00")  # 22:00 CEST is 20:00 UTC from now on
    assert "22:00 CEST" in summer.message


def test_fall_back_night_is_an_hour_longer():
    # Last Sunday of October 2026: 03:00 CEST becomes 02:00 CET. Sat 22:00 CEST -> Sun 04:00 CET is 7 h.
    opened = decide(AMS, "2026-10-24T20:00")
    assert opened.closes_at == utc("2026-10-25T03:00") and opened.closes_at - opened.at == timedelta(hours=7)
    assert decide(AMS, "2026-10-25T00:30").allowed and decide(AMS, "2026-10-25T01:30").allowed  # 02:30 twice
    assert decide(AMS, "2026-10-25T02:59").allowed and not decide(AMS, "2026-10-25T03:00").allowed


def test_window_in_another_zone():
    # 09:00 in New York is 14:00 UTC in winter; the US changes clocks on 2026-03-08.
    assert decide(NYC, "2026-03-06T14:00").allowed and not decide(NYC, "2026-03-06T13:59").allowed
    assert decide(NYC, "2026-03-09T13:00").allowed  # EDT: 09:00 is 13:00 UTC


def test_freeze_closes_every_window_and_names_itself():
    frozen = decide(FRA, "2026-12-22T22:00")  # a Tuesday night inside the year-end freeze
    assert not frozen.allowed and frozen.rule == "freeze year-end (year-end freeze) until Mon 2027-01-04 00:00 CET"
    assert "(freeze year-end (year-end freeze) until Mon 2027-01-04 00:00 CET)" in frozen.message
    assert frozen.next_opens == utc("2027-01-05T21:00")  # first Tuesday night after the freeze
    assert not decide(LON, "2026-12-22T12:00").allowed  # the freeze applies to hosts without windows too


def test_freeze_end_date_is_exclusive():
    # end: 2027-01-04 is "until 2027-01-04 00:00" Berlin, 2027-01-03 23:00 UTC: the 4th is free again.
    assert not decide(LON, "2027-01-03T22:59").allowed
    assert decide(LON, "2027-01-03T23:00").allowed


def test_window_starting_in_the_skipped_hour_opens_when_the_gap_ends():
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A 02:30 start does not exist that night.
    gap = parse_calendar({"timezone": "Europe/Berlin", "windows": [
        {"name": "sun-early", "hosts": ["r1"], "days": "sun", "start": "02:30", "end": "05:00"}]})
    target = Target("r1")
    before = check_targets([target], gap, now=utc("2026-03-28T12:00"))["r1"]
    assert before.next_opens == utc("2026-03-29T01:00") and before.next_closes == utc("2026-03-29T03:00")
    assert "Sun 2026-03-29 03:00 CEST (01:00 UTC)" in before.message
    assert not check_targets([target], gap, now=utc("2026-03-29T00:59"))["r1"].allowed
    assert check_targets([target], gap, now=utc("2026-03-29T01:00"))["r1"].allowed
    normal = check_targets([target], gap, now=utc("2026-04-04T12:00"))["r1"]  # a week later: 02:30 CEST
    assert normal.next_opens == utc("2026-04-05T00:30")


def test_wall_clock_gap_and_fold():
    from datetime import date, time

    from nornflow.change.calendar import wall_clock, zone

    berlin, new_york = zone("Europe/Berlin"), zone("America/New_York")
    assert wall_clock(date(2026, 3, 29), time(2, 30), berlin) == utc("2026-03-29T01:00")
    assert wall_clock(date(2026, 3, 8), time(2, 0), new_york) == utc("2026-03-08T07:00")  # 03:00 EDT
    assert wall_clock(date(2026, 10, 25), time(2, 30), berlin) == utc("2026-10-25T00:30")  # first of two 02:30s


def test_a_window_on_a_parent_group_matches_hosts_of_child_groups():
    from nornir.core.inventory import Group, Host, ParentGroups

    core = Group("core")
    spines = Group("spines", groups=ParentGroups([core]))
    host = Host("r1", groups=ParentGroups([spines]), data={"site": "fra"})
    target = Target.of(host)
    assert target.groups == ("spines", "core")
    calendar = parse_calendar({"default": "closed", "windows": [
        {"name": "core-any", "groups": ["core"], "days": "daily", "start": "00:00", "end": "24:00"}]})
    assert check_targets([target], calendar, now=utc("2026-03-06T12:00"))["r1"].rule == "window core-any"


def test_calendar_resolution_parameter_then_environment_then_none(monkeypatch):
    from nornflow.change.calendar import ENV_CALENDAR, calendar_path

    monkeypatch.delenv(ENV_CALENDAR, raising=False)
    assert calendar_path(None) is None and load_calendar() is None
    monkeypatch.setenv(ENV_CALENDAR, "/etc/cal.yaml")
    assert calendar_path(None) == "/etc/cal.yaml" and calendar_path("mine.yaml") == "mine.yaml"


def test_guard_rechecks_each_device_with_a_moving_clock(monkeypatch):
    from nornir.core.inventory import Host

    from nornflow.change import windows
    from nornflow.change.exceptions import OutsideWindow

    times = iter([utc("2026-03-03T21:00"), utc("2026-03-04T02:59"), utc("2026-03-04T03:00")])
    monkeypatch.setattr(windows, "clock", lambda: next(times))
    guard = windows.WindowGuard(parse_calendar(CALENDAR))
    first, second = Host("fra-spine-01", data={"site": "fra"}), Host("fra-spine-02", data={"site": "fra"})
    assert guard.check_targets([Target.of(first), Target.of(second)]).refused == []  # one reading for all
    assert guard.refusal(first) is None  # 03:59 CET: still inside
    closed = guard.refusal(second)  # 04:00 CET: the window closed while the first one pushed
    assert isinstance(closed, OutsideWindow) and "next window Wed 2026-03-04 22:00 CET" in str(closed)
    late = guard.refused_at_push()
    assert late.refused == ["fra-spine-02"] and late["fra-spine-02"].next_opens == utc("2026-03-04T21:00")
    assert windows.WindowGuard(None).refusal(second) is None  # no calendar: nothing to check, no reading


def test_one_off_exceptions_open_and_close():
    assert decide(FRA, "2026-03-10T13:30").rule == "one-off exception CHG-42"
    blocked = decide(FRA, "2026-03-11T22:00")  # Wednesday night, inside the window, but the DC move
    assert not blocked.allowed and "fra-dc-move (power work)" in blocked.rule
    assert blocked.next_opens == utc("2026-03-12T21:00")


def test_hosts_without_windows_follow_the_default():
    assert decide(LON, "2026-03-06T12:00").allowed
    closed = parse_calendar({**CALENDAR, "default": "closed"})
    verdict = check_targets([LON], closed, now=utc("2026-03-06T12:00"))
    assert verdict.refused == ["lon-spine-01"] and verdict["lon-spine-01"].next_opens is None
    assert "no window opens within" in verdict["lon-spine-01"].message


def test_margin_refuses_a_window_about_to_close():
    soon = decide(FRA, "2026-03-04T02:50", margin_minutes=15)
    assert not soon.allowed and "closes at Wed 2026-03-04 04:00 CET" in soon.note and "in 10 min" in soon.note
    assert soon.next_opens == utc("2026-03-04T21:00")


def test_override_needs_a_reason_and_marks_the_refused_hosts():
    with pytest.raises(OverrideError, match="needs a reason"):
        Override.of("  ")
    verdict = check_targets([FRA, LON], parse_calendar(CALENDAR), now=utc("2026-03-06T12:00"),
                            override=Override.of("INC-7 core link down", "alice"))
    assert verdict.overridden == ["fra-spine-01"] and verdict.refused == []
    assert "emergency override (INC-7 core link down)" in verdict.summary()


def test_no_calendar_allows_everything():
    verdict = check_targets([FRA], None, now=utc("2026-03-06T12:00"))
    assert verdict.allowed == ["fra-spine-01"] and "no change calendar" in verdict.summary()


def test_upcoming_lists_the_next_windows():
    found = upcoming(parse_calendar(CALENDAR), FRA, count=3, now=utc("2026-03-16T12:00"))
    assert [s for s, _, _ in found] == [utc("2026-03-17T21:00"), utc("2026-03-18T21:00"), utc("2026-03-19T21:00")]


def test_environment_file_overrides_by_name(tmp_path, monkeypatch):
    import yaml

    base = tmp_path / "change-calendar.yaml"
    base.write_text(yaml.safe_dump(CALENDAR))
    (tmp_path / "change-calendar.prod.yaml").write_text(yaml.safe_dump({
        "margin_minutes": 30,
        "windows": [{"name": "fra-night", "sites": ["fra"], "days": "daily", "start": "23:00", "end": "05:00"}],
        "freezes": [{"name": "year-end", "remove": True, "start": "2026-01-01", "end": "2026-01-02"}],
    }))
    monkeypatch.delenv("NORNFLOW_ENV", raising=False)
    assert load_calendar(base).windows[0].start.hour == 22
    prod = load_calendar(base, env="prod")
    assert prod.margin_minutes == 30 and prod.windows[0].days == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert [w.name for w in prod.windows] == ["fra-night", "ams-weekend", "nyc-day"] and prod.freezes == []
    assert "change-calendar.prod.yaml" in prod.source


def test_bad_calendars_name_the_field():
    with pytest.raises(CalendarError, match=r"windows\.0\.days.*tue-thu"):
        parse_calendar({"windows": [{"name": "x", "days": "tuesday-funday", "start": "22:00", "end": "04:00"}]})
    with pytest.raises(CalendarError, match="unknown time zone 'Europe/Berlinn'"):
        parse_calendar({"timezone": "Europe/Berlinn"})
    with pytest.raises(CalendarError, match="cannot be read"):
        load_calendar("/nonexistent/calendar.yaml")


def test_repository_calendar_is_valid():
    from pathlib import Path

    calendar = load_calendar(Path(__file__).resolve().parents[3] / "deployments" / "change-calendar.yaml")
    assert any(w.name == "fra-night" for w in calendar.windows)


def test_wave_gate_stops_a_step_before_the_wave_past_the_window():
    from nornflow.plan.model import Step
    from nornflow.plan.steps import run_waves

    step = Step(name="push", task="m:f", mode="waves", canary=1, wave_size=2)
    ran: list[list[str]] = []

    def run_wave(batch, label):
        from nornflow.engine.records import HostRecord

        ran.append(batch)
        return [HostRecord(host=h, status="ok") for h in batch]

    answers = iter([None, "change window: h3: outside"])
    records, reason, count = run_waves(step, ["h0", "h1", "h2", "h3", "h4"], run_wave, lambda b: next(answers))
    assert ran == [["h0"], ["h1", "h2"]] and count == 2
    assert reason == "stopped before wave 3/3: change window: h3: outside; rerun the plan to resume"
    assert [r.status for r in records] == ["ok", "ok", "ok", "skipped", "skipped"]


def test_cli_windows_show(capsys, tmp_path, monkeypatch):
    import yaml

    from nornflow.change import windows
    from nornflow.cli import commands as cli

    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(CALENDAR))
    monkeypatch.setattr(windows, "clock", lambda: utc("2026-03-16T12:00"))
    assert cli.main(["windows", "show", "--site", "fra", "--calendar", str(path), "-n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "site fra: CLOSED now (outside its change windows)"
    assert out[2].strip().startswith("Tue 2026-03-17 22:00 CET (21:00 UTC)  to  Wed 2026-03-18 04:00 CET")
    assert cli.main(["windows", "show", "--calendar", str(path)]) == 2


def test_cli_windows_show_without_a_calendar_reads_none_from_any_directory(capsys, tmp_path, monkeypatch):
    from nornflow.change.calendar import ENV_CALENDAR
    from nornflow.cli import commands as cli

    monkeypatch.delenv(ENV_CALENDAR, raising=False)
    monkeypatch.chdir(tmp_path)  # not the repository root
    assert cli.main(["windows", "show", "--site", "fra"]) == 0
    assert capsys.readouterr().out.strip() == ("no change calendar configured: every change is allowed; set "
                                               "NORNFLOW_CHANGE_CALENDAR or pass --calendar")
    calendar = Path(__file__).resolve().parents[3] / "deployments" / "change-calendar.yaml"
    monkeypatch.setenv(ENV_CALENDAR, str(calendar))
    assert cli.main(["windows", "show", "--site", "fra", "-n", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"calendar {calendar}")


def _inventory(tmp_path) -> str:
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / "hosts.yaml").write_text("fra-spine-01: {hostname: 127.0.0.1, platform: cisco_ios, data: {site: fra}}\n"
                                       "lon-spine-01: {hostname: 127.0.0.1, platform: cisco_ios, data: {site: lon}}\n")
    (folder / "groups.yaml").write_text("{}\n")
    (folder / "defaults.yaml").write_text("{}\n")
    return str(folder)


def test_plan_override_reason_lets_closed_generations_and_waves_go_ahead(tmp_path, monkeypatch):
    import yaml

    from nornflow.change import windows
    from nornflow.exceptions import PlanError
    from nornflow.plan.model import Plan
    from nornflow.plan.windows import generation_stop, wave_gate

    calendar = tmp_path / "cal.yaml"
    calendar.write_text(yaml.safe_dump(CALENDAR))
    inventory = _inventory(tmp_path)
    monkeypatch.setattr(windows, "clock", lambda: utc("2026-03-06T12:00"))  # Friday noon: fra is closed
    spec = {"change_calendar": str(calendar), "steps": {"push": {"task": "a.b:c", "change": True, "mode": "waves"}}}
    plan = Plan.from_dict(spec)
    stop = generation_stop(plan, plan.steps, {"push": ["fra-spine-01"]}, inventory, "generation 1/1", publish=False)
    assert stop is not None and stop.startswith("plan stopped before generation 1/1: change window: fra-spine-01: "
                                                "outside its change window")
    urgent = Plan.from_dict({**spec, "override_reason": " INC-9 core down ", "override_by": "alice"})
    assert urgent.override_reason == "INC-9 core down"
    assert generation_stop(urgent, urgent.steps, {"push": ["fra-spine-01"]}, inventory, "g", publish=False) is None
    closed = wave_gate(plan.steps[0], inventory, str(calendar), publish=False)
    opened = wave_gate(urgent.steps[0], inventory, str(calendar), urgent.override_reason, publish=False)
    assert closed is not None and closed(["fra-spine-01"]) is not None
    assert opened is not None and opened(["fra-spine-01"]) is None
    with pytest.raises(PlanError, match=r"override_reason: .*needs a reason"):
        Plan.from_dict({**spec, "override_reason": "  "})
