"""Stage 1 of the model: every variable, declared once, in one fixed order (PuLP sorts columns by
name and names carry a counter, so this order is the solver's column order).

| variable | meaning | unit |
| buy[d,s,t] | units of system s ordered for d at the start of calendar period t (they serve from the first period after the lead time), integer (amortised, mixed pricing) | units |
| rent[d,s,t] | units of s rented on demand at d for calendar period t, integer (rental, mixed pricing) | units |
| spot[d,s,t] | spot (preemptible) units of s at d during calendar period t, integer (mixed pricing, systems with a spot offer); each does spot_goodput of a unit's work, for training and RL only | units |
| q[d,s,t,k] | units of s under the system's term contract k at d, starting at t and serving for the term, integer (mixed pricing) | units |
| open[d,t] | candidate site d opened at the start of calendar period t (binary; only where it is ready within the horizon) | - |
| mbuy[d,t] | CPU-only servers ordered for d at the start of t (they serve from their arrival to the end of their life), integer (amortised, mixed pricing) | units |
| mrent[d,t] | CPU-only servers rented on demand at d for t, integer (rental, mixed pricing) | units |
| u[w,r,d,s,p] | units of (d,s) given to role r of w in period p (only where it can run) | units |
| y[w,d] | training job w hosted at d (binary) | - |
| x[w,s] | training job w runs on system type s (binary) | - |
| on[w,r,d,s,p] | training job w runs on pool (d,s) in period p (binary, semi-continuous u) | - |
| g[w,d] | share of RL workload w's samples generated at d | - |
| t[w,d] | d hosts RL workload w's trainer (binary) | - |
| z[w,d] | d generates samples for w (binary) | - |
| c[w,d,isa,p] | verifier cores of w of one ISA at d in LP period p (where d can generate for w in p) | cores |
| h[w,r,p] | share of RL workload w's role r done by the end of LP period p, a running total (generate and the update roles, every period of the run but its last; rows rlsofar) | - |
| x[w,r,a,b,p] | share of serving tier w's requests in period p prefilled at a and decoded at b, for its decode role r (model_from: one per candidate) (disaggregate_across_sites; pairs within the hop budget) | - |
| b[w,d,s,p] | serving tier w (with headroom domain rack) serves from pool (d,s) in period p, so k spare units of it stand by for w (binary) | - |
| f | average traffic of one flow on its path | GB/s |
| o[d,s,t] | busy hours of owned units in t (when rentals exist: rented units run first) | h |
| k[w,c] | model sizing: pretraining w trains candidate c, and its serving loads serve c (binary; planner/kinds/pretrain.py) | - |
| done[w,p] | all of w's work is done by the end of period p (binary; for workloads another runs `after`) | - |
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat

from planner.demand.types import Role, WorkloadDemand
from planner.lp.linear import BINARY, INTEGER
from planner.lp.model import Model, active

Declare = Callable[[Model, WorkloadDemand], None]


def declare_variables(model: Model, own: dict[str, Declare | None]) -> None:
    """Pools, allocations, then each workload's own choices (its kind's `declare`, from
    planner/kinds/), then the pricing's."""
    declare_units(model)
    declare_site_openings(model)
    declare_allocations(model)
    for demand in model.demands:
        declare = own[demand.kind]
        if declare is not None:
            declare(model, demand)
    # Rentals first, in their own order (unchanged plans), then pools with contracts only.
    other = {k[:3] for k in model.contract} | set(model.spot)
    leased = list(model.rent) + sorted(other - set(model.rent))
    for d, s, t in leased:
        model.owned_busy_h[(d, s, t)] = model.new_var("o", 0)
    declare_done(model)


def declare_done(model: Model) -> None:
    """done[w,p] binary for every workload another one runs `after`: 1 if all of w's work is
    done by the end of period p."""
    for name in sorted({d.after for d in model.demands if d.after is not None}):
        for p in model.periods:
            model.done[(name, p.index)] = model.new_var("v", 0, 1, BINARY)


def declare_units(model: Model) -> None:
    """buy[d,s,t] (amortised, mixed: where an order placed at t arrives within the horizon),
    rent[d,s,t] (rental, mixed) and spot[d,s,t] (mixed, with a spot offer), integers >= 0 (max_units is the row `avail`, so it has a shadow
    price); likewise mbuy[d,t] and mrent[d,t] for CPU-only servers."""
    pricing = model.scenario.data.economics.pricing
    for pool in model.pools():
        first = model.first_period(pool[1])
        contracts = model.scenario.catalog.system(pool[1]).contracts
        spot = model.scenario.catalog.system(pool[1]).spot_usd_per_hour is not None
        for t in model.calendar:
            if pricing != "rental" and model.arrival(pool[1], t.index) is not None:
                model.buy[(*pool, t.index)] = model.new_var("n", 0, None, INTEGER)
            if first is None or t.index < first:
                continue
            if pricing != "amortised":
                model.rent[(*pool, t.index)] = model.new_var("r", 0, None, INTEGER)
            if pricing == "mixed":
                for k in range(len(contracts)):
                    var = model.new_var("q", 0, None, INTEGER)
                    model.contract[(*pool, t.index, k)] = var
                if spot:
                    model.spot[(*pool, t.index)] = model.new_var("p", 0, None, INTEGER)
    for d in model.sites:
        cpu = model.scenario.topology.site(d).cpu_servers
        if cpu is None:
            continue
        for t in model.calendar:
            if pricing != "rental" and model.arrival(cpu.system, t.index) is not None:
                model.cpu_buy[(d, t.index)] = model.new_var("m", 0, None, INTEGER)
            if pricing != "amortised":
                model.cpu_rent[(d, t.index)] = model.new_var("m", 0, None, INTEGER)


