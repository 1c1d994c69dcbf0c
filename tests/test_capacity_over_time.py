"""Capacity over time, on hand-solvable scenarios whose optimum is computed here from the inputs:
lead times, staged buying under growth, rent vs buy break-even, power ramps, retirement and
residual value, a short rental that costs its rent, and capital recovery at a cost of capital.

Electricity is free in these fixtures (price 0) so that costs are capex or rent alone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_lp import by_name, ceil, inference, site, without_tco

import planner

DAY = 86400.0
YEAR_S = 365 * DAY
QUARTER_S = YEAR_S / 4
REL = 1e-9


def scenario(
    tmp_path: Path,
    sites: dict[str, Any],
    workloads: dict[str, Any],
    economics: dict[str, Any],
    catalog: dict[str, Any] | None = None,
    name: str = "case",
) -> planner.Scenario:
    topo = {"name": "t", "description": "fixture", "source": "tests", "datacenters": sites}
    (tmp_path / f"{name}-topo.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    doc: dict[str, Any] = {
        "topology": f"{name}-topo.yaml",
        "economics": economics,
        "solver": {"mip_gap": 0},
        "workloads": workloads,
    }
    (tmp_path / f"{name}-catalog.yaml").write_text(yaml.safe_dump(without_tco(catalog)))
    doc["catalog"] = [f"{name}-catalog.yaml"]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return planner.load_scenario(path)


def h100(max_units: int = 1000, **kw: Any) -> dict[str, Any]:
    return site({"hgx-h100": {"max_units": max_units}}, price=0.0, **kw)


def flat_need(sc: planner.Scenario, workload: str) -> float:
    """Units a flat serving load needs: sum over roles of amount / (rate x window)."""
    demand = by_name(sc)[workload]
    return sum(r.amount / (r.rates["hgx-h100"].per_unit_s * demand.window_s) for r in demand.roles)


def schedule(plan: planner.Plan, d: str = "a") -> dict[int, Any]:
    return {r.period: r for r in plan.schedule if r.datacenter == d and r.system == "hgx-h100"}


def capex(sc: planner.Scenario) -> tuple[float, float]:
    spec = sc.catalog.system("hgx-h100")
    return spec.capex_usd, spec.lifetime_s


def test_a_lead_time_forces_an_early_order(tmp_path: Path) -> None:
    """Serving launches at the start of Q3; H100s take two quarters to arrive, so they are
    ordered in Q1 and paid from their arrival: n x capex x (H - 182.5 d) / lifetime."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="182.5 days")},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "amortised"},
        catalog={"systems": {"hgx-h100": {"lead_time": "2 quarters"}}},
    )
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    rows = schedule(plan)
    assert [rows[t].ordered for t in range(4)] == [n, 0, 0, 0]
    assert [rows[t].arriving for t in range(4)] == [0, 0, n, 0]
    assert [rows[t].units for t in range(4)] == [0, 0, n, n]
    c, life = capex(sc)
    assert math.isclose(plan.total_cost_usd, n * c * (YEAR_S - 2 * QUARTER_S) / life, rel_tol=REL)


def test_staged_buying_under_growth_beats_buying_the_peak_on_day_0(tmp_path: Path) -> None:
    """Load growing 4x a year, fleet changeable every half year: n0 units for the first half,
    n1 for the second, bought when needed. The saving over a day-0 fleet for the peak is the
    capex of the n1 - n0 late units for the half year they are not needed:
    (n1 - n0) x capex x (H / 2) / lifetime."""
    growth = 4.0
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", growth_per_year=growth)},
        {"horizon": "365 days", "period": "182.5 days", "pricing": "amortised"},
    )
    demand = by_name(sc)["chat"]
    half = YEAR_S / 2

    def need(a: float, b: float) -> float:
        # Load in [a, b] over the year: (g^(b/Y) - g^(a/Y)) / (g - 1), per unit-second there.
        share = (growth ** (b / YEAR_S) - growth ** (a / YEAR_S)) / (growth - 1)
        return sum(
            r.amount * share / (r.rates["hgx-h100"].per_unit_s * (b - a)) for r in demand.roles
        )

    n0, n1 = ceil(need(0, half)), ceil(need(half, YEAR_S))
    assert n1 > n0
    plan = planner.solve(sc)
    rows = schedule(plan)
    assert (rows[0].ordered, rows[1].ordered) == (n0, n1 - n0)
    c, life = capex(sc)
    staged = n0 * c * YEAR_S / life + (n1 - n0) * c * half / life
    assert math.isclose(plan.total_cost_usd, staged, rel_tol=REL)
    day0 = n1 * c * YEAR_S / life
    assert math.isclose(day0 - plan.total_cost_usd, (n1 - n0) * c * half / life, rel_tol=1e-6)


