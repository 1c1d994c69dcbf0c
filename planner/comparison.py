"""Compare topologies: the same workloads solved on each topology, side by side.

    import planner
    cmp = planner.compare("planner/scenarios/frontier-lab.yaml", ["nvl72-campus", "h100-cluster"])
    cmp.columns["nvl72-campus"]       # a Plan, or the PlannerError that topology ended with
    cmp.table()                       # records: one per metric, one key per topology
    cmp.to_json()                     # deterministic: the same input gives the same bytes

Metrics per topology (`plan_metrics`, also used by sweeps):
- total cost and cost per workload (`plan.costs(by="workload")`, with "(idle)" capacity), and
  in a comparison per cost component (`plan.costs(by="component")`: capex, energy, facility,
  ...), which says what charge makes one topology dearer;
- $ per million tokens of each inference tier:
      usd_per_mtok[w] = cost attributed to w / decode tokens served x 1e6
      decode tokens served = sum(work_done of w's "decode" allocations) / peak_to_average
  (a model_from tier's "decode@c" allocations: the candidate the plan serves), the output
  tokens requests/day x output_tokens x votes over the tier's days (growth included): the work
  done is the load provisioned for its peak, x peak_to_average, which before session 24 was
  counted as tokens served (a tier provisioned x2 for its peak showed half its $/M tokens).
  With votes > 1 it is $ per million *generated* tokens, the votes included; prefill cost is in
  the numerator. With economics.discount_rate the cost is a present value, so the tokens are
  discounted alike (levelized, as a levelized cost of energy is):
      usd_per_mtok[w] = present value of w's cost / sum over w's decode allocations of tokens
                        served x its calendar period's discount_weight x 1e6
  (before session 26 it divided the present value by tokens at face value: a tier serving
  through the horizon looked cheaper by the mean discount weight; the table's "$/M tokens
  basis" row and usd_per_million_tokens_basis say which basis);
- what sets each system's size, per site (`size_drivers`, a comparison's "size set by" rows):
  owned units, max_units, the site's binding limits (power, CPU ratio, availability, links)
  and the demand holding its units in its busiest period;
- units per system, accelerators, CPU cores (accelerated systems' host cores plus CPU-only
  servers), CPU servers, cores per accelerator = CPU cores / accelerators;
- power: IT and facility (IT x PUE) watts, per site and in all (a comparison's table shows
  each site's row when a column has more than one site);
- days to finish each pretraining at the allocated rate: walking the periods in order, the time
  at which the work done reaches the amount, the work of each period spread evenly over it
  (amount = work_done / share_of_role); the deadline is met by construction, this says by how
  much it is beaten;
- binding constraints of the plan and the shadow prices of its LP relaxation (solved before the
  MIP; see docs/lp.md).

A topology on which the work is infeasible (or the solver fails) keeps its error in its column
(with the diagnosis); the others are still solved and shown. Bad input (an unknown preset, a
typo in --set) is raised as one ConfigError before anything is solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetcore.errors import ConfigError, InfeasibleError, PlannerError, Problem
from fleetcore.tables import usd
from planner.demand.types import base_role
from planner.lp.model import SAME_INSTANT_S
from planner.plan import Plan, dumps_rounded
from planner.plots import pyplot, save_png
from planner.rows import price_unit_text

S_PER_DAY = 86400.0

S_PER_DAY = 86400.0


# -- metrics of one plan (shared with planner/sweeps.py) -----------------------------------------
def _finish_s(work_by_period: dict[tuple[float, float], float], amount: float) -> float:
    """When cumulative work reaches `amount`, each period's work spread evenly over it (s)."""
    done = 0.0
    end = 0.0
    for (start, end), work in sorted(work_by_period.items()):
        if work > 0 and done + work >= amount * (1 - 1e-9):
            return start + (end - start) * max(0.0, amount - done) / work
        done += work
    return end


