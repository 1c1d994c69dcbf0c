"""A solved plan as plain records, read once out of the LP. Views return lists of dicts keyed by
string ids; `to_json()` is stable (sorted keys, fixed float formatting is left to json).

JSON keys (documented in README, "Plan JSON"): status, scenario, total_cost_usd,
lower_bound_usd, gap, solver, fleet, cpu_servers, power, allocations, rl, links, costs,
binding_constraints, shadow_prices, stats.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.lp.model import FAMILIES, GB, Model
from planner.lp.solve import ZERO_TOL, SolveStats
from planner.traffic import routed_traffic

# A constraint binds when its slack is within this share of its right-hand side.
BINDING_REL_TOL = 1e-6


@dataclass
class Plan:
    status: str  # optimal | feasible (gap > 0 at the time limit) | relaxed (LP relaxation)
    scenario: str
    total_cost_usd: float
    lower_bound_usd: float | None
    lp_relaxation_usd: float | None
    gap: float | None
    solver: dict[str, Any]
    periods: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    fleet: list[dict[str, Any]]
    cpu_servers: list[dict[str, Any]]
    power: list[dict[str, Any]]
    allocations: list[dict[str, Any]]
    rl: list[dict[str, Any]]
    links: list[dict[str, Any]]
    cost_terms: list[dict[str, Any]]
    binding_constraints: list[dict[str, Any]]
    shadow_prices: list[dict[str, Any]]
    stats: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)  # verification checks passed

    # -- tidy views ---------------------------------------------------------------------
    def costs(self, by: str = "component") -> list[dict[str, Any]]:
        """Cost records summed by one of: component, datacenter, system, workload, or
        'all' (every term)."""
        if by == "all":
            return [dict(t) for t in self.cost_terms]
        if by not in ("component", "datacenter", "system", "workload"):
            raise ValueError("by must be component, datacenter, system, workload or all")
        out: dict[str, float] = {}
        for term in self.cost_terms:
            key = term[by] if term[by] is not None else "(shared)"
            out[key] = out.get(key, 0.0) + term["cost_usd"]
        return [{by: k, "cost_usd": v} for k, v in sorted(out.items())]

    def allocations_view(self, workload: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.allocations if workload is None or a["workload"] == workload]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "scenario": self.scenario,
            "total_cost_usd": self.total_cost_usd,
            "lower_bound_usd": self.lower_bound_usd,
            "lp_relaxation_usd": self.lp_relaxation_usd,
            "gap": self.gap,
            "solver": self.solver,
            "periods": self.periods,
            "workloads": self.workloads,
            "fleet": self.fleet,
            "cpu_servers": self.cpu_servers,
            "power": self.power,
            "allocations": self.allocations,
            "rl": self.rl,
            "links": self.links,
            "costs": self.cost_terms,
            "binding_constraints": self.binding_constraints,
            "shadow_prices": self.shadow_prices,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A Plan back from to_dict()/to_json() output (plus an optional 'checks' list)."""
        fields = dict(data)
        fields["cost_terms"] = fields.pop("costs")
        checks = list(fields.pop("checks", []))
        return cls(**fields, stats={}, checks=checks)

    def to_json(self, indent: int = 2) -> str:
        """Deterministic JSON: the same input gives the same bytes (timings are left out)."""
        return json.dumps(_round(self.to_dict()), indent=indent, sort_keys=True)

    def write(self, out_dir: str | Path) -> list[Path]:
        """plan.json plus one CSV per table (fleet, allocations, costs, power, links, ...)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "plan.json"]
        written[0].write_text(self.to_json() + "\n", encoding="utf-8")
        tables = {k: v for k, v in _round(self.to_dict()).items() if isinstance(v, list)}
        for name, rows in tables.items():
            path = out / f"{name}.csv"
            path.write_text(to_csv(rows), encoding="utf-8")
            written.append(path)
        return written


def to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    fields = list(rows[0])
    for row in rows[1:]:
        fields += [k for k in row if k not in fields]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in row.items()}
        )
    return buf.getvalue()


def _round(value: Any) -> Any:
    """12 significant digits: solver noise beyond that would break byte-identical output."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.12g}") if value != 0 else 0.0
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _val(var: Any) -> float:
    v = var.value() if hasattr(var, "value") else var
    return 0.0 if v is None or abs(v) < ZERO_TOL else float(v)


