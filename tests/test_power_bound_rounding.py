"""A fleet whose power caps bind at every site in the last quarters still gets a rounded plan
(planner/lp/incumbent.py `_reserve_counts`). bench/bench_lp.py's synthetic fleet, 20 sites x 5
system types x 20 quarters at scale 3 (67,295 columns): rounding down every count that pushes a
cap gives up a unit per order of each system at the site from each period on, and the fleet
left cannot serve the last quarters' work (no plan: before, HiGHS's MIP then ran past its time
limit). Keeping room in the capped rows instead finds a plan within the 1% gap. The test
recomputes each site's power in every quarter from the plan's schedule."""

from __future__ import annotations

import sys
from pathlib import Path

import planner
from planner.lp import incumbent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_lp import write_scenario  # noqa: E402


def test_a_power_bound_fleet_gets_a_rounded_plan(tmp_path: Path, monkeypatch) -> None:
    path = write_scenario(tmp_path, 20, 5, 12, 2, "1 quarter", "5 years", scale=3.0)
    dives: list[tuple[bool, bool]] = []
    dive = incumbent._dive

    def recording(model, *args, reserve=False):
        values = dive(model, *args, reserve=True) if reserve else dive(model, *args)
        dives.append((reserve, values is not None))
        return values

    monkeypatch.setattr(incumbent, "_dive", recording)
    scenario = planner.load_scenario(path)
    plan = planner.solve(scenario)
    # Rounding down found no plan; keeping room did, within the gap (no MIP search ran).
    assert dives == [(False, False), (True, True)]
    assert plan.solver.proof == "rounded"
    assert plan.gap is not None and 0 < plan.gap <= scenario.data.solver.mip_gap
    caps_met = 0
    for site in scenario.topology.datacenters():
        dc = scenario.topology.site(site)
        for t in sorted({row.period for row in plan.schedule}):
            rows = [r for r in plan.schedule if r.datacenter == site and r.period == t]
            cpus = [r for r in plan.cpu_schedule if r.datacenter == site and r.period == t]
            assert all(r.units == round(r.units) for r in rows + cpus)  # whole units
            it_w = sum(r.units * scenario.catalog.system(r.system).power_w for r in rows)
            it_w += sum(r.units * scenario.catalog.system(r.system).power_w for r in cpus)
            cap_w = dc.power_cap_between(rows[0].start_s, rows[0].end_s)
            assert it_w * dc.pue <= cap_w * (1 + 1e-9)
            caps_met += it_w * dc.pue > cap_w * 0.99
    assert caps_met >= 20  # the caps bind (within 1%) in at least 20 site-quarters
