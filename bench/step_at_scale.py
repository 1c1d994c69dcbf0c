"""A per-step cost at scale: does collective latency, the slowest of many replicas, or the
expert gradient exchange explain the MLPerf Training v6.0 DeepSeek-V3 misses at 2,048-8,192
GPUs and the Llama 3.1 8B strong-scaling miss? (session scale; analysis, a negative result, no
model change)

The misses (planner/calibration/training.yaml, ids mlperf60-*): DeepSeek-V3 671B at a fixed
global batch on growing GPU counts, one layout per system (GB200: TP2 PP4 VP4 EP32, NVIDIA
Tyche-hsg, 400 Gb/s a GPU; GB300: TP1 PP4 VP4 EP32, NVIDIA Theia 256-512 and CoreWeave
2,048-8,192, 800 Gb/s a GPU), and the 8B on 1,024 GB200 (TP4 CP4 DP64, one micro-batch a step).

1. *What the runs measure* (`fixed_cost_fit`): a least-squares line step = a x m + F through
   each system's measured steps against its micro-batches per DP rank m. GB200 (five sizes,
   one cluster and release): F ~1.4-1.9 s a step whichever four of the five points are used,
   and the residual F a size implies (measured - a x m with the slope of the line) is flat from
   256 to 8,192 GPUs: a cost that does not shrink with m and does not grow with the GPU count.
2. *Collective latency* (`latency_per_step`): NCCL's own cost model for a ring reduce-scatter or
   all-gather over n ranks on N nodes (an NVL72 domain is one node under MNNVL): base + (n-1 -
   (N-1)) x intra + (N-1) x inter (NVIDIA/nccl src/graph/tuning.cc @01afd20a, Ring/Simple: base
   8.4 us, NVLink 3.4 us, network 9.6 us a step). Buckets: Megatron's DDP bucket_size, which the
   v6.0 DeepSeek-V3 configs set to 134,217,728 parameters (conf/deepseekv3_671b.yaml
   optim.bucket_size), dense and expert parameters in buffers of their own (the expert buffer
   reduced over the expert-data-parallel group); one reduce-scatter and one all-gather a bucket
   a step, all counted exposed (an upper bound).
3. *The slowest of many replicas* (`straggler`): each replica's step is the sum of its m
   micro-batches; with a per-micro-batch spread sigma the expected maximum of N replicas is
   sigma x sqrt(m) x sqrt(2 ln N) over the mean (Gumbel). sigma derived from the model's own
   routing statistics (the busiest of EP ranks under random routing: a rank's routed copies ~
   Poisson(t k), the spread of the busiest of EP of them sigma_max = sqrt(t k) x pi / sqrt(6) /
   sqrt(2 ln EP), on the expert share of the micro-batch, independent over the MoE layers of a
   stage). And the sigma the GB200 series would need, checked against the step-to-step spread
   the logs show (the maximum of N replicas has a spread of its own, sigma_step x pi / sqrt(6)
   / sqrt(2 ln N)).
4. *The expert gradient exchange across InfiniBand* (`expert_exchange`): the model reduced every
   parameter's gradient inside the scale-up domain first, but the EP ranks of a domain hold
   different experts: an expert's gradient meets its copies only across domains (since session
   expdp the model carries this exchange, with its expert TP = TP until session etp put the
   runs' expert TP 1 on the rows; `dense_exchange` is its dense part). With the runs'
   expert tensor parallel size (1: conf/model/671b.yaml expert_tensor_parallel_size default,
   not set by the configs) each GPU holds expert/(PP x EP) parameters, reduced over G/(PP x EP)
   copies, G/(PP x EP x domains per stage) of them per domain; BF16 gradients
   (pretrain.py override_performance_configs: grad_reduce_in_fp32 False) and the FP8 parameter
   all-gather (config_common_mxfp8.sh FP8_PARAM_GATHER). Exposed beyond the model's window
   (the last micro-batch and the bubble) with the model's dense exchange, and, as an upper
   bound, all of it.
5. *The 8B* (`llama_8b`): the same latency model for its DP reduce-scatter and all-gather
   (bucket 768,000,000: config_GB200_256x4x1xtp4pp1cp4_8b.sh BUCKET_SIZE) and per-layer TP4 /
   CP4 collectives, all exposed, with the model's DP exchange (16.6 ms) exposed too.

6. *The latency term in the model, scratch* (`with_latency`, `latency_scan`): item 2's latency
   added to the model's DP exchange under its exposure rule on every training row (the runs'
   buckets where their configs give them, Megatron-LM's default max(40e6, 1e6 x DP·CP) else).

Sources: Richardyu114/training_results_v6.0 @eabf23a07b2a0c60a289ff871dc3a46fff0d0421 (a copy of
mlcommons/training_results_v6.0): NVIDIA/benchmarks/deepseekv3_671b/implementations/
tyche-hsg_ngpu8192_ngc26.04_nemo/{config_GB200_2048x4x16xtp2pp4ep32cp1_mxfp8_full_cg.sh,
conf/deepseekv3_671b.yaml, callback_logging.py}, tyche-hsg_ngpu4096_ngc26.04_nemo/pretrain.py,
tyche-hsg_ngpu512_ngc26.04_nemo/{config_common.sh, config_common_mxfp8.sh, conf/model/671b.yaml};
the measured steps are the yaml rows' (their source texts list them).

    PYTHONPATH=$PWD python bench/step_at_scale.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import (
    StepTime,
    dp_pieces,
    hierarchical_exchange_s,
    model_figures,
    train_figures,
)

# NCCL's ring cost model (src/graph/tuning.cc @01afd20a, NVIDIA/nccl): Ring/Simple protocol,
# microseconds: base latency, a step over NVLink, a step over the network.
NCCL_RING_SIMPLE_BASE_US = 8.4
NCCL_RING_SIMPLE_NVLINK_US = 3.4
NCCL_RING_SIMPLE_NET_US = 9.6
# Megatron DDP bucket sizes (parameters) the runs set.
DSV3_BUCKET_PARAMS = 134_217_728  # conf/deepseekv3_671b.yaml optim.bucket_size default
LLAMA8B_BUCKET_PARAMS = 768_000_000  # config_GB200_256x4x1xtp4pp1cp4_8b.sh BUCKET_SIZE
DSV3_EXPERT_TP = (
    1  # conf/model/671b.yaml expert_tensor_parallel_size (EXPERT_TENSOR_PARALLEL unset)
)
GRAD_BYTES = 2.0  # grad_reduce_in_fp32 False (pretrain.py)
PARAM_GATHER_BYTES = 1.0  # FP8_PARAM_GATHER=True (config_common_mxfp8.sh)

GB200 = [f"mlperf60-deepseek-v3-gb200-{g}gpu-step" for g in (256, 512, 2048, 4096, 8192)]
GB300_THEIA = [f"mlperf60-deepseek-v3-gb300-{g}gpu-step" for g in (256, 512)]
GB300_COREWEAVE = [f"mlperf60-deepseek-v3-gb300-{g}gpu-step" for g in (2048, 4096, 8192)]
LLAMA_8B = "mlperf60-llama31-8b-fp8-gb200-1024gpu"
# The logged steady steps (train_step_time, s) of the GB200 series: the yaml rows' source texts.
GB200_LOGGED = {
    256: [59.190, 59.034, 59.246, 59.329, 59.245, 59.036, 59.173],
    512: [30.695, 30.672, 30.637, 30.762, 30.804, 30.811],
    2048: [9.076, 9.130, 9.057, 9.083, 9.037, 9.084],
    4096: [5.354, 5.378, 5.816, 5.433, 5.359, 5.412],
    8192: [3.497, 3.519, 3.565, 3.472, 3.416, 3.441, 3.454, 3.457],
}
GUMBEL_SD = math.pi / math.sqrt(6.0)  # the standard deviation of a standard Gumbel variable


@dataclass(frozen=True)
class Point:
    """One row: its measured step, the model's step and the figures the candidates need."""

    id: str
    gpus: int
    sequence_tokens: int
    m: int
    measured_s: float
    st: StepTime
    f: Any
    mf: Any

    @property
    def gap_s(self) -> float:
        return self.measured_s - self.st.step_s


