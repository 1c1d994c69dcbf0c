"""Verification rule `cost_lines`: every cost line of the plan recomputed from its schedule
(units bought, contracted, rented, on spot and in service per period, their busy hours) and
the scenario's catalog and site figures only, never from the LP's coefficients or terms, so a
wrong price in the LP build is caught instead of reproduced. Registered into
planner.verify.RULES on import (the end of planner/verify.py imports this module)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.lp.model import SAME_INSTANT_S, calendar_for
from planner.rows import CASH_COLUMNS, AllocationRow
from planner.traffic import routed_traffic
from planner.verify import COST_ABS_TOL_USD, REL_TOL, Context, rule

YEAR_S = 365 * 86400.0
MONTH_S = YEAR_S / 12
HOUR_S = 3600.0


# The discounting and billing conventions, written here from their definitions (docs/lp.md)
# and not imported from planner/lp/objective.py, so that a slip in the LP's copy is caught.
def discount_weight(rate: float, start_s: float, end_s: float) -> float:
    """A charge spread over [start, end) weighed at its middle: 1 / (1 + r)^(mid / year)."""
    mid_years = 0.5 * (start_s + end_s) / YEAR_S
    return 1.0 / (1.0 + rate) ** mid_years


def month_after_horizon(horizon_s: float, i: int) -> tuple[float, float]:
    """Month i >= 0 after the horizon H: [H + i M, H + (i + 1) M), M = a year / 12."""
    return horizon_s + MONTH_S * i, horizon_s + MONTH_S * (i + 1)


def past_horizon_months(horizon_s: float, start_s: float, end_s: float) -> list[tuple[int, float]]:
    """(i, seconds of [start, end) inside month i after the horizon), months it reaches."""
    if end_s <= max(start_s, horizon_s):
        return []
    first = math.floor((max(start_s, horizon_s) - horizon_s) / MONTH_S)
    last = math.ceil((end_s - horizon_s) / MONTH_S)
    out = []
    for i in range(first, last + 1):
        a, b = month_after_horizon(horizon_s, i)
        seconds = min(b, end_s) - max(a, start_s, horizon_s)
        if seconds > 0:
            out.append((i, seconds))
    return out


def past_horizon_weighted_s(rate: float, horizon_s: float, start_s: float, end_s: float) -> float:
    """The seconds of [start, end) past the horizon, each month's weighed at its middle."""
    total = 0.0
    for i, seconds in past_horizon_months(horizon_s, start_s, end_s):
        total += seconds * discount_weight(rate, *month_after_horizon(horizon_s, i))
    return total


# Components recomputed here per pool (capex ... contracts); site_opening and cpu_servers are
# per site, links per workload.
POOL_COMPONENTS = (
    "capex",
    "network_storage",
    "maintenance",
    "facility",
    "energy",
    "rental",
    "spot",
    "contracts",
)


@dataclass
class Lines:
    """Recomputed US$ per (component, datacenter, system) and per calendar period, and per cash
    flow column and period."""

    periods: int
    by_line: dict[tuple[str, str | None, str | None], list[float]] = field(default_factory=dict)
    by_column: dict[str, list[float]] = field(default_factory=dict)
    # Contract payments past the horizon (economics.after_horizon ends), in no period of
    # by_line: per line (face value, present value at their own times), and at face value by
    # month i after the horizon (objective.past_horizon_months).
    past: dict[tuple[str, str | None, str | None], tuple[float, float]] = field(
        default_factory=dict
    )
    past_months: dict[int, float] = field(default_factory=dict)
    # The (datacenter, system) pools each cash flow column has a line of: a column is held to
    # the scale of its pools, as each line is (`cost_lines`).
    pools_by_column: dict[str, set[tuple[str | None, str | None]]] = field(default_factory=dict)
    # The resale received at the horizon's end (economics.resale_fraction), at face value, in
    # no period either (its per-line share is in `past`, weighed at H).
    resold_usd: float = 0.0

    def resale(
        self, component: str, d: str | None, s: str | None, usd: float, weight: float
    ) -> None:
        """usd received at the horizon's end H on a line, a credit weighed at H (weight)."""
        self.by_line.setdefault((component, d, s), [0.0] * self.periods)
        face, pv = self.past.get((component, d, s), (0.0, 0.0))
        self.past[(component, d, s)] = (face - usd, pv - usd * weight)
        self.resold_usd += usd

    def reweigh(
        self, component: str, d: str | None, s: str | None, usd: float, delta: float
    ) -> None:
        """usd charged in a period but weighed at its own instants: delta = its own weight -
        the period's, added to the line's present value (face value unchanged)."""
        face, pv = self.past.get((component, d, s), (0.0, 0.0))
        self.past[(component, d, s)] = (face, pv + usd * delta)

    def add(
        self, component: str, d: str | None, s: str | None, t: int, usd: float, column: str = ""
    ) -> None:
        # a line's, column's and pool set's first figure makes them (~18k adds at 30 sites:
        # not a new list or set each, as setdefault's default would be)
        line = self.by_line.get((component, d, s))
        if line is None:
            line = self.by_line[(component, d, s)] = [0.0] * self.periods
        line[t] += usd
        column = column or CASH_COLUMNS.get(component, "other_opex_usd")
        held = self.by_column.get(column)
        if held is None:
            held = self.by_column[column] = [0.0] * self.periods
        held[t] += usd
        pools = self.pools_by_column.get(column)
        if pools is None:
            pools = self.pools_by_column[column] = set()
        pools.add((d, s))


