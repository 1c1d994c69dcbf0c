"""The workload kinds, behind one registry: each kind's module holds its spec, its demand
builder, its own LP variables and constraint families, and its report lines. The kind names
appear here and in their own modules only; everything else dispatches through KINDS.

Adding a kind: a module like planner/kinds/inference.py and one line in KINDS (and in the
Workload union below, which the scenario schema validates against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from planner.demand.types import WorkloadDemand
from planner.kinds import inference, pretrain, rl
from planner.kinds.base import Loc
from planner.kinds.inference import InferenceSpec
from planner.kinds.pretrain import PretrainSpec
from planner.kinds.rl import RLSpec
from planner.lp.model import Model

if TYPE_CHECKING:
    from hardware.catalog import Catalog
    from planner.plan import Plan
    from planner.rows import JobRow

# What a scenario's `workloads:` entries are: one spec per kind, told apart by `kind:`.
Workload = Annotated[PretrainSpec | InferenceSpec | RLSpec, Field(discriminator="kind")]
Spec = PretrainSpec | InferenceSpec | RLSpec


@dataclass(frozen=True)
class Kind:
    """One workload kind: what the registry knows of it."""

    name: str
    spec: type
    demand: Callable[..., WorkloadDemand]  # (name, spec, catalog, systems, horizon_s)
    model_refs: Callable[[Any], list[tuple[Loc, str]]]
    declare: Callable[[Model, WorkloadDemand], None] | None = None  # its own LP variables
    report: Callable[[Plan], list[str]] | None = None  # its own report lines
    rerate: Rerate | None = None  # its runs re-rated at the jobs the plan places them on


@dataclass(frozen=True)
class Rerate:
    """A kind whose runs are rated before the solve at a job the LP may not give them: what
    planner/api.py's re-rating loop calls on it (each call sees only its own kind's demands,
    rows and runs; `scenario` is a planner.scenario.Scenario).

    placed_jobs(plan, scenario, demands, rated, solves, last): one JobRow per run the plan runs
      (the job it is placed on, the rate there, the rate used and its status);
    rerated(demands, rows, scenario, plan): the demands with each `optimistic` row's run
      re-rated at its placed job (or held on its rated job where its pool was short of it);
    held_to_rated(rated, squeezed, scenario, within_window): the pre-solve demands with each
      (workload, role, system) in `squeezed` held to at most its rated job's units
      (Role.max_units; within_window: or the more units its work needs in its window);
    attach(plan, scenario, rows): the rows put on the plan, its left_out lines added."""

    placed_jobs: Callable[..., list[JobRow]]
    rerated: Callable[..., list[WorkloadDemand]]
    held_to_rated: Callable[..., list[WorkloadDemand]]
    attach: Callable[..., None]


KINDS: dict[str, Kind] = {
    pretrain.NAME: Kind(
        pretrain.NAME,
        PretrainSpec,
        pretrain.demand,
        pretrain.model_refs,
        pretrain.declare,
        pretrain.report_lines,
        Rerate(
            pretrain.placed_jobs,
            pretrain.rerated,
            pretrain.held_to_rated,
            pretrain.attach_jobs,
        ),
    ),
    rl.NAME: Kind(
        rl.NAME,
        RLSpec,
        rl.demand,
        rl.model_refs,
        rl.declare,
        rl.report_lines,
        Rerate(rl.placed_jobs, rl.rerated, pretrain.held_to_rated, rl.attach_jobs),
    ),
    inference.NAME: Kind(
        inference.NAME,
        InferenceSpec,
        inference.demand,
        inference.model_refs,
        inference.declare,
        inference.report_lines,
    ),
}


def demand_for(
    name: str, spec: Spec, catalog: Catalog, systems: list[str], horizon_s: float
) -> WorkloadDemand:
    """A workload's roles, amounts (work units over its window) and rates (work units per second
    per unit) on each of `systems`, by its kind's demand builder."""
    return KINDS[spec.kind].demand(name, spec, catalog, systems, horizon_s)


