"""Verification rules of procurement over time: vendor supply per period, spot capacity kept
away from serving, and the cash-flow table. Registered into planner.verify.RULES on import (the
end of planner/verify.py imports this module)."""

from __future__ import annotations

from planner.lp.model import SAME_INSTANT_S
from planner.rows import CASH_COLUMNS, CpuScheduleRow, ScheduleRow
from planner.verify import ABS_TOL, REL_TOL, Context, rule

# The cash-flow columns that add up to a period's cost.
COST_COLUMNS = (*dict.fromkeys(CASH_COLUMNS.values()), "other_opex_usd")

YEAR_S = 365 * 86400.0


def supply_cap(ctx: Context, system: str, length_s: float) -> int | None:
    """economics.supply[s], else floor(catalog supply_per_year x period / year); None: none."""
    economics = ctx.scenario.data.economics
    if system in economics.supply:
        return economics.supply[system]
    per_year = ctx.scenario.catalog.system(system).supply_per_year
    return None if per_year is None else int(per_year * length_s / YEAR_S + 1e-9)


@rule("supply")
def check_supply(ctx: Context) -> list[str]:
    """per system s and calendar period t: sum over sites of arriving[d,s,t] <= supply[s,t]
    (economics.supply[s], else floor(supply_per_year[s] x len_t / year))"""
    arriving: dict[tuple[str, int], float] = {}
    length: dict[int, float] = {}
    for r in ctx.plan.schedule:
        key = (r.system, r.period)
        arriving[key] = arriving.get(key, 0.0) + r.arriving
        length[r.period] = r.end_s - r.start_s
    out = []
    for (s, t), value in sorted(arriving.items()):
        cap = supply_cap(ctx, s, length[t])
        if cap is not None and value > cap + ABS_TOL:
            out.append(f"{s} in period {t}: {value:g} units arrive, the supply is {cap}")
    return out


@rule("spot")
def check_spot(ctx: Context) -> list[str]:
    """spot_units > 0 only under mixed pricing for a system with a spot offer; serving
    allocations on (d, s) in period p <= units[d,s,t(p)] - spot_units[d,s,t(p)] (serving never
    runs on preemptible units)"""
    mixed = ctx.scenario.data.economics.pricing == "mixed"
    out = []
    for r in ctx.plan.schedule:
        offer = ctx.scenario.catalog.system(r.system).spot_usd_per_hour is not None
        if r.spot_units > 0 and not (mixed and offer):
            out.append(
                f"{r.datacenter}/{r.system} in period {r.period}: {r.spot_units:g} spot units "
                "without a spot offer under mixed pricing"
            )
    serving = {d.name for d in ctx.demands if d.steady_load}
    used: dict[tuple[str, str, int], float] = {}
    starts: dict[int, float] = {}
    for a in ctx.plan.allocations:
        if a.workload in serving:
            key = (a.datacenter, a.system, a.period)
            used[key] = used.get(key, 0.0) + a.units
            starts[a.period] = a.period_start_s
    for (d, s, p), value in sorted(used.items()):
        t = ctx.calendar_of(starts[p])
        spot = ctx.spot.get((d, s, t), 0.0)
        if spot <= 0:  # no spot there: pool_capacity is the check
            continue
        have = ctx.units.get((d, s, t), 0.0) - spot
        if value > have * (1 + REL_TOL) + ABS_TOL:
            out.append(
                f"{d}/{s} in period {p}: serving uses {value:.4g} units, only {have:g} are not spot"
            )
    return out


def capex_paid_by_period(ctx: Context) -> dict[int, float]:
    """Cash for units and CPU-only servers bought, per calendar period, from the schedules:
    (ordered or arriving, by economics.capex_paid_at) x capex x (1 +
    network_storage_capex_fraction), x ceil(H / lifetime) purchases with one fleet for the
    horizon under economics.after_horizon ends (verify_costs.purchases)."""
    from planner.verify_costs import purchases  # registers after this module's rules

    catalog = ctx.scenario.catalog
    at_order = ctx.scenario.data.economics.capex_paid_at == "order"
    paid: dict[int, float] = {}
    bought: list[ScheduleRow | CpuScheduleRow] = [*ctx.plan.schedule, *ctx.plan.cpu_schedule]
    for r in bought:
        spec = catalog.system(r.system)
        units = r.ordered if at_order else r.arriving
        share = 1 + (spec.network_storage_capex_fraction or 0.0)
        whole = spec.capex_usd * purchases(ctx, r.system)  # one fleet under ends: replacements
        paid[r.period] = paid.get(r.period, 0.0) + units * whole * share
    return paid


