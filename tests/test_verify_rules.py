"""Each verification rule catches exactly the violation it is for: a solved plan (or its input)
is broken in one fact, and that rule, and only that rule, reports it, naming the record.

The default plan (frontier-lab) is used where a record can be broken alone; power, links and
verifier cores are broken through the input they are checked against (a lower cap, a thinner
link, a costlier verifier), since no single record of the plan can exceed them alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from test_lp import _multi_site_case

import planner
from fleetcore.errors import VerificationError
from planner.demand.types import WorkloadDemand
from planner.plan import Plan
from planner.rows import AllocationRow
from planner.scenario import Scenario
from planner.verify import REL_TOL, RULES, Context, check_plan, verify
from planner.verify_procurement import capex_paid_by_period

DEFAULT = "planner/scenarios/frontier-lab.yaml"


@pytest.fixture(scope="module")
def solved() -> tuple[Plan, Scenario, list[WorkloadDemand]]:
    scenario = planner.load_scenario(DEFAULT)
    return planner.solve(scenario), scenario, planner.demands(scenario)


def copy(plan: Plan) -> Plan:
    return Plan.from_dict(plan.to_dict())


def fleet_index(plan: Plan, d: str, s: str) -> int:
    return next(i for i, f in enumerate(plan.fleet) if (f.datacenter, f.system) == (d, s))


def alloc_index(plan: Plan, workload: str, role: str, **where: object) -> int:
    return next(
        i
        for i, a in enumerate(plan.allocations)
        if a.workload == workload
        and a.role == role
        and all(getattr(a, k) == v for k, v in where.items())
    )


def scale_alloc(plan: Plan, i: int, factor: float) -> None:
    a = plan.allocations[i]
    plan.allocations[i] = dataclasses.replace(
        a, units=a.units * factor, work_done=a.work_done * factor
    )


def used(plan: Plan, d: str, s: str, period: int) -> float:
    return sum(
        a.units for a in plan.allocations if (a.datacenter, a.system, a.period) == (d, s, period)
    )


# -- one breaking case per rule: (plan, scenario, demands) -> the same, broken in one fact ----


Case = tuple[Plan, Scenario, list[WorkloadDemand]]


def schedule_index(plan: Plan, d: str, s: str, period: int = 0) -> int:
    return next(
        i
        for i, r in enumerate(plan.schedule)
        if (r.datacenter, r.system, r.period) == (d, s, period)
    )


def set_bought(plan: Plan, d: str, s: str, units: float) -> None:
    """The schedule row of (d, s) in period 0 with `units` ordered, delivered and in service
    (consistent with itself)."""
    i = schedule_index(plan, d, s)
    r = plan.schedule[i]
    plan.schedule[i] = dataclasses.replace(
        r, ordered=units, arriving=units, owned_units=units, units=units
    )
    refleet(plan)


def refleet(plan: Plan) -> None:
    """The fleet rows' bought/contracted/rented/spot split made consistent again with a changed
    schedule (the pool's first peak period), so that only the schedule's own rule sees it."""
    for i, f in enumerate(plan.fleet):
        rows = [r for r in plan.schedule if (r.datacenter, r.system) == (f.datacenter, f.system)]
        peak = max(rows, key=lambda r: r.units)
        plan.fleet[i] = dataclasses.replace(
            f,
            bought_units=peak.owned_units - f.owned_units,
            contracted_units=peak.contracted_units,
            rented_units=peak.rented_units,
            spot_units=peak.spot_units,
        )


def recash(plan: Plan, sc: Scenario) -> None:
    """The cash-flow rows made consistent again with a changed schedule (capex paid, cash out
    and cumulative cash recomputed), so that only the schedule's own rule sees the change."""
    paid = capex_paid_by_period(Context(plan, sc, []))
    cash_sum = 0.0
    for i, r in enumerate(plan.cash_flow):
        capex = paid.get(r.period, 0.0)
        cash = capex + r.cost_usd - r.capital_charge_usd
        cash_sum += cash
        plan.cash_flow[i] = dataclasses.replace(
            r, capex_paid_usd=capex, cash_out_usd=cash, cumulative_cash_usd=cash_sum
        )


def break_whole_units(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    set_bought(plan, "dc-east", "gb200-nvl72", 73.5)
    recash(plan, sc)
    return plan, sc, dem


def break_unit_bounds(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    max_units = sc.topology.site("dc-east").systems["gb200-nvl72"].max_units
    set_bought(plan, "dc-east", "gb200-nvl72", max_units + 1.0)  # power stays under the cap
    recash(plan, sc)
    return plan, sc, dem


def break_fleet_ledger(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    i = schedule_index(plan, "dc-east", "gb200-nvl72")
    plan.schedule[i] = dataclasses.replace(plan.schedule[i], arriving=0.0)
    recash(plan, sc)
    return plan, sc, dem


def break_pool_capacity(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # Chat's decode and prefill at dc-central in period 0 scaled alike (still co-located, more
    # work: no shortfall) until they use one unit more than the H100 pool holds.
    rows = [
        alloc_index(plan, "chat", r, datacenter="dc-central", period=0)
        for r in ("decode", "prefill")
    ]
    mine = sum(plan.allocations[i].units for i in rows)
    have = plan.schedule[schedule_index(plan, "dc-central", "hgx-h100")].units
    factor = (have - (used(plan, "dc-central", "hgx-h100", 0) - mine) + 1.0) / mine
    for i in rows:
        scale_alloc(plan, i, factor)
    return plan, sc, dem


def break_runnable(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    i = alloc_index(plan, "chat", "decode", datacenter="dc-central", period=0)
    plan.allocations[i] = dataclasses.replace(plan.allocations[i], rate_per_unit_s=1.0)
    return plan, sc, dem


def break_window(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # An RL reference pass moved from its window (period 1) to period 2, where the pool has room.
    i = alloc_index(plan, "rl-reasoning", "reference")
    a = plan.allocations[i]
    p2 = plan.periods[2]
    have = plan.fleet[fleet_index(plan, a.datacenter, a.system)].units
    assert used(plan, a.datacenter, a.system, 2) + a.units <= have
    work = a.units * a.rate_per_unit_s * (p2.end_s - p2.start_s)
    plan.allocations[i] = dataclasses.replace(
        a,
        period=2,
        period_start_s=p2.start_s,
        period_end_s=p2.end_s,
        period_s=p2.end_s - p2.start_s,
        work_done=work,
    )
    return plan, sc, dem


def break_steady_load(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # Decode and prefill short alike (still co-located).
    for role in ("decode", "prefill"):
        scale_alloc(plan, alloc_index(plan, "chat", role, period=2), 0.9)
    return plan, sc, dem


def break_work_by_deadline(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    scale_alloc(plan, alloc_index(plan, "pretrain-405b", "pretrain"), 0.9)
    return plan, sc, dem


def break_with_generation(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # 10% less generation on one pool, its prompts' prefill with it (the engine prefills in its
    # steps: the pool's shares of the two stay equal, so only with_generation breaks)
    i = alloc_index(plan, "rl-reasoning", "generate")
    a = plan.allocations[i]
    where = {"datacenter": a.datacenter, "system": a.system, "period": a.period}
    scale_alloc(plan, i, 0.9)
    scale_alloc(plan, alloc_index(plan, "rl-reasoning", "generate_prefill", **where), 0.9)
    return plan, sc, dem


def break_all_samples(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    (row,) = plan.rl
    fewer = {d: 0.9 * n for d, n in row.samples_by_site.items()}
    plan.rl[0] = dataclasses.replace(row, samples_by_site=fewer)
    return plan, sc, dem


def break_one_site(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # The trainer is said to be at dc-central while its allocations are at dc-east.
    plan.rl[0] = dataclasses.replace(plan.rl[0], trainer_site="dc-central")
    return plan, sc, dem


def break_one_system_type(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # Part of the pretraining moved to H100 servers at the same site: exactly the units its
    # state needs there are bought and all given to it (same total work).
    (pretrain,) = [d for d in dem if d.name == "pretrain-405b"]
    need = pretrain.roles[0].min_units["hgx-h100"]
    rate = pretrain.roles[0].rates["hgx-h100"].per_unit_s
    i = alloc_index(plan, "pretrain-405b", "pretrain")
    a = plan.allocations[i]
    moved = need * rate * a.period_s
    scale_alloc(plan, i, (a.work_done - moved) / a.work_done)
    set_bought(plan, "dc-east", "hgx-h100", float(need))
    recash(plan, sc)
    plan.allocations.append(
        dataclasses.replace(
            a, system="hgx-h100", units=float(need), rate_per_unit_s=rate, work_done=moved
        )
    )
    return plan, sc, dem


def break_training_state(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # The pretraining's state said to need more racks than the site has in service.
    out = []
    for d in dem:
        if d.name == "pretrain-405b":
            role = d.roles[0]
            bigger = dataclasses.replace(role, min_units={**role.min_units, "gb200-nvl72": 1000})
            d = dataclasses.replace(d, roles=[bigger])
        out.append(d)
    return plan, sc, out


def break_verifier_cores(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # A verifier 1,000x costlier than the plan was made for.
    out = []
    for d in dem:
        if d.rl is not None:
            costs = {isa: c * 1000 for isa, c in d.rl.verifier_core_s_by_isa.items()}
            d = dataclasses.replace(d, rl=dataclasses.replace(d.rl, verifier_core_s_by_isa=costs))
        out.append(d)
    return plan, sc, out


def break_after(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # The pretraining said to run after the RL run, which it precedes in the plan.
    out = [
        dataclasses.replace(d, after="rl-reasoning") if d.name == "pretrain-405b" else d
        for d in dem
    ]
    return plan, sc, out


def break_colocated(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # Half as much again decode at dc-central in period 0, its prefill unchanged (more work
    # than needed, within the owned H100s: only co-location is broken).
    scale_alloc(plan, alloc_index(plan, "chat", "decode", datacenter="dc-central", period=0), 1.5)
    return plan, sc, dem


def break_power_cap(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # dc-east's cap set 1 MW below the plan's facility draw there.
    (row,) = [p for p in plan.power if p.datacenter == "dc-east"]
    cap_mw = row.facility_power_w / 1e6 - 1.0
    lower = planner.load_scenario(
        DEFAULT, sets=[f"topology_changes.datacenters.dc-east.power_cap={cap_mw:.6f} MW"]
    )
    return plan, lower, dem


def break_cost_total(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    plan.total_cost_usd += 1e3
    return plan, sc, dem


def break_cost_lines(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # The plan was made at 0.07 US$/kWh at dc-east; the scenario it is checked against says 0.08
    # (no other rule reads an electricity price).
    dearer = planner.load_scenario(
        DEFAULT, sets=["topology_changes.datacenters.dc-east.electricity_usd_per_kwh=0.08"]
    )
    return plan, dearer, dem


def break_busy_units(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # The schedule says one GB200 rack fewer busy at dc-east in period 0 than its allocations use
    # (the energy cost_lines prices from it then differs from the cost rows too).
    i = schedule_index(plan, "dc-east", "gb200-nvl72")
    r = plan.schedule[i]
    plan.schedule[i] = dataclasses.replace(r, busy_units=r.busy_units - 1.0)
    return plan, sc, dem


def break_supply(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # GB200 deliveries capped one rack below what the plan has arrive in period 0.
    arriving = sum(r.arriving for r in plan.schedule if r.system == "gb200-nvl72" and r.period == 0)
    capped = planner.load_scenario(DEFAULT, sets=[f"economics.supply.gb200-nvl72={arriving - 1:g}"])
    return plan, capped, dem


def break_spot(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # One spot H100 server at dc-central (consistent in the ledger) under amortised pricing.
    i = schedule_index(plan, "dc-central", "hgx-h100")
    r = plan.schedule[i]
    plan.schedule[i] = dataclasses.replace(r, spot_units=1.0, units=r.units + 1.0)
    refleet(plan)
    return plan, sc, dem


def break_cash_flow(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # Period 0's capex paid short by one GB200 rack (its other columns unchanged).
    rack = sc.catalog.system("gb200-nvl72").capex_usd
    r = plan.cash_flow[0]
    plan.cash_flow[0] = dataclasses.replace(r, capex_paid_usd=r.capex_paid_usd - rack)
    return plan, sc, dem


def break_site_opening(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # dc-east declared a candidate site (not opened in this plan), its GB200 racks unchanged.
    setting = "topology_changes.datacenters.dc-east.candidate"
    candidate = planner.load_scenario(
        DEFAULT, sets=[f"{setting}={{opening_cost_usd: 1000000, lead_time: 1 quarter}}"]
    )
    return plan, candidate, dem


def break_cpu_ledger(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    # One CPU server said to arrive in period 0 with no order for it.
    i = next(k for k, c in enumerate(plan.cpu_schedule) if c.period == 0)
    c = plan.cpu_schedule[i]
    plan.cpu_schedule[i] = dataclasses.replace(c, arriving=c.arriving + 1.0)
    recash(plan, sc)  # capex paid counts CPU servers arriving (session 22)
    return plan, sc, dem


def break_solver_whole(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    """The solver left half a unit that the plan's rows round away."""
    (row,) = [r for r in plan.schedule if (r.datacenter, r.system, r.period) == FRACTIONAL[:3]]
    plan.solver_values = {FRACTIONAL[3]: row.ordered - 0.5}
    return plan, sc, dem


FRACTIONAL = ("dc-east", "gb200-nvl72", 0, "dc-east/gb200-nvl72 units ordered in period 0")


def break_solver_objective(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    """The rows add up to the total, but the solver's objective was twice the rule's tolerance
    more (REL_TOL x the objective: US$2,178 on frontier-lab's US$108.9M; a fixed US$1,000 was
    inside it once the plan passed US$100M, session 34)."""
    plan.solver_objective_usd = plan.total_cost_usd * (1 + 2 * REL_TOL)
    return plan, sc, dem


def break_proven_within_target(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    """Status optimal with a gap half again the target (the plan's cost over its bound)."""
    plan.status = "optimal"
    plan.gap = 1.5 * plan.solver.mip_gap_target
    return plan, sc, dem


def break_placed_rate(plan: Plan, sc: Scenario, dem: list[WorkloadDemand]) -> Case:
    """The pretraining record names twice the job its rate was derived for (the rate used is
    not that job's: the layout search rates 8,208 GB200s lower per unit)."""
    (job,) = plan.pretrain_jobs or []
    twice = dataclasses.replace(job, rate_job_accelerators=2 * job.rate_job_accelerators)
    plan.pretrain_jobs = [twice]
    return plan, sc, dem


BREAKS: dict[str, Callable[[Plan, Scenario, list[WorkloadDemand]], Case]] = {
    "placed_rate": break_placed_rate,
    "whole_units": break_whole_units,
    "unit_bounds": break_unit_bounds,
    "fleet_ledger": break_fleet_ledger,
    "pool_capacity": break_pool_capacity,
    "runnable": break_runnable,
    "window": break_window,
    "steady_load": break_steady_load,
    "work_by_deadline": break_work_by_deadline,
    "with_generation": break_with_generation,
    "all_samples": break_all_samples,
    "one_site": break_one_site,
    "one_system_type": break_one_system_type,
    "training_state": break_training_state,
    "verifier_cores": break_verifier_cores,
    "after": break_after,
    "colocated": break_colocated,
    "power_cap": break_power_cap,
    "cost_total": break_cost_total,
    "cost_lines": break_cost_lines,
    "busy_units": break_busy_units,
    "supply": break_supply,
    "spot": break_spot,
    "cash_flow": break_cash_flow,
    "site_opening": break_site_opening,
    "cpu_ledger": break_cpu_ledger,
    "solver_whole": break_solver_whole,
    "solver_objective": break_solver_objective,
    "proven_within_target": break_proven_within_target,
}
# Breaks that change a priced record (units bought or on spot, the RL trainer's site and so
# the traffic its links charge for): cost_lines reports them too.
PRICED = {"whole_units", "unit_bounds", "spot", "one_system_type", "one_site", "busy_units"}
# Breaks that change an allocation's units or move it, the schedule's busy units left as they
# were: busy_units reports them too (the busy units no longer the allocations').
MOVED = {
    "pool_capacity",
    "window",
    "steady_load",
    "work_by_deadline",
    "with_generation",
    "one_system_type",
    "colocated",
}
# What each rule's message must name (the broken record).
NAMES = {
    "whole_units": "dc-east/gb200-nvl72 in period 0",
    "unit_bounds": "dc-east/gb200-nvl72 in period 0",
    "fleet_ledger": "dc-east/gb200-nvl72 in period 0",
    "pool_capacity": "dc-central/hgx-h100",
    "runnable": "chat/decode on dc-central/hgx-h100",
    "window": "rl-reasoning/reference",
    "steady_load": "chat/decode",
    "work_by_deadline": "pretrain-405b/pretrain",
    "with_generation": "rl-reasoning/generate at dc-east",
    "all_samples": "rl-reasoning",
    "one_site": "rl-reasoning/train",
    "one_system_type": "pretrain-405b/pretrain",
    "training_state": "pretrain-405b/pretrain runs on dc-east/gb200-nvl72 in period 0",
    "verifier_cores": "dc-east",
    "after": "pretrain-405b/pretrain runs in period 0, before rl-reasoning",
    "colocated": "chat at dc-central in period 0",
    "power_cap": "dc-east",
    "cost_total": "cost rows",
    "cost_lines": "dc-east/gb200-nvl72 energy: the cost rows charge",
    "busy_units": "dc-east/gb200-nvl72 in period 0: the schedule says",
    "placed_rate": "pretrain-405b/pretrain: the rate used",
    "solver_whole": FRACTIONAL[3],
    "solver_objective": "the solver's objective",
    "proven_within_target": "status optimal, but the plan is",
    "link_capacity": "link a--b",
    "supply": "gb200-nvl72 in period 0",
    "spot": "dc-central/hgx-h100 in period 0",
    "cash_flow": "period 0: capex_paid_usd",
    "site_opening": "dc-east/gb200-nvl72 in period 0",
    "cpu_ledger": "in period 0: arriving",
}


def test_the_solved_plan_passes_every_rule(solved: Case) -> None:
    plan, sc, dem = solved
    assert check_plan(plan, sc, dem) == {name: [] for name in RULES}
    assert verify(plan, sc, dem) == list(RULES)


def test_every_rule_has_a_breaking_case() -> None:
    # link_capacity, rack_headroom, kv_hop, kv_peak, sandbox_memory: below; weight_push, site_loss:
    # tests/test_plan_honesty.py (multi-site plans); one_candidate: tests/test_scaling_plan.py
    # (model sizing plans).
    outside = {
        "link_capacity",
        "weight_push",
        "site_loss",
        "rack_headroom",
        "kv_hop",
        "kv_peak",
        "sandbox_memory",
        "one_candidate",
        "update_pace",  # tests/test_rl_pace.py (a floor longer than the plan was made for)
        "update_order",  # tests/test_rl_order.py (training moved to a two-quarter run's last)
        # tests/test_rl_period_cores.py (a tenth of a period's scoring moved to the other one)
        "scored_with_generation",
    }
    assert set(BREAKS) | outside == set(RULES)


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_one_broken_fact_is_reported_by_its_rule_only(solved: Case, rule: str) -> None:
    plan, sc, dem = solved
    broken = BREAKS[rule](copy(plan), sc, list(dem))
    found = {name: msgs for name, msgs in check_plan(*broken).items() if msgs}
    # A unit record changed alone also changes what the plan should have cost (cost_lines).
    priced = {rule, "cost_lines"} if rule in PRICED else {rule}
    if rule in MOVED:
        priced.add("busy_units")
    assert set(found) == priced, found
    assert any(NAMES[rule] in msg for msg in found[rule]), found[rule]
    with pytest.raises(VerificationError, match=rf"\[{rule}\]"):
        verify(*broken)


def test_link_capacity_catches_gradient_traffic_over_a_thinner_link(tmp_path: Path) -> None:
    """A multi-site pretraining planned over a 400 Gbps link, checked against a 10 Gbps one."""
    sc = planner.load_scenario(_multi_site_case(tmp_path, "400 Gbps", True))
    plan = planner.solve(sc)
    assert plan.links[0].traffic_bytes_per_s > 10e9 / 8
    thin = planner.load_scenario(_multi_site_case(tmp_path, "10 Gbps", True))
    found = {
        name: msgs for name, msgs in check_plan(plan, thin, planner.demands(thin)).items() if msgs
    }
    assert list(found) == ["link_capacity"], found
    assert NAMES["link_capacity"] in found["link_capacity"][0]


def test_verifier_cores_counts_no_cores_of_units_busy_serving(tmp_path: Path) -> None:
    """A Trainium2 site serving chat while an RL run verifies there: the plan is checked with a
    verifier costly enough that the spare cores of every unit in service would cover it, but
    those of the units not busy serving (plus the CPU servers) do not."""
    from test_sandboxes import busy_rainier

    sc = planner.load_scenario(busy_rainier(tmp_path))
    dem = planner.demands(sc)
    plan = planner.solve(sc)
    cat = sc.catalog
    (rl,) = [d for d in dem if d.rl is not None]
    assert rl.rl is not None
    p0 = plan.periods[0]
    serving = sum(a.units for a in plan.allocations if a.workload == "chat" and a.period == 0)
    units = plan.fleet[fleet_index(plan, "rainier", "trn2-server")].units
    cpu = cat.system_cores("cpu-server") * plan.cpu_servers[0].units
    lent = cat.spare_cores("trn2-server") * (units - serving) + cpu
    every_unit = cat.spare_cores("trn2-server") * units + cpu
    need = plan.rl[0].verifier_cores_by_site["rainier"]
    assert p0.end_s == rl.end_s and need <= lent < every_unit
    factor = (lent + every_unit) / 2 / need  # between the two: only the busy units decide
    costs = {isa: c * factor for isa, c in rl.rl.verifier_core_s_by_isa.items()}
    costlier = dataclasses.replace(rl, rl=dataclasses.replace(rl.rl, verifier_core_s_by_isa=costs))
    broken = [costlier if d is rl else d for d in dem]
    found = {name: msgs for name, msgs in check_plan(plan, sc, broken).items() if msgs}
    assert list(found) == ["verifier_cores"], found
    assert "rainier in period 0" in found["verifier_cores"][0]


def test_rack_headroom_catches_a_pool_served_without_its_spare(tmp_path: Path) -> None:
    """A tier with N+1 racks: its plan with the spare unit taken off its serving row (the pool
    still holds every allocation) fails rack_headroom only, naming the pool."""
    from test_serving_placement import one_pool

    sc = one_pool(tmp_path, headroom={"k": 1, "domain": "rack"})
    plan = planner.solve(sc)
    broken = copy(plan)
    broken.serving[0] = dataclasses.replace(broken.serving[0], spare_units={})
    found = {
        name: msgs for name, msgs in check_plan(broken, sc, planner.demands(sc)).items() if msgs
    }
    assert list(found) == ["rack_headroom"], found
    assert "chat serves from a/hgx-h100 in period 0" in found["rack_headroom"][0]


def test_kv_hop_and_colocated_catch_prefill_moved_across_sites(tmp_path: Path) -> None:
    """A tier that prefills at a for decode at b: checked against a hop budget shorter than the
    link's latency, kv_hop alone fails; with its KV shares dropped from the serving row, the
    sites' prefill and decode no longer balance and colocated alone fails."""
    from test_serving_placement import split_sites

    sc = split_sites(tmp_path, disaggregate_across_sites=True)
    dem = planner.demands(sc)
    plan = planner.solve(sc)
    assert plan.serving[0].kv_shares
    tight = [dataclasses.replace(d, kv_hop_budget_s=1e-3) for d in dem]
    found = {name: msgs for name, msgs in check_plan(plan, sc, tight).items() if msgs}
    assert list(found) == ["kv_hop"], found
    assert "chat prefills at a for decode at b" in found["kv_hop"][0]

    broken = copy(plan)
    broken.serving[0] = dataclasses.replace(broken.serving[0], kv_shares={})
    found = {name: msgs for name, msgs in check_plan(broken, sc, dem).items() if msgs}
    # cost_lines too: the link charges for the KV traffic now have no traffic to price.
    assert list(found) == ["colocated", "cost_lines"], found
    assert any(m.startswith("chat links: the cost rows charge") for m in found["cost_lines"])
    assert "chat at a in period 0" in found["colocated"][0]


def test_kv_peak_catches_kv_over_a_link_in_one_period_within_its_average(
    tmp_path: Path,
) -> None:
    """A growing tier planned over a 10 Tbps link, checked against a 4 Tbps one: the year's
    average KV fits (link_capacity holds), its second half-year's does not: kv_peak alone
    fails, naming the link and the period."""
    from test_serving_placement import growing_split

    plan = planner.solve(growing_split(tmp_path, "10 Tbps"))
    thin = growing_split(tmp_path, "4 Tbps")
    (link,) = plan.links
    assert 0 < link.traffic_bytes_per_s <= thin.topology.links()[0].capacity_bytes_per_s
    found = {
        name: msgs for name, msgs in check_plan(plan, thin, planner.demands(thin)).items() if msgs
    }
    assert list(found) == ["kv_peak"], found
    assert "link a--b in period 1" in found["kv_peak"][0]


def test_sandbox_memory_catches_sandboxes_larger_than_the_plan_was_made_for(
    tmp_path: Path,
) -> None:
    """A plan made for 32 GB sandboxes, checked with sandboxes holding twice as much: the cores
    are unchanged, the memory lent is not enough: sandbox_memory alone fails."""
    from test_sandboxes import memory_rainier

    sc = planner.load_scenario(memory_rainier(tmp_path))
    dem = planner.demands(sc)
    plan = planner.solve(sc)
    out = []
    for d in dem:
        if d.rl is not None:
            held = {isa: 2 * b for isa, b in d.rl.verifier_byte_s_by_isa.items()}
            d = dataclasses.replace(d, rl=dataclasses.replace(d.rl, verifier_byte_s_by_isa=held))
        out.append(d)
    found = {name: msgs for name, msgs in check_plan(plan, sc, out).items() if msgs}
    assert list(found) == ["sandbox_memory"], found
    assert "rainier in period 0" in found["sandbox_memory"][0]


def test_relaxed_plans_skip_the_whole_unit_rules(solved: Case) -> None:
    _, sc, dem = solved
    relaxed = planner.solve(sc, relax=True)
    checks = verify(relaxed, sc, dem)
    assert "whole_units" not in checks and "power_cap" in checks
    # solver_whole is one of them: the relaxation's unrounded units are not even read
    assert "solver_whole" not in checks and relaxed.solver_values == {}


def test_a_broken_allocation_row_is_caught_through_the_api(solved: Case) -> None:
    """The records a user gets back are what is checked: a row edited by hand fails."""
    plan, sc, dem = solved
    broken = copy(plan)
    broken.allocations.append(
        AllocationRow(**{**dataclasses.asdict(broken.allocations[0]), "units": 1e6})
    )
    with pytest.raises(VerificationError):
        verify(broken, sc, dem)


@pytest.mark.parametrize("sites", [25, 50])
def test_relaxed_plans_of_the_bench_fleets_verify(tmp_path: Path, sites: int) -> None:
    """The LP relaxation of bench/bench_lp.py's 25-site scenario keeps RL samples of a few
    millionths at a site whose allocations are a few 1e-7 units: read and checked at the scale
    of their rows, the plan verifies (it failed verification when values under 1e-6 were read
    as 0)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from bench_lp import write_scenario

    sc = planner.load_scenario(write_scenario(tmp_path, sites, 3, 12, 2))
    plan = planner.solve(sc, relax=True)
    assert plan.status == "relaxed" and "with_generation" in plan.checks


def test_the_solved_plan_carries_what_the_solver_left(solved: Case) -> None:
    """The new rules check real values: every whole-unit variable and the objective are there,
    and the objective (constant added back) matches the total to the solver's precision."""
    plan, _, _ = solved
    assert any("units ordered" in name for name in plan.solver_values)
    assert plan.solver_objective_usd is not None
    assert plan.solver_objective_usd == pytest.approx(plan.total_cost_usd, rel=1e-6)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_objective_and_unrounded_units_agree_under_both_solvers(solver: str) -> None:
    scenario = planner.load_scenario(DEFAULT, scenarios=["h100_only"])
    plan = planner.solve(scenario, solver=solver)
    assert {"solver_whole", "solver_objective"} <= set(plan.checks)
    assert plan.solver_objective_usd == pytest.approx(plan.total_cost_usd, rel=1e-5)


def test_busy_units_catches_busy_hours_the_energy_was_priced_from(solved: Case) -> None:
    """cost_lines prices energy from the schedule's busy units: a plan stating one GB200 rack
    fewer busy at dc-east in period 0, its energy cost rows and cash flow lowered to match, adds
    up everywhere else (every other rule holds); busy_units recomputes the busy units from the
    allocations and names the pool and period."""
    from planner.verify_costs import Lines, pool_lines

    plan, sc, dem = solved
    broken = copy(plan)
    i = schedule_index(broken, "dc-east", "gb200-nvl72")
    r = broken.schedule[i]
    broken.schedule[i] = dataclasses.replace(r, busy_units=r.busy_units - 1.0)

    def energy(p: Plan) -> float:
        lines = Lines(len(p.cash_flow))
        pool_lines(Context(p, sc, dem), lines)
        return lines.by_line[("energy", "dc-east", "gb200-nvl72")][0]

    saved = energy(plan) - energy(broken)  # one rack-period's energy, US$
    assert saved > 1.0
    rows = [k for k, c in enumerate(broken.costs_rows) if c.component == "energy"]
    rows = [k for k in rows if broken.costs_rows[k].system == "gb200-nvl72"]
    rows = [k for k in rows if broken.costs_rows[k].datacenter == "dc-east"]
    pool = sum(broken.costs_rows[k].cost_usd for k in rows)
    for k in rows:
        c = broken.costs_rows[k]
        broken.costs_rows[k] = dataclasses.replace(c, cost_usd=c.cost_usd * (1 - saved / pool))
    broken.total_cost_usd -= saved
    cumulative = 0.0
    for k, row in enumerate(broken.cash_flow):
        less = saved if row.period == 0 else 0.0
        cumulative += row.cost_usd - less
        broken.cash_flow[k] = dataclasses.replace(
            row,
            energy_usd=row.energy_usd - less,
            cost_usd=row.cost_usd - less,
            cumulative_cost_usd=cumulative,
        )
    recash(broken, sc)
    found = {name: msgs for name, msgs in check_plan(broken, sc, dem).items() if msgs}
    assert set(found) == {"busy_units"}, found
    assert "dc-east/gb200-nvl72 in period 0: the schedule says" in found["busy_units"][0]
