"""The build and Python's cycle collector (planner/lp/build.py `no_cyclic_gc`): the collector is
left as it was found and the model frozen out of its passes until the plan is made; a cycle
dropped meanwhile is collected after."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from tiny_site import write_site

import planner
from planner.api import demands
from planner.lp.build import build
from planner.scenario import load_scenario


class _Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_the_model_is_frozen_and_the_collector_left_as_found(tmp_path: Path) -> None:
    scenario = load_scenario(write_site(tmp_path))
    enabled = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            model = build(scenario, demands(scenario))
            assert gc.isenabled() is state
            assert gc.get_freeze_count() >= len(model.prob.variables()) > 0
    finally:
        (gc.enable if enabled else gc.disable)()


def test_a_plan_hands_what_its_build_froze_back_to_the_collector(tmp_path: Path) -> None:
    node = _Node()
    alive = weakref.ref(node)
    scenario = load_scenario(write_site(tmp_path))
    build(scenario, demands(scenario))
    del node
    gc.collect()
    assert alive() is not None  # frozen by the build: left out of collections
    planner.solve(scenario)
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None
