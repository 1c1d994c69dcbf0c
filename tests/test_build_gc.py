"""The build and Python's cycle collector (planner/lp/build.py `no_cyclic_gc`): the collector is
left as it was found, the model is frozen out of later collections, and a cycle dropped after a
build is still collected once the next build has started."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from tiny_site import write_site

from planner.api import demands
from planner.lp.build import build
from planner.lp.model import Model
from planner.scenario import load_scenario


class _Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _build(tmp_path: Path) -> Model:
    scenario = load_scenario(write_site(tmp_path))
    return build(scenario, demands(scenario))


def test_the_model_is_frozen_and_the_collector_left_as_found(tmp_path: Path) -> None:
    enabled = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            model = _build(tmp_path)
            assert gc.isenabled() is state
            assert gc.get_freeze_count() >= len(model.prob.variables()) > 0
    finally:
        (gc.enable if enabled else gc.disable)()


def test_a_cycle_dropped_after_a_build_is_collected_after_the_next_one_starts(
    tmp_path: Path,
) -> None:
    node = _Node()
    alive = weakref.ref(node)
    _build(tmp_path)
    del node
    gc.collect()
    assert alive() is not None  # frozen by the build: left out of collections
    _build(tmp_path)
    gc.collect()
    assert alive() is None
