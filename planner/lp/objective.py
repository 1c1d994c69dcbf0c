"""Stage 3 of the model: the objective, in one place. Every cost is a labelled Term (component,
site, system, workload) so the plan can split it over workloads."""

from __future__ import annotations

import math
from collections.abc import Callable

from hardware.schema import System
from planner.lp.linear import Col, expr, total
from planner.lp.model import GB, S_PER_H, Model, Pairs, Term

S_PER_YEAR = 365 * 86400.0
S_PER_MONTH = S_PER_YEAR / 12


def define_objective(model: Model) -> None:
    """Minimise total cost over the horizon H (US$), per pool (d, s) and calendar period t:
      capex: buy[d,s,t] · capex · recovery(t); recovery = the capital recovered while the unit
             serves inside the horizon: years in service · CRF (in service to the end of the
             last period it serves in: a lifetime ending inside a period holds it whole), CRF = r / (1 - (1 + r)^-L)
             (r = cost_of_capital, L = lifetime in years; r = 0: 1 / L). With one fleet for the
             horizon a unit serves all of H (it is replaced at the end of its life).
             economics.after_horizon ends: recovery = 1, the whole capex whatever the unit's
             service inside H (nothing after the horizon has value: no residual value),
             charged when paid for (economics.capex_paid_at: order or delivery); with one
             fleet for the horizon, x ceil(H / L) purchases (replaced at L, 2L, ...; in the
             one period, each weighed at its instant: 1 / (1 + r)^(k · L / year),
             purchases_weight)
      resale (after_horizon ends): - buy[d,s,t] · resale_fraction · capex · remaining / L,
             remaining = max(0, birth + L - H) (birth: its arrival period's start; no period:
             the last purchase's, (ceil(H / L) - 1) · L), received at H, weighed w_H = 1 / (1 + r)^(H / year) (resale_usd,
             horizon_end_weight; CPU servers likewise, in their cpu_servers term)
      network_storage: the same for capex · network_storage_capex_fraction
      maintenance: capex · (1 + network_storage_capex_fraction) · maintenance_fraction_per_year
             · years in service (owned units too; maintenance_usd_per_s)
      rental: rent[d,s,t] · rental_usd_per_hour · len_t / 3600 (energy included)
      spot: spot[d,s,t] · spot_usd_per_hour · len_t / 3600 (energy included)
      contracts: q[d,s,t,k] · usd_per_hour_k · hours from its start to the end of the last
             period it covers, inside the horizon (a term ending inside a period holds it whole;
             energy included; the part of a term past the horizon is left out, as a unit's
             residual value is); after_horizon ends: every payment of the term, hours = max(the
             hours above, term), past the horizon too (billed monthly from the horizon's end)
      energy: e · ((1 - f) · busy owned hours + f · owned units · len_t / 3600), where
             e = power_w / 1000 · PUE · usd_per_kwh and f = idle_power_fraction; busy owned
             hours are o[d,s,t] where units can be rented (rented units run first), else all
             busy hours sum_{w,r,p in t} u · len_p / 3600
      facility: facility_usd_per_kw_month · power_w / 1000 · owned units in service · months
      site_opening: open[d,t] · opening_cost_usd of a candidate site (once, in full)
      CPU servers: mbuy[d,t] · (capex · recovery(t) · (1 + network_storage_capex_fraction)
             + (energy + maintenance + facility per second) · service_s(t)) (after_horizon
             ends: capex · (1 + network_storage_capex_fraction) in full), mrent[d,t] ·
             rental_usd_per_hour · len_t / 3600, owned ones' energy, maintenance and facility
             for H (energy at nameplate while in service: no busy measure, so no idle share)
      links: cost_usd_per_tb · traffic bytes, per link traversed
    With economics.discount_rate r, the objective is a present value: every charge above is
    weighed by its calendar period's w_t = 1 / (1 + r)^(t_mid / year) (t_mid: the period's
    middle from the horizon start; discount_weight), a charge spread over a window (capital
    recovery, maintenance, facility, contracts, links, owned units' running costs) by w_t x its
    seconds in each period t; a site opening by the w_t of the period it opens at. Seconds past
    the horizon (after_horizon ends: contract payments) are billed monthly from the horizon's
    end, each month's weighed at its middle, 1 / (1 + r)^(mid / year) (a month = a year / 12;
    past_horizon_weighted_s); a capex charged in full weighs the w_t of the period it is paid
    in (one fleet for the horizon: each purchase at its instant k · L); a resale at H, w_H.
    Phase 1 (elastic) minimises the weighted slacks instead."""
    add_pool_terms(model)
    add_site_opening_terms(model)
    add_cpu_server_terms(model)
    add_link_terms(model)
    if model.elastic:
        model.prob.setObjective(expr([(s.var, s.weight) for s in model.slacks.values()]))
    else:
        model.prob.setObjective(total(t.expr for t in model.terms))


