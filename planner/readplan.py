"""Read a solved Model into a Plan, one function per table. Units follow the field names."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Set as AbstractSet
from typing import Any

from planner.demand.types import Role
from planner.kinds.inference import read_serving
from planner.kinds.pretrain import sizing_rows
from planner.kinds.rl import push_s, sandbox_peaks
from planner.lp.linear import Col
from planner.lp.model import FAMILIES, GB, S_PER_H, Model, Term, UKey, Var
from planner.lp.objective import (
    S_PER_YEAR,
    cost_by_period,
    discount_weight,
    horizon_end_weight,
    month_after_horizon,
    past_horizon_by_month,
    period_weight,
    purchases,
    purchases_reweighed_usd,
    resale_at_horizon_usd,
)
from planner.lp.solve import VALUE_ZERO, WORK_ZERO, ZERO_TOL, SolveStats, unbacked
from planner.plan import Plan
from planner.rows import (
    CASH_COLUMNS,
    IDLE_DRAW,
    AfterHorizonRow,
    AllocationRow,
    BindingRow,
    CashFlowRow,
    ContractRow,
    CostRow,
    CpuScheduleRow,
    CpuServerRow,
    FleetRow,
    LinkRow,
    PeriodRow,
    PowerRow,
    PresentValueRow,
    ResaleRow,
    RLRow,
    ScheduleRow,
    ServingRow,
    ShadowPriceRow,
    SiteOpeningRow,
    SolverRow,
    WorkloadRow,
)
from planner.traffic import routed_traffic

# A constraint binds when its slack is within this share of its right-hand side.
BINDING_REL_TOL = 1e-6
# Cost terms smaller than this (US$) are solver noise.
COST_ZERO_USD = 1e-6


def value_of(var: Any) -> float:
    """A variable's solved value, solver noise (< VALUE_ZERO) read as 0."""
    # A variable's value() is its varValue, read here without the method call (a plan reads
    # ~440k values at 174k columns); an expression's value() sums its terms.
    v = var.varValue if type(var) is Col else var.value() if hasattr(var, "value") else var
    return 0.0 if v is None or abs(v) < VALUE_ZERO else float(v)


def read_plan(model: Model, stats: SolveStats, relaxed: bool) -> Plan:
    """Every table of the plan from the solved model."""
    scenario = model.scenario
    # the allocations not at 0, read once (a scan of every allocation's value: four readers)
    in_use = model.u_in_use()
    # left out of the allocations, the busy units likewise
    noise = unbacked(model, relaxed, in_use)
    schedule = read_schedule(model, relaxed, in_use, noise)
    fleet = read_fleet(model, schedule, in_use, noise)
    cpu_schedule = read_cpu_schedule(model, relaxed)
    cpu_servers = read_cpu_servers(model, cpu_schedule)
    allocations = read_allocations(model, in_use, relaxed, noise)
    rl = read_rl(model, allocations)
    serving = read_serving(model, allocations)
    costs = read_costs(model, fleet, schedule, allocations, rl)
    status = "relaxed" if relaxed else ("optimal" if stats.sol_status == 1 else "feasible")
    plan = Plan(
        status=status,
        scenario=scenario.name,
        total_cost_usd=sum(t.cost_usd for t in costs),
        lower_bound_usd=stats.lower_bound_usd,
        lp_relaxation_usd=stats.lp_relaxation_usd,
        gap=stats.gap,
        left_out=left_out(model, in_use),
        solver=SolverRow(
            name=stats.solver,
            method=stats.method,
            mip_gap_target=stats.gap_target,
            variables=stats.variables,
            constraints=stats.constraints,
            proof=stats.proof,
        ),
        periods=[PeriodRow(p.index, p.start_s, p.end_s) for p in model.periods],
        workloads=[
            WorkloadRow(d.name, d.kind, d.start_s, d.end_s, d.peak_to_average)
            for d in model.demands
        ],
        schedule=schedule,
        fleet=fleet,
        cpu_servers=cpu_servers,
        power=read_power(model, schedule, cpu_schedule),
        allocations=allocations,
        rl=rl,
        links=read_links(model, allocations, rl, serving),
        costs_rows=costs,
        binding_constraints=read_binding(model),
        shadow_prices=read_shadow_prices(model),
        stats={"lp_s": stats.lp_s, "mip_s": stats.mip_s},
        cash_flow=read_cash_flow(model, schedule, cpu_schedule),
        site_openings=read_site_openings(model),
        contracts=read_contracts(model, relaxed),
        cpu_schedule=cpu_schedule,
        serving=serving,
        solver_values={} if relaxed else solver_values(model),  # rule solver_whole's
        solver_objective_usd=model.solver_objective_usd,
        solver_notes=list(model.solver_notes),
    )
    plan.resale_at_horizon = read_resale(model, plan.cash_flow)
    plan.after_horizon_payments = read_after_horizon(
        model, plan.resale_at_horizon or plan.cash_flow
    )
    if model.scenario.data.economics.discount_rate is not None:
        plan.present_value = read_present_value(model, plan.cash_flow)
    if model.candidate:  # model sizing (planner/kinds/pretrain.py)
        plan.sizing = sizing_rows(model)
    return plan


