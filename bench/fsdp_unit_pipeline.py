"""The Llama 3.1 8B strong-scaling miss on 1,024 GB200 (+276.4%: the model 19.1 ms a step,
measured 71.8 ms; +279.8% and 18.9 ms before session s34 fit's B200-die fractions, BF16 0.48 and
FP8 0.482; +232% and 21.6 ms before session s32 pergemm) against the leads of session s20 scale: Megatron-FSDP's per-layer gathers, NCCL's
per-collective latency, TP-overlap GEMM chunks, a fixed per-step cost (analysis, a negative
result, no model change).

1. *Is the run fully sharded?* No. The recipe's logs print their DDP config: Lambda's run of the
   same NVIDIA NeMo 8B recipe (results/b200_n1_ngc25.09_nemo/llama31_8b/result_1.txt, PyTorch
   26.04, NCCL 2.30.4) reads `DistributedDataParallelConfig(..., use_distributed_optimizer=True,
   bucket_size=768000000, use_megatron_fsdp=False, ..., data_parallel_sharding_strategy=
   'optim_grads_params', suggested_communication_unit_size=None, fsdp_double_buffer=False ...)`:
   the ZeRO-1 distributed optimizer with 768M-parameter DDP buckets, as the model has it; the
   sharding strategy is Megatron's inert default outside a Megatron-FSDP wrapper. The row's
   known_miss and the section note called it Megatron-FSDP: corrected. (The 1,024-GPU log prints
   no configuration; its config file sets the same BUCKET_SIZE.)
2. *Had it been fully sharded* (`schedule`, the counterfactual): each unit's parameters gathered
   before its forward and again before its backward, its gradients reduce-scattered after it, on
   a communication stream of its own, prefetched (two streams, collectives one at a time in issue
   order; a unit's forward or backward waits for its gather; the step ends with the last
   reduce-scatter). A collective takes `alpha + bytes/bandwidth`, the bandwidth term the model's
   own hierarchical one over this run's placement ((k-1)/k of the bytes over NVLink, (outer-1)/
   outer of 1/k of them over InfiniBand, k = 16 DP·CP ranks a domain, outer = 16 domains), alpha
   NCCL's own ring model for 256 ranks on 16 nodes (an NVL72 domain one node): NVIDIA/nccl
   src/graph/tuning.cc @5067397c (ncclTunerConstantsDefaults: Ring base latency LL128 14.0 /
   Simple 8.4 us, a step over NVLink LL128 1.9 / Simple 3.4 us, over the network LL128 4.0 /
   Simple 14.0 us; AllGather and ReduceScatter rings take nRanks-1 steps, nNodes-1 of them over
   the network; NCCL runs neither tree nor NVLS for a multi-node all-gather or reduce-scatter,
   PAT only at one GPU a node): Ring/LL128 530 us, Ring/Simple 1,034 us. One decoder layer a unit
   (Megatron-FSDP's default unit, TransformerLayer) with the embedding and head a unit of their
   own, or ~14 layers a unit (768M parameters). Compute a unit: the model's per-layer GEMM +
   attention + memory-bound time, a third forward and two thirds backward.
3. *TP-overlap GEMM chunks* (`tp_chunked_gemm`): with userbuffers the forward and data-gradient
   GEMMs of each linear run in TP pieces of M/TP rows, the weight-gradient GEMM whole: those two
   GEMMs' share of the layer GEMM time (`chunked_share`, at the step model's per-linear shapes:
   64.4% on the 8B, 2/3 of the FLOPs) at the shape factor of M/TP rows.
4. *A fixed per-step cost* (`b200_pair_fixed_cost`): B200's FP4 fit points (Lambda 8 GPUs, two
   sequences a GPU; CoreWeave 64 GPUs, one) imply, if the step were k x the model's + F, k and F
   from the two (the fit's spread: before session s32 pergemm they implied fractions 0.446 and
   0.380, hardware/data/accelerators.yaml; not recomputed since); and (`scan`, scratch) a
   whole DP exchange exposed, or that F added, on every training row.
5. *DeepSeek-V3 GB200* (`expert_optimizer_s`): the routed experts' optimizer state over the
   DP·CP/EP ranks holding the same experts, not DP·CP as the model divided it (fixed in the model
   since: planner/demand/training.py optimizer_shard).
6. *gpt-oss-20b on 512 GB300* (`tp_latency_s`): NCCL's Ring/LL128 latency of its TP2 collectives.

    PYTHONPATH=$PWD python bench/fsdp_unit_pipeline.py [--scan]
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import DenseLinear, dp_pieces, model_figures, train_figures

LLAMA_8B = "mlperf60-llama31-8b-fp8-gb200-1024gpu"
# NCCL's ring cost model (NVIDIA/nccl src/graph/tuning.cc @5067397c, ncclTunerConstantsDefaults):
# (base latency, a step over NVLink, a step over the network), us, per protocol.
NCCL_RING_US = {"ll128": (14.0, 1.9, 4.0), "simple": (8.4, 3.4, 14.0)}
BUCKET_PARAMS = 768_000_000  # config_GB200_256x4x1xtp4pp1cp4_8b.sh BUCKET_SIZE


def nccl_ring_s(ranks: int, nodes: int, protocol: str = "ll128") -> float:
    """NCCL's modelled latency of one ring all-gather or reduce-scatter: base + (n-1-(N-1)) x
    NVLink step + (N-1) x network step, s."""
    if ranks <= 1:
        return 0.0
    base, nvlink, net = NCCL_RING_US[protocol]
    inter = max(0, nodes - 1)
    return (base + (ranks - 1 - inter) * nvlink + inter * net) * 1e-6


@dataclass(frozen=True)
class Run:
    """The 8B row's figures the schedule needs."""

    measured_s: float
    model_s: float
    layers: int
    layer_params: float  # decoder-layer parameters a GPU (its TP shard), all of them
    edge_params: float  # the embedding and the output head a GPU (V x hidden / TP each)
    layer_fwd_s: float  # a decoder layer's forward compute, s
    layer_bwd_s: float
    head_fwd_s: float
    head_bwd_s: float
    gather_bytes: float  # bytes a parameter in the all-gather (FP8 parameter gather: 1)
    grad_bytes: float  # bytes a gradient in the reduce-scatter
    su: float  # NVLink one way x collective efficiency, B/s
    so: float  # InfiniBand x collective efficiency, B/s
    k: int  # DP·CP ranks a domain
    outer: int  # domains the DP·CP group spans
    ranks: int  # DP·CP
    gemm_s: float
    tp: int
    tokens: float  # tokens a micro-batch a GPU (M of the GEMMs)
    f: Any
    linears: tuple[DenseLinear, ...]  # the layer's dense linears (the step model's GEMM shape)