def plan_metrics(plan: Plan) -> dict[str, Any]:
    """Headline figures of a plan (see the module docstring for the formulas). SI units."""
    cost_by_workload = {c.name: c.cost_usd for c in plan.costs(by="workload")}
    units: dict[str, float] = {}
    accelerators_by_system: dict[str, float] = {}
    for f in plan.fleet:
        units[f.system] = units.get(f.system, 0.0) + f.units
        accelerators_by_system[f.system] = (
            accelerators_by_system.get(f.system, 0.0) + f.accelerators
        )
    accelerators = sum(accelerators_by_system.values())
    host_cores = sum(f.cpu_cores for f in plan.fleet)
    cpu_server_cores = sum(c.cpu_cores for c in plan.cpu_servers)
    cpu_servers = sum(c.units for c in plan.cpu_servers)
    cores = host_cores + cpu_server_cores

    decode: dict[str, float] = {}
    decode_weighted: dict[str, float] = {}
    pretrain_work: dict[str, dict[tuple[float, float], float]] = {}
    amount: dict[str, float] = {}
    for a in plan.allocations:
        if base_role(a.role) == "decode":
            decode[a.workload] = decode.get(a.workload, 0.0) + a.work_done
            weighted = a.work_done * period_discount_weight(plan, a.period_start_s)
            decode_weighted[a.workload] = decode_weighted.get(a.workload, 0.0) + weighted
        elif a.role == "pretrain":
            span = (a.period_start_s, a.period_end_s)
            by_period = pretrain_work.setdefault(a.workload, {})
            by_period[span] = by_period.get(span, 0.0) + a.work_done
            if a.share_of_role:
                amount[a.workload] = a.work_done / a.share_of_role
    peak = {w.workload: w.peak_to_average for w in plan.workloads}
    decode = {w: tokens / peak[w] for w, tokens in decode.items()}
    # tokens on the cost's basis: discounted alike when the cost is a present value
    basis_tokens = {w: tokens / peak[w] for w, tokens in decode_weighted.items()}
    usd_per_mtok = {
        w: cost_by_workload.get(w, 0.0) / tokens * 1e6
        for w, tokens in sorted(basis_tokens.items())
        if tokens > 0
    }
    starts = {w.workload: w.start_s for w in plan.workloads}
    pretrain_days = {
        w: (_finish_s(pretrain_work[w], amount[w]) - starts.get(w, 0.0)) / S_PER_DAY
        for w in sorted(pretrain_work)
        if w in amount
    }
    return {
        "status": plan.status,
        "total_cost_usd": plan.total_cost_usd,
        "gap": plan.gap,
        "cost_by_workload_usd": cost_by_workload,
        "usd_per_million_tokens": usd_per_mtok,
        "decode_tokens": {w: decode[w] for w in sorted(decode)},
        "units_by_system": {s: u for s, u in sorted(units.items()) if u > 0},
        "accelerators_by_system": {
            s: a for s, a in sorted(accelerators_by_system.items()) if a > 0
        },
        "accelerators": accelerators,
        "cpu_servers": cpu_servers,
        "cpu_cores": cores,
        "host_cpu_cores": host_cores,
        "cpu_server_cores": cpu_server_cores,
        "cores_per_accelerator": cores / accelerators if accelerators > 0 else None,
        "it_power_w": sum(p.it_power_w for p in plan.power),
        "facility_power_w": sum(p.facility_power_w for p in plan.power),
        "facility_power_w_by_site": {p.datacenter: p.facility_power_w for p in plan.power},
        "pretrain_days": pretrain_days,
        "binding_constraints": [b.constraint for b in plan.binding_constraints],
        "shadow_prices": [
            {"constraint": p.constraint, "value_usd": p.value_usd, "unit": p.unit}
            for p in plan.shadow_prices
        ],
        **basis_metrics(plan),
        **({"usd_per_million_tokens_basis": LEVELIZED_BASIS} if plan.present_value else {}),
    }


# Binding resource families at a site, as a size-set-by line names them.
_SITE_LIMITS = {"power": "power cap", "cpu": "CPU ratio", "avail": "availability"}