def solver_values(model: Model) -> dict[str, float]:
    """The whole-unit variables as the solver left them, unrounded (the verifier checks that
    they are whole, rather than trusting the rounding in `_count`)."""
    named: list[tuple[str, Any]] = [
        *((f"{d}/{s} units ordered in period {t}", v) for (d, s, t), v in model.buy.items()),
        *((f"{d}/{s} units rented in period {t}", v) for (d, s, t), v in model.rent.items()),
        *(
            (f"{d}/{s} units on contract {k} from period {t}", v)
            for (d, s, t, k), v in model.contract.items()
        ),
        *((f"{d}/{s} spot units in period {t}", v) for (d, s, t), v in model.spot.items()),
        *((f"{d} CPU servers ordered in period {t}", v) for (d, t), v in model.cpu_buy.items()),
        *((f"{d} CPU servers rented in period {t}", v) for (d, t), v in model.cpu_rent.items()),
        *((f"{d} opened in period {t}", v) for (d, t), v in model.site_open.items()),
        *((f"{w} pretrains at {d}", v) for (w, d), v in model.site.items()),
        *((f"{w} trains at {d}", v) for (w, d), v in model.trainer.items()),
        *((f"{w} generates at {d}", v) for (w, d), v in model.generates.items()),
        *((f"{w} chooses {c}", v) for (w, c), v in model.candidate.items()),
        *(
            (f"{w} serves from {d}/{s} in period {p}", v)
            for (w, d, s, p), v in model.serves.items()
        ),
        *((f"{w} on {s} (one system)", v) for (w, s), v in model.system_choice.items()),
        *(
            (f"{w}/{r} running on {d}/{s} in period {p}", v)
            for (w, r, d, s, p), v in model.running.items()
        ),
        *((f"{w} done by period {p}", v) for (w, p), v in model.done.items()),
    ]
    return {name: float(var.value() or 0.0) for name, var in named}


def _count(var: Any, relaxed: bool) -> float:
    """A unit count: whole unless the plan is the LP relaxation."""
    return value_of(var) if relaxed else float(round(value_of(var)))


def read_schedule(
    model: Model,
    relaxed: bool,
    in_use: list[tuple[UKey, Var]],
    noise: AbstractSet[str] = frozenset(),
) -> list[ScheduleRow]:
    """Per calendar period and pool: orders, deliveries, owned and rented units in service,
    their power, and the average units busy: those of the allocations the plan keeps (in_use:
    model.u_in_use(); `noise`: the names of those it leaves out, `unbacked`), so the busy units
    the energy is priced from are the allocations' (rule busy_units)."""
    catalog = model.scenario.catalog
    busy_s: dict[tuple[str, str, int], float] = {}
    period = {p.index: p for p in model.periods}
    for (_w, _r, d, s, p), v in in_use:
        units = v.varValue  # value_of(v), without the call
        if units is None or abs(units) < VALUE_ZERO or v.name in noise:
            continue
        key = (d, s, period[p].calendar)
        busy_s[key] = busy_s.get(key, 0.0) + float(units) * period[p].length_s
    out = []
    for d, s in model.pools():
        buys, contracts = model.orders((d, s))
        # Each order's count read once; by the period the order arrives in, in declaration order.
        count = {var.name: _count(var, relaxed) for _, var in buys}
        arrivals: dict[int | None, list[float]] = {}
        for t2, var in buys:
            arrivals.setdefault(model.arrival(s, t2), []).append(count[var.name])
        held = {var.name: _count(var, relaxed) for _, _, var in contracts}
        for t in model.calendar:
            ordered = model.buy.get((d, s, t.index))
            arriving = sum(arrivals.get(t.index, []))
            rented = (
                _count(model.rent[(d, s, t.index)], relaxed)
                if (d, s, t.index) in model.rent
                else 0.0
            )
            # The units in service in t as model.in_service counts them, in its order.
            serving, covering = model.orders_serving((d, s), t.index)
            bought = sum(count[var.name] for var in serving)
            owned = model.owned((d, s)) + bought
            contracted = sum(held[var.name] for var in covering)
            spot = (
                _count(model.spot[(d, s, t.index)], relaxed)
                if (d, s, t.index) in model.spot
                else 0.0
            )
            units = owned + rented + contracted + spot
            out.append(
                ScheduleRow(
                    period=t.index,
                    start_s=t.start_s,
                    end_s=t.end_s,
                    datacenter=d,
                    system=s,
                    ordered=_count(ordered, relaxed) if ordered is not None else 0.0,
                    arriving=arriving,
                    owned_units=owned,
                    rented_units=rented,
                    contracted_units=contracted,
                    spot_units=spot,
                    units=units,
                    power_w=units * catalog.system(s).power_w,
                    busy_units=busy_s.get((d, s, t.index), 0.0) / t.length_s,
                )
            )
    return out


def read_contracts(model: Model, relaxed: bool) -> list[ContractRow]:
    """Every term contract signed (units > 0), per pool in declaration order."""
    out = []
    for d, s in model.pools():
        offers = model.scenario.catalog.system(s).contracts
        for t0, k, var in model.orders((d, s))[1]:
            units = _count(var, relaxed)
            if units > 0:
                offer = offers[k]
                out.append(ContractRow(d, s, t0, k, offer.term_s, offer.usd_per_hour, units))
    return out


def read_site_openings(model: Model) -> list[SiteOpeningRow]:
    """Each candidate site: whether and when it is opened, and when it is ready."""
    opened_at: dict[str, list[int]] = {}
    for (d2, t0), v in model.site_open.items():
        if value_of(v) > 0.5:
            opened_at.setdefault(d2, []).append(t0)
    out = []
    for d in model.sites:
        candidate = model.scenario.topology.site(d).candidate
        if candidate is None:
            continue
        opened = opened_at.get(d, [])
        t = opened[0] if opened else None
        out.append(
            SiteOpeningRow(
                datacenter=d,
                opened=t is not None,
                opened_period=t,
                ready_period=model.site_ready(d, t) if t is not None else None,
                opening_cost_usd=candidate.opening_cost_usd,
            )
        )
    return out


