"""Build the capacity LP/MIP from a resolved scenario and its demands. One `add_<family>` per
constraint family; each docstring states its formula and units. Nothing here reads YAML.

Scaling (why the odd units): HiGHS is happiest with coefficients near 1, so
- work constraints are divided by the work required (1.0 = all of it),
- RL samples are fractions of the run's samples (g[w,d] in [0, 1]),
- power is in MW, traffic in GB/s (1e9 bytes/s), CPU in cores, money in US$.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pulp

from planner.demand.types import Role, WorkloadDemand
from planner.scenario import Scenario

GB = 1e9
MW = 1e6
S_PER_H = 3600.0
# Weights of the feasibility slacks in phase 1 (diagnosis): leaving work undone is 1,000x worse
# than exceeding a resource by 100% of its size, so the diagnosis names resources first.
UNSERVED_WEIGHT = 1000.0

Pool = tuple[str, str]  # (datacenter, system)
UKey = tuple[str, str, str, str, int]  # (workload, role, datacenter, system, period)


@dataclass(frozen=True)
class Period:
    """A slice of the horizon between two consecutive deadlines (every window starts at 0)."""

    index: int
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def periods_for(demands: list[WorkloadDemand], horizon_s: float) -> list[Period]:
    """Cut [0, H] at every start and deadline: a unit freed when pretraining ends can serve RL
    or inference after. Boundaries closer than a minute are merged (they would only add
    variables)."""
    cuts = sorted(
        {min(t, horizon_s) for d in demands for t in (d.start_s, d.end_s) if t > 0} | {horizon_s}
    )
    merged: list[float] = []
    for cut in cuts:
        if not merged or cut - merged[-1] >= 60.0:
            merged.append(cut)
        else:
            merged[-1] = max(merged[-1], cut)
    starts = [0.0, *merged[:-1]]
    return [Period(i, a, b) for i, (a, b) in enumerate(zip(starts, merged))]


def active(period: Period, demand: WorkloadDemand) -> bool:
    """A workload runs in the periods inside its window [start, deadline], within a minute."""
    return period.start_s >= demand.start_s - 60.0 and period.end_s <= demand.end_s + 60.0


@dataclass
class Term:
    """A labelled cost term: what it is, where, and its expression in US$."""

    component: str  # capex | rental | energy | cpu_servers | links
    datacenter: str | None
    system: str | None
    workload: str | None
    expr: pulp.LpAffineExpression


@dataclass
class Flow:
    """Average traffic (GB/s) of one kind between two sites, routed on a fixed path."""

    kind: str  # trajectories | weights | gradients
    workload: str
    src: str
    dst: str
    path: list[str]
    var: pulp.LpVariable


@dataclass
class Model:
    """The PuLP problem plus everything needed to read a plan back out of it."""

    scenario: Scenario
    demands: list[WorkloadDemand]
    prob: pulp.LpProblem
    elastic: bool
    n: dict[Pool, pulp.LpVariable] = field(default_factory=dict)
    m: dict[str, pulp.LpVariable] = field(default_factory=dict)  # CPU servers per site
    periods: list[Period] = field(default_factory=list)
    u: dict[UKey, pulp.LpVariable] = field(default_factory=dict)
    u_by_role: dict[tuple[str, str], list[tuple[str, str, Period, pulp.LpVariable]]] = field(
        default_factory=dict
    )
    site_of: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)  # binaries
    generates: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    samples: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    cores: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    owned_busy_h: dict[Pool, pulp.LpVariable] = field(default_factory=dict)
    flows: list[Flow] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    # label (family:entity:index) -> constraint; PuLP names are c0, c1, ... (PuLP rewrites
    # characters in names, so labels never go through it).
    constraints: dict[str, pulp.LpConstraint] = field(default_factory=dict)
    slacks: dict[str, tuple[pulp.LpVariable, float, str]] = field(default_factory=dict)
    # Row duals of the LP relaxation, by label (filled by solve_model): the shadow prices.
    duals: dict[str, float] = field(default_factory=dict)
    n_vars: int = 0
    solver_run_s: float = 0.0  # wall time inside HiGHS's run, summed over solves

    # -- helpers --------------------------------------------------------------------------
    def add(self, label: str, constraint: pulp.LpConstraint) -> None:
        if label in self.constraints:
            raise ValueError(f"duplicate constraint label {label}")
        constraint.name = f"c{len(self.constraints)}"
        self.prob += constraint
        self.constraints[label] = constraint

    def new_var(
        self,
        prefix: str,
        low: float | None = 0,
        up: float | None = None,
        cat: str = pulp.LpContinuous,
    ) -> pulp.LpVariable:
        """A variable with a unique short name (names mean nothing; the dicts above map them)."""
        self.n_vars += 1
        return self.prob.add_variable(f"{prefix}{self.n_vars}", low, up, cat=cat)

    def slack(self, label: str, weight: float, unit: str) -> pulp.LpVariable | None:
        """A non-negative slack for constraint `label` in phase 1; None when not elastic."""
        if not self.elastic:
            return None
        var = self.new_var("s")
        self.slacks[label] = (var, weight, unit)
        return var

    @property
    def sites(self) -> list[str]:
        return self.scenario.topology.datacenters()

    def pools(self) -> list[Pool]:
        topo = self.scenario.topology
        return [(d, s) for d in self.sites for s in topo.site(d).systems]

    def max_units(self, pool: Pool) -> int:
        return self.scenario.topology.site(pool[0]).systems[pool[1]].max_units

    def owned(self, pool: Pool) -> int:
        return self.scenario.topology.site(pool[0]).systems[pool[1]].owned


def expr(
    pairs: Iterable[tuple[pulp.LpVariable, float]], constant: float = 0.0
) -> pulp.LpAffineExpression:
    """Linear expression from (variable, coefficient) pairs, built in one pass (never += in a
    loop, which is quadratic in PuLP)."""
    out = pulp.LpAffineExpression([(v, c) for v, c in pairs if c != 0])
    out.constant = constant
    return out


# -- the model ------------------------------------------------------------------------------


def build(scenario: Scenario, demands: list[WorkloadDemand], elastic: bool = False) -> Model:
    """The whole model. elastic=True adds penalised slacks and minimises them (diagnosis)."""
    prob = pulp.LpProblem("capacity_plan", pulp.LpMinimize)
    model = Model(scenario=scenario, demands=demands, prob=prob, elastic=elastic)
    model.periods = periods_for(demands, scenario.data.economics.horizon_s)
    add_units(model)
    add_allocations(model)
    add_unit_capacity(model)
    for demand in demands:
        add_demand(model, demand)
    add_cpu(model)
    add_power(model)
    add_links(model)
    add_objective(model)
    return model


def add_units(model: Model) -> None:
    """n[d,s] integer units of system s at site d: owned <= n[d,s] <= max_units[d,s]
    (the upper bound is the constraint `avail:d:s`, so it has a shadow price);
    m[d] integer CPU-only servers: owned <= m[d] <= max_units."""
    topo = model.scenario.topology
    for pool in model.pools():
        var = model.new_var("n", model.owned(pool), None, pulp.LpInteger)
        model.n[pool] = var
        excess = model.slack(
            f"avail:{pool[0]}:{pool[1]}", 1.0 / max(1, model.max_units(pool)), "units"
        )
        model.add(
            f"avail:{pool[0]}:{pool[1]}",
            expr([(var, 1.0)] + ([(excess, -1.0)] if excess is not None else []))
            <= model.max_units(pool),
        )
    for d in model.sites:
        cpu = topo.site(d).cpu_servers
        if cpu is None:
            continue
        var = model.new_var("m", cpu.owned, None, pulp.LpInteger)
        model.m[d] = var
        excess = model.slack(f"avail:{d}:{cpu.system}", 1.0 / max(1, cpu.max_units), "units")
        model.add(
            f"avail:{d}:{cpu.system}",
            expr([(var, 1.0)] + ([(excess, -1.0)] if excess is not None else [])) <= cpu.max_units,
        )


def add_allocations(model: Model) -> None:
    """u[w,r,d,s,p] >= 0: units of (d,s) given to role r of workload w during period p (only
    periods within w's window). Created only where the demand model gives a positive rate (a
    role gets no share of a system it cannot run on)."""
    for demand in model.demands:
        periods = [p for p in model.periods if active(p, demand)]
        for role in demand.roles:
            for pool in model.pools():
                rate = role.rates.get(pool[1])
                if rate is None or not rate.feasible:
                    continue
                for period in periods:
                    var = model.new_var("u", 0)
                    model.u[(demand.name, role.name, *pool, period.index)] = var
                    model.u_by_role.setdefault((demand.name, role.name), []).append(
                        (*pool, period, var)
                    )


def add_unit_capacity(model: Model) -> None:
    """sum_{w,r} u[w,r,d,s,p] <= n[d,s] in every period p (units): a unit serves one work item
    at a time, and is free for another once its deadline has passed."""
    by_pool: dict[tuple[str, str, int], list[pulp.LpVariable]] = {}
    for (_, _, d, s, p), var in model.u.items():
        by_pool.setdefault((d, s, p), []).append(var)
    for (d, s, p), vars_ in by_pool.items():
        model.add(
            f"units:{d}:{s}:p{p}",
            expr([(v, 1.0) for v in vars_] + [(model.n[(d, s)], -1.0)]) <= 0,
        )


def _work(
    model: Model,
    demand: WorkloadDemand,
    role: Role,
    sites: Iterable[str],
    scale: float,
    period: Period | None = None,
) -> list[tuple[pulp.LpVariable, float]]:
    """(u, rate x period length / scale) pairs: the share of `scale` work units done at `sites`
    (in one period, or over the whole window when period is None)."""
    site_set = set(sites)
    return [
        (var, role.rates[s].per_unit_s * p.length_s / scale)
        for d, s, p, var in model.u_by_role.get((demand.name, role.name), [])
        if d in site_set and (period is None or p.index == period.index)
    ]


def add_demand(model: Model, demand: WorkloadDemand) -> None:
    """Demand met by the deadline, per role:
    pretraining:  sum_{d,s,p} u·rate·len_p / amount >= 1          (any time before the deadline)
    inference:    sum_{d,s} u[p]·rate·T_w / amount >= 1 in every period p (a steady load: each
                  period serves its share amount·len_p/T_w)
    RL (see add_rl) ties roles to the samples generated at each site."""
    if demand.kind == "rl":
        add_rl(model, demand)
        return
    for role in demand.roles:
        if role.amount <= 0:
            continue
        if demand.kind == "inference":
            for period in model.periods:
                if not active(period, demand):
                    continue
                label = f"demand:{demand.name}:{role.name}:p{period.index}"
                short = model.slack(label, UNSERVED_WEIGHT, "fraction of the work")
                share = role.amount * period.length_s / demand.window_s
                pairs = _work(model, demand, role, model.sites, share, period)
                model.add(label, expr(pairs + ([(short, 1.0)] if short is not None else [])) >= 1.0)
            continue
        label = f"demand:{demand.name}:{role.name}"
        short = model.slack(label, UNSERVED_WEIGHT, "fraction of the work")
        pairs = _work(model, demand, role, model.sites, role.amount)
        model.add(label, expr(pairs + ([(short, 1.0)] if short is not None else [])) >= 1.0)
    if demand.kind == "pretrain":
        add_pretrain_sites(model, demand)


def _site_binaries(model: Model, demand: WorkloadDemand, what: str) -> dict[str, pulp.LpVariable]:
    out = {}
    for d in model.sites:
        var = model.new_var("y", 0, 1, pulp.LpBinary)
        model.site_of[(f"{demand.name}:{what}", d)] = var
        out[d] = var
    return out


def add_one_system_type(model: Model, demand: WorkloadDemand, roles: list[Role], what: str) -> None:
    """A training job runs on one system type (no job spans GB200 racks and H100 servers):
    x[w,s] binary, sum_s x[w,s] = 1, u[w,r,d,s,p] <= max_units[d,s] · x[w,s]."""
    names = {r.name for r in roles}
    systems = sorted(
        {s for (w, r, _, s, _), _v in model.u.items() if w == demand.name and r in names}
    )
    if len(systems) <= 1:
        return
    x = {s: model.new_var("x", 0, 1, pulp.LpBinary) for s in systems}
    model.add(f"onesystem:{demand.name}:{what}", expr([(v, 1.0) for v in x.values()]) == 1)
    for (w, r, d, s, p), var in model.u.items():
        if w == demand.name and r in names:
            model.add(
                f"system:{w}:{r}:{d}:{s}:p{p}",
                expr([(var, 1.0), (x[s], -float(model.max_units((d, s))))]) <= 0,
            )


def add_min_group(model: Model, demand: WorkloadDemand, roles: list[Role]) -> None:
    """A pretraining job that runs on a pool in a period holds at least the units its state
    needs there (Role.min_units); it may also not run there at all (semi-continuous):
      on[w,r,d,s,p] binary;  min_units[s] · on <= u[w,r,d,s,p] <= max_units[d,s] · on."""
    for role in roles:
        for d, s, p, var in model.u_by_role.get((demand.name, role.name), []):
            need = float(role.min_units.get(s, 0))
            if need <= 0:
                continue
            on = model.new_var("b", 0, 1, pulp.LpBinary)
            label = f"{demand.name}:{role.name}:{d}:{s}:p{p}"
            model.add(f"mingroup:{label}", expr([(var, 1.0), (on, -need)]) >= 0)
            model.add(
                f"running:{label}", expr([(var, 1.0), (on, -float(model.max_units((d, s))))]) <= 0
            )


def _tie_to_sites(
    model: Model,
    demand: WorkloadDemand,
    roles: list[Role],
    binaries: dict[str, pulp.LpVariable],
    what: str,
) -> None:
    """u[w,r,d,s,p] <= max_units[d,s] · y[w,d]: a role runs only where its site binary is 1."""
    names = {r.name for r in roles}
    for (w, r, d, s, p), var in model.u.items():
        if w == demand.name and r in names:
            model.add(
                f"{what}:{w}:{r}:{d}:{s}:p{p}",
                expr([(var, 1.0), (binaries[d], -float(model.max_units((d, s))))]) <= 0,
            )


def add_pretrain_sites(model: Model, demand: WorkloadDemand) -> None:
    """Pretraining stays on one site (sum_d y[w,d] = 1) unless allow_multi_site; then every pair
    of sites a, b that both host it exchanges gradients:
      f_grad[a,b] >= 2 · gradient_bytes_per_sync · syncs / window / 1e9 · (y_a + y_b - 1)  GB/s
    (2x the gradient per sync, as a ring all-reduce moves per link, charged to every pair of
    hosting sites: a conservative bound); an unreachable pair cannot both host it."""
    coupling = demand.pretrain
    assert coupling is not None
    y = _site_binaries(model, demand, "site")
    _tie_to_sites(model, demand, demand.roles, y, "site")
    add_one_system_type(model, demand, demand.roles, "pretrain")
    add_min_group(model, demand, demand.roles)
    if not coupling.allow_multi_site:
        model.add(f"onesite:{demand.name}", expr([(v, 1.0) for v in y.values()]) == 1)
        return
    rate_gbs = 2 * coupling.gradient_bytes_per_sync * coupling.syncs / demand.window_s / GB
    topo = model.scenario.topology
    sites = model.sites
    for i, a in enumerate(sites):
        for b in sites[i + 1 :]:
            path = topo.path(a, b)
            if path is None:
                model.add(f"reach:{demand.name}:{a}:{b}", expr([(y[a], 1.0), (y[b], 1.0)]) <= 1)
                continue
            flow = model.new_var("f", 0)
            model.flows.append(Flow("gradients", demand.name, a, b, path, flow))
            model.add(
                f"gradsync:{demand.name}:{a}:{b}",
                expr([(flow, 1.0), (y[a], -rate_gbs), (y[b], -rate_gbs)]) >= -rate_gbs,
            )


def add_rl(model: Model, demand: WorkloadDemand) -> None:
    """RL post-training. g[w,d] in [0,1]: share of the run's samples generated at site d.
    sum_d g[w,d] >= 1                                                    (all samples)
    with_generation roles r at d: sum_s u·rate·window / (per_sample·samples) >= g[w,d]
    trainer: one site t (sum_d t[w,d] = 1), sum u·rate·window / amount >= 1
    generating site z[w,d] binary >= g[w,d]
    verifier cores c[w,d] >= core_s_per_sample · samples / window · g[w,d]        (cores)
    trajectories a -> trainer b (GB/s): sum_b f[a,b] >= K (g[a] - t[a]), f[a,b] <= K t[b],
      K = kept_fraction · samples · trajectory_bytes_per_kept_sample / window / 1e9
    weights trainer b -> generating d: f[b,d] >= Wr (z[d] + t[b] - 1),
      Wr = weight_bytes_per_update · updates / window / 1e9
    an unreachable pair cannot be (generating site, trainer site)."""
    rl = demand.rl
    assert rl is not None
    name = demand.name
    sites = model.sites
    topo = model.scenario.topology
    g = {d: model.new_var("g", 0, 1) for i, d in enumerate(sites)}
    for d, var in g.items():
        model.samples[(name, d)] = var
    label = f"demand:{name}:samples"
    short = model.slack(label, UNSERVED_WEIGHT, "fraction of the samples")
    model.add(
        label,
        expr([(v, 1.0) for v in g.values()] + ([(short, 1.0)] if short is not None else [])) >= 1.0,
    )

    gen_roles = [r for r in demand.roles if r.placement == "with_generation"]
    train_roles = [r for r in demand.roles if r.placement == "trainer"]
    for role in gen_roles:
        if not role.per_sample:
            continue
        scale = role.per_sample * rl.samples
        for d in sites:
            pairs = _work(model, demand, role, [d], scale)
            model.add(f"demand:{name}:{role.name}:{d}", expr(pairs + [(g[d], -1.0)]) >= 0)
    t = _site_binaries(model, demand, "trainer")
    model.add(f"onetrainer:{name}", expr([(v, 1.0) for v in t.values()]) == 1)
    _tie_to_sites(model, demand, train_roles, t, "trainer")
    add_one_system_type(model, demand, train_roles, "trainer")
    for role in train_roles:
        if role.amount <= 0:
            continue
        label = f"demand:{name}:{role.name}"
        short = model.slack(label, UNSERVED_WEIGHT, "fraction of the work")
        pairs = _work(model, demand, role, sites, role.amount)
        model.add(label, expr(pairs + ([(short, 1.0)] if short is not None else [])) >= 1.0)

    z = {}
    for d in sites:
        z[d] = model.new_var("z", 0, 1, pulp.LpBinary)
        model.generates[(name, d)] = z[d]
        model.add(f"generates:{name}:{d}", expr([(g[d], 1.0), (z[d], -1.0)]) <= 0)
        cores = model.new_var("k", 0)
        model.cores[(name, d)] = cores
        model.add(
            f"verifier:{name}:{d}",
            expr(
                [
                    (cores, 1.0),
                    (g[d], -rl.verifier_core_s_per_sample * rl.samples / demand.window_s),
                ]
            )
            >= 0,
        )

    k_gbs = (
        rl.kept_fraction * rl.samples * rl.trajectory_bytes_per_kept_sample / demand.window_s / GB
    )
    w_gbs = rl.weight_bytes_per_update * rl.updates / demand.window_s / GB
    out_of: dict[str, list[tuple[pulp.LpVariable, float]]] = {d: [] for d in sites}
    for a in sites:
        for b in sites:
            if a == b:
                continue
            path = topo.path(a, b)
            if path is None:
                model.add(f"reach:{name}:{a}:{b}", expr([(z[a], 1.0), (t[b], 1.0)]) <= 1)
                continue
            traj = model.new_var("f", 0)
            model.flows.append(Flow("trajectories", name, a, b, path, traj))
            out_of[a].append((traj, 1.0))
            model.add(f"trajdst:{name}:{a}:{b}", expr([(traj, 1.0), (t[b], -k_gbs)]) <= 0)
            weights = model.new_var("f", 0)
            # weights flow from trainer a to generating site b
            model.flows.append(Flow("weights", name, a, b, path, weights))
            model.add(
                f"weights:{name}:{a}:{b}",
                expr([(weights, 1.0), (z[b], -w_gbs), (t[a], -w_gbs)]) >= -w_gbs,
            )
    for a in sites:
        model.add(f"trajsrc:{name}:{a}", expr(out_of[a] + [(g[a], -k_gbs), (t[a], k_gbs)]) >= 0)


def add_cpu(model: Model) -> None:
    """Verifier cores per site within spare host cores plus CPU-only servers:
      sum_w c[w,d] <= sum_s spare_cores[s]·n[d,s] + cores[cpu]·m[d]              (cores)
    spare_cores = host cores - host_cores_reserved_per_accelerator x accelerators."""
    catalog = model.scenario.catalog
    topo = model.scenario.topology
    for d in model.sites:
        users = [(v, 1.0) for (w, site), v in model.cores.items() if site == d]
        if not users:
            continue
        supply = [(model.n[(d, s)], -catalog.spare_cores(s)) for s in topo.site(d).systems]
        cpu = topo.site(d).cpu_servers
        if cpu is not None:
            supply.append((model.m[d], -float(catalog.system_cores(cpu.system))))
        label = f"cpu:{d}"
        total = sum(
            dem.rl.verifier_core_s_per_sample * dem.rl.samples / dem.window_s
            for dem in model.demands
            if dem.rl is not None
        )
        short = model.slack(label, 1.0 / max(1.0, total), "cores")
        model.add(label, expr(users + supply + ([(short, -1.0)] if short is not None else [])) <= 0)


def add_power(model: Model) -> None:
    """IT load x PUE within the site cap:
    sum_s n[d,s]·power_w[s]·PUE[d] + m[d]·power_w[cpu]·PUE[d] <= power_cap_w[d]     (in MW)"""
    catalog = model.scenario.catalog
    topo = model.scenario.topology
    for d in model.sites:
        site = topo.site(d)
        pairs = [(model.n[(d, s)], catalog.system(s).power_w * site.pue / MW) for s in site.systems]
        if site.cpu_servers is not None:
            pairs.append(
                (model.m[d], catalog.system(site.cpu_servers.system).power_w * site.pue / MW)
            )
        label = f"power:{d}"
        excess = model.slack(label, MW / site.power_cap_w, "MW")
        if excess is not None:
            pairs.append((excess, -1.0))
        model.add(label, expr(pairs) <= site.power_cap_w / MW)


def add_links(model: Model) -> None:
    """Average traffic routed over each link within its capacity:
    sum_{flows f using l} f (GB/s) <= capacity_bytes_per_s[l] / 1e9"""
    topo = model.scenario.topology
    on_link: dict[str, list[tuple[pulp.LpVariable, float]]] = {}
    for flow in model.flows:
        for link_id in flow.path:
            on_link.setdefault(link_id, []).append((flow.var, 1.0))
    for link in topo.links():
        pairs = on_link.get(link.id)
        if not pairs:
            continue
        label = f"link:{link.id}"
        cap = link.capacity_bytes_per_s / GB
        excess = model.slack(label, 1.0 / cap, "GB/s")
        model.add(label, expr(pairs + ([(excess, -1.0)] if excess is not None else [])) <= cap)


def add_objective(model: Model) -> None:
    """Minimise total cost over the horizon H (US$):
      busy hours[d,s] = sum_{w,r,p} u[w,r,d,s,p]·len_p / 3600
      energy price of one unit-hour e[d,s] = power_w/1000 · PUE · usd_per_kwh
      amortised: (n - owned)·capex·H/lifetime + busy hours · e
      rental (units reserved for the horizon, energy included in the price):
                 (n - owned)·rental_usd_per_hour·H/3600 + owned busy hours · e, where
                 owned busy hours >= busy hours - (n - owned)·H/3600 (rented units run first:
                 their energy is already paid)
      CPU servers: new ones at capex·H/lifetime (or rental·H/3600); owned ones, and all of them
                 under amortised pricing, powered for H
      links: cost_usd_per_tb · traffic bytes, per link traversed
    Phase 1 (elastic) minimises the weighted slacks instead."""
    scenario = model.scenario
    catalog = scenario.catalog
    topo = scenario.topology
    horizon_s = scenario.data.economics.horizon_s
    horizon_h = horizon_s / S_PER_H
    rental = scenario.data.economics.pricing == "rental"
    window = {d.name: d.window_s for d in model.demands}
    length = {p.index: p.length_s for p in model.periods}
    busy: dict[Pool, list[tuple[pulp.LpVariable, float]]] = {p: [] for p in model.pools()}
    for (_w, _r, d, s, p), var in model.u.items():
        busy[(d, s)].append((var, length[p] / S_PER_H))
    for pool in model.pools():
        d, s = pool
        system = catalog.system(s)
        site = topo.site(d)
        kwh_usd = system.power_w / 1000 * site.pue * site.electricity_usd_per_kwh
        owned = model.owned(pool)
        if rental:
            per_new = system.rental_usd_per_hour * horizon_h
            owned_busy = model.new_var("o", 0)
            model.owned_busy_h[pool] = owned_busy
            model.add(
                f"ownedbusy:{d}:{s}",
                expr(busy[pool] + [(owned_busy, -1.0), (model.n[pool], -horizon_h)])
                <= -owned * horizon_h,
            )
            model.terms.append(
                Term("rental", d, s, None, expr([(model.n[pool], per_new)], -per_new * owned))
            )
            model.terms.append(Term("energy", d, s, None, expr([(owned_busy, kwh_usd)])))
        else:
            per_new = system.capex_usd * horizon_s / system.lifetime_s
            model.terms.append(
                Term("capex", d, s, None, expr([(model.n[pool], per_new)], -per_new * owned))
            )
            model.terms.append(
                Term("energy", d, s, None, expr([(v, c * kwh_usd) for v, c in busy[pool]]))
            )
    for d, var in model.m.items():
        cpu = topo.site(d).cpu_servers
        assert cpu is not None
        system = catalog.system(cpu.system)
        site = topo.site(d)
        energy = system.power_w / 1000 * site.pue * site.electricity_usd_per_kwh * horizon_h
        if rental:
            per_new = system.rental_usd_per_hour * horizon_h
            cost = expr([(var, per_new)], (energy - per_new) * cpu.owned)
        else:
            per_new = system.capex_usd * horizon_s / system.lifetime_s
            cost = expr([(var, per_new + energy)], -per_new * cpu.owned)
        model.terms.append(Term("cpu_servers", d, cpu.system, None, cost))
    for flow in model.flows:
        win = window[flow.workload]
        usd_per_gbs = sum(topo.link(l).cost_usd_per_tb for l in flow.path) * GB * win / 1e12
        if usd_per_gbs:
            model.terms.append(
                Term("links", None, None, flow.workload, expr([(flow.var, usd_per_gbs)]))
            )
    if model.elastic:
        model.prob.setObjective(expr([(v, w) for v, w, _ in model.slacks.values()]))
    else:
        model.prob.setObjective(pulp.lpSum(t.expr for t in model.terms))
