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

With economics.after_horizon ends the objective charges a bought unit its whole capex and a
contract every payment of its term however little of either the horizon uses, so a second of
life is the wrong price. A bought unit is then priced as its whole capex (with its network and
storage share, less its resale at the horizon's end under economics.resale_fraction) over the
seconds it serves inside the horizon, plus its running costs per second; a contract as usd_per_hour_k · charged term / its use inside the horizon
(contract_charged_s / contract_held_s). One price cannot hold for every order: a unit ordered
later serves less of the horizon. Without a plan (or for a pool the plan holds none of) the
price assumes a unit ordered, or a contract signed, at the horizon's start (or when the system
is first available), and its `paid as` says over how many days; a pool the plan holds is
priced from its own orders and contracts (sum of their whole charges / their useful seconds).

This is the marginal price of the work on a unit bought (or rented) for the purpose and kept
busy; owned units, idle time and the constraints move the real plan away from it, which is what
the plan's binding constraints and shadow prices then explain. Owned units get a line each
(`owned_pools`): a busy hour of them costs only its energy above idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetcore.tables import table
from planner.demand.types import WorkloadDemand
from planner.lp.model import SAME_INSTANT_S
from planner.plan import Plan
from planner.scenario import Scenario

if TYPE_CHECKING:  # imported where used: the demand models stay off explain's import
    from planner.demand.common import BoughtUnitHour

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
    return _bought_hour(scenario, system_name, d).total_usd_per_h / S_PER_H


def _bought_hour(scenario: Scenario, system_name: str, d: str) -> BoughtUnitHour:
    """planner/demand/common.py bought_unit_hour at site d's prices and the scenario's cost of
    capital: a bought unit-hour split by what pays for it."""
    from planner.demand.common import bought_unit_hour

    site = scenario.topology.site(d)
    return bought_unit_hour(
        scenario.catalog.system(system_name),
        site.electricity_usd_per_kwh,
        site.pue,
        scenario.data.economics.cost_of_capital,
        site.facility_usd_per_kw_month or 0.0,
    )


def term_text(term_s: float) -> str:
    """A contract term as its catalog writes it: years when whole, else days."""
    years = term_s / (365 * S_PER_DAY)
    if abs(years - round(years)) < 1e-9:
        return f"{round(years)} year" + ("s" if round(years) != 1 else "")
    return f"{term_s / S_PER_DAY:g} days"


def _ends(scenario: Scenario) -> bool:
    return scenario.data.economics.after_horizon == "ends"


def _available_s(scenario: Scenario, system_name: str) -> float:
    """Seconds from the horizon start until `system_name` can be had (Model.available_s)."""
    when = scenario.catalog.system(system_name).available_from
    start = scenario.data.economics.start_date
    if when is None or start is None:
        return 0.0
    return max(0.0, (when - start).days * S_PER_DAY)


def purchases(scenario: Scenario, system_name: str) -> int:
    """ceil(H / lifetime) with one fleet for the horizon under after_horizon ends (a unit and
    its replacements), else 1: as objective.purchases."""
    economics = scenario.data.economics
    if economics.period_s is not None or not _ends(scenario):
        return 1
    lifetime_s = scenario.catalog.system(system_name).lifetime_s
    return max(1, math.ceil(economics.horizon_s / lifetime_s - 1e-9))


def resold_usd(scenario: Scenario, system_name: str, arrival_s: float) -> float:
    """economics.resale_fraction x capex_usd x remaining life at the horizon's end / lifetime
    for a unit arriving at arrival_s (after_horizon ends; remaining = max(0, arrival +
    lifetime - H), one fleet for the horizon: its last purchase born at (purchases - 1) x
    lifetime), as objective.resale_usd; else 0."""
    economics = scenario.data.economics
    if not _ends(scenario) or not economics.resale_fraction:
        return 0.0
    spec = scenario.catalog.system(system_name)
    if arrival_s >= economics.horizon_s:  # delivered after the horizon: never sold
        return 0.0
    start_s = arrival_s
    if economics.period_s is None:
        start_s = (purchases(scenario, system_name) - 1) * spec.lifetime_s
    remaining_s = max(0.0, start_s + spec.lifetime_s - economics.horizon_s)
    return economics.resale_fraction * spec.capex_usd * remaining_s / spec.lifetime_s