def discount_weight(rate: float, start_s: float, end_s: float) -> float:
    """A calendar period's present-value weight: 1 / (1 + r)^(t_mid / year), r =
    economics.discount_rate, t_mid = (start + end) / 2 seconds from the horizon start (charges
    accrue through the period, so the mid-period convention). The objective and the verifier
    (planner/verify_costs.py) both weigh periods with this function."""
    return (1.0 + rate) ** -((start_s + end_s) / 2 / S_PER_YEAR)


def period_weight(model: Model, t: int) -> float:
    """Calendar period t's discount weight; 1.0 when the scenario has no discount_rate."""
    rate = model.scenario.data.economics.discount_rate
    if rate is None:
        return 1.0
    c = model.calendar[t]
    return discount_weight(rate, c.start_s, c.end_s)


def window_weight(model: Model, start_s: float, end_s: float) -> float:
    """The mean discount weight of a charge spread evenly over [start, end): (sum over calendar
    periods t of weight_t x the window's seconds in t + past_horizon_weighted_s of its seconds
    past the horizon) / (end - start); 1.0 without a discount_rate (or an empty window)."""
    economics = model.scenario.data.economics
    rate = economics.discount_rate
    if rate is None or end_s <= start_s:
        return 1.0
    weighted = sum(
        _overlap_s(start_s, end_s, c.start_s, c.end_s) * period_weight(model, c.index)
        for c in model.calendar
    )
    if end_s > economics.horizon_s:
        weighted += past_horizon_weighted_s(rate, economics.horizon_s, start_s, end_s)
    return weighted / (end_s - start_s)


def past_horizon_months(horizon_s: float, start_s: float, end_s: float) -> list[tuple[int, float]]:
    """(i, seconds of [start, end) in month i after the horizon H) for every month i >= 0 the
    window reaches past H, month i = [H + i·M, H + (i + 1)·M), M = a year / 12: contract
    payments past the horizon (economics.after_horizon ends) are billed monthly from its end
    (the catalog gives no payment schedule; cloud term contracts bill by the month). The
    objective, the plan's cash flow and the verifier all split past the horizon with it."""
    a = max(start_s, horizon_s)
    if end_s <= a:
        return []
    out = []
    i = int((a - horizon_s) // S_PER_MONTH)
    while horizon_s + i * S_PER_MONTH < end_s:
        p0 = horizon_s + i * S_PER_MONTH
        seconds = _overlap_s(a, end_s, p0, p0 + S_PER_MONTH)
        if seconds > 0:
            out.append((i, seconds))
        i += 1
    return out


def month_after_horizon(horizon_s: float, i: int) -> tuple[float, float]:
    """[start, end) seconds from the horizon start of month i >= 0 after the horizon H."""
    return horizon_s + i * S_PER_MONTH, horizon_s + (i + 1) * S_PER_MONTH


def past_horizon_weighted_s(rate: float, horizon_s: float, start_s: float, end_s: float) -> float:
    """The seconds of [start, end) after the horizon H, each month's weighed at its middle:
    sum over months i of past_horizon_months' seconds_i · discount_weight(r, H + i·M, H + (i +
    1)·M), M = a year / 12 (mid-month, as a calendar period weighs at its middle; the weight
    of a payment does not depend on the horizon's or the period's length). The objective and
    the verifier (planner/verify_costs.py) both weigh past the horizon with it."""
    return sum(
        seconds * discount_weight(rate, *month_after_horizon(horizon_s, i))
        for i, seconds in past_horizon_months(horizon_s, start_s, end_s)
    )


def after_horizon_ends(model: Model) -> bool:
    """economics.after_horizon is ends: nothing after the horizon has value to the plan."""
    return model.scenario.data.economics.after_horizon == "ends"


def service_weight(model: Model, system: str, t: int) -> float:
    """window_weight over the service window of a unit ordered at t; 1.0 without a
    discount_rate, before the window's calendar scan (asked per pool and order, as service_s,
    so made once per system and period)."""
    if model.scenario.data.economics.discount_rate is None:
        return 1.0
    key = ("weight", system, t)
    held = model.seconds.get(key)
    if held is None:
        held = model.seconds[key] = window_weight(model, *_service_window(model, system, t))
    return held


def capital_recovery_factor(rate: float, lifetime_s: float) -> float:
    """CRF per year: r / (1 - (1 + r)^-L), L in years; 1 / L when r = 0."""
    years = lifetime_s / S_PER_YEAR
    if rate == 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)


def service_s(model: Model, system: str, t: int) -> float:
    """Seconds a unit ordered at the start of t serves inside the horizon (0 if it arrives
    after it): from its arrival period's start to the end of the last calendar period it is in
    service in (model.serving_orders: a unit whose lifetime ends inside a period serves that
    period whole, so it pays for all of it); with one fleet for the horizon, all of H. Made
    once per system and period: every pool of the system asks, up to three times per order
    (capex, maintenance, facility), and each answer scans the calendar."""
    key = ("service", system, t)
    held = model.seconds.get(key)
    if held is None:
        held = model.seconds[key] = _service_s(model, system, t)
    return held