def cpu_capital_usd(ctx: Context) -> float:
    """Capital the CPU-only servers bought recover inside the horizon, from the CPU schedule:
    sum over orders (arriving a lead_time later) of units x capex x (1 +
    network_storage_capex_fraction) x rate x years in service, rate = r / (1 - (1 + r)^-L)
    (r = economics.cost_of_capital, L = lifetime in years; 1 / L at r = 0), in service from the
    arrival period's start to the end of the last period it serves in (one its life ends
    inside is served whole), inside the horizon (with one fleet for the horizon: all of it);
    with economics.discount_rate, x the window's mean discount weight (a present value). With
    economics.after_horizon ends: units x capex x (1 + network_storage_capex_fraction), x the
    discount weight of the period it is paid in (one fleet for the horizon: x purchases, each
    at its instant, verify_costs.purchases_weight), less units x resale_usd (economics.
    resale_fraction x capex x remaining life at H / lifetime) x the weight at the horizon's
    end, 1 / (1 + r)^(H / year)."""
    from planner.verify_costs import (  # registers after this module's rules
        after_horizon_ends,
        horizon_end_weight,
        paid_period,
        period_weights,
        purchases,
        purchases_weight,
        resale_usd,
        window_weight,
    )

    economics = ctx.scenario.data.economics
    horizon_s = economics.horizon_s
    multi = economics.period_s is not None
    starts = {t: a for t, a, _ in ctx.calendar}
    usd = 0.0
    for c in ctx.plan.cpu_schedule:
        if c.ordered <= 0:
            continue
        spec = ctx.scenario.catalog.system(c.system)
        if after_horizon_ends(ctx):
            share = 1 + (spec.network_storage_capex_fraction or 0.0)
            weights = period_weights(ctx)
            weight = weights[paid_period(ctx, c.system, c.period)]
            own = purchases_weight(ctx, c.system)  # one fleet: each purchase at its instant
            weight = weight if own is None else own
            usd += c.ordered * spec.capex_usd * purchases(ctx, c.system) * share * weight
            at_end = horizon_end_weight(ctx)
            usd -= c.ordered * resale_usd(ctx, c.system, c.period) * at_end
            continue
        # arrival from the order and the lead time (the arriving column is cpu_ledger's)
        arrive = ctx.arrival(c.period, spec.lead_time_s if multi and spec.lead_time_s else 0.0)
        if arrive is None:
            continue
        years = spec.lifetime_s / YEAR_S
        r = economics.cost_of_capital
        rate = 1.0 / years if r == 0 else r / (1.0 - (1.0 + r) ** -years)
        start = 0.0
        if not multi:
            service_s = horizon_s
        else:
            # to the end of the last period it serves in (one it retires in is served whole)
            start = starts[arrive]
            ends = [b for t, a, b in ctx.calendar if t >= arrive and a < start + spec.lifetime_s]
            service_s = max(0.0, min(horizon_s, max(ends, default=start)) - start)
        share = 1 + (spec.network_storage_capex_fraction or 0.0)
        weight = window_weight(ctx, start, start + service_s)
        usd += c.ordered * spec.capex_usd * share * rate * service_s / YEAR_S * weight
    return usd


def resale_present_usd(ctx: Context) -> float:
    """The resale received at the horizon's end (economics.resale_fraction, after_horizon
    ends), weighed there: sum over orders of bought units and CPU-only servers of ordered x
    verify_costs.resale_usd x 1 / (1 + r)^(H / year). In no period's capital charge, so the
    capital charge column's periods miss it against the cost rows."""
    from planner.verify_costs import horizon_end_weight, resale_usd

    rows = [(r.system, r.period, r.ordered) for r in ctx.plan.schedule]
    if ctx.scenario.data.economics.pricing == "rental":  # no pool capex, so no pool resale
        rows = []
    rows += [(c.system, c.period, c.ordered) for c in ctx.plan.cpu_schedule]
    usd = sum(units * resale_usd(ctx, s, t) for s, t, units in rows if units > 0)
    return usd * horizon_end_weight(ctx)