def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def scenario_calendar(ctx: Context) -> list[tuple[int, float, float]]:
    """(t, start_s, end_s) of the scenario's calendar periods (economics horizon and period),
    not the plan's records of them."""
    economics = ctx.scenario.data.economics
    return [
        (c.index, c.start_s, c.end_s) for c in calendar_for(economics.horizon_s, economics.period_s)
    ]


def period_weights(ctx: Context) -> dict[int, float]:
    """Each calendar period's discount weight, from the scenario's discount_rate and calendar
    (discount_weight: 1 / (1 + r)^(t_mid / year)); 1.0 each without a discount_rate."""
    rate = ctx.scenario.data.economics.discount_rate
    return {
        t: 1.0 if rate is None else discount_weight(rate, a, b)
        for t, a, b in scenario_calendar(ctx)
    }


def window_weight(ctx: Context, start_s: float, end_s: float) -> float:
    """The mean discount weight of a charge spread evenly over [start, end) (1.0 without a
    discount_rate or for an empty window); its seconds past the horizon weigh at the middle of
    their month after it (objective.past_horizon_weighted_s)."""
    economics = ctx.scenario.data.economics
    if economics.discount_rate is None or end_s <= start_s:
        return 1.0
    weights = period_weights(ctx)
    weighted = sum(
        overlap_s(start_s, end_s, a, b) * weights[t] for t, a, b in scenario_calendar(ctx)
    )
    weighted += past_horizon_weighted_s(
        economics.discount_rate, economics.horizon_s, start_s, end_s
    )
    return weighted / (end_s - start_s)


def after_horizon_ends(ctx: Context) -> bool:
    """economics.after_horizon is ends: whole capex and whole contract terms are charged."""
    return ctx.scenario.data.economics.after_horizon == "ends"


def paid_period(ctx: Context, system: str, t: int) -> int:
    """The period a unit ordered at t is paid in: t (economics.capex_paid_at order) or its
    arrival (delivery; t when it arrives after the horizon)."""
    if ctx.scenario.data.economics.capex_paid_at == "order":
        return t
    arrive = arrival(ctx, system, t)
    return t if arrive is None else arrive


def present_value_lines(ctx: Context, lines: Lines) -> list[str]:
    """With economics.discount_rate r: one present_value row per calendar period whose
    discount_rate is r, mid_years = (start + end) / 2 / year, discount_weight = 1 / (1 +
    r)^mid_years, cost_usd = the cash flow's cost_usd of the period, present_value_usd =
    discount_weight x cost_usd, and the rows' present values with the after-the-horizon
    payments' (after_horizon_lines) add up to total_cost_usd; without r, no present_value
    table."""
    rate = ctx.scenario.data.economics.discount_rate
    rows = ctx.plan.present_value
    if rate is None:
        return (
            [] if rows is None else ["a present_value table, but the scenario has no discount_rate"]
        )
    calendar = scenario_calendar(ctx)
    if rows is None or [r.period for r in rows] != [t for t, _, _ in calendar]:
        return ["economics.discount_rate is set: the plan needs one present_value row a period"]
    cost = {r.period: r.cost_usd for r in ctx.plan.cash_flow}
    weights = period_weights(ctx)
    out = []
    reweighed = purchases_reweighed_usd(ctx)  # one fleet under ends: purchases at instants
    for row, (t, a, b) in zip(rows, calendar, strict=True):
        weight = weights[t]
        mid_years = (a + b) / 2 / YEAR_S
        present = weight * cost.get(row.period, 0.0) + reweighed
        checks = (
            ("discount_rate", row.discount_rate, rate),
            ("mid_years", row.mid_years, mid_years),
            ("discount_weight", row.discount_weight, weight),
            ("cost_usd", row.cost_usd, cost.get(row.period, 0.0)),
            ("present_value_usd", row.present_value_usd, present),
        )
        out += [
            f"present_value period {row.period}: {name} {have:.9g}, recomputed {want:.9g}"
            for name, have, want in checks
            if abs(have - want) > REL_TOL * max(1.0, abs(want)) + COST_ABS_TOL_USD * 1e-3
        ]
    total = sum(r.present_value_usd for r in rows)
    total += sum(r.present_value_usd for r in ctx.plan.after_horizon_payments or [])
    total += sum(r.present_value_usd for r in ctx.plan.resale_at_horizon or [])
    want = ctx.plan.total_cost_usd
    if abs(total - want) > REL_TOL * max(1.0, abs(want)) + COST_ABS_TOL_USD:
        out.append(
            f"present_value rows add up to {total:,.2f} US$, the plan's total cost is {want:,.2f}"
        )
    return out


