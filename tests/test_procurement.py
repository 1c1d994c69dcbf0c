"""Procurement over time on hand-solvable scenarios, optimum computed here from the inputs: spot
capacity for training (never serving) at its break-even, and vendor supply limits per period.

Electricity is free in these fixtures (price 0) so that costs are capex, rent or spot alone."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from test_capacity_over_time import DAY, QUARTER_S, REL, YEAR_S, capex, flat_need, h100, scenario
from test_capacity_over_time import schedule as rows_of
from test_lp import by_name, ceil, inference, site

import planner
from fleetcore.errors import ConfigError, InfeasibleError
from fleetcore.tables import usd
from planner.decision import decision, summary_lines
from planner.verify import check_plan

GOODPUT = 0.8


def _pretrain_job(deadline: str = "91.25 days", tokens: str = "300B") -> dict[str, Any]:
    return {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": tokens,
        "deadline": deadline,
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }


def _spot_case(
    tmp_path: Path, spot_usd_per_hour: float, workloads: dict[str, Any], name: str
) -> planner.Scenario:
    """Mixed pricing with buying priced out (capex x 100) and no contracts: on-demand rent or
    spot at `spot_usd_per_hour` with goodput GOODPUT."""
    overlay = {
        "systems": {
            "hgx-h100": {
                "capex_usd": 30_000_000,
                "spot_usd_per_hour": spot_usd_per_hour,
                "spot_goodput": GOODPUT,
            }
        }
    }
    return scenario(
        tmp_path,
        {"a": h100()},
        workloads,
        {"horizon": "365 days", "period": "1 quarter", "pricing": "mixed"},
        catalog=overlay,
        name=name,
    )


def cheapest_mix(need: float, rent_usd: float, spot_usd: float, goodput: float) -> float:
    """min over whole r, k of r x rent + k x spot subject to r + goodput x k >= need: every k
    from 0 to ceil(need / goodput), with r the fewest on-demand units for the rest."""
    best = math.inf
    for k in range(math.ceil(need / goodput) + 1):
        r = max(0, math.ceil(need - goodput * k - 1e-9))
        best = min(best, r * rent_usd + k * spot_usd)
    return best


def test_spot_wins_a_training_job_below_its_goodput_break_even(tmp_path: Path) -> None:
    """A one-quarter pretraining job needs N = W / (rate x quarter) unit-quarters (~5.47). On
    demand a unit costs p x 2,190 h; on spot s x 2,190 h for g of a unit's work, so spot is
    cheaper per unit of work when s / g < p. The LP relaxation switches exactly there: N x
    min(p, s / g) x 2,190 h. With whole units the plan is the cheapest whole mix (enumerated
    here), all spot just below the break-even s = g x p and mostly on demand just above it.

    Whole units make "all spot" depend on N's rounding: 3.0T tokens give N = 5.47 (p = $55/h,
    s = $43.12/h at 0.98 x g x p): 7 spot units cover 5.6 for 7s = $301.84/h, against 1 on
    demand + 6 spot $313.72/h and 4 + 2 (5.6) $306.24/h. At 1.02 (s = $44.88/h) 4 on demand +
    2 spot ($309.76/h) beat 7 spot ($314.16/h). The job was 3.1T until each training linear
    was rated at its own GEMM shape (H100 BF16 0.61 -> 0.58): N went 5.49 -> 5.65, 7 spot
    units (5.6) fell short, and 1 on demand + 6 spot ($313.72/h) beat 8 spot ($344.96/h) at
    0.98 -- a rounding artefact, not the break-even, so the job was shortened to keep N's
    all-spot fleet whole."""
    job = {"pt": _pretrain_job(tokens="3.0T")}
    probe = _spot_case(tmp_path, 1.0, job, "probe")
    p = probe.catalog.system("hgx-h100").rental_usd_per_hour
    role = by_name(probe)["pt"].roles[0]
    need = role.amount / (role.rates["hgx-h100"].per_unit_s * QUARTER_S)
    hours = QUARTER_S / 3600
    assert 5.4 < need < 5.5  # the fleets the docstring prices
    break_even = GOODPUT * p
    spot_units = {}
    for price in (break_even * 0.98, break_even * 1.02):
        plan = planner.solve(_spot_case(tmp_path, price, job, f"s{price:.1f}"))
        row = rows_of(plan)[0]
        expected = cheapest_mix(need, p * hours, price * hours, GOODPUT)
        assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
        relaxed = need * min(p, price / GOODPUT) * hours
        assert plan.lp_relaxation_usd == pytest.approx(relaxed, rel=1e-6)
        assert row.units == row.rented_units + row.spot_units
        spot_units[price < break_even] = row.spot_units
        # The decision summary states the spot units and what they cost.
        spot_usd = sum(c.cost_usd for c in plan.costs_rows if c.component == "spot")
        assert spot_usd == pytest.approx(row.spot_units * price * hours, rel=1e-9)
        lines = summary_lines(decision(plan))
        assert (
            f"Take up to {row.spot_units:,.0f} spot hgx-h100 at {row.datacenter} on days 0-"
            f"{row.end_s / 86400:g} ({usd(spot_usd)})" in lines
        )
        assert f"Spot over the horizon: {usd(spot_usd)}" in lines
        if price < break_even:
            assert row.rented_units == 0 and row.spot_units == math.ceil(need / GOODPUT)
        else:
            assert row.rented_units > row.spot_units
    assert spot_units[True] > spot_units[False]


def test_serving_never_runs_on_spot_however_cheap(tmp_path: Path) -> None:
    """Spot at a tenth of on-demand: a serving load still rents its flat need on demand, and
    the plan costs n x rental x H."""
    sc = _spot_case(tmp_path, 1.0, {"chat": inference("20M")}, "serve")
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    rows = rows_of(plan)
    assert all(rows[t].spot_units == 0 and rows[t].rented_units == n for t in range(4))
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    assert math.isclose(plan.total_cost_usd, n * rental * YEAR_S / 3600, rel_tol=REL)


def test_the_spot_rule_catches_serving_moved_onto_spot_units(tmp_path: Path) -> None:
    """Serving and a training job on one pool: the plan's serving rows pass; relabelling the
    pool's on-demand units as spot (units unchanged) leaves serving on spot, and only the spot
    rule (and pool capacity, which loses their preempted share) reports it."""
    workloads = {"chat": inference("20M"), "pt": _pretrain_job()}
    sc = _spot_case(tmp_path, 1.0, workloads, "mix")
    plan = planner.solve(sc)
    demands = planner.demands(sc)
    assert not any(check_plan(plan, sc, demands).values())
    i = next(k for k, r in enumerate(plan.schedule) if r.period == 1)
    r = plan.schedule[i]
    plan.schedule[i] = dataclasses.replace(
        r, spot_units=r.spot_units + r.rented_units, rented_units=0.0
    )
    found = {k: v for k, v in check_plan(plan, sc, demands).items() if v}
    assert "spot" in found and any("serving uses" in m for m in found["spot"])
    # cost_lines too: the rows still charge rent for units now said to be on spot.
    assert set(found) <= {"spot", "pool_capacity", "cost_lines"}


def test_spot_price_without_goodput_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="spot_goodput"):
        scenario(
            tmp_path,
            {"a": h100()},
            {"chat": inference("20M")},
            {"horizon": "365 days", "pricing": "mixed"},
            catalog={"systems": {"hgx-h100": {"spot_usd_per_hour": 20.0}}},
        )


# -- supply limits ----------------------------------------------------------------------------


def _supply_case(tmp_path: Path, supply: int | None, name: str) -> planner.Scenario:
    economics: dict[str, Any] = {
        "horizon": "365 days",
        "period": "1 quarter",
        "pricing": "amortised",
    }
    if supply is not None:
        economics["supply"] = {"hgx-h100": supply}
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="182.5 days")},
        economics,
        name=name,
    )


def test_a_supply_cap_forces_part_of_the_order_a_period_earlier(tmp_path: Path) -> None:
    """Serving launches at Q3 and needs n units (no lead time: an order serves from its own
    period). Unlimited, all n arrive in Q3. With c = ceil(n / 2) deliveries per quarter, c arrive
    in Q3 and n - c in Q2, and those serve (and are charged) a quarter longer: extra cost
    (n - c) x capex x quarter / lifetime."""
    free = _supply_case(tmp_path, None, "free")
    n = ceil(flat_need(free, "chat"))
    assert n >= 2
    c = math.ceil(n / 2)
    base = planner.solve(free)
    assert [rows_of(base)[t].arriving for t in range(4)] == [0, 0, n, 0]
    capped = planner.solve(_supply_case(tmp_path, c, "capped"))
    rows = rows_of(capped)
    assert [rows[t].arriving for t in range(4)] == [0, n - c, c, 0]
    cx, life = capex(free)
    extra = (n - c) * cx * QUARTER_S / life
    assert math.isclose(capped.total_cost_usd - base.total_cost_usd, extra, rel_tol=1e-6)
    assert math.isclose(base.total_cost_usd, n * cx * YEAR_S / 2 / life, rel_tol=REL)
    unlimited = "no vendor supply limit for hgx-h100"
    assert any(unlimited in line for line in base.left_out)
    assert not any(unlimited in line for line in capped.left_out)


def test_a_catalog_supply_per_year_is_spread_over_the_periods(tmp_path: Path) -> None:
    """supply_per_year = 4c in quarters: c per quarter, the same plan as economics.supply c."""
    free = _supply_case(tmp_path, None, "free2")
    c = math.ceil(ceil(flat_need(free, "chat")) / 2)
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="182.5 days")},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "amortised"},
        catalog={"systems": {"hgx-h100": {"supply_per_year": 4 * c}}},
        name="catalog",
    )
    by_scenario = planner.solve(_supply_case(tmp_path, c, "scen"))
    assert math.isclose(planner.solve(sc).total_cost_usd, by_scenario.total_cost_usd, rel_tol=REL)


def test_supply_for_an_unplaced_system_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"economics\.supply\.gb200-nvl72.*no datacenter places"):
        scenario(
            tmp_path,
            {"a": h100()},
            {"chat": inference("20M")},
            {"horizon": "365 days", "pricing": "amortised", "supply": {"gb200-nvl72": 3}},
        )


def test_an_order_too_large_for_the_supply_in_one_period_is_diagnosed(tmp_path: Path) -> None:
    """Serving from day 0 needs n units at once; a supply of n - 1 per quarter cannot deliver
    them: the diagnosis names the supply row and the whole unit missing (phase 1 runs on whole
    units: n - (n - 1) = 1)."""
    free = _supply_case(tmp_path, None, "free3")
    n = ceil(flat_need(free, "chat"))
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        {
            "horizon": "365 days",
            "period": "1 quarter",
            "pricing": "amortised",
            "supply": {"hgx-h100": n - 1},
        },
        name="short",
    )
    short = n - (n - 1)  # the diagnosis relaxes whole units
    with pytest.raises(InfeasibleError, match=rf"hgx-h100: needs {short:.1f} more units delivered"):
        planner.solve(sc)


# -- cash flow --------------------------------------------------------------------------------


@pytest.mark.parametrize("paid_at", ["order", "delivery"])
def test_cash_flow_pays_capex_once_and_charges_it_over_service(
    tmp_path: Path, paid_at: str
) -> None:
    """n H100s ordered in Q1 arrive in Q3 (two-quarter lead time) for serving from Q3. Cash: n x
    capex paid in Q1 (at order) or Q3 (at delivery). Cost: capex x quarter / lifetime per unit
    in Q3 and Q4, nothing before; the periods add up to the plan's total."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="182.5 days")},
        {
            "horizon": "365 days",
            "period": "1 quarter",
            "pricing": "amortised",
            "capex_paid_at": paid_at,
        },
        catalog={"systems": {"hgx-h100": {"lead_time": "2 quarters"}}},
        name=paid_at,
    )
    n = ceil(flat_need(sc, "chat"))
    c, life = capex(sc)
    plan = planner.solve(sc)
    cash = plan.cash_flow
    paid_in = 0 if paid_at == "order" else 2
    assert [r.capex_paid_usd for r in cash] == [n * c if t == paid_in else 0.0 for t in range(4)]
    charge = n * c * QUARTER_S / life
    for t, r in enumerate(cash):
        assert math.isclose(r.capital_charge_usd, charge if t >= 2 else 0.0, rel_tol=REL)
        assert r.cost_usd == pytest.approx(r.capital_charge_usd, rel=REL)
    assert math.isclose(cash[-1].cumulative_cost_usd, plan.total_cost_usd, rel_tol=REL)
    assert math.isclose(cash[-1].cumulative_cash_usd, n * c, rel_tol=REL)


