"""The per-step cost multi-node one-sequence Llama 3.1 8B runs show: candidate terms tabulated
(session 23 stepfloor; analysis, no model change)

Every MLPerf Training v5.0-v6.0 Llama 3.1 8B row (planner/calibration/training.yaml) at one
micro-batch a step, measured step (GBS x 8,192 / published) against the model's step and its
parts, and the size of each candidate per-step term, each from the model's own rates and the
row's layout and its recipe (NVIDIA's NeMo llama31_8b configs, mlcommons/training_results_v5.1
@441d65f4, NVIDIA/benchmarks/llama31_8b/implementations/nemo: config_common_8b.sh BUCKET_SIZE
768000000, config_common.sh OVERLAP_GRAD_REDUCE/OVERLAP_PARAM_GATHER True, ALIGN_PARAM_GATHER
False for the 8B; pretrain.py grad_reduce_in_fp32=False, check_for_nan_in_grad=False):

  dp_all     the model's whole DP exchange (gradient reduce-scatter + parameter all-gather),
             what exposing all of it adds (the model hides it behind the micro-batch)
  buckets    Megatron-Core DDP at one micro-batch (NVIDIA/Megatron-LM
             megatron/core/distributed/param_and_grad_buffer.py @d98e8a64: register_grad_ready
             dispatches a bucket's reduce-scatter once its gradients are all ready, so the last
             bucket's (the first layers and the embedding) starts when the backward ends;
             finish_param_sync dispatches the first bucket's all-gather in the forward's first
             pre-hook and waits for it, each next bucket's when the one before it is waited
             on): `AG/n + RS/n + max(0, (n-1)/n·AG - t_fwd) + max(0, (n-1)/n·RS - t_bwd)`,
             n = ceil(P_acc / 768e6) buckets, t_fwd = t_mb/3, t_bwd = 2·t_mb/3, RS and AG the
             model's DP time split by bytes (gradient 2 B, parameter gather 1 B in FP8, 2 B in
             BF16)
  cp_all     the CP ring's K/V passes all exposed (the model hides them behind attention):
             `3·(CP-1)·t·2·kv_dim/TP·2 B · L` over the TP·CP group's bandwidth, minus what the
             model already charges (cp_s x 1)

The residual d = measured - model; a candidate explains the pattern when d - candidate is near
zero on the misses and the candidate is near zero on the rows that pass.

    PYTHONPATH=$PWD python bench/step_floor_v51.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog, load_catalog
from planner.calibration import training
from planner.calibration.training import hardware
from planner.demand.training import (
    ACTIVATION_VALUE_BYTES,
    TRAINING_TO_FORWARD,
    StepTime,
    _group_bandwidth,
    model_figures,
    train_figures,
)

# NVIDIA's 8B recipe: config_common_8b.sh BUCKET_SIZE=768000000 (parameters a DDP bucket)
BUCKET_PARAMS = 768e6


@dataclass(frozen=True)
class Row:
    rid: str
    gpus: int
    layout: str
    measured_s: float
    model_s: float
    micro_batch_s: float
    dp_s: float
    buckets: int
    bucket_exposed_s: float
    cp_all_s: float
    miss: bool

    @property
    def residual_s(self) -> float:
        return self.measured_s - self.model_s


RUNS = {run["id"]: run for run in training.runs()}


def measured_s(run: dict[str, Any]) -> float:
    return float(run["global_batch_tokens"]) / float(run["published"])


def model_step(run: dict[str, Any], catalog: Catalog) -> StepTime:
    return training._step(catalog, run, run["layout"], 8192, run["global_batch_tokens"])


def one_row(run: dict[str, Any], catalog: Catalog) -> Row | None:
    lay = run["layout"]
    st = model_step(run, catalog)
    if st.micro_batches != 1:
        return None
    hw = hardware(catalog, run["system"])
    assert hw is not None
    f = train_figures(hw, run["precision"])
    assert f is not None
    mf = model_figures(catalog.models[run["model"]], 8192)
    tp, pp, cp = int(lay.get("tp", 1)), int(lay.get("pp", 1)), int(lay.get("cp", 1))
    grad_b = BYTES_PER_VALUE[run.get("gradient_precision", "bf16")]
    gather_b = BYTES_PER_VALUE[run.get("param_gather_precision", "bf16")]
    rs = st.dp_s * grad_b / (grad_b + gather_b)
    ag = st.dp_s - rs
    n = math.ceil(mf.params / (tp * pp) / BUCKET_PARAMS)
    fwd = st.micro_batch_s / TRAINING_TO_FORWARD
    bwd = st.micro_batch_s - fwd
    buckets = ag / n + rs / n + max(0.0, (n - 1) / n * ag - fwd) + max(0.0, (n - 1) / n * rs - bwd)
    cp_all = 0.0
    if cp > 1:
        t = lay.get("micro_batch", 1) * 8192 / cp
        cp_bytes = 3.0 * (cp - 1) * t * 2 * mf.kv_dim / tp * ACTIVATION_VALUE_BYTES * mf.layers
        cp_all = cp_bytes / _group_bandwidth(tp * cp, st.layout.accelerators, f) - st.cp_s
    return Row(
        run["id"],
        st.layout.accelerators,
        f"TP{tp} CP{cp} DP{lay['dp']}",
        measured_s(run),
        st.step_s,
        st.micro_batch_s,
        st.dp_s,
        n,
        buckets,
        cp_all,
        bool(run.get("known_miss")),
    )


def rows(catalog: Catalog) -> list[Row]:
    out = []
    for rid, run in RUNS.items():
        if not rid.startswith(
            ("mlperf50-llama31-8b", "mlperf51-llama31-8b", "mlperf60-llama31-8b")
        ):
            continue
        r = one_row(run, catalog)
        if r is not None:
            out.append(r)
    return out


# Rows whose per-GPU work or modelled DP exchange is the same, whose measured steps are not:
# (label, row a, row b)
SAME_WORK_PAIRS: tuple[tuple[str, str, str], ...] = (
    (
        "GB300 72 GPUs: v6.0 FP4 CP1 DP72 / v5.1 FP8 CP2 DP36 (same modelled DP exchange)",
        "mlperf60-llama31-8b-fp4-gb300-hpe-72gpu",
        "mlperf51-llama31-8b-fp8-gb300-72gpu",
    ),
    (
        "H100 TP2, one sequence a replica: v6.0 Cisco 64 GPUs DP32 / v5.1 Cisco 128 DP64",
        "mlperf60-llama31-8b-fp8-h100-cisco-64gpu",
        "mlperf51-llama31-8b-fp8-h100-cisco-128gpu",
    ),
    (
        "B200 FP8 CP2 one recipe: UF 128 GPUs DP64 / UF 256 DP128",
        "mlperf51-llama31-8b-fp8-b200-uf-128gpu",
        "mlperf51-llama31-8b-fp8-b200-uf-256gpu",
    ),
)
CANDIDATES = ("dp_all", "buckets", "cp_all")
# Nebius's v5.1 B200 NVFP4 runs, one recipe (config_DGXB200_{1x8x2,2x8x2,4x8x1}_8b_fp4.sh: TP1,
# FULL_CUDA_GRAPH=0, the same config_common*.sh), one release: (micro-batches a step, sequences
# a micro-batch) = (1, 1) at 32 GPUs, (2, 1) at 16, (1, 2) at 8
NEBIUS_TRIPLE = (
    "mlperf51-llama31-8b-fp4-b200-nebius-32gpu",
    "mlperf51-llama31-8b-fp4-b200-nebius-16gpu",
    "mlperf51-llama31-8b-fp4-b200-nebius-8gpu",
)


def step_parts(one: float, two_mb: float, two_seq: float) -> tuple[float, float, float]:
    """(per step F, per micro-batch c, per sequence s) from step = F + m·c + m·n·s at
    (m, n) = (1, 1), (2, 1), (1, 2): s = two_seq - one, c = two_mb - one - s, F = one - c - s."""
    s = two_seq - one
    c = two_mb - one - s
    return one - c - s, c, s


def candidate_s(r: Row, name: str) -> float:
    return {"dp_all": r.dp_s, "buckets": r.bucket_exposed_s, "cp_all": r.cp_all_s}[name]


def band_moves(table: list[Row], name: str) -> tuple[list[str], list[str]]:
    """(known misses that come into their 15% band, passing rows that leave it) with the
    candidate added to the model's step (one micro-batch a step: tokens/s = B / step)."""
    came, left = [], []
    for r in table:
        run = RUNS[r.rid]
        old_in = training.within(run, run["global_batch_tokens"] / r.model_s)
        new_in = training.within(
            run, run["global_batch_tokens"] / (r.model_s + candidate_s(r, name))
        )
        if new_in and not old_in:
            came.append(r.rid)
        if old_in and not new_in:
            left.append(r.rid)
    return came, left


