"""Sensitivity to every estimate: re-solve the scenario with each catalog figure whose source
says "estimate" at the low and at the high end of its `ranges:` entry (hardware/schema.py), in
parallel, and rank the figures by how much the total cost swings (a tornado).

    swing_usd = max(cost_low, cost_default, cost_high) - min(cost_low, cost_default, cost_high)

Only figures of the catalog entries the scenario can use are re-solved: the systems placed in
its topology (accelerated pools and CPU servers), their accelerators and CPUs. A figure is set
through a catalog overlay file (`{kind: {entry: {figure: value}}}`) appended to the scenario's
`catalog:` list, the way a user overrides a price; nothing reaches into the LP.

A "flip" is an end of a range where the plan's choice differs from the default plan's: the
pools (site, system) each training job runs on, or the set of systems or sites with units in
the fleet. For each flipping end, the break-even value is found by bisection between the
default (same choice) and that end (flipped choice): each step re-solves at the midpoint and
keeps the half whose ends disagree, until the interval is no wider than
tolerance x |end - default|; the break-even is reported as the interval's midpoint, within
half its width. With a MIP gap > 0 the choice near a tie can depend on the solver's stopping
point: use --gap 0 for exact break-evens on small scenarios.
"""

from __future__ import annotations

import fnmatch
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from fleetcore.errors import ConfigError, Problem
from fleetcore.tables import table, usd
from fleetcore.units import format_si
from hardware.catalog import Catalog, Estimate, estimates
from planner.limits import solve_variants, topology_ref, training_placements
from planner.plan import dumps_rounded
from planner.scenario import Scenario, jobs_arg, solver_args

DEFAULT_TOLERANCE = 0.01  # bisection stops at 1% of |end - default|
SI_UNITS = ("W", "s", "B", "B/s", "FLOPS")


@dataclass(frozen=True)
class SensitivityRow:
    """One estimate: its range, the total cost at each end, the swing, and whether (and where)
    the plan's choice of system or site flips."""

    figure: str  # kind.entry.figure, e.g. systems.trn2-server.capex_usd
    unit: str  # the SI unit the figure is written in ("" for a plain number)
    low: float  # SI units, as the planner reads the figure
    default: float
    high: float
    low_cost_usd: float | None
    high_cost_usd: float | None
    swing_usd: float | None
    low_choice: str  # "" when the same as the default plan's
    high_choice: str
    break_even_low: float | None  # between low and default, when the low end flips
    break_even_high: float | None
    break_even_halfwidth: dict[str, float]  # "low" / "high" -> half the final interval
    source: str
    range_source: str
    status: str  # solved | failed: <status at an end>

    @property
    def flips(self) -> bool:
        return bool(self.low_choice or self.high_choice)


