"""What changes with scale in the MLPerf Training v6.0 DeepSeek-V3 runs, and what the model
charges for it (session dsv3scale: a tabulation and the per-step terms checked; one term adopted,
the all-to-all outside the 1F1B overlap).

1. *The table* (`table`): for each calibration row (NVIDIA GB200 Tyche-hsg 512-8,192 GPUs and
   Google GB200 256, TP2 PP4 VP4 EP32 expert TP 1 RECOMPUTE_MODULES=mlp; NVIDIA GB300 Theia
   256-512 and CoreWeave GB300 2,048-8,192, TP1 PP4 VP4 EP32 no recomputation; every run
   MINIBS = micro-batches per DP rank, MBS 1, HybridEP over the NVL72 domain, full-iteration
   CUDA graphs, OVERLAP_MOE_EXPERT_PARALLEL_COMM=True, pipeline layout Et*4|(t*4|)*14tmL): the
   global batch, DP, micro-batches per DP rank m, the measured step (the median logged
   train_step_time: the yaml rows' `published` = GBS x 4,096 / that step) and the model's step
   split into its terms (per micro-batch: GEMM, output heads, attention, memory-bound, exposed
   TP/EP/PP; per step: the interleaved bubble, the all-to-all outside the 1F1B overlap, the
   exposed DP exchange of the whole one, the optimizer).
2. *The scale signature* (`line`): measured - model against m, least squares per cluster: a
   cost a micro-batch (slope) and a cost a step (intercept) the model does not carry.
3. *Per-step candidates* (`candidates`), each from its own formula:
   - the evaluation: MLPerf's time-to-train includes a validation after every step
     (VAL_CHECK_INTERVAL=1, ~0.6 s at 8,192 GPUs in result_0's validation_time), but the rows'
     train_step_time excludes it: callback_logging.py's DeltaTimingCallback resets its clock in
     on_eval_end and stops it in on_train_step_end (NVIDIA/benchmarks/deepseekv3_671b/
     implementations/tyche-hsg_ngpu8192_ngc26.04_nemo/callback_logging.py): 0 s;
   - the all-to-all outside the 1F1B overlap (in the model since this session: StepTime.ep_fill_s);
   - the MTP module's shared-embedding gradient all-reduce between the first and the last
     pipeline rank after the backward (Megatron-Core finalize_model_grads
     _allreduce_embedding_grads: the MTP module on the last stage uses the embedding), 2 ranks
     over scale-out, V x hidden / TP parameters at the gradient's 2 bytes: `2·(2-1)/2 · bytes /
     scale-out`, exposed;
   - the last model chunk's gradient reduce-scatter (rank 0's chunk 0 ends the backward, so its
     buckets' reduce-scatter starts last): 1/v of the model's whole DP exchange at the
     gradient's share of its bytes, exposed (an upper bound on what the model's window
     rule misses).

Sources: Richardyu114/training_results_v6.0 @eabf23a07b2a0c60a289ff871dc3a46fff0d0421 (a copy of
mlcommons/training_results_v6.0), the yaml rows' source texts; NVIDIA/Megatron-LM @d98e8a64dd
megatron/core/pipeline_parallel/{schedules.py, combined_1f1b.py}.

    PYTHONPATH=$PWD python bench/dsv3_scale_table.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import StepTime, model_figures, train_figures

SEQUENCE = 4096
GRAD_BYTES = 2.0  # grad_reduce_in_fp32 False (pretrain.py override_performance_configs)
PARAM_GATHER_BYTES = 1.0  # FP8_PARAM_GATHER=True (config_common_mxfp8.sh)

# (row id, cluster) in GPU order within each cluster
ROWS = [
    ("mlperf60-deepseek-v3-gb200-256gpu-step", "GB200 Google"),
    ("mlperf60-deepseek-v3-gb200-512gpu-step", "GB200 NVIDIA"),
    ("mlperf60-deepseek-v3-gb200-2048gpu-step", "GB200 NVIDIA"),
    ("mlperf60-deepseek-v3-gb200-4096gpu-step", "GB200 NVIDIA"),
    ("mlperf60-deepseek-v3-gb200-8192gpu-step", "GB200 NVIDIA"),
    ("mlperf60-deepseek-v3-gb300-256gpu-step", "GB300 NVIDIA"),
    ("mlperf60-deepseek-v3-gb300-512gpu-step", "GB300 NVIDIA"),
    ("mlperf60-deepseek-v3-gb300-2048gpu-step", "GB300 CoreWeave"),
    ("mlperf60-deepseek-v3-gb300-4096gpu-step", "GB300 CoreWeave"),
    ("mlperf60-deepseek-v3-gb300-8192gpu-step", "GB300 CoreWeave"),
]


@dataclass(frozen=True)
class Row:
    id: str
    cluster: str
    gpus: int
    gbs: int
    m: int
    measured_s: float
    st: StepTime
    f: Any
    mf: Any


def row(rid: str, cluster: str, catalog: Catalog) -> Row:
    r = next(x for x in ct.runs() if x["id"] == rid)
    st = ct._step(catalog, r, r["layout"], int(r["sequence_length"]), r["global_batch_tokens"])
    hw = hardware(catalog, r["system"])
    assert hw is not None
    return Row(
        rid,
        cluster,
        st.layout.accelerators,
        int(r["global_batch_tokens"]) // int(r["sequence_length"]),
        int(st.micro_batches),
        float(r["global_batch_tokens"]) / float(r["published"]),
        st,
        train_figures(hw, r["precision"]),
        model_figures(catalog.models[r["model"]], int(r["sequence_length"])),
    )


def line(rows: list[Row]) -> tuple[float, float]:
    """Least squares (measured - model) = a·m + b: (a s a micro-batch, b s a step)."""
    m = np.array([r.m for r in rows], dtype=float)
    gap = np.array([r.measured_s - r.st.step_s for r in rows])
    a, b = np.polyfit(m, gap, 1)
    return float(a), float(b)


def embedding_allreduce_s(r: Row) -> float:
    """The MTP shared embedding's gradient all-reduce between the first and last PP rank, s."""
    lay = r.st.layout
    so = r.f.scale_out_bytes_per_s * r.f.collective_efficiency
    nbytes = r.mf.vocab * r.mf.hidden / lay.tp * GRAD_BYTES
    return 2.0 * (2 - 1) / 2 * nbytes / so


