"""A shadow price on a row the plan does not list as binding is explained: the price is the LP
relaxation's dual (fractional units and CPU servers meet the row exactly there), while the
plan's whole units leave the row more than a unit's worth of slack. rl-verifiers printed
"Binding constraints: none" beside a $12/core CPU price with no word on why (qa27)."""

from __future__ import annotations

import dataclasses

import pytest

import planner
from planner.htmlreport import plan_html
from planner.report import format_plan, relaxation_only_note
from planner.rows import BindingRow
from planner.scenario import load_scenario


@pytest.fixture(scope="module")
def plan() -> planner.Plan:
    return planner.solve(load_scenario("planner/scenarios/rl-verifiers.yaml"))


def test_a_priced_row_not_binding_is_explained_in_text_and_html(plan: planner.Plan) -> None:
    priced = {p.constraint for p in plan.shadow_prices}
    binding = {b.constraint for b in plan.binding_constraints}
    loose = priced - binding
    assert "cpu:rainier" in loose
    note = relaxation_only_note(plan)
    assert note.startswith("cpu:rainier: binding in the LP relaxation only")
    text = " ".join(format_plan(plan).split())
    assert "cpu:rainier: binding in the LP relaxation only" in text
    assert "cpu:rainier: binding in the LP relaxation only" in plan_html(plan)


def test_no_note_when_every_priced_row_binds(plan: planner.Plan) -> None:
    rows = [BindingRow(p.constraint, p.family, 0.0) for p in plan.shadow_prices]
    tight = dataclasses.replace(plan, binding_constraints=rows)
    assert relaxation_only_note(tight) == ""
    assert "LP relaxation only" not in format_plan(tight)