@dataclass
class Sensitivity:
    """The tornado of a scenario: rows sorted by swing (largest first)."""

    scenario: str
    base_cost_usd: float
    base_choice: str
    tolerance: float
    rows: list[SensitivityRow]
    stats: dict[str, float]
    break_even_searched: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "base_cost_usd": self.base_cost_usd,
            "base_choice": self.base_choice,
            "tolerance": self.tolerance,
            "figures": [
                {
                    "figure": r.figure,
                    "unit": r.unit,
                    "low": r.low,
                    "default": r.default,
                    "high": r.high,
                    "low_cost_usd": r.low_cost_usd,
                    "high_cost_usd": r.high_cost_usd,
                    "swing_usd": r.swing_usd,
                    "flips": r.flips,
                    "low_choice": r.low_choice,
                    "high_choice": r.high_choice,
                    "break_even_low": r.break_even_low,
                    "break_even_high": r.break_even_high,
                    "break_even_halfwidth": r.break_even_halfwidth,
                    "source": r.source,
                    "range_source": r.range_source,
                    "status": r.status,
                }
                for r in self.rows
            ],
            "flips": [r.figure for r in self.rows if r.flips],
        }

    def to_json(self, indent: int = 2) -> str:
        return dumps_rounded(self.to_dict(), indent)

    def table(self) -> str:
        out = [
            f"Sensitivity of {self.scenario}: total cost {usd(self.base_cost_usd)} at the catalog "
            f"defaults; choice: {self.base_choice}"
        ]
        rows = [
            [
                f"{r.figure} ({show(r.default, r.unit, r.figure)})",
                f"{show(r.low, r.unit, r.figure)} -> {_money(r.low_cost_usd)}",
                f"{show(r.high, r.unit, r.figure)} -> {_money(r.high_cost_usd)}",
                _money(r.swing_usd),
                "yes" if r.flips else "",
            ]
            for r in self.rows
        ]
        out.append(
            table(
                ["figure (default)", "low -> total cost", "high -> total cost", "swing", "flips"],
                rows,
            )
        )
        # the table says only "failed": why (a time limit, infeasible) is each row's status
        out.extend(f"  {r.figure}: {r.status}" for r in self.rows if r.status != "solved")
        flips = [r for r in self.rows if r.flips]
        if flips:
            out.append("\nEstimates that flip the choice of system or site")
            for r in flips:
                for end, value, choice, be in (
                    ("low", r.low, r.low_choice, r.break_even_low),
                    ("high", r.high, r.high_choice, r.break_even_high),
                ):
                    if not choice:
                        continue
                    half = r.break_even_halfwidth.get(end)
                    where = (
                        f"break-even {show(be, r.unit, r.figure)} (+-"
                        f"{show(half or 0.0, r.unit, r.figure)}, bisection to "
                        f"{self.tolerance:.1%} of |end - default|)"
                        if be is not None
                        else "break-even not searched (--no-break-even)"
                        if not self.break_even_searched
                        else "break-even not found (a bisection step failed)"
                    )
                    out.append(
                        f"  {r.figure} = {show(value, r.unit, r.figure)} (default "
                        f"{show(r.default, r.unit, r.figure)}): {choice}; {where}"
                    )
        else:
            failed = [r for r in self.rows if r.status != "solved"]
            out.append(
                "\nNo estimate flips the choice of system or site within its range"
                + (
                    f" among the ends that were solved ({len(failed)} figure(s) with an end that "
                    "failed, above, are unknown)."
                    if failed
                    else "."
                )
            )
        return "\n".join(out)

    def plot(self, path: str | Path) -> Path:
        """Tornado chart: per figure that moves the cost (the 25 largest swings), a bar from the
        default cost to each end's cost ($M)."""
        from planner.plots import pyplot, save_png

        plt = pyplot()
        moving = [r for r in self.rows if (r.swing_usd or 0.0) > 1e-9 * self.base_cost_usd]
        rows = moving[:25][::-1]
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
        base = self.base_cost_usd / 1e6
        for i, r in enumerate(rows):
            for cost, color in ((r.low_cost_usd, "tab:blue"), (r.high_cost_usd, "tab:red")):
                if cost is not None:
                    ax.barh(i, cost / 1e6 - base, left=base, color=color, alpha=0.7)
        ax.axvline(base, color="black", linewidth=1)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r.figure + (" (flips)" if r.flips else "") for r in rows], fontsize=8)
        ax.set_xlabel("total cost over the horizon ($M): blue at the low end, red at the high end")
        ax.set_title(f"{self.scenario}: sensitivity to catalog estimates")
        return save_png(fig, path)


