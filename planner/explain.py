"""Why the solver picked what it picked: the cost of one unit of each work item's work on each
system the topology offers, before any constraint (power, CPU, links, availability) bites.

    usd per work unit = usd per unit-second / rate (work units per second per unit)
    a unit bought: usd per unit-second = what the plan's objective charges a unit bought and kept
               busy, per second in service (planner/lp/objective.py):
               capex_usd · CRF / year · (1 + network_storage_capex_fraction)
               + capex_usd · (1 + network_storage_capex_fraction) · maintenance_fraction_per_year
                 / year
               + facility_usd_per_kw_month · power_w / 1000 / month
               + power_w · PUE · usd_per_kwh / 3.6e6
               (CRF = r / (1 - (1 + r)^-L) per year, r = economics.cost_of_capital, L = lifetime
               in years; 1 / L at r = 0; a figure not given is not charged). Before session 22
               it was capex_usd / lifetime_s + energy alone: GB200 NVL72 at frontier-lab's
               dc-east was priced 39% under what the plan charges it.
    rented:    rental_usd_per_hour / 3600 (energy included)
    contract k: usd_per_hour_k / 3600 (energy included)
    spot:      spot_usd_per_hour / 3600 / spot_goodput (per second of useful work; never serving)

Which of these applies is the pricing's: amortised buys, rental rents, mixed may do any. Given
the solved plan, a pool that holds new units is priced the way the objective charges the ones
the plan holds there: sum over them of what each costs / their useful unit-seconds (bought:
units in service past the owned ones x period lengths; rented and spot: units x period lengths,
spot's x goodput; contract: units x its term inside the horizon); a pool with none (or no plan)
is priced at the cheapest way the pricing allows. Before session 23 a unit was priced as bought
under mixed pricing whatever the plan held: frontier-3y's dc-east GB200 NVL72, all contracted
or rented, at the bought figure.

This is the marginal price of the work on a unit bought (or rented) for the purpose and kept
busy; owned units, idle time and the constraints move the real plan away from it, which is what
the plan's binding constraints and shadow prices then explain. Owned units get a line each
(`owned_pools`): a busy hour of them costs only its energy above idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetcore.tables import table
from planner.demand.types import WorkloadDemand
from planner.lp.model import SAME_INSTANT_S
from planner.plan import Plan
from planner.scenario import Scenario

S_PER_H = 3600.0
S_PER_DAY = 86400.0


@dataclass(frozen=True)
class Price:
    """US$ per second of a unit's useful work, and how the unit is paid for."""

    usd_per_s: float
    paid_as: str


def bought_usd_per_s(scenario: Scenario, system_name: str, d: str) -> float:
    """What the objective charges a unit of `system_name` bought for site d and kept busy, per
    second in service (the module docstring's amortised formula; `planner estimate --pricing
    amortised` prices a unit-hour with the same function, given these figures)."""
    from planner.demand.common import bought_unit_hour

    site = scenario.topology.site(d)
    hour = bought_unit_hour(
        scenario.catalog.system(system_name),
        site.electricity_usd_per_kwh,
        site.pue,
        scenario.data.economics.cost_of_capital,
        site.facility_usd_per_kw_month or 0.0,
    )
    return hour.total_usd_per_h / S_PER_H


def term_text(term_s: float) -> str:
    """A contract term as its catalog writes it: years when whole, else days."""
    years = term_s / (365 * S_PER_DAY)
    if abs(years - round(years)) < 1e-9:
        return f"{round(years)} year" + ("s" if round(years) != 1 else "")
    return f"{term_s / S_PER_DAY:g} days"


def options(scenario: Scenario, system_name: str, d: str, serving: bool) -> list[Price]:
    """Every way the pricing lets the objective pay for a new unit of `system_name` at d:
    amortised buys, rental rents, mixed buys, rents, contracts (each offer) or takes spot (not
    for serving, which never runs on spot)."""
    pricing = scenario.data.economics.pricing
    spec = scenario.catalog.system(system_name)
    out = []
    if pricing != "rental":
        out.append(Price(bought_usd_per_s(scenario, system_name, d), "bought"))
    if pricing != "amortised":
        out.append(Price(spec.rental_usd_per_hour / S_PER_H, "rented"))
    if pricing == "mixed":
        out += [
            Price(offer.usd_per_hour / S_PER_H, f"contract {term_text(offer.term_s)}")
            for offer in spec.contracts
        ]
        if spec.spot_usd_per_hour is not None and spec.spot_goodput and not serving:
            per_s = spec.spot_usd_per_hour / S_PER_H / spec.spot_goodput
            out.append(Price(per_s, "spot"))
    return out


