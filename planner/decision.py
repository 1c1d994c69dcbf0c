"""The decision a plan states, in a few lines: what to buy or rent where (and when), the cash
the purchases take against the share of it charged to this horizon, the term contracts and
spot units it holds, how much of the cost pays for idle capacity, which units are mostly idle,
and the limits that shaped the plan.

Presentation only: every figure comes from the plan's rows, plus the catalog prices and the
economics that `planner.solve` attaches to the plan (`plan.catalog_prices`, `plan.economics`;
absent for a plan read back from JSON, and then the purchase cash is said to be unknown).

    purchase_usd   = bought units x catalog capex_usd x purchases (the cash spent on new units;
                     purchases = ceil(H / L) with one fleet under after_horizon ends, else 1)
    capex_paid_usd = the cash flow's capex paid summed: the purchases x (1 + the catalog
                     network_storage_capex_fraction), what the cash flow's cumulative cash holds
                     (stated when above purchase_usd)
    capex charged  = the plan's `capex` cost component (capital recovered over the horizon) of
                     the accelerated systems; CPU-only servers' capital is in `cpu_servers`, and
                     their purchase cash (cpu_purchase_usd) is named beside it
    contracted, spot units = the most under term contracts / on spot in any calendar period,
                     and the days from the first to the last period holding them; their cost
                     = the plan's `contracts` / `spot` cost rows of that site and system
    contracts past the horizon = sum over contracts signed of units x usd_per_hour x
                     max(0, start + term - horizon) / 3600 h: owed for the rest of each term,
                     not in the plan's cost (which charges a term inside the horizon only);
                     with economics.after_horizon ends, in it (every payment is charged)
    idle share     = cost attributed to "(idle)" / total cost
    mostly idle    = a pool in service whose utilisation is below MOSTLY_IDLE
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetcore.tables import usd

if TYPE_CHECKING:
    from planner.plan import Plan

MOSTLY_IDLE = 0.25  # utilisation below which a pool is called mostly idle
S_PER_DAY = 86400.0
S_PER_YEAR = 365 * S_PER_DAY
S_PER_H = 3600.0


@dataclass(frozen=True)
class PoolDecision:
    """One site and system in service: units at the peak, owned before the plan, bought and
    rented (peak) by it, utilisation, cost charged to the horizon (all components), its idle
    part, and the catalog capex per unit and purchase cash of the bought units (None when
    the catalog price is not known); units under term contracts and on spot (peak), the days
    they span (first period start, last period end) and their cost."""

    datacenter: str
    system: str
    units: float
    owned_units: float
    bought_units: float
    rented_units: float
    utilisation: float | None
    charged_usd: float
    idle_usd: float
    capex_usd_per_unit: float | None
    purchase_usd: float | None
    contracted_units: float = 0.0
    # with one fleet for a horizon longer than a unit's life under after_horizon ends, each
    # bought unit is bought again as its life ends: ceil(H / L) purchases, all in purchase_usd
    purchases_per_unit: int = 1
    contract_from_day: float | None = None
    contract_to_day: float | None = None
    contracts_usd: float = 0.0
    spot_units: float = 0.0
    spot_from_day: float | None = None
    spot_to_day: float | None = None
    spot_usd: float = 0.0


@dataclass(frozen=True)
class Order:
    day: float
    datacenter: str
    system: str
    units: float


@dataclass(frozen=True)
class Decision:
    pools: list[PoolDecision]
    orders: list[Order]
    purchase_usd: float | None
    capex_charged_usd: float
    rental_usd: float
    contracts_usd: float
    spot_usd: float
    idle_usd: float
    total_usd: float
    basis: str
    limits: list[str]
    # the cash flow's capex paid over the horizon: the purchases with their network and
    # storage share (catalog network_storage_capex_fraction), CPU-only servers included
    capex_paid_usd: float | None = None
    # the part of purchase_usd spent on CPU-only servers: their capital is charged under the
    # cpu_servers cost component, not capex, so the summary says so beside capex charged
    cpu_purchase_usd: float = 0.0
    # term contracts signed in the plan owe their price for the whole term: the part of a term
    # past the horizon's end (units x usd_per_hour x hours after it) is a commitment the plan's
    # cost leaves out, so the summary states it beside the contracts' charge
    contracts_past_horizon_usd: float = 0.0
    # economics.after_horizon is ends: whole terms and whole capex are in the cost
    after_horizon_ends: bool = False
    # economics.resale_fraction: the accelerated units' resale at the horizon's end, as the
    # cost rows credit it (negative; CPU-only servers' is in their cpu_servers row)
    resale_usd: float = 0.0
    # a serving tier's N+k headroom holds spare units: they count in idle_usd (the LP charges
    # them no work) though the tier's rule needs them, so the summary says so
    headroom_spares: bool = False

    @property
    def idle_share(self) -> float:
        return self.idle_usd / self.total_usd if self.total_usd > 0 else 0.0

    @property
    def mostly_idle(self) -> list[PoolDecision]:
        return [
            p
            for p in self.pools
            if p.utilisation is not None and p.utilisation < MOSTLY_IDLE and p.units > 0
        ]


def decision(plan: Plan) -> Decision:
    """The decision summary of a plan (see the module docstring)."""
    pricing = str(plan.economics.get("pricing", ""))
    charged: dict[tuple[str, str], float] = {}
    idle: dict[tuple[str, str], float] = {}
    leased_usd: dict[tuple[str, str, str], float] = {}  # (component, datacenter, system)
    components: dict[str, float] = {}
    for c in plan.costs_rows:
        components[c.component] = components.get(c.component, 0.0) + c.cost_usd
        if c.datacenter is None or c.system is None:
            continue
        cost_key = (c.datacenter, c.system)
        charged[cost_key] = charged.get(cost_key, 0.0) + c.cost_usd
        if c.component in ("contracts", "spot"):
            lease_key = (c.component, *cost_key)
            leased_usd[lease_key] = leased_usd.get(lease_key, 0.0) + c.cost_usd
        if c.workload == "(idle)":
            idle[cost_key] = idle.get(cost_key, 0.0) + c.cost_usd
    bought: dict[tuple[str, str], float] = {}
    rented: dict[tuple[str, str], float] = {}
    orders: list[Order] = []
    held: dict[tuple[str, str, str], tuple[float, float, float]] = {}  # peak, first, last day
    for r in plan.schedule:
        key = (r.datacenter, r.system)
        bought[key] = bought.get(key, 0.0) + r.ordered
        rented[key] = max(rented.get(key, 0.0), r.rented_units)
        for kind, units in (("contracts", r.contracted_units), ("spot", r.spot_units)):
            if units > 0:
                peak, first, last = held.get((kind, *key), (0.0, math.inf, 0.0))
                held[(kind, *key)] = (
                    max(peak, units),
                    min(first, r.start_s / S_PER_DAY),
                    max(last, r.end_s / S_PER_DAY),
                )
        if r.ordered > 0:
            orders.append(Order(r.start_s / S_PER_DAY, r.datacenter, r.system, r.ordered))

    pools: list[PoolDecision] = []
    for f in plan.fleet:
        if f.units <= 0:
            continue
        key = (f.datacenter, f.system)
        pools.append(
            _pool(plan, key, f.units, f.owned_units, bought.get(key, 0.0), rented.get(key, 0.0))
        )
        pools[-1] = _with_figures(pools[-1], f.utilisation, charged, idle)
        pools[-1] = _with_leases(pools[-1], held, leased_usd)
    # CPU-only servers: ordered over the horizon and rented at the peak, from their schedule
    # (the peak's new units mix the two under mixed pricing); a plan without one (older JSON)
    # falls back to the peak's new units, all bought or all rented by the pricing.
    cpu_bought: dict[tuple[str, str], float] = {}
    cpu_rented: dict[tuple[str, str], float] = {}
    for row in plan.cpu_schedule:
        cpu_key = (row.datacenter, row.system)
        cpu_bought[cpu_key] = cpu_bought.get(cpu_key, 0.0) + row.ordered
        cpu_rented[cpu_key] = max(cpu_rented.get(cpu_key, 0.0), row.rented_units)
    cpu_keys: set[tuple[str, str]] = set()
    for server in plan.cpu_servers:
        if server.units <= 0:
            continue
        key = (server.datacenter, server.system)
        cpu_keys.add(key)
        if key in cpu_bought:
            new_bought, new_rented = cpu_bought[key], cpu_rented[key]
        else:
            new_bought = 0.0 if pricing == "rental" else server.new_units
            new_rented = server.new_units if pricing == "rental" else 0.0
        pool = _pool(plan, key, server.units, server.owned_units, new_bought, new_rented)
        pools.append(_with_figures(pool, None, charged, idle))
    pools.sort(key=lambda p: -p.charged_usd)

    purchases = [p.purchase_usd for p in pools if p.bought_units > 0]
    purchase_usd = None if any(v is None for v in purchases) else sum(v or 0.0 for v in purchases)
    cpu_purchase_usd = sum(
        p.purchase_usd or 0.0
        for p in pools
        if (p.datacenter, p.system) in cpu_keys and p.bought_units > 0
    )
    idle_usd = sum(c.cost_usd for c in plan.costs_rows if c.workload == "(idle)")
    return Decision(
        pools=pools,
        orders=orders,
        purchase_usd=purchase_usd,
        capex_charged_usd=components.get("capex", 0.0),
        resale_usd=components.get("resale", 0.0),
        rental_usd=components.get("rental", 0.0),
        contracts_usd=components.get("contracts", 0.0),
        spot_usd=components.get("spot", 0.0),
        idle_usd=idle_usd,
        total_usd=plan.total_cost_usd,
        basis=_basis(plan, pools),
        limits=[label_days(b.constraint, plan) for b in plan.binding_constraints[:3]],
        capex_paid_usd=sum(r.capex_paid_usd for r in plan.cash_flow) if plan.cash_flow else None,
        cpu_purchase_usd=cpu_purchase_usd,
        contracts_past_horizon_usd=_contracts_past_horizon_usd(plan),
        after_horizon_ends=plan.economics.get("after_horizon") == "ends",
        headroom_spares=any(v > 0 for row in plan.serving for v in row.spare_units.values()),
    )


def _contracts_past_horizon_usd(plan: Plan) -> float:
    """sum over contracts signed of units x usd_per_hour x max(0, start + term - H) / 3600 h (start:
    its calendar period's start; H = economics.horizon_s; 0 without the economics or calendar)."""
    if "horizon_s" not in plan.economics or not plan.cash_flow:
        return 0.0
    horizon_s = float(plan.economics["horizon_s"])
    start_s = {r.period: r.start_s for r in plan.cash_flow}
    return sum(
        c.units * c.usd_per_hour * max(0.0, start_s[c.period] + c.term_s - horizon_s) / S_PER_H
        for c in plan.contracts
        if c.period in start_s
    )


def _pool(
    plan: Plan,
    key: tuple[str, str],
    units: float,
    owned: float,
    bought: float,
    rented: float,
) -> PoolDecision:
    price = plan.catalog_prices.get(key[1], {}).get("capex_usd")
    times = int(plan.economics.get("purchases", {}).get(key[1], 1))
    return PoolDecision(
        datacenter=key[0],
        system=key[1],
        units=units,
        owned_units=owned,
        bought_units=bought,
        rented_units=rented,
        utilisation=None,
        charged_usd=0.0,
        idle_usd=0.0,
        capex_usd_per_unit=price,
        purchase_usd=None if price is None else bought * price * times,
        purchases_per_unit=times,
    )


def _with_figures(
    pool: PoolDecision,
    utilisation: float | None,
    charged: dict[tuple[str, str], float],
    idle: dict[tuple[str, str], float],
) -> PoolDecision:
    key = (pool.datacenter, pool.system)
    return PoolDecision(
        **{
            **pool.__dict__,
            "utilisation": utilisation,
            "charged_usd": charged.get(key, 0.0),
            "idle_usd": idle.get(key, 0.0),
        }
    )


def _with_leases(
    pool: PoolDecision,
    held: dict[tuple[str, str, str], tuple[float, float, float]],
    leased_usd: dict[tuple[str, str, str], float],
) -> PoolDecision:
    key = (pool.datacenter, pool.system)
    figures: dict[str, object] = {}
    for kind, prefix in (("contracts", "contract"), ("spot", "spot")):
        if (kind, *key) in held:
            peak, first, last = held[(kind, *key)]
            units_field = "contracted_units" if kind == "contracts" else "spot_units"
            figures[units_field] = peak
            figures[f"{prefix}_from_day"] = first
            figures[f"{prefix}_to_day"] = last
        figures[f"{kind}_usd" if kind == "contracts" else "spot_usd"] = leased_usd.get(
            (kind, *key), 0.0
        )
    return PoolDecision(**{**pool.__dict__, **figures})


def _basis(plan: Plan, pools: list[PoolDecision]) -> str:
    """The amortisation basis in words."""
    econ = plan.economics
    if econ.get("after_horizon") == "ends" and "horizon_s" not in econ:  # read back from JSON
        return (
            "capex in the cost is every bought unit's whole capex and contracts every payment of "
            "their terms (economics.after_horizon: ends; the scenario's other economics are not "
            "attached to this plan)"
        )
    if not econ:
        return (
            "capex in the cost is the capital recovered over the horizon (the catalog "
            "lifetimes are not attached to this plan)"
        )
    horizon_days = float(econ["horizon_s"]) / S_PER_DAY
    rate = float(econ.get("cost_of_capital", 0.0))
    lifetimes = sorted(
        {
            f"{p.system} {plan.catalog_prices[p.system]['lifetime_s'] / S_PER_YEAR:g} years"
            for p in pools
            if p.bought_units > 0 and p.system in plan.catalog_prices
        }
    )
    how = (
        f"an annuity at {rate:.0%}/year cost of capital"
        if rate > 0
        else "straight line (0% cost of capital)"
    )
    if econ["pricing"] == "rental":
        return (
            f"pricing rental: rented units pay their hourly price for the {horizon_days:g}-day "
            "horizon (energy included); owned units pay only their running costs"
        ) + _discount_text(econ.get("discount_rate"))
    if econ.get("after_horizon") == "ends":
        text = (
            f"pricing {econ['pricing']}; the need ends with the {horizon_days:g}-day horizon "
            "(economics.after_horizon: ends): bought units are charged their whole capex with "
            "its network and storage share when paid for, "
            + (
                f"less {float(econ['resale_fraction']):.4g} x capex x remaining life / lifetime "
                "received at the horizon's end for those whose life is not over then "
                "(economics.resale_fraction; its network and storage share is not resold)"
                if econ.get("resale_fraction")
                else "with no residual or resale value"
            )
            + "; owned units pay only their running costs; rented units their hourly price"
        )
        if econ["pricing"] == "mixed":
            text += (
                ", term contracts every payment of their terms, past the horizon too (billed "
                "monthly from its end, a month = a year / 12: the cash flow's rows after it)"
            )
        return text + _discount_text(econ.get("discount_rate"))
    text = (
        f"pricing {econ['pricing']}; bought units are charged the capital they recover over "
        f"the {horizon_days:g}-day horizon, {how}"
    )
    if lifetimes:
        text += (
            f", over lifetimes of {', '.join(lifetimes)}; a unit still in service at the "
            "horizon's end is charged only its time inside it, so the plan takes the rest of its "
            "life as worth its annuity to work after the horizon, which it does not model "
            "(economics.after_horizon: continues; `ends` charges the whole capex and every "
            "contract payment instead)"
        )
    text += "; owned units pay only their running costs; rented units their hourly price"
    if econ["pricing"] == "mixed":
        text += ", term contracts theirs for the periods the term covers inside the horizon"
    return text + _discount_text(econ.get("discount_rate"))


def _discount_text(rate: float | None) -> str:
    """With economics.discount_rate: which figures are present values and which face value."""
    if rate is None:
        return ""
    return (
        f"; the costs here (capex charged, rental, contracts, spot, idle) are present values at "
        f"{100 * rate:.4g}% a year, mid-period (economics.discount_rate: each period's charges "
        "x 1 / (1 + r)^(mid-period years)); purchase cash, unit prices and per-unit-hour "
        "prices are at face value"
    )


def share_text(share: float) -> str:
    """A share as a percent that reads 0% only when it is zero (and 100% only when whole): a
    share within 1% of either end keeps two significant figures of its distance from it, since
    "0% of the cost" beside a dollar figure reads as a contradiction an analyst must chase."""
    if 0 < share < 0.01:
        return f"{100 * share:.2g}%"
    if 0.99 < share < 1:
        return f"{100 - float(f'{100 * (1 - share):.2g}'):g}%"
    return f"{share:.0%}"


def summary_lines(d: Decision) -> list[str]:
    """The decision in a few sentences (text report, HTML, notebook repr)."""
    lines: list[str] = []
    buys = [p for p in d.pools if p.bought_units > 0]
    rents = [p for p in d.pools if p.rented_units > 0]
    contracts = [p for p in d.pools if p.contracted_units > 0]
    spots = [p for p in d.pools if p.spot_units > 0]
    for p in buys:
        again = (
            f", each bought {p.purchases_per_unit} times: its life ends inside the horizon and "
            "it is replaced"
            if p.purchases_per_unit > 1
            else ""
        )
        cash = (
            f" ({usd(p.purchase_usd)} at {usd(p.capex_usd_per_unit or 0)} each{again})"
            if (p.purchase_usd is not None)
            else ""
        )
        lines.append(f"Buy {units_text(p.bought_units)} {p.system} at {p.datacenter}{cash}")
    for p in rents:
        lines.append(f"Rent up to {units_text(p.rented_units)} {p.system} at {p.datacenter}")
    for p in contracts:
        lines.append(
            f"Contract up to {units_text(p.contracted_units)} {p.system} at {p.datacenter}"
            f"{_days(p.contract_from_day, p.contract_to_day)} ({usd(p.contracts_usd)} under term "
            "contracts)"
        )
    for p in spots:
        lines.append(
            f"Take up to {units_text(p.spot_units)} spot {p.system} at {p.datacenter}"
            f"{_days(p.spot_from_day, p.spot_to_day)} ({usd(p.spot_usd)})"
        )
    if not (buys or rents or contracts or spots):
        lines.append("Buy, rent and contract nothing: the owned fleet does the work")
    when = sorted({o.day for o in d.orders})
    if len(when) > 1:
        lines.append(
            "Order on days "
            + ", ".join(
                f"{day:g} ({', '.join(_order(o) for o in d.orders if o.day == day)})"
                for day in when
            )
        )
    if buys:
        cash = usd(d.purchase_usd) if d.purchase_usd is not None else "unknown (no catalog prices)"
        charged = (
            f"Purchase cash {cash}; charged to this horizon as capex: {usd(d.capex_charged_usd)}"
        )
        if d.cpu_purchase_usd > 0 and d.purchase_usd is not None:
            # capex holds the accelerated systems' capital only: without this the cash and the
            # charge cannot be reconciled by hand (cash x horizon / lifetime != capex)
            charged += (
                f" (accelerated systems; the {usd(d.cpu_purchase_usd)} of CPU-only servers is "
                "charged under cpu_servers)"
            )
        lines.append(charged)
        if d.resale_usd:
            lines.append(
                f"Resale at the horizon's end of the units still in their life: {usd(-d.resale_usd)}"
                " back (economics.resale_fraction; a credit in the cost)"
            )
        paid = d.capex_paid_usd
        if paid is not None and d.purchase_usd is not None and paid > d.purchase_usd * (1 + 1e-9):
            lines.append(
                f"With their network and storage share the purchases pay {usd(paid)} (the cash "
                "flow's capex paid)"
            )
    if d.rental_usd > 0:
        lines.append(f"Rental over the horizon: {usd(d.rental_usd)}")
    if d.contracts_usd > 0 and d.after_horizon_ends:
        lines.append(f"Term contracts, every payment of their terms: {usd(d.contracts_usd)}")
    elif d.contracts_usd > 0:
        lines.append(f"Term contracts over the horizon: {usd(d.contracts_usd)}")
    if d.contracts_past_horizon_usd > 0 and d.after_horizon_ends:
        lines.append(
            f"Of these, {usd(d.contracts_past_horizon_usd)} (face value) falls due past the "
            "horizon's end, charged in this plan's cost (economics.after_horizon: ends)"
        )
    elif d.contracts_past_horizon_usd > 0:
        lines.append(
            f"Term contracts commit a further {usd(d.contracts_past_horizon_usd)} (face value) for "
            "their terms past the horizon's end, owed but not in this plan's cost"
        )
    if d.spot_usd > 0:
        lines.append(f"Spot over the horizon: {usd(d.spot_usd)}")
    lines.append(
        f"Idle capacity: {share_text(d.idle_share)} of the cost ({usd(d.idle_usd)}) pays for units in "
        f"service but not working"
        + (
            ", a serving tier's N+k headroom spares among them (--explain lists them)"
            if d.headroom_spares
            else ""
        )
    )
    for p in d.mostly_idle:
        why = "owned before the plan" if p.owned_units >= p.units else "bought or rented"
        lines.append(
            f"Mostly idle: {units_text(p.units)} {p.system} at {p.datacenter} ({why}) are "
            f"{share_text(p.utilisation or 0.0)} busy"
        )
    if d.limits:
        lines.append("Limits that shaped it: " + ", ".join(d.limits))
    else:
        lines.append("No power, CPU, link or availability limit is reached: price alone chose")
    lines.append("Amortisation: " + d.basis)
    return lines


def label_days(label: str, plan: Plan) -> str:
    """A constraint label with the days its period index names: "cpu:dc-east:t2 (days
    182.5-273.75)" (label_span); the label alone without one."""
    span = label_span(label, plan)
    return f"{label} ({span})" if span else label


def label_span(label: str, plan: Plan) -> str:
    """The days of a label's period index, "days 182.5-273.75": a calendar period ":tN" (the
    cash flow's rows), an LP period ":pN" (the plan's periods); "" without one. Before session
    24 the report printed tN and pN, which it defines nowhere (its tables are in days)."""
    match = re.search(r":([tp])(\d+)$", label)
    if match is None:
        return ""
    kind, index = match.group(1), int(match.group(2))
    spans = (
        {c.period: (c.start_s, c.end_s) for c in plan.cash_flow}
        if kind == "t"
        else {p.period: (p.start_s, p.end_s) for p in plan.periods}
    )
    if index not in spans:
        return ""
    start_s, end_s = spans[index]
    return f"days {start_s / 86400:g}-{end_s / 86400:g}"


def _days(first: float | None, last: float | None) -> str:
    return "" if first is None or last is None else f" on days {first:g}-{last:g}"


def _order(o: Order) -> str:
    return f"{units_text(o.units)} {o.system} at {o.datacenter}"


def units_text(value: float) -> str:
    """Whole units as 1,234; fractional ones (an LP relaxation) with two decimals."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-6 else f"{value:,.2f}"
