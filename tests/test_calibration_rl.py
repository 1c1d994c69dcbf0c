"""RL checks: one test per measured NeMo-RL step of planner/calibration/rl.yaml, within its
tolerance or a strict expected failure carrying its `known_miss:`; and the module's arithmetic
recomputed by hand from the planner's rates for one point."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.calibration import rl
from planner.demand.common import TRAINING_FLOPS_PER_PARAM
from planner.demand.rl import rl_rates, update_floor_s

CATALOG = load_catalog()
POINTS = {p.id: p for p in rl.points()}


@pytest.mark.parametrize("point", sorted(POINTS))
def test_rl_point(point: str) -> None:
    p = POINTS[point]
    value = rl.predict(p, CATALOG)
    if p.known_miss:
        assert not rl.within(p, value), (
            f"{point} is within its tolerance now ({value:.4g} s vs {p.published:g} s): remove "
            "its known_miss"
        )
        pytest.xfail(
            f"{point}: planner {value:.4g} s vs published {p.published:g} s: {p.known_miss}"
        )
    assert rl.within(p, value), (
        f"{point}: planner {value:.4g} s vs published {p.published:g} s (+/-{p.tolerance:.0%})"
    )


def test_step_by_hand() -> None:
    """Llama 3.1 8B on 16 H100s (2 HGX units), 64 prompts x 32 generations, P 127, C 1,019:
    generate C decode tokens, prefill P/32 prompt tokens, reference and the policy's own
    logprobs P + C prefill tokens each, train 6 x 8e9 x (P + C) FLOP, per rollout; seconds =
    work x 2,048 / (rate per unit x 2); generation at least the update's floor, the 3,969-token
    cap x the fastest decode step at one sequence (the LP's pace row)."""
    p = POINTS["nemo-rl-0.5-h100-llama3.1-8b-16gpu"]
    rates = rl_rates(p.spec(), CATALOG, "hgx-h100")
    n, prompt, completion, u = 2048, 127, 1019, 2.0
    work = {
        "generate": completion,
        "generate_prefill": prompt / 32,
        "reference": prompt + completion,
        "policy_logprobs": prompt + completion,
        "train": TRAINING_FLOPS_PER_PARAM * 8e9 * (prompt + completion),
    }
    seconds = {k: w * n / (rates[k].per_unit_s * u) for k, w in work.items()}
    floor = update_floor_s(p.spec(), CATALOG, "hgx-h100")
    assert p.spec().max_completion_tokens == 4096 - 127 and floor is not None
    assert floor > seconds["generate"]  # 2,048 rollouts over 2 servers: the floor binds
    seconds["generate"] = floor
    # colocated: 16 GB of BF16 weights over NVLink one way (450 GB/s x 0.75); per GPU, half of
    # the weights + gradients (4 B/param: 128 GB of state needs 2 H100s) and 1/16 of the Adam
    # state (12 B/param) out to host memory and back at 4 GB/s; 10 s fixed
    seconds["refit"] = 8e9 * 2 / (450e9 * 0.75)
    seconds["offload"] = 2 * (8e9 * 4 / 2 + 8e9 * 12 / 16) / 4e9
    seconds["update_overhead"] = 10.0
    by_hand = sum(seconds.values())
    assert set(rates) == set(work)
    assert rl.predict(p, CATALOG) == pytest.approx(by_hand, rel=1e-9)


def test_run_concurrency_generation_is_slower() -> None:
    """At the run's own batch (fewer sequences than fill HBM) the planner's decode is no faster
    than at the LP's HBM-limited batch, and the longest response's floor is positive."""
    for p in POINTS.values():
        diag = rl.run_concurrency_generation(p, CATALOG)
        rate = rl_rates(p.spec(), CATALOG, p.system)["generate"].per_unit_s
        at_hbm_batch = p.completion_tokens * p.rollouts / (rate * rl.units(p, CATALOG))
        assert diag["generate_s"] >= at_hbm_batch
        floor = update_floor_s(p.spec(), CATALOG, p.system)
        assert floor is not None  # the stage is the slower of the rate and the update's floor
        assert rl.stage_seconds(p, CATALOG)["generate"] == max(at_hbm_batch, floor)
        assert diag["step_1_s"] <= diag["step_s"] and diag["longest_floor_s"] > 0


def test_rows_cover_every_point() -> None:
    rows = rl.rows(CATALOG)
    assert [r.point for r in rows] == list(POINTS)
    assert all(r.family == "rl-checks" and r.metric == "RL step s" for r in rows)