def _service_s(model: Model, system: str, t: int) -> float:
    horizon_s = model.scenario.data.economics.horizon_s
    if not model.multi_period:
        return horizon_s
    arrive = model.arrival(system, t)
    if arrive is None:
        return 0.0
    start_s = model.calendar[arrive].start_s
    serving = [c for c in model.calendar[arrive:] if t in model.serving_orders(system, c.index)[0]]
    end_s = serving[-1].end_s if serving else start_s
    return max(0.0, min(horizon_s, end_s) - start_s)


def contract_held_s(model: Model, system: str, t0: int, k: int) -> float:
    """Seconds contract k of `system` signed at the start of t0 is paid for inside the horizon:
    to the end of the last calendar period it covers (model.contract_covers: a term that ends
    inside a period holds that period whole, so it pays for all of it), at most the horizon.
    Made once per system, period and contract (every pool of the system asks)."""
    key = ("contract", system, t0, k)
    held = model.seconds.get(key)
    if held is None:
        held = model.seconds[key] = _contract_held_s(model, system, t0, k)
    return held


def contract_charged_s(model: Model, system: str, t0: int, k: int) -> float:
    """Seconds of contract k of `system` signed at t0 charged to the plan: contract_held_s, or
    with economics.after_horizon ends max(contract_held_s, term): every payment of the term, past
    the horizon too (a term ending inside the horizon is charged as today: to the end of the
    last period it covers)."""
    held_s = contract_held_s(model, system, t0, k)
    if not after_horizon_ends(model):
        return held_s
    return max(held_s, model.scenario.catalog.system(system).contracts[k].term_s)


def _contract_held_s(model: Model, system: str, t0: int, k: int) -> float:
    horizon_s = model.scenario.data.economics.horizon_s
    start_s = model.calendar[t0].start_s
    covered = [c for c in model.calendar[t0:] if model.contract_covers(system, k, t0, c.index)]
    end_s = covered[-1].end_s if covered else start_s
    return max(0.0, min(horizon_s, end_s) - start_s)


def recovered_capex_usd(model: Model, system: str, t: int) -> float:
    """Capex recovered over a unit's service inside the horizon (r = 0: capex · service / L,
    straight line)."""
    spec = model.scenario.catalog.system(system)
    rate = model.scenario.data.economics.cost_of_capital
    if rate == 0:
        return spec.capex_usd * service_s(model, system, t) / spec.lifetime_s
    crf = capital_recovery_factor(rate, spec.lifetime_s)
    return spec.capex_usd * crf * service_s(model, system, t) / S_PER_YEAR


def purchases(model: Model, system: str) -> int:
    """Purchases one unit of `system` in the fleet stands for under economics.after_horizon
    ends: with one fleet for the horizon (no period) ceil(H / L), the unit and its
    replacements at L, 2L, ... (a life ends inside H: it is bought again); with periods 1 (the
    LP buys each replacement itself when a unit retires). Under continues the per-second
    capital recovery already covers replacements."""
    if model.multi_period or not after_horizon_ends(model):
        return 1
    lifetime_s = model.scenario.catalog.system(system).lifetime_s
    return purchases_over(model.scenario.data.economics.horizon_s, lifetime_s)


def purchases_over(horizon_s: float, lifetime_s: float) -> int:
    """ceil(H / L): a unit and its replacements over a horizon H of one fleet, each life L."""
    return max(1, math.ceil(horizon_s / lifetime_s - 1e-9))


def charged_capex_usd(model: Model, system: str, t: int) -> float:
    """The capex one unit of `system` ordered at t is charged: recovered_capex_usd, or with
    economics.after_horizon ends the whole capex of each purchase it stands for (purchases:
    with one fleet for the horizon, its replacements too), whatever its service inside H."""
    if after_horizon_ends(model):
        return model.scenario.catalog.system(system).capex_usd * purchases(model, system)
    return recovered_capex_usd(model, system, t)


def horizon_end_weight(model: Model) -> float:
    """The discount weight of a sum received at the horizon's end H (a resale): 1 / (1 +
    r)^(H / year), r = economics.discount_rate (1.0 without one). An instant, so no
    mid-period convention: weighing it at the last period's middle would overstate it."""
    economics = model.scenario.data.economics
    if economics.discount_rate is None:
        return 1.0
    return (1.0 + economics.discount_rate) ** -(economics.horizon_s / S_PER_YEAR)


def remaining_life_s(model: Model, system: str, t: int) -> float:
    """Seconds of life a unit of `system` ordered at t has left at the horizon's end H:
    max(0, birth + lifetime - H), birth = its arrival period's start (as its service window);
    0 if it arrives after H. With one fleet for the horizon (no period) the last of its
    purchases (n = purchases) is born at (n - 1) · L."""
    horizon_s = model.scenario.data.economics.horizon_s
    lifetime_s = model.scenario.catalog.system(system).lifetime_s
    if not model.multi_period:
        birth_s = (purchases(model, system) - 1) * lifetime_s
    else:
        arrive = model.arrival(system, t)
        if arrive is None:
            return 0.0
        birth_s = model.calendar[arrive].start_s
    return max(0.0, birth_s + lifetime_s - horizon_s)


