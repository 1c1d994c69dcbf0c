"""Build the capacity LP/MIP from a resolved scenario and its demands, in three stages: every
variable (planner/lp/variables.py), every registered constraint family
(planner/lp/constraints.py, in registry order), the objective (planner/lp/objective.py).
Nothing here reads YAML."""

from __future__ import annotations

import pulp

from planner.demand.types import WorkloadDemand
from planner.lp import constraints  # noqa: F401  (registers the families)
from planner.lp.model import FAMILIES, Model, calendar_for, periods_for
from planner.lp.objective import define_objective
from planner.lp.variables import declare_variables
from planner.scenario import Scenario


def build(scenario: Scenario, demands: list[WorkloadDemand], elastic: bool = False) -> Model:
    """The whole model. elastic=True adds penalised slacks and minimises them (diagnosis)."""
    prob = pulp.LpProblem("capacity_plan", pulp.LpMinimize)
    model = Model(scenario=scenario, demands=demands, prob=prob, elastic=elastic)
    economics = scenario.data.economics
    model.calendar = calendar_for(economics.horizon_s, economics.period_s)
    model.periods = periods_for(demands, economics.horizon_s, model.calendar)
    declare_variables(model)
    for fam in FAMILIES.values():
        fam.add(model)
    define_objective(model)
    return model
