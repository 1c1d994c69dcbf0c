"""Stage 3 of the model: the objective, in one place. Every cost is a labelled Term (component,
site, system, workload) so the plan can split it over workloads."""

from __future__ import annotations

import pulp

from planner.lp.model import GB, S_PER_H, Model, Pairs, Term, expr


def define_objective(model: Model) -> None:
    """Minimise total cost over the horizon H (US$):
      busy hours[d,s] = sum_{w,r,p} u[w,r,d,s,p]·len_p / 3600
      energy price of one unit-hour e[d,s] = power_w/1000 · PUE · usd_per_kwh
      amortised: (n - owned)·capex·H/lifetime + busy hours · e
      rental (units reserved for the horizon, energy included in the price):
                 (n - owned)·rental_usd_per_hour·H/3600 + o[d,s] · e   (o: see `ownedbusy`)
      CPU servers: new ones at capex·H/lifetime (or rental·H/3600); owned ones, and all of them
                 under amortised pricing, powered for H
      links: cost_usd_per_tb · traffic bytes, per link traversed
    Phase 1 (elastic) minimises the weighted slacks instead."""
    add_pool_terms(model)
    add_cpu_server_terms(model)
    add_link_terms(model)
    if model.elastic:
        model.prob.setObjective(expr([(s.var, s.weight) for s in model.slacks.values()]))
    else:
        model.prob.setObjective(pulp.lpSum(t.expr for t in model.terms))


def add_pool_terms(model: Model) -> None:
    """Capex (or rental) and energy of every pool (d, s)."""
    scenario = model.scenario
    catalog = scenario.catalog
    horizon_s = scenario.data.economics.horizon_s
    horizon_h = horizon_s / S_PER_H
    length = {p.index: p.length_s for p in model.periods}
    busy: dict[tuple[str, str], Pairs] = {p: [] for p in model.pools()}
    for (_w, _r, d, s, p), var in model.u.items():
        busy[(d, s)].append((var, length[p] / S_PER_H))
    for pool in model.pools():
        d, s = pool
        system = catalog.system(s)
        site = scenario.topology.site(d)
        kwh_usd = system.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
        owned = model.owned(pool)
        n = model.n[pool]
        if pool in model.owned_busy_h:
            per_new = system.rental_usd_per_hour * horizon_h
            model.terms.append(Term("rental", d, s, None, expr([(n, per_new)], -per_new * owned)))
            energy = expr([(model.owned_busy_h[pool], kwh_usd)])
        else:
            per_new = system.capex_usd * horizon_s / system.lifetime_s
            model.terms.append(Term("capex", d, s, None, expr([(n, per_new)], -per_new * owned)))
            energy = expr([(v, c * kwh_usd) for v, c in busy[pool]])
        model.terms.append(Term("energy", d, s, None, energy))


def add_cpu_server_terms(model: Model) -> None:
    """CPU-only servers: capex (or rental) of new ones, energy for the whole horizon."""
    scenario = model.scenario
    horizon_s = scenario.data.economics.horizon_s
    horizon_h = horizon_s / S_PER_H
    rental = scenario.data.economics.pricing == "rental"
    for d, var in model.m.items():
        site = scenario.topology.site(d)
        cpu = site.cpu_servers
        assert cpu is not None
        system = scenario.catalog.system(cpu.system)
        energy = system.power_w / 1000 * site.pue * site.electricity_usd_per_kwh * horizon_h
        if rental:
            per_new = system.rental_usd_per_hour * horizon_h
            cost = expr([(var, per_new)], (energy - per_new) * cpu.owned)
        else:
            per_new = system.capex_usd * horizon_s / system.lifetime_s
            cost = expr([(var, per_new + energy)], -per_new * cpu.owned)
        model.terms.append(Term("cpu_servers", d, cpu.system, None, cost))


def add_link_terms(model: Model) -> None:
    """cost_usd_per_tb of every link on a flow's path x the bytes it carries over its window."""
    topo = model.scenario.topology
    window = {d.name: d.window_s for d in model.demands}
    for flow in model.flows:
        usd_per_tb = sum(topo.link(link_id).cost_usd_per_tb for link_id in flow.path)
        usd_per_gbs = usd_per_tb * GB * window[flow.workload] / 1e12
        if usd_per_gbs:
            model.terms.append(
                Term("links", None, None, flow.workload, expr([(flow.var, usd_per_gbs)]))
            )
