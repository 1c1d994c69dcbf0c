"""A solved plan: typed rows (planner/rows.py), read once out of the LP by planner/readplan.py.
`to_json()` is stable (sorted keys, 12 significant digits); `write()` adds one CSV per table.

The JSON keys are PLAN_KEYS below and the row types' fields; README "Plan JSON" is generated
from them (`plan_keys_markdown()`, checked by a test).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _encode_str
from pathlib import Path
from typing import Any

from fleetcore.suggest import hint
from planner.rows import (
    AfterHorizonRow,
    AllocationRow,
    BindingRow,
    CashFlowRow,
    ContractRow,
    CostRow,
    CostTotalRow,
    CpuScheduleRow,
    CpuServerRow,
    FleetRow,
    LimitValueRow,
    LinkRow,
    PeriodRow,
    PowerRow,
    PresentValueRow,
    PretrainJobRow,
    ResaleRow,
    RLJobRow,
    RLRow,
    ScheduleRow,
    ServingRow,
    ShadowPriceRow,
    SiteOpeningRow,
    SizingRow,
    SolverRow,
    WorkloadRow,
    row_dict,
    row_from_dict,
)

# The scalar keys of the plan JSON, with their README descriptions (tables: the row types).
# The fields plan.costs(by=...) sums by.
COST_GROUPS = ("component", "datacenter", "system", "workload")

PLAN_KEYS = {
    "status": "`optimal` (solver's gap target met; `gap` is the gap proven), `feasible` (time "
    "limit hit, a plan repaired after the solve whose gap against the bound proven before "
    "the repair is above the target, or a solver's `optimal` whose own bound is not taken (CBC "
    "always, HiGHS on a model with an allocation under 1e-6 of a unit) above the target of the "
    "bound proven here: `solver_notes` says which; see `gap`), `relaxed` (`--relax`)",
    "scenario": "scenario name with applied overrides",
    "total_cost_usd": "objective over the horizon, US$ (with `economics.discount_rate`: its "
    "present value, the cost rows too; `nominal_cost_usd` is then the same charges at face "
    "value and `present_value` the table of weights per period)",
    "lower_bound_usd": "best proven bound, US$: the LP relaxation's optimum, the solver's "
    "own bound when higher (HiGHS's, not on a model with tiny allocations), or the whole-unit "
    "bound (the relaxation with a unit in service wherever work must run; `solver_notes` gives "
    "it) where the plan misses the target otherwise",
    "gap": "relative gap proven: (cost - bound) / cost",
    "lp_relaxation_usd": "LP relaxation optimum, US$ (null where it was not solved: "
    "`rounded-aggregated` plans, proven against the relaxed aggregated LP's bound instead, "
    "when the full path did not run after them or ended before its relaxation did)",
    "left_out": "costs and limits the model did not charge or check for this scenario (a "
    "catalog or topology figure not given, a simplification), one sentence each",
}


@dataclass
class Plan:
    status: str  # optimal | feasible (gap target not met: time limit, repair) | relaxed (LP)
    scenario: str
    total_cost_usd: float
    lower_bound_usd: float | None
    lp_relaxation_usd: float | None
    gap: float | None
    left_out: list[str]
    solver: SolverRow
    periods: list[PeriodRow]
    workloads: list[WorkloadRow]
    schedule: list[ScheduleRow]
    fleet: list[FleetRow]
    cpu_servers: list[CpuServerRow]
    power: list[PowerRow]
    allocations: list[AllocationRow]
    rl: list[RLRow]
    links: list[LinkRow]
    costs_rows: list[CostRow]
    binding_constraints: list[BindingRow]
    shadow_prices: list[ShadowPriceRow]
    stats: dict[str, float] = field(default_factory=dict)
    # Cost and cash per calendar period (planner/readplan.py read_cash_flow).
    cash_flow: list[CashFlowRow] = field(default_factory=list)
    # Candidate sites and whether (and when) the plan opens them.
    site_openings: list[SiteOpeningRow] = field(default_factory=list)
    # Term contracts signed (pool, start period, offer, units): what the contracts cost is
    # recomputed from (planner/verify_costs.py).
    contracts: list[ContractRow] = field(default_factory=list)
    # CPU-only servers per site and calendar period.
    cpu_schedule: list[CpuScheduleRow] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # verification checks passed
    # Why the solve took the path it did where solver.bound auto's fast path applied (its
    # failure or miss, the full path's outcome), one sentence each: the JSON key `solver_notes`,
    # present only when there is one (planner/lp/solve.py `solve_model`).
    solver_notes: list[str] = field(default_factory=list)
    # Presentation context attached by planner.solve (not in the JSON but `after_horizon` under
    # ends; from_dict gives back only that): catalog prices of the
    # systems in the fleet {system: {capex_usd, lifetime_s, rental_usd_per_hour}} and the
    # scenario's economics {pricing, cost_of_capital, horizon_s}; see planner/decision.py.
    catalog_prices: dict[str, dict[str, float]] = field(default_factory=dict)
    economics: dict[str, Any] = field(default_factory=dict)
    # Per serving tier: prefill placement, prefill:decode units, KV traffic, headroom.
    serving: list[ServingRow] = field(default_factory=list)
    # What the solver left, for the verifier (not in the JSON; empty/None on a plan read back
    # from JSON): every whole-unit variable's unrounded value by what it counts (whole-unit
    # plans only: rule solver_whole does not judge an LP relaxation, so a relaxed plan has
    # none), and the solver's objective with PuLP's dropped constant added back
    # (planner/verify.py).
    solver_values: dict[str, float] = field(default_factory=dict)
    solver_objective_usd: float | None = None

    # -- notebooks and pandas (planner/frames.py) ---------------------------------------
    def __repr__(self) -> str:
        from planner.frames import plan_repr

        return plan_repr(self)

    def _repr_html_(self) -> str:
        from planner.frames import plan_repr_html

        return plan_repr_html(self)

    def frames(self) -> dict[str, Any]:
        """Every table as a pandas DataFrame, by JSON key (columns carry their units)."""
        from planner.frames import plan_frames

        return plan_frames(self)

    @property
    def df(self) -> Any:
        """The tables as DataFrames by attribute: plan.df.fleet, plan.df.costs, ..."""
        from planner.frames import PlanFrames

        return PlanFrames(self)

    def decision(self) -> Any:
        """What to buy or rent where, purchase cash vs capex charged, idle share, mostly idle
        pools, binding limits, amortisation basis (planner/decision.py; not in the JSON)."""
        from planner.decision import decision

        return decision(self)

    @property
    def statistics(self) -> Any:
        """Grouped figures: .cost(by=...), .units(by=...), () per site and system."""
        from planner.frames import Statistics

        return Statistics(self)

    # `planner plan --value-limits` (planner/limits.py): counterfactual values of the limits and
    # choices; None when not asked for (the JSON then has neither key, as before).
    limit_values: list[LimitValueRow] | None = None
    # Model sizing (a pretraining with target:): one row per candidate; None when the scenario
    # sizes no model (the JSON then has no `sizing` key, as before).
    sizing: list[SizingRow] | None = None
    # Whole-unit plans with pretraining: each run's rated, rate and placed jobs (planner/kinds/
    # pretrain.py placed_jobs); None otherwise (the JSON then has no `pretrain_jobs` key).
    pretrain_jobs: list[PretrainJobRow] | None = None
    # Whole-unit plans with RL: each run's trainer's rated, rate and placed jobs (planner/kinds/
    # rl.py placed_jobs); None otherwise (the JSON then has no `rl_jobs` key).
    rl_jobs: list[RLJobRow] | None = None
    # With economics.discount_rate: each calendar period's discount weight, nominal cost and
    # present value (total_cost_usd is then the present value); None otherwise (the JSON then
    # has neither `present_value` nor `nominal_cost_usd`).
    present_value: list[PresentValueRow] | None = None
    # With economics.after_horizon ends: the contract payments due past the horizon, by month
    # after it (planner/readplan.py read_after_horizon); None when none falls past it (the JSON
    # then has no `cash_flow_after_horizon`).
    after_horizon_payments: list[AfterHorizonRow] | None = None
    # With economics.after_horizon ends and a resale_fraction: the resale received at the
    # horizon's end, one row (planner/readplan.py read_resale); None when nothing is resold
    # (the JSON then has no `cash_flow_resale`).
    resale_at_horizon: list[ResaleRow] | None = None

    @property
    def nominal_cost_usd(self) -> float:
        """The plan's charges at face value: the cash flow's cost summed over the periods, and
        the resale received at the horizon's end and the contract payments after it
        (economics.after_horizon ends) (= total_cost_usd without a discount_rate)."""
        past = sum(r.contracts_usd for r in self.after_horizon_payments or [])
        past += sum(r.cost_usd for r in self.resale_at_horizon or [])
        return sum(r.cost_usd for r in self.cash_flow) + past

    @property
    def limits_with_value(self) -> list[str]:
        """The limits and choices whose counterfactual re-solve shows value: a saving (or, for a
        choice, an extra cost) larger than the solvers' proven gaps (a flag the report reads)."""
        valued = [
            r.limit
            for r in self.limit_values or []
            if r.saving_proven_usd is not None
            and (r.saving_proven_usd > 0 if r.kind == "limit" else r.saving_proven_usd < 0)
        ]
        return list(dict.fromkeys(valued))

    # -- tidy views ---------------------------------------------------------------------
    def costs(self, by: str = "component") -> list[CostTotalRow]:
        """Cost summed by one of: component, datacenter, system, workload; typed rows (name,
        cost_usd) sorted by name, as every plan table is (before session 27 dicts keyed by
        `by`). Every term unsummed: plan.costs_rows."""
        if by not in COST_GROUPS:
            raise ValueError(
                f"costs(by={by!r}): use {', '.join(COST_GROUPS)} (plan.costs_rows has every "
                f"term){hint(str(by), COST_GROUPS)}"
            )
        out: dict[str, float] = {}
        for term in self.costs_rows:
            value = getattr(term, by)
            key = value if value is not None else "(shared)"
            out[key] = out.get(key, 0.0) + term.cost_usd
        return [CostTotalRow(by, k, v) for k, v in sorted(out.items())]

    def allocations_view(self, workload: str | None = None) -> list[AllocationRow]:
        return [a for a in self.allocations if workload is None or a.workload == workload]

    def tables(self) -> dict[str, list[Any]]:
        """Every table of the plan by its JSON key."""
        return {name: getattr(self, attr) for name, (attr, _) in TABLES.items()}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: getattr(self, key) for key in PLAN_KEYS}
        out["solver"] = row_dict(self.solver)
        for name, rows in self.tables().items():
            out[name] = [row_dict(r) for r in rows]
        if self.limit_values is not None:
            out["limit_values"] = [row_dict(r) for r in self.limit_values]
            out["limits_with_value"] = self.limits_with_value
        if self.sizing is not None:
            out["sizing"] = [row_dict(r) for r in self.sizing]
        if self.solver_notes:
            out["solver_notes"] = list(self.solver_notes)
        if self.pretrain_jobs is not None:
            out["pretrain_jobs"] = [row_dict(r) for r in self.pretrain_jobs]
        if self.rl_jobs is not None:
            out["rl_jobs"] = [row_dict(r) for r in self.rl_jobs]
        if self.present_value is not None:
            out["present_value"] = [row_dict(r) for r in self.present_value]
            out["nominal_cost_usd"] = self.nominal_cost_usd
        if self.resale_at_horizon is not None:
            out["cash_flow_resale"] = [row_dict(r) for r in self.resale_at_horizon]
        if self.after_horizon_payments is not None:
            out["cash_flow_after_horizon"] = [row_dict(r) for r in self.after_horizon_payments]
        if self.economics.get("after_horizon") == "ends":
            # total_cost_usd then holds whole capex and terms: a reader of the JSON must see it
            out["after_horizon"] = "ends"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A Plan back from to_dict()/to_json() output (plus an optional 'checks' list)."""
        rows: dict[str, list[Any]] = {
            name: [row_from_dict(t, r) for r in data[name]] for name, (_, t) in TABLES.items()
        }
        return cls(
            status=data["status"],
            scenario=data["scenario"],
            total_cost_usd=data["total_cost_usd"],
            lower_bound_usd=data["lower_bound_usd"],
            lp_relaxation_usd=data["lp_relaxation_usd"],
            gap=data["gap"],
            left_out=list(data["left_out"]),
            solver=row_from_dict(SolverRow, data["solver"]),
            periods=rows["periods"],
            workloads=rows["workloads"],
            schedule=rows["schedule"],
            fleet=rows["fleet"],
            cpu_servers=rows["cpu_servers"],
            power=rows["power"],
            allocations=rows["allocations"],
            rl=rows["rl"],
            links=rows["links"],
            costs_rows=rows["costs"],
            binding_constraints=rows["binding_constraints"],
            shadow_prices=rows["shadow_prices"],
            stats={},
            cash_flow=rows["cash_flow"],
            site_openings=rows["site_openings"],
            contracts=rows["contracts"],
            cpu_schedule=rows["cpu_schedule"],
            checks=list(data.get("checks", [])),
            solver_notes=list(data.get("solver_notes", [])),
            sizing=[row_from_dict(SizingRow, r) for r in data["sizing"]]
            if "sizing" in data
            else None,
            serving=rows["serving"],
            pretrain_jobs=[row_from_dict(PretrainJobRow, r) for r in data["pretrain_jobs"]]
            if "pretrain_jobs" in data
            else None,
            rl_jobs=[row_from_dict(RLJobRow, r) for r in data["rl_jobs"]]
            if "rl_jobs" in data
            else None,
            present_value=[row_from_dict(PresentValueRow, r) for r in data["present_value"]]
            if "present_value" in data
            else None,
            after_horizon_payments=[
                row_from_dict(AfterHorizonRow, r) for r in data["cash_flow_after_horizon"]
            ]
            if "cash_flow_after_horizon" in data
            else None,
            resale_at_horizon=[row_from_dict(ResaleRow, r) for r in data["cash_flow_resale"]]
            if "cash_flow_resale" in data
            else None,
            economics={"after_horizon": data["after_horizon"]} if "after_horizon" in data else {},
        )

    def to_json(self, indent: int = 2) -> str:
        """Deterministic JSON: the same input gives the same bytes (timings are left out)."""
        return dumps_rounded(self.to_dict(), indent)

    def write(self, out_dir: str | Path) -> list[Path]:
        """plan.json plus one CSV per table (fleet, allocations, costs, power, links, ...)."""
        from fleetcore.outfile import ensure_dir, write_text  # each file whole or not at all

        out = ensure_dir(out_dir)
        written = [write_text(out / "plan.json", self.to_json() + "\n")]
        data = round_floats(self.to_dict())
        extra = ["limit_values"] if self.limit_values is not None else []
        extra += ["sizing"] if self.sizing is not None else []
        extra += ["pretrain_jobs"] if self.pretrain_jobs is not None else []
        extra += ["rl_jobs"] if self.rl_jobs is not None else []
        extra += ["present_value"] if self.present_value is not None else []
        extra += ["cash_flow_resale"] if self.resale_at_horizon is not None else []
        extra += ["cash_flow_after_horizon"] if self.after_horizon_payments is not None else []
        for name in [*TABLES, *extra]:
            written.append(write_text(out / f"{name}.csv", to_csv(data[name])))
        return written


# JSON key -> (Plan attribute, row type), in the JSON's (and README's) order.
TABLES: dict[str, tuple[str, type]] = {
    "periods": ("periods", PeriodRow),
    "workloads": ("workloads", WorkloadRow),
    "schedule": ("schedule", ScheduleRow),
    "cash_flow": ("cash_flow", CashFlowRow),
    "site_openings": ("site_openings", SiteOpeningRow),
    "contracts": ("contracts", ContractRow),
    "fleet": ("fleet", FleetRow),
    "cpu_servers": ("cpu_servers", CpuServerRow),
    "cpu_schedule": ("cpu_schedule", CpuScheduleRow),
    "power": ("power", PowerRow),
    "allocations": ("allocations", AllocationRow),
    "rl": ("rl", RLRow),
    "serving": ("serving", ServingRow),
    "links": ("links", LinkRow),
    "costs": ("costs_rows", CostRow),
    "binding_constraints": ("binding_constraints", BindingRow),
    "shadow_prices": ("shadow_prices", ShadowPriceRow),
}


def plan_keys_markdown() -> str:
    """README's "Plan JSON" table, made from PLAN_KEYS and the row types' docstrings/fields."""
    lines = ["| key | content |", "|---|---|"]
    lines += [f"| `{key}` | {text} |" for key, text in PLAN_KEYS.items()]
    for key, row_type in [("solver", SolverRow)] + [(k, t) for k, (_, t) in TABLES.items()]:
        doc = " ".join((row_type.__doc__ or "").split())
        fields = ", ".join(f.name for f in dataclasses.fields(row_type))
        lines.append(f"| `{key}` | {doc} (fields: {fields}) |")
    return "\n".join(lines)


def to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in row.items()}
        )
    return buf.getvalue()


def dumps_rounded(value: Any, indent: int = 2) -> str:
    """`json.dumps(round_floats(value), indent=indent, sort_keys=True)`, the same bytes, made in
    one walk: with an indent, json's encoder is its pure-Python one (a generator per container,
    a call per item: 0.24 s of a 102k-column LP-only plan, bench/bench_lp.py). Strings go
    through json's own C escaping; a dict with a key that is not a string, or a value json
    would refuse, goes to json itself. Each distinct float is written once a walk (`floats`):
    a 120k-column plan holds 56k floats, 3.4k of them distinct (bench/bench_lp.py). Each
    distinct key tuple at each depth is sorted and its keys' texts made once a walk
    (`layouts`): a plan's tables are thousands of rows of the same keys."""
    out: list[str] = []
    _dump(value, out, "\n", " " * indent, {}, {})
    return "".join(out)


