"""The whole-unit bound (planner/lp/unitbound.py): the LP relaxation with, for every work row
that needs work done, at least one whole unit in service on the pools and periods its
allocations run on. A tiny demand's relaxation costs almost nothing (one request a day:
2.5e-9 of an H100 server), so a plan's gap against it read ~100%; against the whole-unit bound
it is the gap to the cheapest unit that can do the work. Hand-solved cases: one H100 server
bought for the year is US$86,250 (capex x 1.15 x (1 / 5 years + 5% maintenance)), rented US$55 an
hour."""

import math
from pathlib import Path

import pytest
import yaml
from test_properties import TINY_TOPOLOGY, TINY_WORK, _write

import planner
from planner.api import demands
from planner.lp.build import build
from planner.lp.unitbound import whole_unit_cuts

ONE_H100_YEAR_USD = 86_250.0  # 300,000 x 1.15 x (1 / 5 + 0.05)
H100_RENT_USD_PER_H = 55.0
WHOLE_NOTE = "whole unit in service wherever work must run"


def _plan(tmp_path: Path, topo: dict, work: dict, econ: dict, solver: str) -> planner.Plan:
    return planner.solve(planner.load_scenario(_write(tmp_path, topo, work, econ)), solver=solver)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_two_tiers_on_one_unit_bound_one_unit_not_two(tmp_path: Path, solver: str) -> None:
    """Each tier's rows need a unit, but one unit serves both: the bound is one unit's cost
    (the cuts are separate rows on the same columns, not a sum), and the plan meets it."""
    work = {"tier0": TINY_WORK["tier0"], "tier1": {**TINY_WORK["tier0"], "start": "30 days"}}
    topo = {"s0": {**TINY_TOPOLOGY["s0"], "systems": {"hgx-h100": {"max_units": 2, "owned": 0}}}}
    plan = _plan(tmp_path, topo, work, {"horizon": "365 days", "pricing": "amortised"}, solver)
    assert [f.units for f in plan.fleet] == [1.0]
    assert plan.lower_bound_usd == pytest.approx(ONE_H100_YEAR_USD, rel=1e-9)
    assert plan.total_cost_usd == pytest.approx(ONE_H100_YEAR_USD, rel=1e-9)
    assert plan.status == "optimal"
    assert [n for n in plan.solver_notes if WHOLE_NOTE in n]


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_rented_unit_is_needed_only_in_periods_with_demand(tmp_path: Path, solver: str) -> None:
    """30-day periods, rentals only, a tier from day 200: a unit is rented for whole calendar
    periods (integer rent[d,s,t], charged every hour of t), so the bound is one unit rented from
    the period holding day 200 (days 180-210) to the horizon's end (day 365): 185 days; the
    periods before the tier starts hold no work row and need no unit."""
    late = {"tier0": {**TINY_WORK["tier0"], "start": "200 days"}}
    econ = {"horizon": "365 days", "pricing": "rental", "period": "30 days"}
    plan = _plan(tmp_path, TINY_TOPOLOGY, late, econ, solver)
    rented_usd = H100_RENT_USD_PER_H * 185 * 24
    assert plan.lower_bound_usd == pytest.approx(rented_usd, rel=1e-9)
    assert plan.total_cost_usd == pytest.approx(rented_usd, rel=1e-9)
    assert plan.lp_relaxation_usd is not None and plan.lp_relaxation_usd < 1.0
    assert plan.status == "optimal"


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_the_bound_is_the_cheapest_pool_that_can_do_the_work(tmp_path: Path, solver: str) -> None:
    """Two one-unit sites, power free at s0 and paid at s1: the bound is s0's unit, whatever
    the solver's plan; a plan at s1 (CBC's, after its repair) is that unit's energy over it,
    US$1,474 (1.72%) above the 1% target: feasible, its gap against the bound."""
    topo = {**TINY_TOPOLOGY, "s1": {**TINY_TOPOLOGY["s0"], "electricity_usd_per_kwh": 0.05}}
    plan = _plan(tmp_path, topo, TINY_WORK, {"horizon": "365 days", "pricing": "amortised"}, solver)
    assert plan.lower_bound_usd == pytest.approx(ONE_H100_YEAR_USD, rel=1e-9)
    assert plan.gap == pytest.approx(
        (plan.total_cost_usd - ONE_H100_YEAR_USD) / plan.total_cost_usd, abs=1e-9
    )
    assert (plan.status == "optimal") == (plan.gap <= plan.solver.mip_gap_target + 1e-9)
    (pool,) = [(f.datacenter, f.units) for f in plan.fleet if f.units]
    if pool == ("s1", 1.0):
        assert plan.gap > 0.01 and plan.status == "feasible"
    else:
        assert pool == ("s0", 1.0) and plan.status == "optimal"