def read_cash_flow(
    model: Model, schedule: list[ScheduleRow], cpu_schedule: list[CpuScheduleRow]
) -> list[CashFlowRow]:
    """Per calendar period: capex paid (units and CPU-only servers ordered, or arriving, x
    capex x (1 + network and storage share)), and every cost term split over the periods
    (objective.cost_by_period)."""
    catalog = model.scenario.catalog
    at_order = model.scenario.data.economics.capex_paid_at == "order"
    paid = [0.0] * len(model.calendar)
    bought: list[ScheduleRow | CpuScheduleRow] = [*schedule, *cpu_schedule]
    for r in bought:
        spec = catalog.system(r.system)
        units = r.ordered if at_order else r.arriving
        # one fleet for the horizon under ends: the unit and its replacements (purchases)
        whole = spec.capex_usd * purchases(model, r.system)
        paid[r.period] += units * whole * (1 + (spec.network_storage_capex_fraction or 0))
    columns: dict[str, list[float]] = {c: [0.0] * len(paid) for c in set(CASH_COLUMNS.values())}
    columns["other_opex_usd"] = [0.0] * len(paid)
    for component, usd in cost_by_period(model, value_of).items():
        column = columns[CASH_COLUMNS.get(component, "other_opex_usd")]
        for i, x in enumerate(usd):
            column[i] += x
    out: list[CashFlowRow] = []
    cost_sum = cash_sum = 0.0
    for t in model.calendar:
        figures = {c: v[t.index] for c, v in columns.items()}
        cost = sum(figures.values())
        cash = paid[t.index] + cost - figures["capital_charge_usd"]
        cost_sum += cost
        cash_sum += cash
        out.append(
            CashFlowRow(
                period=t.index,
                start_s=t.start_s,
                end_s=t.end_s,
                capex_paid_usd=paid[t.index],
                **figures,
                cost_usd=cost,
                cumulative_cost_usd=cost_sum,
                cash_out_usd=cash,
                cumulative_cash_usd=cash_sum,
            )
        )
    return out


def read_resale(model: Model, cash_flow: list[CashFlowRow]) -> list[ResaleRow] | None:
    """The resale received at the horizon's end (economics.after_horizon ends, resale_fraction;
    objective.resale_at_horizon_usd), one row at H: a credit in the cost and cash, the cash
    flow's cumulative figures carried on, weighed 1 / (1 + r)^(H / year) (1 without a
    discount_rate); None when nothing is resold (the plan JSON then has no such key)."""
    usd = resale_at_horizon_usd(model, value_of)
    if usd <= 0:
        return None
    weight = horizon_end_weight(model)
    cost_sum = (cash_flow[-1].cumulative_cost_usd if cash_flow else 0.0) - usd
    cash_sum = (cash_flow[-1].cumulative_cash_usd if cash_flow else 0.0) - usd
    horizon_s = model.scenario.data.economics.horizon_s
    return [ResaleRow(horizon_s, usd, -usd, cost_sum, cash_sum, weight, -weight * usd)]


def read_after_horizon(
    model: Model, before: list[CashFlowRow] | list[ResaleRow]
) -> list[AfterHorizonRow] | None:
    """Per month after the horizon with a contract payment due (economics.after_horizon ends;
    objective.past_horizon_by_month): its face value, the cash flow's cumulative cost and cash
    carried on, and its discount weight (1 without a discount_rate) and present value; None
    when no payment falls past the horizon (the plan JSON then has no such key)."""
    by_month = past_horizon_by_month(model, value_of)
    if not by_month:
        return None
    rate = model.scenario.data.economics.discount_rate
    horizon_s = model.scenario.data.economics.horizon_s
    cost_sum = before[-1].cumulative_cost_usd if before else 0.0
    cash_sum = before[-1].cumulative_cash_usd if before else 0.0
    out = []
    for i, usd in by_month.items():
        a, b = month_after_horizon(horizon_s, i)
        weight = 1.0 if rate is None else discount_weight(rate, a, b)
        cost_sum += usd
        cash_sum += usd
        out.append(AfterHorizonRow(i + 1, a, b, usd, cost_sum, cash_sum, weight, weight * usd))
    return out


def read_present_value(model: Model, cash_flow: list[CashFlowRow]) -> list[PresentValueRow]:
    """Per calendar period: its discount weight (objective.discount_weight) and the cash flow's
    nominal cost weighed by it (the contract payments past the horizon, economics.after_horizon
    ends, are weighed in read_after_horizon's rows); with one fleet for the horizon under ends,
    its purchases at their own instants instead (objective.purchases_reweighed_usd)."""
    rate = model.scenario.data.economics.discount_rate
    assert rate is not None
    # one fleet for the horizon under ends: its purchases at their own instants
    reweighed = purchases_reweighed_usd(model, value_of)
    out = []
    for row in cash_flow:
        weight = discount_weight(rate, row.start_s, row.end_s)
        out.append(
            PresentValueRow(
                period=row.period,
                start_s=row.start_s,
                end_s=row.end_s,
                discount_rate=rate,
                mid_years=(row.start_s + row.end_s) / 2 / S_PER_YEAR,
                discount_weight=weight,
                cost_usd=row.cost_usd,
                present_value_usd=weight * row.cost_usd + reweighed,
            )
        )
    return out


