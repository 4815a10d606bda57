"""Waves run canary first and stop when the failure budget is spent, leaving the rest untouched."""

from __future__ import annotations

from nornflow.engine.records import HostRecord
from nornflow.plan import Step
from nornflow.plan.steps import flow_kwargs, host_timeout, run_waves

HOSTS = [f"h{i}" for i in range(10)]


def runner(failing: set[str], calls: list[list[str]]):
    def run_wave(batch, label):
        calls.append((label, list(batch)))
        return [HostRecord(host=h, status="failed" if h in failing else "ok", duration=0.0) for h in batch]
    return run_wave


def test_failed_canary_stops_the_rest():
    calls: list = []
    step = Step(name="leaves", task="m:f", mode="waves", canary=1, wave_size=3)
    records, reason, count = run_waves(step, HOSTS, runner({"h0"}, calls))
    assert calls == [("leaves wave 1/4", ["h0"])]
    assert count == 1
    assert [r.status for r in records] == ["failed"] + ["skipped"] * 9
    assert "stopped after wave 1/4, 9 hosts left untouched" in reason
    assert records[5].error == "not run: leaves stopped after wave 1"


def test_budget_allows_failures_until_spent():
    calls: list = []
    step = Step(name="leaves", task="m:f", mode="waves", canary=2, wave_size=4, failure_budget=1)
    records, reason, count = run_waves(step, HOSTS, runner({"h1", "h3"}, calls))
    assert [batch for _, batch in calls] == [["h0", "h1"], ["h2", "h3", "h4", "h5"]]
    assert count == 2
    assert "2 of 10 hosts failed (failure budget 1)" in reason
    assert [r.host for r in records if r.status == "skipped"] == ["h6", "h7", "h8", "h9"]


def test_all_waves_run_within_budget_and_percent_is_of_the_whole_step():
    calls: list = []
    step = Step(name="leaves", task="m:f", mode="waves", canary=1, wave_size=3, failure_budget="20%")
    records, reason, count = run_waves(step, HOSTS, runner({"h0", "h5"}, calls))
    assert reason is None and count == 4
    assert [r.host for r in records] == HOSTS


def test_sequential_is_one_host_at_a_time_and_parallel_is_one_batch():
    calls: list = []
    step = Step(name="s", task="m:f", mode="sequential", failure_budget=5)
    run_waves(step, HOSTS[:3], runner(set(), calls))
    assert [batch for _, batch in calls] == [["h0"], ["h1"], ["h2"]]
    calls.clear()
    records, reason, count = run_waves(Step(name="p", task="m:f"), HOSTS, runner({"h2"}, calls))
    assert calls == [("p", HOSTS)] and count == 1
    assert reason == "1 of 10 hosts failed (failure budget 0)"
    assert len(records) == 10


def test_host_deadline_grows_with_the_queue_for_a_resource():
    step = Step(name="s", task="m:f")
    assert host_timeout(step, 10, None) == 120
    assert host_timeout(step, 10, 2) == 600
    assert host_timeout(Step(name="s", task="m:f", timeout=30), 4, 4) == 30


def test_flow_kwargs_offer_only_what_the_flow_takes():
    def backup(inventory, hosts=None, backup_dir="b", failure_budget=None):
        return None

    step = Step(name="b", flow="backup_configs", params={"backup_dir": "/x"}, failure_budget=2)
    hosts = {"roles": ["spine"]}
    kwargs = flow_kwargs(backup, step, inventory="inv", hosts=hosts, context={"plan_summary": {}})
    assert kwargs == {"backup_dir": "/x", "inventory": "inv", "hosts": hosts, "failure_budget": 2}


class FakeFlow:
    """A registered flow stand-in: records the keyword arguments of each call, every host ok."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls: list[dict] = []

    def __call__(self, inventory, hosts=None, plan_summary=None):  # the signature the step inspects
        raise AssertionError("called through with_options")

    def with_options(self, **options):
        def run(**kwargs):
            from prefect.states import Completed

            self.calls.append(kwargs)
            chosen = kwargs["hosts"].get("names") or self.names
            return Completed(data=[HostRecord(host=h, status="ok", duration=0.0) for h in chosen])
        return run


def test_a_flow_step_over_its_whole_selection_passes_the_selection_not_host_names():
    from nornflow.plan.steps import run_flow_step

    fake = FakeFlow(HOSTS)
    everything = run_flow_step(Step(name="all", flow="show_commands"), fake, inventory="inv", hosts=HOSTS,
                               context={"plan_summary": {"steps": {}}})
    spines = run_flow_step(Step(name="sp", flow="show_commands", hosts={"roles": "spine"}), fake,
                           inventory="inv", hosts=HOSTS, context={})
    assert [c["hosts"] for c in fake.calls] == [{}, {"roles": ["spine"]}]   # {} selects every host
    assert fake.calls[0]["plan_summary"] == {"steps": {}}
    assert len(everything.ok_hosts) == len(spines.ok_hosts) == 10

    fake.calls.clear()
    waves = run_flow_step(Step(name="w", flow="show_commands", mode="waves", canary=1, wave_size=5), fake,
                          inventory="inv", hosts=HOSTS, context={})
    assert [c["hosts"] for c in fake.calls] == [{"names": HOSTS[:1]}, {"names": HOSTS[1:6]},
                                                 {"names": HOSTS[6:]}]       # a wave names its own hosts
    assert waves.waves == 3 and len(waves.ok_hosts) == 10
