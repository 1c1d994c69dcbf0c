"""Sweeps: the grid (cartesian product) of what-ifs over one scenario, solved in parallel.

    import planner
    sw = planner.sweep("planner/scenarios/rl-verifiers.yaml",
                       {"workloads.rl-code.samples_per_problem": [4, 16, 64]},
                       scenarios=["rainier", "nvl72"], jobs=2)
    sw.points                          # one record per point: inputs, then outputs
    sw["samples_per_problem=16 scenario=nvl72"]["total_cost_usd"]
    sw.plan("samples_per_problem=16 scenario=nvl72")   # the full Plan of a point (*)
    sw.to_csv(); sw.to_json()          # deterministic: the same input gives the same bytes

Axes: each `grid` entry is a dotted field path and its values (what `--set path=v1,v2` gives;
a value is read as YAML, so '200 MW' and 32 both work; `topology` is a field too). `scenarios`
is one more axis over the file's named overrides: each value is a name, several joined by '+'
(applied in order), or '' for none. Points run in the order of the product, the last axis
fastest. A point's name is `field=value` per axis joined by spaces (the field's last part when
that is unambiguous), or "base" when there is no axis.

(*) Only each point's outputs (the records the CSV, JSON, frame and plots use) come back to
this process, so its memory does not grow with the plans; plan() reads a point's plan from the
cache or solves that point again. keep_plans=True keeps every full plan instead.

A point that is infeasible or fails (bad value, solver failure) is recorded with its status,
error and diagnosis; the sweep goes on.

Cache (only with out_dir): a point's key is the sha256 of the resolved scenario - the validated
ScenarioData (model_dump(mode="json")), the topology and catalog data, the solve options and
the planner's code - as canonical JSON. Results (solved and infeasible) are kept in
out_dir/.cache/<key>.json and reused by a later sweep over the same points ("cached": true in
`points`; left out of the CSV and JSON so they stay byte-identical). Delete the folder (or pass
use_cache=False / --no-cache) after changing the planner's code.

Executors: "auto" (the default: Ray when a cluster address is given and Ray is installed, else
"process"; Sweep.executor says which ran and why), "process"
(concurrent.futures.ProcessPoolExecutor with `jobs` workers, spawned; jobs=1 runs in this
process) or "ray" (imported lazily; connects to `ray_address` or RAY_ADDRESS, else
starts a local instance and shuts it down at the end; an instance already initialised by the
caller is used as is). Ray workers need the planner installed; they read the cache where out_dir
is visible to them, and this process writes it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import json
import numbers
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetcore.errors import ConfigError, PlannerError, Problem
from planner.comparison import (
    AFTER_HORIZON_CONTINUES,
    basis_metrics,
    error_metrics,
    plan_metrics,
)
from planner.plan import Plan, round_floats
from planner.plots import pyplot, save_png

CACHE_FORMAT = 1
# Keys of a record that depend on the run, not on the input: kept out of CSV and JSON.
VOLATILE = ("cached",)


class MissingDependency(PlannerError):
    """An optional dependency (Ray) is not installed."""

    exit_code = 1


class SweepFailed(PlannerError):
    """Every point of a sweep failed; exit code of the first failure."""

    def __init__(self, message: str, exit_code: int):
        self.exit_code = exit_code
        super().__init__(message)


# -- axes and points ------------------------------------------------------------------------
def split_values(raw: str) -> list[str]:
    """Split `v1,v2,v3` on the commas outside brackets, braces and quotes."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in raw:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def parse_set_axes(sets: Iterable[str]) -> dict[str, list[str]]:
    """`--set path=v1,v2` options -> {path: [YAML texts]} (a repeated path adds values)."""
    grid: dict[str, list[str]] = {}
    problems = []
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(
                Problem(f"<--set {item}>", None, "", "expected path.to.field=v1,v2,...")
            )
            continue
        values = split_values(raw)
        grid.setdefault(key.strip(), []).extend(values)
    if problems:
        raise ConfigError(problems)
    return grid


def _yaml_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


@dataclass(frozen=True)
class Point:
    index: int
    name: str
    inputs: dict[str, Any]  # axis -> value as read (YAML), for the records
    overrides: tuple[str, ...]
    sets: tuple[str, ...]


