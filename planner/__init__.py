"""Capacity planner for AI training and serving fleets.

Python API (see README "Python API"): load_scenario, solve, demands, compare, sweep; the
results are Plan, Comparison and Sweep (each with pandas views: plan.df, plan.statistics,
cmp.frame(), sw.frame()); errors are PlannerError subclasses (ConfigError: bad input,
InfeasibleError: with a diagnosis, SolverError, VerificationError).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fleetcore.errors import (
    ConfigError,
    InfeasibleError,
    PlannerError,
    SolverError,
    VerificationError,
)

if TYPE_CHECKING:
    from planner.api import demands, solve
    from planner.comparison import Comparison, compare
    from planner.plan import Plan
    from planner.scenario import Scenario, load_scenario
    from planner.sweeps import Sweep, sweep

# The API's names and the module each comes from: imported on first use (PEP 562), so that
# `import planner.commands` (the CLI) does not load the solver, the scenario schema and every
# workload kind before it knows which command runs.
_LAZY = {
    "demands": "planner.api",
    "solve": "planner.api",
    "Comparison": "planner.comparison",
    "compare": "planner.comparison",
    "Plan": "planner.plan",
    "Scenario": "planner.scenario",
    "load_scenario": "planner.scenario",
    "Sweep": "planner.sweeps",
    "sweep": "planner.sweeps",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