def declare_site_openings(model: Model) -> None:
    """open[d,t] binary for each candidate site and each calendar period t from which it would
    be ready within the horizon."""
    for d in model.sites:
        if model.scenario.topology.site(d).candidate is None:
            continue
        for t in model.calendar:
            if model.site_ready(d, t.index) is not None:
                model.site_open[(d, t.index)] = model.new_var("k", 0, 1, BINARY)


def declare_allocations(model: Model) -> None:
    """u[w,r,d,s,p] >= 0 only in periods inside w's window and where the role's rate on s is
    positive (a role gets no share of a system it cannot run on).

    The columns of one role and pool are made at once (`Model.new_columns`, the names and
    bounds `new_var` gives), and the indexes of u the families read (by pool, by role and
    period, by workload, role, period and site: `Model.index_allocations`) are filled in the
    same pass, in declaration order, instead of by a scan of u each afterwards."""
    u, by_role = model.u, model.u_by_role
    by_pool: dict[tuple[str, str], list] = {}
    by_role_period: dict[tuple[str, str, int], list] = {}
    grouped: dict[tuple, list] = {}
    pools = model.pools()
    # u's blocks for Model.u_codes: per role and pool, ids of (w, r), d and s, the number of
    # columns and their LP periods
    role_ids: dict[tuple[str, str], int] = {}
    site_ids = {d: i for i, d in enumerate(dict.fromkeys(d for d, _ in pools))}
    system_ids = {s: i for i, s in enumerate(dict.fromkeys(s for _, s in pools))}
    blocks: tuple[list, list, list, list, list] = ([], [], [], [], [])
    for demand in model.demands:
        w = demand.name
        periods = [p for p in model.periods if active(p, demand)]
        if not periods:
            continue
        indexes = [p.index for p in periods]
        of_workload = grouped.setdefault((w,), [])
        for role in demand.roles:
            r = role.name
            of_period: list[list] | None = None  # by_role_period's list of each period
            at_site: dict[str, list[list]] = {}  # grouped's (w, r, p, d) list of each period
            for pool in pools:
                d, s = pool
                rate = role.rates.get(s)
                if rate is None or not rate.feasible:
                    continue
                if of_period is None:
                    of_period = [by_role_period.setdefault((w, r, p), []) for p in indexes]
                if d not in at_site:
                    at_site[d] = [grouped.setdefault((w, r, p, d), []) for p in indexes]
                columns = model.new_columns("u", len(periods))
                keys = [(w, r, d, s, p) for p in indexes]
                entries = list(zip(repeat(d), repeat(s), periods, columns))
                pairs = list(zip(keys, columns, strict=True))
                u.update(pairs)
                blocks[0].append(role_ids.setdefault((w, r), len(role_ids)))
                blocks[1].append(site_ids[d])
                blocks[2].append(system_ids[s])
                blocks[3].append(len(indexes))
                blocks[4].append(indexes)
                by_role.setdefault((w, r), []).extend(entries)
                by_pool.setdefault(pool, []).extend(pairs)
                of_workload.extend(pairs)
                grouped.setdefault((w, r, None, d), []).extend(entries)
                for entry, in_period, in_period_at_site in zip(
                    entries, of_period, at_site[d], strict=True
                ):
                    in_period.append(entry)
                    in_period_at_site.append(entry)
    model.index_allocations(by_pool, by_role_period, grouped)
    model.declared_blocks(blocks)


def training_roles(demand: WorkloadDemand) -> list[Role]:
    """The roles that form one training job (held on one system type): the whole pretraining,
    or the RL trainer."""
    if demand.pretrain is not None:
        return demand.roles
    return [r for r in demand.roles if r.placement == "trainer"]


def declare_system_choice(model: Model, demand: WorkloadDemand) -> None:
    """x[w,s] for each system type the training job could run on, when there are several."""
    names = {r.name for r in training_roles(demand)}
    systems = sorted({key[3] for key, _ in model.work_of(demand, names)})
    if len(systems) > 1:
        for s in systems:
            model.system_choice[(demand.name, s)] = model.new_var("x", 0, 1, BINARY)


def declare_running(model: Model, demand: WorkloadDemand) -> None:
    """on[w,r,d,s,p] for every allocation of a role with a minimum group on s."""
    for role in demand.roles:
        for d, s, p, _ in model.u_by_role.get((demand.name, role.name), []):
            if role.min_units.get(s, 0) > 0:
                key = (demand.name, role.name, d, s, p.index)
                model.running[key] = model.new_var("b", 0, 1, BINARY)