def resale_lines(ctx: Context, lines: Lines) -> list[str]:
    """The resale received at the horizon's end (economics.after_horizon ends with a
    resale_fraction): one cash_flow_resale row when anything is resold (lines.resold_usd,
    recomputed from the schedules and the catalog: resale_usd), at_s = H, resale_usd = the
    recomputed sum, cost_usd = -resale_usd, cumulative_cost_usd and cumulative_cash_usd = the
    cash flow's last ones - resale_usd, discount_weight = 1 / (1 + r)^(H / year) with
    economics.discount_rate r (else 1), present_value_usd = discount_weight x cost_usd."""
    rows = ctx.plan.resale_at_horizon or []
    want = lines.resold_usd
    if (want > 0) != bool(rows) or len(rows) > 1:
        return [
            f"cash_flow_resale: {len(rows)} rows, the units bought resell for {want:,.2f} US$ "
            "at the horizon's end (one row when above 0)"
        ]
    if not rows:
        return []
    row = rows[0]
    last = ctx.plan.cash_flow[-1] if ctx.plan.cash_flow else None
    weight = horizon_end_weight(ctx)
    checks = (
        ("at_s", row.at_s, ctx.scenario.data.economics.horizon_s),
        ("resale_usd", row.resale_usd, want),
        ("cost_usd", row.cost_usd, -want),
        (
            "cumulative_cost_usd",
            row.cumulative_cost_usd,
            (last.cumulative_cost_usd if last else 0.0) - want,
        ),
        (
            "cumulative_cash_usd",
            row.cumulative_cash_usd,
            (last.cumulative_cash_usd if last else 0.0) - want,
        ),
        ("discount_weight", row.discount_weight, weight),
        ("present_value_usd", row.present_value_usd, -weight * want),
    )
    return [
        f"cash_flow_resale: {name} {have:,.9g}, recomputed {want_:,.9g}"
        for name, have, want_ in checks
        if abs(have - want_) > REL_TOL * max(1.0, abs(want_)) + COST_ABS_TOL_USD * 1e-3
    ]


def after_horizon_lines(ctx: Context, lines: Lines) -> list[str]:
    """The contract payments after the horizon (economics.after_horizon ends), one row per
    month i with a payment (lines.past_months, from the contracts signed and the catalog):
    month = i + 1, start_s and end_s = H + i x M and H + (i + 1) x M (M = a year / 12),
    contracts_usd = the month's recomputed face value, cumulative_cost_usd and
    cumulative_cash_usd = the cash flow's last ones plus the rows' running sum,
    discount_weight = 1 / (1 + r)^(mid-month years) with economics.discount_rate r (else 1),
    present_value_usd = discount_weight x contracts_usd; no rows when no payment falls past
    the horizon."""
    rows = ctx.plan.after_horizon_payments or []
    months = {i: usd for i, usd in lines.past_months.items() if usd > 0}
    if [r.month for r in rows] != [i + 1 for i in sorted(months)]:
        return [
            f"cash_flow_after_horizon: months {[r.month for r in rows]}, the contracts signed "
            f"have payments due in months {[i + 1 for i in sorted(months)]} after the horizon"
        ]
    economics = ctx.scenario.data.economics
    rate = economics.discount_rate
    before = ctx.plan.resale_at_horizon or ctx.plan.cash_flow
    last = before[-1] if before else None
    cost_sum = last.cumulative_cost_usd if last else 0.0
    cash_sum = last.cumulative_cash_usd if last else 0.0
    out = []
    for row in rows:
        a, b = month_after_horizon(economics.horizon_s, row.month - 1)
        usd = months[row.month - 1]
        weight = 1.0 if rate is None else discount_weight(rate, a, b)
        cost_sum += usd
        cash_sum += usd
        checks = (
            ("start_s", row.start_s, a),
            ("end_s", row.end_s, b),
            ("contracts_usd", row.contracts_usd, usd),
            ("cumulative_cost_usd", row.cumulative_cost_usd, cost_sum),
            ("cumulative_cash_usd", row.cumulative_cash_usd, cash_sum),
            ("discount_weight", row.discount_weight, weight),
            ("present_value_usd", row.present_value_usd, weight * usd),
        )
        out += [
            f"cash_flow_after_horizon month {row.month}: {name} {have:,.9g}, recomputed {want:,.9g}"
            for name, have, want in checks
            if abs(have - want) > REL_TOL * max(1.0, abs(want)) + COST_ABS_TOL_USD * 1e-3
        ]
    return out