def last_chunk_reduce_s(r: Row) -> float:
    """Rank 0's chunk-0 gradient reduce-scatter, all exposed: 1/v of the model's DP exchange at
    the gradient's share of its bytes, s (an upper bound on what the window rule misses)."""
    lay = r.st.layout
    return r.st.dp_s / lay.vp * GRAD_BYTES / (GRAD_BYTES + PARAM_GATHER_BYTES)


def main() -> None:
    catalog = load_catalog()
    rows = [row(rid, c, catalog) for rid, c in ROWS]
    print("1. the runs and the model's step (s; per micro-batch terms in ms)")
    print(
        f"  {'cluster':16s} {'GPUs':>5s} {'GBS':>6s} {'DP':>5s} {'m':>4s} {'measured':>8s} "
        f"{'model':>7s} {'err':>7s} | {'mb':>6s} {'GEMM':>5s} {'heads':>5s} {'attn':>5s} "
        f"{'mem':>5s} {'TP':>4s} {'EP':>4s} {'PP':>4s} | {'bubble':>6s} {'EPfill':>6s} "
        f"{'DPexp':>6s} {'(DP)':>6s} {'opt':>6s}"
    )
    for r in rows:
        st = r.st
        err = r.measured_s / st.step_s - 1.0  # the planner's tokens/s over the measured
        print(
            f"  {r.cluster:16s} {r.gpus:5d} {r.gbs:6d} {st.layout.dp:5d} {r.m:4d} "
            f"{r.measured_s:8.3f} {st.step_s:7.3f} {err:+7.1%} | "
            f"{st.micro_batch_s * 1e3:6.1f} {st.gemm_s * 1e3:5.1f} {st.head_s * 1e3:5.1f} "
            f"{st.attention_s * 1e3:5.1f} {st.memory_s * 1e3:5.1f} {st.tp_s * 1e3:4.1f} "
            f"{st.ep_s * 1e3:4.1f} {st.pp_s * 1e3:4.1f} | {st.bubble_s:6.3f} "
            f"{st.ep_fill_s:6.3f} {st.dp_exposed_s:6.3f} {st.dp_s:6.3f} {st.optimizer_s:6.4f}"
        )
    print("  (err: the planner's tokens/s over the measured, as bench/accuracy.py)")
    print("\n2. measured - model = a x m + b (least squares a cluster)")
    for cluster in ("GB200 NVIDIA", "GB300 NVIDIA", "GB300 CoreWeave"):
        pts = [r for r in rows if r.cluster == cluster]
        a, b = line(pts)
        gaps = ", ".join(f"{r.gpus}: {r.measured_s - r.st.step_s:+.3f}" for r in pts)
        print(f"  {cluster:16s} a {a * 1e3:+6.1f} ms a micro-batch, b {b:+.2f} s a step ({gaps})")
    print("\n3. per-step candidates (s a step)")
    for r in rows:
        print(
            f"  {r.cluster:16s} {r.gpus:5d}: evaluation 0 (not in train_step_time) | "
            f"EP outside the overlap {r.st.ep_fill_s:.3f} (in the model) | MTP embedding "
            f"all-reduce {embedding_allreduce_s(r):.3f} | last chunk's reduce-scatter "
            f"{last_chunk_reduce_s(r):.3f} | gap {r.measured_s - r.st.step_s:+.3f}"
        )


if __name__ == "__main__":
    main()