def read_plan(model: Model, stats: SolveStats, relaxed: bool) -> Plan:
    """Read the solved model into records. Units follow the key names."""
    scenario = model.scenario
    catalog = scenario.catalog
    topo = scenario.topology
    windows = {d.name: d for d in model.demands}

    horizon_s = scenario.data.economics.horizon_s
    period = {p.index: p for p in model.periods}
    busy_s: dict[tuple[str, str], float] = {}
    for (_w, _r, d, s, p), v in model.u.items():
        busy_s[(d, s)] = busy_s.get((d, s), 0.0) + _val(v) * period[p].length_s
    fleet = []
    for (d, s), var in model.n.items():
        units = _val(var)
        if not relaxed:
            units = float(round(units))
        system = catalog.system(s)
        owned = model.owned((d, s))
        fleet.append(
            {
                "datacenter": d,
                "system": s,
                "units": units,
                "owned_units": owned,
                "new_units": max(0.0, units - owned),
                "max_units": model.max_units((d, s)),
                "accelerators": units * system.accelerators,
                "cpu_cores": units * catalog.system_cores(s),
                "power_w": units * system.power_w,
                # busy unit-seconds / (units x horizon)
                "utilisation": busy_s.get((d, s), 0.0) / (units * horizon_s) if units > 0 else 0.0,
            }
        )
    cpu_servers = []
    for d, var in model.m.items():
        cpu = topo.site(d).cpu_servers
        assert cpu is not None
        units = _val(var) if relaxed else float(round(_val(var)))
        cpu_servers.append(
            {
                "datacenter": d,
                "system": cpu.system,
                "units": units,
                "owned_units": cpu.owned,
                "new_units": max(0.0, units - cpu.owned),
                "cpu_cores": units * catalog.system_cores(cpu.system),
                "power_w": units * catalog.system(cpu.system).power_w,
            }
        )
    power = []
    for d in model.sites:
        site = topo.site(d)
        it_w = sum(f["power_w"] for f in fleet if f["datacenter"] == d)
        it_w += sum(c["power_w"] for c in cpu_servers if c["datacenter"] == d)
        power.append(
            {
                "datacenter": d,
                "it_power_w": it_w,
                "facility_power_w": it_w * site.pue,
                "power_cap_w": site.power_cap_w,
                "pue": site.pue,
                "share_of_cap": it_w * site.pue / site.power_cap_w,
            }
        )
    allocations = []
    for (w, r, d, s, p), var in model.u.items():
        units = _val(var)
        if units <= 0:
            continue
        demand = windows[w]
        role = next(x for x in demand.roles if x.name == r)
        rate = role.rates[s]
        work = units * rate.per_unit_s * period[p].length_s
        allocations.append(
            {
                "workload": w,
                "role": r,
                "datacenter": d,
                "system": s,
                "period": p,
                "period_start_s": period[p].start_s,
                "period_end_s": period[p].end_s,
                "units": units,
                "period_s": period[p].length_s,
                "rate_per_unit_s": rate.per_unit_s,
                "work_unit": role.work_unit,
                "work_done": work,
                "share_of_role": work / role.amount if role.amount else None,
                "rate_derivation": rate.reason,
            }
        )
    rl = []
    for demand in model.demands:
        if demand.rl is None:
            continue
        trainer = [d for (w, d), v in model.trainer.items() if w == demand.name and _val(v) > 0.5]
        rl.append(
            {
                "workload": demand.name,
                "trainer_site": trainer[0] if len(trainer) == 1 else trainer,
                "samples_by_site": {
                    d: _val(model.samples[(demand.name, d)]) * demand.rl.samples
                    for d in model.sites
                    if _val(model.samples[(demand.name, d)]) > 0
                },
                "verifier_cores_by_site": {
                    d: _val(model.cores[(demand.name, d)])
                    for d in model.sites
                    if _val(model.cores[(demand.name, d)]) > 0
                },
            }
        )
    link_rows = []
    # Reported traffic is recomputed from the plan (the LP's flow variables are only bounds on
    # it, free to sit anywhere above it when links cost nothing).
    traffic, _ = routed_traffic(topo, model.demands, {r["workload"]: r for r in rl}, allocations)
    for link in topo.links():
        used = traffic.get(link.id, 0.0)
        link_rows.append(
            {
                "link": link.id,
                "a": link.a,
                "b": link.b,
                "traffic_bytes_per_s": used,
                "capacity_bytes_per_s": link.capacity_bytes_per_s,
                "traffic_gbps": used * 8 / GB,
                "capacity_gbps": link.capacity_bytes_per_s * 8 / GB,
                "share_of_capacity": used / link.capacity_bytes_per_s,
            }
        )
    cost_terms = []
    for term in model.terms:
        value = term.expr.value()
        value = 0.0 if value is None else float(value)
        if abs(value) < 1e-6:
            continue
        for workload, share, basis in _attribution(
            term, fleet, cpu_servers, allocations, rl, horizon_s
        ):
            cost_terms.append(
                {
                    "component": term.component,
                    "datacenter": term.datacenter,
                    "system": term.system,
                    "workload": workload,
                    "cost_usd": value * share,
                    "attributed_by": basis,
                }
            )
    total = sum(t["cost_usd"] for t in cost_terms)
    binding = binding_constraints(model)
    prices = shadow_prices(model)
    status = "relaxed" if relaxed else ("optimal" if stats.sol_status == 1 else "feasible")
    return Plan(
        status=status,
        scenario=scenario.name,
        total_cost_usd=total,
        lower_bound_usd=stats.lower_bound_usd,
        lp_relaxation_usd=stats.lp_relaxation_usd,
        gap=stats.gap,
        solver={
            "name": stats.solver,
            "method": stats.method,
            "mip_gap_target": scenario.data.solver.mip_gap,
            "variables": stats.variables,
            "constraints": stats.constraints,
        },
        periods=[
            {"period": p.index, "start_s": p.start_s, "end_s": p.end_s} for p in model.periods
        ],
        workloads=[
            {"workload": d.name, "kind": d.kind, "start_s": d.start_s, "end_s": d.end_s}
            for d in model.demands
        ],
        fleet=fleet,
        cpu_servers=cpu_servers,
        power=power,
        allocations=allocations,
        rl=rl,
        links=link_rows,
        cost_terms=cost_terms,
        binding_constraints=binding,
        shadow_prices=prices,
        stats={"lp_s": stats.lp_s, "mip_s": stats.mip_s},
    )