def capital_per_s(capex_usd: float, lifetime_s: float, rate: float) -> float:
    """Capital recovered per second of service: capex x CRF / year, CRF = r / (1 - (1 +
    r)^-L) (L in years); r = 0: capex / lifetime (straight line)."""
    if rate == 0:
        return capex_usd / lifetime_s
    years = lifetime_s / YEAR_S
    return capex_usd * rate / (1.0 - (1.0 + rate) ** -years) / YEAR_S


def arrival(ctx: Context, system: str, t: int) -> int | None:
    """The first calendar period starting at least lead_time after t starts and not before the
    system's available_from (lead times and availability need economics.period); None: after
    the horizon."""
    economics = ctx.scenario.data.economics
    spec = ctx.scenario.catalog.system(system)
    starts = {u: a for u, a, _ in ctx.calendar}
    ready_s = starts[t]
    if economics.period_s is not None and spec.lead_time_s:
        ready_s += spec.lead_time_s
    if spec.available_from is not None and economics.start_date is not None:
        ready_s = max(ready_s, (spec.available_from - economics.start_date).days * 86400.0)
    return min(
        (u for u, a in starts.items() if u >= t and a >= ready_s - SAME_INSTANT_S), default=None
    )


def horizon_end_weight(ctx: Context) -> float:
    """The discount weight of a sum received at the horizon's end H: 1 / (1 + r)^(H / year)
    with economics.discount_rate r, else 1 (an instant, not a period's middle)."""
    economics = ctx.scenario.data.economics
    if economics.discount_rate is None:
        return 1.0
    return float((1.0 + economics.discount_rate) ** -(economics.horizon_s / YEAR_S))


def purchases(ctx: Context, system: str) -> int:
    """Purchases one unit of `system` stands for under economics.after_horizon ends with one
    fleet for the horizon (no period): ceil(H / lifetime), it and its replacements; else 1."""
    economics = ctx.scenario.data.economics
    if economics.period_s is not None or not after_horizon_ends(ctx):
        return 1
    lifetime_s = ctx.scenario.catalog.system(system).lifetime_s
    return max(1, math.ceil(economics.horizon_s / lifetime_s - 1e-9))


def purchases_weight(ctx: Context, system: str) -> float | None:
    """One fleet for the horizon under after_horizon ends with a discount_rate r: the mean
    weight of a unit's n = purchases, each at its own instant k x lifetime, (1 / n) sum_k
    1 / (1 + r)^(k x lifetime / year); None otherwise (a purchase weighs its period's w_t)."""
    economics = ctx.scenario.data.economics
    rate = economics.discount_rate
    if rate is None or economics.period_s is not None or not after_horizon_ends(ctx):
        return None
    n = purchases(ctx, system)
    years = ctx.scenario.catalog.system(system).lifetime_s / YEAR_S
    return float(sum((1.0 + rate) ** -(k * years) for k in range(n)) / n)


def purchases_reweighed_usd(ctx: Context) -> float:
    """What weighing one fleet's purchases at their instants (purchases_weight) adds to the one
    period's present value over its middle's weight w: sum over orders of bought units (not
    under rental pricing) and CPU-only servers of ordered x capex x (1 +
    network_storage_capex_fraction) x purchases x (purchases_weight - w); else 0."""
    weights = period_weights(ctx)
    rows = [(r.system, r.ordered) for r in ctx.plan.schedule]
    if ctx.scenario.data.economics.pricing == "rental":
        rows = []
    rows += [(c.system, c.ordered) for c in ctx.plan.cpu_schedule]
    usd = 0.0
    for system, units in rows:
        own = purchases_weight(ctx, system)
        if own is None or units <= 0:
            continue
        spec = ctx.scenario.catalog.system(system)
        whole = units * spec.capex_usd * purchases(ctx, system)
        usd += whole * (1 + (spec.network_storage_capex_fraction or 0.0)) * (own - weights[0])
    return usd


def resale_usd(ctx: Context, system: str, t: int) -> float:
    """A unit of `system` ordered at t sold at the horizon's end H (economics.after_horizon
    ends): resale_fraction x capex_usd x max(0, birth + lifetime - H) / lifetime, birth = its
    arrival period's start (one fleet for the horizon: its last purchase's, (purchases - 1) x
    lifetime; delivered after H: never sold)."""
    economics = ctx.scenario.data.economics
    if not after_horizon_ends(ctx) or not economics.resale_fraction:
        return 0.0
    spec = ctx.scenario.catalog.system(system)
    birth_s: float | None = (purchases(ctx, system) - 1) * spec.lifetime_s
    if economics.period_s is not None:
        arrive = arrival(ctx, system, t)
        birth_s = next((a for u, a, _ in ctx.calendar if u == arrive), None)
    if birth_s is None:
        return 0.0
    remaining_s = max(0.0, birth_s + spec.lifetime_s - economics.horizon_s)
    return economics.resale_fraction * spec.capex_usd * remaining_s / spec.lifetime_s


