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


@pytest.fixture(scope="module")
def rental_lab() -> planner.Plan:
    return planner.solve(load_scenario("frontier-lab", ["rental"]))


def test_a_priced_row_not_binding_is_explained_in_text_and_html(rental_lab: planner.Plan) -> None:
    """frontier-lab --scenario rental: cpu:dc-east carries a price in the LP relaxation and is not
    among the plan's binding rows (it rents whole NVL72 racks and buys no CPU server), so the
    note explains the price. Until session 33 this was rl-verifiers' cpu:rainier; on pergemm
    that row binds in the whole-unit plan too (test_rl_verifiers_cpu_row_now_binds_by_hand)."""
    priced = {p.constraint for p in rental_lab.shadow_prices}
    binding = {b.constraint for b in rental_lab.binding_constraints}
    loose = priced - binding
    assert "cpu:dc-east" in loose
    note = relaxation_only_note(rental_lab)
    assert note.startswith("cpu:dc-east: binding in the LP relaxation only")
    text = " ".join(format_plan(rental_lab).split())
    assert "cpu:dc-east: binding in the LP relaxation only" in text
    assert "cpu:dc-east: binding in the LP relaxation only" in plan_html(rental_lab)


def test_rl_verifiers_cpu_row_now_binds_by_hand(plan: planner.Plan) -> None:
    """rl-verifiers' x86 core row at rainier: the sandboxes need 100M problems x 16 samples x
    (120 core-s x 0.6 + 0.5 core-s x 0.4) / 7,776,000 s = 14,856 cores, met by 4 spare cores a
    Trainium2 chip (64 a trn2-server) on the units not serving chat and 192 a CPU server. On
    pergemm (session 33) the RL trainer is faster on Trainium2 (MFU 26.7% -> 27.6%), so the plan
    owns 215 trn2-servers (216 before) beside 44 CPU servers and 114.19 units of chat: spare
    64 x (215 - 114.19) + 44 x 192 - 14,856 = 43.9 cores, less than the 64 one more unit adds,
    so the row is listed as binding and there is no relaxation-only note. Before, 216 servers
    left 107.9 cores (more than a unit's worth): priced but not binding, explained by the note
    (qa27; that case is now test_a_priced_row_not_binding_is_explained_in_text_and_html's)."""
    (trn2,) = [r for r in plan.schedule if r.system == "trn2-server"]
    (cpu,) = plan.cpu_schedule
    chat_units = sum(a.units for a in plan.allocations if a.workload == "chat")
    assert (trn2.owned_units, cpu.owned_units) == (215, 44)
    need_cores = 100e6 * 16 * (120 * 0.6 + 0.5 * 0.4) / (90 * 86400)
    assert need_cores == pytest.approx(14_856, abs=1)
    spare = 64 * (trn2.owned_units - chat_units) + 192 * cpu.owned_units - need_cores
    assert spare == pytest.approx(43.9, abs=0.05)
    (row,) = [b for b in plan.binding_constraints if b.constraint == "cpu:rainier"]
    assert row.slack == pytest.approx(spare, rel=1e-6) and row.slack < 64
    assert {p.constraint for p in plan.shadow_prices} == {"cpu:rainier"}
    assert relaxation_only_note(plan) == ""
    assert "LP relaxation only" not in format_plan(plan)


def test_no_note_when_every_priced_row_binds(plan: planner.Plan) -> None:
    rows = [BindingRow(p.constraint, p.family, 0.0) for p in plan.shadow_prices]
    tight = dataclasses.replace(plan, binding_constraints=rows)
    assert relaxation_only_note(tight) == ""
    assert "LP relaxation only" not in format_plan(tight)