@rule("cash_flow")
def check_cash_flow(ctx: Context) -> list[str]:
    """per calendar period t: capex_paid[t] = sum_{d,s} (ordered or arriving, by
    economics.capex_paid_at) x capex[s] x (1 + network_storage_capex_fraction[s]); cost[t] =
    the sum of its component columns; cash_out[t] = capex_paid[t] + cost[t] - capital_charge[t];
    cumulative columns are running sums; each column summed over the periods = the plan's cost
    rows of its components, so sum_t cost[t] = the cost rows' sum (= total_cost_usd: rule
    cost_total); with economics.discount_rate, the cost rows are present values: each column
    weighed by w_t = 1 / (1 + r)^(t_mid / year) in its sum (contract payments past the horizon
    under economics.after_horizon ends: with the present value of the months after it,
    verify_costs.contract_lines; their rows are checked by verify_costs.after_horizon_lines;
    the capital charge with the resale received at the horizon's end weighed there:
    resale_present_usd, its row checked by verify_costs.resale_lines)"""
    from planner.verify_costs import (  # registers after this module's rules
        Lines,
        contract_lines,
        period_weights,
        purchases_reweighed_usd,
    )

    weights = period_weights(ctx)
    total = sum(c.cost_usd for c in ctx.plan.costs_rows)
    tol = 1e-6 * max(1.0, abs(total))
    paid = capex_paid_by_period(ctx)
    out = []
    cost_sum = cash_sum = 0.0
    for row in ctx.plan.cash_flow:
        parts = sum(getattr(row, c) for c in COST_COLUMNS)
        cost_sum += row.cost_usd
        cash_sum += row.cash_out_usd
        checks = (
            ("capex_paid_usd", row.capex_paid_usd, paid.get(row.period, 0.0)),
            ("cost_usd", row.cost_usd, parts),
            ("cash_out_usd", row.cash_out_usd, row.capex_paid_usd + parts - row.capital_charge_usd),
            ("cumulative_cost_usd", row.cumulative_cost_usd, cost_sum),
            ("cumulative_cash_usd", row.cumulative_cash_usd, cash_sum),
        )
        out += [
            f"period {row.period}: {name} {have:,.2f} US$, recomputed {want:,.2f}"
            for name, have, want in checks
            if abs(have - want) > tol
        ]
    by_column: dict[str, float] = {}
    for c in ctx.plan.costs_rows:
        column = CASH_COLUMNS.get(c.component, "other_opex_usd")
        by_column[column] = by_column.get(column, 0.0) + c.cost_usd
    # CPU-only servers' capital recovery is charged as capital, the rest of their cost row
    # (running costs, rent) as other opex.
    cpu_capital = cpu_capital_usd(ctx)
    by_column["capital_charge_usd"] = by_column.get("capital_charge_usd", 0.0) + cpu_capital
    by_column["other_opex_usd"] = by_column.get("other_opex_usd", 0.0) - cpu_capital
    contracts = Lines(len(ctx.calendar))
    contract_lines(ctx, contracts)
    past = sum(pv for _, pv in contracts.past.values())
    for column in COST_COLUMNS:
        have = sum(
            weights.get(row.period, 1.0) * getattr(row, column) for row in ctx.plan.cash_flow
        )
        if column == "contracts_usd":
            have += past
        if column == "capital_charge_usd":  # the resale, received at H in no period
            have -= resale_present_usd(ctx)
            have += purchases_reweighed_usd(ctx)  # one fleet: purchases at their instants
        if abs(have - by_column.get(column, 0.0)) > tol:
            out.append(
                f"{column}: the periods add up to {have:,.2f} US$, the cost rows to "
                f"{by_column.get(column, 0.0):,.2f}"
            )
    return out