def _row(rid: str) -> dict[str, Any]:
    return next(r for r in ct.runs() if r["id"] == rid)


def point(rid: str, catalog: Catalog) -> Point:
    r = _row(rid)
    st = ct._step(catalog, r, r["layout"], int(r["sequence_length"]), r["global_batch_tokens"])
    hw = hardware(catalog, r["system"])
    assert hw is not None
    f = train_figures(hw, r["precision"])
    mf = model_figures(catalog.models[r["model"]], int(r["sequence_length"]))
    measured = float(r["global_batch_tokens"]) / float(r["published"])
    return Point(
        rid,
        st.layout.accelerators,
        int(r["sequence_length"]),
        int(st.micro_batches),
        measured,
        st,
        f,
        mf,
    )


def fixed_cost_fit(points: list[Point]) -> tuple[float, float]:
    """Least squares step = a x m + F over the points: (a s a micro-batch, F s a step)."""
    m = np.array([p.m for p in points], dtype=float)
    y = np.array([p.measured_s for p in points])
    a, f = np.polyfit(m, y, 1)
    return float(a), float(f)


def leave_one_out(points: list[Point]) -> list[float]:
    """F of the line through every four of the five points."""
    return [fixed_cost_fit(points[:i] + points[i + 1 :])[1] for i in range(len(points))]