def main() -> None:
    catalog = load_catalog()
    print(
        "row (one micro-batch a step)                       GPUs layout          measured model"
        "     d | t_mb   dp_all  n buckets  cp_all | d-dp d-bkt d-cp (ms)"
    )
    table = rows(catalog)
    for r in table:
        ms = 1e3
        print(
            f"{r.rid[:50]:50s} {r.gpus:4d} {r.layout:15s} {r.measured_s * ms:6.1f} "
            f"{r.model_s * ms:6.1f} {r.residual_s * ms:+6.1f} | {r.micro_batch_s * ms:6.1f} "
            f"{r.dp_s * ms:6.1f} {r.buckets:2d} {r.bucket_exposed_s * ms:6.1f} "
            f"{r.cp_all_s * ms:6.1f} | {(r.residual_s - r.dp_s) * ms:+6.1f} "
            f"{(r.residual_s - r.bucket_exposed_s) * ms:+6.1f} "
            f"{(r.residual_s - r.cp_all_s) * ms:+6.1f}{'  MISS' if r.miss else ''}"
        )

    by_id = {r.rid: r for r in table}
    print("\nsame work, different steps (measured / model, ms):")
    for label, a, b in SAME_WORK_PAIRS:
        ra, rb = by_id[a], by_id[b]
        print(
            f"  {label}: {ra.measured_s * 1e3:.1f} / {ra.model_s * 1e3:.1f} (DP {ra.dp_s * 1e3:.1f})"
            f" vs {rb.measured_s * 1e3:.1f} / {rb.model_s * 1e3:.1f} (DP {rb.dp_s * 1e3:.1f})"
        )
    meas = [measured_s(RUNS[r]) for r in NEBIUS_TRIPLE]
    model = [model_step(RUNS[r], catalog).step_s for r in NEBIUS_TRIPLE]
    f_m, c_m, s_m = step_parts(*meas)
    f_p, c_p, s_p = step_parts(*model)
    print(
        "\nNebius B200 FP4 (32 GPUs m1 n1, 16 m2 n1, 8 m1 n2): per step F + per micro-batch c +"
        f" per sequence s: measured {f_m * 1e3:.1f} + {c_m * 1e3:.1f} + {s_m * 1e3:.1f} ms,"
        f" model {f_p * 1e3:.1f} + {c_p * 1e3:.1f} + {s_p * 1e3:.1f} ms"
    )
    print("\neach candidate added to every row above:")
    for name in CANDIDATES:
        came, left = band_moves(table, name)
        print(f"  {name}: {len(came)} known misses come in, {len(left)} passing rows leave")
        for rid in came:
            print(f"    in:  {rid}")
        for rid in left:
            print(f"    out: {rid}")


if __name__ == "__main__":
    main()
