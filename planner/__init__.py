"""Capacity planner for AI training and serving fleets.

Python API (see README "Python API"): load_scenario, solve, demands, compare, sweep; the
results are Plan, Comparison and Sweep (each with pandas views: plan.df, plan.statistics,
cmp.frame(), sw.frame()); errors are PlannerError subclasses (ConfigError: bad input,
InfeasibleError: with a diagnosis, SolverError, VerificationError).
"""

from __future__ import annotations

from fleetcore.errors import (
    ConfigError,
    InfeasibleError,
    PlannerError,
    SolverError,
    VerificationError,
)
from planner.api import demands, solve
from planner.comparison import Comparison, compare
from planner.plan import Plan
from planner.scenario import Scenario, load_scenario
from planner.sweeps import Sweep, sweep

__all__ = [
    "load_scenario",
    "solve",
    "demands",
    "compare",
    "sweep",
    "Scenario",
    "Plan",
    "Comparison",
    "Sweep",
    "PlannerError",
    "ConfigError",
    "InfeasibleError",
    "SolverError",
    "VerificationError",
]