def _g(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def show(value: float | None, unit: str, figure: str) -> str:
    """A figure in friendly units: US$ for *_usd, days or minutes for times, SI prefixes."""
    if value is None:
        return "-"
    if figure.endswith("_usd"):
        return usd(value)
    if unit == "s":
        if value >= 86400:
            return f"{value / 86400:.4g} days"
        return f"{value / 3600:.4g} hours" if value >= 3600 else f"{value / 60:.4g} min"
    if unit:
        return format_si(value, unit, digits=4)
    return _g(value)


def _money(value: float | None) -> str:
    return "failed" if value is None else usd(value)


# -- which figures, and how to write them --------------------------------------------------


def relevant_estimates(scenario: Scenario, only: list[str] | None = None) -> list[Estimate]:
    """Estimates of the entries the scenario can use (its topology's systems, their
    accelerators and CPUs), filtered by glob patterns on `kind.entry.figure` when given."""
    catalog = scenario.catalog
    systems = set()
    for d in scenario.topology.datacenters():
        site = scenario.topology.site(d)
        systems |= set(site.systems)
        if site.cpu_servers is not None:
            systems.add(site.cpu_servers.system)
    used = {("systems", s) for s in systems}
    used |= {("accelerators", catalog.system(s).accelerator or "") for s in systems}
    used |= {("cpus", catalog.system(s).cpu) for s in systems}
    out = [e for e in estimates(catalog) if (e.kind, e.entry) in used]
    if only:
        out = [e for e in out if any(fnmatch.fnmatchcase(e.path, p) for p in only)]
    missing = [e for e in out if e.low is None or e.high is None]
    if missing:
        raise ConfigError(
            [
                Problem(
                    "<catalog>",
                    None,
                    e.path,
                    f"its source says estimate ({e.source!r}) but its entry has no range: add "
                    f"ranges: {{{e.figure}: {{low: ..., high: ..., source: ...}}}} to the "
                    f"entry, or leave it out with --only",
                )
                for e in missing
            ]
        )
    return out


def write_like(catalog: Catalog, est: Estimate, value_si: float) -> Any:
    """The YAML value that reads as `value_si` for this figure: a bare number, or the number
    with the SI unit its type parses ('8500 W', '3600 s')."""
    entry = getattr(catalog.data, est.kind)[est.entry]
    annotation, _ = entry.figure(est.figure)
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for candidate in [value_si, *(f"{value_si:.17g} {u}" for u in SI_UNITS)]:
        try:
            adapter.validate_python(candidate)
        except ValidationError:
            continue
        return candidate
    raise ValueError(f"cannot write {value_si!r} for {est.path}")


def unit_of(catalog: Catalog, est: Estimate) -> str:
    """The SI unit a figure is written in ("" for a plain number)."""
    written = write_like(catalog, est, est.default)
    return written.rsplit(" ", 1)[1] if isinstance(written, str) else ""


def overlay_for(catalog: Catalog, est: Estimate, value_si: float) -> dict[str, Any]:
    """A catalog overlay setting one figure: {kind: {entry: {a: {b: value}, sources: {a.b:
    ...}}}}. The source it writes says what moved it and keeps the shipped text (an estimate
    still reads as one: the variant's plan keeps its estimate caveats), where an overlay giving
    none would be quoted by its temporary file's name (hardware/catalog.py)."""
    nested: Any = write_like(catalog, est, value_si)
    for part in reversed(est.figure.split(".")):
        nested = {part: nested}
    nested["sources"] = {
        est.figure: f"planner sensitivity: {est.path} moved within its range; was {est.source}"
    }
    return {est.kind: {est.entry: nested}}


def choice_of(plan_dict: dict[str, Any]) -> dict[str, Any]:
    """What counts as the plan's choice of system and site: the pools of each training job, the
    systems and the sites with units."""
    placed = training_placements(plan_dict["allocations"])
    units = [f for f in plan_dict["fleet"] if f["units"] > 0]
    return {
        "training": {job: sorted(f"{d}/{s}" for d, s in where) for job, where in placed.items()},
        "systems": sorted({f["system"] for f in units}),
        "sites": sorted({f["datacenter"] for f in units}),
    }


def describe(choice: dict[str, Any]) -> str:
    jobs = "; ".join(f"{job} on {', '.join(p)}" for job, p in sorted(choice["training"].items()))
    return f"{jobs or 'no training job'}; systems {', '.join(choice['systems']) or 'none'}"


def _diff(base: dict[str, Any], other: dict[str, Any]) -> str:
    """'' when the choices agree, else what changed."""
    parts = []
    for job in sorted(set(base["training"]) | set(other["training"])):
        a, b = base["training"].get(job, []), other["training"].get(job, [])
        if a != b:
            parts.append(f"{job} moves to {', '.join(b) or 'nowhere'}")
    for key in ("systems", "sites"):
        added = sorted(set(other[key]) - set(base[key]))
        dropped = sorted(set(base[key]) - set(other[key]))
        if added:
            parts.append(f"{key} added: {', '.join(added)}")
        if dropped:
            parts.append(f"{key} dropped: {', '.join(dropped)}")
    return "; ".join(parts)


# -- bisection (runs in a worker process) ---------------------------------------------------


def bisect_task(task: dict[str, Any]) -> dict[str, Any]:
    """Bisection between `same` (the default's choice) and `flipped` (a different choice) for
    one figure; returns {break_even, halfwidth, steps} or {error}. Never raises."""
    from planner.api import solve
    from planner.scenario import load_scenario

    try:
        scenario = load_scenario(
            task["scenario_path"], scenarios=list(task["overrides"]), sets=list(task["sets"])
        )
        est: Estimate = task["estimate"]
        same, flipped = task["same"], task["flipped"]
        base = task["base_choice"]
        width_stop = task["tolerance"] * abs(flipped - same)
        steps = 0
        with tempfile.TemporaryDirectory(prefix="planner-bisect-") as tmp:
            while abs(flipped - same) > width_stop:
                mid = (same + flipped) / 2
                path = Path(tmp) / f"mid-{steps}.yaml"
                overlay = overlay_for(scenario.catalog, est, mid)
                path.write_text(yaml.safe_dump(overlay, sort_keys=True), encoding="utf-8")
                listed = yaml.safe_dump([*task["catalog"], str(path)], default_flow_style=True)
                variant = load_scenario(
                    task["scenario_path"],
                    scenarios=list(task["overrides"]),
                    sets=[*task["sets"], f"catalog={listed.strip()}"],
                )
                plan = solve(variant, **task["options"])
                choice = choice_of(json.loads(plan.to_json()))
                steps += 1
                if _diff(base, choice):
                    flipped = mid
                else:
                    same = mid
        return {
            "break_even": (same + flipped) / 2,
            "halfwidth": abs(flipped - same) / 2,
            "steps": steps,
        }
    except Exception as exc:  # noqa: BLE001 - a failed bisection is reported, not raised
        return {"error": f"{type(exc).__name__}: {exc}"}


def _run_bisections(tasks: list[dict[str, Any]], jobs: int) -> list[dict[str, Any]]:
    if jobs <= 1 or len(tasks) <= 1:
        return [bisect_task(t) for t in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return list(pool.map(bisect_task, tasks))


# -- the run --------------------------------------------------------------------------------


def sensitivity(
    scenario: Scenario,
    *,
    only: list[str] | None = None,
    jobs: int = 2,
    tolerance: float = DEFAULT_TOLERANCE,
    break_even: bool = True,
    mip_gap: float | None = None,
    time_limit_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sensitivity:
    """Re-solve at the default and at each end of each relevant estimate's range (parallel),
    then bisect every flipping end for its break-even (parallel over the flips)."""
    jobs = jobs_arg(jobs, "sensitivity")
    solver_args("sensitivity", {"time_limit_s": time_limit_s, "mip_gap": mip_gap})
    started = time.perf_counter()
    ests = relevant_estimates(scenario, only)
    if not ests:
        why = (
            f"no estimate of this scenario's catalog matches {', '.join(map(repr, only))} "
            "(names are kind.entry.figure, e.g. 'systems.*.capex_usd'; `planner hardware show "
            "NAME` lists the figures with a range)"
            if only
            else "no figure of this scenario's catalog is an estimate with a range"
        )
        raise ConfigError([Problem("<--only>", None, "only", why)])
    options = {"relax": False, "solver": None, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    variants: list[tuple[tuple[str, ...], dict[str, Any] | None]] = [((), None)]
    for est in ests:
        assert est.low is not None and est.high is not None
        variants.append(((), overlay_for(scenario.catalog, est, est.low)))
        variants.append(((), overlay_for(scenario.catalog, est, est.high)))
    results = solve_variants(scenario, variants, options, jobs, progress)
    base = results[0]
    if base["plan"] is None:
        from planner.sweeps import SweepFailed

        out = base["outputs"]
        diagnosis = "".join(f"\n  {line}" for line in out.get("diagnosis") or [])
        raise SweepFailed(
            f"the plan at the catalog defaults failed ({out['status']}): {out.get('error')}"
            + diagnosis,
            int(out.get("exit_code") or 3),
        )
    base_cost = float(base["outputs"]["total_cost_usd"])
    base_choice = choice_of(base["plan"])

    def end(result: dict[str, Any]) -> tuple[float | None, str, bool]:
        if result["plan"] is None:
            return None, "", False
        return (
            float(result["outputs"]["total_cost_usd"]),
            _diff(base_choice, choice_of(result["plan"])),
            True,
        )

    base_dir = Path(scenario.file).parent
    catalog = [str(p if Path(p).is_absolute() else base_dir / p) for p in scenario.data.catalog]
    common = {
        "scenario_path": scenario.file,
        "overrides": scenario.applied_overrides,
        "sets": (*scenario.applied_sets, f"topology={topology_ref(scenario)}"),
        "catalog": catalog,
        "options": options,
        "base_choice": base_choice,
        "tolerance": tolerance,
    }
    partial = []
    bisections: list[dict[str, Any]] = []
    where: list[tuple[int, str]] = []
    failed_why: list[str] = []  # per estimate: why an end's re-solve failed (its status and error)
    for i, est in enumerate(ests):
        lo_cost, lo_choice, lo_ok = end(results[1 + 2 * i])
        hi_cost, hi_choice, hi_ok = end(results[2 + 2 * i])
        reasons = []
        for side, result in (("low", results[1 + 2 * i]), ("high", results[2 + 2 * i])):
            if result["plan"] is None:
                out = result["outputs"]
                reasons.append(f"{side} end {out['status']}: {out.get('error')}")
        failed_why.append("; ".join(reasons))
        partial.append((est, lo_cost, lo_choice, hi_cost, hi_choice, lo_ok and hi_ok))
        for side, choice, value in (("low", lo_choice, est.low), ("high", hi_choice, est.high)):
            if choice and break_even and value != est.default:
                bisections.append(
                    {**common, "estimate": est, "same": est.default, "flipped": value}
                )
                where.append((i, side))
    found = _run_bisections(bisections, jobs)
    by_key = {key: res for key, res in zip(where, found, strict=True)}
    rows = []
    for i, (est, lo_cost, lo_choice, hi_cost, hi_choice, ok) in enumerate(partial):
        costs = [c for c in (lo_cost, base_cost, hi_cost) if c is not None]
        lo_be = by_key.get((i, "low"), {})
        hi_be = by_key.get((i, "high"), {})
        assert est.low is not None and est.high is not None
        rows.append(
            SensitivityRow(
                figure=est.path,
                unit=unit_of(scenario.catalog, est),
                low=est.low,
                default=est.default,
                high=est.high,
                low_cost_usd=lo_cost,
                high_cost_usd=hi_cost,
                swing_usd=max(costs) - min(costs) if ok else None,
                low_choice=lo_choice,
                high_choice=hi_choice,
                break_even_low=lo_be.get("break_even"),
                break_even_high=hi_be.get("break_even"),
                break_even_halfwidth={
                    side: be["halfwidth"]
                    for side, be in (("low", lo_be), ("high", hi_be))
                    if "halfwidth" in be
                },
                source=est.source,
                range_source=est.range_source or "",
                status="solved" if ok else f"failed at an end of the range ({failed_why[i]})",
            )
        )
    rows.sort(key=lambda r: (-(r.swing_usd if r.swing_usd is not None else -1.0), r.figure))
    return Sensitivity(
        scenario=scenario.name,
        base_cost_usd=base_cost,
        base_choice=describe(base_choice),
        tolerance=tolerance,
        rows=rows,
        break_even_searched=break_even,
        stats={
            "seconds": time.perf_counter() - started,
            "solves": float(len(variants) + sum(b.get("steps", 0) for b in found)),
        },
    )