def pool_price(
    plan: Plan, scenario: Scenario, d: str, system_name: str, serving: bool = False
) -> Price | None:
    """How the objective charges the new units the plan holds in pool (d, system_name), per
    useful unit-second: sum of their costs / sum of their useful unit-seconds (the module
    docstring; serving leaves out spot units, which it never runs on); None when the plan holds
    none there."""
    spec = scenario.catalog.system(system_name)
    owned = scenario.topology.site(d).systems[system_name].owned
    horizon_s = scenario.data.economics.horizon_s
    rows = [r for r in plan.schedule if (r.datacenter, r.system) == (d, system_name)]
    # way paid -> (US$, useful unit-seconds)
    parts: dict[str, tuple[float, float]] = {}

    def add(paid_as: str, usd_per_s: float, useful_s: float) -> None:
        usd, seconds = parts.get(paid_as, (0.0, 0.0))
        parts[paid_as] = (usd + usd_per_s * useful_s, seconds + useful_s)

    for r in rows:
        length_s = r.end_s - r.start_s
        add(
            "bought", bought_usd_per_s(scenario, system_name, d), (r.owned_units - owned) * length_s
        )
        add("rented", spec.rental_usd_per_hour / S_PER_H, r.rented_units * length_s)
        if spec.spot_usd_per_hour is not None and spec.spot_goodput and not serving:
            useful_s = r.spot_units * length_s * spec.spot_goodput
            add("spot", spec.spot_usd_per_hour / S_PER_H / spec.spot_goodput, useful_s)
    starts = {r.period: r.start_s for r in rows}
    for c in plan.contracts:
        if (c.datacenter, c.system) != (d, system_name):
            continue
        offer = spec.contracts[c.contract]
        # held to the end of the last period its term covers, inside the horizon
        ends = [
            r.end_s
            for r in rows
            if r.period >= c.period and r.start_s < starts[c.period] + offer.term_s - SAME_INSTANT_S
        ]
        held_s = min(horizon_s, max(ends, default=starts[c.period])) - starts[c.period]
        add(f"contract {term_text(offer.term_s)}", offer.usd_per_hour / S_PER_H, c.units * held_s)
    used = {k: v for k, v in parts.items() if v[1] > 0}
    seconds = sum(v[1] for v in used.values())
    if seconds <= 0:
        return None
    usd = sum(v[0] for v in used.values())
    if len(used) == 1:
        return Price(usd / seconds, next(iter(used)))
    mix = sorted(used.items(), key=lambda kv: -kv[1][1])
    return Price(usd / seconds, ", ".join(f"{v[1] / seconds:.0%} {k}" for k, v in mix))


def unit_costs(
    scenario: Scenario, demands: list[WorkloadDemand], plan: Plan | None = None
) -> list[dict[str, Any]]:
    """One record per (workload, role, system placed somewhere): the cheapest site's price of
    one work unit (each site's as the plan pays for its new units there, else the cheapest way
    the pricing allows), or why the system cannot do the work."""
    topo = scenario.topology
    out = []
    for demand in demands:
        for role in demand.roles:
            for system_name in topo.system_names():
                rate = role.rates.get(system_name)
                best: tuple[Price, str] | None = None
                for d in topo.datacenters():
                    if system_name not in topo.site(d).systems:
                        continue
                    serving = demand.steady_load
                    held = pool_price(plan, scenario, d, system_name, serving) if plan else None
                    ways = options(scenario, system_name, d, serving)
                    price = held or min(ways, key=lambda p: p.usd_per_s)
                    if best is None or price.usd_per_s < best[0].usd_per_s:
                        best = (price, d)
                assert best is not None
                per_s = rate.per_unit_s if rate is not None and rate.feasible else 0.0
                out.append(
                    {
                        "workload": demand.name,
                        "role": role.name,
                        "system": system_name,
                        "datacenter": best[1],
                        "paid_as": best[0].paid_as,
                        "work_unit": role.work_unit,
                        "usd_per_unit_s": best[0].usd_per_s,
                        "rate_per_unit_s": per_s,
                        "usd_per_work_unit": best[0].usd_per_s / per_s if per_s > 0 else None,
                        "why": rate.reason if rate is not None else "no rate",
                    }
                )
    return out