def size_drivers(plan: Plan) -> dict[str, str]:
    """What sets the units of each system the plan holds (compare's "size set by" rows), from
    the plan's rows: one text per system, its pools ("site: ...") joined by "; ", each naming
    - owned N: the pool holds no more than its owned units (the topology's `owned`);
    - at max_units N: the pool holds all its site allows (availability);
    - each binding resource row at its site (plan.binding_constraints), "<limit> binds
      (<rows>)": power cap (`power:d...`), CPU ratio (`cpu:d...`: the sandbox cores that the
      site's host cores and CPU servers hold; units idle or running RL lend theirs),
      availability (`avail:d:s`), bandwidth (a `link` with d at an end); a row of one period
      carries its days ("cpu:dc-east:t2 (days 182.5-273.75)", decision.label_days);
    - demand: the workloads holding the pool's units in the LP period it allocates most, each
      as its share of the units allocated there (shares under 0.5% left out), and those units
      against the pool's (units allocated < the pool's: the rest idle at that period, held for
      another period, for cores or as whole units); the period is named by its days.
    A pool named by demand alone is sized by its work; a limit or owned units say what else
    holds or caps it."""
    from planner.decision import label_days

    allocated: dict[tuple[str, str, int], dict[str, float]] = {}
    days: dict[int, str] = {}
    for a in plan.allocations:
        by = allocated.setdefault((a.datacenter, a.system, a.period), {})
        by[a.workload] = by.get(a.workload, 0.0) + a.units
        days[a.period] = f"days {a.period_start_s / 86400:g}-{a.period_end_s / 86400:g}"
    link_ends = {row.link: (row.a, row.b) for row in plan.links}
    out: dict[str, list[str]] = {}
    for f in sorted(plan.fleet, key=lambda f: (f.system, f.datacenter)):
        if f.units <= 0:
            continue
        parts: list[str] = []
        if f.owned_units > 0 and f.units <= f.owned_units + 1e-9:
            parts.append(f"owned {f.owned_units:,}")
        if f.max_units > 0 and f.units >= f.max_units - 1e-9:
            parts.append(f"at max_units {f.max_units:,}")
        limits: dict[str, list[str]] = {}
        for b in plan.binding_constraints:
            at = b.constraint.split(":")
            name = _SITE_LIMITS.get(b.family) if at[1:2] == [f.datacenter] else None
            if b.family == "avail" and at[2:3] != [f.system]:
                name = None
            if b.family == "link" and f.datacenter in link_ends.get(":".join(at[1:]), ()):
                name = "bandwidth"
            if name is not None:
                limits.setdefault(name, []).append(label_days(b.constraint, plan))
        parts += [f"{name} binds ({', '.join(rows)})" for name, rows in limits.items()]
        periods = {
            p: by for (d, s, p), by in allocated.items() if (d, s) == (f.datacenter, f.system)
        }
        if periods:
            peak = max(periods, key=lambda p: (sum(periods[p].values()), -p))
            held = sum(periods[peak].values())
            shares = sorted(periods[peak].items(), key=lambda kv: (-kv[1], kv[0]))
            named = ", ".join(f"{w} {u / held:.0%}" for w, u in shares if u / held >= 0.005)
            # a relaxed plan's pool is fractional: shown to the tenth, as the units held are
            pool = f"{f.units:,.0f}" if f.units == round(f.units) else f"{f.units:,.1f}"
            parts.append(f"demand {named} ({held:,.1f} of {pool} units, {days[peak]})")
        out.setdefault(f.system, []).append(f"{f.datacenter}: {'; '.join(parts) or 'none'}")
    return {system: "; ".join(texts) for system, texts in out.items()}


def period_discount_weight(plan: Plan, start_s: float) -> float:
    """The discount weight of the plan's calendar period holding an allocation period that
    starts at start_s (the weight its charges carry in the objective); 1.0 without a
    discount_rate."""
    for r in plan.present_value or []:
        if r.start_s - SAME_INSTANT_S <= start_s < r.end_s - SAME_INSTANT_S:
            return r.discount_weight
    return 1.0


LEVELIZED_BASIS = "levelized: present value / tokens discounted alike"


def _after_horizon_of(summary: dict[str, Any]) -> str | None:
    """A compare column's economics.after_horizon (None where it found no plan)."""
    if summary["status"] in ("infeasible", "failed", "bad_input"):
        return None
    return str(summary.get("after_horizon", AFTER_HORIZON_CONTINUES))


def basis_metrics(plan: Plan) -> dict[str, Any]:
    """With economics.discount_rate (total_cost_usd is then a present value): the rate and the
    same charges at face value (nominal_cost_usd); with economics.after_horizon ends (whole
    capex and contract terms charged): after_horizon "ends". Nothing for a plan at face value
    that takes the rest of a unit's life as worth its cost (the default), so its records stay
    as before."""
    out: dict[str, Any] = {}
    if plan.present_value:
        out["discount_rate"] = plan.present_value[0].discount_rate
        out["nominal_cost_usd"] = plan.nominal_cost_usd
    if plan.economics.get("after_horizon") == AFTER_HORIZON_ENDS:
        out["after_horizon"] = AFTER_HORIZON_ENDS
    return out


# economics.after_horizon's values (planner/scenario.py Economics): the default, and the one
# that charges whole capex and contract terms.
AFTER_HORIZON_CONTINUES = "continues"
AFTER_HORIZON_ENDS = "ends"