def _scalar(value: Any, floats: dict[float, str]) -> str | None:
    """A leaf as json.dumps(round_floats(value)) writes it; None for a container or other.
    floats: the text of each float written so far (equal floats have one text: 0.0 and -0.0
    are both "0.0")."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is float:
        text = floats.get(value)
        if text is None:
            text = floats[value] = _float_text(value)
        return text
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return None


def _float_text(value: float) -> str:
    """round_floats' value, as json writes it."""
    if not math.isfinite(value):
        return "null"
    return float.__repr__(float(f"{value:.12g}")) if value != 0 else "0.0"


def _dump(
    value: Any,
    out: list[str],
    newline: str,
    step: str,
    floats: dict[float, str],
    layouts: dict[tuple[str, tuple], list[tuple[str, str]]],
) -> None:
    text = _scalar(value, floats)
    if text is not None:
        out.append(text)
    elif isinstance(value, dict) and _str_keys(value, newline, step, layouts):
        if not value:
            out.append("{}")
            return
        inner = newline + step
        # the keys sorted, each with the text before its value (`_str_keys` made it)
        for key, head in layouts[(newline, tuple(value))]:
            item = value[key]
            text = _scalar(item, floats)
            out.append(head)
            if text is not None:
                out.append(text)
            else:
                _dump(item, out, inner, step, floats, layouts)
        out.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + step
        sep = "[" + inner
        for item in value:
            text = _scalar(item, floats)
            out.append(sep)
            if text is not None:
                out.append(text)
            else:
                _dump(item, out, inner, step, floats, layouts)
            sep = "," + inner
        out.append(newline + "]")
    else:  # another type (a float or int subclass, a dict keyed by numbers): json's own way
        text = json.dumps(round_floats(value), indent=len(step), sort_keys=True)
        out.append(text.replace("\n", newline))


def _str_keys(
    value: dict,
    newline: str,
    step: str,
    layouts: dict[tuple[str, tuple], list[tuple[str, str]]],
) -> bool:
    """Whether every key of `value` is a str (json's way otherwise); if so, `layouts` holds, for
    its key tuple at this depth (`newline`), the keys sorted, each with the text written before
    its value ("{" or "," and the indent, the key, ": "). A key tuple is kept only when its
    keys are all of type str, so a dict whose key tuple is found has str keys (a key of
    another type equal to a str: never made by the planner)."""
    keys = (newline, tuple(value))
    if keys in layouts:
        return True
    if not all(type(k) is str for k in value):
        return False
    inner = newline + step
    heads, sep = [], "{" + inner
    for key in sorted(value):
        heads.append((key, sep + _encode_str(key) + ": "))
        sep = "," + inner
    layouts[keys] = heads
    return True


def round_floats(value: Any) -> Any:
    """12 significant digits: solver noise beyond that would break byte-identical output."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.12g}") if value != 0 else 0.0
    if isinstance(value, dict):
        return {k: round_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v) for v in value]
    return value
