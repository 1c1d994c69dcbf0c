"""RL generation at the run's own concurrency (planner/demand/rl.py generation_point): the
maximum-entropy length distribution keeps the stated mean; a synchronous step's few rollouts
per instance generate far below the saturated rate; at planning scale (many more samples in
flight than fill HBM) the rate comes back to the saturated one; the LP receives the rate at
the run's size."""

from __future__ import annotations

import math

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.rl import (
    DRAIN_SEGMENTS,
    GenerationPoint,
    generation_point,
    length_quantile,
    length_shape,
    length_survival,
    rl_rates,
)
from planner.kinds.rl import RLSpec

CATALOG = load_catalog()
LLAMA = CATALOG.models["llama-3.1-8b"]
H100 = hardware(CATALOG, "hgx-h100")


@pytest.mark.parametrize(("mean", "cap"), [(1019, 3969), (744, 1429), (4000, 16384), (500, 1000)])
def test_length_distribution_keeps_the_mean(mean: float, cap: float) -> None:
    x = length_shape(mean, cap)
    steps = 20_000
    integral = sum(length_survival((i + 0.5) / steps, x) for i in range(steps)) / steps
    assert integral * cap == pytest.approx(mean, rel=1e-4)  # E[L] = cap x integral of S
    assert length_survival(0.0, x) == pytest.approx(1.0)
    assert length_survival(1.0, x) == pytest.approx(0.0, abs=1e-12)
    assert length_survival(length_quantile(0.01, x), x) == pytest.approx(0.01)
    assert (x > 0) == (mean < cap / 2)


def _point(
    in_flight: float, accelerators: float, cap: int | None = 3969, drains: bool = True
) -> GenerationPoint:
    assert H100 is not None
    return generation_point(
        LLAMA, H100, "bf16", 127, 1019, 32, cap, in_flight, accelerators, drains
    )


def test_a_synchronous_step_generates_far_below_saturation() -> None:
    # 2,048 rollouts on 16 H100s: 1,024 a TP8 instance of the 4,176 HBM holds, draining
    p = _point(2048.0, 16.0)
    assert p.batch == 1024 and p.full_s == 0 and p.drain_s > 0
    assert p.rate.per_unit_s < 0.35 * p.saturated_per_unit_s
    # without the drain (separate pools, or no cap) the batch stays at 1,024
    flat = _point(2048.0, 16.0, drains=False)
    assert flat.drain_s == 0 and p.rate.per_unit_s < flat.rate.per_unit_s
    assert flat.rate.per_unit_s < flat.saturated_per_unit_s
    assert _point(2048.0, 16.0, cap=None).rate.per_unit_s == flat.rate.per_unit_s


def test_at_planning_scale_the_rate_is_the_saturated_one() -> None:
    # 500K samples in flight on 64 H100s (7,800 a server-sized instance, HBM holds 4,176): the
    # full batch runs until the queue drains; the drain is a small share of the generation
    p = _point(500_000.0, 64.0)
    assert p.in_flight > p.hbm_batch and p.batch == math.floor(p.hbm_batch)
    assert p.rate.per_unit_s == pytest.approx(p.saturated_per_unit_s, rel=0.12)
    far = _point(5e7, 64.0)  # 100x: the drain's share falls as 1 / in-flight per instance
    assert far.rate.per_unit_s == pytest.approx(far.saturated_per_unit_s, rel=2e-3)
    assert far.rate.per_unit_s > p.rate.per_unit_s
    # with no drain (separate pools or no cap) and the HBM batch filled: exactly saturated
    for flat in (_point(500_000.0, 64.0, drains=False), _point(500_000.0, 64.0, cap=None)):
        assert flat.rate.per_unit_s == flat.saturated_per_unit_s


def test_the_lp_receives_the_rate_at_the_runs_size() -> None:
    spec = RLSpec.model_validate(
        {
            "policy": "llama-3.1-8b",
            "problems": 64,
            "samples_per_problem": 32,
            "prompt_tokens": 127,
            "completion_tokens": 1019,
            "kept_fraction": 1.0,
            "samples_per_update": 2048,
            "deadline": "1 day",
            "max_completion_tokens": 3969,
            "max_staleness_updates": 2,
        }
    )
    rate = rl_rates(spec, CATALOG, "hgx-h100", accelerators=16)["generate"]
    # in flight: max(1, staleness) x samples_per_update, as the pace row counts them
    assert rate.per_unit_s == _point(4096.0, 16.0).rate.per_unit_s
    assert "at the run's concurrency" in rate.reason
    assert DRAIN_SEGMENTS == 64