def error_metrics(exc: BaseException) -> dict[str, Any]:
    """What a failed column or sweep point records: status, error, diagnosis, exit code."""
    status = (
        "infeasible"
        if isinstance(exc, InfeasibleError)
        else ("bad_input" if isinstance(exc, ConfigError) else "failed")
    )
    message = str(exc).split("\n", 1)[0]
    diagnosis = list(getattr(exc, "diagnosis", []) or [])
    if isinstance(exc, ConfigError):
        diagnosis = [str(p) for p in exc.problems]
    return {
        "status": status,
        "error": f"{type(exc).__name__}: {message}",
        "diagnosis": diagnosis,
        "exit_code": getattr(exc, "exit_code", 3),
    }


# -- the comparison ---------------------------------------------------------------------------
@dataclass
class Comparison:
    """Plans of the same scenario on several topologies. `columns`: name -> Plan or error."""

    scenario: str
    columns: dict[str, Plan | PlannerError]

    def summary(self, name: str) -> dict[str, Any]:
        """plan_metrics of one column, or its status, error and diagnosis."""
        from planner.decision import label_days

        col = self.columns[name]
        if isinstance(col, Plan):
            # by component too (compare only; a sweep's records keep plan_metrics): which
            # charge makes one topology dearer (a site's facility charge, owned units' running
            # costs) is what the per-workload split cannot say
            by_component = {c.name: c.cost_usd for c in col.costs(by="component")}
            return {
                **plan_metrics(col),
                "cost_by_component_usd": by_component,
                "size_set_by": size_drivers(col),
                # the text's row: each label with the days of its period index, as the size-set-by
                # rows name them (bare tN/pN are defined nowhere in the text)
                "binding_constraints_days": [
                    label_days(b.constraint, col) for b in col.binding_constraints
                ],
                "error": None,
                "diagnosis": [],
            }
        return error_metrics(col)

    @property
    def plans(self) -> dict[str, Plan]:
        return {n: c for n, c in self.columns.items() if isinstance(c, Plan)}

    def table(self) -> list[dict[str, Any]]:
        """One record per metric: {"metric", "unit", <topology>: value, ...}. SI values; a
        failed column has None in its figures and its diagnosis in the "diagnosis" row."""
        names = list(self.columns)
        sums = {n: self.summary(n) for n in names}

        def keys(field: str) -> list[str]:
            out: list[str] = []
            for n in names:
                for k in sums[n].get(field) or {}:
                    if k not in out:
                        out.append(k)
            return sorted(out)

        rows: list[dict[str, Any]] = []

        def row(metric: str, unit: str, get) -> None:
            rows.append({"metric": metric, "unit": unit, **{n: get(sums[n]) for n in names}})

        def sub(field: str, key: str):
            return lambda s: (s.get(field) or {}).get(
                key, 0.0 if s["status"] not in ("infeasible", "failed", "bad_input") else None
            )

        row("status", "", lambda s: s["status"])
        row("total cost", "usd", lambda s: s.get("total_cost_usd"))
        row("gap", "", lambda s: s.get("gap"))
        if any("discount_rate" in sums[n] for n in names):  # total cost is a present value
            row("discount rate", "per year", lambda s: s.get("discount_rate"))
            row("nominal cost", "usd", lambda s: s.get("nominal_cost_usd"))
        if any("after_horizon" in sums[n] for n in names):  # whole capex and terms charged
            row("after the horizon", "", _after_horizon_of)
        for w in keys("cost_by_workload_usd"):
            row(f"cost: {w}", "usd", sub("cost_by_workload_usd", w))
        for c in keys("cost_by_component_usd"):
            row(f"cost component: {c}", "usd", sub("cost_by_component_usd", c))
        if keys("usd_per_million_tokens"):
            row(
                "$/M tokens basis",
                "",
                lambda s: (
                    s.get("usd_per_million_tokens_basis", "face value")
                    if s["status"] not in ("infeasible", "failed", "bad_input")
                    else None
                ),
            )
        for w in keys("usd_per_million_tokens"):
            row(
                f"$/M tokens: {w}",
                "usd_per_mtok",
                lambda s, w=w: (s.get("usd_per_million_tokens") or {}).get(w),
            )
        for sysname in keys("units_by_system"):
            row(f"units: {sysname}", "units", sub("units_by_system", sysname))
        for sysname in keys("size_set_by"):
            row(
                f"size set by: {sysname}",
                "",
                lambda s, sysname=sysname: (s.get("size_set_by") or {}).get(sysname),
            )
        row("accelerators", "", lambda s: s.get("accelerators"))
        row("CPU servers", "units", lambda s: s.get("cpu_servers"))
        row("CPU cores", "cores", lambda s: s.get("cpu_cores"))
        row("cores per accelerator", "", lambda s: s.get("cores_per_accelerator"))
        row("IT power", "w", lambda s: s.get("it_power_w"))
        row("facility power", "w", lambda s: s.get("facility_power_w"))
        if any(len(sums[n].get("facility_power_w_by_site") or {}) > 1 for n in names):
            # the JSON's facility_power_w_by_site, which a multi-site column's total hides;
            # "-" where the column's topology has no such site
            for site in keys("facility_power_w_by_site"):
                row(
                    f"facility power: {site}",
                    "w",
                    lambda s, site=site: (s.get("facility_power_w_by_site") or {}).get(site),
                )
        for w in keys("pretrain_days"):
            row(
                f"days to pretrain: {w}",
                "days",
                lambda s, w=w: (s.get("pretrain_days") or {}).get(w),
            )
        row("binding constraints", "", lambda s: s.get("binding_constraints_days"))
        prices: list[tuple[str, str]] = []
        for n in names:
            for p in sums[n].get("shadow_prices") or []:
                if (p["constraint"], p["unit"]) not in prices:
                    prices.append((p["constraint"], p["unit"]))
        for label, unit in sorted(prices):
            row(
                f"shadow price: {label}",
                unit,
                lambda s, label=label: next(
                    (
                        p["value_usd"]
                        for p in s.get("shadow_prices") or []
                        if p["constraint"] == label
                    ),
                    None,
                ),
            )
        row("error", "", lambda s: s.get("error"))
        row("diagnosis", "", lambda s: s.get("diagnosis") or [])
        return rows

    def frame(self) -> Any:
        """pandas DataFrame: one row per topology, one column per metric (planner/frames.py)."""
        from planner.frames import comparison_frame

        return comparison_frame(self)

    def _repr_html_(self) -> str:
        from planner.frames import frame_repr_html

        return frame_repr_html(self.frame().T, f"Compare {self.scenario}")

    def basis_text(self) -> str:
        """The economics every column is costed on, in words: horizon, pricing, cost of capital,
        discount rate and after_horizon. The columns load one scenario with the same overrides
        and sets and a topology holds no economics, so one plan's economics are every column's
        ("" when no column has a plan)."""
        plans = list(self.plans.values())
        if not plans:
            return ""
        econ = plans[0].economics
        rate = econ.get("discount_rate")
        return (
            f"horizon {float(econ['horizon_s']) / S_PER_DAY:g} days, pricing {econ['pricing']}, "
            f"cost of capital {float(econ.get('cost_of_capital', 0.0)):.0%}/year, "
            + (f"discount rate {float(rate):.0%}/year" if rate else "no discount rate (face value)")
            + f", after the horizon: {econ.get('after_horizon', AFTER_HORIZON_CONTINUES)}"
        )

    def to_dict(self) -> dict[str, Any]:
        plans = list(self.plans.values())
        return {
            "scenario": self.scenario,
            "topologies": list(self.columns),
            # every column's economics (one scenario; a topology holds none): basis_text()
            **({"economics": dict(plans[0].economics)} if plans else {}),
            "columns": {n: self.summary(n) for n in self.columns},
        }

    def to_json(self, indent: int = 2) -> str:
        """Deterministic JSON of every column's summary (full plans: `columns[name].to_json()`)."""
        return dumps_rounded(self.to_dict(), indent)

    def format(self) -> str:
        """Side-by-side text table, friendly units ($M, MW), then each failed column's diagnosis."""
        from fleetcore.tables import table

        names = list(self.columns)
        rows = []
        for r in self.table():
            if r["metric"] in ("error", "diagnosis"):
                continue
            rows.append([r["metric"], *(_friendly(r[n], r["unit"], r["metric"]) for n in names)])
        on = f"{len(names)} topolog{'y' if len(names) == 1 else 'ies'}"
        out = [f"Compare {self.scenario} on {on}"]
        basis = self.basis_text()
        if basis:
            out.append(f"basis of every column: {basis}")
        out.append(table(["", *names], rows))
        for n in names:
            col = self.columns[n]
            if not isinstance(col, Plan):
                s = self.summary(n)
                out.append(f"\n{n}: {s['status']}: {s['error']}")
                out.extend(f"  - {d}" for d in s["diagnosis"])
        out.append(
            "\n(cost per workload: ownership, lease and facility charges split by the"
            " unit-seconds used, the rest is (idle); energy by busy time, its idle draw of"
            " owned units not working to (idle);"
        )
        out.append(
            " $/M tokens = the tier's cost / decode tokens served x 1e6; levelized under a"
            " discount rate: its present value / the tokens weighed by the same period weights)"
        )
        return "\n".join(out)

    def plot(self, path: str | Path) -> Path:
        """Grouped bar chart: cost by workload ($M, values on the bars), one bar per topology in
        each group, each topology's total in the legend, idle capacity hatched grey."""
        plt = pyplot()
        names = list(self.columns)
        sums = {n: self.summary(n) for n in names}
        workloads = sorted({w for n in names for w in (sums[n].get("cost_by_workload_usd") or {})})
        fig, ax = plt.subplots(
            figsize=(max(6.0, 1.2 * len(workloads) * max(1, len(names)) / 2 + 3), 4.5)
        )
        from matplotlib.patches import Patch

        width = 0.8 / max(1, len(names))
        handles: list[Any] = []
        for i, n in enumerate(names):
            costs = sums[n].get("cost_by_workload_usd") or {}
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(workloads))]
            label = n if isinstance(self.columns[n], Plan) else f"{n} ({sums[n]['status']})"
            total = sums[n].get("total_cost_usd")
            if total is not None:
                label += f": total ${total / 1e6:,.1f}M"
            colour = f"C{i}"
            bars = ax.bar(xs, [costs.get(w, 0.0) / 1e6 for w in workloads], width, color=colour)
            for bar, w in zip(bars, workloads, strict=True):
                if w == "(idle)":  # idle capacity is not a workload: grey, hatched in colour
                    bar.set_facecolor("#d0d0d0")
                    bar.set_edgecolor(colour)
                    bar.set_hatch("//")
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
            handles.append(Patch(facecolor=colour, label=label))
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, rotation=20, ha="right")
        ax.set_ylabel("cost over the horizon ($M)")
        ax.set_title(f"{self.scenario}: cost by workload per topology")
        handles.append(Patch(facecolor="#d0d0d0", hatch="//", label="(idle): capacity not used"))
        ax.legend(handles=handles)
        return save_png(fig, path)