def _pretrain_quarter(tmp_path: Path, rental_usd_per_hour: float, name: str) -> planner.Scenario:
    job = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "300B",
        "deadline": "91.25 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    return scenario(
        tmp_path,
        {"a": h100()},
        {"pt": job},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "mixed"},
        catalog={"systems": {"hgx-h100": {"rental_usd_per_hour": rental_usd_per_hour}}},
        name=name,
    )


def test_rent_or_buy_switches_at_the_computed_break_even(tmp_path: Path) -> None:
    """A one-quarter job with mixed pricing: owning a unit costs capex x H / lifetime (it serves
    the whole year, bought at the start); renting it for the quarter costs rental x 2,190 h.
    Break-even rental = capex x H / lifetime / 2,190 h: just below it the plan rents, just
    above it buys."""
    probe = _pretrain_quarter(tmp_path, 55.0, "probe")
    c, life = capex(probe)
    hours = QUARTER_S / 3600
    break_even = c * YEAR_S / life / hours
    demand = by_name(probe)["pt"]
    n = ceil(demand.roles[0].amount / (demand.roles[0].rates["hgx-h100"].per_unit_s * QUARTER_S))
    for price, rents in ((break_even * 0.98, True), (break_even * 1.02, False)):
        sc = _pretrain_quarter(tmp_path, price, f"p{price:.0f}")
        plan = planner.solve(sc)
        rows = schedule(plan)
        if rents:
            assert rows[0].rented_units == n and rows[0].ordered == 0
            assert math.isclose(plan.total_cost_usd, n * price * hours, rel_tol=REL)
        else:
            assert rows[0].ordered == n and rows[0].rented_units == 0
            assert math.isclose(plan.total_cost_usd, n * c * YEAR_S / life, rel_tol=REL)


def test_a_power_ramp_keeps_a_site_empty_until_it_is_energised(tmp_path: Path) -> None:
    """Site a has 1 kW (no H100 server fits) until day 182.5, then 10 MW; site b is always
    open. Rented units (same price anywhere) serve from b until a is energised; every period
    holds exactly the flat need, and the cost is n x rental x H."""
    ramp = {"power_ramp": [{"from": "182.5 days", "power_cap": "10 MW"}]}
    sc = scenario(
        tmp_path,
        {"a": {**h100(cap="1 kW"), **ramp}, "b": h100()},
        {"chat": inference("20M")},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "rental"},
    )
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    a, b = schedule(plan, "a"), schedule(plan, "b")
    assert a[0].units == 0 and a[1].units == 0
    assert all(a[t].units + b[t].units == n for t in range(4))
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    assert math.isclose(plan.total_cost_usd, n * rental * YEAR_S / 3600, rel_tol=REL)


