"""A plan rounded from the LP relaxation (planner/lp/incumbent.py) rounds a pool's orders up
cumulatively: the units bought by each period are the relaxation's rounded up once, not each
period's order rounded up on its own (monthly orders of a fraction of a unit each would buy a
unit a month). Hand-checkable: one site owning two H100 servers, a chat tier growing 4x a year
over twelve monthly periods; the relaxation orders a fraction of a server in each of several
months, and the rounded plan's orders by month t are ceil(sum of the relaxation's by t)."""

from __future__ import annotations

import math
import textwrap
from itertools import accumulate
from pathlib import Path

from tiny_site import owned_h100_sites

import planner

TOPOLOGY = owned_h100_sites({"dc-a": (0.05, 100, 2)})  # one site owning two servers

SCENARIO = textwrap.dedent(
    """\
    topology: topo.yaml
    economics: {horizon: 1 year, period: 1 month, pricing: amortised, start_date: 2026-01-01}
    workloads:
      chat:
        kind: inference
        model: llama-3.1-70b
        precision: fp8
        requests_per_day: 2M
        prompt_tokens: 1000
        output_tokens: 500
        tokens_per_s_per_user: 30
        growth_per_year: 4
    """
)


def test_orders_are_rounded_up_cumulatively(tmp_path: Path) -> None:
    (tmp_path / "topo.yaml").write_text(TOPOLOGY, encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    relaxed = planner.solve(planner.load_scenario(path), relax=True)
    rows = sorted(relaxed.schedule, key=lambda r: r.period)
    ordered = [r.ordered for r in rows]
    fractional = [x for x in ordered if x > 1e-6 and abs(x - round(x)) > 1e-6]
    # The case this test is about: each month's order rounded up alone buys more.
    assert len(fractional) >= 2
    assert sum(math.ceil(x - 1e-6) for x in ordered) > math.ceil(sum(ordered) - 1e-6)

    sc = planner.load_scenario(path, sets=["solver.incumbent=true"])
    plan = planner.solve(sc, mip_gap=0.5)  # verified, or it raises
    assert plan.solver.proof == "rounded"
    rounded = sorted(plan.schedule, key=lambda r: r.period)
    bought = list(accumulate(r.ordered for r in rounded))
    wanted = [math.ceil(c - 1e-6) for c in accumulate(ordered)]
    assert bought == wanted
    for lp, whole in zip(rows, rounded, strict=True):
        assert whole.units >= lp.units - 1e-6  # never fewer in service than the relaxation


def test_lasting_counts_are_rounded_before_the_per_period_ones(tmp_path: Path, monkeypatch) -> None:
    """Orders and term contracts are rounded first; the rentals, spot and CPU rentals are
    rounded from the LP re-solved with those whole (the units rounding up adds then serve in
    place of rentals): at the second rounding every lasting count is fixed at a whole number."""
    from planner.lp import incumbent

    (tmp_path / "topo.yaml").write_text(TOPOLOGY, encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace("pricing: amortised", "pricing: mixed"), encoding="utf-8")
    stages: list[tuple[set[int], set[int], bool]] = []
    round_counts = incumbent._round_counts

    def recording(model, counts, values, rows):
        lasting = incumbent._lasting(model)
        lp = model.prob.solverModel.getLp()
        whole = all(
            lp.col_lower_[i] == lp.col_upper_[i] == round(lp.col_upper_[i]) for i in lasting
        )
        stages.append((set(counts), lasting, whole))
        return round_counts(model, counts, values, rows)

    monkeypatch.setattr(incumbent, "_round_counts", recording)
    sc = planner.load_scenario(path, sets=["solver.incumbent=true"])
    assert planner.solve(sc, mip_gap=0.5).solver.proof == "rounded"
    assert len(stages) == 2
    (first, lasting, _), (second, _, whole) = stages
    assert first and first <= lasting  # orders and contracts
    assert second and not second & lasting  # rentals, spot units
    assert whole  # rounded from an LP with every order and contract whole
