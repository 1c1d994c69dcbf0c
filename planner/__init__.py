"""Capacity planner for AI training and serving fleets.

Python API (see README "Python API"): load_scenario, solve, demands, compare, sweep.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_scenario", "solve", "demands", "compare", "sweep"]


def __getattr__(name: str) -> Any:
    # Lazy: hardware/ and topologies/ import planner.* submodules; importing the API eagerly
    # here would make those imports circular.
    if name == "load_scenario":
        from planner.scenario import load_scenario

        return load_scenario
    if name in ("solve", "demands"):
        from planner import api

        return getattr(api, name)
    if name == "compare":
        from planner.comparison import compare

        return compare
    if name == "sweep":
        from planner.sweeps import sweep

        return sweep
    raise AttributeError(name)
