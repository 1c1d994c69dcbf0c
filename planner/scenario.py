"""Scenario files: which topology, which work, which economics, and named what-if overrides.

Loading order: read YAML -> apply named overrides (`--scenario a,b`) and `--set path=value` to
the raw data (their lines stay traceable) -> validate -> load catalog overlays and the topology
(with `topology_changes` merged over it) -> cross-reference checks. All problems are collected
and raised together as one ConfigError.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationInfo, field_validator

from fleetcore.errors import ConfigError, Problem
from fleetcore.schema import Date, Name, Strict
from fleetcore.suggest import hint
from fleetcore.yamlio import MAX_DEPTH, Doc, Loc, load_yaml, merge, parse_value, validate
from hardware.catalog import Catalog, load_catalog
from hardware.schema import PositiveDuration
from planner.kinds import Workload, check_workload_refs
from planner.kinds.inference import context_problems, headroom_problems
from planner.kinds.pretrain import (
    layout_model_problems,
    multi_site_layout_problems,
    sizing_problems,
)
from planner.kinds.rl import context_problems as rl_context_problems
from planner.kinds.rl import generator_problems
from topologies.builder import (
    Topology,
    is_topology_path,
    resolve_topology_doc,
    topology_from_doc,
)

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = SCENARIO_DIR / "frontier-3y.yaml"
# `planner compare` runs one scenario on several topologies; frontier-3y adds racks to multi-dc's
# own sites, so the single-year frontier-lab (no topology changes) is compare's default.
COMPARE_DEFAULT_SCENARIO = SCENARIO_DIR / "frontier-lab.yaml"


def shipped_scenario(value: str) -> str:
    """A shipped scenario's name ("rl-verifiers") as its path when no such file exists here;
    anything else unchanged (a missing file is reported by the loader)."""
    if "/" in value or "\\" in value or Path(value).exists():
        return value
    candidate = SCENARIO_DIR / f"{value.removesuffix('.yaml')}.yaml"
    return str(candidate) if candidate.exists() else value


class Economics(Strict):
    """How hardware is paid for over the planning horizon."""

    horizon_s: PositiveDuration = Field(alias="horizon")
    # The fleet may change at the start of every period of this length (orders arrive, rentals
    # start and end); None: one fleet for the whole horizon.
    period_s: PositiveDuration | None = Field(None, alias="period")
    # amortised: buy new units (capital recovery over the lifetime at cost_of_capital, plus
    # energy); rental: rent units on demand, period by period, at rental_usd_per_hour (energy
    # included); mixed: the cheaper of the two, pool by pool and period by period. Owned units
    # pay only their energy.
    pricing: Literal["amortised", "rental", "mixed"]
    # Yearly cost of capital: capex is recovered as an annuity over the lifetime,
    # capex x r / (1 - (1 + r)^-lifetime_years) per year in service (0: straight line,
    # capex / lifetime_years). Finance convention: 8-12%/year.
    cost_of_capital: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Yearly discount rate of a present-value objective: every charge of calendar period t
    # weighs 1 / (1 + r)^(mid_t / year), mid_t its period's middle from the horizon start
    # (charges accrue through the period). Absent: charges at face value (no discounting).
    discount_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    # What the fleet is worth after the horizon. continues: the need goes on, so a bought unit
    # is charged only the capital it recovers while it serves inside the horizon and a term
    # contract only the periods it covers inside it (the rest taken as worth what it costs).
    # ends: nothing after the horizon has value: a bought unit is charged its whole capex (with
    # its network and storage share; no residual or resale value) when paid for, a term
    # contract signed in the horizon all its payments, past the horizon too.
    after_horizon: Literal["continues", "ends"] = "continues"
    # With after_horizon ends: the market share f of its straight-line remaining value a
    # bought unit still in its life at the horizon's end H is sold for then: f x capex x (life
    # left at H / lifetime), birth = its arrival period's start; received at H, in its own
    # cash-flow row (a user input; 0: no resale value). Not with continues (the rest of a
    # unit's life is then already left out of its charge).
    resale_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    # The calendar date the horizon starts on; needed when a placed system has available_from.
    start_date: Date | None = None
    # Most units of a system that can arrive (be delivered) per calendar period, all sites
    # together: {system: units}; overrides the catalog's supply_per_year.
    supply: dict[Name, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    # When bought units are paid for in the cash-flow table: at the order or at delivery.
    capex_paid_at: Literal["order", "delivery"] = "delivery"
    currency: Literal["USD"] = "USD"

    @field_validator("horizon_s")
    @classmethod
    def _horizon_at_most(cls, value: float) -> float:
        if value > MAX_HORIZON_S:
            raise ValueError(
                f"{value / SECONDS_PER_YEAR:,.6g} years is longer than the planner plans "
                f"(at most {MAX_HORIZON_S / SECONDS_PER_YEAR:g} years); check the unit"
            )
        return value

    @field_validator("period_s")
    @classmethod
    def _periods_at_most(cls, value: float | None, info: ValidationInfo) -> float | None:
        horizon = info.data.get("horizon_s")
        if value is not None and horizon is not None and horizon / value > MAX_PERIODS:
            raise ValueError(
                f"{horizon / value:,.0f} periods in the horizon; at most {MAX_PERIODS:,} (the "
                "model grows with its periods: one second a period ran out of memory): give a "
                "longer period"
            )
        return value


# A century; and at most this many periods a horizon (frontier-3y: 12; a daily year: 365).
# A planning year, as fleetcore/units.py reads "1 year" (365 days): a message that divides
# by it echoes the years written (1000 years was told "999 years is longer than ...").
SECONDS_PER_YEAR = 365 * 86400.0
MAX_HORIZON_S = 100 * SECONDS_PER_YEAR
MAX_PERIODS = 1000


class SolverOptions(Strict):
    """How the LP is solved. Defaults follow ../shared/DESIGN.md measurements. `reproducible`
    (default true): the same input gives the same plan, byte for byte, on every run, whatever
    the machine's load; false lets a large LP relaxation on the full path (150,000 columns and
    up) race dual simplex against interior point and keep the first to finish (faster where
    simplex stalls; the plan may then be another of the same cost from run to run, and its
    solver_notes say so). `time_limit` is a deadline for the whole plan: rating (checked before
    each workload), every solve of the re-rating and the diagnosis of an infeasible scenario
    share it, each getting what is left; a stage left no time is not run and the plan or the
    error says so. Not bounded: one workload's rating or a model's build once started,
    verification and the report (README "Speed"). A `time_limit` that
    stops a solve is a dependence on the clock the scenario asks for: the plan is then
    "feasible" and may differ run to run."""

    solver: Literal["highs", "cbc"] = "highs"
    mip_gap: float = Field(0.01, ge=0, le=1)
    # A deadline for the whole plan from planner.solve's start (planner/api.py): the re-rating's
    # solves, the held plan, the fast bound's path and the full path, the diagnosis of an
    # infeasible scenario, each given what is left.
    time_limit_s: PositiveDuration = Field(60.0, alias="time_limit")
    # HiGHS method for the LP relaxation and the rounded plan's re-solves: simplex, ipm
    # (interior point with crossover; the MIP after it is simplex) or choose (simplex below
    # 200,000 columns, interior point from there: planner/lp/solve.py IPM_COLUMNS).
    method: Literal["choose", "simplex", "ipm"] = "choose"
    # Build a start from the LP relaxation (planner/lp/incumbent.py): a start within mip_gap of
    # the relaxation is the plan, without the MIP search. auto: on from 1,000 model columns
    # (measured: faster on multi-period and fleet-scale models; below, HiGHS's MIP alone is
    # fast; README "Speed"); a start outside the gap goes to HiGHS's MIP, except from 50,000
    # columns, where it is the plan too ("feasible", its gap reported); true: a start outside
    # the gap goes to the MIP at any size; false: the MIP alone.
    incumbent: Literal["auto"] | bool = "auto"
    # The lower bound a plan's gap is proven against. full: the LP relaxation. auto: where the
    # rounded start is the plan (incumbent auto, from 50,000 columns) and serving tiers have
    # colocate rows, the relaxed aggregated LP (each tier's colocate rows summed over the sites,
    # its serving columns aggregated exactly: planner/lp/aggregate.py), a valid bound found in
    # seconds where the LP relaxation takes minutes; the plan is rounded from the LP on the
    # pools that bound's solution uses, and today's path runs, with what is left of
    # time_limit, when that misses the gap or fails (the cheaper plan kept, proven against the
    # higher of the two bounds: planner/lp/solve.py `solve_model`).
    bound: Literal["auto", "full"] = "auto"
    # true: the same input gives the same plan, byte for byte, on every run (README "Plan
    # JSON"): nothing the solve decides depends on the machine's load. false: a large LP
    # relaxation on the full path (150,000 columns and up, method choose: planner/lp/race.py)
    # is solved by dual simplex and interior point at once and the first to finish is kept:
    # faster where simplex stalls (155 s -> 58 s at 50 sites x 20 quarters), but where the
    # optimum is not unique the plan may be another of the same cost from run to run (its
    # solver_notes say so when the race ran).
    reproducible: bool = True


class ScenarioData(Strict):
    description: str = ""
    topology: str
    # Partial topology YAML merged over the named topology, e.g. to change a power cap.
    topology_changes: dict[str, Any] = Field(default_factory=dict)
    catalog: list[str] = Field(default_factory=list)
    economics: Economics
    workloads: dict[Name, Workload] = Field(min_length=1)
    solver: SolverOptions = SolverOptions()
    overrides: dict[Name, dict[str, Any]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with its catalog and topology resolved."""

    name: str
    file: str
    data: ScenarioData
    doc: Doc
    catalog: Catalog
    topology: Topology
    applied_overrides: tuple[str, ...]
    applied_sets: tuple[str, ...]
    # The `topology` argument it was loaded with (--topology), kept by override().
    topology_option: str | None = None

    def override(
        self, values: dict[str, Any] | None = None, scenarios: list[str] | None = None
    ) -> Scenario:
        """A new scenario with `{"dotted.path": value}` and named overrides applied."""
        if values is not None and not isinstance(values, dict):
            raise ConfigError(
                [
                    Problem(
                        "<Scenario.override>",
                        None,
                        "values",
                        f'expected {{"dotted.path": value}}, got a {type(values).__name__}',
                    )
                ]
            )
        named = names_arg(scenarios or [], "Scenario.override", "scenarios")
        sets = [f"{k}={_yaml_text(v)}" for k, v in (values or {}).items()]
        return load_scenario(
            self.file,
            scenarios=[*self.applied_overrides, *named],
            sets=[*self.applied_sets, *sets],
            topology=self.topology_option,
        )