@dataclass(frozen=True)
class OwnedPool:
    """Units a site already owns: what a busy unit-hour of them costs the objective, beside
    what a unit bought there costs."""

    datacenter: str
    system: str
    units: int
    busy_usd_per_h: float
    bought_usd_per_h: float


def owned_pools(scenario: Scenario) -> list[OwnedPool]:
    """Every pool with owned units. Their capex is sunk (not in the objective) and their
    maintenance and facility are charged busy or idle (planner/lp/objective.py), so a busy
    unit-hour adds only its energy above idle: (1 - idle_power_fraction) x power_w / 1000 x
    PUE x usd_per_kwh. Before session 25 `--explain` priced only new units, and a plan that
    filled a site's owned units first had no line that said why."""
    out = []
    for d in scenario.topology.datacenters():
        site = scenario.topology.site(d)
        for name, pool in site.systems.items():
            if pool.owned <= 0:
                continue
            spec = scenario.catalog.system(name)
            kwh_usd_per_h = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
            busy = kwh_usd_per_h * (1 - (spec.idle_power_fraction or 0.0))
            out.append(
                OwnedPool(d, name, pool.owned, busy, bought_usd_per_s(scenario, name, d) * S_PER_H)
            )
    return out


@dataclass(frozen=True)
class IdleBoughtPool:
    """Units the plan buys that sit idle in some periods: `idle` holds (first day, last day,
    idle units) of each such period; a busy hour of one costs busy_usd_per_h."""

    datacenter: str
    system: str
    units: float  # bought units in service, at most
    idle: list[tuple[float, float, float]]
    busy_usd_per_h: float
    bought_usd_per_h: float


# an idle share of a unit below this is whole-unit rounding, not capacity worth a line
IDLE_UNITS_SHOWN = 0.5


def idle_bought_pools(scenario: Scenario, plan: Plan) -> list[IdleBoughtPool]:
    """Pools where the plan holds units it bought and leaves some idle in a period. Such a unit
    is charged its capital recovery, network/storage, maintenance, facility and idle draw
    whether it works or not (planner/lp/objective.py), so work moved onto it adds only its
    energy above idle, (1 - idle_power_fraction) x power_w / 1000 x PUE x usd_per_kwh: the
    owned units' busy price (owned_pools), not the bought price the tables show. Idle units of
    each of the plan's periods: owned units in service (bought or owned before) - the units its
    allocations keep busy beyond the rented, contracted and spot ones (which run first); a
    headroom spare counts as idle. Before session 27 a plan that moved a
    workload onto the units another bought and left (frontier-lab's chat: the owned H100s,
    then from day 90 the GB200 NVL72s pretraining bought) had no line that said why."""
    out = []
    for d in scenario.topology.datacenters():
        site = scenario.topology.site(d)
        for name, pool in site.systems.items():
            rows = sorted(
                (r for r in plan.schedule if (r.datacenter, r.system) == (d, name)),
                key=lambda r: r.start_s,
            )
            bought = max((r.owned_units - pool.owned for r in rows), default=0.0)
            if bought <= 0:
                continue
            # busy units by the plan's periods (a calendar period may hold several: a
            # workload's start or deadline splits it), from the allocations
            busy_units: dict[tuple[float, float], float] = {}
            for a in plan.allocations:
                if (a.datacenter, a.system) == (d, name):
                    key = (a.period_start_s, a.period_end_s)
                    busy_units[key] = busy_units.get(key, 0.0) + a.units
            idle = []
            for r in rows:
                others = r.rented_units + r.contracted_units + r.spot_units
                spans = sorted(k for k in busy_units if r.start_s <= k[0] < r.end_s)
                for start_s, end_s in spans or [(r.start_s, r.end_s)]:
                    worked = busy_units.get((start_s, end_s), 0.0)
                    left = r.owned_units - max(0.0, worked - others)
                    if left >= IDLE_UNITS_SHOWN:
                        idle.append((start_s / S_PER_DAY, end_s / S_PER_DAY, left))
            if not idle:
                continue
            spec = scenario.catalog.system(name)
            kwh_usd_per_h = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
            busy = kwh_usd_per_h * (1 - (spec.idle_power_fraction or 0.0))
            bought_h = bought_usd_per_s(scenario, name, d) * S_PER_H
            out.append(IdleBoughtPool(d, name, bought, idle, busy, bought_h))
    return out