def _attribution(term, fleet, cpu_servers, allocations, rl, horizon_s):
    """How a pool-level cost term splits over workloads: [(workload, share, basis)].

    Pool terms (capex, rental, energy of a datacenter's system) split by unit-seconds used
    (units x window) out of units x horizon; what no workload uses is "(idle)". Energy is
    charged for busy time only, so it splits by busy time alone. CPU servers split by the
    verifier cores each RL workload uses at that site. Link terms already name their workload.
    """
    if term.workload is not None:
        return [(term.workload, 1.0, "direct")]
    if term.component == "cpu_servers":
        cores = {r["workload"]: r["verifier_cores_by_site"].get(term.datacenter, 0.0) for r in rl}
        total = sum(cores.values())
        if total <= 0:
            return [("(idle)", 1.0, "no verifier cores used")]
        return [(w, c / total, "verifier cores") for w, c in cores.items() if c > 0]
    used: dict[str, float] = {}
    for a in allocations:
        if (a["datacenter"], a["system"]) == (term.datacenter, term.system):
            used[a["workload"]] = used.get(a["workload"], 0.0) + a["units"] * a["period_s"]
    busy = sum(used.values())
    units = next(
        f["units"]
        for f in fleet
        if (f["datacenter"], f["system"]) == (term.datacenter, term.system)
    )
    capacity = units * horizon_s
    if term.component == "energy" or capacity <= 0:
        if busy <= 0:
            return [("(idle)", 1.0, "unused")]
        return [(w, u / busy, "busy unit-seconds") for w, u in used.items()]
    out = [(w, u / capacity, "unit-seconds of the horizon") for w, u in used.items()]
    idle = max(0.0, 1.0 - busy / capacity)
    if idle > 1e-12:
        out.append(("(idle)", idle, "unit-seconds of the horizon"))
    return out


def binding_constraints(model: Model) -> list[dict[str, Any]]:
    """Rows of resource families (power, CPU, links, availability) at their limit in this plan.

    With whole units a limit is reached when less than one unit's worth is left (the family's
    unit_step: spare cores one more unit adds, facility MW it draws); otherwise at the limit
    itself. `slack` is what is left, in the row's unit (cores, MW, GB/s, units)."""
    out = []
    for label, con in model.constraints.items():
        fam = FAMILIES[label.family]
        if not fam.resource:
            continue
        slack = con.slack
        if slack is None:
            value = con.value()
            slack = -value if value is not None else None
        if slack is None or not any(abs(var.value() or 0.0) > ZERO_TOL for var in con):
            continue
        rhs = abs(con.constant) if con.constant else 1.0
        step = max(BINDING_REL_TOL * rhs, 1e-7)
        if fam.unit_step is not None:
            step = max(step, fam.unit_step(model, label.entity))
        if abs(slack) < step:
            out.append({"constraint": str(label), "family": fam.name, "slack": max(0.0, slack)})
    return out


def shadow_prices(model: Model) -> list[dict[str, Any]]:
    """From the LP relaxation: what one more MW, core, Gbps or unit would save over the
    horizon (non-zero only where the row binds in the relaxation), in the family's price unit."""
    out = []
    for label, pi in model.duals.items():
        fam = FAMILIES[label.family]
        if fam.price_unit is None or pi is None or abs(pi) < 1e-6:
            continue
        # A <= row's dual is <= 0 in a minimisation: more capacity lowers cost by -pi.
        out.append(
            {
                "constraint": str(label),
                "family": fam.name,
                "value_usd": -pi * fam.price_factor,
                "unit": fam.price_unit,
            }
        )
    return out
