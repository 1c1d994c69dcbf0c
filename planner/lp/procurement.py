"""Constraint families of procurement over time: vendor supply limits per system and period, and
spot capacity kept away from serving. Each `add_<family>` function adds every row of one family;
its docstring is the family's formula. Imported (and so registered) by planner/lp/constraints.py.
"""

from __future__ import annotations

from planner.lp.model import Model, Pairs, Var, family


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
    spot = model.spot
    by_pool: dict[tuple[str, str, int], list[Var]] = {}
    for (w, _, d, s, p), var in model.u.items():
        if w in serving and (d, s, calendar[p]) in spot:
            by_pool.setdefault((d, s, p), []).append(var)
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    rhs: list[float] = []
    for (d, s, p), used in by_pool.items():
        # in_service's spot column (coefficient -1) and -spot cancel: the row leaves it out
        supply = model.in_service_cols_but((d, s), calendar[p], spot[(d, s, calendar[p])])
        cols += used
        cols += supply
        coefs += [1.0] * len(used)
        coefs += [-1.0] * len(supply)
        entities.append((d, s, f"p{p}"))
        counts.append(len(used) + len(supply))
        rhs.append(float(model.owned((d, s))))
    model.rows("spotserve", entities, counts, cols, coefs, "<=", rhs)


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
                units = model.in_service((d, s), t.index)
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