def grid_points(
    grid: dict[str, list[Any]],
    scenarios: Iterable[str | None] | None = None,
    base_scenarios: Iterable[str] = (),
    base_sets: Iterable[str] = (),
) -> list[Point]:
    """The cartesian product of the axes, last axis fastest."""
    # An axis is a list of values: a bare value (a number, or a string, which would be swept
    # letter by letter) is bad input naming the axis, not a TypeError or a nonsense sweep.
    scalar = [path for path, values in grid.items() if not isinstance(values, list | tuple | range)]
    if scalar:
        raise ConfigError(
            [
                Problem(
                    f"<sweep {p}>",
                    None,
                    p,
                    f"an axis is a list of values, got {grid[p]!r}: write [{grid[p]!r}]",
                )
                for p in scalar
            ]
        )
    axes: list[tuple[str, list[str]]] = [
        (path, list(dict.fromkeys(_yaml_text(v) for v in values))) for path, values in grid.items()
    ]
    if scenarios is not None:
        axes.append(
            ("scenario", list(dict.fromkeys("" if s is None else str(s) for s in scenarios)))
        )
    empty = [path for path, values in axes if not values]
    if empty:
        raise ConfigError([Problem(f"<sweep {p}>", None, p, "no values to sweep") for p in empty])
    short = {path: _short(path, [p for p, _ in axes]) for path, _ in axes}
    points = []
    for i, combo in enumerate(itertools.product(*(values for _, values in axes))):
        overrides = list(base_scenarios)
        sets = list(base_sets)
        inputs: dict[str, Any] = {}
        parts = []
        for (path, _), text in zip(axes, combo, strict=True):
            if path == "scenario" and scenarios is not None:
                overrides += [s for s in text.split("+") if s]
                inputs["scenario"] = text
            else:
                sets.append(f"{path}={text}")
                inputs[path] = _yaml_value(text)
            parts.append(f"{short[path]}={text}")
        points.append(Point(i, " ".join(parts) or "base", inputs, tuple(overrides), tuple(sets)))
    return points


def axis_number(value: Any) -> float | None:
    """A swept value as a number: 32, '10M' (a count), '50 MW' (a quantity, SI); else None."""
    from fleetcore.units import UNITS, parse_count, parse_quantity

    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    for parse in [parse_count, *(lambda v, d=d: parse_quantity(v, d) for d in UNITS)]:
        try:
            return float(parse(value))
        except ValueError:
            continue
    return None


def _short(path: str, paths: list[str]) -> str:
    last = path.rsplit(".", 1)[-1]
    return last if sum(p.rsplit(".", 1)[-1] == last for p in paths) == 1 else path


