"""A plan rounded from the LP relaxation (planner/lp/incumbent.py `_cheaper_rounding`) rounds the
unit counts twice when a term contract is used at a small fraction of a unit: every contract
rounded up (a whole unit for the whole term), and those fractions rounded down (the LP serving
them otherwise, by the period), when the first misses the gap; it keeps the cheaper plan.

Hand-checkable: a one-quarter pretraining job needing x = n + f H100 servers (f ~0.26) for the
quarter, mixed pricing, buying priced out, a 1-year contract at c = 0.2 x the on-demand price p
(so the relaxation contracts x units: c x 8,760 h < p x 2,190 h). Rounded up: n + 1 contracts,
(n + 1) c x 8,760 h. Rounded down: n contracts and a whole server rented for the quarter, n c x
8,760 + p x 2,190 h, dearer since p x 2,190 = 1.25 c x 8,760. The plan is the first."""

from __future__ import annotations

import math
import types
from pathlib import Path

import pytest
from test_capacity_over_time import QUARTER_S, h100, scenario
from test_lp import by_name

import planner
from planner.lp import incumbent

DROP = incumbent.DROP_CONTRACT_FRACTION
JOB = {
    "kind": "pretrain",
    "model": "llama-3.1-8b",
    "deadline": "91.25 days",
    "goodput": 0.9,
    "global_batch_tokens": "4M",
}


def _job(
    tmp_path: Path, tokens: float, contract_usd_per_hour: float, name: str
) -> planner.Scenario:
    overlay = {
        "systems": {
            "hgx-h100": {
                "capex_usd": 30_000_000,
                "contracts": [{"term": "1 year", "usd_per_hour": contract_usd_per_hour}],
            }
        }
    }
    economics = {"horizon": "365 days", "period": "1 quarter", "pricing": "mixed"}
    workloads = {"pt": {**JOB, "tokens": f"{tokens:.0f}"}}
    return scenario(tmp_path, {"a": h100()}, workloads, economics, catalog=overlay, name=name)


def _units(sc: planner.Scenario) -> float:
    role = by_name(sc)["pt"].roles[0]
    return role.amount / (role.rates["hgx-h100"].per_unit_s * QUARTER_S)


def test_a_contract_fraction_is_rounded_up_when_renting_it_costs_more(
    tmp_path: Path, monkeypatch
) -> None:
    probe = _job(tmp_path, 300e9, 1.0, "probe")
    p = probe.catalog.system("hgx-h100").rental_usd_per_hour
    x0 = _units(probe)
    _job(tmp_path, 300e9 * (math.floor(x0) + 2.25) / x0, 0.2 * p, "case")
    sc = planner.load_scenario(tmp_path / "case.yaml", sets=["solver.incumbent=true"])
    x = _units(sc)
    n = math.floor(x)
    assert 0.1 < x - n < DROP  # a fraction the rounding also tries dropped
    tried: list[tuple[bool, float]] = []
    stages = incumbent._round_stages

    def recording(model, counts, values, rows, rounding, **options):
        out = stages(model, counts, values, rows, rounding, **options)
        cost = model.prob.solverModel.getInfo().objective_function_value
        tried.append((options.get("drop_contracts", False), cost))
        return out

    monkeypatch.setattr(incumbent, "_round_stages", recording)
    # A gap the rounded plan cannot meet: both roundings are tried (then the MIP runs from it).
    plan = planner.solve(sc, mip_gap=1e-6)
    c = 0.2 * p
    # Dropping the fraction (a whole server rented for the quarter) cost more.
    assert [drop for drop, _ in tried] == [False, True]
    assert tried[1][1] - tried[0][1] == pytest.approx(p * 2190 - c * 8760, rel=1e-6)
    rows = {r.period: r for r in plan.schedule}
    assert rows[0].contracted_units == n + 1 and rows[0].rented_units == 0
    assert plan.total_cost_usd == pytest.approx((n + 1) * c * 8760, rel=1e-6)
    # Within a loose gap the first rounding is the plan: the second is not tried.
    tried.clear()
    plan = planner.solve(sc, mip_gap=0.5)
    assert plan.solver.proof == "rounded" and [drop for drop, _ in tried] == [False]
    assert plan.total_cost_usd == pytest.approx((n + 1) * c * 8760, rel=1e-6)


def test_the_cheaper_of_the_two_roundings_is_kept(monkeypatch) -> None:
    """The choice itself, with the two roundings' LP costs given: the rounding with fractions
    dropped when it is cheaper (the model holds it, as it ran last); the rounded-up one, fixed
    again, when the other has no plan or costs more; the first alone when it is within the
    acceptance."""

    def run(
        up_usd: float | None, dropped_usd: float | None, accept_usd: float | None = None
    ) -> tuple[object, list[dict]]:
        info = types.SimpleNamespace(objective_function_value=0.0)
        highs = types.SimpleNamespace(getInfo=lambda: info)
        model = types.SimpleNamespace(prob=types.SimpleNamespace(solverModel=highs))
        refixed: list[dict] = []

        def stages(_model, _counts, _values, _rows, _rounding, drop_contracts=False):
            cost = dropped_usd if drop_contracts else up_usd
            if cost is None:
                return None
            info.objective_function_value = cost
            return [2.0] if drop_contracts else [3.0]

        def fix_and_solve(_model, fixes):
            refixed.append(fixes)
            return [fixes[0]]

        monkeypatch.setattr(incumbent, "_round_stages", stages)
        monkeypatch.setattr(incumbent, "_fix_and_solve", fix_and_solve)
        monkeypatch.setattr(incumbent, "_small_contract_fractions", lambda *_: True)
        monkeypatch.setattr(
            incumbent, "Bounds", lambda _model: types.SimpleNamespace(restore=lambda *_: None)
        )
        return incumbent._cheaper_rounding(model, [0], [2.5], None, accept_usd), refixed

    assert run(100.0, 90.0) == ([2.0], [])
    assert run(100.0, 110.0) == ([3.0], [{0: 3.0}])
    assert run(100.0, None) == ([3.0], [{0: 3.0}])
    assert run(None, 90.0) == ([2.0], [])
    assert run(None, None) == (None, [])
    # The first within the acceptance: kept as it is, the second not tried.
    assert run(100.0, 90.0, accept_usd=100.0) == ([3.0], [])
    assert run(100.0, 90.0, accept_usd=99.0) == ([2.0], [])