def nccl_ring_s(ranks: int, nodes: int) -> float:
    """NCCL's modelled latency of one ring reduce-scatter or all-gather (Ring/Simple), s."""
    if ranks <= 1:
        return 0.0
    inter = max(0, nodes - 1)
    us = (
        NCCL_RING_SIMPLE_BASE_US
        + (ranks - 1 - inter) * NCCL_RING_SIMPLE_NVLINK_US
        + inter * NCCL_RING_SIMPLE_NET_US
    )
    return us * 1e-6


def dsv3_groups(p: Point) -> dict[str, float]:
    """Per-GPU parameters and the DP groups of the run's layout (expert TP 1)."""
    lay = p.st.layout
    dom = p.f.scale_up_domain
    dense = (p.mf.params - p.mf.expert_params) / (lay.tp * lay.pp)
    expert = p.mf.expert_params / (DSV3_EXPERT_TP * lay.pp * lay.ep)
    dp_group = lay.dp * lay.cp
    # the fewest DP ranks a domain and the domains a group spans (the model's placement, DP
    # beside TP·CP: dp_pieces)
    per_domain, _, nodes = dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, dom)
    expert_dp = lay.dp * lay.cp * lay.tp // (lay.ep * DSV3_EXPERT_TP)
    copies = max(1, per_domain * lay.tp // (lay.ep * DSV3_EXPERT_TP))  # expert copies a domain
    return {
        "dense_params": dense,
        "expert_params": expert,
        "dense_ranks": dp_group,
        "dense_nodes": nodes,
        "expert_ranks": expert_dp,
        "expert_nodes": max(1, expert_dp // copies),
        "copies": copies,
    }


def latency_per_step(p: Point) -> float:
    """Every DP bucket's reduce-scatter and all-gather latency, all exposed, s a step."""
    g = dsv3_groups(p)
    dense_buckets = math.ceil(g["dense_params"] / DSV3_BUCKET_PARAMS)
    expert_buckets = math.ceil(g["expert_params"] / DSV3_BUCKET_PARAMS)
    per_dense = nccl_ring_s(int(g["dense_ranks"]), int(g["dense_nodes"]))
    per_expert = nccl_ring_s(int(g["expert_ranks"]), int(g["expert_nodes"]))
    return 2.0 * (dense_buckets * per_dense + expert_buckets * per_expert)


def latency_exposed(p: Point) -> float:
    """The latency added to the model's DP exchange under its own exposure rule (beyond the
    last micro-batch and the bubble), s a step more than the model exposes now."""
    window = p.st.micro_batch_s + p.st.bubble_s
    return max(0.0, p.st.dp_s + latency_per_step(p) - window) - p.st.dp_exposed_s


def dense_exchange(p: Point) -> float:
    """The model's exchange of the dense parameters alone (its placement), s."""
    lay = p.st.layout
    dom = p.f.scale_up_domain
    su = p.f.scale_up_bytes_per_s * p.f.collective_efficiency
    so = p.f.scale_out_bytes_per_s * p.f.collective_efficiency
    pieces = dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, dom, p.st.pp_in_scale_up)
    sync = (
        (p.mf.params - p.mf.expert_params) / (lay.tp * lay.pp) * (GRAD_BYTES + PARAM_GATHER_BYTES)
    )
    return float(hierarchical_exchange_s(sync, pieces, su, so))


def expert_exchange(p: Point) -> tuple[float, float]:
    """(the expert reduce-scatter + all-gather with the runs' expert TP (1), s; the exchange with
    the model's dense one exposed beyond the model's window, s): the expert gradients cross
    domains but for the copies a domain holds (reduced over NVLink first). The model (session
    expdp) carried the same exchange with its expert TP = TP: on GB200 (TP2) half the bytes a
    GPU and one copy a domain, the same bytes over InfiniBand; since session etp the rows carry
    the runs' expert TP 1 and the model's expert exchange is this one."""
    g = dsv3_groups(p)
    su = p.f.scale_up_bytes_per_s * p.f.collective_efficiency
    so = p.f.scale_out_bytes_per_s * p.f.collective_efficiency
    sync = g["expert_params"] * (GRAD_BYTES + PARAM_GATHER_BYTES)
    c, outer = g["copies"], g["expert_nodes"]
    t = (c - 1) / c * sync / su + (outer - 1) / outer * sync / c / so
    window = p.st.micro_batch_s + p.st.bubble_s
    return t, max(0.0, t + dense_exchange(p) - window)


def straggler(p: Point) -> dict[str, float]:
    """The derived per-micro-batch spread and the expected slowest replica over the mean."""
    lay = p.st.layout
    t = lay.micro_batch * p.sequence_tokens / lay.cp
    mu = t * p.mf.experts_per_token  # routed copies a rank receives a layer, on average
    sd_max = math.sqrt(mu) * GUMBEL_SD / math.sqrt(2.0 * math.log(lay.ep))
    expert_share = 1.0  # upper bound: the whole micro-batch scales with the busiest rank
    moe_layers = p.st.stage_layers or 16.0
    sigma_mb = p.st.micro_batch_s * expert_share * sd_max / mu / math.sqrt(moe_layers)
    n = lay.dp
    excess = sigma_mb * math.sqrt(p.m) * math.sqrt(2.0 * math.log(n)) if n > 1 else 0.0
    return {"sigma_mb_s": sigma_mb, "excess_s": excess}


def needed_sigma(p: Point) -> float:
    """The per-micro-batch spread that would make the slowest of the DP replicas close the gap."""
    n = p.st.layout.dp
    return p.gap_s / (math.sqrt(p.m) * math.sqrt(2.0 * math.log(n)))


def predicted_step_spread(p: Point, sigma_mb: float) -> float:
    """The step-to-step standard deviation of the slowest of N replicas (Gumbel)."""
    n = p.st.layout.dp
    return sigma_mb * math.sqrt(p.m) * GUMBEL_SD / math.sqrt(2.0 * math.log(n))


def llama_8b(catalog: Catalog) -> dict[str, float]:
    """The 8B on 1,024 GB200: latency of its DP buckets and per-layer TP/CP collectives."""
    p = point(LLAMA_8B, catalog)
    lay = p.st.layout
    dom = p.f.scale_up_domain
    params = p.mf.params / lay.tp
    dp_group = lay.dp * lay.cp
    domains = dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, dom)[2]
    dp_lat = 2 * math.ceil(params / LLAMA8B_BUCKET_PARAMS) * nccl_ring_s(dp_group, domains)
    # TP4 with sequence parallelism: 2 all-gathers + 2 reduce-scatters forward, as many backward
    # a layer; CP4 ring attention: CP-1 exchanges forward and backward a layer; all in a domain
    tp_lat = 8 * p.mf.layers * nccl_ring_s(lay.tp, 1)
    cp_lat = 2 * (lay.cp - 1) * p.mf.layers * nccl_ring_s(2, 1)
    upper = p.st.step_s + p.st.dp_s + dp_lat + tp_lat + cp_lat
    return {
        "measured_s": p.measured_s,
        "model_s": p.st.step_s,
        "dp_s": p.st.dp_s,
        "dp_latency_s": dp_lat,
        "tp_latency_s": tp_lat,
        "cp_latency_s": cp_lat,
        "upper_s": upper,
    }


