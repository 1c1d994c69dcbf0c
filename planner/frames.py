"""pandas views of plans, comparisons and sweeps (for notebooks and analysis).

    plan = planner.solve(planner.load_scenario())
    plan.df.fleet                       # every plan table as a DataFrame (columns = JSON keys,
    plan.frames()["costs"]              #   which carry their units: cost_usd, power_w, start_s)
    plan.statistics.cost(by="workload") # cost by component, grouped (PyPSA `n.statistics`-like)
    plan.statistics.units(by="datacenter")
    plan.statistics()                   # one row per site and system: units, new, busy, cost
    cmp.frame(); sw.frame()             # one row per topology / sweep point

Columns are the row types' fields (planner/rows.py), so a DataFrame's sums equal the plan's
JSON. pandas is imported here only: the rest of the planner does not need it.
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from planner.rows import CostRow, ScheduleRow, row_dict

if TYPE_CHECKING:
    from planner.comparison import Comparison
    from planner.plan import Plan
    from planner.sweeps import Sweep

S_PER_DAY = 86400.0


def table_frame(rows: list[Any], row_type: type) -> pd.DataFrame:
    """One plan table as a DataFrame; an empty table keeps its columns."""
    columns = [f.name for f in dataclasses.fields(row_type)]
    return pd.DataFrame([row_dict(r) for r in rows], columns=columns)


def plan_frames(plan: Plan) -> dict[str, pd.DataFrame]:
    """Every table of the plan by its JSON key, as DataFrames."""
    from planner.plan import TABLES

    return {name: table_frame(getattr(plan, attr), t) for name, (attr, t) in TABLES.items()}


class PlanFrames:
    """`plan.df`: attribute access to the plan's tables as DataFrames (plan.df.fleet)."""

    def __init__(self, plan: Plan):
        self._frames = plan_frames(plan)

    def __getattr__(self, name: str) -> pd.DataFrame:
        frames = self.__dict__.get("_frames", {})
        if name in frames:
            return frames[name]
        raise AttributeError(f"no plan table {name!r}; tables: {', '.join(frames)}")

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._frames[name]

    def __dir__(self) -> list[str]:
        return list(self._frames)

    def __repr__(self) -> str:
        return "PlanFrames(" + ", ".join(f"{k}[{len(v)}]" for k, v in self._frames.items()) + ")"


