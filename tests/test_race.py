"""The raced relaxation (planner/lp/race.py): dual simplex and interior point each in a forked
child, the first optimal basis taken. Tested on frontier-3y's LP with the size threshold
lowered: the same optimum as a plain run whichever child wins, a failed child leaves the race
to the other, and with no winner the parent solves the LP itself."""

from __future__ import annotations

import math
import os

import pytest

import planner
from planner.api import demands
from planner.lp import race as race_mod
from planner.lp import solve as solve_mod
from planner.lp.build import build

SCENARIO = "frontier-3y"


def _relaxation(monkeypatch: pytest.MonkeyPatch, threshold: int) -> tuple[float, list[str]]:
    """The LP relaxation's objective through solve.py's `_run`, races at `threshold` columns;
    and the winners of the races it ran."""
    monkeypatch.setattr(race_mod, "RACE_COLUMNS", threshold)
    winners: list[str] = []
    race = race_mod.race

    def recording(highs: object) -> str | None:
        won = race(highs)
        winners.append(str(won))
        return won

    monkeypatch.setattr(solve_mod, "race", recording)
    # the race runs only where the scenario gives up reproducibility (solver.reproducible)
    sc = planner.load_scenario(SCENARIO, sets=["solver.reproducible=false"])
    model = build(sc, demands(sc))
    status, _ = solve_mod._run(model, solve_mod.make_solver("highs", False, 0.01, 60.0, "choose"))
    assert status == solve_mod.OPTIMAL
    return model.prob.solverModel.getInfo().objective_function_value, winners


def test_a_raced_relaxation_has_the_plain_runs_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, none = _relaxation(monkeypatch, 10**9)
    raced, winners = _relaxation(monkeypatch, 0)
    assert none == [] and len(winners) == 1 and winners[0] in race_mod.METHODS
    assert math.isclose(raced, plain, rel_tol=1e-7)


def test_a_child_without_an_answer_leaves_the_race_to_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The simplex child ends without writing (as a crash or a time limit would): interior
    point wins, and the optimum is the plain run's."""
    plain, _ = _relaxation(monkeypatch, 10**9)
    child = race_mod._child

    def failing(highs: object, method: str, write_end: int) -> None:
        if method == "simplex":
            os._exit(1)
        child(highs, method, write_end)

    monkeypatch.setattr(race_mod, "_child", failing)
    raced, winners = _relaxation(monkeypatch, 0)
    assert winners == ["ipm"]
    assert math.isclose(raced, plain, rel_tol=1e-7)


def test_with_no_winner_the_parent_solves_it_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, _ = _relaxation(monkeypatch, 10**9)
    monkeypatch.setattr(race_mod, "_child", lambda highs, method, write_end: os._exit(1))
    raced, winners = _relaxation(monkeypatch, 0)
    assert winners == ["None"]
    assert math.isclose(raced, plain, rel_tol=1e-7)


def test_only_a_large_lp_left_to_highs_races() -> None:
    """No race for a MIP, below RACE_COLUMNS, or when the method is set (by the scenario, or
    interior point from IPM_COLUMNS columns)."""

    class Highs:
        def __init__(self, columns: int, solver: str) -> None:
            self.columns, self.solver = columns, solver

        def getNumCol(self) -> int:  # noqa: N802 - highspy's name
            return self.columns

        def getOptionValue(self, name: str) -> tuple[int, str]:  # noqa: N802
            return 0, self.solver

    big = race_mod.RACE_COLUMNS
    assert race_mod.can_race(Highs(big, "choose"), mip=False)
    assert not race_mod.can_race(Highs(big, "choose"), mip=True)
    assert not race_mod.can_race(Highs(big - 1, "choose"), mip=False)
    assert not race_mod.can_race(Highs(big, "ipm"), mip=False)
    assert not race_mod.can_race(Highs(big, "simplex"), mip=False)


def test_when_no_child_can_be_forked_the_parent_solves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, _ = _relaxation(monkeypatch, 10**9)

    def no_fork() -> int:
        raise OSError("fork: Cannot allocate memory")

    monkeypatch.setattr(race_mod.os, "fork", no_fork)
    raced, winners = _relaxation(monkeypatch, 0)
    assert winners == ["None"]
    assert math.isclose(raced, plain, rel_tol=1e-7)