def left_out(model: Model, in_use: list[tuple[UKey, Var]]) -> list[str]:
    """What this plan does not charge or check, given the scenario's figures (every optional
    cost figure that is absent, and the model's standing simplifications; in_use:
    model.u_in_use())."""
    catalog = model.scenario.catalog
    topo = model.scenario.topology
    placed = sorted({s for _, s in model.pools()})
    cpu_systems = sorted(
        {c.system for d in model.sites if (c := topo.site(d).cpu_servers) is not None}
    )
    # the CPU-only servers' note only where the plan holds some
    cpu_held = any(
        (c := topo.site(d).cpu_servers) is not None and c.owned > 0 for d in model.sites
    ) or any(value_of(v) > 0 for v in [*model.cpu_buy.values(), *model.cpu_rent.values()])
    out = []
    for what, attr in (
        ("maintenance", "maintenance_fraction_per_year"),
        ("scale-out network and storage capex", "network_storage_capex_fraction"),
        ("idle power", "idle_power_fraction"),
    ):
        charged = placed if attr == "idle_power_fraction" else sorted({*placed, *cpu_systems})
        missing = [s for s in charged if getattr(catalog.system(s), attr) is None]
        if missing:
            out.append(f"{what} not charged for {', '.join(missing)} (catalog {attr} not given)")
    for system in cpu_systems if cpu_held else []:
        spec = catalog.system(system)
        note = (
            f"CPU-only servers ({system}) draw their nameplate power while in service (no busy "
            "measure: catalog idle_power_fraction not applied)"
        )
        if spec.contracts:
            note += (
                "; they are bought or rented on demand, never under the catalog's term contracts"
            )
        out.append(note)
    sites = [d for d in model.sites if topo.site(d).facility_usd_per_kw_month is None]
    if sites:
        out.append(
            f"facility (colocation) cost not charged at {', '.join(sites)} "
            "(topology facility_usd_per_kw_month not given)"
        )
    unchecked = [
        d.name
        for d in model.demands
        if d.rl is not None and d.rl.verifier_core_s_by_isa and not d.rl.verifier_byte_s_by_isa
    ]
    if unchecked:
        out.append(
            f"sandbox memory not checked for {', '.join(unchecked)} (no verifier states "
            "memory_per_sandbox)"
        )
    for d in model.demands:
        if d.rl is not None and not d.rl.colocated and d.rl.pool_sync_s_by_system:
            out.append(
                f"{d.name} (separate pools): each update's weight sync (the trained weights "
                "broadcast to the generators, both pools waiting) paces it, and the units idle "
                "during it are charged as the window's share it takes (updates x that time / "
                "window: a lower bound when the run ends before its deadline)"
            )
        if d.rl is None or not d.rl.colocated:
            continue
        generate = next(r for r in d.roles if r.name == "generate")
        bare = [
            s
            for s, rate in generate.rates.items()
            if rate.per_unit_s > 0 and s not in d.rl.colocated_update_s_by_system
        ]
        note = (
            f"{d.name} (colocated): the refit, offload and engine overhead of each update pace "
            "it, and the units idle during them are charged as the window's share they take "
            "(updates x that time / window: a lower bound when the run ends before its deadline)"
        )
        if bare:
            note += f"; none of it is modelled on {', '.join(sorted(bare))} (no `rl:` figures)"
        out.append(note)
    labels: dict[str, list[str]] = {}  # each caveat's text: the workloads it applies to
    runs_on = {(w, r, sys_) for (w, r, _d, sys_, _p), v in in_use if value_of(v) > 0}
    for d in model.demands:
        for caveat in d.caveats:
            if not caveat.systems:
                labels.setdefault(caveat.text, []).append(caveat.label)
                continue
            used = [
                sys_
                for sys_ in caveat.systems
                if any(
                    (d.name, r.name, sys_) in runs_on
                    for r in d.roles
                    if caveat.role is None or r.name == caveat.role
                )
            ]
            if used:
                labels.setdefault(caveat.text, []).append(f"{caveat.label} on {', '.join(used)}")
    out += [text.format(", ".join(names)) for text, names in labels.items()]
    unpaced = [
        d.name for d in model.demands if d.rl is not None and not d.rl.update_floor_s_by_system
    ]
    if unpaced:
        out.append(
            f"the time an RL update waits for its longest sample not checked for "
            f"{', '.join(unpaced)} (max_completion_tokens not given): generation runs at the "
            "run's concurrency with no drain to a longest response, as if no update waited "
            "for a straggler"
        )
    if any(f.kind == "kv" for f in model.flows):
        out.append(
            "KV cache between sites checked against each link per period on its own, and with "
            "the other flows (trajectories, weights, gradients) only as averages over their "
            "windows (docs/lp.md)"
        )
    growing = _growth_within_periods(model)
    if growing:
        out.append(
            "serving loads that grow (or shrink) are met on each period's average, not at "
            "their busiest moment in it (its end when growing, its start when shrinking), up to "
            + ", ".join(f"{ratio:.3g}x that average for {name}" for name, ratio in growing)
            + " (growth_per_year over the period's length; a shorter economics.period narrows "
            "it)"
        )
    if not model.multi_period:
        out.append(
            "one fleet for the whole horizon: no lead times, retirements or growth-staged "
            "buying (set economics.period to plan them)"
        )
    else:
        no_lead = [s for s in placed if catalog.system(s).lead_time_s is None]
        if no_lead:
            out.append(
                f"no delivery lead time for {', '.join(no_lead)} (catalog lead_time not given)"
            )
        supply = model.scenario.data.economics.supply
        unlimited = [
            s for s in placed if s not in supply and catalog.system(s).supply_per_year is None
        ]
        if unlimited:
            out.append(
                f"no vendor supply limit for {', '.join(unlimited)} (economics.supply or catalog "
                "supply_per_year not given)"
            )
    if model.scenario.data.economics.pricing == "mixed":
        no_spot = [s for s in placed if catalog.system(s).spot_usd_per_hour is None]
        if no_spot:
            out.append(
                f"no spot capacity for {', '.join(no_spot)} (catalog spot_usd_per_hour not given)"
            )
    return out