class Statistics:
    """`plan.statistics`: cost and units grouped by workload, system, datacenter or period."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def cost(self, by: str | list[str] = "workload") -> pd.DataFrame:
        """Cost over the horizon (US$) grouped by `by` (workload, system, datacenter,
        component), one column per cost component (`capex_usd`, `energy_usd`, ...; unless
        grouped by component) plus cost_usd (their sum), sorted by cost.
        Shared terms (links) have system/datacenter '(shared)'."""
        keys = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in ("workload", "system", "datacenter", "component")]
        if bad:
            raise ValueError(f"cost by {bad}: use workload, system, datacenter or component")
        costs = table_frame(self.plan.costs_rows, CostRow)
        costs[["datacenter", "system"]] = costs[["datacenter", "system"]].fillna("(shared)")
        if costs.empty:
            return pd.DataFrame(columns=[*keys, "cost_usd"]).set_index(keys)
        if "component" in keys:
            summed = costs.groupby(keys)[["cost_usd"]].sum()
            return summed.sort_values("cost_usd", ascending=False)
        wide = costs.pivot_table(
            index=keys, columns="component", values="cost_usd", aggfunc="sum", fill_value=0.0
        )
        wide.columns = [f"{c}_usd" for c in wide.columns]
        wide["cost_usd"] = wide.sum(axis=1)
        wide.columns.name = None
        return wide.sort_values("cost_usd", ascending=False)

    def units(self, by: str | list[str] = "system") -> pd.DataFrame:
        """Fleet from the schedule grouped by `by` (system, datacenter, period): peak units in
        service, unit_days and busy_unit_days over the horizon, ordered and rented units,
        idle_share = 1 - busy / in service."""
        keys = [by] if isinstance(by, str) else list(by)
        bad = [k for k in keys if k not in ("system", "datacenter", "period")]
        if bad:
            raise ValueError(f"units by {bad}: use system, datacenter or period")
        sched = table_frame(self.plan.schedule, ScheduleRow)
        days = (sched["end_s"] - sched["start_s"]) / S_PER_DAY
        sched = sched.assign(
            unit_days=sched["units"] * days,
            busy_unit_days=sched["busy_units"] * days,
            rented_unit_days=sched["rented_units"] * days,
        )
        # peak units: the largest in-service count over the periods of each group
        per_period = sched.groupby([*sorted(set(keys) | {"period"})], as_index=False)["units"].sum()
        peak = per_period.groupby(keys)["units"].max().rename("peak_units")
        sums = sched.groupby(keys)[
            ["ordered", "unit_days", "busy_unit_days", "rented_unit_days", "power_w"]
        ].sum()
        sums = sums.rename(columns={"ordered": "ordered_units"}).drop(columns="power_w")
        out = pd.concat([peak, sums], axis=1)
        out["idle_share"] = (1 - out["busy_unit_days"] / out["unit_days"]).where(
            out["unit_days"] > 0
        )
        return out[out["unit_days"] > 0].sort_values("unit_days", ascending=False)

    def __call__(self) -> pd.DataFrame:
        """One row per site and system in service: units, owned, bought and rented units,
        utilisation, the cost charged to the horizon, its idle part, the purchase price of the
        bought units, and the units under term contracts and on spot (peak), the days they span
        and their cost (planner/decision.py PoolDecision)."""
        from planner.decision import decision

        return pd.DataFrame([row_dict(r) for r in decision(self.plan).pools]).set_index(
            ["datacenter", "system"]
        )

    def __repr__(self) -> str:
        return "Statistics: .cost(by=...), .units(by=...), () per site and system"


# -- comparisons and sweeps -----------------------------------------------------------------
def comparison_frame(cmp: Comparison) -> pd.DataFrame:
    """One row per topology, one column per metric (SI units in the names; nested figures
    flattened as `field:key`)."""
    rows = []
    for name in cmp.columns:
        summary = cmp.summary(name)
        row: dict[str, Any] = {"topology": name}
        for key, value in summary.items():
            if key == "shadow_prices":
                for p in value or []:
                    row[f"shadow_price_usd:{p['constraint']}"] = p["value_usd"]
            elif isinstance(value, dict):
                for sub, v in value.items():
                    row[f"{key}:{sub}"] = v
            elif isinstance(value, list):
                row[key] = "; ".join(str(v) for v in value)
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows).set_index("topology")


def sweep_frame(sw: Sweep) -> pd.DataFrame:
    """One row per point: the axes, then the outputs (the columns of sweep.csv)."""
    records = sw.records()
    frame = pd.DataFrame(records, columns=sw.columns())
    for col in ("binding_constraints", "binding_constraints_days", "diagnosis"):
        frame[col] = frame[col].map(lambda v: "; ".join(str(x) for x in v or []))
    return frame.set_index("point")


# -- notebook reprs -------------------------------------------------------------------------
def plan_repr(plan: Plan) -> str:
    """A one-paragraph repr: status, cost, fleet in service, tables."""
    from fleetcore.tables import usd

    fleet = ", ".join(f"{f.datacenter}/{f.system} x{f.units:g}" for f in plan.fleet if f.units > 0)
    tables = ", ".join(
        f"{name}[{len(getattr(plan, attr))}]" for name, (attr, _) in _tables().items()
    )
    return (
        f"<Plan {plan.scenario!r} {plan.status} {usd(plan.total_cost_usd)}; fleet: "
        f"{fleet or 'none'}; tables: {tables}; .df, .statistics, .to_json()>"
    )


def _tables() -> dict[str, tuple[str, type]]:
    from planner.plan import TABLES

    return TABLES


def plan_repr_html(plan: Plan) -> str:
    """Short HTML for notebooks: the decision summary and cost by workload (< 5 kB)."""
    from fleetcore.tables import usd
    from planner.decision import decision, summary_lines

    d = decision(plan)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(d))
    costs = "".join(
        f"<tr><td>{html.escape(c.name)}</td>"
        f"<td style='text-align:right'>{usd(c.cost_usd)}</td></tr>"
        for c in sorted(plan.costs("workload"), key=lambda c: -c.cost_usd)
    )
    return (
        f"<div><b>Plan {html.escape(plan.scenario)}</b>: {plan.status}, "
        f"{usd(plan.total_cost_usd)} over the horizon<ul>{items}</ul>"
        f"<table><tr><th>workload</th><th>cost</th></tr>{costs}</table>"
        f"<small>plan.df.&lt;table&gt; for DataFrames, plan.statistics for grouped "
        f"figures</small></div>"
    )


def frame_repr_html(frame: pd.DataFrame, title: str, max_rows: int = 30) -> str:
    return f"<div><b>{html.escape(title)}</b>{frame.to_html(max_rows=max_rows)}</div>"
