"""Round training figures and a toy MoE model for steps computed by hand
(tests/test_demand_training.py, tests/test_expert_dp_exchange.py, tests/test_expert_capacity.py)."""

from __future__ import annotations

import math

from planner.demand.training import ModelFigures, TrainFigures

# Round figures so every term can be computed by hand: 1 PFLOP/s, perfect GEMM shape is
# approached only asymptotically, so shape halves are tiny; links 100 GB/s up, 10 GB/s out.
ROUND_TRAIN_FIGURES = TrainFigures(
    peak_flops=1e15,
    peak_bf16_flops=1e15,
    gemm_efficiency=0.5,
    gemm_half_tokens=1e-9,
    gemm_half_width=1e-9,
    attention_efficiency=0.5,
    hbm_bytes_per_s=1e12,
    memory_bandwidth_utilisation=1.0,
    collective_efficiency=1.0,
    scale_up_bytes_per_s=1e11,
    scale_out_bytes_per_s=1e10,
    scale_up_domain=8,
    usable_hbm_bytes=1e15,
    comm_overlap=0.0,
    cast_bytes_per_hidden=0.0,
)


def toy_moe(active: float) -> ModelFigures:
    """4e9 parameters, 8 layers all MoE, 8 experts, 2 a token, hidden 1,024; `active` sets the
    routed share (active 1e9: (4e9 - 1e9) / (1 - 2/8) x 2/8 = 1e9 routed, all of it)."""
    return ModelFigures(
        params=4e9,
        active=active,
        layers=8,
        hidden=1024,
        heads=8,
        kv_dim=256,
        attention_fwd_per_token_causal=0.0,
        experts=8,
        experts_per_token=2,
        moe_layers=8,
    )


def busiest_rank(ep: int, t: float, k: int) -> float:
    """The busiest of `ep` ranks' routed copies over the mean under random (force-balanced)
    routing, by hand: t·k copies a rank on average, max ≈ μ + sqrt(2 μ ln EP)."""
    return 1.0 + math.sqrt(2.0 * math.log(ep) / (t * k))