# -- solving one point (runs in a worker process or on Ray) ---------------------------------
@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the planner's Python sources (planner/, hardware/, topologies/)."""
    import hardware
    import topologies

    digest = hashlib.sha256()
    for package in (
        Path(__file__).parent,
        Path(hardware.__file__).parent,
        Path(topologies.__file__).parent,
    ):
        for path in sorted(package.rglob("*.py")):
            digest.update(str(path.relative_to(package.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def scenario_key(scenario: Any, options: dict[str, Any]) -> str:
    """sha256 of the resolved scenario: validated ScenarioData, topology and catalog data,
    solve options (the CLI's over the scenario's) and the planner's own code (so a cached point
    is never reused by a planner that would solve it differently)."""
    planner_version = code_fingerprint()
    solver = scenario.data.solver
    resolved = {
        "relax": bool(options.get("relax")),
        "solver": options.get("solver") or solver.solver,
        "mip_gap": solver.mip_gap if options.get("mip_gap") is None else options["mip_gap"],
        "time_limit_s": solver.time_limit_s
        if options.get("time_limit_s") is None
        else options["time_limit_s"],
        "method": solver.method,
    }
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "planner": planner_version,
            "scenario": scenario.data.model_dump(mode="json"),
            "topology": scenario.topology.data.model_dump(mode="json"),
            "catalog": scenario.catalog.data.model_dump(mode="json"),
            "solve": resolved,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Load, look up the cache, else solve one point. Never raises: failures become records.

    task: scenario_path, overrides, sets, options (relax, solver, time_limit_s, mip_gap),
    cache_dir (or None), keep_plan (default True). Returns {key, cached, outputs, plan (dict or
    None)}; the plan is left out (None) when keep_plan is false and there is no cache to write it
    to, so a worker sends back only the point's outputs.
    """
    from planner.api import solve
    from planner.lp.transfer import kept_solver
    from planner.scenario import load_scenario

    key = None
    try:
        scenario = load_scenario(
            task["scenario_path"], scenarios=list(task["overrides"]), sets=list(task["sets"])
        )
        cache_dir = task.get("cache_dir")
        if cache_dir:
            # The key (a hash of the resolved scenario and catalog) only names cache entries.
            key = scenario_key(scenario, task["options"])
            hit = _read_cache(Path(cache_dir) / f"{key}.json", key)
            if hit is not None and "malformed" in hit:  # recomputed below, and reported
                task = {**task, "cache_note": hit["malformed"]}
            elif hit is not None:
                if hit["plan"] is not None:
                    hit["plan"]["scenario"] = scenario.name
                return {"key": key, "cached": True, "outputs": hit["outputs"], "plan": hit["plan"]}
        with kept_solver(task.get("reuse_solver", True)):
            plan = solve(scenario, **task["options"])
        plan_dict = None
        if task.get("keep_plan", True) or cache_dir:
            plan_dict = json.loads(plan.to_json())
            plan_dict["checks"] = list(plan.checks)
        out = {"key": key, "cached": False, "outputs": point_outputs(plan), "plan": plan_dict}
        return {**out, "cache_note": task.get("cache_note")}
    except PlannerError as exc:
        out = {"key": key, "cached": False, "outputs": error_metrics(exc), "plan": None}
        return {**out, "cache_note": task.get("cache_note")}
    except Exception as exc:  # noqa: BLE001 - a bug in one point must not stop the sweep
        out = error_metrics(exc)
        out["status"] = "failed"
        return {"key": None, "cached": False, "outputs": out, "plan": None}


# The numeric outputs every planned point has (point_outputs), and the prefixes of those per
# system, site or workload ("units:gb200-nvl72"): what --y may plot, known before any solve.
NUMERIC_COLUMNS = (
    "total_cost_usd",
    "gap",
    "accelerators",
    "cpu_servers",
    "cpu_cores",
    "cores_per_accelerator",
    "facility_power_w",
)
# Only when a point is discounted (economics.discount_rate): its rate (0 for a point at face
# value) and its charges at face value, comparable across every point.
BASIS_COLUMNS = ("discount_rate", "nominal_cost_usd")
# Only when a point has economics.after_horizon ends: each point's after_horizon ("continues"
# for the others), whose total_cost_usd charges whole capex and contract terms where it ends.
AFTER_HORIZON_COLUMN = "after_horizon"
PER_NAME_COLUMNS = {
    "units": "system",
    "accelerators": "system",
    "facility_power_w": "site",
    "cost_usd": "workload",
}


def check_plot_options(y: str, swept: bool, plotting: bool) -> None:
    """ConfigError, before any point is solved, for a --y that names no numeric output column a
    sweep makes (NUMERIC_COLUMNS, or PREFIX:NAME with a PER_NAME_COLUMNS prefix; whether NAME
    is in the points' systems, sites or workloads is known only after they are solved) and for
    --plot without a swept field."""
    problems = []
    prefix, sep, name = y.partition(":")
    if y not in NUMERIC_COLUMNS and not (sep and prefix in PER_NAME_COLUMNS and name):
        per_name = ", ".join(f"{k}:<{v}>" for k, v in PER_NAME_COLUMNS.items())
        problems.append(
            Problem(
                "<--y>",
                None,
                "y",
                f"no numeric output column {y!r}; columns: {', '.join(NUMERIC_COLUMNS)}, "
                f"{per_name}",
            )
        )
    if plotting and not swept:
        problems.append(
            Problem(
                "<--plot>", None, "", "a plot needs at least one swept field (--set or --scenario)"
            )
        )
    if problems:
        raise ConfigError(problems)


# The per-name columns' names a point has: systems and sites of its topology (plan.fleet and
# plan.power list every pool and site, bought or not), workloads and the cost split's own rows.
COST_ROWS_NOT_WORKLOADS = ("(idle)", "(shared)")


def check_y_name(y: str, scenario_path: str | Path | None, points: list[Point]) -> None:
    """ConfigError, before any point is solved, for a --y PREFIX:NAME whose NAME is no system,
    site or workload of any point's scenario (each point loaded with its overrides and sets; a
    point that does not load is left to fail as its own bad input)."""
    from planner.scenario import load_scenario, scenario_path_arg

    prefix, sep, name = y.partition(":")
    if not sep or prefix not in PER_NAME_COLUMNS:
        return
    kind = PER_NAME_COLUMNS[prefix]
    known: set[str] = set()
    path = scenario_path_arg(scenario_path, "planner.sweep")
    for p in points:
        try:
            sc = load_scenario(path, scenarios=list(p.overrides), sets=list(p.sets))
        except ConfigError:
            continue
        if kind == "system":
            known.update(sc.topology.system_names())
        elif kind == "site":
            known.update(sc.topology.datacenters())
        else:
            known.update(sc.data.workloads)
            known.update(COST_ROWS_NOT_WORKLOADS)
    if not known or name in known:
        return
    where = (
        f"in the topology of any point; {kind}s"
        if kind != "workload"
        else "in any point; workloads"
    )
    raise ConfigError(
        [Problem("<--y>", None, "y", f"no {kind} {name!r} {where}: {', '.join(sorted(known))}")]
    )


def point_outputs(plan: Plan) -> dict[str, Any]:
    """A solved point's flat outputs (the columns of sweep.csv)."""
    from planner.decision import label_days

    m = plan_metrics(plan)
    out: dict[str, Any] = {
        "status": m["status"],
        "total_cost_usd": m["total_cost_usd"],
        "gap": m["gap"],
        "accelerators": m["accelerators"],
        "cpu_servers": m["cpu_servers"],
        "cpu_cores": m["cpu_cores"],
        "cores_per_accelerator": m["cores_per_accelerator"],
        "facility_power_w": m["facility_power_w"],
    }
    units: dict[str, float] = {}
    accs: dict[str, float] = {}
    for f in plan.fleet:
        units[f.system] = units.get(f.system, 0.0) + f.units
        accs[f.system] = accs.get(f.system, 0.0) + f.accelerators
    for s in sorted(units):
        out[f"units:{s}"] = units[s]
    for s in sorted(accs):
        out[f"accelerators:{s}"] = accs[s]
    for dc, w in sorted(m["facility_power_w_by_site"].items()):
        out[f"facility_power_w:{dc}"] = w
    for w, c in sorted(m["cost_by_workload_usd"].items()):
        out[f"cost_usd:{w}"] = c
    out.update(basis_metrics(plan))
    out["binding_constraints"] = m["binding_constraints"]
    # each label with its period's days, as compare's row reads them ("cpu:dc-east:t2 (days
    # 182.5-273.75)"): the bare index is defined nowhere in a sweep's output
    out["binding_constraints_days"] = [label_days(b, plan) for b in m["binding_constraints"]]
    out["error"] = None
    out["diagnosis"] = []
    out["exit_code"] = 0
    return out


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    """The cached entry, None when there is none, or {"malformed": reason} for an entry that
    cannot be used (the point is then recomputed, the entry rewritten, and the sweep says so)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"malformed": f"{path}: unreadable ({exc.__class__.__name__}); recomputed"}
    data = data if isinstance(data, dict) else {}
    outputs, plan = data.get("outputs"), data.get("plan")
    fields = ("status", "error", "diagnosis", "exit_code")
    if (
        data.get("key") != key
        or not isinstance(outputs, dict)
        or not all(f in outputs for f in fields)
        or not (plan is None or isinstance(plan, dict))
    ):
        return {"malformed": f"{path}: not a cache entry of this point; recomputed"}
    return {"outputs": outputs, "plan": plan}


def _write_cache(cache_dir: Path, result: dict[str, Any]) -> None:
    if (
        result["key"] is None
        or result["cached"]
        or result["outputs"]["status"] not in ("optimal", "feasible", "relaxed", "infeasible")
    ):
        return  # bad input and solver failures are not cached: they may be fixed or transient
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{result['key']}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {
                "key": result["key"],
                "outputs": round_floats(result["outputs"]),
                "plan": result["plan"],
            },
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    os.replace(tmp, path)


# -- the collection -------------------------------------------------------------------------
@dataclass
class Sweep:
    """A sweep's points: records of inputs then outputs, indexed by point name (or position)."""

    scenario: str
    axes: list[str]
    points: list[dict[str, Any]]
    # Full plans (plan dicts) by point name: all of them with keep_plans=True; otherwise only
    # those asked for through plan(), re-solved then from `tasks` (or read from the cache).
    plans: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)
    cache_notes: list[str] = field(default_factory=list)  # malformed entries recomputed
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    executor: str = ""  # where the points ran, and why (choose_executor)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self):
        return iter(self.points)

    def __getitem__(self, key: str | int) -> dict[str, Any]:
        if isinstance(key, int):
            return self.points[key]
        for p in self.points:
            if p["point"] == key:
                return p
        raise KeyError(f"no point named {key!r}; points: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [p["point"] for p in self.points]

    @property
    def solved(self) -> int:
        """Points solved in this run (not reused from the cache)."""
        return sum(
            1 for p in self.points if not p["cached"] and p["status"] not in ("bad_input", "failed")
        )

    @property
    def reused(self) -> int:
        return sum(1 for p in self.points if p["cached"])

    def plan(self, name: str | int) -> Plan | None:
        """The full Plan of a solved point (None for a failed one). A sweep run without
        keep_plans solves the point again here (in this process; the same model gives the same
        plan) or reads it from the cache, and keeps it."""
        point = self[name]
        key = point["point"]
        if key not in self.plans and key in self.tasks:
            self.plans[key] = run_point({**self.tasks[key], "keep_plan": True})["plan"]
        data = self.plans.get(key)
        return None if data is None else Plan.from_dict(data)

    def columns(self) -> list[str]:
        """CSV columns: point, the axes, then every output any point has (fixed order)."""
        fixed = ["status", *NUMERIC_COLUMNS]
        if self.discounted():
            fixed += list(BASIS_COLUMNS)
        if self.after_horizon_ends():
            fixed.append(AFTER_HORIZON_COLUMN)
        extra = sorted({k for p in self.points for k in p if ":" in k})
        tail = ["binding_constraints", "binding_constraints_days", "error", "diagnosis"]
        tail.append("exit_code")
        return ["point", *self.axes, *fixed, *extra, *tail]

    def discounted(self) -> bool:
        """Whether any point's total cost is a present value (economics.discount_rate)."""
        return any("discount_rate" in p for p in self.points)

    def after_horizon_ends(self) -> bool:
        """Whether any point charges whole capex and contract terms (economics.after_horizon
        ends)."""
        return any(AFTER_HORIZON_COLUMN in p for p in self.points)

    def mixed_after_horizon(self) -> bool:
        """Whether the planned points mix economics.after_horizon continues and ends: their
        total_cost_usd then charges the rest of a unit's life and of a term in some, not in
        others."""
        planned = [p for p in self.points if p["status"] in ("optimal", "feasible", "relaxed")]
        ends = sum(AFTER_HORIZON_COLUMN in p for p in planned)
        return 0 < ends < len(planned)

    def mixed_bases(self) -> list[float]:
        """The distinct discount rates of the planned points (0: at face value) when there is
        more than one: their total_cost_usd then compares different bases."""
        rates = {
            p.get("discount_rate", 0.0)
            for p in self.points
            if p["status"] in ("optimal", "feasible", "relaxed")
        }
        return sorted(rates) if len(rates) > 1 else []

    def records(self) -> list[dict[str, Any]]:
        """Points without run-dependent keys ('cached'), every column present, floats rounded."""
        cols = self.columns()
        out = []
        for p in self.points:
            rec = {c: p.get(c) for c in cols}
            if p["status"] in ("optimal", "feasible", "relaxed"):
                for c in cols:  # a system or site absent from this point's topology: 0
                    if ":" in c and rec[c] is None:
                        rec[c] = 0.0
                if "discount_rate" in cols and rec["discount_rate"] is None:  # at face value
                    rec["discount_rate"] = 0.0
                    rec["nominal_cost_usd"] = rec["total_cost_usd"]
                if AFTER_HORIZON_COLUMN in cols and rec[AFTER_HORIZON_COLUMN] is None:
                    rec[AFTER_HORIZON_COLUMN] = AFTER_HORIZON_CONTINUES
            out.append(round_floats(rec))
        return out

    def frame(self) -> Any:
        """pandas DataFrame: one row per point, the axes then the outputs (planner/frames.py)."""
        from planner.frames import sweep_frame

        return sweep_frame(self)

    def _repr_html_(self) -> str:
        from planner.frames import frame_repr_html

        return frame_repr_html(self.frame(), f"Sweep {self.scenario} over {', '.join(self.axes)}")

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(
            {"scenario": self.scenario, "axes": self.axes, "points": self.records()},
            indent=indent,
            sort_keys=True,
        )

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        for rec in self.records():
            writer.writerow(
                {
                    k: (
                        ";".join(str(x) for x in v)
                        if isinstance(v, list)
                        else json.dumps(v, sort_keys=True)
                        if isinstance(v, dict)
                        else ""
                        if v is None
                        else v
                    )
                    for k, v in rec.items()
                }
            )
        return buf.getvalue()

    def write(self, out_dir: str | Path) -> list[Path]:
        from fleetcore.outfile import ensure_dir, write_text  # whole or not at all

        out = ensure_dir(out_dir)
        return [
            write_text(out / "sweep.csv", self.to_csv()),
            write_text(out / "sweep.json", self.to_json() + "\n"),
        ]

    def plot(self, path: str | Path, y: str = "total_cost_usd") -> Path:
        """`y` (a numeric output column) against the first axis; one line per combination of
        the other axes. Numeric values (with units or SI suffixes: '50 MW', '10M') are placed
        on a numeric axis, logarithmic when they span two decades or more; y starts at zero;
        infeasible and failed points are marked with a red x and their status."""
        if not self.axes:
            raise ConfigError(
                [Problem("<--plot>", None, "", "a plot needs at least one swept field")]
            )
        records = self.records()
        if y not in self.columns():
            raise ConfigError(
                [
                    Problem(
                        "<--y>",
                        None,
                        "y",
                        f"no output column {y!r}; columns: {', '.join(self.columns())}",
                    )
                ]
            )
        plt = pyplot()
        x_axis, others = self.axes[0], self.axes[1:]
        xs_all = list(dict.fromkeys(r[x_axis] for r in records))
        numbers = {v: axis_number(v) for v in xs_all}
        numeric = all(n is not None for n in numbers.values())
        series: dict[str, list[tuple[Any, float]]] = {}
        failed: list[tuple[Any, str]] = []
        for r in records:
            label = " ".join(f"{_short(a, self.axes)}={r[a]}" for a in others) or y
            x = numbers[r[x_axis]] if numeric else xs_all.index(r[x_axis])
            if isinstance(r.get(y), (int, float)) and not isinstance(r.get(y), bool):
                series.setdefault(label, []).append((x, r[y]))
            else:
                series.setdefault(label, [])
                failed.append((x, str(r["status"])))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        scale, unit = (1e6, " ($M)") if y.startswith(("total_cost_usd", "cost_usd")) else (1.0, "")
        for label, pts in series.items():
            ax.plot([p[0] for p in pts], [p[1] / scale for p in pts], marker="o", label=label)
        ax.set_ylim(bottom=0)
        for x, status in failed:  # infeasible or failed points: marked on the x axis
            ax.plot([x], [0], marker="x", color="#d62728", markersize=9, clip_on=False)
            ax.annotate(
                status,
                (x, 0),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
                color="#d62728",
            )
        if numeric:
            values = [n for n in numbers.values() if n is not None]
            if min(values) > 0 and max(values) / min(values) >= 100:
                ax.set_xscale("log")
            ax.set_xticks(values)
            ax.set_xticklabels([str(v) for v in xs_all])
        else:
            ax.set_xticks(range(len(xs_all)))
            ax.set_xticklabels([str(v) for v in xs_all])
        ax.set_xlabel(x_axis)
        ax.set_ylabel(y + unit)
        ax.set_title(f"{self.scenario}: {y} vs {_short(x_axis, self.axes)}")
        if others:
            ax.legend()
        return save_png(fig, path)


# -- running a sweep ------------------------------------------------------------------------
def sweep(
    scenario_path: str | Path | None,
    grid: dict[str, list[Any]] | None = None,
    scenarios: Iterable[str | None] | None = None,
    *,
    base_scenarios: Iterable[str] = (),
    sets: Iterable[str] = (),
    jobs: int = 1,
    executor: str = "auto",
    ray_address: str | None = None,
    out_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    keep_plans: bool = False,
    relax: bool = False,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    keep_solver: bool = True,
    order: Iterable[int] | None = None,
) -> Sweep:
    """Solve every point of the grid; see the module docstring.

    grid: {"dotted.path": [values]}; scenarios: an axis over named overrides ('a+b' for both,
    '' or None for none), or None for no such axis; base_scenarios / sets: applied to every
    point. out_dir: write sweep.csv and sweep.json there and use out_dir/.cache. progress is
    called with each point's record as it finishes (in completion order).

    keep_plans: keep every point's full plan in this process (about 0.5 MiB a point on the
    default scenario). Without it only each point's outputs (the records: what the CSV, JSON and
    plots use) are kept, so memory does not grow with the plans, and Sweep.plan(name) solves
    that one point again when asked.

    keep_solver: each process keeps one HiGHS object for its points instead of a new one per
    point; every point is still solved from nothing (planner/lp/transfer.py `kept_solver`),
    so the results are the same bytes either way (tests/test_kept_solver.py). False (`planner
    sweep --fresh-solver`) makes a new object per point, as before session 19.

    order: the points' indices in the order to solve them (default: the grid's). The records
    keep the grid's order; a test solves the same grid forwards, backwards and shuffled.
    """
    from planner.scenario import jobs_arg, names_arg, scenario_path_arg, solver_args

    path = str(scenario_path_arg(scenario_path, "planner.sweep"))
    jobs = jobs_arg(jobs, "planner.sweep")
    if scenarios is not None:
        scenarios = names_arg(scenarios, "planner.sweep", "scenarios")
    base_scenarios = names_arg(base_scenarios, "planner.sweep", "base_scenarios")
    sets = names_arg(sets, "planner.sweep", "sets")
    if grid is not None and not isinstance(grid, dict):
        raise ConfigError(
            [
                Problem(
                    "<planner.sweep>",
                    None,
                    "grid",
                    f'expected {{"dotted.path": [values]}}, got a {type(grid).__name__}',
                )
            ]
        )
    points = grid_points(dict(grid or {}), scenarios, base_scenarios, sets)
    axes = list(points[0].inputs) if points else []
    if out_dir is not None:
        from fleetcore.outfile import ensure_dir

        ensure_dir(out_dir)  # a folder that cannot be made fails before any point is solved
    cache_dir = Path(out_dir) / ".cache" if (out_dir is not None and use_cache) else None
    solver_args(
        "planner.sweep", {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    )
    options = {"relax": relax, "solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    tasks = [
        {
            "scenario_path": path,
            "overrides": p.overrides,
            "sets": p.sets,
            "options": options,
            "cache_dir": str(cache_dir) if cache_dir else None,
            "keep_plan": keep_plans,
            "reuse_solver": keep_solver,
        }
        for p in points
    ]
    sequence = list(range(len(tasks))) if order is None else list(order)
    # whole indices only, numpy's too (a float 1.0 sorts and compares as 1, then fails as a list
    # index)
    whole = all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in sequence)
    if not whole or sorted(sequence) != list(range(len(tasks))):
        raise ValueError(f"order must be a permutation of the {len(tasks)} points' indices")
    sequence = [int(i) for i in sequence]
    results: dict[int, dict[str, Any]] = {}

    def done(i: int, result: dict[str, Any]) -> None:
        if cache_dir is not None:
            _write_cache(cache_dir, result)
        if not keep_plans:
            result = {**result, "plan": None}  # written to the cache above; not kept here
        results[i] = result
        if progress is not None:
            progress(_record(points[i], result))

    executor, why = choose_executor(executor, jobs, ray_address)
    if executor == "ray":
        _run_ray(tasks, done, ray_address, sequence)
    elif executor in ("process", "local"):
        if jobs <= 1 or len(tasks) <= 1:
            for i in sequence:
                done(i, run_point(tasks[i]))
        else:
            _run_pool(tasks, done, jobs, sequence)
    else:
        raise ConfigError(
            [
                Problem(
                    "<--executor>",
                    None,
                    "executor",
                    f"unknown executor {executor!r}; use auto, process or ray",
                )
            ]
        )

    records = [_record(p, results[p.index]) for p in points]
    plans = {p.name: results[p.index]["plan"] for p in points} if keep_plans else {}
    result = Sweep(
        scenario=Path(path).stem,
        axes=axes,
        points=records,
        plans=plans,
        tasks={p.name: tasks[p.index] for p in points},
        executor=why,
    )
    result.cache_notes = [r["cache_note"] for r in results.values() if r.get("cache_note")]
    if out_dir is not None:
        result.write(out_dir)
    return result


# Measured (issue 14): a local Ray instance costs ~6 s of start-up on one machine and brings no
# CPUs the process pool lacks, so `auto` uses Ray only for a cluster.
RAY_LOCAL_START_S = 6


def choose_executor(executor: str, jobs: int, ray_address: str | None) -> tuple[str, str]:
    """(executor, why): "auto" runs on Ray when a cluster address is given (ray_address or
    RAY_ADDRESS) and Ray is installed, else in local processes; "process" and "ray" as asked."""
    workers = f"{jobs} local worker process{'es' if jobs != 1 else ''}"
    if executor in ("process", "local"):
        return "process", f"process: {workers} (--executor process)"
    if executor == "ray":
        return "ray", "ray: asked for (--executor ray)"
    if executor != "auto":
        return executor, ""  # refused by the caller with the list of executors
    address = ray_address or os.environ.get("RAY_ADDRESS")
    if not address:
        return "process", (
            f"process: {workers}; Ray not used: no cluster address (--ray-address or "
            f"RAY_ADDRESS), and a local Ray instance adds ~{RAY_LOCAL_START_S} s of start-up"
        )
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return "process", (
            f"process: {workers}; Ray not used: a cluster address is set ({address}) but Ray "
            "is not installed (pip install -e '.[ray]')"
        )
    return "ray", f"ray: the cluster at {address}"


def _record(point: Point, result: dict[str, Any]) -> dict[str, Any]:
    return {"point": point.name, **point.inputs, **result["outputs"], "cached": result["cached"]}


def _run_pool(
    tasks: list[dict[str, Any]],
    done: Callable[[int, dict[str, Any]], None],
    jobs: int,
    sequence: list[int] | None = None,
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: the parent may hold solver threads; a forked child could deadlock.
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        order = range(len(tasks)) if sequence is None else sequence
        futures = {pool.submit(run_point, tasks[i]): i for i in order}
        for future in as_completed(futures):
            i = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died: record it, go on
                result = {
                    "key": None,
                    "cached": False,
                    "outputs": {**error_metrics(exc), "status": "failed"},
                    "plan": None,
                }
            done(i, result)


def ray_module():
    """Import Ray, or say how to install it (exit code 1)."""
    try:
        import ray  # noqa: PLC0415 - optional dependency, imported only when asked for
    except ImportError:
        raise MissingDependency(
            "--executor ray needs Ray, which is not installed: pip install -e '.[ray]'"
        ) from None
    return ray


def _run_ray(
    tasks: list[dict[str, Any]],
    done: Callable[[int, dict[str, Any]], None],
    address: str | None,
    sequence: list[int],
) -> None:
    ray = ray_module()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        from planner.rayconnect import connect

        connect(ray, kwargs)  # fails within RAY_CONNECT_TIMEOUT_S on an unreachable address
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
        pending = {remote.remote(tasks[i]): i for i in sequence}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost worker: record it, go on
                    result = {
                        "key": None,
                        "cached": False,
                        "outputs": {**error_metrics(exc), "status": "failed"},
                        "plan": None,
                    }
                done(i, result)
    finally:
        if started:
            ray.shutdown()