def jobs_arg(value: Any, caller: str) -> int:
    """`jobs` of the Python API (worker processes): a whole number >= 1, as `--jobs` is; jobs=0
    ran without a word and jobs="2" was a TypeError deep in the pool."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            [Problem(f"<{caller}>", None, "jobs", f"expected a whole number >= 1, got {value!r}")]
        )
    return value


def solver_args(caller: str, given: dict[str, Any]) -> dict[str, Any]:
    """The solver arguments of the Python API (solver, mip_gap, time_limit_s, method; None: not
    given), validated strictly as the scenario's `solver:` block is and with the YAML path's
    messages: mip_gap="1%" says "write a share as a fraction (0.01)", a number as text or True
    is refused, not read as a number (qa28b: "1%" got pydantic's bare "unable to parse string
    as a number", "0.01" and True were taken as 0.01 and 1). time_limit_s takes seconds or a
    time with its unit ("1 min"). The validated values, by argument name; a ConfigError naming
    every bad argument (file `<caller>`)."""
    from pydantic import ValidationError

    from fleetcore.yamlio import problems_from

    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        field = "time_limit" if name == "time_limit_s" else name
        data = value
        if (
            name == "time_limit_s"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            if not math.isfinite(value) or value <= 0:
                why = f"expected seconds, a finite number > 0, got {value!r}"
                problems.append(Problem(f"<{caller}>", None, name, why))
                continue
            # seconds, as --time-limit gives them; the schema reads a time with its unit
            data = f"{float(value)!r} s"
        try:
            out[name] = getattr(SolverOptions.model_validate({field: data}, strict=True), name)
        except ValidationError as exc:
            for p in problems_from(exc, Doc({field: data}, f"<{caller}>")):
                why = p.message
                if name == "time_limit_s" and isinstance(value, str):
                    why += (
                        " (time_limit_s: seconds as a number, 60, or a time with its unit, '1 min')"
                    )
                if "got" not in why:
                    why += f" (got {value!r})"
                problems.append(Problem(f"<{caller}>", None, name, why))
    if problems:
        raise ConfigError(problems)
    return out


def names_arg(value: Any, caller: str, arg: str) -> list[str]:
    """A list argument of the Python API (override names, `path=value` sets, topologies); a bare
    string, which Python iterates letter by letter (scenarios="rental" applied overrides 'r',
    'e', ...), is a ConfigError saying to write a list, as a sweep's scalar axis is."""
    if isinstance(value, str):
        raise ConfigError(
            [
                Problem(
                    f"<{caller}>",
                    None,
                    arg,
                    f"expected a list, got the text {value!r}: write [{value!r}]",
                )
            ]
        )
    return list(value)


def scenario_path_arg(path: object, caller: str) -> str | Path:
    """The scenario argument of the Python API: a file path or a shipped scenario's name (None:
    the default); anything else (a loaded Scenario, a dict) is a ConfigError naming the caller,
    not "file not found" of the object's text."""
    if path is None:
        return DEFAULT_SCENARIO
    if isinstance(path, str | Path):
        return path
    what = "a loaded Scenario" if isinstance(path, Scenario) else f"a {type(path).__name__} value"
    raise ConfigError(
        [
            Problem(
                f"<{caller}>",
                None,
                "scenario",
                f"expected a scenario file path or a shipped scenario's name, got {what}",
            )
        ]
    )


def load_scenario(
    path: str | Path | None = None,
    scenarios: list[str] | tuple[str, ...] = (),
    sets: list[str] | tuple[str, ...] = (),
    topology: str | None = None,
) -> Scenario:
    """Load, override, validate and resolve a scenario file (the shipped default if None; a
    shipped scenario's name, e.g. "rl-verifiers", when no such file exists).

    scenarios: names of overrides defined in the file, applied in order.
    sets: "dotted.path=value" strings; the value is read as YAML ('200 MW', 32, true).
    topology: replace the scenario's topology (a preset name or a file path).

    Paths are relative to where they are written: `topology:` and `catalog:` in the scenario file
    (or its named overrides) to that file's folder; `topology` here and paths given with `sets`
    (the command line) to the working directory.
    """
    file = shipped_scenario(str(scenario_path_arg(path, "planner.load_scenario")))
    doc = load_yaml(file)
    doc = _apply_overrides(doc, names_arg(scenarios, "planner.load_scenario", "scenarios"))
    doc = _apply_sets(doc, names_arg(sets, "planner.load_scenario", "sets"))
    if topology is not None:
        doc = merge(
            doc,
            Doc({"topology": topology}, "<--topology>", {("topology",): ("<--topology>", None)}),
        )
    data = validate(ScenarioData, doc)
    problems: list[Problem] = []

    def line_of(loc: Loc) -> str:
        """`path, line N` (its file named when not the scenario's own: an overlay's line)."""
        file, line, path = doc.where(loc)
        if line is None:
            return path
        return f"{path}, line {line}" if file == doc.file else f"{path}, {file}:{line}"

    multi = multi_site_layout_problems(dict(data.workloads), line_of)
    problems.extend(doc.problem(loc, message) for loc, message in multi)
    base_dir = Path(file).parent
    catalog_files = [
        _relative(_base_dir(doc, ("catalog", i), base_dir), f) for i, f in enumerate(data.catalog)
    ]
    catalog = None
    try:
        catalog = load_catalog(catalog_files)
    except ConfigError as exc:
        problems.extend(
            # A catalog file that cannot be read is the scenario's error: point at its entry.
            _reanchor_file(p, doc, {str(f): ("catalog", i) for i, f in enumerate(catalog_files)})
            for p in exc.problems
        )
    topo = None
    if catalog is not None:
        topo_ref = _topology_ref(_base_dir(doc, ("topology",), base_dir), data.topology)
        topo_file = None
        known_sites: list[str] = []
        try:
            topo_doc = resolve_topology_doc(topo_ref)
            topo_file = topo_doc.file
            known_sites = _site_names(topo_doc)
            if data.topology_changes:
                changes = _sub_doc(doc, ("topology_changes",))
                topo_doc = merge(topo_doc, changes)
            topo = topology_from_doc(topo_doc, catalog)
        except ConfigError as exc:
            changed = []
            for p in exc.problems:
                if topo_file is not None and p.file != topo_file:
                    # A line of the scenario's topology_changes: name the path as written there.
                    p = Problem(p.file, p.line, f"topology_changes.{p.path}".rstrip("."), p.message)
                # An unknown preset or a missing topology file is the scenario's own error:
                # point at its topology line.
                changed.append(
                    _reanchor_file(_reanchor(p, doc, ("topology",)), doc, {topo_ref: ("topology",)})
                )
            problems.extend(_unknown_changed_sites(changed, data, doc, known_sites))
        for name, spec in data.workloads.items():
            for loc, message in check_workload_refs(name, spec, catalog):
                problems.append(doc.problem(("workloads", name, *loc), message))
    problems.extend(_resale_needs_ends(data, doc))
    if topo is not None:
        for rule in SCENARIO_RULES:
            problems.extend(rule(data, doc, topo))
        headroom = headroom_problems(dict(data.workloads), topo.datacenters())
        problems.extend(doc.problem(loc, message) for loc, message in headroom)
        if catalog is not None:
            problems.extend(_dated_systems_need_a_start_date(data, doc, topo, catalog))
            sizing = sizing_problems(dict(data.workloads), catalog)  # planner/kinds/pretrain.py
            problems.extend(doc.problem(loc, message) for loc, message in sizing)
            layouts = layout_model_problems(dict(data.workloads), catalog)
            problems.extend(doc.problem(loc, message) for loc, message in layouts)
            windows = context_problems(dict(data.workloads), catalog)
            windows += rl_context_problems(dict(data.workloads), catalog)  # planner/kinds/rl.py
            problems.extend(doc.problem(loc, message) for loc, message in windows)
            generators = generator_problems(  # planner/kinds/rl.py
                dict(data.workloads), catalog, topo.system_names()
            )
            problems.extend(doc.problem(loc, message) for loc, message in generators)
    if problems:
        raise ConfigError(problems)
    assert catalog is not None and topo is not None
    return Scenario(
        name=Path(file).stem + "".join(f"+{s}" for s in scenarios),
        file=file,
        data=data,
        doc=doc,
        catalog=catalog,
        topology=topo,
        applied_overrides=tuple(scenarios),
        applied_sets=tuple(sets),
        topology_option=topology,
    )


def _yaml_text(value: Any) -> str:
    """A value as `--set` text that parse_value reads back as the same value."""
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")
    if isinstance(value, str):
        try:
            same = parse_value(text) == value
        except ValueError:
            same = False
        if not same:
            # e.g. '1e9': YAML 1.1 text that this project reads as a number.
            return json.dumps(value)
    return text


def _base_dir(doc: Doc, loc: Loc, scenario_dir: Path) -> Path:
    """Where a path at `loc` is relative to: the scenario's folder when the scenario file (or one
    of its overrides) wrote it, the working directory when the command line did."""
    file, _, _ = doc.where(loc)
    return scenario_dir if file == doc.file else Path()


def _relative(base_dir: Path, ref: str) -> Path:
    path = Path(ref)
    return path if path.is_absolute() else base_dir / path


def _topology_ref(base_dir: Path, ref: str) -> str:
    """A preset name stays a name (topologies.builder.is_topology_path); a path is taken
    relative to base_dir."""
    if not is_topology_path(ref):
        return ref
    path = str(_relative(base_dir, ref))
    # pathlib drops a leading './', which is what made `./multi-dc` a path.
    return path if is_topology_path(path) else f".{os.sep}{path}"


def _site_names(topo_doc: Doc) -> list[str]:
    sites = topo_doc.data.get("datacenters") if isinstance(topo_doc.data, dict) else None
    return [str(name) for name in sites] if isinstance(sites, dict) else []


def _unknown_changed_sites(
    problems: list[Problem], data: ScenarioData, doc: Doc, known_sites: list[str]
) -> list[Problem]:
    """A `topology_changes.datacenters.X` whose X is not a site of the topology adds a site, so
    its missing pue and electricity price were all that was said of a mistyped name (`clustr`
    for `cluster`): those missing-field problems become one naming the topology's sites."""
    changes = data.topology_changes.get("datacenters")
    if not known_sites or not isinstance(changes, dict):
        return problems
    new_sites = [str(name) for name in changes if str(name) not in known_sites]
    out: list[Problem] = []
    said: set[str] = set()
    for p in problems:
        site = next(
            (s for s in new_sites if p.path.startswith(f"topology_changes.datacenters.{s}.")),
            None,
        )
        if site is None or p.message != "required field is missing":
            out.append(p)
            continue
        if site in said:
            continue
        said.add(site)
        file, line, path = doc.where(("topology_changes", "datacenters", site))
        missing = sorted(
            q.path.rsplit(".", 1)[-1]
            for q in problems
            if q.path.startswith(f"{path}.") and q.message == "required field is missing"
        )
        out.append(
            Problem(
                file,
                line,
                path,
                f"{site!r} is not a datacenter of topology {data.topology!r} (its datacenters: "
                f"{', '.join(known_sites)}), so this adds a new one, which needs "
                f"{', '.join(missing)}{hint(site, known_sites)}",
            )
        )
    return out


def _reanchor(problem: Problem, doc: Doc, loc: Loc) -> Problem:
    # Only the topology resolver's own "<command line>" problems: a "<--set ...>" problem from
    # topology_changes already names where it came from.
    if problem.file == "<command line>":
        file, line, path = doc.where(loc)
        return Problem(file, line, path, problem.message)
    return problem


def _reanchor_file(problem: Problem, doc: Doc, refs: dict[str, Loc]) -> Problem:
    """A problem with a whole file named in the scenario (not found, unreadable, empty) points
    at the scenario line that names the file."""
    loc = refs.get(problem.file)
    if loc is None or problem.line is not None:
        return problem
    file, line, path = doc.where(loc)
    return Problem(file, line, path, f"{problem.file}: {problem.message}")


def _sub_doc(doc: Doc, loc: Loc) -> Doc:
    data: Any = doc.data
    for part in loc:
        data = data[part]
    lines = {k[len(loc) :]: v for k, v in doc.lines.items() if k[: len(loc)] == loc}
    return Doc(data=data, file=doc.file, lines=lines)


def _apply_overrides(doc: Doc, names: list[str]) -> Doc:
    if not names:
        return doc
    defined = doc.data.get("overrides") if isinstance(doc.data, dict) else None
    defined = defined if isinstance(defined, dict) else {}
    problems = []
    for name in names:
        if name not in defined:
            known = ", ".join(sorted(defined)) or "none defined"
            problems.append(
                doc.problem(("overrides",), f"no override named {name!r} (known: {known})")
            )
    if problems:
        raise ConfigError(problems)
    for name in names:
        if not isinstance(defined[name], dict):
            raise ConfigError([doc.problem(("overrides", name), "an override is a mapping")])
        doc = merge(doc, _sub_doc(doc, ("overrides", name)))
    return doc


def _apply_sets(doc: Doc, sets: list[str]) -> Doc:
    problems = []
    before = doc.data.get("workloads") if isinstance(doc.data, dict) else None
    known = sorted(before) if isinstance(before, dict) else []
    new_by: dict[str, str] = {}  # a workload --set creates -> the first --set naming it
    for item in sets:
        where = f"<--set {item}>"
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(Problem(where, None, "", "expected path.to.field=value"))
            continue
        try:
            # The rules and limits of YAML files: `0500` or `1:40` is an error, not 320 or 100.
            value = parse_value(raw) if raw.strip() else ""
        except ValueError as exc:
            problems.append(Problem(where, None, key, str(exc)))
            continue
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
        if len(parts) > MAX_DEPTH:
            problems.append(
                Problem(
                    where,
                    None,
                    "",
                    f"a path of more than {MAX_DEPTH} fields: no field is that deep",
                )
            )
            continue
        listed = _list_on_path(doc.data, parts)
        if listed is not None:
            problems.append(
                Problem(
                    where,
                    None,
                    listed,
                    "is a list: --set replaces it whole (e.g. --set "
                    f"'{listed}=[...]', the list written in YAML), not one item of it",
                )
            )
            continue
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        lines: dict[Loc, tuple[str, int | None]] = {
            tuple(parts[:i]): (where, None) for i in range(1, len(parts) + 1)
        }
        doc = merge(doc, Doc(nested, where, lines))
        if len(parts) > 2 and parts[0] == "workloads" and str(parts[1]) not in known:
            new_by.setdefault(str(parts[1]), where)
    workloads = doc.data.get("workloads") if isinstance(doc.data, dict) else None
    for name, where in new_by.items():
        # a mistyped workload name made a new workload that failed as "kind: required field
        # is missing" (before session 24), naming neither the typo nor the workloads there are
        entry = workloads.get(name) if isinstance(workloads, dict) else None
        if isinstance(entry, dict) and "kind" not in entry:
            problems.append(
                Problem(
                    where,
                    None,
                    f"workloads.{name}",
                    f"unknown workload '{name}' (a new workload needs kind:); known: "
                    + ", ".join(known),
                )
            )
    if problems:
        raise ConfigError(problems)
    return doc


def _list_on_path(data: Any, parts: list[str | int]) -> str | None:
    """The dotted path of a list that `parts` runs into before its last part (a `--set` of
    workloads.rl.verifiers.0.name: merged as a mapping {0: ...}, it replaced the list and
    failed as "Input should be a valid list"), else None."""
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
        if isinstance(node, list):
            return ".".join(str(p) for p in parts[: i + 1])
    return None


def _systems_exist_somewhere(data: ScenarioData, doc: Doc, topo: Topology) -> list[Problem]:
    if not topo.system_names():
        return [doc.problem(("topology",), "the topology places no accelerated systems")]
    return []


def _deadlines_within_horizon(data: ScenarioData, doc: Doc, topo: Topology) -> list[Problem]:
    out = []
    horizon_s = data.economics.horizon_s
    for name, spec in data.workloads.items():
        if spec.start_s >= horizon_s:
            out.append(
                doc.problem(
                    ("workloads", name, "start"),
                    f"start ({spec.start_s / 86400:g} days) is not within the planning horizon "
                    f"({horizon_s / 86400:g} days)",
                )
            )
        deadline_s = getattr(spec, "deadline_s", None)
        if deadline_s is not None and deadline_s > horizon_s * (1 + 1e-9):
            out.append(
                doc.problem(
                    ("workloads", name, "deadline"),
                    f"deadline ({deadline_s / 86400:g} days) is past the planning horizon "
                    f"({horizon_s / 86400:g} days); lengthen economics.horizon or shorten the "
                    f"deadline",
                )
            )
    return out


def _dated_systems_need_a_start_date(
    data: ScenarioData, doc: Doc, topo: Topology, catalog: Catalog
) -> list[Problem]:
    """A placed system with available_from needs economics.start_date to place it in time."""
    if data.economics.start_date is not None:
        return []
    dated = [s for s in topo.system_names() if catalog.system(s).available_from is not None]
    if not dated:
        return []
    return [
        doc.problem(
            ("economics",),
            f"{', '.join(dated)} {'is' if len(dated) == 1 else 'are'} available only from a date "
            "(catalog available_from): give economics.start_date, the date the horizon starts",
        )
    ]


def _resale_needs_ends(data: ScenarioData, doc: Doc) -> list[Problem]:
    """economics.resale_fraction above 0 needs after_horizon ends (under continues a unit is
    charged only its time inside the horizon: a resale would count the rest twice)."""
    economics = data.economics
    if economics.resale_fraction == 0 or economics.after_horizon == "ends":
        return []
    return [
        doc.problem(
            ("economics", "resale_fraction"),
            f"resale_fraction {economics.resale_fraction:g} needs after_horizon: ends (under "
            "continues a bought unit is charged only the capital it recovers inside the "
            "horizon, so its value after it is already left out)",
        )
    ]


def _after_names_a_finite_workload(data: ScenarioData, doc: Doc, topo: Topology) -> list[Problem]:
    """`after:` names another workload that has a deadline (pretraining, RL), with no cycle."""
    out = []
    deps = {n: getattr(s, "after", None) for n, s in data.workloads.items()}
    for name, after in deps.items():
        if after is None:
            continue
        loc = ("workloads", name, "after")
        if after == name or after not in data.workloads:
            known = ", ".join(n for n in data.workloads if n != name)
            out.append(doc.problem(loc, f"after: {after!r} is not another workload ({known})"))
        elif getattr(data.workloads[after], "deadline_s", None) is None:
            out.append(
                doc.problem(loc, f"after: {after!r} has no deadline to finish by (a serving load)")
            )
        else:
            seen, cur = {name}, after
            while cur is not None and cur not in seen:
                seen.add(cur)
                cur = deps.get(cur)
            if cur is not None:
                out.append(doc.problem(loc, f"after: {after!r} makes a cycle of dependencies"))
    return out


def _supply_names_placed_systems(data: ScenarioData, doc: Doc, topo: Topology) -> list[Problem]:
    """economics.supply names systems the topology places."""
    placed = topo.system_names()
    return [
        doc.problem(
            ("economics", "supply", name),
            f"supply for {name!r}, which no datacenter places (placed: {', '.join(placed)})",
        )
        for name in data.economics.supply
        if name not in placed
    ]


SCENARIO_RULES: list[Callable[[ScenarioData, Doc, Topology], list[Problem]]] = [
    _systems_exist_somewhere,
    _deadlines_within_horizon,
    _after_names_a_finite_workload,
    _supply_names_placed_systems,
]