def compare(
    scenario_path: str | Path | None,
    topologies: list[str] | tuple[str, ...],
    scenarios: list[str] | tuple[str, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
    relax: bool = False,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
) -> Comparison:
    """Solve the scenario (with the named overrides and `path=value` sets applied) on each
    topology: load_scenario(path, scenarios, sets, topology=T). Infeasible or failed topologies
    keep their error in `columns`; bad input on any topology raises one ConfigError."""
    from planner.api import solve
    from planner.scenario import load_scenario, names_arg, scenario_path_arg, solver_args

    scenario_path = scenario_path_arg(scenario_path, "planner.compare")
    solver_args(
        "planner.compare", {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    )
    names = list(dict.fromkeys(names_arg(topologies, "planner.compare", "topologies")))
    scenarios = names_arg(scenarios, "planner.compare", "scenarios")
    sets = names_arg(sets, "planner.compare", "sets")
    if not names:
        raise ConfigError(
            [Problem("<--topology>", None, "", "give at least one topology to compare")]
        )
    loaded = {}
    problems: list[Problem] = []
    for name in names:
        try:
            loaded[name] = load_scenario(
                scenario_path, scenarios=list(scenarios), sets=list(sets), topology=name
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    columns: dict[str, Plan | PlannerError] = {}
    for name, scenario in loaded.items():
        try:
            columns[name] = solve(
                scenario, relax=relax, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap
            )
        except PlannerError as exc:
            columns[name] = exc
    label = next(iter(loaded.values())).name
    return Comparison(scenario=label, columns=columns)


# -- helpers --------------------------------------------------------------------------------


def _friendly(value: Any, unit: str, metric: str) -> Any:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if unit == "usd" or unit.startswith("usd_per_") and unit != "usd_per_mtok":
        return usd(value) + ("" if unit == "usd" else f"/{price_unit_text(unit)}")
    if unit == "usd_per_mtok":
        return f"${value:,.3f}"
    if unit == "w":
        return f"{value / 1e6:,.2f} MW"
    if unit == "days":
        return f"{value:,.1f}"
    if metric == "gap":
        return f"{value:.2%}"
    if metric == "cores per accelerator":
        return f"{value:,.1f}"
    return value