def _growth_within_periods(model: Model) -> list[tuple[str, float]]:
    """Per steady load that grows (or shrinks), the largest ratio over the periods in its
    window of the load's peak in the period to its average there, the figure the serve rows
    meet (their share of the load, load_between): with y = g^(L / year) over a period's L
    inside the window, peak / average = max(1, y) · ln y / (y - 1). Before session 24 a plan
    did not say it: reasoning in frontier-3y (x3 a year, 91-day periods) is 1.14x its
    quarter's average at each quarter's end."""
    out = []
    for d in model.demands:
        g = d.growth_per_year
        if not d.steady_load or g == 1.0:
            continue
        worst = 1.0
        for period in model.periods:
            a, b = max(period.start_s, d.start_s), min(period.end_s, d.end_s)
            if b <= a:
                continue
            y = g ** ((b - a) / (365 * 86400.0))
            worst = max(worst, max(1.0, y) * math.log(y) / (y - 1.0))
        if worst > 1.0 + 1e-9:
            out.append((d.name, worst))
    return out


def read_fleet(
    model: Model,
    schedule: list[ScheduleRow],
    in_use: list[tuple[UKey, Var]],
    noise: AbstractSet[str] = frozenset(),
) -> list[FleetRow]:
    """Units per pool at its peak over the horizon, with accelerators, cores, power, and
    utilisation = busy unit-seconds / unit-seconds in service (in_use: model.u_in_use(); of the
    allocations the plan keeps: `noise` as for read_schedule)."""
    catalog = model.scenario.catalog
    length = {p.index: p.length_s for p in model.periods}
    busy: dict[tuple[str, str], float] = {}
    for (_w, _r, d, s, p), v in in_use:
        units = v.varValue  # value_of(v), without the call (adding
        if units is None or abs(units) < VALUE_ZERO or v.name in noise:  # 0.0 leaves the sum)
            continue
        busy[(d, s)] = busy.get((d, s), 0.0) + float(units) * length[p]
    by_pool: dict[tuple[str, str], list[ScheduleRow]] = {}
    for r in schedule:
        by_pool.setdefault((r.datacenter, r.system), []).append(r)
    out = []
    for d, s in model.pools():
        rows = by_pool.get((d, s), [])
        peak = max(rows, key=lambda r: r.units)  # the first period at the peak
        units = peak.units
        in_service_s = sum(r.units * (r.end_s - r.start_s) for r in rows)
        busy_s = busy.get((d, s), 0.0)
        system = catalog.system(s)
        owned = model.owned((d, s))
        out.append(
            FleetRow(
                datacenter=d,
                system=s,
                units=units,
                owned_units=owned,
                new_units=max(0.0, units - owned),
                bought_units=peak.owned_units - owned,
                contracted_units=peak.contracted_units,
                rented_units=peak.rented_units,
                spot_units=peak.spot_units,
                max_units=model.max_units((d, s)),
                accelerators=units * system.accelerators,
                cpu_cores=units * catalog.system_cores(s),
                power_w=units * system.power_w,
                utilisation=busy_s / in_service_s if in_service_s > 0 else 0.0,
            )
        )
    return out


def read_cpu_schedule(model: Model, relaxed: bool) -> list[CpuScheduleRow]:
    """CPU-only servers per site and calendar period: ordered, arriving, owned and rented in
    service (whole unless relaxed)."""
    catalog = model.scenario.catalog
    topo = model.scenario.topology
    # Whole counts by (site, period the order arrives in), orders in declaration order.
    arrivals: dict[tuple[str, int | None], list[float]] = {}
    for (d2, t2), var in model.cpu_buy.items():
        cpu2 = topo.site(d2).cpu_servers
        if cpu2 is not None:
            key = (d2, model.arrival(cpu2.system, t2))
            arrivals.setdefault(key, []).append(_count(var, relaxed))
    out = []
    for d in model.sites:
        cpu = topo.site(d).cpu_servers
        if cpu is None:
            continue
        spec = catalog.system(cpu.system)
        for t in model.calendar:
            ordered = model.cpu_buy.get((d, t.index))
            arriving = sum(arrivals.get((d, t.index), []))
            rent = model.cpu_rent.get((d, t.index))
            rented = _count(rent, relaxed) if rent is not None else 0.0
            in_service = sum(_count(v, relaxed) * c for v, c in model.cpu_in_service(d, t.index))
            owned = cpu.owned + in_service - rented
            units = owned + rented
            out.append(
                CpuScheduleRow(
                    period=t.index,
                    start_s=t.start_s,
                    end_s=t.end_s,
                    datacenter=d,
                    system=cpu.system,
                    ordered=_count(ordered, relaxed) if ordered is not None else 0.0,
                    arriving=arriving,
                    owned_units=owned,
                    rented_units=rented,
                    units=units,
                    cpu_cores=units * catalog.system_cores(cpu.system),
                    power_w=units * spec.power_w,
                )
            )
    return out


