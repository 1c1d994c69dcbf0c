"""Capacity planner for AI training and serving fleets.

Python API (see README "Python API"): load_scenario, solve, demands, compare, sweep.
"""

from __future__ import annotations

from planner.api import demands, solve
from planner.comparison import compare
from planner.scenario import load_scenario
from planner.sweeps import sweep

__all__ = ["load_scenario", "solve", "demands", "compare", "sweep"]