def service_window(ctx: Context, system: str, t: int) -> tuple[float, float]:
    """[start, end) seconds a unit ordered at the start of t serves inside the horizon: from its
    arrival period's start to the end of the last period it is in service in (a period starting
    before its lifetime ends is served whole), at most the horizon; one fleet for the horizon:
    all of it."""
    economics = ctx.scenario.data.economics
    horizon_s = economics.horizon_s
    if economics.period_s is None:
        return 0.0, horizon_s
    arrive = arrival(ctx, system, t)
    if arrive is None:
        return horizon_s, horizon_s
    life_s = ctx.scenario.catalog.system(system).lifetime_s
    start_s = next(a for u, a, _ in ctx.calendar if u == arrive)
    ends = [b for u, a, b in ctx.calendar if u >= arrive and a < start_s + life_s]
    return start_s, max(start_s, min(horizon_s, max(ends, default=start_s)))


def spread(
    lines: Lines,
    ctx: Context,
    component: str,
    d: str | None,
    s: str | None,
    window: tuple[float, float],
    usd_per_s: float,
    column: str = "",
) -> None:
    """usd_per_s x the seconds of `window` inside each calendar period."""
    for t, a, b in ctx.calendar:
        within = overlap_s(window[0], window[1], a, b)
        if within > 0:
            lines.add(component, d, s, t, usd_per_s * within, column)


def pool_lines(ctx: Context, lines: Lines) -> None:
    """Every pool's lines per calendar period t (h_t = len_t / 3600; each bought unit over its
    service window, owned units over the horizon)."""
    economics = ctx.scenario.data.economics
    catalog = ctx.scenario.catalog
    topo = ctx.scenario.topology
    rate = economics.cost_of_capital
    for r in ctx.plan.schedule:
        d, s, t = r.datacenter, r.system, r.period
        spec = catalog.system(s)
        site = topo.site(d)
        owned = site.systems[s].owned
        length_s = r.end_s - r.start_s
        hours = length_s / HOUR_S
        maintained_usd = spec.capex_usd * (1 + (spec.network_storage_capex_fraction or 0.0))
        maintenance_per_s = maintained_usd * (spec.maintenance_fraction_per_year or 0.0) / YEAR_S
        facility_per_s = (site.facility_usd_per_kw_month or 0.0) * spec.power_w / 1000 / MONTH_S
        if r.ordered > 0 and economics.pricing != "rental" and after_horizon_ends(ctx):
            # the whole capex, in the period it is paid in
            paid_t = paid_period(ctx, s, t)
            whole = r.ordered * spec.capex_usd * purchases(ctx, s)  # replacements too
            lines.add("capex", d, s, paid_t, whole)
            share = spec.network_storage_capex_fraction or 0.0
            lines.add("network_storage", d, s, paid_t, whole * share)
            if (own := purchases_weight(ctx, s)) is not None:  # one fleet: at their instants
                delta = own - period_weights(ctx)[paid_t]
                lines.reweigh("capex", d, s, whole, delta)
                lines.reweigh("network_storage", d, s, whole * share, delta)
            if resale := resale_usd(ctx, s, t):  # received at the horizon's end
                lines.resale("resale", d, s, r.ordered * resale, horizon_end_weight(ctx))
        if r.ordered > 0:  # the service window only of units ordered (most rows order none)
            window = service_window(ctx, s, t)
            if economics.pricing != "rental" and not after_horizon_ends(ctx):
                capital = r.ordered * capital_per_s(spec.capex_usd, spec.lifetime_s, rate)
                spread(lines, ctx, "capex", d, s, window, capital)
                share = spec.network_storage_capex_fraction or 0.0
                spread(lines, ctx, "network_storage", d, s, window, capital * share)
            spread(lines, ctx, "maintenance", d, s, window, r.ordered * maintenance_per_s)
            spread(lines, ctx, "facility", d, s, window, r.ordered * facility_per_s)
        lines.add("maintenance", d, s, t, owned * maintenance_per_s * length_s)
        lines.add("facility", d, s, t, owned * facility_per_s * length_s)
        lines.add("rental", d, s, t, r.rented_units * spec.rental_usd_per_hour * hours)
        if r.spot_units > 0:
            lines.add("spot", d, s, t, r.spot_units * (spec.spot_usd_per_hour or 0.0) * hours)
        kwh_usd = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
        idle = spec.idle_power_fraction or 0.0
        goodput = spec.spot_goodput if spec.spot_goodput is not None else 1.0
        leased_h = (r.rented_units + r.contracted_units + goodput * r.spot_units) * hours
        owned_busy_h = max(0.0, r.busy_units * hours - leased_h)
        energy = kwh_usd * ((1 - idle) * owned_busy_h + idle * r.owned_units * hours)
        lines.add("energy", d, s, t, energy)