def _arrival_s(scenario: Scenario, system_name: str, order_s: float = 0.0) -> float:
    """The start of the period a unit ordered at order_s (a period start) arrives in: the
    first starting at least its lead time and its availability later (Model.arrival)."""
    from planner.lp.model import calendar_for

    economics = scenario.data.economics
    if economics.period_s is None:
        return 0.0
    spec = scenario.catalog.system(system_name)
    ready_s = max(order_s + (spec.lead_time_s or 0.0), _available_s(scenario, system_name))
    calendar = calendar_for(economics.horizon_s, economics.period_s)
    arrive = next((c for c in calendar if c.start_s >= ready_s - SAME_INSTANT_S), None)
    return economics.horizon_s if arrive is None else arrive.start_s


def first_service_s(scenario: Scenario, system_name: str) -> float:
    """Seconds a unit of `system_name` ordered at the horizon's start serves inside it, as the
    objective counts them (objective.service_s of an order at period 0): with one fleet for the
    horizon (no economics.period) all of H; else from its arrival (the first period starting at
    least its lead time and its availability after the start) to the end of the last period
    its lifetime reaches into, at most H; 0 when it arrives after the horizon."""
    from planner.lp.model import calendar_for

    economics = scenario.data.economics
    if economics.period_s is None:
        return economics.horizon_s
    spec = scenario.catalog.system(system_name)
    calendar = calendar_for(economics.horizon_s, economics.period_s)
    ready_s = max(spec.lead_time_s or 0.0, _available_s(scenario, system_name))
    arrive = next((c for c in calendar if c.start_s >= ready_s - SAME_INSTANT_S), None)
    if arrive is None:
        return 0.0
    serving = [
        c
        for c in calendar
        if arrive.start_s <= c.start_s < arrive.start_s + spec.lifetime_s - SAME_INSTANT_S
    ]
    return min(economics.horizon_s, serving[-1].end_s) - arrive.start_s


def first_contract_use_s(scenario: Scenario, system_name: str, term_s: float) -> float:
    """Seconds a contract of `term_s` signed at the horizon's start (or the first period the
    system is available in) is held inside the horizon, as the objective counts them
    (objective.contract_held_s): to the end of the last period it covers, at most H."""
    from planner.lp.model import calendar_for

    economics = scenario.data.economics
    calendar = calendar_for(economics.horizon_s, economics.period_s)
    avail_s = _available_s(scenario, system_name)
    start = next((c for c in calendar if c.start_s >= avail_s - SAME_INSTANT_S), None)
    if start is None:
        return 0.0
    covered = [
        c for c in calendar if start.start_s <= c.start_s < start.start_s + term_s - SAME_INSTANT_S
    ]
    return min(economics.horizon_s, covered[-1].end_s) - start.start_s


def ends_bought_price(scenario: Scenario, system_name: str, d: str) -> Price | None:
    """economics.after_horizon ends, a unit ordered at the horizon's start: (capex_usd · (1 +
    network_storage_capex_fraction) - its resale, resold_usd) / first_service_s + its running
    costs per second
    (maintenance, facility, energy: bought_usd_per_s less its capital); None when it would
    not serve inside the horizon."""
    service_s = first_service_s(scenario, system_name)
    if service_s <= 0:
        return None
    spec = scenario.catalog.system(system_name)
    whole = spec.capex_usd * (1 + (spec.network_storage_capex_fraction or 0.0))
    whole *= purchases(scenario, system_name)  # one fleet for the horizon: replacements too
    whole -= resold_usd(scenario, system_name, _arrival_s(scenario, system_name))

    days = service_s / S_PER_DAY
    return Price(
        whole / service_s + running_usd_per_s(scenario, system_name, d),
        f"bought (whole capex over {days:g} days)",
    )


def running_usd_per_s(scenario: Scenario, system_name: str, d: str) -> float:
    """A bought unit's maintenance, facility and energy per second in service (bought_usd_per_s
    without its capital and network/storage recovery)."""
    hour = _bought_hour(scenario, system_name, d)
    return (hour.maintenance_usd_per_h + hour.facility_usd_per_h + hour.energy_usd_per_h) / S_PER_H


def contract_price(scenario: Scenario, system_name: str, k: int) -> Price | None:
    """Contract k: usd_per_hour_k / 3600 a second; with economics.after_horizon ends, signed at
    the horizon's start, x max(use, term) / use (use: first_contract_use_s; the whole term is
    charged over the seconds the horizon uses); None when it cannot start inside it."""
    offer = scenario.catalog.system(system_name).contracts[k]
    name = f"contract {term_text(offer.term_s)}"
    if not _ends(scenario):
        return Price(offer.usd_per_hour / S_PER_H, name)
    use_s = first_contract_use_s(scenario, system_name, offer.term_s)
    if use_s <= 0:
        return None
    charged_s = max(use_s, offer.term_s)
    if charged_s > use_s:
        name += f" (whole term over {use_s / S_PER_DAY:g} days)"
    return Price(offer.usd_per_hour / S_PER_H * charged_s / use_s, name)