def resale_usd(model: Model, system: str, t: int) -> float:
    """What one unit of `system` ordered at t is sold for at the horizon's end (after_horizon
    ends): economics.resale_fraction · capex_usd · remaining_life_s / lifetime (its
    straight-line remaining value at H times the user's market share), received at H; 0 under
    continues."""
    economics = model.scenario.data.economics
    if not after_horizon_ends(model) or not economics.resale_fraction:
        return 0.0
    spec = model.scenario.catalog.system(system)
    remaining = remaining_life_s(model, system, t) / spec.lifetime_s
    return economics.resale_fraction * spec.capex_usd * remaining


def capex_paid_period(model: Model, system: str, t: int) -> int:
    """The calendar period a unit ordered at t is paid for in (economics.capex_paid_at: its
    order, or its delivery; an order delivered after the horizon: its order's period)."""
    if model.scenario.data.economics.capex_paid_at == "order":
        return t
    arrive = model.arrival(system, t)
    return t if arrive is None else arrive


def purchases_weight(model: Model, system: str) -> float | None:
    """With one fleet for the horizon under after_horizon ends and a discount_rate r: the mean
    weight of a unit's purchases (purchases, n) each at its own instant k · L, (1 / n) sum_k
    1 / (1 + r)^(k · L / year), k = 0 .. n - 1 (paid then, not at the one period's middle);
    None otherwise (a purchase weighs its period's w_t)."""
    rate = model.scenario.data.economics.discount_rate
    if rate is None or model.multi_period or not after_horizon_ends(model):
        return None
    lifetime_s = model.scenario.catalog.system(system).lifetime_s
    n = purchases(model, system)
    return sum((1.0 + rate) ** -(k * lifetime_s / S_PER_YEAR) for k in range(n)) / n


def capex_weight(model: Model, system: str, t: int) -> float:
    """The discount weight of charged_capex_usd: spread over the unit's service (service_weight),
    or with after_horizon ends paid at once (period_weight of capex_paid_period; one fleet for
    the horizon: each purchase at its instant, purchases_weight)."""
    if after_horizon_ends(model):
        own = purchases_weight(model, system)
        return own if own is not None else period_weight(model, capex_paid_period(model, system, t))
    return service_weight(model, system, t)


def purchases_reweighed_usd(model: Model, value: Value) -> float:
    """What weighing one fleet's purchases at their instants (purchases_weight) adds to the
    one period's present value over its mid-period weight w: sum over bought units and CPU-only
    servers of units · charged_capex_usd · (1 + network_storage_capex_fraction) · (purchases_weight
    - w); 0 when purchases weigh their period's w_t."""
    if model.multi_period or model.scenario.data.economics.discount_rate is None:
        return 0.0
    mid = period_weight(model, 0)
    usd = 0.0
    orders: list[tuple[str, int, float]] = []
    if model.scenario.data.economics.pricing != "rental":
        orders += [(s, t, value(v)) for (_d, s, t), v in model.buy.items()]
    for (d, t), var in model.cpu_buy.items():
        cpu = model.scenario.topology.site(d).cpu_servers
        if cpu is not None:
            orders.append((cpu.system, t, value(var)))
    for s, t, units in orders:
        own = purchases_weight(model, s)
        if own is None or not units:
            continue
        share = 1 + (model.scenario.catalog.system(s).network_storage_capex_fraction or 0.0)
        usd += units * charged_capex_usd(model, s, t) * share * (own - mid)
    return usd


def maintenance_usd_per_s(spec: System) -> float:
    """One unit's maintenance per second in service, bought or owned: capex · (1 +
    network_storage_capex_fraction) · maintenance_fraction_per_year / year (0 without a
    maintenance figure). The scale-out network and storage bought with a unit are hardware
    under support contracts too, so the catalog's share of hardware cost a year applies to
    them; before session 26 only the unit's capex carried it (0.75% of capex a year left out
    at the catalog's 5% and 15%)."""
    base_usd = spec.capex_usd * (1 + (spec.network_storage_capex_fraction or 0.0))
    return base_usd * (spec.maintenance_fraction_per_year or 0.0) / S_PER_YEAR


def add_pool_terms(model: Model) -> None:
    """Capex (with network/storage and maintenance), rental, energy and facility of every pool."""
    for pool in model.pools():
        add_ownership_terms(model, pool)
        add_energy_terms(model, pool)
        add_spot_terms(model, pool)


def add_spot_terms(model: Model, pool: tuple[str, str]) -> None:
    """spot[d,s,t] · spot_usd_per_hour · len_t / 3600 (energy included)."""
    d, s = pool
    price = model.scenario.catalog.system(s).spot_usd_per_hour
    spots = [(key[2], var) for key, var in model.of_pool("spot").get(pool, [])]
    if spots and price is not None:
        hours = {t.index: t.length_s / S_PER_H for t in model.calendar}
        model.terms.append(
            Term(
                "spot",
                d,
                s,
                None,
                expr([(v, price * hours[t] * period_weight(model, t)) for t, v in spots]),
            )
        )


