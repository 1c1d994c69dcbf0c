"""bench/bench_lp.py `--bare-mip`: the model it writes is the one the planner solves, so HiGHS's
own MIP on that file, at the plan's 1% gap, finds a cost within 1% of the planner's plan, with a
bound no higher than the plan (both are proven within 1% of the same optimum)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_lp  # noqa: E402

from planner.demand import training  # noqa: E402


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


def test_stages_add_up_to_the_plans_cpu_and_searches_are_not_repeated() -> None:
    """`--stages`: the stages' CPU seconds and HiGHS's add up to the plan's (every stage is
    counted once, the solve's own Python being the solve less HiGHS's runs); the demand models
    run layout searches, and the same scenario again in the same process runs none (each search
    is kept by job size, model, system figures and run)."""
    training._SEARCHES.cache_clear()  # an earlier test's plans searched the same jobs
    first = bench_lp.run(2, 2, 2, 0, "choose", "1 quarter", "1 year")
    again = bench_lp.run(2, 2, 2, 0, "choose", "1 quarter", "1 year")
    for r in (first, again):
        stages = r["stages_cpu_s"]
        assert set(stages) == {
            "load",
            "demands",
            "build",
            "solve_own",
            "read_plan",
            "verify",
            "report",
        }
        assert sum(stages.values()) + r["highs_cpu_s"] == pytest.approx(r["total_cpu_s"])
        assert r["highs_cpu_s"] > 0
    assert first["searches"] > 0
    assert again["searches"] == 0
    assert again["cost_usd"] == first["cost_usd"]
