"""bench/bench_lp.py `--bare-mip`: the model it writes is the one the planner solves, so HiGHS's
own MIP on that file, at the plan's 1% gap, finds a cost within 1% of the planner's plan, with a
bound no higher than the plan (both are proven within 1% of the same optimum)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_lp  # noqa: E402


@pytest.mark.parametrize("period", [None, "1 quarter"])
def test_bare_mip_solves_the_plans_model(period: str | None) -> None:
    r = bench_lp.run(
        2, 2, 2, 0, "choose", period, "1 year" if period else "365 days", bare_mip_s=60.0
    )
    bare = r["bare"]
    assert bare["status"] == "Optimal"
    plan_usd = r["cost_usd"]
    assert bare["bound_usd"] <= plan_usd * (1 + 1e-9)
    assert abs(bare["cost_usd"] - plan_usd) <= 0.0101 * plan_usd
    assert bare["bound_usd"] >= plan_usd * (1 - 0.0101 - r["gap"])
    assert bare["cpu_s"] > 0