def _row_step(catalog: Catalog, r: dict) -> tuple[Any, Any, Any, Any]:
    """A calibration row's modelled step, its training figures, its model's figures and its
    layout (the step's)."""
    seq = int(r["sequence_length"])
    st = ct._step(catalog, r, r["layout"], seq, r["global_batch_tokens"])
    hw = hardware(catalog, r["system"])
    assert hw is not None
    f = train_figures(hw, r["precision"])
    assert f is not None
    return st, f, model_figures(catalog.models[r["model"]], seq), st.layout


def run(catalog: Catalog) -> Run:
    r = next(x for x in ct.runs() if x["id"] == LLAMA_8B)
    st, f, mf, lay = _row_step(catalog, r)
    edge = 2.0 * mf.vocab * mf.hidden / lay.tp
    layer = (mf.params / lay.tp - edge) / mf.layers
    per_layer = (st.gemm_s + st.attention_s + st.memory_s) / mf.layers
    ranks = lay.dp * lay.cp
    # the model's placement (dp_pieces): 1,024 GPUs are not whole NVL72 racks, so even pieces
    k, widest, outer = dp_pieces(lay.tp, lay.cp, lay.dp, lay.pp, f.scale_up_domain)
    assert k == widest, "uneven DP pieces: Run's single k does not describe them"
    return Run(
        measured_s=float(r["global_batch_tokens"]) / float(r["published"]),
        model_s=st.step_s,
        layers=mf.layers,
        layer_params=layer,
        edge_params=edge,
        layer_fwd_s=per_layer / 3.0,
        layer_bwd_s=per_layer * 2.0 / 3.0,
        head_fwd_s=st.head_s / 3.0,
        head_bwd_s=st.head_s * 2.0 / 3.0,
        gather_bytes=1.0,
        grad_bytes=2.0,
        su=f.scale_up_bytes_per_s * f.collective_efficiency,
        so=f.scale_out_bytes_per_s * f.collective_efficiency,
        k=k,
        outer=outer,
        ranks=ranks,
        gemm_s=st.gemm_s,
        tp=lay.tp,
        tokens=lay.micro_batch * int(r["sequence_length"]) / lay.cp,
        f=f,
        linears=mf.linears,
    )


