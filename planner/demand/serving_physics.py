"""Decode step physics of one serving layout: every term of a step, in seconds.

A layout of `a` accelerators has `pp` pipeline stages of g = a/pp chips; inside a stage the
attention (and the dense part of the model) is tensor-parallel over `tp` chips, so a stage holds
d = g/tp attention replicas; an MoE model's routed experts are spread over all g chips of the
stage (expert parallelism, EP = g). Dense models: tp = g, d = 1.

With B sequences in flight, pp micro-batches of m = B/pp sequences; each chip runs every
micro-batch through its stage once per step, so per chip per step (formulas in docs/models.md):

  weights read   = W_dense / tp + distinct(m) · expert_bytes · moe_layers / g
                   (each stage reads its weights once per micro-batch: the instance streams
                   pp x its weights per step; distinct(m) = E · (1 - (1 - k/E)^m) experts)
  KV read        = B · kv_read_per_sequence · r / a,  r = KV replication (GQA: max(1, tp/kv_heads);
                   MLA: tp, every TP rank holds the whole latent)
  memory_s       = (weights read + KV read) / (hbm_bandwidth · hbm_bandwidth_utilisation)
  compute_s      = B · F_dense / e(n_dense) / (a · peak(p_dense) · u(p_dense))
                   + B · x · F_experts / e(n_expert) / (a · peak(p) · u(p))
                   + B · F_attention / (a · peak(kv) · u(kv)),  e(n) = n / (n + gemm_half_tokens)
                   (p = the checkpoint's precision, p_dense = its dense_precision: the precision
                   of everything but the routed experts, p unless the catalog says otherwise;
                   peak(q) = peak_flops[q] · sustained_clock_fraction, the accelerator's
                   power-limited clock share, 1 on most parts)
  x              = EP imbalance: the hottest of g ranks gets 1 + sqrt(2 ln g / μ) x the mean
                   μ = m·k/g routed tokens (balls into bins, uniform routing)
  roofline_s     = Σ over the phases run in sequence (attention: KV read vs attention FLOPs;
                   dense GEMMs: dense weights vs dense FLOPs; expert GEMMs: experts read vs
                   x · expert FLOPs) of max(compute, memory)
  tp_comm_s      = n_allreduce · (2·ceil(log2 tp)·latency_up + 2(tp-1)/tp · bytes / bw_up),
                   bw_up = one-way scale-up bandwidth · link util (the ring's bus bandwidth)
                   (a pinned TP wider than the scale-up domain D: two levels, allreduce_s, the
                   u = ceil(tp/D) domains' part 2·ceil(log2 u)·L_out + 2(u-1)/u · bytes/D / bw_out,
                   L_out = serving.scale_out_allreduce_latency, else scale_out_latency; a group
                   straddling two domains the same with (d, u) of group_split for (D, u))
  ep_comm_s      = moe_layers · (2·latency + x·(m/g)·k·hidden·(1+2 B)·(g-1)/g / bw),
                   bw = one-way link bandwidth · link util (0 when g = 1); a stage beyond or
                   straddling a scale-up domain sends the share (g - d)/g over scale-out
                   (group_split's d) at scale-out's latency
  moe_layer_s    = moe_layers · moe_layer_latency
  moe_token_s    = moe_layers · x·(m/g)·k·hidden·(1+2 B) / moe_token_bandwidth  (every MoE
                   layout, g = 1 too: a fitted per-routed-token cost, see moe_token_bandwidth)
  pp_comm_s      = pp hops · (latency + m·hidden·2 B / tp / bw)   (scale-out for hops leaving a
                   scale-up domain: pp_cross_hops)
  step_s         = roofline_s + tp_comm_s + ep_comm_s + pp_comm_s + moe_layer_s + moe_token_s
                   + step_overhead
                   (CUDA graph padding, engine.cuda_graph_batch_sizes: every term but the KV read
                   and attention at padded_decode_batch(B) = s · d · pp, s the smallest captured
                   size >= ceil(B / (pp · d)), the busiest attention replica's count)
  chunk_s        = B · prompt tokens per output token · prefill_s  (aggregated serving)
                   (chunked_context false on an attention-DP layout: E[max of d Poisson(r/d)]
                   · P · replica_prefill_s, r = B·t/(votes·O) prompts a step: each prompt whole on
                   its own attention replica while the other replicas wait)
  TPOT           = (step_s + chunk_s) / tokens per step  (speculative decoding: > 1 per step)
  TPOT quantile  = step_s / tokens per step + the quantile over requests of K · s_p / (n − 1)
                   (tpot_percentile, e.g. p99: tpot_tail.py; K Poisson prompt stalls of s_p =
                   P · prefill_s each during a request's n output tokens); tpot_tail_s = that −
                   TPOT, and it is what the target bounds (StepTerms.tpot_bound_s)

Prefill of one prompt token on the same layout (prefill_time: the LP's prefill rate, the
estimate's prefill rate and TTFT, and the chunk above all use it; with compile-time prompt
buckets (prefill_buckets_tokens) a P-token prompt is computed as P' = padded_prompt_tokens(P)
tokens at mean context P'/2: every term below is taken at P' and times P'/P, the padding):
  prefill_s      = x_p · F_experts / (a · peak(p) · u(p)) + (F(P/2) − F_experts) / (a ·
                   peak(p_dense) · u(p_dense))                                 (compute)
                   + n_allreduce · 2(tp−1)/tp · hidden · 2 B / (one-way scale-up bw · link util) · tp/a
                                                                               (TP all-reduce)
                   + moe_layers · x_p · k · hidden · (1+2 B) · (g−1)/g / (a · bw)
                                                                       (MoE: EP all-to-all)
                   + moe_layers · (moe_layer_latency + 2·latency) / (pp · d · P)
                                                             (MoE: per-pass fixed time)
                   (the bandwidth part of tp_comm_s's all-reduces, per prompt token; a/tp = pp·d
                   TP groups of the instance reduce their own tokens side by side, as in the
                   decode step; the per-pass latency 2·ceil(log2 tp)·latency_up per all-reduce
                   is left out: negligible over a long prompt or a full pass, see prefill_time.
                   MoE: ep_comm_s per prompt token, exposed as TensorRT-LLM runs it, bw the
                   scale-up one-way rate with the peers beyond the domain at scale-out's
                   (latency then scale-out's); x_p = ep_imbalance over a pass of one P-token
                   prompt per attention replica, d · P tokens per stage, ~1.01; the fixed
                   per-layer time of moe_layer_s and ep_comm_s paid once a pass; no
                   moe_token_bandwidth, a decode fit; 0 for a dense model or TP-sharded experts)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from fleetcore.schema import BYTES_PER_VALUE
from hardware.schema import ModelArch, ServingFigures
from planner.demand.common import (
    FORWARD_FLOPS_PER_PARAM,
    Hardware,
    attention_flops_per_token,
    checkpoint_weight_bytes,
    decode_attention_flops_per_token,
    dense_precision,
    embedding_params,
    mtp_module_params,
    prefill_flops_per_token,
    weight_bytes,
)
from planner.demand.kv import kv_bytes_per_token, kv_sequence_bytes
from planner.demand.moe_kernels import module_floor_s, module_rows, module_s
from planner.demand.tpot_tail import stall_quantile_s
from planner.demand.training import in_one_domain

# Activations exchanged by TP all-reduces and pipeline hops are BF16 (2 B per value): the
# residual stream stays in BF16 in FP8/FP4 serving stacks (TensorRT-LLM, vLLM).
ACTIVATION_BYTES = 2.0
# MoE all-to-all: tokens dispatched to experts in FP8 (1 B) and combined back in BF16 (2 B)
# (DeepSeek-V3 technical report, section 3.3: FP8 dispatch, BF16 combine; DeepEP does the same).
EP_DISPATCH_BYTES = 1.0
EP_COMBINE_BYTES = 2.0
# All-reduces per transformer layer with tensor parallelism: after attention and after the MLP
# (Megatron-LM, Shoeybi et al. 2019, section 3).
ALLREDUCES_PER_LAYER = 2


# A GEMM K-width term in prefill (tested, not adopted: bench/prefill_width_term.py and
# docs/models.md, Prefill): when True each prefill GEMM's time is x (K + W_p)/K, K its per-chip
# inner (reduction) dimension and W_p the catalog's measured training.gemm_half_width at the
# GEMM's precision (the serving block has none). A script switch, not a user input; off in the
# shipped model. Flip it only with clear_physics_caches() (planner/demand/inference.py) after.
PREFILL_GEMM_WIDTH = False


def dense_ffn_width(arch: ModelArch) -> float:
    """A dense model's FFN width, from its catalog parameter count (the catalog gives none):
    ((active − 2·V·h)/layers − attention projections h·(2q + 2kv)) / (3·h), q = heads · head_dim,
    kv = kv_heads · head_dim (Llama 3.1 8B: 14,260 for the config's 14,336; Llama 2 70B 28,669
    for 28,672). 0 for an MoE model (its dense FFN layers' width is not in the catalog)."""
    if arch.moe is not None:
        return 0.0
    h = arch.hidden
    q = arch.heads * arch.head_dim
    kv = (arch.kv_heads or arch.heads) * arch.head_dim
    per_layer = (arch.active - 2 * embedding_params(arch)) / arch.layers
    return max(0.0, (per_layer - h * (2 * q + 2 * kv)) / (3 * h))


def _half_width(hw: Hardware, precision: str) -> float:
    """The catalog's training.gemm_half_width at `precision` (0 without a training block or a
    figure at that precision): the serving block has no K half-width of its own."""
    tr = hw.accelerator.training
    if tr is None:
        return 0.0
    w = tr.gemm_half_width
    if isinstance(w, dict) and precision not in w:
        return 0.0
    return tr.half_width(precision)


def prefill_width_factors(
    hw: Hardware, arch: ModelArch, precision: str, tp: int, expert_tp: bool, rest_flops: float
) -> tuple[float, float]:
    """(dense, expert) time multipliers of the prefill GEMMs for the K-width term (1, 1 while
    PREFILL_GEMM_WIDTH is off): each GEMM's FLOPs weighted by (K + W)/K at its per-chip K:
    QKV and gate/up K = hidden (TP splits their N), o-proj K = heads · head_dim / tp, a dense
    model's down K = ffn / tp (dense_ffn_width), an MoE model's shared experts' down
    K = expert_ffn / tp; the rest of `rest_flops` (the dense GEMM FLOPs of a prompt token:
    QKV, gate/up, an MoE model's dense-layer FFNs and MLA projections, the output head) at
    K = hidden. Routed experts (whole on their EP rank): gate/up (2/3 of their FLOPs) at
    K = hidden, down (1/3) at K = expert_ffn (/ tp with TP-sharded experts). W = W(p_dense) for
    the dense GEMMs, W(p) for the routed experts (_half_width)."""
    if not PREFILL_GEMM_WIDTH:
        return 1.0, 1.0
    h = float(arch.hidden)
    wd = _half_width(hw, dense_precision(arch, precision))
    we = _half_width(hw, precision)

    def slow(k: float, w: float) -> float:
        return (k + w) / k

    o_flops = FORWARD_FLOPS_PER_PARAM * arch.layers * arch.heads * arch.head_dim * h
    o_k = arch.heads * arch.head_dim / tp
    if arch.moe is None:
        ffn = dense_ffn_width(arch)
        down_flops = FORWARD_FLOPS_PER_PARAM * arch.layers * ffn * h
        down_k = max(ffn / tp, 1.0)
    else:
        ffn = float(arch.moe.expert_ffn)
        down_flops = FORWARD_FLOPS_PER_PARAM * arch.moe_layers * arch.moe.shared_experts * ffn * h
        down_k = ffn / tp
    other = max(rest_flops - o_flops - down_flops, 0.0)
    total = o_flops + down_flops + other
    dense = (
        (o_flops * slow(o_k, wd) + down_flops * slow(down_k, wd) + other * slow(h, wd)) / total
        if total > 0
        else 1.0
    )
    expert = 1.0
    if arch.moe is not None:
        e_down_k = arch.moe.expert_ffn / (tp if expert_tp else 1)
        expert = 2.0 / 3.0 * slow(h, we) + 1.0 / 3.0 * slow(e_down_k, we)
    return dense, expert


@dataclass(frozen=True)
class Layout:
    """One model replica: `accelerators` chips as pp stages of tp-wide attention groups; an MoE
    model's experts are spread over each stage's chips (EP = accelerators / pp)."""

    accelerators: int
    tp: int
    pp: int
    units_spanned: int
    instances_per_unit: float
    usable_bytes: float  # HBM for weights + KV: a · (hbm − runtime_reserve)
    weights_bytes: float  # stored per replica (dense part replicated over attention replicas)
    moe: bool
    # An MoE model's experts sharded over the TP group (vLLM without expert parallelism: every
    # chip holds 1/tp of every expert, an all-reduce after each MoE layer, no all-to-all)
    # instead of spread whole over the stage's chips (EP). Only a pinned layout sets it.
    expert_tp: bool = False

    @property
    def stage_accelerators(self) -> int:
        return self.accelerators // self.pp

    @property
    def attention_replicas(self) -> int:
        return self.stage_accelerators // self.tp

    @property
    def free_bytes(self) -> float:
        return self.usable_bytes - self.weights_bytes

    def label(self) -> str:
        shape = f"TP{self.tp}"
        if self.moe and self.expert_tp:
            shape += " (experts TP-sharded)"
        elif self.moe:
            if self.attention_replicas > 1:
                shape = (
                    f"DP{self.attention_replicas} x TP{self.tp} attention, "
                    f"EP{self.stage_accelerators}"
                )
            else:
                shape += f" attention, EP{self.stage_accelerators}"
        if self.pp > 1:
            shape += f" x PP{self.pp}"
        if self.units_spanned == 1:
            n = self.instances_per_unit
            return f"{shape} x{n:g} instance{'s' if n != 1 else ''}/unit"
        return (
            f"{shape} on {self.accelerators} accelerators spanning {self.units_spanned} units "
            f"(1/{self.units_spanned} instance/unit)"
        )


@dataclass(frozen=True)
class ModelLoad:
    """Per-token and per-sequence figures of one model and request shape."""

    arch: ModelArch
    precision: str  # the checkpoint's: the routed experts' bytes and GEMM rate
    dense_precision: str  # everything else's (attention, dense layers, shared experts, embeddings)
    kv_precision: str
    weights_bytes: float  # checkpoint bytes (all experts)
    expert_bytes: float  # bytes of ONE routed expert of one layer (0 for dense)
    dense_bytes: float  # weights_bytes minus all routed experts
    kv_bytes_per_token: float
    kv_stored_per_sequence: float  # (P/k + O) · kv (banded layers: their window, sequence_kv_bytes)
    kv_read_per_sequence: float  # (P/k + O/2) · kv, per step at mean context (idem)
    flops_dense: float  # 2 · (active params − active routed expert params), per token
    flops_experts: float  # 2 · moe_layers · k · expert params, per token
    flops_attention: float  # decode attention at mean context (absorbed MLA)
    flops_prefill: float  # forward FLOPs of a computed prompt token at mean context P'/2
    prefill_context: float  # P'/2: the mean attention context of a prompt's computed tokens
    prefill_per_output: float  # prompt tokens prefilled per output token: P / (k · O)
    draft_tokens: int = 0  # speculative tokens verified per sequence per step
    tokens_per_step: float = 1.0  # output tokens a sequence gains per step (accepted + 1)
    output_tokens: float = 1.0  # mean output tokens per sequence (O)
    prompt_prefilled_tokens: float = 0.0  # prompt tokens prefilled per prompt: P · (1 − hit)
    # The TPOT bound is on this quantile over requests (0.99: p99), not the mean (None).
    tpot_quantile: float | None = None
    # Coefficient of variation of the prompts' lengths (stdev / mean): the quantile's stalls are
    # a compound Poisson sum of gamma stalls (tpot_tail.py); 0: every stall the mean prompt's.
    prompt_cv: float = 0.0
    # The output lengths' law as (quantile, tokens) pairs, quantiles ascending (a dataset's
    # percentiles: InferenceSpec.output_tokens_percentiles), scaled to mean output_tokens in the
    # TPOT quantile (tpot_tail.output_lengths); None: geometric of mean output_tokens.
    output_percentiles: tuple[tuple[float, float], ...] | None = None
    # Aggregated prefill without chunked context: each prompt is prefilled whole in one
    # iteration, on its own attention replica (whole_prompt_stall_s).
    whole_prompts: bool = False
    # Tokens computed per prompt token, P'/P: the prompt padded to its compile-time bucket
    # (padded_prompt_tokens; 1 without buckets).
    prefill_padding: float = 1.0
    # Decode batch sizes the engine runs as captured CUDA graphs with padding (ascending;
    # EngineSpec.cuda_graph_batch_sizes): a step's batch per attention replica is rounded up to
    # the next of them (padded_decode_batch); None: every step runs at its own batch.
    graph_batch_sizes: tuple[int, ...] | None = None
    # Tokens a step computes at most, per attention replica and pipeline micro-batch
    # (EngineSpec.max_num_tokens): decode tokens + a prompt chunk; caps the batch
    # (token_budget_cap); None: no budget.
    token_budget: int | None = None
    # The untied input embedding's share of dense_bytes (vocab x hidden at the dense part's
    # bytes per parameter; 0 without vocab): held in HBM, but a step reads only its tokens' rows.
    embedding_bytes: float = 0.0
    # The TensorRT-LLM release the engine runs (EngineSpec.tensorrt_llm_version): where a measured
    # MoE module table covers it (moe_kernels.py) the step reads the module's time from it.
    engine_release: str | None = None
    # Speculative decoding with the model's own MTP modules as the draft (draft_tokens > 0 on a
    # model with mtp_layers): their weights (in weights_bytes, their non-expert part in
    # dense_bytes) and their layers' KV, kv x (layers + mtp_layers) / layers (kv_layer_factor).
    mtp_bytes: float = 0.0
    kv_layer_factor: float = 1.0

    @property
    def flops_per_token(self) -> float:
        return self.flops_dense + self.flops_experts + self.flops_attention

    def kv_bytes(self, tokens: float) -> float:
        """KV bytes of one unshared sequence of `tokens` tokens (kv.kv_sequence_bytes: a banded
        layer keeps only its window), the MTP draft's layers included (kv_layer_factor)."""
        return kv_sequence_bytes(self.arch, self.kv_precision, tokens) * self.kv_layer_factor


def sequence_kv_bytes(
    arch: ModelArch, kvb: float, prompt_tokens: float, generated: float, share: int
) -> float:
    """KV bytes of one sequence holding a prompt of P tokens shared by `share` sequences and
    `generated` tokens of its own, kvb bytes per token over all layers: (P/share + g) · kvb; with
    banded layers (window W on L_b of L layers; b = kvb / L per layer and token) the full layers
    hold (P/share + g) tokens, a banded layer its last W: its own min(g, W) and
    min(P, W − min(g, W)) of the shared prompt, that share counted 1/share:
    b · (L_full · (P/share + g) + L_b · (min(g, W) + min(P, W − min(g, W)) / share))."""
    window = arch.sliding_window
    if window is None:
        return (prompt_tokens / share + generated) * kvb
    per_layer = kvb / arch.layers
    own = min(generated, float(window.tokens))
    banded = own + min(prompt_tokens, window.tokens - own) / share
    return per_layer * (
        arch.full_layers * (prompt_tokens / share + generated) + window.layers * banded
    )


def padded_prompt_tokens(prompt_tokens: float, buckets: tuple[int, ...] | None) -> float:
    """Tokens the chips compute for a prompt of `prompt_tokens` tokens when the serving stack
    runs prompts in compile-time shapes (`prefill_buckets_tokens`, ascending: NxD Inference
    context_encoding_buckets, static-shape engines): the smallest bucket >= the prompt, the
    rest padding (NxD Inference's context_encoder_bk picks the smallest bucket holding the
    prompt and pads it: modules/autobucketing.py); a prompt longer than the largest bucket B
    runs as ceil(P / B) passes of B tokens, each attending to the passes before it (chunked
    prefill): B · ceil(P / B) tokens. No buckets (None): the prompt itself."""
    if not buckets:
        return float(prompt_tokens)
    for bucket in buckets:
        if bucket >= prompt_tokens:
            return float(bucket)
    largest = buckets[-1]
    return float(largest * math.ceil(prompt_tokens / largest))


def model_load(
    arch: ModelArch,
    precision: str,
    kv_precision: str,
    prompt_tokens: float,
    output_tokens: float,
    share: int,
    draft_tokens: int = 0,
    acceptance: float = 0.0,
    prompt_cache_hit: float = 0.0,
    tpot_quantile: float | None = None,
    whole_prompts: bool = False,
    prefill_buckets: tuple[int, ...] | None = None,
    prompt_cv: float = 0.0,
    graph_batch_sizes: tuple[int, ...] | None = None,
    token_budget: int | None = None,
    output_percentiles: tuple[tuple[float, float], ...] | None = None,
    engine_release: str | None = None,
) -> ModelLoad:
    """Bytes and FLOPs of serving `arch`: weights per checkpoint (scaled evenly over experts and
    the dense part when the checkpoint differs from params x bytes; when the checkpoint names a
    dense_precision, the non-routed params at its bytes and the routed experts the rest), KV per
    sequence with the prompt prefix shared by `share` sequences, FLOPs per decoded token at mean
    context P + O/2. Speculative decoding / multi-token prediction: each step verifies `draft_tokens`
    drafted tokens per sequence, each accepted with probability `acceptance` given the previous
    ones were: tokens per step = (1 − α^(d+1)) / (1 − α) (Leviathan et al. 2023, eq. 1).
    A share `prompt_cache_hit` of the prompt comes from a prefix cache and is not prefilled.
    tpot_quantile: the TPOT target holds for that quantile of the requests' TPOTs (0.99: p99,
    MLPerf Server) instead of their mean (None): see tpot_tail. whole_prompts: aggregated
    prefill without chunked context (StepPhysics.terms: each prompt stalls one step).
    prefill_buckets: compile-time prompt shapes: a prompt's prefill computes P' =
    padded_prompt_tokens(P) tokens at mean context P'/2 (prefill_padding = P'/P).
    prompt_cv: the prompts' length stdev / mean, for the TPOT quantile's stalls (tpot_tail).
    graph_batch_sizes: the engine's CUDA graph batch sizes with padding (padded_decode_batch).
    token_budget: the engine's tokens a step (EngineSpec.max_num_tokens; token_budget_cap).
    output_percentiles: the output lengths' law, (quantile, tokens) pairs, for the TPOT
    quantile (tpot_tail.output_lengths; None: geometric).
    engine_release: the TensorRT-LLM release the engine runs (moe_kernels.py)."""
    padded = padded_prompt_tokens(prompt_tokens, prefill_buckets)
    total = checkpoint_weight_bytes(arch, precision)
    dense_p = dense_precision(arch, precision)
    if dense_p != precision:
        # MoE only (schema): the non-routed params at dense_p's bytes, the routed experts the rest.
        routed = total - (arch.params - arch.routed_expert_params) * BYTES_PER_VALUE[dense_p]
        expert = routed * arch.expert_params / arch.routed_expert_params
    else:
        scale = total / weight_bytes(arch, precision)
        expert = arch.expert_params * weight_bytes(arch, precision) / arch.params * scale
        routed = arch.routed_expert_params * weight_bytes(arch, precision) / arch.params * scale
    kvb = kv_bytes_per_token(arch, kv_precision)
    k_active = arch.moe.active_experts if arch.moe is not None else 0
    flops_experts = FORWARD_FLOPS_PER_PARAM * arch.moe_layers * k_active * arch.expert_params
    dense = total - routed
    embedding = embedding_params(arch) * dense / (arch.params - arch.routed_expert_params)
    # MTP drafts: the engine loads the MTP modules beside the model (qa27: DeepSeek-R1's was
    # left out, ~1.7% of its weights and 1/61 more KV), at the checkpoint's bytes per parameter
    # of each part; a step reads their non-expert weights and their KV once (the draft pass;
    # d > 1 drafts rerun it: those reads and the draft passes' compute are not counted).
    mtp_routed, mtp_other = mtp_module_params(arch) if draft_tokens > 0 else (0.0, 0.0)
    mtp_dense_bytes = mtp_other * dense / (arch.params - arch.routed_expert_params)
    mtp_bytes = (
        mtp_routed * routed / arch.routed_expert_params if mtp_routed else 0.0
    ) + mtp_dense_bytes
    kv_factor = (arch.layers + arch.mtp_layers) / arch.layers if mtp_bytes else 1.0
    return ModelLoad(
        arch=arch,
        precision=precision,
        dense_precision=dense_p,
        kv_precision=kv_precision,
        weights_bytes=total + mtp_bytes,
        expert_bytes=expert,
        dense_bytes=dense + mtp_dense_bytes,
        embedding_bytes=embedding,
        kv_bytes_per_token=kvb * kv_factor,
        kv_stored_per_sequence=sequence_kv_bytes(arch, kvb, prompt_tokens, output_tokens, share)
        * kv_factor,
        kv_read_per_sequence=sequence_kv_bytes(arch, kvb, prompt_tokens, output_tokens / 2, share)
        * kv_factor,
        mtp_bytes=mtp_bytes,
        kv_layer_factor=kv_factor,
        flops_dense=FORWARD_FLOPS_PER_PARAM * (arch.active - embedding_params(arch))
        - flops_experts,
        flops_experts=flops_experts,
        flops_attention=decode_attention_flops_per_token(arch, prompt_tokens + output_tokens / 2),
        flops_prefill=prefill_flops_per_token(arch, padded / 2, padded),
        prefill_context=padded / 2,
        prefill_padding=padded / prompt_tokens,
        prefill_per_output=prompt_tokens * (1.0 - prompt_cache_hit) / (share * output_tokens),
        draft_tokens=draft_tokens,
        tokens_per_step=tokens_per_step(draft_tokens, acceptance),
        output_tokens=float(output_tokens),
        prompt_prefilled_tokens=prompt_tokens * (1.0 - prompt_cache_hit),
        tpot_quantile=tpot_quantile,
        prompt_cv=prompt_cv,
        output_percentiles=output_percentiles,
        whole_prompts=whole_prompts,
        graph_batch_sizes=tuple(sorted(set(graph_batch_sizes))) if graph_batch_sizes else None,
        token_budget=token_budget,
        engine_release=engine_release,
    )


def token_budget_cap(load: ModelLoad, lay: Layout, aggregated: bool) -> float:
    """The largest batch an instance may run under the engine's token budget M
    (load.token_budget, per attention replica and pipeline micro-batch: pp · d budgets a step):
    each step computes B · q / (pp · d) decode tokens a budget (q = 1 + draft tokens) and, with
    aggregated prefill, the prompt tokens that keep up with them, B · t · P / (votes · O) a step
    (Little), so B · (q + t · P / (votes · O)) <= M · pp · d. inf without a budget."""
    if load.token_budget is None:
        return math.inf
    per_sequence = 1.0 + load.draft_tokens
    if aggregated:
        per_sequence += load.tokens_per_step * load.prefill_per_output
    return load.token_budget * lay.pp * lay.attention_replicas / per_sequence


def padded_decode_batch(
    batch: float, pp: int, replicas: int, sizes: tuple[int, ...] | None
) -> float:
    """The batch a decode step computes when the engine replays CUDA graphs captured at
    `sizes` (ascending) with padding: each of the pp micro-batches of batch/pp sequences is
    split over `replicas` attention replicas; the engine keeps the replicas' counts within one
    of each other (TensorRT-LLM assigns a new request to a rank below ceil(total / replicas):
    _schedule_attention_dp_requests in tensorrt_llm/_torch/pyexecutor/executor_request_queue.py),
    raises every rank to the largest rank's count and pads that to the smallest captured size
    s >= it (_get_padded_batch in tensorrt_llm/_torch/pyexecutor/cuda_graph_runner.py: with
    attention DP the batch is the maximum over ranks, then rounded up to a graph size;
    DecodeCudaGraphConfig.enable_padding: "batches are rounded up to the nearest
    cuda_graph_batch_size"), so the step computes s · replicas · pp sequences, the padding dummy
    ones. A rank count above the largest size runs eagerly at the batch itself. No sizes: the
    batch."""
    if not sizes:
        return float(batch)
    per_rank = math.ceil(batch / (pp * replicas) - 1e-9)
    for size in sizes:
        if size >= per_rank:
            return float(size * replicas * pp)
    return float(batch)


def tokens_per_step(draft_tokens: int, acceptance: float) -> float:
    """Expected output tokens per sequence per verify step with d drafted tokens accepted
    left to right with probability α each: 1 + α + ... + α^d = (1 − α^(d+1)) / (1 − α)
    (d + 1 when α = 1)."""
    if draft_tokens <= 0:
        return 1.0
    if acceptance >= 1.0:
        return float(draft_tokens + 1)
    return (1.0 - acceptance ** (draft_tokens + 1)) / (1.0 - acceptance)


def figures(hw: Hardware) -> ServingFigures:
    """The accelerator's serving figures; ValueError naming the catalog entry when missing."""
    s = hw.accelerator.serving
    if s is None:
        raise ValueError(serving_gap(hw, None) or "no serving figures")
    return s


def serving_gap(hw: Hardware, precision: str | None) -> str | None:
    """Why `hw` cannot be rated for serving at `precision` from the catalog, or None."""
    name = hw.system.accelerator
    s = hw.accelerator.serving
    if s is None:
        return f"{name} has no serving figures (catalog accelerators.{name}.serving)"
    if precision is not None and precision not in s.compute_utilisation:
        return (
            f"{name} has no serving compute_utilisation for {precision} "
            f"(catalog accelerators.{name}.serving.compute_utilisation)"
        )
    return None


def precision_gap(hw: Hardware, arch: ModelArch, precision: str) -> str | None:
    """Why `hw` cannot serve the `precision` checkpoint of `arch`, or None: a precision it does
    not support, or has no serving figures for: the checkpoint's, or the dense precision that
    checkpoint keeps everything but its routed experts in."""
    for p in dict.fromkeys((precision, dense_precision(arch, precision))):
        why = (
            ""
            if p == precision
            else f" (the {precision} checkpoint keeps all but its routed experts in {p})"
        )
        if not hw.supports(p):
            return (
                f"{hw.system.accelerator} does not support {p}{why} "
                f"(supports {', '.join(hw.accelerator.peak_flops)})"
            )
        gap = serving_gap(hw, p)
        if gap is not None:
            return gap + why
    return None


def distinct_experts(arch: ModelArch, tokens: float) -> float:
    """Expected routed experts of one MoE layer touched by `tokens` tokens, each routed to k of E
    experts uniformly: E · (1 − (1 − k/E)^tokens)."""
    if arch.moe is None:
        return 0.0
    e, k = arch.moe.experts, arch.moe.active_experts
    return e * (1.0 - (1.0 - k / e) ** tokens)


def gemm_efficiency(hw: Hardware, tokens: float) -> float:
    """Share of the large-GEMM throughput a GEMM of `tokens` rows reaches:
    n / (n + gemm_half_tokens) (small decode batches leave tensor-core tiles part empty)."""
    half = figures(hw).gemm_half_tokens
    return tokens / (tokens + half) if tokens > 0 else 0.0


def compute_rate(hw: Hardware, precision: str) -> float:
    """FLOP/s of ONE accelerator on large GEMMs at `precision`:
    peak · sustained_clock_fraction · compute_utilisation."""
    gap = serving_gap(hw, precision)
    if gap is not None:
        raise ValueError(gap)
    util = figures(hw).compute_utilisation
    return hw.sustained_peak(precision) * util[precision]  # type: ignore[index]


def split_rate(flops: float, expert_flops: float, expert_rate: float, dense_rate: float) -> float:
    """FLOP/s of `flops` of which `expert_flops` (the routed experts' GEMMs) run at `expert_rate`
    and the rest at `dense_rate`: flops / (expert_flops / expert_rate + rest / dense_rate);
    `expert_rate` itself when the two rates are equal."""
    if dense_rate == expert_rate:
        return expert_rate
    return flops / (expert_flops / expert_rate + (flops - expert_flops) / dense_rate)


def attention_precision(hw: Hardware, kv_precision: str | None, dense_p: str) -> str:
    """The precision attention's matmuls run at: the KV cache's where the accelerator has a
    rate for it (FP8 attention kernels read FP8 K/V: TensorRT-LLM's FP8 context FMHA,
    use_fp8_context_fmha in NVIDIA's MLPerf configs; no stack runs attention in FP4), else the
    attention weights' (the checkpoint's dense precision). The decode step's attention_rate
    and the prefill rate (prefill_compute_rate) both use it."""
    if (
        kv_precision is not None
        and hw.supports(kv_precision)
        and kv_precision in figures(hw).compute_utilisation
    ):
        return kv_precision
    return dense_p


def prefill_compute_rate(
    hw: Hardware,
    arch: ModelArch,
    precision: str,
    context: float,
    kv_precision: str | None = None,
    prompt_tokens: float | None = None,
    tp: int = 1,
    expert_tp: bool = False,
) -> float:
    """FLOP/s of ONE accelerator on the prefill FLOPs F(context) of a prompt token
    (prefill_flops_per_token of a prompt of `prompt_tokens`, default 2 · context: every caller
    passes the prompt's mean context P/2, prefill_time its prompt):
    F / (F_experts / rate(p) + F_attn / rate(p_attn) + (F − F_experts − F_attn) / rate(p_dense)),
    rate(q) = peak(q) · u(q): the routed-expert GEMMs (2 · moe_layers · k · expert params) at
    the checkpoint's precision p, attention's QK^T and AV (attention_flops_per_token(context))
    at the KV precision where the accelerator runs it (attention_precision; p_dense without
    `kv_precision`), everything else (dense layers, shared experts, embeddings) at the dense
    precision (p unless the catalog gives a dense_precision). peak(p) · u(p) when all three
    are p. As the decode step's attention_rate: an FP4 checkpoint with an FP8 KV cache computes
    its prompt's attention at the FP8 rate (B200: 4.5 PFLOP/s x 0.28 = 1.26 vs FP4 9 x 0.39 =
    3.51 PFLOP/s), a 4.6% share of a 9,429-token 405B prompt's FLOPs taking 11.9% of its time."""
    rate = compute_rate(hw, precision)
    dense_p = dense_precision(arch, precision)
    attn_p = attention_precision(hw, kv_precision, dense_p)
    if dense_p == precision and attn_p == precision and not PREFILL_GEMM_WIDTH:
        return rate
    experts = 0.0
    if arch.moe is not None:
        experts = (
            FORWARD_FLOPS_PER_PARAM * arch.moe_layers * arch.moe.active_experts * arch.expert_params
        )
    prompt = 2.0 * context if prompt_tokens is None else prompt_tokens
    flops = prefill_flops_per_token(arch, context, prompt)
    attention = attention_flops_per_token(arch, context)
    dense_rate = compute_rate(hw, dense_p)
    attn_rate = compute_rate(hw, attn_p)
    rest = flops - experts - attention
    if PREFILL_GEMM_WIDTH:
        fd, fe = prefill_width_factors(hw, arch, precision, tp, expert_tp, rest)
        return flops / (experts * fe / rate + attention / attn_rate + rest * fd / dense_rate)
    return flops / (experts / rate + attention / attn_rate + rest / dense_rate)


def attention_rate(hw: Hardware, load: ModelLoad) -> float:
    """FLOP/s of one accelerator on decode attention: at the KV precision where the accelerator
    runs it (FP8 attention kernels), else at the precision of the attention weights (the
    checkpoint's dense precision)."""
    return compute_rate(hw, attention_precision(hw, load.kv_precision, load.dense_precision))


def kv_replication(arch: ModelArch, tp: int) -> float:
    """KV copies across a TP group: GQA max(1, tp / kv_heads) (a head's K/V is replicated on the
    ranks sharing it once tp exceeds the KV heads); MLA tp (each rank holds the whole latent)."""
    if arch.attention == "mla":
        return float(tp)
    assert arch.kv_heads is not None
    return max(1.0, tp / arch.kv_heads)


def scale_up_one_way(hw: Hardware) -> float:
    """Bytes/s one chip moves each way over the scale-up fabric: the catalog's scale-up figure
    is bidirectional (NVLink 5: 1.8 TB/s = 900 GB/s each way; the training model reads it the
    same way), times link_bandwidth_utilisation. The rate of the EP all-to-all and, since
    review s33, of the TP all-reduce's ring (allreduce_s: its bus bandwidth)."""
    return (
        hw.accelerator.scale_up_bandwidth_bytes_per_s / 2 * figures(hw).link_bandwidth_utilisation
    )


def moe_token_bytes(arch: ModelArch) -> float:
    """Routed activation bytes of one token per MoE layer, the measure of moe_token_bandwidth:
    k · hidden · (FP8 dispatch 1 B + BF16 combine 2 B)."""
    if arch.moe is None:
        return 0.0
    return arch.moe.active_experts * arch.hidden * (EP_DISPATCH_BYTES + EP_COMBINE_BYTES)


def ep_imbalance(arch: ModelArch, tokens: float, ep: int) -> float:
    """Routed tokens of the most loaded of `ep` ranks over the mean, for `tokens` tokens each
    routed to k experts spread evenly over the ranks, uniformly at random (the balance EPLB's
    redundant experts aim for; real routing is more skewed): a rank's load is ~Binomial with
    mean μ = tokens·k/ep, and the largest of ep such loads is ≈ μ + sqrt(2 μ ln ep) (balls into
    bins, Raab & Steger 1998), so the factor is 1 + sqrt(2 ln ep / μ); below one row per rank
    (μ < 1) the busiest rank still gets a whole row: at least 1/μ; at most what one rank can
    receive, every token sending it min(k, experts per rank) rows: ep·min(k, E/ep)/k."""
    if arch.moe is None or ep <= 1 or tokens <= 0:
        return 1.0
    k, e = arch.moe.active_experts, arch.moe.experts
    mu = tokens * k / ep
    cap = ep * min(k, e / ep) / k
    return min(max(1.0 + math.sqrt(2.0 * math.log(ep) / mu), 1.0 / mu), cap)


def group_split(span: int, ranks: int, domain: int) -> tuple[int, int]:
    """(d, u) for the groups of `span` consecutive ranks of an instance of `ranks` on scale-up
    domains of D = `domain` accelerators: u, the most domains a group touches, and d, the fewest
    ranks a group has in one of them (a rank there sends the share (span − d)/span of the
    group's traffic over its NIC, the slowest; the slowest group sets a collective's time):

        in_one_domain(span, ranks, D):     (span, 1)   every group inside a domain
        ranks a multiple of D (> D):       over the groups at ranks i·span .. (i+1)·span − 1,
                                           the fewest ranks in one domain and the most domains
        else (not whole domains):          (floor(span / u), u), u = ceil(span / D): the
                                           groups placed as evenly as they can be

    The instance of whole domains (every layout the search builds beyond one unit; a stated
    one) lays its groups over consecutive ranks, training.in_one_domain's rule: stage 2 of PP3
    over two 72-GPU racks (EP48, ranks 48-95) is 24 + 24, (24, 2); TP16 over two racks has ranks
    64-79 as 8 + 8, (8, 2); PP2 over three 8-GPU servers has stages of 12 as 8 + 4, (4, 2);
    EP144 over two racks is 72 + 72, (72, 2). An instance of other sizes leaves accelerators
    idle and sits as the published runs do (in_one_domain): its groups inside a domain when
    they fit one, EP96 over two racks as 48 + 48. Before session 30 a group within D's size
    had (span, 1) and a wider one (D, ceil(span / D)): the NVLink rate for a straddling group,
    and 8 + 4 rated as if 8 + 8."""
    fewest, _, u = group_pieces(span, ranks, domain)
    return fewest, u


def group_pieces(span: int, ranks: int, domain: int) -> tuple[int, int, int]:
    """(d, w, u): group_split's d and u, and w, the most ranks a group that spans domains has in
    one of them (as group_split places the groups; placed evenly: ceil(span / u); TP16 of 144
    ranks on 72-GPU racks is (8, 8, 2): the groups inside a rack need no NIC and are not the
    slowest). A two-level
    all-reduce (allreduce_s) waits for the domain with the most ranks inside (its ring moves
    2(w − 1)/w of the bytes) and for the rank with the largest shard across (1/d of them):
    TP12 over 8-GPU servers as 8 + 4 is (4, 8, 2)."""
    if in_one_domain(span, ranks, domain):
        return span, span, 1
    if ranks <= domain or ranks % domain != 0:
        u = math.ceil(span / domain)
        return span // u, math.ceil(span / u), u
    fewest, widest, most = span, 1, 1
    for start in range(0, ranks - span + 1, span):
        end = start + span
        first, last = start // domain, (end - 1) // domain
        pieces = [
            min(end, (k + 1) * domain) - max(start, k * domain) for k in range(first, last + 1)
        ]
        fewest, most = min(fewest, min(pieces)), max(most, len(pieces))
        if len(pieces) > 1:
            widest = max(widest, max(pieces))
    return fewest, widest if most > 1 else span, most


def pp_cross_hops(pp: int, ranks: int, domain: int) -> int:
    """Of the pp pipeline hops a token makes per step (stage i to i + 1, the last back to the
    first; rank r sends to r + g, g = ranks / pp), those in which some rank's peer is in another
    scale-up domain of D = `domain` (the hop then waits for the NIC), placed as group_split
    places groups:

        ranks <= D:                      0
        ranks a multiple of D (> D):     hop i < pp − 1 crosses unless ranks i·g .. i·g + 2g − 1
                                         lie in one domain; the last hop always crosses
        else, g > D:                     pp (every stage spans domains)
        else:                            n if n > 1 else 0, n = ceil(pp / floor(D / g)) domains
                                         holding floor(D / g) whole stages each

    PP3 x EP48 over two 72-GPU racks: all 3 hops (stage 0's ranks 24-47 send to 72-95 of the
    other rack); PP4 over two racks: 2 (stages 0 and 1 share a rack); PP2 over one unit of two
    72-GPU domains: 2. Before session 31 min(pp, units spanned): 2, 2 and 0."""
    if pp <= 1 or ranks <= domain:
        return 0
    g = ranks // pp
    if ranks % domain == 0:
        inside = sum(1 for i in range(pp - 1) if (i * g) // domain == (i * g + 2 * g - 1) // domain)
        return pp - inside
    if g > domain:
        return pp
    n = math.ceil(pp / (domain // g))
    return n if n > 1 else 0


def allreduce_s(hw: Hardware, tp: int, nbytes: float, ranks: int | None = None) -> float:
    """One all-reduce of `nbytes` over tp chips on the scale-up fabric:
    2·ceil(log2 tp)·latency (a tree/recursive-doubling pass down and up) + 2(tp−1)/tp · bytes /
    (scale-up bandwidth / 2 · utilisation) (scale_up_one_way): a ring all-reduce sends
    2(tp−1)/tp of the bytes from each chip and receives as many, both directions of its link
    busy at once, so the time is that volume over ONE direction's rate, the bus bandwidth
    nccl-tests reports (busbw = 2(n−1)/n · S / t, NVIDIA/nccl-tests doc/PERFORMANCE.md) and
    the training model's convention (planner/demand/training.py: scale_up_bandwidth / 2 ·
    collective_efficiency). Measured on 8 x H100: ring busbw 365-370 GB/s on 2 to 8 GPUs
    (NVIDIA/nccl issue #1455), "the app-level bandwidth is 370GB/s in each direction ... 900
    GB/s is the sum of both directions" (sjeaugey, NVIDIA/nccl issue #1442); NVLink SHARP
    (NVLS, NCCL's default all-reduce on NVSwitch) reaches busbw ~480 GB/s at 8 GPUs for large
    messages (NVIDIA/nccl-tests issue #212), ~1.3x the ring, not modelled. Review s33: this
    divided by the catalog's both-directions figure (900 GB/s x 0.75 = 675 GB/s of bus
    bandwidth on H100, 1.4x the NVLS peak and 1.8x the ring), charging a TP all-reduce about
    half its time; test_review34 recomputes both models' rate from the same catalog figure.

    A group that leaves its scale-up domain (group_split(tp, ranks, D) = (d, u), u > 1: wider
    than D, e.g. vLLM TP32 on 8-GPU servers, or straddling two domains, TP16 of an instance
    over two 72-GPU racks) all-reduces hierarchically (NCCL's two-level pattern): within each
    domain as above over w chips (group_pieces: the domain with the group's most ranks, the
    slowest ring; 8 of TP12 as 8 + 4), then across the u domains each chip's 1/d shard over its
    NIC (d the fewest: the largest shard, 1/4 of TP12 as 8 + 4),
    2·ceil(log2 u)·L_out + 2(u−1)/u · bytes / d / (scale-out bandwidth · util), L_out the
    network hop of such an all-reduce (allreduce_hop_out_s). `ranks`: the instance's
    accelerators (the TP groups are its consecutive ranks); None: tp (one group)."""
    if tp <= 1:
        return 0.0
    s = figures(hw)
    bw = scale_up_one_way(hw)
    d, w, u = group_pieces(tp, tp if ranks is None else ranks, hw.system.scale_up_domain)
    inner = (
        2 * math.ceil(math.log2(w)) * s.scale_up_latency_s + 2 * (w - 1) / w * nbytes / bw
        if w > 1
        else 0.0
    )
    if u <= 1:
        return inner
    out_bw = hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    return (
        inner
        + 2 * math.ceil(math.log2(u)) * allreduce_hop_out_s(s)
        + 2 * (u - 1) / u * nbytes / d / out_bw
    )


def allreduce_hop_out_s(s: ServingFigures) -> float:
    """One network hop of a TP all-reduce spanning scale-up domains: the accelerator's
    serving.scale_out_allreduce_latency (fitted on H100 to NeMo-RL's measured vLLM TP32
    generation, bench/rl_stage_split.py fit_allreduce_hop), else serving.scale_out_latency."""
    hop = s.scale_out_allreduce_latency_s
    return s.scale_out_latency_s if hop is None else hop


def tp_allreduces(arch: ModelArch) -> int:
    """TP all-reduces of one forward pass of a token: 2 per layer for a dense model, after
    attention and after the MLP (Megatron-LM); an MoE model's routed experts are expert-parallel,
    so after attention and after each dense FFN: layers + dense_layers."""
    if arch.moe is None:
        return ALLREDUCES_PER_LAYER * arch.layers
    return arch.layers + arch.moe.dense_layers


@dataclass(frozen=True)
class PrefillTime:
    """Seconds one prompt token costs an instance of a layout in prefill (see prefill_time)."""

    compute_s: float  # F / (a · the blended GEMM rate), the routed experts' share x imbalance
    allreduce_s: float  # the TP all-reduces' bandwidth time, per token of the instance
    flops: float  # F(context): forward FLOPs of a prompt token
    accelerators: int
    tp: int
    allreduces: int  # per forward pass of a token (tp_allreduces)
    hidden: int
    allreduce_bandwidth: float  # bytes/s: scale_up_one_way (one direction · link util)
    # MoE (0 / 1 for a dense model or TP-sharded experts): the EP all-to-all's bandwidth time,
    # the per-pass fixed MoE time (layer latency + all-to-all hops) spread over the pass's
    # tokens, the hottest EP rank's routed rows over the mean, the tokens of a stage's pass
    ep_comm_s: float = 0.0
    moe_fixed_s: float = 0.0
    ep_imbalance: float = 1.0
    pass_tokens: float = 0.0
    ep: int = 1  # EP ranks (the stage's chips)
    # Tokens computed per prompt token (P'/P: the prompt padded to its compile-time bucket);
    # every term above is per computed token.
    padding: float = 1.0
    # A TP group wider than the scale-up domain (a pinned layout: vLLM TP32 on 8-GPU servers):
    # the domain's chips (the inner ring) and the part of allreduce_s across the domains over
    # the NIC (0: within one domain)
    domain: int = 0
    scale_out_s: float = 0.0
    inner: int = 0  # the most ranks of a TP group in one domain (group_pieces' w; 0: domain)
    domains: int = 0  # the domains a TP group spans (group_pieces' u)

    @property
    def per_token_s(self) -> float:
        """Seconds per prompt token: the per-computed-token terms x padding."""
        return (self.compute_s + self.allreduce_s + self.ep_comm_s + self.moe_fixed_s) * (
            self.padding
        )

    @property
    def tokens_per_s(self) -> float:
        """Prompt tokens one instance prefills per second."""
        return 1.0 / self.per_token_s

    def describe(self) -> str:
        """The per-token time with its numbers (us)."""
        a, tp = self.accelerators, self.tp
        text = (
            f"compute {self.flops:.4g} FLOP / ({a} x {self.flops / self.compute_s / a:.4g} "
            f"FLOP/s) = {self.compute_s * 1e6:.3g} us"
        )
        if self.ep_imbalance > 1.0:
            text += f" (routed experts x{self.ep_imbalance:.3f} on the hottest EP rank)"
        if self.allreduce_s > 0 and self.scale_out_s > 0:
            d, u = self.domain, self.domains or math.ceil(tp / self.domain)
            w = self.inner or d
            text += (
                f" + TP{tp} all-reduce in two levels, {self.allreduces} x (2({w}-1)/{w} x "
                f"{self.hidden} x {ACTIVATION_BYTES:g} B / "
                f"{self.allreduce_bandwidth / 1e9:,.0f} GB/s within each of {u} domains + "
                f"2({u}-1)/{u} x 1/{d} of it over the NIC {self.scale_out_s * 1e6:.3g} us)"
                f" = {self.allreduce_s * 1e6:.3g} us"
            )
        elif self.allreduce_s > 0:
            groups = a // tp
            text += (
                f" + TP{tp} all-reduce {self.allreduces} x 2({tp}-1)/{tp} x {self.hidden} x "
                f"{ACTIVATION_BYTES:g} B / {self.allreduce_bandwidth / 1e9:,.0f} GB/s"
                + (f" / {groups} TP groups" if groups > 1 else "")
                + f" = {self.allreduce_s * 1e6:.3g} us"
            )
        if self.ep_comm_s > 0:
            text += (
                f" + EP{self.ep} all-to-all (FP8 dispatch + BF16 combine, exposed) "
                f"{self.ep_comm_s * 1e6:.3g} us"
            )
        if self.moe_fixed_s > 0:
            text += (
                f" + MoE layer latency over {self.pass_tokens:,.0f}-token passes "
                f"{self.moe_fixed_s * 1e6:.3g} us"
            )
        if self.padding != 1.0:
            text = f"({text}) x {self.padding:.4g} padding (prompt to its bucket)"
        return text + f" = {self.per_token_s * 1e6:.4g} us/token"


def ep_link_s(
    hw: Hardware, ep: int, nbytes: float, ranks: int | None = None
) -> tuple[float, float]:
    """(seconds one chip takes to move `nbytes` of all-to-all traffic over an EP group of `ep`
    chips, the latency of one all-to-all pass (2 hops)): at the scale-up one-way rate when the
    group lies inside one scale-up domain; else (group_split(ep, ranks, D) = (d, u), u > 1) the
    share (ep − d)/ep of peers in other domains, those of a rank on the group's smaller side, at
    the scale-out rate, the hops scale-out's (as StepPhysics._ep_comm_s): (ep − D)/ep for a group
    of whole domains, 1/2 for EP48 straddling two racks as 24 + 24, 2/3 for EP12 over 8-GPU
    servers as 8 + 4. `ranks`: the instance's
    accelerators (its stages are consecutive ranks); None: ep. (0, 0) for ep <= 1."""
    if ep <= 1:
        return 0.0, 0.0
    s = figures(hw)
    d, u = group_split(ep, ep if ranks is None else ranks, hw.system.scale_up_domain)
    up = scale_up_one_way(hw)
    if u <= 1:
        return nbytes / up, 2 * s.scale_up_latency_s
    out_share = (ep - d) / ep
    out = hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    return nbytes * (1 - out_share) / up + nbytes * out_share / out, 2 * s.scale_out_latency_s


def prefill_time(
    hw: Hardware,
    arch: ModelArch,
    precision: str,
    lay: Layout,
    context: float,
    prompt_tokens: float | None = None,
    padding: float = 1.0,
    kv_precision: str | None = None,
) -> PrefillTime:
    """Seconds one prompt token at mean attention context `context` costs an instance of `lay`
    in prefill: compute + the TP all-reduces' bandwidth + (MoE) the EP all-to-all and the MoE
    layers' fixed time (module docstring).

    F         = prefill_flops_per_token(context, P) = 2·(N_active − 2·V·h) + 2·V·h / P
                + attention(context) with V·h the untied input embedding (a row lookup) and the
                output head (run for the prompt's last position only), 0 without the
                catalog's vocab; P = `prompt_tokens` (default 2 · context: every caller passes
                the prompt's mean context P/2 and its prompt P, or P'/2 and P' when padded)
    compute   = F(context) / (a · prefill_compute_rate: attention at `kv_precision`'s rate
                where the chip has one), the routed experts' FLOPs x x (the
                hottest EP rank's share over the mean): full GEMM efficiency (a pass holds
                hundreds of tokens or more)
    allreduce = n_allreduce · 2(tp−1)/tp · hidden · 2 B / (scale_up_bandwidth/2 · link util) · tp/a:
                the ring volume of allreduce_s for one token's activations, exposed (serving
                stacks do not overlap these all-reduces with the GEMMs; n_allreduce =
                tp_allreduces, + moe_layers with TP-sharded experts, as StepPhysics counts
                them); the a/tp = pp·d TP
                groups of the instance (pipeline stages, attention replicas) reduce their own
                tokens side by side, as tp_comm_s counts them in the decode step. The per-pass
                latency (2·ceil(log2 tp) hops per all-reduce, paid once per pass whatever its
                tokens) is left out: negligible for long prompts and full passes (Llama 70B at
                TP16 on Trainium2: 160 x 24 us = 3.8 ms a pass, 0.7% of a 10,000-token prompt's
                prefill), not for a short prompt prefilled alone (at TP8 on B200: 1.9 ms, ~11%
                of one 1,000-token prompt); serving stacks batch prompts into passes of
                thousands of tokens, and an aggregated chunk rides a decode step whose
                tp_comm_s already pays it. A TP group wider than the scale-up domain D (a
                pinned layout only: vLLM TP32 on 8-GPU servers, an RL `generator:`) all-reduces
                in allreduce_s's two levels: 2(w−1)/w within each domain at the scale-up rate
                + 2(u−1)/u · 1/d of the bytes across the u domains over the NIC at the
                scale-out rate ((d, w, u) = group_pieces: the fewest and most ranks of a group
                in one domain, D and D for whole domains; link utilisation on both), bandwidth
                terms only as above.
    ep_comm   = moe_layers · x · k · hidden · (1 + 2 B) · (g−1)/g / (a · bw), the decode step's
                ep_comm_s per prompt token: each token's FP8 dispatch and BF16 combine over the
                stage's g EP chips, the hottest rank's rows, at the scale-up one-way rate
                (scale_up_one_way) with the share of peers beyond the scale-up domain at the
                scale-out rate; the pp stages and their a/pp chips carry their own tokens side
                by side (a = pp · g). Exposed, not overlapped with the GEMMs: TensorRT-LLM's
                all-to-all path runs in line with the MoE GEMMs (its MNNVL all-to-all PR,
                NVIDIA/TensorRT-LLM#3504: the chunked MoE needs no second stream "for
                alltoall"), as the runs behind the InferenceX points; SGLang overlaps part of it
                (two-batch overlap on H100, LMSYS 2025-05-05; the combine behind the down GEMM
                and shared experts on GB200, LMSYS 2025-09-25), not modelled. No
                moe_token_bandwidth: that per-routed-token cost is a decode fit (at 62 GB/s it
                would charge a prompt token 58 x 172,032 B / 62 GB/s = 161 us of chip time,
                2.4x its FP8 compute on GB200, where SGLang's measured prefill runs at -4%
                without it).
    x         = ep_imbalance(tokens of a stage's pass, g), a pass holding one prompt of
                `prompt_tokens` (default 2 · context: the whole prompt) per attention replica:
                d · P tokens per stage (TensorRT-LLM's context workers take one 8k prompt per
                rank a pass, max_num_tokens 8,232 in the InferenceX GB200 FP8 8k/1k recipes;
                SGLang 16,384 tokens per device, LMSYS 2025-05-05); ~1.01 at these sizes
    moe_fixed = moe_layers · (moe_layer_latency + 2 · hop latency if g > 1) / (pp · d · P):
                the decode step's per-layer fixed time paid once per pass, over its d · P tokens
                per stage; ~0.1-2% of a prompt token here.
    padding   = P'/P, tokens computed per prompt token (a prompt padded to its compile-time
                bucket, padded_prompt_tokens): the sum above is per computed token, at the
                padded prompt's context P'/2 (the caller's `context`) and pass (`prompt_tokens`
                = P'), times padding; 1 without buckets.
    """
    a, tp = lay.accelerators, lay.tp
    prompt = 2.0 * context if prompt_tokens is None else prompt_tokens
    flops = prefill_flops_per_token(arch, context, prompt)
    compute = flops / (
        a
        * prefill_compute_rate(
            hw, arch, precision, context, kv_precision, prompt, tp, lay.expert_tp
        )
    )
    # TP-sharded experts (expert_tp: a pinned ep = 1 layout) all-reduce each MoE layer's output
    # too, as the decode step counts them (StepPhysics.allreduces)
    n = tp_allreduces(arch) + (arch.moe_layers if arch.moe is not None and lay.expert_tp else 0)
    s = figures(hw)
    bw = scale_up_one_way(hw)
    comm = cross = 0.0
    domain, widest, u = group_pieces(tp, a, hw.system.scale_up_domain)
    if widest > 1:
        comm = n * 2 * (widest - 1) / widest * arch.hidden * ACTIVATION_BYTES / bw * tp / a
    if u > 1:
        # out of the scale-up domain: allreduce_s's two-level pattern, bandwidth terms
        out_bw = hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
        cross = n * 2 * (u - 1) / u * arch.hidden * ACTIVATION_BYTES / domain / out_bw * tp / a
        comm += cross
    wide, inner, spans = (domain, widest, u) if cross > 0 else (0, 0, 0)
    if arch.moe is None or lay.expert_tp:
        return PrefillTime(
            compute, comm, flops, a, tp, n, arch.hidden, bw,
            padding=padding, domain=wide, scale_out_s=cross, inner=inner, domains=spans,
        )  # fmt: skip
    g, d, pp = lay.stage_accelerators, lay.attention_replicas, lay.pp
    stage_tokens = d * max(prompt, 1.0)
    x = ep_imbalance(arch, stage_tokens, g)
    experts = (
        FORWARD_FLOPS_PER_PARAM * arch.moe_layers * arch.moe.active_experts * arch.expert_params
    )
    # the hottest rank's extra routed rows, at the expert GEMMs' K-width factor (1 when off)
    fe = prefill_width_factors(hw, arch, precision, tp, False, 0.0)[1]
    compute += (x - 1.0) * experts * fe / (a * compute_rate(hw, precision))
    ep_comm, hops = ep_link_s(hw, g, arch.moe_layers * x * ep_bytes_per_token(arch, g) / a, a)
    fixed = arch.moe_layers * (s.moe_layer_latency_s + hops) / (pp * stage_tokens)
    return PrefillTime(
        compute,
        comm,
        flops,
        a,
        tp,
        n,
        arch.hidden,
        bw,
        ep_comm,
        fixed,
        x,
        stage_tokens,
        g,
        padding,
        wide,
        cross,
        inner,
        spans,
    )


def replica_prefill_s(
    hw: Hardware,
    arch: ModelArch,
    precision: str,
    lay: Layout,
    context: float,
    kv_precision: str | None = None,
) -> float:
    """Seconds one prompt token at mean context `context` costs when its prompt is prefilled
    alone on one attention replica of `lay` (whole prompts, attention DP): each of the pp stages
    runs its share of the attention and dense layers on the replica's tp chips and of the routed
    experts on all g = a/pp chips of the stage (expert parallelism), plus the replica's TP
    all-reduces:
      (F − F_experts − F_attn) / (pp · tp · peak(p_dense) · u) + F_attn / (pp · tp · peak(p_attn) · u)
      + x · F_experts / (pp · g · peak(p) · u)   (p_attn: attention_precision of `kv_precision`)
      + n_allreduce / pp · 2(tp−1)/tp · hidden · 2 B / (one-way scale-up bw · link util)
      + moe_layers · max(1/tp, x/g) · k · hidden · (1 + 2 B) · (g−1)/g / (pp · bw)
      + moe_layers · (moe_layer_latency + 2 · latency) / (pp · P)
    (MoE, as prefill_time: the prompt's P tokens routed over the g EP chips, the hottest
    receiving x = ep_imbalance(P, g) x the mean; the replica's tp chips send and take back all of
    its tokens' rows, so the busiest link carries max(1/tp, x/g) of them; a pass is the prompt.)
    With one replica (d = 1: pp · tp = a) this is prefill_time's per-token time. F is
    prefill_flops_per_token of a prompt of P = 2 · context (its one caller, StepPhysics, passes
    ModelLoad.prefill_context = P'/2, the padded prompt's mean context)."""
    pp, tp, g = lay.pp, lay.tp, lay.stage_accelerators
    flops = prefill_flops_per_token(arch, context, 2.0 * context)  # the prompt: P = 2 · context
    experts = 0.0
    if arch.moe is not None:
        experts = (
            FORWARD_FLOPS_PER_PARAM * arch.moe_layers * arch.moe.active_experts * arch.expert_params
        )
    dense_p = dense_precision(arch, precision)
    x, moe = 1.0, 0.0
    if arch.moe is not None and not lay.expert_tp:
        prompt = max(2.0 * context, 1.0)
        x = ep_imbalance(arch, prompt, g)
        share = max(1.0 / tp, x / g)
        link, hops = ep_link_s(
            hw, g, arch.moe_layers * share * ep_bytes_per_token(arch, g) / pp, lay.accelerators
        )
        moe = link + arch.moe_layers * (figures(hw).moe_layer_latency_s + hops) / (pp * prompt)
    attention = attention_flops_per_token(arch, context)
    attn_rate = compute_rate(hw, attention_precision(hw, kv_precision, dense_p))
    rest = flops - experts - attention
    # the K-width term's GEMM multipliers (1, 1 while PREFILL_GEMM_WIDTH is off)
    fd, fe = prefill_width_factors(hw, arch, precision, tp, lay.expert_tp, rest)
    compute = (
        rest * fd / (pp * tp * compute_rate(hw, dense_p))
        + attention / (pp * tp * attn_rate)
        + x * experts * fe / (pp * g * compute_rate(hw, precision))
    )
    comm = 0.0
    if tp > 1:
        bw = scale_up_one_way(hw)
        comm = tp_allreduces(arch) / pp * 2 * (tp - 1) / tp * arch.hidden * ACTIVATION_BYTES / bw
    return compute + comm + moe


def expected_max_poisson(mean: float, n: int) -> float:
    """E[max of n independent Poisson(mean) counts] = Σ_k>=0 (1 − F(k)^n), F the Poisson cdf
    (summed until the remaining terms are below 1e-12 of the count)."""
    if mean <= 0:
        return 0.0
    if n == 1:
        return mean
    if mean > 700.0:
        # exp(−mean) underflows; the counts are normal there: max ≈ μ + σ sqrt(2 ln n)
        return mean + math.sqrt(2.0 * mean * math.log(n))
    total, k = 0.0, 0
    pmf = math.exp(-mean)
    cdf = pmf
    while True:
        term = 1.0 - cdf**n
        total += term
        if k > mean and term < 1e-12:
            return total
        k += 1
        pmf *= mean / k
        cdf = min(1.0, cdf + pmf)


def ep_bytes_per_token(arch: ModelArch, ep: int) -> float:
    """All-to-all bytes one token sends and receives per MoE layer with its experts spread over
    ep chips: k · hidden · (dispatch 1 B + combine 2 B) · (ep − 1)/ep (the share not local)."""
    if ep <= 1:
        return 0.0
    return moe_token_bytes(arch) * (ep - 1) / ep


@dataclass(frozen=True)
class StepTerms:
    """Every term of one decode step of B sequences on a layout (seconds)."""

    batch: int
    compute_s: float
    memory_s: float
    weights_read_bytes: float  # per chip per step
    kv_read_bytes: float  # per chip per step
    tp_comm_s: float
    ep_comm_s: float
    pp_comm_s: float
    overhead_s: float
    chunk_s: float  # chunked prefill carried by the step (interactive serving)
    tokens_per_step: float = 1.0  # output tokens per sequence per step (speculative decoding)
    # (name, compute_s, memory_s) of each kernel phase run in sequence: attention, dense GEMMs,
    # expert GEMMs. compute_s / memory_s above are their sums.
    phases: tuple[tuple[str, float, float], ...] = ()
    ep_imbalance: float = 1.0  # hottest EP rank's routed tokens / the mean (1 = balanced)
    moe_layer_s: float = 0.0  # moe_layers x moe_layer_latency (MoE models)
    moe_token_s: float = 0.0  # the hottest rank's routed tokens / moe_token_bandwidth (MoE)
    # moe_layers x the measured MoE module (moe_kernels.py) where a table covers the step, in
    # place of the expert GEMMs' phase, moe_layer_s and moe_token_s (then 0); its table's
    # TensorRT-LLM release (None: the parametric terms)
    moe_module_s: float = 0.0
    moe_kernels: str | None = None
    # The TPOT target's quantile over requests (0.99: p99; None: the mean TPOT) and that quantile's
    # excess over the mean TPOT: prefill stalls that land on few output tokens (tpot_tail.py).
    tpot_quantile: float | None = None
    tpot_tail_s: float = 0.0
    # The prompts' length stdev / mean behind the tail's stalls (0: every prompt the mean's).
    tpot_prompt_cv: float = 0.0
    # The tail's output lengths follow given percentiles (False: geometric of the mean)
    tpot_output_percentiles: bool = False
    # chunk_s is whole prompts stalling the step, each on its own attention replica
    whole_prompt_stalls: bool = False
    # The batch the step computed when the engine pads it to a CUDA graph size (None: `batch`)
    padded_batch: float | None = None

    @property
    def roofline_s(self) -> float:
        """Σ over phases of max(compute, memory): the kernels of a layer run one after another,
        so a compute-bound phase cannot hide a memory-bound one (max(compute, memory) without
        phases)."""
        if not self.phases:
            return max(self.compute_s, self.memory_s)
        return sum(max(c, m) for _, c, m in self.phases)

    @property
    def step_s(self) -> float:
        """Decode-only step: Σ phases max(compute, memory) + communication + fixed overhead."""
        return (
            self.roofline_s
            + self.tp_comm_s
            + self.ep_comm_s
            + self.pp_comm_s
            + self.moe_layer_s
            + self.moe_token_s
            + self.moe_module_s
            + self.overhead_s
        )

    @property
    def tpot_s(self) -> float:
        """Time per output token a user sees: (the step plus the prefill chunk it carries) / the
        tokens a step yields per sequence (1 without speculative decoding)."""
        return (self.step_s + self.chunk_s) / self.tokens_per_step

    @property
    def tpot_bound_s(self) -> float:
        """The TPOT the target bounds: the mean (tpot_s), or its quantile over requests
        (tpot_s + tpot_tail_s) when the workload names one."""
        return self.tpot_s + self.tpot_tail_s

    @property
    def bound(self) -> str:
        """What the step spends most on: "compute" or "memory" (the phases bound by each),
        "communication" (TP + EP + PP), "latency" (step overhead + MoE layer latency), "MoE
        tokens" (the fitted per-routed-token cost) or "MoE module" (the measured one)."""
        if not self.phases:
            return "compute" if self.compute_s >= self.memory_s else "memory"
        parts = {
            "compute": sum(c for _, c, m in self.phases if c >= m),
            "memory": sum(m for _, c, m in self.phases if m > c),
            "communication": self.tp_comm_s + self.ep_comm_s + self.pp_comm_s,
            "latency": self.overhead_s + self.moe_layer_s,
            "MoE tokens": self.moe_token_s,
            "MoE module": self.moe_module_s,
        }
        return max(parts, key=lambda k: parts[k])

    def describe(self) -> str:
        if self.phases:
            text = " + ".join(
                f"{name} max(compute {c * 1e3:.2f}, memory {m * 1e3:.2f})"
                for name, c, m in self.phases
                if c > 0 or m > 0
            )
        else:
            text = f"max(compute {self.compute_s * 1e3:.2f}, memory {self.memory_s * 1e3:.2f})"
        for name, value in (
            ("TP all-reduce", self.tp_comm_s),
            ("EP all-to-all", self.ep_comm_s),
            ("PP hops", self.pp_comm_s),
            ("MoE layer latency", self.moe_layer_s),
            ("MoE routed tokens", self.moe_token_s),
            (f"MoE module (measured, TensorRT-LLM {self.moe_kernels})", self.moe_module_s),
            ("overhead", self.overhead_s),
        ):
            if value > 0:
                text += f" + {name} {value * 1e3:.2f}"
        text += f" = {self.step_s * 1e3:.2f} ms"
        if self.padded_batch is not None:
            text += (
                f" (GEMMs, communication and routed tokens of {self.padded_batch:,.0f} "
                f"sequences: the batch padded to its CUDA graph)"
            )
        if self.ep_imbalance > 1.0:
            text += f" (hottest EP rank x{self.ep_imbalance:.2f} routed tokens)"
        if self.chunk_s > 0 and self.whole_prompt_stalls:
            text += (
                f"; + whole-prompt stalls (each on its attention replica, the others waiting) "
                f"{self.chunk_s * 1e3:.2f}"
            )
        elif self.chunk_s > 0:
            text += f"; + prefill chunk {self.chunk_s * 1e3:.2f}"
        if self.tokens_per_step != 1.0:
            text += f"; / {self.tokens_per_step:.2f} tokens per step"
        if self.chunk_s > 0 or self.tokens_per_step != 1.0:
            text += f" = TPOT {self.tpot_s * 1e3:.2f} ms"
        if self.tpot_quantile is not None:
            text += (
                f"; {quantile_label(self.tpot_quantile)} over requests (Poisson prompt stalls on "
                f"few output tokens"
                + (
                    f", prompt lengths stdev/mean {self.tpot_prompt_cv:.2f}"
                    if self.tpot_prompt_cv > 0
                    else ""
                )
                + (", output lengths by percentiles" if self.tpot_output_percentiles else "")
                + f") + tail {self.tpot_tail_s * 1e3:.2f} = "
                f"{quantile_label(self.tpot_quantile)} TPOT {self.tpot_bound_s * 1e3:.2f} ms"
            )
        return text


def quantile_label(quantile: float) -> str:
    """0.99 -> "p99", 0.999 -> "p99.9"."""
    return f"p{round(quantile * 100, 6):g}"


# The TPOT floor of a batch (StepPhysics.tpot_floor_s) is lowered by this share so that float
# rounding (about 1e-16 per operation, a few dozen operations) can never lift it above the TPOT
# that step_terms computes: a batch whose floor exceeds the budget surely misses it.
FLOOR_MARGIN = 1e-9


class StepPhysics:
    """The decode step on one layout as a function of the batch (see the module docstring):
    what does not depend on the batch is computed once here, `terms(batch)` does the rest.
    max_batch_within evaluates ~20 batches per layout; each used to redo the layout's part."""

    def __init__(self, hw: Hardware, load: ModelLoad, lay: Layout) -> None:
        arch = load.arch
        s = figures(hw)
        self.hw, self.load, self.lay, self.figures = hw, load, lay, s
        g = self.stage_accelerators = lay.stage_accelerators
        self.attention_replicas = lay.attention_replicas
        self.tokens_per_sequence = 1 + load.draft_tokens  # through the model per step (verify)
        self.hbm_bw = hw.accelerator.hbm_bandwidth_bytes_per_s * s.hbm_bandwidth_utilisation
        self.dense_read = (load.dense_bytes - load.embedding_bytes) / lay.tp
        self.kv_replication = kv_replication(arch, lay.tp)
        # a · FLOP/s of one chip: routed-expert GEMMs at the checkpoint's precision, the other
        # GEMMs at its dense precision (the same unless the catalog says otherwise), attention
        # at its own.
        self.expert_rate = lay.accelerators * compute_rate(hw, load.precision)
        self.dense_rate = (
            self.expert_rate
            if load.dense_precision == load.precision
            else lay.accelerators * compute_rate(hw, load.dense_precision)
        )
        self.attention_rate = lay.accelerators * attention_rate(hw, load)
        # TP all-reduces: 2 per layer (dense); MoE: after attention, and after the dense FFNs.
        self.allreduces = tp_allreduces(arch) + (arch.moe_layers if lay.expert_tp else 0)
        self.moe_layer_s = arch.moe_layers * s.moe_layer_latency_s if arch.moe is not None else 0.0
        self.ep_bytes_per_token = ep_bytes_per_token(arch, g)
        self.up_bw = scale_up_one_way(hw)
        self.out_bw = hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
        token_bw = s.moe_token_bandwidth_bytes_per_s
        # s per routed token (on the hottest rank) per MoE layer; 0 without the catalog figure
        self.moe_token_cost_s = (
            moe_token_bytes(arch) / token_bw if token_bw is not None and arch.moe else 0.0
        )
        # The measured MoE module (moe_kernels.py): (its release, rows) where a table covers this
        # part, release, precision, MoE shape and EP size with whole experts a rank; else None
        self.moe_table = (
            None
            if lay.expert_tp
            else module_rows(
                hw.system.accelerator or "", load.engine_release, load.precision, arch, g
            )
        )
        self._floor_slopes = self._tpot_floor_slopes()

    @functools.cached_property
    def prefill(self) -> PrefillTime:
        """A prompt token's prefill on this layout (compute + TP all-reduces): the chunk. Only
        a step carrying prompts (with_chunk) needs it: computed on first use."""
        hw, load, lay = self.hw, self.load, self.lay
        return prefill_time(
            hw,
            load.arch,
            load.precision,
            lay,
            load.prefill_context,
            2.0 * load.prefill_context,
            load.prefill_padding,
            load.kv_precision,
        )

    @functools.cached_property
    def replica_stall_s(self) -> float | None:
        """Whole prompts on an attention-DP layout: one prompt's stall on its own replica (s);
        None otherwise."""
        hw, load, lay = self.hw, self.load, self.lay
        if not (
            load.whole_prompts and lay.attention_replicas > 1 and load.prompt_prefilled_tokens > 0
        ):
            return None
        return (
            load.prompt_prefilled_tokens
            * load.prefill_padding
            * replica_prefill_s(
                hw, load.arch, load.precision, lay, load.prefill_context, load.kv_precision
            )
        )

    @functools.cached_property
    def _floor_chunk(self) -> float:
        """tpot_floor_s's s per sequence of the prefill chunk (the last of the slopes below)."""
        load = self.load
        chunk = load.tokens_per_step * load.prefill_per_output * self.prefill.per_token_s
        if self.replica_stall_s is not None:
            # E[max of d Poisson(λ)] >= λ = prompts a step / d: at least the prompts' stalls / d
            chunk = (
                load.tokens_per_step
                * load.prefill_per_output
                / load.prompt_prefilled_tokens
                * self.replica_stall_s
                / self.attention_replicas
            )
        return chunk

    def _tpot_floor_slopes(self) -> tuple[float, float, float, float]:
        """The parts of tpot_floor_s: s per sequence of the attention phase (its KV read and
        its FLOPs both grow as the batch) and of the expert GEMMs' FLOPs, s per sequence of the
        dense GEMMs' FLOPs, s of the dense weights' read, the fixed s (step overhead, MoE layer
        latency), s per sequence of the prefill chunk. The GEMMs' FLOPs are counted at full
        efficiency (n/(n + half) <= 1) on balanced EP ranks (the hottest rank's share is at
        least the mean, active_experts <= experts); communication (>= 0) is left out."""
        load, q = self.load, self.tokens_per_sequence
        kv = load.kv_read_per_sequence * self.kv_replication / self.lay.accelerators / self.hbm_bw
        attention = max(q * load.flops_attention / self.attention_rate, kv)
        experts = q * max(0.0, load.flops_experts) / self.expert_rate
        # the routed-token cost: moe_layers · x · (B·q/pp)/g · cost, x >= 1, pp · g = a
        tokens = q * self.load.arch.moe_layers * self.moe_token_cost_s / self.lay.accelerators
        dense = q * max(0.0, load.flops_dense) / self.dense_rate
        fixed = self.figures.step_overhead_s + self.moe_layer_s
        if self.moe_table is not None:
            # the measured module replaces the expert GEMMs, the routed tokens and the layer
            # latency: at least its smallest row a layer
            experts = tokens = 0.0
            fixed = self.figures.step_overhead_s + self.load.arch.moe_layers * module_floor_s(
                self.moe_table[1]
            )
        return attention + experts + tokens, dense, self.dense_read / self.hbm_bw, fixed

    def tpot_floor_s(self, batch: int, with_chunk: bool) -> float:
        """A lower bound of terms(batch, with_chunk).tpot_bound_s (lowered by FLOOR_MARGIN
        against float rounding): cheap enough to skip evaluating batches far above the budget.
        A quantile of TPOT over requests is at least step / tokens per step (a request waits for
        K >= 0 stalls), not necessarily the mean: its floor leaves the chunk out."""
        per_sequence, dense, dense_read_s, fixed = self._floor_slopes
        step = batch * per_sequence + max(batch * dense, dense_read_s) + fixed
        if with_chunk and self.load.tpot_quantile is None:
            step += batch * self._floor_chunk
        return step / self.load.tokens_per_step * (1.0 - FLOOR_MARGIN)

    def terms(self, batch: int, with_chunk: bool, padded: bool = True) -> StepTerms:
        """The decode step of `batch` sequences (step_terms). With the engine's CUDA graph sizes
        (load.graph_batch_sizes) every token-proportional term (GEMMs, weights of the experts
        the tokens reach, all-reduces, all-to-all, pipeline hops, routed tokens) runs at the
        padded batch (padded_decode_batch); the KV read and attention at `batch` (a padding
        sequence has no context). padded=False: the batch itself (an upper bound of the rate,
        _per_unit_bound)."""
        hw, load, lay, s = self.hw, self.load, self.lay, self.figures
        arch = load.arch
        a, tp, pp = lay.accelerators, lay.tp, lay.pp
        g, d = self.stage_accelerators, self.attention_replicas
        work = padded_decode_batch(batch, pp, d, load.graph_batch_sizes) if padded else float(batch)
        m = work / pp  # sequences per micro-batch (padding included)
        q = self.tokens_per_sequence
        mq = m * q  # tokens per micro-batch
        # Three kernel phases per layer, in sequence: attention (KV read vs attention FLOPs),
        # dense GEMMs (dense weights vs dense FLOPs), routed-expert GEMMs (distinct experts'
        # weights vs expert FLOPs on the hottest EP rank). Per chip per step.
        bw = self.hbm_bw
        experts = distinct_experts(arch, mq)
        dense_read = self.dense_read
        expert_read = experts * load.expert_bytes * arch.moe_layers / g
        weights_read = dense_read + expert_read
        kv_read = batch * load.kv_read_per_sequence * self.kv_replication / a
        memory_s = (weights_read + kv_read) / bw
        # Dense GEMMs see m/d tokens each, expert GEMMs m·k/distinct tokens each.
        n_dense = mq / d
        attention_c = batch * q * load.flops_attention / self.attention_rate
        dense_c = work * q * load.flops_dense / gemm_efficiency(hw, n_dense) / self.dense_rate
        expert_c = 0.0
        imbalance = 1.0
        if arch.moe is not None and load.flops_experts > 0:
            n_expert = mq * arch.moe.active_experts / max(experts, 1e-9)
            # TP-sharded experts: every chip holds a slice of every expert, no hot rank
            imbalance = 1.0 if lay.expert_tp else ep_imbalance(arch, mq, g)
            expert_c = (
                imbalance * work * q * load.flops_experts / gemm_efficiency(hw, n_expert)
            ) / self.expert_rate
        moe_layer_s = self.moe_layer_s
        moe_token_s = arch.moe_layers * imbalance * mq / g * self.moe_token_cost_s
        module = 0.0
        expert_phase = ("expert GEMMs", expert_c, expert_read / bw)
        if self.moe_table is not None:
            # the measured module at the mq tokens routed over the EP group, a layer
            module = arch.moe_layers * module_s(self.moe_table[1], mq)
            expert_phase = ("expert GEMMs", 0.0, 0.0)
            expert_c = 0.0
            moe_layer_s = moe_token_s = 0.0
        phases = (
            ("attention", attention_c, kv_read / bw),
            ("dense GEMMs", dense_c, dense_read / bw),
            expert_phase,
        )
        tp_comm_s = self.allreduces * allreduce_s(
            hw, tp, n_dense * arch.hidden * ACTIVATION_BYTES, lay.accelerators
        )
        chunk_s = 0.0
        tail_s = 0.0
        if with_chunk:
            # Each step yields tokens_per_step output tokens per sequence, so it must also
            # prefill that many times P/(k·O) prompt tokens per sequence.
            chunk_s = (
                batch * load.tokens_per_step * load.prefill_per_output * self.prefill.per_token_s
            )
            if self.replica_stall_s is not None:
                chunk_s = self._whole_prompt_chunk_s(batch)
            if load.tpot_quantile is not None:
                tail_s = self._tail_s(batch, chunk_s)
        return StepTerms(
            batch=batch,
            compute_s=attention_c + dense_c + expert_c,
            memory_s=memory_s,
            weights_read_bytes=weights_read,
            kv_read_bytes=kv_read,
            tp_comm_s=tp_comm_s,
            ep_comm_s=self._ep_comm_s(mq, imbalance),
            pp_comm_s=self._pp_comm_s(mq),
            overhead_s=s.step_overhead_s,
            chunk_s=chunk_s,
            tokens_per_step=load.tokens_per_step,
            phases=phases,
            ep_imbalance=imbalance,
            moe_layer_s=moe_layer_s,
            moe_token_s=moe_token_s,
            moe_module_s=module,
            moe_kernels=self.moe_table[0] if self.moe_table is not None else None,
            tpot_quantile=load.tpot_quantile if with_chunk else None,
            tpot_tail_s=tail_s,
            tpot_prompt_cv=load.prompt_cv if with_chunk else 0.0,
            tpot_output_percentiles=with_chunk and load.output_percentiles is not None,
            whole_prompt_stalls=with_chunk and self.replica_stall_s is not None,
            padded_batch=work if work != batch else None,
        )

    def _prompts_per_step(self, batch: int) -> float:
        """Prompts the instance admits a step (Little): B · t · P/(votes · O) prompt tokens a
        step over P prefilled tokens a prompt = B · t / (votes · O)."""
        load = self.load
        if load.prompt_prefilled_tokens <= 0:
            return 0.0
        return batch * load.tokens_per_step * load.prefill_per_output / load.prompt_prefilled_tokens

    def _whole_prompt_chunk_s(self, batch: int) -> float:
        """The mean stall a step carries when whole prompts are prefilled on their own attention
        replica (no chunked context, attention DP over d replicas): the r prompts of a step land
        on the d replicas at random, Poisson(r/d) each, and the step waits for the busiest:
        E[max of d Poisson(r/d)] · s_replica (r · s_replica when prompts seldom overlap, r/d ·
        s_replica when every replica prefills at once)."""
        assert self.replica_stall_s is not None
        d = self.attention_replicas
        return expected_max_poisson(self._prompts_per_step(batch) / d, d) * self.replica_stall_s

    def _tail_s(self, batch: int, chunk_s: float) -> float:
        """The TPOT quantile's excess over the mean TPOT (tpot_tail.py): r prompts a step
        (_prompts_per_step), each stalling the step s_p = chunk / r on average (P · per-token
        prefill; with whole prompts on attention replicas, the share of the busiest replica's
        stall each brings); the quantile of the stalls per output token over requests minus their
        mean, chunk / t. The engine's token budget does not enter: its chunks of one prompt fall
        on consecutive steps, so a request waits for the same prefill work (tpot_tail.py)."""
        load = self.load
        assert load.tpot_quantile is not None
        rate = self._prompts_per_step(batch)
        if rate <= 0 or chunk_s <= 0:
            return 0.0
        stall = chunk_s / rate
        tail = stall_quantile_s(
            load.tpot_quantile,
            rate,
            stall,
            load.output_tokens,
            load.tokens_per_step,
            load.prompt_cv,
            load.output_percentiles,
        )
        return tail - chunk_s / load.tokens_per_step

    def _ep_comm_s(self, mq: float, imbalance: float) -> float:
        """EP all-to-all over the stage's g chips (one way: each chip sends its tokens' dispatch
        and combine while receiving the others'); the hottest rank receives `imbalance` x the
        mean; beyond the scale-up domain, the share of peers in other units over scale-out."""
        arch, s, g = self.load.arch, self.figures, self.stage_accelerators
        if arch.moe is None or g <= 1 or self.lay.expert_tp:
            return 0.0
        d, u = group_split(g, self.lay.accelerators, self.hw.system.scale_up_domain)
        per_chip = imbalance * mq / g * self.ep_bytes_per_token
        if u <= 1:
            per_layer = 2 * s.scale_up_latency_s + per_chip / self.up_bw
        else:
            out_share = (g - d) / g
            per_layer = (
                2 * s.scale_out_latency_s
                + per_chip * (1 - out_share) / self.up_bw
                + per_chip * out_share / self.out_bw
            )
        return arch.moe_layers * per_layer

    def _pp_comm_s(self, mq: float) -> float:
        """Pipeline hops: a token crosses pp stage boundaries per step (the last back to the
        first); a hop in which a rank's peer is in another scale-up domain goes over scale-out
        (pp_cross_hops)."""
        lay, s = self.lay, self.figures
        pp = lay.pp
        if pp <= 1:
            return 0.0
        hop_bytes = mq * self.load.arch.hidden * ACTIVATION_BYTES / lay.tp
        cross = pp_cross_hops(pp, lay.accelerators, self.hw.system.scale_up_domain)
        return (pp - cross) * (s.scale_up_latency_s + hop_bytes / self.up_bw) + cross * (
            s.scale_out_latency_s + hop_bytes / self.out_bw
        )


def step_terms(
    hw: Hardware, load: ModelLoad, lay: Layout, batch: int, with_chunk: bool
) -> StepTerms:
    """The decode step of `batch` sequences on `lay` (see the module docstring)."""
    return StepPhysics(hw, load, lay).terms(batch, with_chunk)


def max_batch_within(
    hw: Hardware,
    load: ModelLoad,
    lay: Layout,
    budget_s: float,
    upper: int,
    chunked: bool,
    step: StepPhysics | None = None,
) -> int:
    """The largest batch in [pp, upper] whose TPOT (step, + prefill chunk when `chunked`; its
    quantile over requests when the load names one: tpot_bound_s) fits `budget_s`; 0 if none. TPOT does not fall as the batch grows (every term of the step grows
    or stays with it), so that batch is the one bisection finds; this search brackets it the
    same way, lo fitting and hi not, but picks each probe where the line through the bracket's
    TPOTs crosses the budget (TPOT is close to linear in the batch), with a halving whenever a
    probe left more than half the bracket, and skips a probe whose TPOT floor already misses the
    budget (the floor then stands in for its TPOT). ~5 step evaluations a layout where
    bisection took ~13 (tests check both give the same batch)."""
    step = step or StepPhysics(hw, load, lay)
    lo = lay.pp
    if upper < lo:
        return 0
    f_lo = step.terms(lo, chunked).tpot_bound_s - budget_s
    if f_lo > 0:
        return 0
    hi = upper
    f_hi = step.tpot_floor_s(hi, chunked) - budget_s
    if f_hi <= 0:
        f_hi = step.terms(hi, chunked).tpot_bound_s - budget_s
        if f_hi <= 0:
            return hi
    halve = False
    while hi - lo > 1:
        if halve:
            mid = (lo + hi) // 2
        else:
            cross = lo + (hi - lo) * (-f_lo) / (f_hi - f_lo)
            mid = min(max(int(cross), lo + 1), hi - 1)
        width = hi - lo
        f_mid = step.tpot_floor_s(mid, chunked) - budget_s
        if f_mid <= 0:
            f_mid = step.terms(mid, chunked).tpot_bound_s - budget_s
        if f_mid <= 0:
            lo, f_lo = mid, f_mid
        else:
            hi, f_hi = mid, f_mid
        halve = not halve and hi - lo > width // 2
    return lo


class StepArrays:
    """StepPhysics of several layouts of one model, request shape and system, evaluated on
    arrays: `tpot_bound_s(i, b)` and `step_s(i, b)` are terms(b[j], ...) of layout i[j] for every
    j at once, and `max_batches_within` runs max_batch_within's search on every layout in
    lockstep. Every figure is the scalar one to the last bit: the same float operations in the
    same order, element by element (IEEE +, −, ·, / and sqrt are correctly rounded in numpy as
    in Python); pow, log and the Poisson/tail sums stay Python's own (math, per element), since
    numpy's SIMD transcendental kernels may round differently. tests/test_serving_vector.py
    checks both against the scalar StepPhysics by brute force."""

    def __init__(self, steps: list[StepPhysics]) -> None:
        assert steps
        self.steps = steps
        first = steps[0]
        hw, load, s = first.hw, first.load, first.figures
        arch = load.arch
        self.load, self.arch = load, arch
        lays = [st.lay for st in steps]

        def ints(values: list[int]) -> np.ndarray:
            return np.array(values, dtype=np.int64)

        def floats(values: list[float]) -> np.ndarray:
            return np.array(values, dtype=np.float64)

        self.pp = ints([lay.pp for lay in lays])
        self.d = ints([st.attention_replicas for st in steps])
        self.g = ints([st.stage_accelerators for st in steps])
        self.a = ints([lay.accelerators for lay in lays])
        self.tp = ints([lay.tp for lay in lays])
        self.q = first.tokens_per_sequence
        self.hbm_bw = first.hbm_bw
        self.sizes = (
            np.array(load.graph_batch_sizes, dtype=np.int64) if load.graph_batch_sizes else None
        )
        self.dense_read = floats([st.dense_read for st in steps])
        self.dense_read_mem = self.dense_read / self.hbm_bw
        self.kv_rep = floats([st.kv_replication for st in steps])
        self.attention_rate = floats([st.attention_rate for st in steps])
        self.dense_rate = floats([st.dense_rate for st in steps])
        self.expert_rate = floats([st.expert_rate for st in steps])
        self.half = s.gemm_half_tokens
        # MoE: distinct experts' weights read, expert GEMMs on the hottest EP rank
        self.moe = arch.moe is not None
        self.experts_on = self.moe and load.flops_experts > 0
        if arch.moe is not None:
            e, k = arch.moe.experts, arch.moe.active_experts
            self.e, self.k, self.keep = e, k, 1.0 - k / e
            # ep_imbalance: factor 1 (ep <= 1 or TP-sharded experts), else its two constants
            self.imb_on = np.array(
                [
                    self.experts_on and not lay.expert_tp and st.stage_accelerators > 1
                    for st, lay in zip(steps, lays, strict=True)
                ],
                dtype=bool,
            )
            self.two_log = floats([2.0 * math.log(g) if g > 1 else 0.0 for g in self.g.tolist()])
            self.imb_cap = floats(
                [g * min(k, e / g) / k if g > 1 else 1.0 for g in self.g.tolist()]
            )
        # TP all-reduces (allreduce_s): inner over w, outer 1/d over the u domains (group_pieces)
        domain = hw.system.scale_up_domain
        self.allreduces = ints([st.allreduces for st in steps])
        self.up_bw_ar = scale_up_one_way(hw)
        self.out_bw_ar = (
            hw.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
        )
        ar_split = [
            group_pieces(tp, a, domain)
            for tp, a in zip(self.tp.tolist(), self.a.tolist(), strict=True)
        ]
        ar_w = [w for _, w, _ in ar_split]
        self.ar_on = self.tp > 1
        self.ar_d = ints([d for d, _, _ in ar_split])
        self.ar_inner_on = self.ar_on & (ints(ar_w) > 1)
        self.ar_lat = floats(
            [2 * math.ceil(math.log2(w)) * s.scale_up_latency_s if w > 1 else 0.0 for w in ar_w]
        )
        self.ar_coef = floats([2 * (w - 1) / w if w > 1 else 0.0 for w in ar_w])
        us = [u for _, _, u in ar_split]
        self.ar_outer_on = self.ar_on & (ints(us) > 1)
        self.ar_out_lat = floats(
            [2 * math.ceil(math.log2(u)) * allreduce_hop_out_s(s) if u > 1 else 0.0 for u in us]
        )
        self.ar_out_coef = floats([2 * (u - 1) / u for u in us])
        self.any_outer = bool(self.ar_outer_on.any())
        # EP all-to-all (_ep_comm_s)
        self.ep_on = np.array(
            [
                self.moe and st.stage_accelerators > 1 and not lay.expert_tp
                for st, lay in zip(steps, lays, strict=True)
            ],
            dtype=bool,
        )
        ep_split = [
            group_split(g, a, domain) for g, a in zip(self.g.tolist(), self.a.tolist(), strict=True)
        ]
        self.ep_inside = np.array([u <= 1 for _, u in ep_split], dtype=bool)
        self.ep_bpt = floats([st.ep_bytes_per_token for st in steps])
        self.out_share = floats(
            [(g - d) / g for g, (d, _) in zip(self.g.tolist(), ep_split, strict=True)]
        )
        self.up_bw, self.out_bw = first.up_bw, first.out_bw
        self.up_lat, self.out_lat = s.scale_up_latency_s, s.scale_out_latency_s
        # pipeline hops (_pp_comm_s)
        self.pp_on = self.pp > 1
        self.any_pp = bool(self.pp_on.any())
        cross = [pp_cross_hops(lay.pp, lay.accelerators, domain) for lay in lays]
        self.cross = ints(cross)
        self.inside_hops = self.pp - self.cross
        self.moe_layers = arch.moe_layers
        # layouts whose MoE module is measured (StepPhysics.moe_table)
        self.tables = [st.moe_table[1] if st.moe_table is not None else None for st in steps]
        self.table_on = np.array([t is not None for t in self.tables], dtype=bool)
        self.any_table = bool(self.table_on.any())
        self.moe_layer_s = first.moe_layer_s
        self.moe_token_cost_s = first.moe_token_cost_s
        self.overhead_s = s.step_overhead_s
        slopes = np.array([st._floor_slopes for st in steps], dtype=np.float64)
        self.floor_seq, self.floor_dense, self.floor_read, self.floor_fixed = slopes.T.copy()

    # What only a step carrying prompts needs (with_chunk): computed on first use.
    @functools.cached_property
    def prefill_s(self) -> np.ndarray:
        return np.array([st.prefill.per_token_s for st in self.steps], dtype=np.float64)

    @functools.cached_property
    def whole(self) -> list[bool]:
        return [st.replica_stall_s is not None for st in self.steps]

    @functools.cached_property
    def floor_chunk(self) -> np.ndarray:
        return np.array([st._floor_chunk for st in self.steps], dtype=np.float64)

    def _work(self, i: np.ndarray, batch: np.ndarray, padded: bool = True) -> np.ndarray:
        """padded_decode_batch of each element (the batch itself without graph sizes)."""
        if self.sizes is None or not padded:
            return batch.astype(np.float64)
        group = self.pp[i] * self.d[i]
        per_rank = np.ceil(batch / group - 1e-9)
        at = np.searchsorted(self.sizes, per_rank, side="left")
        inside = at < len(self.sizes)
        padded = self.sizes[np.minimum(at, len(self.sizes) - 1)] * group
        return np.where(inside, padded, batch).astype(np.float64)

    def step_s(
        self, i: np.ndarray, batch: np.ndarray, padded: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(step_s, imbalance) of terms(batch, padded=padded) on layouts i, element by element."""
        load, arch = self.load, self.arch
        pp, d, g, a = self.pp[i], self.d[i], self.g[i], self.a[i]
        q = self.q
        work = self._work(i, batch, padded)
        m = work / pp
        mq = m * q
        bw = self.hbm_bw
        if self.moe:
            keep, e = self.keep, self.e
            experts = np.array([e * (1.0 - keep**x) for x in mq.tolist()], dtype=np.float64)
        else:
            experts = np.zeros(len(mq))
        expert_read = experts * load.expert_bytes * arch.moe_layers / g
        kv_read = batch * load.kv_read_per_sequence * self.kv_rep[i] / a
        n_dense = mq / d
        attention_c = batch * q * load.flops_attention / self.attention_rate[i]
        eff_dense = n_dense / (n_dense + self.half)
        dense_c = work * q * load.flops_dense / eff_dense / self.dense_rate[i]
        imbalance = np.ones(len(mq))
        expert_c = np.zeros(len(mq))
        if self.experts_on:
            n_expert = mq * self.k / np.maximum(experts, 1e-9)
            on = self.imb_on[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                mu = mq * self.k / g
                x = np.minimum(
                    np.maximum(1.0 + np.sqrt(self.two_log[i] / mu), 1.0 / mu), self.imb_cap[i]
                )
            imbalance = np.where(on & (mq > 0), x, 1.0)
            eff_expert = np.where(n_expert > 0, n_expert / (n_expert + self.half), 0.0)
            expert_c = imbalance * work * q * load.flops_experts / eff_expert / self.expert_rate[i]
        # A term that is 0 everywhere is left out of the sums below: x + 0.0 is x (every term
        # is >= 0), so the sums are the scalar step's to the last bit.
        roofline = np.maximum(attention_c, kv_read / bw) + np.maximum(
            dense_c, self.dense_read_mem[i]
        )
        if self.moe:
            expert_phase = np.maximum(expert_c, expert_read / bw)
            if self.any_table:
                expert_phase = np.where(self.table_on[i], 0.0, expert_phase)
            roofline = roofline + expert_phase
        nbytes = n_dense * arch.hidden * ACTIVATION_BYTES
        allreduce = np.where(
            self.ar_inner_on[i], self.ar_lat[i] + self.ar_coef[i] * nbytes / self.up_bw_ar, 0.0
        )
        if self.any_outer:
            outer = (
                allreduce
                + self.ar_out_lat[i]
                + self.ar_out_coef[i] * nbytes / self.ar_d[i] / self.out_bw_ar
            )
            allreduce = np.where(self.ar_outer_on[i], outer, allreduce)
        step = roofline + self.allreduces[i] * allreduce
        if self.moe:
            per_chip = imbalance * mq / g * self.ep_bpt[i]
            share = self.out_share[i]
            per_layer = np.where(
                self.ep_inside[i],
                2 * self.up_lat + per_chip / self.up_bw,
                2 * self.out_lat
                + per_chip * (1 - share) / self.up_bw
                + per_chip * share / self.out_bw,
            )
            step = step + np.where(self.ep_on[i], self.moe_layers * per_layer, 0.0)
        if self.any_pp:
            hop = mq * arch.hidden * ACTIVATION_BYTES / self.tp[i]
            cross = self.cross[i]
            step = step + np.where(
                self.pp_on[i],
                self.inside_hops[i] * (self.up_lat + hop / self.up_bw)
                + cross * (self.out_lat + hop / self.out_bw),
                0.0,
            )
        if self.moe:
            fitted_layer: float | np.ndarray = self.moe_layer_s
            fitted_tokens = self.moe_layers * imbalance * mq / g * self.moe_token_cost_s
            if self.any_table:
                on = self.table_on[i]
                fitted_layer = np.where(on, 0.0, fitted_layer)
                fitted_tokens = np.where(on, 0.0, fitted_tokens)
            step = step + fitted_layer
            step = step + fitted_tokens
            if self.any_table:
                tables = [self.tables[r] for r in i.tolist()]
                module = np.array(
                    [
                        self.moe_layers * module_s(t, x) if t is not None else 0.0
                        for t, x in zip(tables, mq.tolist(), strict=True)
                    ],
                    dtype=np.float64,
                )
                step = step + module
        step = step + self.overhead_s
        return step, imbalance

    def tpot_bound_s(self, i: np.ndarray, batch: np.ndarray, with_chunk: bool) -> np.ndarray:
        """terms(batch, with_chunk).tpot_bound_s on layouts i, element by element."""
        load = self.load
        step, _ = self.step_s(i, batch)
        if not with_chunk:
            return (step + 0.0) / load.tokens_per_step + 0.0
        chunk = batch * load.tokens_per_step * load.prefill_per_output * self.prefill_s[i]
        rows = i.tolist()
        if any(self.whole[r] for r in rows):
            chunk = chunk.copy()
            for j, (r, b) in enumerate(zip(rows, batch.tolist(), strict=True)):
                if self.whole[r]:
                    chunk[j] = self.steps[r]._whole_prompt_chunk_s(b)
        tpot = (step + chunk) / load.tokens_per_step
        if load.tpot_quantile is None:
            return tpot + 0.0
        tail = np.array(
            [
                self.steps[r]._tail_s(b, c)
                for r, b, c in zip(rows, batch.tolist(), chunk.tolist(), strict=True)
            ],
            dtype=np.float64,
        )
        return tpot + tail

    def tpot_floor_s(self, i: np.ndarray, batch: np.ndarray, with_chunk: bool) -> np.ndarray:
        """StepPhysics.tpot_floor_s on layouts i, element by element."""
        step = (
            batch * self.floor_seq[i]
            + np.maximum(batch * self.floor_dense[i], self.floor_read[i])
            + self.floor_fixed[i]
        )
        if with_chunk and self.load.tpot_quantile is None:
            step = step + batch * self.floor_chunk[i]
        return step / self.load.tokens_per_step * (1.0 - FLOOR_MARGIN)

    def max_batches_within(
        self, i: np.ndarray, budget_s: float, upper: int, chunked: bool
    ) -> np.ndarray:
        """max_batch_within(..., budget_s, upper, chunked) of every layout i, its search run on
        all of them in lockstep (each element takes the scalar search's own steps)."""
        lo = self.pp[i].copy()
        out = np.zeros(len(i), dtype=np.int64)
        live = np.flatnonzero(lo <= upper)
        if len(live) == 0:
            return out
        f_lo = np.zeros(len(i))
        f_lo[live] = self.tpot_bound_s(i[live], lo[live], chunked) - budget_s
        live = live[f_lo[live] <= 0]
        searched = live
        hi = np.full(len(i), upper, dtype=np.int64)
        f_hi = np.zeros(len(i))
        f_hi[live] = self.tpot_floor_s(i[live], hi[live], chunked) - budget_s
        low = live[f_hi[live] <= 0]
        if len(low):
            f_hi[low] = self.tpot_bound_s(i[low], hi[low], chunked) - budget_s
            done = low[f_hi[low] <= 0]
            lo[done] = upper
            live = live[~np.isin(live, done)]
        halve = np.zeros(len(i), dtype=bool)
        while True:
            live = live[hi[live] - lo[live] > 1]
            if len(live) == 0:
                break
            low_, high = lo[live], hi[live]
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = low_ + (high - low_) * (-f_lo[live]) / (f_hi[live] - f_lo[live])
            secant = np.minimum(np.maximum(np.trunc(cross).astype(np.int64), low_ + 1), high - 1)
            mid = np.where(halve[live], (low_ + high) // 2, secant)
            width = high - low_
            f_mid = self.tpot_floor_s(i[live], mid, chunked) - budget_s
            probe = np.flatnonzero(f_mid <= 0)
            if len(probe):
                f_mid[probe] = self.tpot_bound_s(i[live[probe]], mid[probe], chunked) - budget_s
            fits = f_mid <= 0
            up, down = live[fits], live[~fits]
            lo[up], f_lo[up] = mid[fits], f_mid[fits]
            hi[down], f_hi[down] = mid[~fits], f_mid[~fits]
            halve[live] = ~halve[live] & (hi[live] - lo[live] > width // 2)
        out[searched] = lo[searched]
        return out