def read_cpu_servers(model: Model, cpu_schedule: list[CpuScheduleRow]) -> list[CpuServerRow]:
    """CPU-only servers per site at their peak over the horizon."""
    by_site: dict[str, list[CpuScheduleRow]] = {}
    for r in cpu_schedule:
        by_site.setdefault(r.datacenter, []).append(r)
    out = []
    for d in model.sites:
        cpu = model.scenario.topology.site(d).cpu_servers
        rows = by_site.get(d, [])
        if cpu is None or not rows:
            continue
        peak = max(rows, key=lambda r: r.units)
        out.append(
            CpuServerRow(
                datacenter=d,
                system=cpu.system,
                units=peak.units,
                owned_units=cpu.owned,
                new_units=max(0.0, peak.units - cpu.owned),
                bought_units=peak.owned_units - cpu.owned,
                rented_units=peak.rented_units,
                cpu_cores=peak.cpu_cores,
                power_w=peak.power_w,
            )
        )
    return out


def read_power(
    model: Model, schedule: list[ScheduleRow], cpu_schedule: list[CpuScheduleRow]
) -> list[PowerRow]:
    """IT power of each site's units and CPU servers, x PUE, against its cap, in the calendar
    period where the site is closest to its cap."""
    gpu_w: dict[tuple[str, int], list[float]] = {}
    for r in schedule:
        gpu_w.setdefault((r.datacenter, r.period), []).append(r.power_w)
    cpu_w: dict[tuple[str, int], list[float]] = {}
    for c in cpu_schedule:
        cpu_w.setdefault((c.datacenter, c.period), []).append(c.power_w)
    out = []
    for d in model.sites:
        site = model.scenario.topology.site(d)
        worst: PowerRow | None = None
        for t in model.calendar:
            it_w = sum(gpu_w.get((d, t.index), []))
            it_w += sum(cpu_w.get((d, t.index), []))
            cap_w = site.power_cap_between(t.start_s, t.end_s)
            row = PowerRow(
                datacenter=d,
                it_power_w=it_w,
                facility_power_w=it_w * site.pue,
                power_cap_w=cap_w,
                pue=site.pue,
                share_of_cap=it_w * site.pue / cap_w,
            )
            if worst is None or row.share_of_cap > worst.share_of_cap:
                worst = row
        assert worst is not None
        out.append(worst)
    return out


def read_allocations(
    model: Model,
    in_use: list[tuple[UKey, Var]],
    relaxed: bool = False,
    noise: AbstractSet[str] | None = None,
) -> list[AllocationRow]:
    """Units given to each work item in each pool and period, with the work they do there:
    work_done = units x rate x period length. Every allocation is kept but the tiny ones (under
    WORK_ZERO of the role's amount) that are solver noise (under VALUE_ZERO units) or that nothing
    in the plan backs (`unbacked`: no unit in service, or off its site/system choice), which are
    the solvers' tolerance at work: a tiny demand (one request a day) keeps its tiny allocation,
    and so does the sliver of a tier's work the LP put on a second pool (in_use:
    model.u_in_use())."""
    roles: dict[tuple[str, str], Role] = {}
    for demand in model.demands:
        for x in reversed(demand.roles):  # the first of a name, as a scan from the start finds
            roles[(demand.name, x.name)] = x
    period = {p.index: p for p in model.periods}
    left_out = unbacked(model, relaxed) if noise is None else noise
    out = []
    for (w, r, d, s, p), var in in_use:
        units = float(var.varValue or 0.0)  # var.value(), without the call per allocation
        if units <= 0:
            continue
        role = roles[(w, r)]
        rate = role.rates[s]
        work = units * rate.per_unit_s * period[p].length_s
        if work < WORK_ZERO * role.amount and units < VALUE_ZERO or var.name in left_out:
            continue  # solver noise, or the tolerance's work on nothing the plan backs
        out.append(
            AllocationRow(
                workload=w,
                role=r,
                datacenter=d,
                system=s,
                period=p,
                period_start_s=period[p].start_s,
                period_end_s=period[p].end_s,
                units=units,
                period_s=period[p].length_s,
                rate_per_unit_s=rate.per_unit_s,
                work_unit=role.work_unit,
                work_done=work,
                share_of_role=work / role.amount if role.amount else None,
                rate_derivation=rate.reason,
            )
        )
    return out


def read_rl(model: Model, allocations: list[AllocationRow]) -> list[RLRow]:
    """Per RL workload: its trainer site, samples by site, and the verifier cores and sandbox
    memory each site needs in its busiest LP period (recomputed from the generate role's
    allocations, not read from the LP's core variables, which are only bounded below)."""
    out = []
    for demand in model.demands:
        if demand.rl is None:
            continue
        w = demand.name
        trainer = [d for d in model.sites if value_of(model.trainer[(w, d)]) > 0.5]
        samples = {d: value_of(model.samples[(w, d)]) for d in model.sites}
        cores, memory = sandbox_peaks(demand, allocations)
        pushes: dict[str, float] = {}
        if len(trainer) == 1:
            for d, g in samples.items():
                took = push_s(model, demand, trainer[0], d) if g > 0 and d != trainer[0] else None
                if took is not None:
                    pushes[d] = took
        out.append(
            RLRow(
                workload=w,
                trainer_site=trainer[0] if len(trainer) == 1 else trainer,
                samples_by_site={d: g * demand.rl.samples for d, g in samples.items() if g > 0},
                verifier_cores_by_site=cores,
                verifier_memory_bytes_by_site=memory,
                update_interval_s=demand.window_s / demand.rl.updates,
                weight_push_s_by_site=pushes,
                push_budget_s=demand.rl.push_budget_s(demand.window_s),
            )
        )
    return out