def collective_s(rn: Run, nbytes: float, alpha: float) -> float:
    """One all-gather or reduce-scatter of `nbytes` (the whole gathered buffer a GPU): alpha +
    the model's hierarchical bandwidth term."""
    t = (rn.k - 1) / rn.k * nbytes / rn.su
    t += (rn.outer - 1) / rn.outer * nbytes / rn.k / rn.so
    return alpha + t


def units(rn: Run, layers_per_unit: int) -> list[tuple[float, float, float]]:
    """(parameters, forward s, backward s) of each FSDP unit in forward order: the embedding and
    output head first (a unit of their own: the head's compute on it), then the decoder layers
    `layers_per_unit` at a time."""
    out = [(rn.edge_params, rn.head_fwd_s, rn.head_bwd_s)]
    left = rn.layers
    while left:
        n = min(layers_per_unit, left)
        out.append((n * rn.layer_params, n * rn.layer_fwd_s, n * rn.layer_bwd_s))
        left -= n
    return out


def schedule(rn: Run, layers_per_unit: int, alpha: float) -> dict[str, float]:
    """The two-stream step (module docstring): its time and its parts, s."""
    us = units(rn, layers_per_unit)
    comm = 0.0  # the communication stream's free time
    compute = 0.0
    comm_busy = 0.0
    ag_end = []
    for p, _, _ in us:  # forward all-gathers, prefetched in order
        t = collective_s(rn, p * rn.gather_bytes, alpha)
        comm += t
        comm_busy += t
        ag_end.append(comm)
    for i, (_, fwd, _) in enumerate(us):
        compute = max(compute, ag_end[i]) + fwd
    # backward, last unit first: its all-gather, then after each unit's backward its
    # reduce-scatter; the next unit's all-gather is issued before that reduce-scatter
    order = list(reversed(range(len(us))))
    bwd_ag_end: dict[int, float] = {}
    first = order[0]
    t = collective_s(rn, us[first][0] * rn.gather_bytes, alpha)
    comm = max(comm, compute - us[-1][1]) + t  # issued when the last forward starts at best
    comm_busy += t
    bwd_ag_end[first] = comm
    for j, u in enumerate(order):
        if j + 1 < len(order):
            nxt = order[j + 1]
            t = collective_s(rn, us[nxt][0] * rn.gather_bytes, alpha)
            comm += t
            comm_busy += t
            bwd_ag_end[nxt] = comm
        compute = max(compute, bwd_ag_end[u]) + us[u][2]
        t = collective_s(rn, us[u][0] * rn.grad_bytes, alpha)
        comm = max(comm, compute) + t
        comm_busy += t
    step = max(compute, comm)
    work = sum(f + b for _, f, b in us)
    return {"step_s": step, "compute_s": work, "comm_s": comm_busy, "exposed_s": step - work}