def test_cash_flow_charges_rent_in_its_quarter(tmp_path: Path) -> None:
    """A 90-day run on rented units in 90-day periods: all of the rent, n x rental x 2,160 h,
    falls in period 0, and no capex is paid."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"pt": _pretrain_job("90 days")},
        {"horizon": "360 days", "period": "90 days", "pricing": "rental"},
        name="rent",
    )
    role = by_name(sc)["pt"].roles[0]
    n = ceil(role.amount / (role.rates["hgx-h100"].per_unit_s * 90 * DAY))
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    plan = planner.solve(sc)
    assert [r.rental_usd for r in plan.cash_flow] == pytest.approx(
        [n * rental * 90 * 24, 0, 0, 0], rel=REL
    )
    assert all(r.capex_paid_usd == 0 for r in plan.cash_flow)


def test_capacity_chart_stacks_the_schedule_by_procurement_type(tmp_path: Path) -> None:
    """Serving rented on demand and a training job on spot: the chart's series are the
    schedule's units x 8 accelerators per H100 server, by type, and its busy line the busy
    units x 8; the SVG draws a column segment per non-zero type and period, and --plot's PNG
    is written."""
    from planner.capacity_chart import capacity_series, capacity_svg, plot_capacity

    jobs = {"chat": inference("20M"), "pt": _pretrain_job(tokens="3T")}
    sc = _spot_case(tmp_path, 1.0, jobs, "chart")
    plan = planner.solve(sc)
    rows = rows_of(plan)
    series = capacity_series(plan)
    acc = sc.catalog.system("hgx-h100").accelerators
    assert series.by_type["on demand"] == [rows[t].rented_units * acc for t in range(4)]
    assert series.by_type["spot"] == [rows[t].spot_units * acc for t in range(4)]
    assert series.busy == pytest.approx([rows[t].busy_units * acc for t in range(4)], rel=REL)
    assert rows[0].spot_units > 0 and rows[0].rented_units > 0
    svg = capacity_svg(plan)
    segments = sum(1 for v in series.by_type.values() for x in v if x > 0)
    assert svg.count("<rect") - 4 == segments  # 4 legend swatches
    png = plot_capacity(plan, tmp_path / "capacity.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- candidate sites --------------------------------------------------------------------------

FACILITY_A = 200.0  # US$ per kW-month at the open site
FACILITY_B = 120.0  # at the candidate


def _candidate_case(tmp_path: Path, opening_cost_usd: float, name: str) -> planner.Scenario:
    """Serving from Q3 on H100s bought for it; site a is open, site b is a candidate with a
    cheaper facility and a two-quarter lead time (opened at Q1, ready at Q3)."""
    candidate = {"opening_cost_usd": opening_cost_usd, "lead_time": "2 quarters"}
    return scenario(
        tmp_path,
        {
            "a": {**h100(), "facility_usd_per_kw_month": FACILITY_A},
            "b": {**h100(), "facility_usd_per_kw_month": FACILITY_B, "candidate": candidate},
        },
        {"chat": inference("20M", start="182.5 days")},
        {"horizon": "365 days", "period": "1 quarter", "pricing": "amortised"},
        name=name,
    )


def test_a_candidate_site_opens_exactly_when_its_saving_exceeds_its_cost(tmp_path: Path) -> None:
    """The n units serve the second half year at a or, once opened, at b: the saving at b is
    n x (f_a - f_b) x power_kW x 6 months. Opening b at 0.98 x that saving opens it at Q1 (ready
    at Q3) and costs capex + f_b facility + the opening; at 1.02 x the plan stays at a."""
    probe = _candidate_case(tmp_path, 1.0, "probe")
    n = ceil(flat_need(probe, "chat"))
    kw = probe.catalog.system("hgx-h100").power_w / 1000
    months = (YEAR_S / 2) / (YEAR_S / 12)
    saving = n * (FACILITY_A - FACILITY_B) * kw * months
    cx, life = capex(probe)
    capital = n * cx * (YEAR_S / 2) / life
    for factor, opens in ((0.98, True), (1.02, False)):
        cost = factor * saving
        plan = planner.solve(_candidate_case(tmp_path, cost, f"f{factor}"))
        (row,) = plan.site_openings
        at_b = rows_of(plan, "b")
        if opens:
            assert (row.opened, row.opened_period, row.ready_period) == (True, 0, 2)
            assert [at_b[t].units for t in range(4)] == [0, 0, n, n]
            facility = n * FACILITY_B * kw * months
            assert math.isclose(plan.total_cost_usd, capital + facility + cost, rel_tol=REL)
        else:
            assert not row.opened and all(at_b[t].units == 0 for t in range(4))
            facility = n * FACILITY_A * kw * months
            assert math.isclose(plan.total_cost_usd, capital + facility, rel_tol=REL)


def test_the_site_opening_rule_catches_units_before_the_site_is_ready(tmp_path: Path) -> None:
    """Claiming the candidate site ready a period early (units moved into Q2) is reported."""
    sc = _candidate_case(tmp_path, 1.0, "early")
    plan = planner.solve(sc)
    demands = planner.demands(sc)
    assert not any(check_plan(plan, sc, demands).values())
    (row,) = plan.site_openings
    plan.site_openings[0] = dataclasses.replace(row, ready_period=1)
    found = {k: v for k, v in check_plan(plan, sc, demands).items() if v}
    assert list(found) == ["site_opening"]
    assert "ready in period 1, its lead time gives 2" in found["site_opening"][0]


def test_a_candidate_site_with_owned_units_is_a_clear_error(tmp_path: Path) -> None:
    candidate = {"opening_cost_usd": 1e6, "lead_time": "1 quarter"}
    with pytest.raises(ConfigError, match="candidate site owns nothing"):
        scenario(
            tmp_path,
            {
                "a": h100(),
                "b": {**site({"hgx-h100": {"max_units": 9, "owned": 2}}), "candidate": candidate},
            },
            {"chat": inference("20M")},
            {"horizon": "365 days", "pricing": "amortised"},
        )


# -- CPU servers per period -------------------------------------------------------------------


def test_cpu_servers_are_rented_only_for_the_period_their_verifiers_run(tmp_path: Path) -> None:
    """A 10-day RL run with a CPU-heavy verifier at the start of a 40-day horizon in 10-day
    periods, everything rented: Trainium2 servers (64 spare host cores each) and CPU servers
    (192 cores) are rented for period 0 only. The cheapest mix of n + e Trainium2 servers and
    k = ceil((cores - 64 (n + e)) / 192) CPU servers is enumerated here; each costs its rent x
    240 h, not the 960 h of the horizon (one CPU server count for the horizon before)."""
    from test_lp import RL_VERIFIER, rl_workload, total_need, verifier_cores

    sites = {
        "r": site(
            {"trn2-server": {"max_units": 100}},
            cpu={"system": "cpu-server", "max_units": 50},
        )
    }
    workloads = {"rl": rl_workload("llama-3.1-8b", "20M", verifiers=RL_VERIFIER)}
    economics = {"horizon": "40 days", "period": "10 days", "pricing": "rental"}
    sc = scenario(tmp_path, sites, workloads, economics, name="cpu")
    demand = by_name(sc)["rl"]
    n = ceil(total_need(demand, "trn2-server"))
    cores = verifier_cores(sc, demand)
    hours = 10 * 24
    trn = sc.catalog.system("trn2-server").rental_usd_per_hour * hours
    cpu = sc.catalog.system("cpu-server").rental_usd_per_hour * hours

    def cost(extra: int) -> tuple[float, int]:
        k = max(0, math.ceil((cores - 64 * (n + extra)) / 192 - 1e-9))
        return (n + extra) * trn + k * cpu, k

    expected, k = min(cost(e) for e in range(0, 6))
    assert k >= 1  # the case we meant
    plan = planner.solve(sc)
    assert [c.units for c in plan.cpu_schedule] == [k, 0, 0, 0]
    assert [c.rented_units for c in plan.cpu_schedule] == [k, 0, 0, 0]
    assert plan.cpu_servers[0].units == k
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    (row,) = [c for c in plan.costs() if c.name == "cpu_servers"]
    assert math.isclose(row.cost_usd, k * cpu, rel_tol=REL)


def test_a_contract_term_past_the_horizon_is_stated_as_a_commitment(tmp_path: Path) -> None:
    """A quarter's flat serving load, buying priced out, no spot: a 3-year contract ($13.6/h, the
    catalog's) undercuts renting over the quarter, since the plan charges a term only inside the
    horizon. The buyer still owes the other 1,004 days of it: the summary states units x
    $/h x hours past the horizon, recomputed here from the catalog, and the plan's cost keeps
    only the quarter."""
    overlay = {
        "systems": {
            "hgx-h100": {
                "capex_usd": 30_000_000,
                "contracts": [{"term": "3 years", "usd_per_hour": 13.6}],
            }
        }
    }
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        {"horizon": "91.25 days", "pricing": "mixed"},
        catalog=overlay,
        name="tail",
    )
    plan = planner.solve(sc)
    offer = max(sc.catalog.system("hgx-h100").contracts, key=lambda o: o.term_s)
    signed = [c for c in plan.contracts if c.units > 0]
    assert signed and all(c.term_s == offer.term_s for c in signed)
    units = sum(c.units for c in signed)
    horizon_s = 91.25 * DAY
    inside = units * offer.usd_per_hour * horizon_s / 3600
    contracts_usd = sum(c.cost_usd for c in plan.costs_rows if c.component == "contracts")
    assert contracts_usd == pytest.approx(inside, rel=1e-9)
    past = units * offer.usd_per_hour * (offer.term_s - horizon_s) / 3600
    d = decision(plan)
    assert d.contracts_past_horizon_usd == pytest.approx(past, rel=1e-9)
    assert (
        f"Term contracts commit a further {usd(past)} (face value) for their terms past the horizon's end"
        in ("\n".join(summary_lines(d)))
    )