def test_units_retire_at_end_of_life_and_the_residual_value_is_not_charged(
    tmp_path: Path,
) -> None:
    """Lifetime 1.5 years, horizon 2 years in half years: the first n units serve [0, 1.5 y) and
    are replaced at the start of the last half year; the replacements serve 0.5 of their 1.5
    years inside the horizon, so a third of their capex is charged (the rest is their residual
    value): cost = n x capex x (1 + 1/3)."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        {"horizon": "730 days", "period": "182.5 days", "pricing": "amortised"},
        catalog={"systems": {"hgx-h100": {"lifetime": "547.5 days"}}},
    )
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    rows = schedule(plan)
    assert [rows[t].ordered for t in range(4)] == [n, 0, 0, n]
    assert [rows[t].owned_units for t in range(4)] == [n, n, n, n]
    c, _ = capex(sc)
    assert math.isclose(plan.total_cost_usd, n * c * (1 + 1 / 3), rel_tol=REL)


def test_a_90_day_rental_costs_90_days_of_rent(tmp_path: Path) -> None:
    """Pretraining on rented units for 90 days of a 360-day horizon in 90-day periods costs
    n x rental x 2,160 h; with one fleet for the horizon the same rental costs 4x that."""
    job = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "300B",
        "deadline": "90 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    costs = {}
    for period in ("90 days", None):
        economics = {"horizon": "360 days", "pricing": "rental"}
        if period:
            economics["period"] = period
        sc = scenario(tmp_path, {"a": h100()}, {"pt": job}, economics, name=f"r{bool(period)}")
        demand = by_name(sc)["pt"]
        role = demand.roles[0]
        n = ceil(role.amount / (role.rates["hgx-h100"].per_unit_s * 90 * DAY))
        costs[period] = planner.solve(sc).total_cost_usd
        rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    assert math.isclose(costs["90 days"], n * rental * 90 * 24, rel_tol=REL)
    assert math.isclose(costs[None], 4 * costs["90 days"], rel_tol=REL)


def test_capital_is_recovered_as_an_annuity_at_the_cost_of_capital(tmp_path: Path) -> None:
    """At r = 10%/year over a 5-year life, a year of service costs capex x CRF,
    CRF = r / (1 - (1 + r)^-5) = 0.2638 (vs 0.2 straight line)."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        {"horizon": "365 days", "pricing": "amortised", "cost_of_capital": 0.1},
    )
    n = ceil(flat_need(sc, "chat"))
    c, life = capex(sc)
    crf = 0.1 / (1 - 1.1 ** -(life / YEAR_S))
    assert math.isclose(crf, 0.263797, rel_tol=1e-5)
    plan = planner.solve(sc)
    assert math.isclose(plan.total_cost_usd, n * c * crf, rel_tol=REL)


def _quarter_job_mixed(tmp_path: Path, contract_usd_per_hour: float, name: str) -> planner.Scenario:
    """A one-quarter pretraining job, mixed pricing, buying priced out (capex x 100): the choice
    is on-demand rental for the quarter or a 1-year term contract."""
    job = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "300B",
        "deadline": "91.25 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    overlay = {
        "systems": {
            "hgx-h100": {
                "capex_usd": 30_000_000,
                "contracts": [{"term": "1 year", "usd_per_hour": contract_usd_per_hour}],
            }
        }
    }
    return scenario(
        tmp_path,
        {"a": h100()},
        {"pt": job},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "mixed"},
        catalog=overlay,
        name=name,
    )


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_reserved_or_on_demand_switches_at_the_utilisation_break_even(
    tmp_path: Path, solver: str
) -> None:
    """Used for a quarter of the year (utilisation 25%), a 1-year contract at c per hour costs
    c x 8,760 h against on-demand p x 2,190 h: the contract wins below c = 0.25 p, with either
    solver (the both-solvers test compares frontier-3y's contracts on its relaxation only)."""
    probe = _quarter_job_mixed(tmp_path, 1.0, "probe")
    p = probe.catalog.system("hgx-h100").rental_usd_per_hour
    role = by_name(probe)["pt"].roles[0]
    n = ceil(role.amount / (role.rates["hgx-h100"].per_unit_s * QUARTER_S))
    for c, reserved in ((0.24 * p, True), (0.26 * p, False)):
        plan = planner.solve(_quarter_job_mixed(tmp_path, c, f"c{c:.2f}"), solver=solver)
        rows = schedule(plan)
        if reserved:
            assert [rows[t].contracted_units for t in range(4)] == [n, n, n, n]
            assert math.isclose(plan.total_cost_usd, n * c * 8760, rel_tol=REL)
        else:
            assert rows[0].rented_units == n and rows[0].contracted_units == 0
            assert math.isclose(plan.total_cost_usd, n * p * QUARTER_S / 3600, rel_tol=REL)