@rule("site_opening")
def check_site_opening(ctx: Context) -> list[str]:
    """a candidate site holds no units (and no CPU servers) unless it is opened, and none
    before its ready period, the first starting lead_time after the period it is opened in;
    its opening cost is charged (cost rows, component site_opening) exactly when it is opened;
    a site that is not a candidate has no opening"""
    topo = ctx.scenario.topology
    lead_applies = ctx.scenario.data.economics.period_s is not None
    starts = {t: a for t, a, _ in ctx.calendar}
    openings = {r.datacenter: r for r in ctx.plan.site_openings}
    out = []
    for d in topo.datacenters():
        candidate = topo.site(d).candidate
        row = openings.get(d)
        if candidate is None:
            if row is not None:
                out.append(f"{d}: an opening for a site that is not a candidate")
            continue
        ready = None
        if row is not None and row.opened and row.opened_period is not None:
            lead = candidate.lead_time_s if lead_applies else 0.0
            later = [
                t
                for t, a in starts.items()
                if a >= starts[row.opened_period] + lead - SAME_INSTANT_S
            ]
            ready = min(later) if later else None
            if row.ready_period != ready:
                out.append(f"{d}: ready in period {row.ready_period}, its lead time gives {ready}")
        for r in ctx.plan.schedule:
            if r.datacenter == d and r.units > 0 and (ready is None or r.period < ready):
                out.append(
                    f"{d}/{r.system} in period {r.period}: {r.units:g} units before it opens"
                )
        cpu = ctx.cpu_rows.get(d)
        if cpu is not None and cpu.units > 0 and ready is None:
            out.append(f"{d}: {cpu.units:g} CPU servers at a site never opened")
        charged = sum(
            c.cost_usd
            for c in ctx.plan.costs_rows
            if c.component == "site_opening" and c.datacenter == d
        )
        want = candidate.opening_cost_usd if ready is not None else 0.0
        if abs(charged - want) > 1e-6 * max(1.0, want):
            out.append(f"{d}: opening cost charged {charged:,.2f} US$, should be {want:,.2f}")
    return out


@rule("cpu_ledger")
def check_cpu_ledger(ctx: Context) -> list[str]:
    """CPU-only servers per site and calendar period t: arriving[t] = orders placed at t'
    whose lead time ends at t; owned_units[t] = owned + arrivals so far, less those past their
    lifetime; units[t] = owned_units[t] + rented_units[t]; no orders under rental pricing, no
    rentals under amortised pricing; the peak of units over the periods is the site's CPU
    servers row"""
    economics = ctx.scenario.data.economics
    multi = economics.period_s is not None
    starts = {t: a for t, a, _ in ctx.calendar}
    peaks = {c.datacenter: c.units for c in ctx.plan.cpu_servers}
    out = []
    by_site: dict[str, list] = {}
    for c in sorted(ctx.plan.cpu_schedule, key=lambda c: (c.datacenter, c.period)):
        by_site.setdefault(c.datacenter, []).append(c)
    for d, rows in by_site.items():
        cpu = ctx.scenario.topology.site(d).cpu_servers
        assert cpu is not None
        spec = ctx.scenario.catalog.system(cpu.system)
        lead_s = spec.lead_time_s if multi and spec.lead_time_s else 0.0
        life_s = spec.lifetime_s if multi else float("inf")
        for r in rows:
            where = f"{d}/{r.system} in period {r.period}"
            arriving = sum(x.ordered for x in rows if ctx.arrival(x.period, lead_s) == r.period)
            bought = sum(
                x.ordered
                for x in rows
                if (a := ctx.arrival(x.period, lead_s)) is not None
                and a <= r.period
                and r.start_s < starts[a] + life_s
            )
            checks = (
                ("arriving", r.arriving, arriving),
                ("owned_units", r.owned_units, cpu.owned + bought),
                ("units", r.units, r.owned_units + r.rented_units),
            )
            out += [
                f"{where}: {name} {have:g}, recomputed {want:g}"
                for name, have, want in checks
                if abs(have - want) > ABS_TOL
            ]
            if economics.pricing == "rental" and r.ordered > 0:
                out.append(f"{where}: {r.ordered:g} ordered under rental pricing")
            if economics.pricing == "amortised" and r.rented_units > 0:
                out.append(f"{where}: {r.rented_units:g} rented under amortised pricing")
        peak = max(r.units for r in rows)
        if abs(peaks.get(d, 0.0) - peak) > ABS_TOL:
            out.append(
                f"{d}: CPU servers row says {peaks.get(d, 0.0):g}, the periods' peak {peak:g}"
            )
    return out


# The cost lines' rule (planner/verify_costs.py) registers after these.
from planner import verify_costs  # noqa: E402, F401
