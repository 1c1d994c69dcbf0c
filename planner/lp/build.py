"""Build the capacity LP/MIP from a resolved scenario and its demands, in three stages: every
variable (planner/lp/variables.py), every registered constraint family
(the shared ones of planner/lp/constraints.py, then each workload kind's own from
planner/kinds/), the objective (planner/lp/objective.py).
Nothing here reads YAML."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from planner.demand.types import WorkloadDemand
from planner.kinds import KINDS
from planner.lp import constraints  # noqa: F401  (registers the shared families)
from planner.lp.linear import LinearProblem
from planner.lp.model import Model, calendar_for, families_in_order, periods_for
from planner.lp.objective import define_objective
from planner.lp.variables import declare_variables
from planner.scenario import Scenario


def build(scenario: Scenario, demands: list[WorkloadDemand], elastic: bool = False) -> Model:
    """The whole model. elastic=True adds penalised slacks and minimises them (diagnosis)."""
    with no_cyclic_gc():
        return _build(scenario, demands, elastic)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off while the model is made: it would walk every object alive
    (each PuLP variable, expression and row) again and again as they are created, a third of
    the build's time at 174k columns (bench/bench_build.py).

    On the way out every object alive is frozen (gc.freeze: left out of the collector's
    passes) until the plan is made (`thaw`, which planner.api.solve calls once the plan is
    verified). The model is 1.4M tracked objects at 174k columns, alive until then and none in
    a cycle (a collection right after the build finds nothing to free); yet the first
    collections after the build would walk them all, made while the collector was off and so
    all young: three walks of ~0.3 s each in the solve, read and verify of one plan
    (bench/bench_lp.py). Objects without cycles are freed at once as ever; a cycle dropped
    while frozen is collected after the thaw."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def thaw() -> None:
    """Hand what `build` froze back to the cycle collector: into its oldest generation, without
    a pass (a cycle dropped meanwhile is collected at its next full one)."""
    gc.unfreeze()


def _build(scenario: Scenario, demands: list[WorkloadDemand], elastic: bool) -> Model:
    prob = LinearProblem("capacity_plan")
    prob.made = []  # Model.new_var lists each column (planner/lp/transfer.py reads them)
    model = Model(scenario=scenario, demands=demands, prob=prob, elastic=elastic)
    economics = scenario.data.economics
    model.calendar = calendar_for(economics.horizon_s, economics.period_s)
    model.periods = periods_for(demands, economics.horizon_s, model.calendar)
    declare_variables(model, {name: kind.declare for name, kind in KINDS.items()})
    for fam in families_in_order(list(KINDS)):
        fam.add(model)
    define_objective(model)
    return model