def contract_lines(ctx: Context, lines: Lines) -> list[str]:
    """Each contract signed: units x usd_per_hour (the catalog's) x the hours from its start to
    the end of the last period it covers (a period starting before its term ends is covered
    whole), at most the horizon; with economics.after_horizon ends to the later of that and
    the end of its term, the hours past the horizon in no period but by month after it
    (lines.past: at face value and weighed at their months' middles; lines.past_months); and
    its record's term and price are the
    catalog's, and the contracts covering each period add up to the schedule's
    contracted_units."""
    economics = ctx.scenario.data.economics
    horizon_s = economics.horizon_s
    starts = {t: a for t, a, _ in ctx.calendar}
    covered: dict[tuple[str, str, int], float] = {}
    out = []
    for c in ctx.plan.contracts:
        offers = ctx.scenario.catalog.system(c.system).contracts
        where = f"{c.datacenter}/{c.system} contract {c.contract} from period {c.period}"
        if not 0 <= c.contract < len(offers):
            out.append(f"{where}: the catalog has {len(offers)} contract offers")
            continue
        offer = offers[c.contract]
        if (c.term_s, c.usd_per_hour) != (offer.term_s, offer.usd_per_hour):
            out.append(
                f"{where}: record says {c.term_s:g} s at {c.usd_per_hour:g} US$/h, the catalog "
                f"{offer.term_s:g} s at {offer.usd_per_hour:g}"
            )
        start_s = starts[c.period]
        ends = [
            b
            for t, a, b in ctx.calendar
            if t >= c.period and a < start_s + offer.term_s - SAME_INSTANT_S
        ]
        for t, a, _ in ctx.calendar:
            if t >= c.period and a < start_s + offer.term_s - SAME_INSTANT_S:
                key = (c.datacenter, c.system, t)
                covered[key] = covered.get(key, 0.0) + c.units
        window = (start_s, min(horizon_s, max(ends, default=start_s)))
        usd_per_s = c.units * offer.usd_per_hour / HOUR_S
        spread(lines, ctx, "contracts", c.datacenter, c.system, window, usd_per_s)
        term_end_s = start_s + offer.term_s
        if economics.after_horizon == "ends" and term_end_s > horizon_s:
            face = usd_per_s * (term_end_s - horizon_s)
            rate = economics.discount_rate
            pv = face
            if rate is not None:
                pv = usd_per_s * past_horizon_weighted_s(rate, horizon_s, start_s, term_end_s)
            for i, seconds in past_horizon_months(horizon_s, start_s, term_end_s):
                lines.past_months[i] = lines.past_months.get(i, 0.0) + usd_per_s * seconds
            line = ("contracts", c.datacenter, c.system)
            held = lines.past.get(line, (0.0, 0.0))
            lines.past[line] = (held[0] + face, held[1] + pv)
    for r in ctx.plan.schedule:
        have = covered.get((r.datacenter, r.system, r.period), 0.0)
        if abs(have - r.contracted_units) > 1e-6 * max(1.0, r.contracted_units):
            out.append(
                f"{r.datacenter}/{r.system} in period {r.period}: {r.contracted_units:g} "
                f"contracted in the schedule, the contracts signed cover {have:g}"
            )
    return out


def site_lines(ctx: Context, lines: Lines) -> None:
    """A candidate site opened at t: its opening_cost_usd, once, in t. CPU-only servers at site
    d: per second in service, e = power_w / 1000 x PUE x usd_per_kwh / 3600 + capex x (1 +
    network_storage_capex_fraction) x maintenance_fraction_per_year / year + facility_usd_per_kw_month x power_w / 1000 / month,
    for owned ones each period, for bought ones over their service window (with their capital
    recovery x (1 + network_storage_capex_fraction), the cash flow's capital charge); rented
    ones rental_usd_per_hour x h_t."""
    topo = ctx.scenario.topology
    for o in ctx.plan.site_openings:
        candidate = topo.site(o.datacenter).candidate
        if o.opened and o.opened_period is not None and candidate is not None:
            lines.add(
                "site_opening", o.datacenter, None, o.opened_period, candidate.opening_cost_usd
            )
    rate = ctx.scenario.data.economics.cost_of_capital
    for c in ctx.plan.cpu_schedule:
        site = topo.site(c.datacenter)
        assert site.cpu_servers is not None
        spec = ctx.scenario.catalog.system(c.system)
        per_s = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh / HOUR_S
        maintained_usd = spec.capex_usd * (1 + (spec.network_storage_capex_fraction or 0.0))
        per_s += maintained_usd * (spec.maintenance_fraction_per_year or 0.0) / YEAR_S
        per_s += (site.facility_usd_per_kw_month or 0.0) * spec.power_w / 1000 / MONTH_S
        length_s = c.end_s - c.start_s
        d, s, t = c.datacenter, c.system, c.period
        line = "cpu_servers"
        lines.add(line, d, s, t, site.cpu_servers.owned * per_s * length_s)
        lines.add(line, d, s, t, c.rented_units * spec.rental_usd_per_hour * length_s / HOUR_S)
        if c.ordered > 0:
            window = service_window(ctx, c.system, t)
            share = 1 + (spec.network_storage_capex_fraction or 0.0)
            if after_horizon_ends(ctx):  # the whole capex, in the period it is paid in
                paid_t = paid_period(ctx, c.system, t)
                whole = c.ordered * spec.capex_usd * share * purchases(ctx, c.system)
                lines.add(line, d, s, paid_t, whole, "capital_charge_usd")
                if (own := purchases_weight(ctx, c.system)) is not None:  # at their instants
                    lines.reweigh(line, d, s, whole, own - period_weights(ctx)[paid_t])
                if resale := resale_usd(ctx, c.system, t):  # received at the horizon's end
                    lines.resale(line, d, s, c.ordered * resale, horizon_end_weight(ctx))
            else:
                capital = c.ordered * capital_per_s(spec.capex_usd, spec.lifetime_s, rate) * share
                spread(lines, ctx, line, d, s, window, capital, "capital_charge_usd")
            spread(lines, ctx, line, d, s, window, c.ordered * per_s)


