"""Session 22's analyst pass over the economics: cost lines, purchases and cash flow recomputed
by hand from the catalog and topology figures (docs/lp.md, Objective), not read back from the
LP, on the shipped frontier-3y plan (its golden JSON, tests/golden/frontier-3y.json)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from planner.decision import decision, summary_lines
from planner.plan import Plan

GOLDEN = Path(__file__).parent / "golden" / "frontier-3y.json"
CPU_CAPEX_USD = 30000.0  # hardware/data/systems.yaml cpu-server capex_usd


@pytest.fixture(scope="module")
def golden_plan() -> Plan:
    plan = Plan.from_dict(json.loads(GOLDEN.read_text(encoding="utf-8")))
    # what planner.solve attaches (api._attach_context); a plan read back from JSON has none
    plan.catalog_prices = {
        "cpu-server": {"capex_usd": CPU_CAPEX_USD, "lifetime_s": 5 * 365 * 86400.0},
        "vera-rubin-nvl144": {"capex_usd": 7.8e6, "lifetime_s": 5 * 365 * 86400.0},
        "gb200-nvl72": {"capex_usd": 3.5e6, "lifetime_s": 5 * 365 * 86400.0},
        "hgx-h100": {"capex_usd": 3e5, "lifetime_s": 5 * 365 * 86400.0},
    }
    plan.economics = {"pricing": "mixed", "cost_of_capital": 0.10, "horizon_s": 3 * 365 * 86400.0}
    return plan


def test_the_decision_buys_the_cpu_servers_ordered_not_the_peak_with_rentals(golden_plan) -> None:
    """frontier-3y rents a few CPU servers at dc-east on top of the ones it buys (mixed
    pricing): the decision's "Buy N cpu-server" is the units ordered over the horizon (the
    schedule's `ordered` column), its purchase cash N x capex; the rented ones are rented."""
    plan = golden_plan
    ordered: dict[str, float] = defaultdict(float)
    rented: dict[str, float] = defaultdict(float)
    for r in plan.cpu_schedule:
        ordered[r.datacenter] += r.ordered
        rented[r.datacenter] = max(rented[r.datacenter], r.rented_units)
    assert any(v > 0 for v in rented.values()), "the golden plan rents CPU servers somewhere"
    d = decision(plan)
    cpu = {p.datacenter: p for p in d.pools if p.system == "cpu-server"}
    for site, n in ordered.items():
        if n == 0 and rented[site] == 0:
            continue
        assert cpu[site].bought_units == n, (site, cpu[site].bought_units, n)
        assert cpu[site].rented_units == rented[site]
        assert cpu[site].purchase_usd == n * CPU_CAPEX_USD
    lines = "\n".join(summary_lines(d))
    for site, n in ordered.items():
        if n:
            assert f"Buy {n:,.0f} cpu-server at {site} " in lines, lines