def options(scenario: Scenario, system_name: str, d: str, serving: bool) -> list[Price]:
    """Every way the pricing lets the objective pay for a new unit of `system_name` at d:
    amortised buys, rental rents, mixed buys, rents, contracts (each offer) or takes spot (not
    for serving, which never runs on spot)."""
    pricing = scenario.data.economics.pricing
    spec = scenario.catalog.system(system_name)
    out = []
    if pricing != "rental":
        if not _ends(scenario):
            out.append(Price(bought_usd_per_s(scenario, system_name, d), "bought"))
        elif (bought := ends_bought_price(scenario, system_name, d)) is not None:
            out.append(bought)
    if pricing != "amortised":
        out.append(Price(spec.rental_usd_per_hour / S_PER_H, "rented"))
    if pricing == "mixed":
        out += [
            price
            for k in range(len(spec.contracts))
            if (price := contract_price(scenario, system_name, k)) is not None
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

    def add(paid_as: str, usd: float, useful_s: float) -> None:
        held = parts.get(paid_as, (0.0, 0.0))
        parts[paid_as] = (held[0] + usd, held[1] + useful_s)

    ends = _ends(scenario)
    bought_per_s = (
        running_usd_per_s(scenario, system_name, d)
        if ends
        else bought_usd_per_s(scenario, system_name, d)
    )
    whole_usd = spec.capex_usd * (1 + (spec.network_storage_capex_fraction or 0.0))
    whole_usd *= purchases(scenario, system_name)  # one fleet for the horizon: replacements too
    ordered = 0.0
    for r in rows:
        length_s = r.end_s - r.start_s
        useful_s = (r.owned_units - owned) * length_s
        add("bought", bought_per_s * useful_s, useful_s)
        if ends and r.ordered > 0:  # each order's whole capex, however long it serves in H
            resold = resold_usd(scenario, system_name, _arrival_s(scenario, system_name, r.start_s))
            add("bought", (whole_usd - resold) * r.ordered, 0.0)
            ordered += r.ordered
        useful_s = r.rented_units * length_s
        add("rented", spec.rental_usd_per_hour / S_PER_H * useful_s, useful_s)
        if spec.spot_usd_per_hour is not None and spec.spot_goodput and not serving:
            useful_s = r.spot_units * length_s * spec.spot_goodput
            add("spot", spec.spot_usd_per_hour / S_PER_H / spec.spot_goodput * useful_s, useful_s)
    if ends and ordered > 0 and "bought" in parts:
        days = parts["bought"][1] / ordered / S_PER_DAY
        parts[f"bought (whole capex over {days:.4g} days a unit)"] = parts.pop("bought")
    starts = {r.period: r.start_s for r in rows}
    terms: dict[str, tuple[float, float]] = {}  # contract -> (units, charged unit-seconds)
    for c in plan.contracts:
        if (c.datacenter, c.system) != (d, system_name):
            continue
        offer = spec.contracts[c.contract]
        # held to the end of the last period its term covers, inside the horizon
        ends_s = [
            r.end_s
            for r in rows
            if r.period >= c.period and r.start_s < starts[c.period] + offer.term_s - SAME_INSTANT_S
        ]
        held_s = min(horizon_s, max(ends_s, default=starts[c.period])) - starts[c.period]
        # after_horizon ends: every payment of the term, over the seconds it is held inside H
        charged_s = max(held_s, offer.term_s) if ends else held_s
        name = f"contract {term_text(offer.term_s)}"
        add(name, offer.usd_per_hour / S_PER_H * (c.units * charged_s), c.units * held_s)
        units, charged = terms.get(name, (0.0, 0.0))
        terms[name] = (units + c.units, charged + c.units * charged_s)
    for name, (units, charged) in terms.items():
        usd, useful_s = parts[name]
        if charged > useful_s * (1 + 1e-12) and useful_s > 0:
            days = useful_s / units / S_PER_DAY
            parts[f"{name} (whole term over {days:.4g} days)"] = parts.pop(name)
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
    idle units) of each such period; a busy hour of one costs busy_usd_per_h. `spares`: the
    same for the units a serving tier's headroom (N+k racks) holds unallocated there, which are
    not idle capacity and not in `idle`."""

    datacenter: str
    system: str
    units: float  # bought units in service, at most
    idle: list[tuple[float, float, float]]
    busy_usd_per_h: float
    bought_usd_per_h: float
    spares: list[tuple[float, float, float]] = field(default_factory=list)


# an idle share of a unit below this is whole-unit rounding, not capacity worth a line
IDLE_UNITS_SHOWN = 0.5


def idle_bought_pools(scenario: Scenario, plan: Plan) -> list[IdleBoughtPool]:
    """Pools where the plan holds units it bought and leaves some idle in a period. Such a unit
    is charged its capital recovery, network/storage, maintenance, facility and idle draw
    whether it works or not (planner/lp/objective.py), so work moved onto it adds only its
    energy above idle, (1 - idle_power_fraction) x power_w / 1000 x PUE x usd_per_kwh: the
    owned units' busy price (owned_pools), not the bought price the tables show. Idle units of
    each of the plan's periods: owned units in service (bought or owned before) - the units its
    allocations keep busy beyond the rented, contracted and spot ones (which run first) - the
    spare units a serving tier's headroom holds there in that period (plan.serving spare_units:
    spare = min(those spares, the units left), listed apart as `spares`; qa28b: they were
    counted idle, while the N+k rule holds them and work moved onto them would break it).
    Before session 27 a plan that moved a workload onto the units another bought and left
    (frontier-lab's chat: the owned H100s, then from day 90 the GB200 NVL72s pretraining
    bought) had no line that said why."""
    from planner.verify import spare_pools

    span_of = {p.period: (p.start_s, p.end_s) for p in plan.periods}
    held: dict[tuple[str, str, tuple[float, float]], float] = {}
    for row in plan.serving:
        for (d, name, p), units in spare_pools(row).items():
            spare_key = (d, name, span_of[p])
            held[spare_key] = held.get(spare_key, 0.0) + units
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
            spares = []
            for r in rows:
                others = r.rented_units + r.contracted_units + r.spot_units
                spans = sorted(k for k in busy_units if r.start_s <= k[0] < r.end_s)
                for start_s, end_s in spans or [(r.start_s, r.end_s)]:
                    worked = busy_units.get((start_s, end_s), 0.0)
                    left = r.owned_units - max(0.0, worked - others)
                    spare = min(max(left, 0.0), held.get((d, name, (start_s, end_s)), 0.0))
                    days = (start_s / S_PER_DAY, end_s / S_PER_DAY)
                    if spare > 0:
                        spares.append((*days, spare))
                    if left - spare >= IDLE_UNITS_SHOWN:
                        idle.append((*days, left - spare))
            if not idle and not spares:
                continue
            spec = scenario.catalog.system(name)
            kwh_usd_per_h = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
            busy = kwh_usd_per_h * (1 - (spec.idle_power_fraction or 0.0))
            bought_h = bought_usd_per_s(scenario, name, d) * S_PER_H
            out.append(IdleBoughtPool(d, name, bought, idle, busy, bought_h, spares))
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
    economics.after_horizon ends the header says how bought and contract prices charge the
    whole capex and term over the days the horizon uses. Units the plan bought and leaves idle
    in some periods (idle_bought) get a line each too."""
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
        spares = ", ".join(f"{n:,.3g} on days {a:g}-{z:g}" for a, z, n in b.spares)
        held = (
            f"; headroom spares (held by a tier's N+k rule, not idle): {spares}" if spares else ""
        )
        if not b.idle:
            out.append(
                f"Bought and held as headroom spares: {b.datacenter}/{b.system} {spares} "
                "(a serving tier's N+k rule holds them unallocated; not idle capacity)"
            )
            continue
        days = ", ".join(f"{n:,.3g} on days {a:g}-{z:g}" for a, z, n in b.idle)
        out.append(
            f"Bought and idle: {b.datacenter}/{b.system} {b.units:,.3g} "
            f"unit{'' if b.units == 1 else 's'} bought, idle {days}{held}: "
            f"work moved onto the idle ones pays ${b.busy_usd_per_h:,.2f} a busy unit-hour (their "
            f"energy above idle; the rest is charged busy or idle), not the "
            f"${b.bought_usd_per_h:,.2f} of the bought price below"
        )
    if after_horizon == "ends":
        out.append(
            "economics.after_horizon: ends charges a bought unit its whole capex and a contract "
            "every payment of its term: a bought price is the whole capex (with its network and "
            "storage share) over the days a unit serves inside the horizon plus its running "
            "costs, a contract's its whole term over the days it is held inside it (`paid as` "
            "gives the days: the plan's own units where it holds some, else a unit ordered or a "
            "contract signed at the horizon's start; one ordered later serves fewer days and "
            "costs more a day)"
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
