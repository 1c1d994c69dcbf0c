"""RL generation at the run's own concurrency (planner/demand/rl.py generation_point): the
maximum-entropy length distribution keeps the stated mean; a synchronous step's few rollouts
per instance generate far below the saturated rate; at planning scale (many more samples in
flight than fill HBM) the rate comes back to the saturated one; the LP receives the rate at
the run's size."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.inference import pinned_layout
from planner.demand.rl import (
    DRAIN_SEGMENTS,
    GenerationPoint,
    generation_point,
    length_quantile,
    length_shape,
    length_survival,
    rl_rates,
)
from planner.demand.serving_physics import Layout, StepPhysics, allreduce_s, figures, model_load
from planner.demand.types import Rate
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
    spec = RLSpec.model_validate({**RUN, "max_staleness_updates": 2})
    rate = rl_rates(spec, CATALOG, "hgx-h100", accelerators=16)["generate"]
    # in flight: max(1, staleness) x samples_per_update, as the pace row counts them
    assert rate.per_unit_s == _point(4096.0, 16.0).rate.per_unit_s
    assert "at the run's concurrency" in rate.reason
    assert DRAIN_SEGMENTS == 128


# -- the recipe's own engine layout (RLSpec.generator) ---------------------------------------

RUN = {
    "policy": "llama-3.1-8b",
    "problems": 64,
    "samples_per_problem": 32,
    "prompt_tokens": 127,
    "completion_tokens": 1019,
    "kept_fraction": 1.0,
    "samples_per_update": 2048,
    "deadline": "1 day",
    "max_completion_tokens": 3969,
}


def _generate(generator: dict[str, object] | None) -> Rate:
    spec = RLSpec.model_validate({**RUN, "generator": generator})
    return rl_rates(spec, CATALOG, "hgx-h100", accelerators=16)["generate"]


def test_a_stated_layout_is_the_one_generating() -> None:
    """The generation rate on a stated TP2 layout is generation_point's on that layout alone,
    recomputed here from its drain: 8 instances (4 a server) of 256 rollouts, the rate
    Q x C / (full + drain) x instances a unit; it differs from the fastest layout's (TP8)."""
    assert H100 is not None
    stated = _generate({"layout": {"tp": 2}})
    fastest = _generate(None)
    assert stated.per_unit_s != pytest.approx(fastest.per_unit_s, rel=1e-3)
    assert "TP2 x4 instances/unit" in stated.reason and "TP8" in fastest.reason
    point = generation_point(
        LLAMA, H100, "bf16", 127, 1019, 32, 3969, 2048.0, 16.0, True, 4, (2, 1, 1), None, None
    )
    assert point.layout is not None and point.layout.tp == 2 and point.instances == 8
    assert point.in_flight == 256 and point.batch == 256
    per_instance = 256 * 1019 / (point.full_s + point.drain_s)
    assert stated.per_unit_s == pytest.approx(per_instance * 4, rel=1e-12)


def test_engine_memory_share_and_sequence_cap_bound_the_batch() -> None:
    """gpu_memory_utilization 0.3 on TP1: 0.3 x 80 GB less 16 GB of weights holds
    (24 - 16.06) GB / 131 MB = 59 sequences, below the 128 rollouts an instance; max_sequences
    32 caps it further; both slow generation (a queue at the smaller batch)."""
    tp1 = _generate({"layout": {"tp": 1}, "memory_utilization": 0.6})
    tight = _generate({"layout": {"tp": 1}, "memory_utilization": 0.3})
    capped = _generate({"layout": {"tp": 1}, "memory_utilization": 0.6, "max_sequences": 32})
    assert "HBM 59)" in tight.reason and "batch 59 " in tight.reason
    assert "batch 32 " in capped.reason
    assert tight.per_unit_s < tp1.per_unit_s and capped.per_unit_s < tp1.per_unit_s


def test_a_layout_that_cannot_hold_the_model_cannot_generate() -> None:
    rate = _generate({"layout": {"tp": 1}, "memory_utilization": 0.15})
    assert rate.per_unit_s == 0 and "does not hold the bf16 weights" in rate.reason


def test_generator_needs_throughput_mode_and_ep_a_multiple_of_tp() -> None:
    with pytest.raises(ValidationError, match="multiple of tp"):
        RLSpec.model_validate({**RUN, "generator": {"layout": {"tp": 4, "ep": 6}}})
    with pytest.raises(ValidationError, match="throughput-mode"):
        RLSpec.model_validate({**RUN, "generator": {}, "generation_tokens_per_s_per_sequence": 30})


def test_tp_beyond_the_scale_up_domain_all_reduces_over_the_nics() -> None:
    """vLLM TP32 on 8-GPU H100 servers: within each server as before (8 chips), then each
    chip's 1/8 shard across the 4 servers over its NIC: 2 log2(4) x the network hop of such an
    all-reduce (serving.scale_out_allreduce_latency, 48.7 us on H100; scale_out_latency, 5 us,
    where not given) + 2 x 3/4 x bytes / 8 / (50 GB/s x link utilisation); up to the domain the
    formula is unchanged."""
    assert H100 is not None
    s = figures(H100)
    nbytes = 64 * 7168 * 2.0
    up = H100.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    out = H100.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    inner = 2 * 3 * s.scale_up_latency_s + 2 * 7 / 8 * nbytes / up
    assert allreduce_s(H100, 8, nbytes) == pytest.approx(inner, rel=1e-12)
    assert s.scale_out_allreduce_latency_s == pytest.approx(48.7e-6)
    across = 2 * 2 * 48.7e-6 + 2 * 3 / 4 * nbytes / 8 / out
    assert allreduce_s(H100, 32, nbytes) == pytest.approx(inner + across, rel=1e-12)


def test_experts_sharded_over_tp_pay_all_reduces_not_all_to_all() -> None:
    """DeepSeek-V3 on vLLM TP32 without expert parallelism: every chip holds 1/32 of every
    expert, so no EP all-to-all and no hot rank; one more all-reduce per MoE layer."""
    assert H100 is not None
    arch = CATALOG.models["deepseek-v3"]
    load = model_load(arch, "bf16", "bf16", 107, 744, 16)
    tp32 = pinned_layout(arch, H100, load, 32, 1, 1, 0.6)
    ep32 = pinned_layout(arch, H100, load, 8, 1, 32, 0.6)
    assert isinstance(tp32, Layout) and isinstance(ep32, Layout)
    assert tp32.expert_tp and not ep32.expert_tp and tp32.accelerators == ep32.accelerators
    t, e = (
        StepPhysics(H100, load, tp32).terms(64, False),
        StepPhysics(H100, load, ep32).terms(64, False),
    )
    assert t.ep_comm_s == 0 and t.ep_imbalance == 1.0 and e.ep_comm_s > 0
    per = allreduce_s(H100, 32, 64 * arch.hidden * 2.0)
    assert t.tp_comm_s == pytest.approx(
        (arch.layers + arch.moe.dense_layers + arch.moe_layers) * per
    )