def add_ownership_terms(model: Model, pool: tuple[str, str]) -> None:
    """capex, network_storage, maintenance, rental and facility terms of one pool."""
    d, s = pool
    spec = model.scenario.catalog.system(s)
    site = model.scenario.topology.site(d)
    horizon_s = model.scenario.data.economics.horizon_s
    buys = [(key[2], var) for key, var in model.of_pool("buy").get(pool, [])]
    owned = model.owned(pool)
    if model.scenario.data.economics.pricing != "rental":
        capex = [
            (var, charged_capex_usd(model, s, t) * capex_weight(model, s, t)) for t, var in buys
        ]
        model.terms.append(Term("capex", d, s, None, expr(capex)))
        at_end = horizon_end_weight(model)
        resale = [(var, -resale_usd(model, s, t) * at_end) for t, var in buys]
        if any(c for _, c in resale):
            model.terms.append(Term("resale", d, s, None, expr(resale)))
        if spec.network_storage_capex_fraction:
            extra = [(v, c * spec.network_storage_capex_fraction) for v, c in capex]
            model.terms.append(Term("network_storage", d, s, None, expr(extra)))
    if spec.maintenance_fraction_per_year:
        per_s = maintenance_usd_per_s(spec)
        pairs = [
            (var, per_s * service_s(model, s, t) * service_weight(model, s, t)) for t, var in buys
        ]
        owned_usd = per_s * horizon_s * owned * window_weight(model, 0.0, horizon_s)
        model.terms.append(Term("maintenance", d, s, None, expr(pairs, owned_usd)))
    rents = [(key[2], var) for key, var in model.of_pool("rent").get(pool, [])]
    if rents:
        hours = {t.index: t.length_s / S_PER_H for t in model.calendar}
        pairs = [
            (var, spec.rental_usd_per_hour * hours[t] * period_weight(model, t)) for t, var in rents
        ]
        model.terms.append(Term("rental", d, s, None, expr(pairs)))
    contracts = model.of_pool("contract").get(pool, [])
    if contracts:
        pairs = []
        for (_, _, t, k), var in contracts:
            offer = spec.contracts[k]
            within_s = contract_charged_s(model, s, t, k)
            start_s = model.calendar[t].start_s
            weight = window_weight(model, start_s, start_s + within_s)
            pairs.append((var, offer.usd_per_hour * within_s / S_PER_H * weight))
        model.terms.append(Term("contracts", d, s, None, expr(pairs)))
    if site.facility_usd_per_kw_month is not None:
        per_unit_s = site.facility_usd_per_kw_month * spec.power_w / 1000 / S_PER_MONTH
        pairs = [
            (var, per_unit_s * service_s(model, s, t) * service_weight(model, s, t))
            for t, var in buys
        ]
        owned_usd = per_unit_s * horizon_s * owned * window_weight(model, 0.0, horizon_s)
        model.terms.append(Term("facility", d, s, None, expr(pairs, owned_usd)))


def add_energy_terms(model: Model, pool: tuple[str, str]) -> None:
    """Energy of owned units: busy hours, plus the idle share of nameplate for the rest."""
    d, s = pool
    spec = model.scenario.catalog.system(s)
    site = model.scenario.topology.site(d)
    kwh_usd = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
    idle = spec.idle_power_fraction or 0.0
    busy: Pairs = []
    period = {p.index: p for p in model.periods}
    busy_h = model.of_pool("owned_busy_h").get(pool, [])
    leased = {key[2] for key, _ in busy_h}
    # Allocations in periods without leases (none when every period has them: no scan).
    if len(leased) < len(model.calendar):
        for (_w, _r, _d, _s, p), var in model.u_of_pool(pool):
            if period[p].calendar not in leased:
                weight = period_weight(model, period[p].calendar)
                busy.append((var, period[p].length_s / S_PER_H * weight))
    busy += [(o, period_weight(model, key[2])) for key, o in busy_h]
    pairs = [(v, c * kwh_usd * (1 - idle)) for v, c in busy]
    constant = 0.0
    if idle:
        for t in model.calendar:
            hours = t.length_s / S_PER_H * period_weight(model, t.index)
            bought = model.in_service(pool, t.index, rented=False)
            pairs += [(v, c * idle * kwh_usd * hours) for v, c in bought]
            constant += model.owned(pool) * idle * kwh_usd * hours
    model.terms.append(Term("energy", d, s, None, expr(pairs, constant)))


def add_site_opening_terms(model: Model) -> None:
    """site_opening: open[d,t] · opening_cost_usd of each candidate site (paid once, in full)."""
    for d in model.sites:
        candidate = model.scenario.topology.site(d).candidate
        if candidate is None:
            continue
        cost = candidate.opening_cost_usd
        pairs = [
            (v, cost * period_weight(model, t)) for (d2, t), v in model.site_open.items() if d2 == d
        ]
        if pairs:
            model.terms.append(Term("site_opening", d, None, None, expr(pairs)))