def needed_alpha(rn: Run, layers_per_unit: int, target: float) -> float:
    """The per-collective latency that would bring the schedule's step (plus the model's terms
    it leaves out: none) to `target`, by bisection, s."""
    lo, hi = 0.0, 0.01
    for _ in range(60):
        mid = (lo + hi) / 2
        if schedule(rn, layers_per_unit, mid)["step_s"] < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def chunked_share(rn: Run) -> float:
    """The forward and data-gradient GEMMs' share of the layer GEMM time at the step model's
    per-linear shapes (planner/demand/training.py linears_shape: a linear's three GEMMs contract
    its K, its N and the tokens M, each at `X/(X + W)`, W = gemm_half_width, the M factor
    common to all three): `Σ c_l ((K_l + W)/K_l + (N_l + W)/N_l) / Σ c_l ((K_l + W)/K_l +
    (N_l + W)/N_l + (M + W)/M)`, c_l = per_layer · in · out. 2/3 only where K_l = N_l = M."""
    w = rn.f.gemm_half_width
    chunked = whole = 0.0
    for lin in rn.linears:
        m, n, k = lin.gemm(rn.tokens, rn.tp)
        c = lin.per_layer * lin.in_features * lin.out_features
        chunked += c * ((k + w) / k + (n + w) / n)
        whole += c * ((k + w) / k + (n + w) / n + (m + w) / m)
    return chunked / whole


def tp_chunked_gemm(rn: Run) -> float:
    """The layer GEMM time with the forward and data-gradient GEMMs (`chunked_share` of it) at
    the shape of M/TP rows (TP-overlap chunks), the weight-gradient GEMMs whole, s: the model's
    M-factor M/(M + gemm_half_tokens) replaced for that share,
    `gemm_s · (1 - s + s · M/(M + M_half) / ((M/TP)/(M/TP + M_half)))`."""
    m = rn.tokens
    whole = m / (m + rn.f.gemm_half_tokens)
    piece = (m / rn.tp) / (m / rn.tp + rn.f.gemm_half_tokens)
    share = chunked_share(rn)
    return rn.gemm_s * (1.0 - share + share * whole / piece)


def layers_per_bucket(rn: Run) -> int:
    return max(1, math.floor(BUCKET_PARAMS / rn.layer_params))


B200_PAIR = ("mlperf60-llama31-8b-fp4-b200-8gpu", "mlperf60-llama31-8b-fp4-b200-64gpu")


def b200_pair_fixed_cost(catalog: Catalog) -> tuple[float, float]:
    """(k, F): measured step = k x the model's step + F through B200's two FP4 fit points, F in s."""
    model, measured = [], []
    for rid in B200_PAIR:
        r = next(x for x in ct.runs() if x["id"] == rid)
        st = ct._step(catalog, r, r["layout"], int(r["sequence_length"]), r["global_batch_tokens"])
        model.append(st.step_s)
        measured.append(float(r["global_batch_tokens"]) / float(r["published"]))
    k = (measured[0] - measured[1]) / (model[0] - model[1])
    return k, measured[1] - k * model[1]


DSV3_GB200 = [f"mlperf60-deepseek-v3-gb200-{g}gpu-step" for g in (256, 512, 2048, 4096, 8192)]


def expert_optimizer_s(catalog: Catalog, rid: str) -> tuple[float, float]:
    """(the optimizer time for the routed experts' state as the model had it before session s20
    scale, the same on the experts' own shard, as the model has it since), s: 2 x bytes_per_param
    x N_e/(TP·PP·EP) / (DP·CP) before, / (DP·CP/EP) on the DP·CP/EP ranks that hold the same
    experts, at the HBM bandwidth x its utilisation."""
    r = next(x for x in ct.runs() if x["id"] == rid)
    st, f, mf, lay = _row_step(catalog, r)
    state = (
        2.0 * float(r.get("bytes_per_param", 16.0)) * mf.expert_params / (lay.tp * lay.pp * lay.ep)
    )
    bw = f.hbm_bytes_per_s * f.memory_bandwidth_utilisation
    return state / (lay.dp * lay.cp) / bw, state / (lay.dp * lay.cp / lay.ep) / bw


def tp_latency_s(layers: int, tp: int) -> float:
    """NCCL's Ring/LL128 latency of a step's TP collectives inside one domain: 8 a layer (2
    all-gathers and 2 reduce-scatters forward, as many backward), s."""
    return 8 * layers * nccl_ring_s(tp, 1)