def read_links(
    model: Model,
    allocations: list[AllocationRow],
    rl: list[RLRow],
    serving: list[ServingRow] | None = None,
) -> list[LinkRow]:
    """Traffic per link recomputed from the plan (the LP's flow variables only bound it, free to
    sit anywhere above it when links cost nothing)."""
    topo = model.scenario.topology
    spans = {p.index: (p.start_s, p.end_s) for p in model.periods}
    rl_rows = {r.workload: r for r in rl}
    traffic, _ = routed_traffic(topo, model.demands, rl_rows, allocations, serving, spans)
    out = []
    for link in topo.links():
        used = traffic.get(link.id, 0.0)
        out.append(
            LinkRow(
                link=link.id,
                a=link.a,
                b=link.b,
                traffic_bytes_per_s=used,
                capacity_bytes_per_s=link.capacity_bytes_per_s,
                traffic_gbps=used * 8 / GB,
                capacity_gbps=link.capacity_bytes_per_s * 8 / GB,
                share_of_capacity=used / link.capacity_bytes_per_s,
            )
        )
    return out


def read_costs(
    model: Model,
    fleet: list[FleetRow],
    schedule: list[ScheduleRow],
    allocations: list[AllocationRow],
    rl: list[RLRow],
) -> list[CostRow]:
    """Every non-zero cost term, split over the workloads it serves (see attribution). With
    economics.discount_rate a term's value is a present value, so its unit-seconds are weighed
    alike: each period's by its calendar period's discount weight (objective.period_weight), a
    workload busy late in the horizon taking a smaller share of a pool's present value than
    its face-value unit-seconds would give it (before session 26 they were not weighed)."""
    horizon_s = model.scenario.data.economics.horizon_s
    calendar_of = [p.calendar for p in model.periods]
    weights = [period_weight(model, c.index) for c in model.calendar]
    in_service_s: dict[tuple[str, str], float] = {}
    for row in schedule:
        key = (row.datacenter, row.system)
        seconds = row.units * (row.end_s - row.start_s) * weights[row.period]
        in_service_s[key] = in_service_s.get(key, 0.0) + seconds
    idle_draw = idle_draw_shares(model, schedule, weights)
    if model.scenario.data.economics.discount_rate is not None:
        allocations = [
            dataclasses.replace(a, period_s=a.period_s * weights[calendar_of[a.period]])
            for a in allocations
        ]
    # attribution reads only the allocations (and fleet row) of the term's site or pool: hand it
    # those, in plan order, rather than every row for every term.
    at_site: dict[str | None, list[AllocationRow]] = {}
    at_pool: dict[tuple[str | None, str | None], list[AllocationRow]] = {}
    for a in allocations:
        at_site.setdefault(a.datacenter, []).append(a)
        at_pool.setdefault((a.datacenter, a.system), []).append(a)
    fleet_of: dict[tuple[str | None, str | None], list[FleetRow]] = {}
    for f in fleet:
        fleet_of.setdefault((f.datacenter, f.system), []).append(f)
    out = []
    for term in model.terms:
        value = term.expr.value()
        value = 0.0 if value is None else float(value)
        if abs(value) < COST_ZERO_USD:
            continue
        pool = (term.datacenter, term.system)
        near = at_pool.get(pool, []) if term.system is not None else at_site.get(pool[0], [])
        shares = attribution(
            term,
            fleet_of.get(pool, []),
            near,
            rl,
            horizon_s,
            in_service_s,
            idle_draw.get((term.datacenter or "", term.system or "")),
        )
        for workload, share, basis in shares:
            out.append(
                CostRow(
                    component=term.component,
                    datacenter=term.datacenter,
                    system=term.system,
                    workload=workload,
                    cost_usd=value * share,
                    attributed_by=basis,
                )
            )
    return out


def idle_draw_shares(
    model: Model, schedule: list[ScheduleRow], weights: list[float] | None = None
) -> dict[tuple[str, str], float]:
    """Per pool, the share of its energy term that owned units draw while not working:
    sum_t f (o_t - b_t) h_t w_t / sum_t ((1 - f) b_t + f o_t) h_t w_t, f = idle_power_fraction,
    o_t = owned units in service, b_t = max(0, busy - rented - contracted - spot_goodput x
    spot) their busy units (leased units run first, their energy in their price), h_t = the
    period's hours (the energy term's formula; e = kW x PUE x US$/kWh cancels), w_t calendar
    period t's discount weight (`weights`; 1 at face value). Pools without an
    idle_power_fraction are left out (their idle units draw nothing)."""
    catalog = model.scenario.catalog
    idle_h: dict[tuple[str, str], float] = {}
    energy_h: dict[tuple[str, str], float] = {}
    for r in schedule:
        spec = catalog.system(r.system)
        f = spec.idle_power_fraction or 0.0
        if not f:
            continue
        hours = (r.end_s - r.start_s) / S_PER_H * (weights[r.period] if weights else 1.0)
        goodput = spec.spot_goodput if spec.spot_goodput is not None else 1.0
        leased = r.rented_units + r.contracted_units + goodput * r.spot_units
        busy = min(r.owned_units, max(0.0, r.busy_units - leased))
        key = (r.datacenter, r.system)
        idle_h[key] = idle_h.get(key, 0.0) + f * (r.owned_units - busy) * hours
        energy_h[key] = energy_h.get(key, 0.0) + ((1 - f) * busy + f * r.owned_units) * hours
    return {k: idle_h[k] / energy_h[k] for k in idle_h if energy_h[k] > 0}