# 6. The latency term in the model, scratch: NCCL ring latency of every DP bucket (dense and
# expert buffers apart, the model's expert TP = TP), added to the model's DP exchange under its
# exposure rule, on every training row. Buckets: the runs' own where their configs give them
# (the v6.0 DeepSeek-V3 and 8B rows), else Megatron-LM's default max(40e6, 1e6 x DP·CP)
# (megatron/core/distributed/distributed_data_parallel_config.py bucket_size).
RUN_BUCKETS = {r: float(DSV3_BUCKET_PARAMS) for r in GB200 + GB300_THEIA + GB300_COREWEAVE}
RUN_BUCKETS[LLAMA_8B] = float(LLAMA8B_BUCKET_PARAMS)
MEGATRON_BUCKET_MIN = 40e6
MEGATRON_BUCKET_PER_RANK = 1e6


def with_latency(st: StepTime, mf: Any, f: Any, bucket: float = 0.0) -> float:
    """The step with the DP buckets' ring latency added to the DP exchange, s."""
    lay = st.layout
    dp_group = lay.dp * lay.cp
    if dp_group <= 1:
        return st.step_s
    dom = f.scale_up_domain
    per_domain, _, domains = dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, dom, st.pp_in_scale_up)
    p_exp = mf.expert_params / (lay.tp * lay.pp * lay.ep) if mf.experts else 0.0
    p_dense = (mf.params - mf.expert_params) / (lay.tp * lay.pp)
    b = bucket or max(MEGATRON_BUCKET_MIN, MEGATRON_BUCKET_PER_RANK * dp_group)
    lat = math.ceil(p_dense / b) * nccl_ring_s(dp_group, domains)
    if mf.experts and lay.ep > 1:
        ranks = dp_group // lay.ep
        copies = max(1, per_domain // lay.ep)
        lat += math.ceil(p_exp / b) * nccl_ring_s(ranks, max(1, math.ceil(ranks / copies)))
    window = st.micro_batch_s + st.bubble_s
    return st.step_s - st.dp_exposed_s + max(0.0, st.dp_s + 2.0 * lat - window)


@contextlib.contextmanager
def latency_term(catalog: Catalog) -> Iterator[None]:
    """ct._step with the latency term (scratch), restored on exit. A fully sharded (FSDP) row is
    left as it is: it has no ZeRO-1 bucket exchange at the step's end, and the model already
    charges NCCL's ring latency on each of its per-layer gathers and reduce-scatters
    (ring_latency_s, session fsdp)."""
    original = ct._step

    def patched(cat: Catalog, run: dict[str, Any], *args: Any, **kw: Any) -> StepTime:
        st = original(cat, run, *args, **kw)
        if st.layout.fsdp:
            return st
        hw = hardware(cat, run["system"])
        assert hw is not None
        precision = kw.get("precision") or (args[3] if len(args) > 3 else None)
        f = train_figures(hw, precision or run["precision"])
        mf = model_figures(cat.models[run["model"]], int(args[1]), mtp=bool(run.get("mtp", True)))
        new = with_latency(st, mf, f, RUN_BUCKETS.get(run["id"], 0.0))
        k = st.step_s / new
        return dataclasses.replace(st, step_s=new, tokens_per_s=st.tokens_per_s * k, mfu=st.mfu * k)

    ct._step = patched
    try:
        yield
    finally:
        ct._step = original


def latency_scan(catalog: Catalog) -> list[tuple[str, float, float, bool, bool, bool]]:
    """Every training row whose value the term moves (> 0.05%): (id, error before, after, in
    band before, after, known miss)."""
    before = {r["id"]: ct.predict(r, catalog) for r in ct.runs()}
    with latency_term(catalog):
        after = {r["id"]: ct.predict(r, catalog) for r in ct.runs()}
    out = []
    for r in ct.runs():
        b, a, pub = before[r["id"]], after[r["id"]], float(r["published"])
        if abs(a / b - 1) > 5e-4:
            out.append(
                (
                    r["id"],
                    b / pub - 1,
                    a / pub - 1,
                    ct.within(r, b),
                    ct.within(r, a),
                    "known_miss" in r,
                )
            )
    return out


def main() -> None:
    catalog = load_catalog()
    gb200 = [point(r, catalog) for r in GB200]
    theia = [point(r, catalog) for r in GB300_THEIA]
    cw = [point(r, catalog) for r in GB300_COREWEAVE]
    print("1. measured step = a x m + F")
    for name, pts in (("GB200", gb200), ("GB300 Theia", theia), ("GB300 CoreWeave", cw)):
        a, f = fixed_cost_fit(pts)
        print(
            f"  {name}: a {a * 1e3:.1f} ms a micro-batch, F {f:.2f} s (model: {pts[0].st.micro_batch_s * 1e3:.1f} ms, bubble {pts[0].st.bubble_s:.3f} s)"
        )
    print("  GB200 leave-one-out F:", ", ".join(f"{x:.2f}" for x in leave_one_out(gb200)))
    a, _ = fixed_cost_fit(gb200)
    print(
        "  GB200 residual F a size (measured - a x m):",
        ", ".join(f"{p.gpus}: {p.measured_s - a * p.m:.2f}" for p in gb200),
    )
    print(
        "\n2-4. per point: gap (measured - model), latency (all; exposed by the model's rule), expert exchange (all; exposed with the dense one), straggler"
    )
    for p in gb200 + theia + cw:
        lat = latency_per_step(p)
        lat_x = latency_exposed(p)
        ex, ex_x = expert_exchange(p)
        s = straggler(p)
        print(
            f"  {p.id:42s} m {p.m:4d} gap {p.gap_s:+.3f} s | latency {lat:.3f} ({lat_x:.3f} exposed) | expert exchange (expert TP 1) {ex:.3f} ({ex_x:.3f} exposed; the model's, expert TP = TP: {p.st.dp_s - dense_exchange(p):.3f}, {p.st.dp_exposed_s:.3f} exposed) | straggler {s['excess_s'] * 1e3:.2f} ms (sigma_mb {s['sigma_mb_s'] * 1e6:.0f} us)"
        )
    print(
        "\n3. the spread the GB200 series would need (slowest of DP replicas) and the step spread it implies"
    )
    for p in gb200:
        need = needed_sigma(p)
        logged = float(np.std(GB200_LOGGED[p.gpus], ddof=1))
        print(
            f"  {p.gpus:5d} GPUs: sigma_mb {need * 1e3:.0f} ms ({need / p.st.micro_batch_s:.0%} of the micro-batch) -> step spread {predicted_step_spread(p, need):.3f} s; logged {logged:.3f} s"
        )
    print("\n5. Llama 3.1 8B, 1,024 GB200")
    for k, v in llama_8b(catalog).items():
        print(f"  {k}: {v * 1e3:.1f} ms")
    print("\n6. the latency term in the model (scratch): rows it moves")
    for rid, b, a, ib, ia, km in latency_scan(catalog):
        flag = " known miss" if km else ""
        moved = "" if ib == ia else (" -> IN BAND" if ia else " -> OUT OF BAND")
        print(f"  {rid:48s} {b:+.1%} -> {a:+.1%}{moved}{flag}")


if __name__ == "__main__":
    main()
