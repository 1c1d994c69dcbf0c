"""The shipped three-year scenario (planner/scenarios/frontier-3y.yaml): its plan's physics,
recomputed here from the plan's schedule rows and the catalog/topology inputs, not read back
from the LP: every arrival is an earlier order delivered after the system's lead time (and not
before its available_from date), owned units change only by arrivals, the new generation is not
in service before its date, and every site's power (with dc-west's ramp) stays within the cap in
force over each period."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date

import pytest

import planner
from fleetcore.tables import usd
from planner.decision import decision, summary_lines
from planner.scenario import SCENARIO_DIR

SCENARIO = SCENARIO_DIR / "frontier-3y.yaml"
NEW_GENERATION = "vera-rubin-nvl144"
RAMPED_SITE = "dc-west"
EPS_S = 1e-6


@pytest.fixture(scope="module")
def solved() -> tuple[planner.Scenario, planner.Plan]:
    sc = planner.load_scenario(SCENARIO)
    return sc, planner.solve(sc)


def _available_s(sc: planner.Scenario, system: str) -> float:
    when = sc.catalog.system(system).available_from
    start = sc.data.economics.start_date
    assert start is not None
    return 0.0 if when is None else max(0.0, (when - start).days * 86400.0)


def _periods(plan: planner.Plan) -> list[tuple[float, float]]:
    """The calendar periods, (start_s, end_s)."""
    return sorted({(r.start_s, r.end_s) for r in plan.schedule})


def test_the_scenario_plans_in_quarters_from_its_start_date(solved) -> None:
    sc, plan = solved
    assert plan.status == "optimal"
    assert sc.data.economics.start_date == date(2026, 1, 1)
    periods = _periods(plan)
    assert len(periods) == 12
    assert all(math.isclose(b - a, 365 / 4 * 86400.0) for a, b in periods)


def test_every_arrival_is_an_earlier_order_delivered_after_its_lead_time(solved) -> None:
    """An order placed at the start of period t arrives in the first period starting at or after
    max(start_t + lead_time, available_from); the arrivals of every pool are exactly its orders
    moved so, and owned units change only by arrivals (lifetimes outlast the horizon)."""
    sc, plan = solved
    periods = _periods(plan)
    rows = defaultdict(dict)
    for r in plan.schedule:
        rows[(r.datacenter, r.system)][r.start_s] = r
    ordered_any = 0.0
    for (d, s), by_start in rows.items():
        spec = sc.catalog.system(s)
        assert spec.lifetime_s > periods[-1][1]
        lead = spec.lead_time_s or 0.0
        ready_floor = _available_s(sc, s)
        expected: dict[float, float] = defaultdict(float)
        for start, row in by_start.items():
            if row.ordered == 0:
                continue
            ordered_any += row.ordered
            ready = max(start + lead, ready_floor)
            arrival = next((a for a, _ in periods if a >= ready - EPS_S), None)
            assert arrival is not None, f"{d}/{s}: ordered at {start / 86400:g} d, never arrives"
            assert arrival - start >= lead - EPS_S
            expected[arrival] += row.ordered
        previous_owned = None
        for start, _ in periods:
            row = by_start.get(start)
            arriving = row.arriving if row else 0.0
            assert arriving == pytest.approx(expected.get(start, 0.0)), (d, s, start / 86400)
            if row is None:
                continue
            if previous_owned is not None:
                assert row.owned_units == pytest.approx(previous_owned + arriving), (d, s, start)
            previous_owned = row.owned_units
            assert row.units == pytest.approx(
                row.owned_units + row.rented_units + row.contracted_units + row.spot_units
            )
    assert ordered_any > 0, "the plan orders nothing: the scenario no longer asks when to buy"


def test_the_new_generation_is_not_in_service_before_its_date(solved) -> None:
    sc, plan = solved
    available = _available_s(sc, NEW_GENERATION)
    assert 0 < available < sc.data.economics.horizon_s  # it arrives mid-plan
    rows = [r for r in plan.schedule if r.system == NEW_GENERATION]
    for r in rows:
        if r.start_s < available - EPS_S:
            assert (r.units, r.arriving, r.rented_units, r.contracted_units) == (0, 0, 0, 0), r
    # The plan waits for it: some of it arrives, on or after its date and after its lead time.
    arrivals = [r for r in rows if r.arriving > 0]
    assert arrivals
    lead = sc.catalog.system(NEW_GENERATION).lead_time_s or 0.0
    assert min(r.start_s for r in arrivals) >= max(available, lead) - EPS_S


def test_power_within_the_cap_in_force_every_period_including_the_ramp(solved) -> None:
    """(sum of units x catalog power + CPU servers x power) x PUE <= the lowest cap in force
    during the period (topology power_cap then power_ramp steps)."""
    sc, plan = solved
    cpu = {r.datacenter: r for r in plan.cpu_servers}
    ramp = sc.topology.site(RAMPED_SITE).power_ramp
    assert ramp, "the multi-dc preset's ramped site lost its power_ramp"
    by_period: dict[tuple[str, float, float], float] = defaultdict(float)
    for r in plan.schedule:
        by_period[(r.datacenter, r.start_s, r.end_s)] += (
            sc.catalog.system(r.system).power_w * r.units
        )
    for d in sc.topology.datacenters():
        site = sc.topology.site(d)
        for start, end in _periods(plan):
            it_w = by_period.get((d, start, end), 0.0)
            if d in cpu:
                it_w += sc.catalog.system(cpu[d].system).power_w * cpu[d].units
            cap = site.power_cap_between(start, end)
            assert it_w * site.pue <= cap * (1 + 1e-9), (d, start / 86400, it_w * site.pue / 1e6)
    # The ramp is in play: the site's cap changes over the plan as its phases energise.
    site = sc.topology.site(RAMPED_SITE)
    caps = {site.power_cap_between(a, b) for a, b in _periods(plan)}
    assert len(caps) == 1 + len(ramp)


@pytest.mark.parametrize("system", ["gb300-nvl72", NEW_GENERATION, "trn3-ultraserver"])
def test_the_new_generations_train_and_serve(system: str) -> None:
    """Every role of the scenario's training, RL and serving work has a non-zero rate on each
    new catalog system."""
    from planner.kinds import demand_for

    sc = planner.load_scenario(SCENARIO)
    horizon_s = sc.data.economics.horizon_s
    for name in ("pretrain-2026", "rl-2026", "chat", "reasoning"):
        demand = demand_for(name, sc.data.workloads[name], sc.catalog, [system], horizon_s)
        for role in demand.roles:
            assert role.rates[system].per_unit_s > 0, (name, role, system)


def test_idle_capex_is_measured_against_time_in_service(solved) -> None:
    """The capex charged to a pool splits by unit-seconds worked out of unit-seconds in service
    (schedule: units x period length), recomputed here: racks that arrive late are not idle for
    the quarters before they existed."""
    _, plan = solved
    in_service: dict[tuple[str, str], float] = {}
    for row in plan.schedule:
        key = (row.datacenter, row.system)
        in_service[key] = in_service.get(key, 0.0) + row.units * (row.end_s - row.start_s)
    worked: dict[tuple[str, str], float] = {}
    for a in plan.allocations:
        key = (a.datacenter, a.system)
        worked[key] = worked.get(key, 0.0) + a.units * a.period_s
    capex = [c for c in plan.costs_rows if c.component == "capex" and c.system is not None]
    assert capex, "the plan buys nothing: the test has nothing to check"
    for pool in {(c.datacenter, c.system) for c in capex}:
        rows = [c for c in capex if (c.datacenter, c.system) == pool]
        total = sum(c.cost_usd for c in rows)
        idle = sum(c.cost_usd for c in rows if c.workload == "(idle)")
        expected = max(0.0, 1.0 - worked.get(pool, 0.0) / in_service[pool])
        assert idle / total == pytest.approx(expected, abs=1e-9), pool
    # Every bought rack of the default plan works nearly all its time in service.
    idle_usd = sum(c.cost_usd for c in plan.costs_rows if c.workload == "(idle)")
    assert idle_usd < 0.05 * plan.total_cost_usd


def test_the_decision_states_the_term_contracts(solved) -> None:
    """The plan's term contracts are in its decision summary: per site and system the most
    units under contract in any period, the days they span and their cost rows' sum."""
    _, plan = solved
    held: dict[tuple[str, str], list] = defaultdict(list)
    for r in plan.schedule:
        if r.contracted_units > 0:
            held[(r.datacenter, r.system)].append(r)
    assert held, "frontier-3y holds term contracts"
    lines = summary_lines(decision(plan))
    for (d, s), rows in held.items():
        usd_ = sum(
            c.cost_usd
            for c in plan.costs_rows
            if c.component == "contracts" and (c.datacenter, c.system) == (d, s)
        )
        assert usd_ > 0
        first = min(r.start_s for r in rows) / 86400
        last = max(r.end_s for r in rows) / 86400
        peak = max(r.contracted_units for r in rows)
        line = f"Contract up to {peak:,.0f} {s} at {d} on days {first:g}-{last:g} ({usd(usd_)}"
        assert any(x.startswith(line) for x in lines), (line, lines)
    total = sum(c.cost_usd for c in plan.costs_rows if c.component == "contracts")
    assert f"Term contracts over the horizon: {usd(total)}" in lines


def test_the_basis_states_what_charging_only_the_horizons_share_assumes(solved) -> None:
    """frontier-3y buys Vera Rubin racks in its last quarters: their purchase cash is far above
    the capex charged to the horizon, and the amortisation basis says what that assumes (the
    rest of a unit's life is worth its annuity to work after the horizon, not modelled)."""
    _, plan = solved
    d = decision(plan)
    assert d.purchase_usd is not None and d.purchase_usd > 2 * d.capex_charged_usd
    assert "charged only its time inside it" in d.basis
    assert "work after the horizon, which it does not model" in d.basis
