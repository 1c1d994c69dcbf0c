"""planner plan --explain: the price of each work item's work on each placed system."""

from __future__ import annotations

import math

import pytest

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
            + system.capex_usd
            * (1 + system.network_storage_capex_fraction)
            * system.maintenance_fraction_per_year
            / year_s
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


def test_explain_prices_a_pool_as_the_objective_charges_its_units_under_mixed_pricing() -> None:
    """frontier-3y (mixed pricing): dc-east's GB200 NVL72 are all contracted or rented, none
    bought. --explain prices a second of their work at what the objective's contracts and
    rental terms charge the pool per unit-second held (cost rows / the schedule's unit-seconds),
    not at the bought figure it used before session 23."""
    from planner.explain import bought_usd_per_s, options, pool_price

    scenario = planner.load_scenario("frontier-3y")
    assert scenario.data.economics.pricing == "mixed"
    plan = planner.solve(scenario)
    pool = ("dc-east", "gb200-nvl72")
    rows = [r for r in plan.schedule if (r.datacenter, r.system) == pool]
    assert all(r.owned_units == 0 and r.spot_units == 0 for r in rows)
    leased_s = sum((r.contracted_units + r.rented_units) * (r.end_s - r.start_s) for r in rows)
    charged = sum(
        c.cost_usd
        for c in plan.costs_rows
        if (c.datacenter, c.system) == pool and c.component in ("contracts", "rental")
    )
    assert {"contracts", "rental"} <= {
        c.component for c in plan.costs_rows if (c.datacenter, c.system) == pool
    }
    price = pool_price(plan, scenario, *pool)
    assert price is not None
    assert math.isclose(price.usd_per_s, charged / leased_s, rel_tol=1e-9)
    assert "contract" in price.paid_as and "rented" in price.paid_as
    bought = bought_usd_per_s(scenario, "gb200-nvl72", "dc-east")
    assert abs(price.usd_per_s / bought - 1) > 0.05  # the old figure was not this
    # The records: GB200 NVL72 is placed at dc-east only, so its records carry the pool's price.
    assert [
        d
        for d in scenario.topology.datacenters()
        if "gb200-nvl72" in scenario.topology.site(d).systems
    ] == ["dc-east"]
    records = [
        r
        for r in unit_costs(scenario, planner.demands(scenario), plan)
        if r["system"] == "gb200-nvl72"
    ]
    assert records
    for rec in records:
        assert rec["usd_per_unit_s"] == price.usd_per_s and rec["paid_as"] == price.paid_as
    # Without a plan: the cheapest way mixed pricing allows (buying, renting, each contract, spot).
    for rec in unit_costs(scenario, planner.demands(scenario)):
        if rec["system"] == "gb200-nvl72":
            demand = next(d for d in planner.demands(scenario) if d.name == rec["workload"])
            ways = options(scenario, "gb200-nvl72", "dc-east", demand.steady_load)
            assert rec["usd_per_unit_s"] == min(w.usd_per_s for w in ways)
            cheapest = min(ways, key=lambda w: w.usd_per_s)
            assert rec["paid_as"] == cheapest.paid_as
            assert {w.paid_as for w in ways} >= {"bought", "rented", "contract 1 year"}


def test_explain_prices_owned_units_at_their_busy_energy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """frontier-lab's dc-central owns 500 HGX H100s: `--explain` priced only new units, so
    nothing said why a plan fills owned units first. Their line gives a busy unit-hour as the
    objective charges it (capex sunk, maintenance and facility paid busy or idle): (1 -
    idle_power_fraction) x power_w / 1000 x PUE x usd_per_kwh, beside a bought unit's hour."""
    from cli import main
    from planner.explain import bought_usd_per_s

    sc = planner.load_scenario("frontier-lab")
    site = sc.topology.site("dc-central")
    spec = sc.catalog.system("hgx-h100")
    busy = (
        (1 - (spec.idle_power_fraction or 0.0))
        * spec.power_w
        / 1000
        * site.pue
        * site.electricity_usd_per_kwh
    )
    bought = bought_usd_per_s(sc, "hgx-h100", "dc-central") * 3600
    assert main(["plan", "frontier-lab", "-q", "--explain"]) == 0
    out = capsys.readouterr().out
    assert (
        f"Owned: dc-central/hgx-h100 500 units, ${busy:,.2f} a busy unit-hour (their energy "
        f"above idle; capex sunk, maintenance and facility paid busy or idle) against "
        f"${bought:,.2f} for a unit bought there"
    ) in out
    assert out.count("Owned: ") == 1  # the only site with owned units