def explain_text(scenario: Scenario, plan: Plan | None) -> str:
    """What `planner plan --explain` prints (and the HTML report holds)."""
    from planner.api import demands

    return format_unit_costs(
        unit_costs(scenario, demands(scenario), plan),
        scenario.data.economics.discount_rate,
        owned_pools(scenario),
        scenario.data.economics.after_horizon,
        idle_bought_pools(scenario, plan) if plan is not None else [],
    )


def format_unit_costs(
    records: list[dict[str, Any]],
    discount_rate: float | None = None,
    owned: list[OwnedPool] | None = None,
    after_horizon: str = "continues",
    idle_bought: list[IdleBoughtPool] | None = None,
) -> str:
    """A table per work item, cheapest first; per million tokens or per EFLOP. The prices are
    at face value; with a discount_rate the header says so and how the plan weighs them. Owned
    units, priced apart (their busy energy alone), get a line each after the header. With
    economics.after_horizon ends the header says the prices are per second of a unit's life or
    a contract's term, which the plan charges whole however little of it the horizon uses.
    Units the plan bought and leaves idle in some periods (idle_bought) get a line each too."""
    out = [
        "Cost of the work on each system (a unit kept busy, paid for as the plan pays for its new"
        "\nunits at that site, else the cheapest way the pricing allows; before constraints)"
    ]
    for o in owned or []:
        out.append(
            f"Owned: {o.datacenter}/{o.system} {o.units:,} units, ${o.busy_usd_per_h:,.2f} a busy "
            f"unit-hour (their energy above idle; capex sunk, maintenance and facility paid busy "
            f"or idle) against ${o.bought_usd_per_h:,.2f} for a unit bought there"
        )
    for b in idle_bought or []:
        days = ", ".join(f"{n:,.3g} on days {a:g}-{z:g}" for a, z, n in b.idle)
        out.append(
            f"Bought and idle: {b.datacenter}/{b.system} {b.units:,.3g} "
            f"unit{'' if b.units == 1 else 's'} bought, idle {days}: "
            f"work moved onto them pays ${b.busy_usd_per_h:,.2f} a busy unit-hour (their energy "
            f"above idle; the rest is charged busy or idle), not the ${b.bought_usd_per_h:,.2f} "
            "of the bought price below"
        )
    if after_horizon == "ends":
        out.append(
            "Bought and contract prices are per second of a unit's life or a contract's term: "
            "the plan charges the whole capex or term (economics.after_horizon: ends), so where "
            "the horizon uses less of it a second it uses costs more than shown"
        )
    if discount_rate is not None:
        out.append(
            "Prices at face value, not discounted: the plan weighs each period's charges by "
            f"1 / (1 + {discount_rate:g})^(mid-period years) (economics.discount_rate)"
        )
    keys = sorted({(r["workload"], r["role"]) for r in records}, key=lambda k: (k[0], k[1]))
    for workload, role in keys:
        rows = [r for r in records if (r["workload"], r["role"]) == (workload, role)]
        rows.sort(key=lambda r: (r["usd_per_work_unit"] is None, r["usd_per_work_unit"] or 0.0))
        scale, unit = (1e6, "$/M tokens") if rows[0]["work_unit"] == "token" else (1e18, "$/EFLOP")
        cheapest = rows[0]["usd_per_work_unit"]
        out.append(f"\n{workload}/{role}")
        out.append(
            table(
                ["system", "site", "paid as", unit, "vs cheapest", "why"],
                [
                    [
                        r["system"],
                        r["datacenter"],
                        r["paid_as"],
                        f"{r['usd_per_work_unit'] * scale:,.4g}"
                        if r["usd_per_work_unit"] is not None
                        else "-",
                        f"x{r['usd_per_work_unit'] / cheapest:.2f}"
                        if r["usd_per_work_unit"] and cheapest
                        else "-",
                        r["why"],
                    ]
                    for r in rows
                ],
            )
        )
    return "\n".join(out)