def scan(
    catalog: Catalog, extra: str | float, ids: list[str] | None = None
) -> dict[str, tuple[float, float, bool, bool]]:
    """Scratch terms on every training row (or `ids`): `extra` "dp" exposes the whole DP exchange
    (step - exposed DP + DP), a number adds that many seconds a step. Returns id -> (error before,
    error after, in band before, after)."""
    original = ct._step

    def patched(*args: Any, **kw: Any) -> Any:
        st = original(*args, **kw)
        new = st.step_s - st.dp_exposed_s + st.dp_s if extra == "dp" else st.step_s + float(extra)
        k = st.step_s / new
        return dataclasses.replace(st, step_s=new, tokens_per_s=st.tokens_per_s * k, mfu=st.mfu * k)

    rows = [r for r in ct.runs() if ids is None or r["id"] in ids]
    before = {r["id"]: ct.predict(r, catalog) for r in rows}
    ct._step = patched
    try:
        after = {r["id"]: ct.predict(r, catalog) for r in rows}
    finally:
        ct._step = original
    out = {}
    for r in rows:
        b, a, pub = before[r["id"]], after[r["id"]], float(r["published"])
        out[r["id"]] = (b / pub - 1, a / pub - 1, ct.within(r, b), ct.within(r, a))
    return out


def main() -> None:
    catalog = load_catalog()
    rn = run(catalog)
    print(
        f"8B on 1,024 GB200: measured {rn.measured_s * 1e3:.1f} ms, model {rn.model_s * 1e3:.1f} ms"
    )
    print(
        f"  {rn.layer_params / 1e6:.1f}M parameters a layer a GPU, {rn.edge_params / 1e6:.0f}M embedding + head; "
        f"DP·CP {rn.ranks} = {rn.k} a domain x {rn.outer} domains"
    )
    lpb = layers_per_bucket(rn)
    for proto in ("ll128", "simple"):
        alpha = nccl_ring_s(rn.ranks, rn.outer, proto)
        print(f"  NCCL ring {proto}: {alpha * 1e6:.0f} us a collective")
        for name, lpu in (("a layer a unit", 1), (f"{lpb} layers a unit (768M)", lpb)):
            s = schedule(rn, lpu, alpha)
            print(
                f"    {name:24s} step {s['step_s'] * 1e3:6.1f} ms (compute {s['compute_s'] * 1e3:.1f}, "
                f"collectives {s['comm_s'] * 1e3:.1f}, exposed {s['exposed_s'] * 1e3:.1f})"
            )
    for name, lpu in (("a layer a unit", 1), (f"{lpb} layers a unit", lpb)):
        s = schedule(rn, lpu, 0.0)
        need = needed_alpha(rn, lpu, rn.measured_s)
        print(
            f"  {name}: alpha 0 step {s['step_s'] * 1e3:.1f} ms; alpha that reaches {rn.measured_s * 1e3:.1f} ms: {need * 1e6:.0f} us"
        )
    print(
        f"  TP-overlap chunked GEMMs ({chunked_share(rn):.1%} of the GEMM time): "
        f"{rn.gemm_s * 1e3:.2f} -> {tp_chunked_gemm(rn) * 1e3:.2f} ms"
    )
    k, f = b200_pair_fixed_cost(catalog)
    print(f"  B200 FP4 pair: measured = {k:.3f} x model + {f * 1e3:.1f} ms")
    for rid in DSV3_GB200:
        now, own = expert_optimizer_s(catalog, rid)
        print(
            f"  {rid}: expert optimizer {now * 1e3:.2f} ms over DP·CP (the former model), {own * 1e3:.1f} ms on its own shard"
        )
    print(
        f"  gpt-oss-20b 512 GPUs: TP2 collectives' latency {tp_latency_s(24, 2) * 1e3:.2f} ms a step"
    )
    if "--scan" in sys.argv:  # ~1 minute
        for extra in ("dp", round(f, 3)):
            res = scan(catalog, extra)
            inb = (sum(v[2] for v in res.values()), sum(v[3] for v in res.values()))
            print(f"  scratch {extra}: in band {inb[0]} -> {inb[1]}")
            for rid, (b, a, ib, ia) in res.items():
                if ib != ia:
                    print(f"    {rid:55s} {b:+.1%} -> {a:+.1%}")


if __name__ == "__main__":
    main()