def cpu_server_running_usd_per_s(model: Model, d: str) -> float:
    """What one CPU-only server at site d costs a second while in service, bought or owned:
    energy at nameplate (power_w / 1000 · PUE · usd_per_kwh / 3600) + maintenance (capex ·
    (1 + network_storage_capex_fraction) · maintenance_fraction_per_year / year) + facility
    (facility_usd_per_kw_month · power_w / 1000 / month); a figure not given is not charged (the plan's left_out says so)."""
    site = model.scenario.topology.site(d)
    assert site.cpu_servers is not None
    spec = model.scenario.catalog.system(site.cpu_servers.system)
    usd = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh / S_PER_H
    usd += maintenance_usd_per_s(spec)
    if site.facility_usd_per_kw_month is not None:
        usd += site.facility_usd_per_kw_month * spec.power_w / 1000 / S_PER_MONTH
    return usd


def cpu_server_capital_usd(model: Model, system: str, t: int) -> float:
    """Capital one CPU-only server ordered at t is charged, its network and storage share
    included: charged_capex_usd · (1 + network_storage_capex_fraction) (the capital it recovers
    inside the horizon; after_horizon ends: its whole capex)."""
    share = model.scenario.catalog.system(system).network_storage_capex_fraction or 0.0
    return charged_capex_usd(model, system, t) * (1 + share)


def cpu_server_buy_usd(model: Model, system: str, t: int, running_usd_per_s: float) -> float:
    """One CPU-only server ordered at t: its capital (cpu_server_capital_usd, weighed by
    capex_weight) and its running costs while it serves inside the horizon (weighed by
    service_weight)."""
    capital = cpu_server_capital_usd(model, system, t)
    running = running_usd_per_s * service_s(model, system, t)
    if after_horizon_ends(model):
        resale = resale_usd(model, system, t) * horizon_end_weight(model)
        return (
            capital * capex_weight(model, system, t)
            - resale
            + running * service_weight(model, system, t)
        )
    return (capital + running) * service_weight(model, system, t)


def add_cpu_server_terms(model: Model) -> None:
    """CPU-only servers: owned ones' running costs (energy, maintenance, facility) for the
    horizon; each bought one its recovered capex with its network and storage share, plus its
    running costs while it serves inside the horizon; rented ones their rent per period."""
    scenario = model.scenario
    horizon_s = scenario.data.economics.horizon_s
    for d in model.sites:
        site = scenario.topology.site(d)
        cpu = site.cpu_servers
        if cpu is None:
            continue
        system = scenario.catalog.system(cpu.system)
        per_s = cpu_server_running_usd_per_s(model, d)
        pairs = [
            (var, cpu_server_buy_usd(model, cpu.system, t, per_s))
            for (d2, t), var in model.cpu_buy.items()
            if d2 == d
        ]
        hours = {t.index: t.length_s / S_PER_H for t in model.calendar}
        pairs += [
            (var, system.rental_usd_per_hour * hours[t] * period_weight(model, t))
            for (d2, t), var in model.cpu_rent.items()
            if d2 == d
        ]
        owned_usd = per_s * horizon_s * cpu.owned * window_weight(model, 0.0, horizon_s)
        cost = expr(pairs, owned_usd)
        model.terms.append(Term("cpu_servers", d, cpu.system, None, cost))


def add_link_terms(model: Model) -> None:
    """cost_usd_per_tb of every link on a flow's path x the bytes it carries over its window."""
    topo = model.scenario.topology
    window = {d.name: d.window_s for d in model.demands}
    span = {d.name: (d.start_s, d.end_s) for d in model.demands}
    for flow in model.flows:
        usd_per_tb = sum(topo.link(link_id).cost_usd_per_tb for link_id in flow.path)
        weight = window_weight(model, *span[flow.workload])
        usd_per_gbs = usd_per_tb * GB * window[flow.workload] / 1e12 * weight
        if usd_per_gbs:
            model.terms.append(
                Term("links", None, None, flow.workload, expr([(flow.var, usd_per_gbs)]))
            )


# -- the objective's terms split over calendar periods (the plan's cash-flow table) -----------

Value = Callable[[Col], float]
Add = Callable[[str, int, float], None]
# Components charged to the period they accrue in; any other term is spread over the horizon
# in proportion to period length (CPU servers, and components added later).
PERIOD_COMPONENTS = ("capex", "network_storage", "maintenance", "facility", "rental", "spot")


