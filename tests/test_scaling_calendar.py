"""Model sizing with capacity over time (calendar quarters, a start date, mixed pricing): the
model trained in the first quarter serves the demand of the following ones, and the training
fleet, if bought, serves it too.

Hand-solvable fixture: one site of hgx-h100, free energy, contracts cleared (tests/test_lp.py
without_tco), economics {horizon: 365 days, period: 1 quarter, start_date: 2027-01-01, pricing:
mixed}, the rental price set to half the break-even of owning for a year (capex x year /
lifetime / quarter-hours). Pretraining in Q1 (deadline 1 quarter), serving from Q2 (start:
1 quarter). With q = capex x year / lifetime (owning a unit bought on day 0), per unit:
  rent for Q1 only: q/2;  own from Q2: 3q/4 (< renting Q2-Q4, 3q/2);  own from Q1: q
so a unit used in Q1 and after is bought on day 0 (q < q/2 + 3q/4), a unit used only in Q1 is
rented, a unit used only from Q2 is bought in Q2. With A_c pretraining units (whole, at least the
state's min_units) and S_c serving units (whole) of candidate c:
  cost_c = q x (min(A_c, S_c) + max(A_c - S_c, 0) / 2 + 3 max(S_c - A_c, 0) / 4)
and the plan must choose argmin_c cost_c at exactly that cost.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_lp import without_tco
from test_scaling_plan import held_units

import planner

SYSTEM = "hgx-h100"
YEAR_S = 365 * 86400.0
QUARTER_S = YEAR_S / 4
GRID = [20, 100, 500]


def _catalog_overlay(rental_usd_per_hour: float | None) -> dict[str, Any]:
    figures = {} if rental_usd_per_hour is None else {"rental_usd_per_hour": rental_usd_per_hour}
    return without_tco({"systems": {SYSTEM: figures}})


def own_year_usd() -> float:
    """q: one unit owned for the whole year (straight-line capital recovery, free energy)."""
    from hardware.catalog import load_catalog

    spec = load_catalog().system(SYSTEM)
    return spec.capex_usd * YEAR_S / spec.lifetime_s


def write(tmp_path: Path, requests: float, name: str) -> Path:
    topo = {
        "name": "t",
        "description": "test fixture",
        "source": "tests/test_scaling_calendar.py",
        "datacenters": {
            "dc1": {
                "power_cap": "1 GW",
                "pue": 1.0,
                "electricity_usd_per_kwh": 0.0,
                "systems": {SYSTEM: {"max_units": 50000}},
            }
        },
        "links": [],
    }
    rent = own_year_usd() / 2 / (QUARTER_S / 3600)
    (tmp_path / f"{name}-topo.yaml").write_text(yaml.safe_dump(topo))
    (tmp_path / f"{name}-catalog.yaml").write_text(yaml.safe_dump(_catalog_overlay(rent)))
    workloads: dict[str, Any] = {
        "pre": {
            "kind": "pretrain",
            "target": {"like": "llama-3.1-405b", "tokens": "15T"},
            "candidates": GRID,
            "deadline": "1 quarter",
            "goodput": 0.9,
            "include_attention": False,
            "global_batch_tokens": "16M",
        },
        "serve": {
            "kind": "inference",
            "model_from": "pre",
            "precision": "fp8",
            "start": "1 quarter",
            "requests_per_day": float(requests),
            "prompt_tokens": 1000,
            "output_tokens": 500,
            "tokens_per_s_per_user": 30,
        },
    }
    doc = {
        "topology": f"{name}-topo.yaml",
        "catalog": [f"{name}-catalog.yaml"],
        "economics": {
            "horizon": "365 days",
            "period": "1 quarter",
            "start_date": "2027-01-01",
            "pricing": "mixed",
        },
        "solver": {"mip_gap": 0},
        "workloads": workloads,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def whole(x: float) -> int:
    return math.ceil(x - 1e-9)


def units(sc: planner.Scenario) -> dict[str, tuple[int, int]]:
    """candidate -> (A_c whole pretraining units in Q1, S_c whole serving units in Q2-Q4)."""
    dem = {d.name: d for d in planner.demands(sc)}
    pre, serve = dem["pre"], dem["serve"]
    a: dict[str, int] = {}
    for r in pre.roles:
        assert r.choice is not None
        # max(ceil(need), min_units), or the units of the job its rate is for (held_units)
        a[r.choice[1]] = held_units(sc, pre.name, r, pre.window_s)
    s: dict[str, float] = {}
    for r in serve.roles:
        assert r.choice is not None
        rate = r.rates[SYSTEM].per_unit_s
        s[r.choice[1]] = s.get(r.choice[1], 0.0) + r.amount / (rate * serve.window_s)
    return {c: (a[c], whole(s[c])) for c in a}


def hand_costs(sc: planner.Scenario) -> dict[str, float]:
    q = own_year_usd()
    return {
        c: q * (min(a, s) + max(a - s, 0) / 2 + 3 * max(s - a, 0) / 4)
        for c, (a, s) in units(sc).items()
    }


@pytest.mark.parametrize("requests", [1e6, 3e8, 3e9, 1e10])
def test_quarterly_mixed_plan_chooses_the_hand_computed_candidate(
    tmp_path: Path, requests: float
) -> None:
    sc = planner.load_scenario(write(tmp_path, requests, f"r{requests:.0e}"))
    assert len(sc.data.workloads) == 2
    plan = planner.solve(sc)
    costs = hand_costs(sc)
    best = min(costs, key=costs.__getitem__)
    picked = [r.candidate for r in plan.sizing or [] if r.chosen]
    assert picked == [best], (costs, units(sc))
    assert plan.total_cost_usd == pytest.approx(costs[best], rel=1e-9)
    assert {"one_candidate"} <= set(plan.checks)
    # the fleet over time: the overlap bought on day 0 (it trains, then serves), the pretraining
    # excess rented for Q1 only, the serving excess bought when serving starts
    a, s = units(sc)[best]
    rows = {r.period: r for r in plan.schedule if r.system == SYSTEM}
    assert [rows[t].ordered for t in range(4)] == [min(a, s), max(s - a, 0), 0, 0]
    assert [rows[t].rented_units for t in range(4)] == [max(a - s, 0), 0, 0, 0]


def test_the_demands_above_span_the_trade(tmp_path: Path) -> None:
    """The serving volumes of the test above: the hand computation's choice moves from the
    compute-optimal model to ever smaller ones trained on more tokens per parameter, and the
    last volume needs more serving units than pretraining units (units bought in Q2)."""
    picks = []
    for requests in (1e6, 3e8, 3e9, 1e10):
        sc = planner.load_scenario(write(tmp_path, requests, f"r{requests:.0e}"))
        costs = hand_costs(sc)
        picks.append(min(costs, key=costs.__getitem__))
    assert picks == [f"{g}tpp" for g in GRID] + ["500tpp"]
    a, s = units(sc)["500tpp"]
    assert s > a


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model-sizing.yaml"


def test_shipped_example_over_quarters_with_mixed_pricing() -> None:
    """examples/model-sizing.yaml with the frontier-3y economics (quarters from a start date,
    mixed pricing with contracts, 10% cost of capital; pretraining in the first two quarters,
    serving from the third): it plans and verifies, the candidate chosen is trained at >= 10x
    the Chinchilla point's tokens/param, and serving is priced from its start only."""
    sets = [
        "economics.horizon=2 years",
        "economics.period=1 quarter",
        "economics.start_date=2027-01-01",
        "economics.pricing=mixed",
        "economics.cost_of_capital=0.10",
        "workloads.pretrain.deadline=2 quarters",
        "workloads.chat.start=2 quarters",
    ]
    sc = planner.load_scenario(EXAMPLE, sets=sets)
    plan = planner.solve(sc)
    assert len({r.period for r in plan.schedule}) == 8
    rows = plan.sizing or []
    pick = next(r for r in rows if r.chosen)
    chinchilla = next(r for r in rows if r.compute_optimal)
    assert pick.tokens_per_param >= 10 * chinchilla.tokens_per_param
    assert {"one_candidate", "fleet_ledger", "cost_total"} <= set(plan.checks)
    # lifetime serving: requests/day x (prompt + output) x the 6 quarters from its start
    assert pick.served_tokens == pytest.approx(1e9 * 1500 * 6 * 365 / 4, rel=1e-9)
    serving = [a for a in plan.allocations if a.role.startswith(("decode@", "prefill@"))]
    assert serving and min(a.period_start_s for a in serving) == pytest.approx(2 * QUARTER_S)