def link_lines(ctx: Context, lines: Lines) -> None:
    """Each workload's link charges: sum over the links its traffic crosses (routed as rule
    link_capacity routes it: RL trajectories and weights, multi-site gradients, KV cache) of
    cost_usd_per_tb x bytes/s x window_s / 1e12, spread over its window in proportion to the
    seconds of it inside each period. Kept under (component, workload, None). The LP
    relaxation's traffic is not routed (a job split over sites: rule link_capacity holds for
    whole-unit plans only): its link rows are only placed in their periods."""
    topo = ctx.scenario.topology
    if not ctx.integral:
        windows = {w.workload: (w.start_s, w.end_s) for w in ctx.plan.workloads}
        for c in ctx.plan.costs_rows:
            if c.component != "links":
                continue
            a, b = windows[c.workload]
            if b > a:
                spread(lines, ctx, "links", c.workload, None, (a, b), c.cost_usd / (b - a))
        return
    spans = {p.period: (p.start_s, p.end_s) for p in ctx.plan.periods}
    by_workload: dict[str, list[AllocationRow]] = {}
    for x in ctx.plan.allocations:
        by_workload.setdefault(x.workload, []).append(x)
    for demand in ctx.demands:
        tiers = [t for t in ctx.plan.serving if t.workload == demand.name]
        allocations = by_workload.get(demand.name, [])
        traffic, _ = routed_traffic(topo, [demand], ctx.rl_rows, allocations, tiers, spans)
        usd = sum(
            topo.link(link_id).cost_usd_per_tb * bytes_per_s * demand.window_s / 1e12
            for link_id, bytes_per_s in traffic.items()
        )
        if usd > 0:
            a = demand.start_s
            window = (a, a + demand.window_s)
            spread(lines, ctx, "links", demand.name, None, window, usd / demand.window_s)


