"""Constraint families of procurement over time: vendor supply limits per system and period, and
spot capacity kept away from serving. Each `add_<family>` function adds every row of one family;
its docstring is the family's formula. Imported (and so registered) by planner/lp/constraints.py.
"""

from __future__ import annotations

from collections.abc import Callable

from planner.lp.model import Model, Pairs, Pool, PoolT, Var, family


def _explain_supply(model: Model, entity: tuple[str, ...], value: float) -> str:
    when = f" in period {entity[-1][1:]}" if len(entity) > 1 else ""
    return (
        f"{entity[0]}: needs {value:,.1f} more units delivered{when} than its supply allows "
        "(economics.supply or catalog supply_per_year); order earlier or use another system"
    )


@family(
    "supply",
    "system:period",
    resource=True,
    price_unit="usd_per_unit",
    slack_unit="units",
    explain=_explain_supply,
)
def add_supply(model: Model) -> None:
    """sum_{d, t' : arrival(t') = t} buy[d,s,t'] <= supply[s,t] in every calendar period t
    (units delivered, all sites together; supply = economics.supply[s], else
    floor(supply_per_year[s] · len_t / year); no row when neither is given)"""
    for s in model.scenario.topology.system_names():
        for t in model.calendar:
            cap = model.supply_cap(s, t.index)
            if cap is None:
                continue
            pairs: Pairs = [
                (var, 1.0)
                for (_, s2, t_order), var in model.buy.items()
                if s2 == s and model.arrival(s, t_order) == t.index
            ]
            if pairs:
                model.row("supply", model.at((s,), t.index), pairs, "<=", cap, 1.0 / max(1, cap))


@family("spotserve", "datacenter:system:period")
def add_spotserve(model: Model) -> None:
    """sum_{w serving, r} u[w,r,d,s,p] <= owned[d,s] + in_service[d,s,t(p)] - spot[d,s,t(p)]
    in every period p where spot units can be taken   (units: serving, with its latency SLOs,
    never runs on preemptible spot units; training and RL may)"""
    calendar = {p.index: p.calendar for p in model.periods}
    serving = {d.name for d in model.demands if d.steady_load}
    by_pool: dict[tuple[str, str, int], Pairs] = {}
    for (w, _, d, s, p), var in model.u.items():
        if w in serving and (d, s, calendar[p]) in model.spot:
            by_pool.setdefault((d, s, p), []).append((var, 1.0))
    for (d, s, p), pairs in by_pool.items():
        t = calendar[p]
        supply = [(v, -c) for v, c in model.fleet((d, s), t)]
        supply.append((model.spot[(d, s, t)], 1.0))
        model.row("spotserve", (d, s, f"p{p}"), pairs + supply, "<=", float(model.owned((d, s))))


def _ledger(
    model: Model, name: str, ledger: dict[PoolT, Var], serving: Callable[[Pool, int], set[Var]]
) -> None:
    """Rows X[t] - X[t-1] - (entering t) + (leaving t) = 0 of one fleet ledger X, where
    serving(pool, t) is the set of order columns X[t] counts."""
    for (d, s, t), var in ledger.items():
        now = serving((d, s), t)
        pairs: Pairs = [(var, 1.0)]
        before: set[Var] = set()  # no ledger column in t - 1: nothing served then
        if (d, s, t - 1) in ledger:
            pairs.append((ledger[(d, s, t - 1)], -1.0))
            before = serving((d, s), t - 1)
        pairs += [(v, -1.0) for v in sorted(now - before, key=str)]
        pairs += [(v, 1.0) for v in sorted(before - now, key=str)]
        model.row(name, model.at((d, s), t), pairs, "==", 0.0)


@family("held", "datacenter:system:period")
def add_held(model: Model) -> None:
    """h[d,s,t] = h[d,s,t-1] + sum_{t' : arrival(t') = t} buy[d,s,t'] - sum_{t' : retired at
    t} buy[d,s,t']   (units bought and in service: the fleet ledger, with several calendar
    periods; h = in_service without rentals and contracts, in O(T) nonzeros per pool)"""
    _ledger(
        model, "held", model.held, lambda pool, t: {v for v, _ in model.in_service(pool, t, False)}
    )


@family("termed", "datacenter:system:period")
def add_termed(model: Model) -> None:
    """l[d,s,t] = l[d,s,t-1] + sum_k q[d,s,t,k] - sum_{t',k : term ends at t} q[d,s,t',k]
    (units under term contracts covering t: the contract ledger, with several calendar periods
    and mixed pricing)"""

    def covering(pool: Pool, t: int) -> set[Var]:
        return {v for t0, k, v in model.orders(pool)[1] if model.contract_covers(pool[1], k, t0, t)}

    _ledger(model, "termed", model.termed, covering)


@family("siteonce", "datacenter")
def add_siteonce(model: Model) -> None:
    """sum_t open[d,t] <= 1 for each candidate site d   (a site is opened at most once)"""
    for d in model.sites:
        pairs: Pairs = [(v, 1.0) for (d2, _), v in model.site_open.items() if d2 == d]
        if pairs:
            model.row("siteonce", (d,), pairs, "<=", 1.0)


@family("siteopen", "datacenter:system:period")
def add_siteopen(model: Model) -> None:
    """in_service[d,s,t] <= max_units[d,s] · sum_{t' : ready(t') <= t} open[d,t'] for each
    pool of a candidate site d in every calendar period t, CPU-only servers likewise   (units: a candidate site holds nothing until it is opened and its lead
    time has passed; ready(t') = the first period starting lead_time after t')"""
    for d in model.sites:
        site = model.scenario.topology.site(d)
        if site.candidate is None:
            continue
        for s, pool in site.systems.items():
            for t in model.calendar:
                units = model.fleet((d, s), t.index)
                if not units:
                    continue
                opened = [(v, -float(pool.max_units)) for v, _ in model.site_opened_by(d, t.index)]
                model.row("siteopen", model.at((d, s), t.index), units + opened, "<=", 0.0)
        if site.cpu_servers is None:
            continue
        cap = float(site.cpu_servers.max_units)
        for t in model.calendar:
            units = model.cpu_in_service(d, t.index)
            if units:
                opened = [(v, -cap) for v, _ in model.site_opened_by(d, t.index)]
                entity = model.at((d, site.cpu_servers.system), t.index)
                model.row("siteopen", entity, units + opened, "<=", 0.0)