def attribution(
    term: Term,
    fleet: list[FleetRow],
    allocations: list[AllocationRow],
    rl: list[RLRow],
    horizon_s: float,
    in_service_s: dict[tuple[str, str], float] | None = None,
    idle_draw_share: float | None = None,
) -> list[tuple[str, float, str]]:
    """How a pool-level cost term splits over workloads: [(workload, share, basis)].

    Pool terms (capex, rental, energy of a datacenter's system) split by unit-seconds used
    (units x window) out of the pool's unit-seconds in service (sum over calendar periods of
    units in service x period length; one period: units x horizon), so a unit that arrives in
    the last quarter is idle only when it does not work in that quarter, not for the quarters
    before it existed; what no workload uses is "(idle)". Energy: the idle draw of owned units
    not working (idle_draw_share, idle_draw_shares) is "(idle)", the rest splits by busy time
    (before session 26 all of it did, and the decision's idle share left out what idle units
    draw). CPU servers split by the verifier cores each RL workload uses at that site. Link
    terms already name their workload.
    """
    if term.workload is not None:
        return [(term.workload, 1.0, "direct")]
    if term.system is None:  # a site's own cost (site_opening): by unit-seconds used there
        at_site: dict[str, float] = {}
        for a in allocations:
            if a.datacenter == term.datacenter:
                at_site[a.workload] = at_site.get(a.workload, 0.0) + a.units * a.period_s
        total = sum(at_site.values())
        if total <= 0:
            return [("(idle)", 1.0, "unused")]
        return [(w, u / total, "unit-seconds at the site") for w, u in at_site.items()]
    if term.component == "cpu_servers":
        cores = {r.workload: r.verifier_cores_by_site.get(term.datacenter or "", 0.0) for r in rl}
        total = sum(cores.values())
        if total <= 0:
            return [("(idle)", 1.0, "no verifier cores used")]
        return [(w, c / total, "verifier cores") for w, c in cores.items() if c > 0]
    used: dict[str, float] = {}
    for a in allocations:
        if (a.datacenter, a.system) == (term.datacenter, term.system):
            used[a.workload] = used.get(a.workload, 0.0) + a.units * a.period_s
    busy = sum(used.values())
    units = next(
        f.units for f in fleet if (f.datacenter, f.system) == (term.datacenter, term.system)
    )
    pool = (term.datacenter or "", term.system)
    capacity = (in_service_s or {}).get(pool, units * horizon_s)
    if term.component == "energy" or capacity <= 0:
        if busy <= 0:
            return [("(idle)", 1.0, "unused")]
        idle_draw = (idle_draw_share or 0.0) if term.component == "energy" else 0.0
        out = [(w, (1 - idle_draw) * u / busy, "busy unit-seconds") for w, u in used.items()]
        if idle_draw > 1e-12:
            out.append(("(idle)", idle_draw, IDLE_DRAW))
        return out
    out = [(w, u / capacity, "unit-seconds in service") for w, u in used.items()]
    idle = max(0.0, 1.0 - busy / capacity)
    if idle > 1e-12:
        out.append(("(idle)", idle, "unit-seconds in service"))
    return out


def read_binding(model: Model) -> list[BindingRow]:
    """Rows of resource families (power, CPU, links, availability) at their limit in this plan.

    With whole units a limit is reached when less than one unit's worth is left (the family's
    unit_step: spare cores one more unit adds, facility MW it draws); otherwise at the limit
    itself. `slack` is what is left, in the row's unit (cores, MW, GB/s, units)."""
    out = []
    for label, con in model.constraints.items():
        fam = FAMILIES[label.family]
        if not fam.resource:
            continue
        slack = con.slack
        if slack is None:
            value = con.value()
            slack = -value if value is not None else None
        if slack is None:
            continue
        rhs = abs(con.constant) if con.constant else 1.0
        step = max(BINDING_REL_TOL * rhs, 1e-7)
        # the unit's step (only ever raises it) and the row's terms (the longest test) asked
        # only where the answer still matters
        binds = abs(slack) < step or (
            fam.unit_step is not None and abs(slack) < fam.unit_step(model, label.entity)
        )
        if binds and any(abs(var.varValue or 0.0) > ZERO_TOL for var in con):
            out.append(BindingRow(str(label), fam.name, max(0.0, slack)))
    return out


def read_shadow_prices(model: Model) -> list[ShadowPriceRow]:
    """From the LP relaxation: what one more MW, core, Gbps or unit would save over the
    horizon (non-zero only where the row binds in the relaxation), in the family's price unit."""
    out = []
    for label, pi in model.duals.items():
        fam = FAMILIES[label.family]
        if fam.price_unit is None or pi is None or abs(pi) < 1e-6:
            continue
        # A <= row's dual is <= 0 in a minimisation: more capacity lowers cost by -pi.
        out.append(ShadowPriceRow(str(label), fam.name, -pi * fam.price_factor, fam.price_unit))
    return out