def cost_by_period(model: Model, value: Value) -> dict[str, list[float]]:
    """Every cost term of the solved model (variables read through `value`) split over the
    calendar periods, by component: the same formulas as the terms, each charged where it
    accrues (capital recovery, maintenance and facility over each unit's service; rent and spot
    in their period; contracts over their term; energy where the work runs; links over their
    workload's window). With economics.after_horizon ends a capex charged in full is in the
    period it is paid in, and contract payments past the horizon are not in these periods
    (past_horizon_by_month gives them by month after the horizon), nor the resale received at
    the horizon's end (resale_at_horizon_usd). Per component the periods
    (and, for contracts, the months past the horizon) add up to the term (at face value)."""
    n = len(model.calendar)
    out: dict[str, list[float]] = {}

    def add(component: str, t: int, usd: float) -> None:
        out.setdefault(component, [0.0] * n)[t] += usd

    for pool in model.pools():
        _pool_by_period(model, pool, value, add)
        _energy_by_period(model, pool, value, add)
    _contracts_by_period(model, value, add)
    for (d, opened_at), var in model.site_open.items():
        candidate = model.scenario.topology.site(d).candidate
        assert candidate is not None
        add("site_opening", opened_at, value(var) * candidate.opening_cost_usd)
    for d in model.sites:
        _cpu_by_period(model, d, value, add)
    handled = {
        *PERIOD_COMPONENTS,
        "resale",
        "contracts",
        "energy",
        "links",
        "site_opening",
        "cpu_servers",
    }
    horizon_s = model.scenario.data.economics.horizon_s
    for term in model.terms:
        if term.component in handled:
            continue
        total = float(term.expr.value() or 0.0)
        for t in model.calendar:
            add(term.component, t.index, total * t.length_s / horizon_s)
    _links_by_period(model, value, add)
    return out


def _overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _service_window(model: Model, system: str, t: int) -> tuple[float, float]:
    """[start, end) seconds a unit ordered at t serves inside the horizon."""
    horizon_s = model.scenario.data.economics.horizon_s
    if not model.multi_period:
        return 0.0, horizon_s
    arrive = model.arrival(system, t)
    if arrive is None:
        return horizon_s, horizon_s
    start_s = model.calendar[arrive].start_s
    return start_s, start_s + service_s(model, system, t)


def _pool_by_period(model: Model, pool: tuple[str, str], value: Value, add: Add) -> None:
    """capex, network_storage, maintenance, facility of bought and owned units; rent; spot."""
    d, s = pool
    spec = model.scenario.catalog.system(s)
    site = model.scenario.topology.site(d)
    pricing = model.scenario.data.economics.pricing
    per_s: dict[str, float] = {}
    if spec.maintenance_fraction_per_year:
        per_s["maintenance"] = maintenance_usd_per_s(spec)
    if site.facility_usd_per_kw_month is not None:
        per_s["facility"] = site.facility_usd_per_kw_month * spec.power_w / 1000 / S_PER_MONTH
    ends = after_horizon_ends(model)
    ns = spec.network_storage_capex_fraction or 0.0
    for (_d, _s, t0), var in model.of_pool("buy").get(pool, []):
        units = value(var)
        if not units:
            continue
        a, b = _service_window(model, s, t0)
        service = service_s(model, s, t0)
        capital = recovered_capex_usd(model, s, t0) / service if service > 0 else 0.0
        if ends and pricing != "rental":
            paid_at = capex_paid_period(model, s, t0)
            whole = units * charged_capex_usd(model, s, t0)  # replacements too (purchases)
            add("capex", paid_at, whole)
            add("network_storage", paid_at, whole * ns)
        for t in model.calendar:
            within = _overlap_s(a, b, t.start_s, t.end_s)
            if pricing != "rental" and not ends:
                add("capex", t.index, units * capital * within)
                add("network_storage", t.index, units * capital * ns * within)
            for component, rate in per_s.items():
                add(component, t.index, units * rate * within)
    for t in model.calendar:
        for component, rate in per_s.items():
            add(component, t.index, model.owned(pool) * rate * t.length_s)
        hours = t.length_s / S_PER_H
        if (d, s, t.index) in model.rent:
            add(
                "rental",
                t.index,
                value(model.rent[(d, s, t.index)]) * spec.rental_usd_per_hour * hours,
            )
        if (d, s, t.index) in model.spot and spec.spot_usd_per_hour is not None:
            add(
                "spot", t.index, value(model.spot[(d, s, t.index)]) * spec.spot_usd_per_hour * hours
            )


def _contracts_by_period(model: Model, value: Value, add: Add) -> None:
    """q · usd_per_hour · hours of its charged term (contract_charged_s) inside each period; the
    hours past the horizon (after_horizon ends) are not in the periods: past_horizon_by_month
    gives them, month by month after the horizon."""
    for (_, s, t0, k), var in model.contract.items():
        units = value(var)
        if not units:
            continue
        offer = model.scenario.catalog.system(s).contracts[k]
        a = model.calendar[t0].start_s
        b = a + contract_charged_s(model, s, t0, k)
        for t in model.calendar:
            within = _overlap_s(a, b, t.start_s, t.end_s)
            add("contracts", t.index, units * offer.usd_per_hour * within / S_PER_H)


def past_horizon_by_month(model: Model, value: Value) -> dict[int, float]:
    """The contract payments charged past the horizon (after_horizon ends) at face value, by
    month i after the horizon (past_horizon_months): sum over contracts of q · usd_per_hour /
    3600 · the seconds of its charged term in month i. Empty under continues (a charged term
    ends inside the horizon)."""
    horizon_s = model.scenario.data.economics.horizon_s
    out: dict[int, float] = {}
    for (_, s, t0, k), var in model.contract.items():
        units = value(var)
        a = model.calendar[t0].start_s
        b = a + contract_charged_s(model, s, t0, k)
        if not units or b <= horizon_s:
            continue
        usd_per_s = units * model.scenario.catalog.system(s).contracts[k].usd_per_hour / S_PER_H
        for i, seconds in past_horizon_months(horizon_s, a, b):
            out[i] = out.get(i, 0.0) + usd_per_s * seconds
    return dict(sorted(out.items()))