def test_an_owned_unit_where_the_work_can_run_leaves_no_cut(tmp_path: Path) -> None:
    """A cut is a row's need of a unit the plan must pay for: with a unit owned on the pool
    (its cost sunk or in the constant) there is none; without, each of the tier's two serve
    rows (decode, prefill) needs the pool's one buy column."""
    for owned, expected in ((0, 2), (1, 0)):
        topo = {"s0": {**TINY_TOPOLOGY["s0"], "systems": {"hgx-h100": {"max_units": 1}}}}
        topo["s0"]["systems"]["hgx-h100"]["owned"] = owned
        econ = {"horizon": "365 days", "pricing": "amortised"}
        scenario = planner.load_scenario(_write(tmp_path, topo, TINY_WORK, econ))
        model = build(scenario, demands(scenario))
        cuts = whole_unit_cuts(model)
        assert len(cuts) == expected
        for cut in cuts:
            assert cut.row.startswith("serve:tier0:") and cut.choice is None
            assert list(cut.units) == [model.buy[("s0", "hgx-h100", 0)]]


def _pretrain_scenario(tmp_path: Path, tokens: str) -> planner.Scenario:
    """One pool of up to 10 H100 servers and a pretraining run due in a year, at mip_gap 0."""
    topo = {"s0": {**TINY_TOPOLOGY["s0"], "power_cap": "1 MW"}}
    topo["s0"]["systems"] = {"hgx-h100": {"max_units": 10, "owned": 0}}
    work = {
        "pt": {
            "kind": "pretrain",
            "model": "llama-3.1-8b",
            "tokens": tokens,
            "deadline": "365 days",
            "goodput": 0.9,
            "global_batch_tokens": "4M",
        }
    }
    path = _write(tmp_path, topo, work, {"horizon": "365 days", "pricing": "amortised"})
    path.write_text(path.read_text() + "solver:\n  mip_gap: 0.0\n")
    return planner.load_scenario(path)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_fractional_need_is_proven_at_gap_zero(
    tmp_path: Path, solver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run needing 2.1 H100 servers for the year: the LP relaxation buys 2.1 (its bound 2.1
    servers' cost), every whole-unit plan at least 3. The row's cut counts ceil(2.1) = 3 units,
    so the whole-unit bound is 3 servers' cost and the plan is proven at mip_gap 0. CBC's run
    without preprocessing (its own proof) is patched out: the bound must be the cut's."""
    import planner.lp.solve as solve

    monkeypatch.setattr(
        solve,
        "_cbc_without_preprocessing",
        lambda model, mip, how, mip_s, *rest: (how, mip_s, None),
    )
    scenario = _pretrain_scenario(tmp_path, "4703B")
    model = build(scenario, demands(scenario))
    (role,) = [r for d in model.demands for r in d.roles]
    need = role.amount / (role.rates["hgx-h100"].per_unit_s * model.periods[0].length_s)
    assert 2.0 < need < 3.0
    (cut,) = whole_unit_cuts(model)
    assert cut.need == math.ceil(need)
    optimum_usd = math.ceil(need) * ONE_H100_YEAR_USD
    plan = planner.solve(scenario, solver=solver)
    assert plan.lp_relaxation_usd == pytest.approx(need * ONE_H100_YEAR_USD, rel=1e-6)
    assert [f.units for f in plan.fleet] == [math.ceil(need)]
    assert plan.total_cost_usd == pytest.approx(optimum_usd, rel=1e-9)
    assert plan.lower_bound_usd == pytest.approx(optimum_usd, rel=1e-9)
    assert plan.status == "optimal" and plan.gap == pytest.approx(0.0, abs=1e-9)
    if solver == "cbc":  # HiGHS's own MIP bound proves it already
        (note,) = [n for n in plan.solver_notes if WHOLE_NOTE in n]
        assert f"{optimum_usd:,.2f} US$" in note


def test_a_need_of_exactly_whole_units_is_not_rounded_up(tmp_path: Path) -> None:
    """The cut's R is ceil(n (1 - 1e-6)): a need a hair over 2 from floating point stays 2,
    and a need under 1 keeps the union cut (R = 1, every coefficient 1)."""
    from planner.lp.unitbound import _units_needed

    assert _units_needed([1 / 2.0000000001]) == 2.0
    assert _units_needed([1 / 2.1]) == 3.0
    assert _units_needed([0.5, 1 / 2.1]) == 2.0  # the fastest allocation sets the need
    assert _units_needed([1e9]) == 1.0
    scenario = _pretrain_scenario(tmp_path, "1000B")
    (cut,) = whole_unit_cuts(build(scenario, demands(scenario)))
    assert cut.need == 1.0 and cut.weights() == (1.0,) * len(cut.units)


def test_every_cut_holds_on_a_whole_unit_plan(tmp_path: Path) -> None:
    """The cuts bound every whole-unit plan, so a plan's own values meet each of them: a small
    bench fleet in quarters (rows needing up to dozens of units, a pretraining row over several
    quarters whose cut counts a unit once per allocation it serves). A cut's need over what the
    plan holds (the plan tampered: one unit fewer on its pools) is caught as violated."""
    import bench_module

    from planner.lp.solve import solve_model

    bench = bench_module.load("bench_lp")
    path = bench.write_scenario(tmp_path, 4, 3, 4, 1, "1 quarter", "1 year", 1.0)
    scenario = planner.load_scenario(path)
    model = build(scenario, demands(scenario))
    cuts = whole_unit_cuts(model)
    assert any(cut.need > 1 for cut in cuts)
    assert any(max(cut.weights()) > 1 for cut in cuts)  # a unit counted for several allocations
    assert any(" + " in cut.row for cut in cuts)  # rows sharing their pools (`_group_cuts`)
    solve_model(model, "highs", 0.01, 120.0, "choose", relax_only=False)
    for cut in cuts:
        values = {v: v.varValue or 0.0 for v in cut.units}
        assert values == pytest.approx({v: float(round(x)) for v, x in values.items()})
        assert not cut.violated_by(values), cut.row
        if cut.choice is not None and (cut.choice.varValue or 0.0) < 0.5:
            continue  # a candidate not chosen needs nothing
        held = sum(w * values[v] for v, w in zip(cut.units, cut.weights(), strict=True))
        short = {v: x * (cut.need - 1.0) / held for v, x in values.items()}  # a unit short
        assert cut.violated_by(short), cut.row


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_two_rows_sharing_their_pool_need_their_summed_units(
    tmp_path: Path, solver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pretraining runs due in the year on one H100 pool, each needing 0.6 of a server: each
    row's own cut asks for one unit, but a unit serves one work item at a time (the `units` row
    sums both runs' allocations), so every whole-unit plan has 2 servers: the LP relaxation
    buys 1.2, and the rows' group cut (unitbound.py `_group_cuts`) ceil(0.6 + 0.6) = 2. The plan
    is proven at mip_gap 0 by that bound (CBC's own proof patched out, as above)."""
    import planner.lp.solve as solve

    monkeypatch.setattr(
        solve,
        "_cbc_without_preprocessing",
        lambda model, mip, how, mip_s, *rest: (how, mip_s, None),
    )
    _pretrain_scenario(tmp_path, "1344B")  # writes scenario.yaml; a second run added to it
    path = tmp_path / "scenario.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["workloads"]["pt2"] = dict(doc["workloads"]["pt"])
    path.write_text(yaml.safe_dump(doc))
    scenario = planner.load_scenario(path)
    model = build(scenario, demands(scenario))
    needs = [
        r.amount / (r.rates["hgx-h100"].per_unit_s * model.periods[0].length_s)
        for d in model.demands
        for r in d.roles
    ]
    assert len(needs) == 2 and all(0.5 < n < 1.0 for n in needs) and sum(needs) > 1.0
    cuts = whole_unit_cuts(model)
    assert sorted(cut.need for cut in cuts) == [1.0, 1.0, 2.0]
    (group,) = [cut for cut in cuts if cut.need == 2.0]
    assert list(group.units) == [model.buy[("s0", "hgx-h100", 0)]] and group.choice is None
    optimum_usd = 2 * ONE_H100_YEAR_USD
    plan = planner.solve(scenario, solver=solver)
    assert plan.lp_relaxation_usd == pytest.approx(sum(needs) * ONE_H100_YEAR_USD, rel=1e-6)
    assert [f.units for f in plan.fleet] == [2.0]
    assert plan.total_cost_usd == pytest.approx(optimum_usd, rel=1e-9)
    assert plan.lower_bound_usd == pytest.approx(optimum_usd, rel=1e-9)
    assert plan.status == "optimal" and plan.gap == pytest.approx(0.0, abs=1e-9)
    if solver == "cbc":  # without the group cut, CBC's bound is the relaxation's 1.2 servers
        (note,) = [n for n in plan.solver_notes if WHOLE_NOTE in n]
        assert f"{optimum_usd:,.2f} US$" in note
