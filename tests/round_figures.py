"""Round training figures for steps computed by hand (tests/test_demand_training.py,
tests/test_expert_dp_exchange.py)."""

from __future__ import annotations

from planner.demand.training import TrainFigures

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