def check_workload_refs(name: str, spec: Spec, catalog: Catalog) -> list[tuple[Loc, str]]:
    """Problems with catalog references, as (loc relative to the workload, message). `name` is
    the workload's name, used only in messages."""
    known = ", ".join(sorted(catalog.models))
    return [
        (loc, f"workload {name!r}: unknown model {model!r}; known: {known}")
        for loc, model in KINDS[spec.kind].model_refs(spec)
        if model not in catalog.models
    ]


def demands_for(
    workloads: dict[str, Spec],
    catalog: Catalog,
    systems: list[str],
    horizon_s: float,
    before: Callable[[str, int], None] | None = None,
) -> list[WorkloadDemand]:
    """Every workload's demand, in order; a serving load with model_from gets one load per
    candidate of the sizing pretraining it names (planner/kinds/inference.py sized_demand).
    before(name, rated): called before each workload is rated, with how many were (the plan's
    deadline: planner/api.py raises there once solver.time_limit has run out)."""
    out: list[WorkloadDemand] = []
    for name, spec in workloads.items():
        if before is not None:
            before(name, len(out))
        if isinstance(spec, InferenceSpec) and spec.model_from is not None:
            source = workloads[spec.model_from]
            assert isinstance(source, PretrainSpec)  # scenario rule: sizing_problems
            pair = (spec.model_from, source)
            out.append(inference.sized_demand(name, spec, pair, catalog, systems, horizon_s))
        elif isinstance(spec, PretrainSpec) and spec.after is not None:
            # rated at the job the window from the predecessor's deadline needs (review21b)
            opens = getattr(workloads.get(spec.after), "deadline_s", None)
            out.append(
                pretrain.demand(name, spec, catalog, systems, horizon_s, rating_start_s=opens)
            )
        else:
            out.append(demand_for(name, spec, catalog, systems, horizon_s))
    return out


# -- re-rating at the jobs the plan places runs on (planner/api.py _rerate_loop) ------------


def _rerating(demands: list[WorkloadDemand]) -> list[tuple[Rerate, set[str]]]:
    """Each kind with a Rerate hook that has workloads among `demands`, with their names."""
    out = []
    for kind in KINDS.values():
        names = {d.name for d in demands if d.kind == kind.name}
        if kind.rerate is not None and names:
            out.append((kind.rerate, names))
    return out


def placed_jobs(
    plan: Plan,
    scenario: Any,
    demands: list[WorkloadDemand],
    rated: list[WorkloadDemand],
    solves: int,
    last: bool,
) -> list[JobRow]:
    """Every re-rating kind's JobRows of the plan (Rerate.placed_jobs), kind by kind in KINDS
    order."""
    out: list[JobRow] = []
    for hook, _ in _rerating(demands):
        out += hook.placed_jobs(plan, scenario, demands, rated, solves, last)
    return out


def rerated(
    demands: list[WorkloadDemand], rows: list[JobRow], scenario: Any, plan: Plan
) -> list[WorkloadDemand]:
    """The demands for the next solve: each re-rating kind's runs re-rated from its own rows
    (Rerate.rerated)."""
    for hook, names in _rerating(demands):
        demands = hook.rerated(demands, [r for r in rows if r.workload in names], scenario, plan)
    return demands


def held_to_rated(
    rated: list[WorkloadDemand],
    squeezed: set[tuple[str, str, str]],
    scenario: Any,
    within_window: bool = False,
) -> list[WorkloadDemand]:
    """The pre-solve demands with each squeezed (workload, role, system) held to its rated job
    by its kind (Rerate.held_to_rated; within_window: each hold raised to the units its work
    needs in its window where the rated job's are fewer)."""
    for hook, names in _rerating(rated):
        mine = {k for k in squeezed if k[0] in names}
        if mine:
            rated = hook.held_to_rated(rated, mine, scenario, within_window)
    return rated


def attach_jobs(plan: Plan, scenario: Any, work: list[WorkloadDemand], rows: list[JobRow]) -> None:
    """Each re-rating kind's rows put on the plan with its left_out lines (Rerate.attach), for
    every kind with workloads in `work`."""
    for hook, names in _rerating(work):
        hook.attach(plan, scenario, [r for r in rows if r.workload in names])
