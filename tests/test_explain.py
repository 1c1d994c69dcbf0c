"""planner plan --explain: the price of each work item's work on each placed system."""

from __future__ import annotations

import math

import cli
import planner
from planner.explain import unit_costs


def test_unit_costs_recomputed_from_catalog_and_sites() -> None:
    scenario = planner.load_scenario("frontier-lab")
    assert scenario.data.economics.cost_of_capital == 0
    work = planner.demands(scenario)
    records = unit_costs(scenario, work)
    topo, catalog = scenario.topology, scenario.catalog
    rates = {(d.name, r.name): r.rates for d in work for r in d.roles}
    assert {r["system"] for r in records} == set(topo.system_names())
    for rec in records:
        system = catalog.system(rec["system"])
        # frontier-lab: cost_of_capital 0 (straight line); the objective's charges of a unit
        # bought and kept busy (session 22: network/storage, maintenance, facility too)
        year_s = 365 * 86400.0
        per_s = min(
            system.capex_usd / system.lifetime_s * (1 + system.network_storage_capex_fraction)
            + system.capex_usd * system.maintenance_fraction_per_year / year_s
            + topo.site(d).facility_usd_per_kw_month * system.power_w / 1000 / (year_s / 12)
            + system.power_w * topo.site(d).pue * topo.site(d).electricity_usd_per_kwh / 3.6e6
            for d in topo.datacenters()
            if rec["system"] in topo.site(d).systems
        )
        rate = rates[(rec["workload"], rec["role"])][rec["system"]]
        assert math.isclose(rec["usd_per_unit_s"], per_s, rel_tol=1e-12)
        if rate.feasible:
            assert math.isclose(rec["usd_per_work_unit"], per_s / rate.per_unit_s, rel_tol=1e-12)
        else:
            assert rec["usd_per_work_unit"] is None and rec["why"] == rate.reason


def test_pretraining_goes_where_its_flops_are_cheapest() -> None:
    """With power, links and availability slack, the single-site pretraining runs on the system
    --explain ranks cheapest."""
    scenario = planner.load_scenario("frontier-lab")
    records = [
        r
        for r in unit_costs(scenario, planner.demands(scenario))
        if r["workload"] == "pretrain-405b"
    ]
    cheapest = min(
        (r for r in records if r["usd_per_work_unit"]), key=lambda r: r["usd_per_work_unit"]
    )
    plan = planner.solve(scenario)
    used = {
        a.system
        for a in plan.allocations
        if a.workload == "pretrain-405b" and a.share_of_role is not None and a.share_of_role > 0.01
    }
    assert used == {cheapest["system"]}


def test_explain_flag_prints_the_tables(capsys) -> None:
    assert cli.main(["plan", "frontier-lab", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "Cost of the work on each system" in out and "$/EFLOP" in out and "$/M tokens" in out