@rule("cost_lines")
def check_cost_lines(ctx: Context) -> list[str]:
    """every cost line recomputed from the schedule and the catalog and site figures, per pool
    (d, s) and calendar period t (h_t = len_t / 3600, ordered[t]'s units serving over
    [arrival start, end of the last period before their lifetime ends) inside the horizon,
    capital per second c = capex x CRF / year, CRF = r / (1 - (1 + r)^-L), r = 0: capex /
    lifetime): capex = ordered x c over that window (not under rental pricing; with
    economics.after_horizon ends: ordered x capex in the period it is paid in; resale = -
    ordered x resale_fraction x capex x remaining life at H / lifetime, received at the
    horizon's end H and weighed 1 / (1 + r)^(H / year): resale_usd, resale_lines), network_storage
    = capex x network_storage_capex_fraction, maintenance = capex x (1 +
    network_storage_capex_fraction) x maintenance_fraction_per_year / year x (bought units'
    service seconds + owned x len_t),
    facility = facility_usd_per_kw_month x power_w / 1000 / month x the same seconds, rental =
    rented_units x rental_usd_per_hour x h_t, spot = spot_units x spot_usd_per_hour x h_t,
    contracts = units x the catalog's usd_per_hour x hours from the start to the end of the last
    period the term covers (after_horizon ends: or to the term's end, if later), energy = power_w / 1000 x PUE x usd_per_kwh x ((1 - idle) x
    max(0, busy_units x h_t - (rented + contracted + spot_goodput x spot) x h_t) + idle x
    owned_units x h_t) (leased units run first, energy in their price); site_opening and CPU-only
    servers likewise (site_lines); each line summed over t = the plan's cost rows of that
    component and pool (summed over workloads), and summed over pools = the cash flow's column
    in each period, within REL_TOL x max(1, |cost|, the pool's recomputed cost) +
    COST_ABS_TOL_USD (the period sums: REL_TOL x max(1, |cost|) + COST_ABS_TOL_USD); links per workload =
    sum over the links its recomputed traffic crosses of cost_usd_per_tb x bytes/s x window /
    1e12 (link_lines; whole-unit plans); the contracts table agrees with the catalog and the
    schedule's contracted_units (contract_lines); a cost row of any other component is
    reported. With economics.discount_rate a cost row is a present value: each line's period t
    weighs w_t = 1 / (1 + r)^(t_mid / year) in its sum (the cash flow stays nominal), and the
    present_value table is recomputed (present_value_lines)"""
    lines = Lines(len(ctx.calendar))
    weights = period_weights(ctx)
    pool_lines(ctx, lines)
    out = contract_lines(ctx, lines)
    site_lines(ctx, lines)
    link_lines(ctx, lines)
    out += present_value_lines(ctx, lines)
    out += resale_lines(ctx, lines)
    out += after_horizon_lines(ctx, lines)
    charged: dict[tuple[str, str | None, str | None], float] = {}
    for c in ctx.plan.costs_rows:
        # links are charged to their workload (datacenter and system None)
        key = (
            (c.component, c.workload, None)
            if c.component == "links"
            else (c.component, c.datacenter, c.system)
        )
        charged[key] = charged.get(key, 0.0) + c.cost_usd
    # A line is held to its pool's scale: the solver leaves ~1e-6 units of noise (feasibility
    # tolerance) whose cost is a share of the pool's, not of the line's (CBC leaves a few cents
    # of busy hours with no energy charged on a pool costing millions).
    scale: dict[tuple[str | None, str | None], float] = {}
    for (_, d, s), per_period in lines.by_line.items():
        scale[(d, s)] = scale.get((d, s), 0.0) + abs(sum(per_period))
    # Periods where the cash flow's column differs from the recomputed one, by column (`off`,
    # named in a failing line's message). A column no failing line explains fails on its own
    # (`beyond_noise`) only past its pools' scale, the sum of its lines' tolerances: else the
    # noise each line is allowed fails the column it sums into (CBC: energy 0.00 charged
    # against 0.01 recomputed on a US$278M rental pool, found by test_highs_and_cbc_agree).
    off: dict[str, list[str]] = {}
    beyond_noise: dict[str, list[str]] = {}
    columns = sorted({*CASH_COLUMNS.values(), "other_opex_usd"})
    for row in ctx.plan.cash_flow:
        for column in columns:
            have = getattr(row, column)
            want = lines.by_column.get(column, [0.0] * len(ctx.calendar))[row.period]
            if abs(have - want) <= REL_TOL * max(1.0, abs(want)) + COST_ABS_TOL_USD:
                continue
            text = f"period {row.period}: cash flow {column} {have:,.2f}, recomputed {want:,.2f}"
            off.setdefault(column, []).append(text)
            pools = sum(scale.get(pool, 0.0) for pool in lines.pools_by_column.get(column, ()))
            if abs(have - want) > REL_TOL * max(1.0, abs(want), pools) + COST_ABS_TOL_USD:
                beyond_noise.setdefault(column, []).append(text)
    explained: set[str] = set()
    known = {*POOL_COMPONENTS, "resale", "site_opening", "cpu_servers", "links"}
    for key in sorted(set(charged) | set(lines.by_line), key=str):
        component, d, s = key
        where = f"{d}/{s}" if s is not None else f"{d}"
        if component not in known:
            out.append(f"{where} {component}: a cost component this rule does not recompute")
            continue
        have = charged.get(key, 0.0)
        per_period = lines.by_line.get(key, [0.0] * len(ctx.calendar))
        want = sum(weights.get(t, 1.0) * x for t, x in enumerate(per_period))
        if key in lines.past:  # payments past the horizon at their own weights
            want += lines.past[key][1]
        tol = REL_TOL * max(1.0, abs(want), scale.get((d, s), 0.0)) + COST_ABS_TOL_USD
        if abs(have - want) <= tol:
            continue
        column = CASH_COLUMNS.get(component, "other_opex_usd")
        periods = off.get(column, [])
        explained.add(column)
        mine = ", ".join(f"period {t}: {x:,.2f}" for t, x in enumerate(per_period) if x)
        out.append(
            f"{where} {component}: the cost rows charge {have:,.2f} US$, the schedule and "
            f"catalog give {want:,.2f} ({mine or 'none'})"
            + (f"; off in the cash flow: {'; '.join(periods)}" if periods else "")
        )
    for column, periods in sorted(beyond_noise.items()):
        if column not in explained:
            out += periods
    return out