def test_a_system_is_used_only_from_its_availability_date(tmp_path: Path) -> None:
    """An H100 server that ships only from 2027-07-02 (182 days into a horizon starting
    2027-01-01): the first quarter starting on or after it is Q3 (day 182.5), so serving that
    launches at Q3 buys its units then, and they are charged for half a year."""
    economics = {
        "horizon": "365 days",
        "period": "1 quarter",
        "pricing": "amortised",
        "start_date": "2027-01-01",
    }
    overlay = {"systems": {"hgx-h100": {"available_from": "2027-07-02"}}}
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="182.5 days")},
        economics,
        catalog=overlay,
    )
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    rows = schedule(plan)
    assert [rows[t].ordered for t in range(4)] == [0, 0, n, 0]
    c, life = capex(sc)
    assert math.isclose(plan.total_cost_usd, n * c * (YEAR_S / 2) / life, rel_tol=REL)


def test_a_dated_system_without_a_start_date_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from fleetcore.errors import ConfigError

    with pytest.raises(ConfigError, match="economics.start_date"):
        scenario(
            tmp_path,
            {"a": h100()},
            {"chat": inference("20M")},
            {"horizon": "365 days", "pricing": "amortised"},
            catalog={"systems": {"hgx-h100": {"available_from": "2027-07-02"}}},
        )


def test_a_run_after_another_starts_once_its_work_is_done(tmp_path: Path) -> None:
    """Two pretraining runs on rented H100s in 30-day periods, the second `after` the first:
    they cannot share a period, so the plan rents ceil(W1 / 30 d) + ceil(W2 / 30 d) unit-periods
    (W = unit-seconds of work), and every allocation of the second lies in periods after the
    first's work is all done, recomputed here from the plan."""

    def run(tokens: str, **kw: Any) -> dict[str, Any]:
        return {
            "kind": "pretrain",
            "model": "llama-3.1-8b",
            "tokens": tokens,
            "deadline": "120 days",
            "goodput": 0.9,
            "global_batch_tokens": "4M",
            **kw,
        }

    economics = {"horizon": "120 days", "period": "30 days", "pricing": "rental"}
    workloads = {"first": run("500B"), "second": run("300B", after="first")}
    sc = scenario(tmp_path, {"a": h100()}, workloads, economics)
    month_s = 30 * DAY
    by = by_name(sc)
    units = {
        w: by[w].roles[0].amount / (by[w].roles[0].rates["hgx-h100"].per_unit_s * month_s)
        for w in workloads
    }
    plan = planner.solve(sc)
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    expected = (ceil(units["first"]) + ceil(units["second"])) * rental * 30 * 24
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    done_by: dict[int, float] = {}
    for a in plan.allocations:
        if a.workload == "first":
            done_by[a.period] = done_by.get(a.period, 0.0) + a.work_done
    total, finished = 0.0, None
    for p in sorted(done_by):
        total += done_by[p]
        if total >= by["first"].roles[0].amount * (1 - 1e-6):
            finished = p
            break
    assert finished is not None
    assert all(a.period > finished for a in plan.allocations if a.workload == "second")
    # Without the dependency they may share periods: never dearer.
    loose = scenario(
        tmp_path, {"a": h100()}, {**workloads, "second": run("300B")}, economics, name="loose"
    )
    assert planner.solve(loose).total_cost_usd <= plan.total_cost_usd * (1 + REL)


def test_after_must_name_a_run_with_a_deadline(tmp_path: Path) -> None:
    import pytest

    from fleetcore.errors import ConfigError

    job = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "300B",
        "deadline": "120 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    for after, message in (("chat", "no deadline"), ("nope", "not another workload")):
        with pytest.raises(ConfigError, match=message):
            scenario(
                tmp_path,
                {"a": h100()},
                {"chat": inference("1M"), "pt": {**job, "after": after}},
                {"horizon": "365 days", "pricing": "amortised"},
            )