def resale_at_horizon_usd(model: Model, value: Value) -> float:
    """The resale received at the horizon's end (after_horizon ends, economics.
    resale_fraction) at face value: sum over orders of bought units and CPU-only servers of
    units · resale_usd. In no calendar period: the cash flow shows it in its own row at H."""
    usd = 0.0
    if model.scenario.data.economics.pricing != "rental":  # as add_ownership_terms
        usd = sum(value(v) * resale_usd(model, s, t) for (_d, s, t), v in model.buy.items())
    for (d, t), var in model.cpu_buy.items():
        cpu = model.scenario.topology.site(d).cpu_servers
        if cpu is not None and value(var):
            usd += value(var) * resale_usd(model, cpu.system, t)
    return usd


def _energy_by_period(model: Model, pool: tuple[str, str], value: Value, add: Add) -> None:
    """Energy of owned units per calendar period, as add_energy_terms charges it."""
    d, s = pool
    spec = model.scenario.catalog.system(s)
    site = model.scenario.topology.site(d)
    kwh_usd = spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
    idle = spec.idle_power_fraction or 0.0
    busy_h = [0.0] * len(model.calendar)
    owned_only = [t.index for t in model.calendar if (d, s, t.index) not in model.owned_busy_h]
    for (_w, _r, _d, _s, p), var in model.u_of_pool(pool) if owned_only else ():
        period = model.periods[p]
        if (d, s, period.calendar) not in model.owned_busy_h:
            busy_h[period.calendar] += value(var) * period.length_s / S_PER_H
    for (_d, _s, t_busy), o in model.of_pool("owned_busy_h").get(pool, []):
        busy_h[t_busy] += value(o)
    for t in model.calendar:
        usd = busy_h[t.index] * kwh_usd * (1 - idle)
        if idle:
            bought = sum(value(v) * c for v, c in model.in_service(pool, t.index, rented=False))
            usd += (bought + model.owned(pool)) * idle * kwh_usd * t.length_s / S_PER_H
        add("energy", t.index, usd)


def _cpu_by_period(model: Model, d: str, value: Value, add: Add) -> None:
    """CPU-only servers as add_cpu_server_terms charges them, per period: owned ones' running
    costs, bought ones' capital recovery (component cpu_capital: the cash flow's capital
    charge, as the accelerated units' capex) and running costs while in service, rented ones'
    rent."""
    site = model.scenario.topology.site(d)
    cpu = site.cpu_servers
    if cpu is None:
        return
    system = model.scenario.catalog.system(cpu.system)
    per_s = cpu_server_running_usd_per_s(model, d)
    for t in model.calendar:
        add("cpu_servers", t.index, cpu.owned * per_s * t.length_s)
        if (d, t.index) in model.cpu_rent:
            rent = value(model.cpu_rent[(d, t.index)]) * system.rental_usd_per_hour
            add("cpu_servers", t.index, rent * t.length_s / S_PER_H)
    for (d2, t0), var in model.cpu_buy.items():
        if d2 != d:  # another site's order: its value is not read (every site scans them all)
            continue
        units = value(var)
        if not units:
            continue
        a, b = _service_window(model, cpu.system, t0)
        service = service_s(model, cpu.system, t0)
        capital = cpu_server_capital_usd(model, cpu.system, t0) / service if service > 0 else 0.0
        ends = after_horizon_ends(model)
        if ends:
            paid_at = capex_paid_period(model, cpu.system, t0)
            add("cpu_capital", paid_at, units * cpu_server_capital_usd(model, cpu.system, t0))
        for t in model.calendar:
            within = _overlap_s(a, b, t.start_s, t.end_s)
            if not ends:
                add("cpu_capital", t.index, units * capital * within)
            add("cpu_servers", t.index, units * per_s * within)


def _links_by_period(model: Model, value: Value, add: Add) -> None:
    """A flow's cost over its workload's window, in proportion to the window in each period."""
    topo = model.scenario.topology
    windows = {d.name: (d.start_s, d.end_s) for d in model.demands}
    for flow in model.flows:
        usd_per_tb = sum(topo.link(link_id).cost_usd_per_tb for link_id in flow.path)
        a, b = windows[flow.workload]
        usd = usd_per_tb * GB * (b - a) / 1e12 * value(flow.var)
        if b <= a:
            continue
        if usd == 0.0:  # +0.0 in every period: sums unchanged, only the component is made
            add("links", model.calendar[0].index, 0.0)
            continue
        for t in model.calendar:
            add("links", t.index, usd * _overlap_s(a, b, t.start_s, t.end_s) / (b - a))
