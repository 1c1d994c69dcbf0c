"""Training step time from the parallel layout (TP x PP x DP x CP x EP), analytic and fast.

One optimizer step of a global batch of `B` tokens in sequences of `S` tokens on `G = TP·PP·DP·CP`
accelerators (EP is carved out of DP for MoE experts). Everything is per accelerator on the
busiest pipeline stage; SI units (s, B, FLOP). docs/models.md gives the same formulas.

Micro-batches: `m = ceil(B / (S · DP · mb))` per data-parallel rank, `mb` sequences each (every
rank runs the same whole number: a batch that does not divide is rounded up, `m · mb · DP · S`
tokens a step); tokens per micro-batch per accelerator `t = mb · S / CP`.

Per micro-batch on one stage of `ls = ceil(L / (PP·v))·v` layers (`v` virtual stages), and on the
last stage, `n_last = max(0, L - (PP-1)·ls)` layers plus the model's MTP modules (each a layer and
a 2·hidden x hidden projection) and the output head and loss (below); the slower sets `t_mb`
(with `embedding_loss_in_pp_split` the split counts the embedding and the loss as a layer each:
`ls = ceil((L+2) / (PP·v))·v`, `n_last = L + 1 - (PP-1)·ls`, and the first stage holds one
decoder layer fewer in its first virtual stage, memory below):
  GEMM       `6 · N_l/L · ls · t / TP · (1 + r/3)` FLOP at `peak(p) · gemm_efficiency[p] · shape`,
             `N_l = N_a - 2·V·hidden` (the untied embedding, a lookup, and the head out of the
             layers) when the model gives its vocabulary V, else N_a,
             `shape = M/(M + gemm_half_tokens) · K/(K + gemm_half_width)`, `M = t`, `K = hidden/TP`
             (MoE expert GEMMs: `M = t · k · EP / E` tokens per local expert, times the expert
             FFN width's factor `3 / (2·(2w + K_half)/(2w) + (w + K_half)/w)`, w = expert_ffn/TP:
             expert_width_shape, times the accelerator's grouped expert GEMMs' fraction g of the
             dense rate, catalog expert_gemm_fraction[p], 1 when not given or on a layout with
             fused_grouped_gemm: expert_gemm_shape; their FLOPs the busiest EP rank's, x_EP
             below); `r` = share of
             layers recomputed (full activation recomputation of those layers: +2N of 6N)
  attention  `3 · (1 + r/3) · A(S/2)/L · ls · t / TP` FLOP at `peak(bf16) · attention_efficiency`,
             A(S/2) = causal_attention_flops_per_token(model, S) (mean context S/2; a banded
             layer of window W attends on average to W - W^2/(2S) when S > W)
  memory     `(ELEMENTWISE_BYTES_PER_HIDDEN [+ LOW_PRECISION_CAST_BYTES_PER_HIDDEN in FP8/FP4])
             · hidden/TP · ls · t` B at `hbm_bw · memory_bandwidth_utilisation`, + a MoE
             model's routed copies `L_moe · ls/L · k · hidden/TP · t · (MOE_PERMUTE_BYTES_PER_HIDDEN
             [+ (k-1)/k · MOE_LOW_PRECISION_CAST_BYTES_PER_HIDDEN])` B (moe_copy_bytes_per_token)
             `+ (ETP-1) · MOE_SORT_BYTES_PER_HIDDEN` a copy at expert TP ETP (the chunk sort
             and unsort on the expert TP group's gathered copies)
  TP         `8 · (TP-1)/TP · t · hidden · 2 B` per layer (sequence parallel: 2 all-gathers and
             2 reduce-scatters forward, as many backward) over scale-up at
             `scale_up_bandwidth/2 · collective_efficiency`; `(1 - comm_overlap)` of it exposed,
             or, on a layout with `tp_comm_overlap` (Megatron-LM / Transformer Engine
             userbuffers: each all-gather and reduce-scatter pipelined with the GEMM that
             consumes or produces it), `max(0, TP - GEMM)`: hidden up to the GEMM time of the
             micro-batch (the GEMMs' own slowdown from the SMs the overlap takes not modelled)
  CP         `3 · (CP-1) · t · 2 · kv_heads · head_dim / TP · 2 B` per layer (ring attention
             passes K and V forward, K, V and their gradients backward); exposed beyond the
             attention time it overlaps
  busiest EP rank `x_EP = min(1 + sqrt(2 ln EP / (t·k)), EP·min(k, E/EP)/k)` (random,
             force-balanced routing: ep_load_imbalance) on the expert GEMMs, the routed copies'
             bytes and the all-to-all
  padded     with a layout's `expert_capacity_factor` C (a static receive buffer of C x the
             mean routed copies t·k a rank receives, Megatron-LM moe_expert_rank_capacity_factor,
             set for CUDA-graph capture, without paged stashing) the expert GEMMs run over
             every row of it: `max(C, x_EP)` in place of x_EP on their FLOPs, and their M is C times the
             routed mean in the shape (expert_gemm_load); the routed copies' bytes and the
             all-to-all stay on the routed copies
  EP         `x_EP · 4 · (EP-1)/EP · t · k · hidden · 2 B` per MoE layer (dispatch and combine,
             forward and backward); fully exposed (the expert GEMMs wait for the dispatch,
             the next layer for the combine), or, on a layout with `ep_comm_overlap` (the
             all-to-all of one micro-batch run under another's computation: Megatron-LM
             EP A2A overlap, DeepSeek-V3 DualPipe), `max(0, EP - compute)` per micro-batch,
             compute = GEMM + attention + memory-bound. With an EP group over
             n > 1 domains (expert_group_span; on a job of whole domains the most domains one
             of its groups touches, domains_spanned: 2 for a group that fits a domain's size
             but straddles two, else ETP·EP / scale_up_domain), the dispatch is
             hierarchical (DeepEP normal kernels, HybridEP): a token crosses scale-out once per
             remote node its copies land on, `c = D · (n-1)/n` crossings, and is forwarded to
             its k experts over scale-up: the slower of `4 · c · (t/TP) · hidden · 2 B` over
             scale-out and the
             `4 · (EP-1)/EP · t · k · hidden · 2 B` over scale-up (they pipeline); D =
             min(M, n, k) with node-limited routing (the model's `max_nodes_per_token` M),
             else the expected distinct nodes of k balanced draws, n · (1 - (1 - 1/n)^k)
  head, loss (last stage) `(1 + MTP) · 6 · V · hidden · t / TP` FLOP at `peak(bf16) ·
             gemm_efficiency[bf16] · shape(t, hidden/TP)` (BF16 in every run, not recomputed) +
             `(1 + MTP) · CROSS_ENTROPY_BYTES_PER_LOGIT · V/TP · t` B at the HBM bandwidth
  PP sends   `2 · v · t · hidden / TP · 2 B` per micro-batch (activations forward, gradients
             backward) over scale-out, or scale-up when PP shares a domain (below);
             `(1 - comm_overlap)` exposed
Rank placement: TP innermost, then CP; then DP ranks fill the scale-up domain and PP stages lie
in different domains, or, when a replica TP·CP·PP lies inside one domain (in_one_domain: on a
job of whole domains its span divides the domain), PP stages share it and DP
runs across domains (EP ranks then TP·CP·PP apart); the faster step is kept, DP first on a tie.
Step:
  `step = (m + (PP-1)/v) · t_mb + exposed DP + t_optimizer`; bubble share
  `(PP-1) / (v·m + PP-1)` (= (PP-1)/(m+PP-1) without interleaving, Narayanan et al. 2021)
  DP: reduce-scatter of gradients + all-gather of parameters (distributed optimizer),
  `(D-1)/D · P · (bytes(grad) + bytes(param gather))` B, hierarchical over the group's
  pieces as placed, (d, w, u) = its fewest and most ranks in one domain and the domains it
  touches (dp_pieces, expert_dp_pieces): `(w-1)/w · bytes` inside the domain with the most
  over scale-up, then `(u-1)/u · bytes / d` across domains over scale-out
  (hierarchical_exchange_s); the dense parameters `P = N_dense/(TP·PP)` over the D = DP·CP
  ranks (TP apart in a stage's TP·CP·DP ranks; TP4 x PP2 x DP117 on 936 NVL72 ranks
  (9, 18, 7)); the routed experts `P = N_experts/(ETP·PP·EP)` (ETP the layout's expert TP,
  TP when 0) over their own group, the D = TP·DP·CP/(ETP·EP) ranks holding the same expert
  shard (ETP·EP apart, Megatron-Core's expert rank order, at any ETP); the
  two in turn; overlapped with the last micro-batch and the pipeline drain: exposed
  `max(0, t_dp - (t_mb + bubble))`
  optimizer: `(2·bytes_per_param) · P_shard` B at the HBM bandwidth (read + write), `P_shard =
  N_dense/(TP·PP·DP·CP) + N_experts/(ETP·PP·EP) · ETP·EP/(TP·DP·CP)`: each parameter's state
  sharded over its own data-parallel group (the experts' the ranks holding the same shard:
  optimizer_shard)
Expert TP (a layout's expert_tp ETP, 0 = TP; docs/models.md, expert tensor parallelism): the
  expert GEMMs at width expert_ffn/ETP and M = t·k·ETP·EP/(TP·E); the all-to-all of t·ETP/TP
  tokens a rank (x_EP at that count) over ETP·EP consecutive ranks (expert_group_span), its
  scale-out leg (the group beyond one domain) on each rank's own t/TP tokens; a MoE
  layer's TP bytes less its FFN half, 4·(TP-1)/TP · t · hidden · 2 B, without shared experts
  (the expert TP gather is in the all-to-all's t·ETP/TP tokens)
  (moe_tp_bytes_removed)
Selective recomputation (a layout's recompute_modules, Megatron-Core recompute_granularity
  selective; docs/models.md, selective recomputation): on the 1 - r layers not fully recomputed,
  each named module's forward again (selective_recompute_terms: core_attn the attention forward
  and 1/3 of the CP passes; mlp the dense-FFN layers' MLP, 2·P_mlp·t/TP at the dense shape, its
  memory-bound bytes and its all-gather + reduce-scatter; moe the MoE layer's expert GEMMs,
  shared experts, router, routed copies' forward passes, half its TP collectives and the
  all-to-all x 1.5; moe_act, shared_experts, mla_up_proj, layernorm), and a_p less the modules'
  saved activations (selective_freed_bytes_per_hidden)
FSDP (a layout's `fsdp` F: weights, gradients and optimizer state sharded over F of the DP·CP
  ranks, fully at F = DP·CP, hybrid below it (dense only); a recipe input; the routed experts'
  share over their own group, the TP·DP·CP/(ETP·EP) ranks of the DP exchange above and
  optimizer_shard, whatever the ETP): per micro-batch each of the n layers on a stage all-gathers
  its P_acc/n weights before its forward and its backward (`g`) and reduce-scatters their
  gradients after its backward (`r`), each the DP exchange's hierarchical ring over the F ranks
  plus NCCL's ring latency (ring_latency_s), prefetched a layer ahead: `g + (n-1)·max(0, g - c_f)
  + (n-1)·max(0, g + r - c_b) + r` exposed (fsdp_exposed), in t_mb; the embedding and the
  output head units of their own, E = vocab·hidden/TP each (fsdp_end_params), each gathered and
  reduce-scattered once a micro-batch: the embedding's `g_E + r_E` exposed on the first stage,
  the head's gather in the last layer's forward window and its reduce-scatter in the first
  backward window on the last; the layers' units `(P_acc - 2E/PP)/n`; no ZeRO-1 exchange at the
  step's end (a hybrid group's replicas all-reduce their gradient shards, exposed as DP); memory
  `P_shard·(bytes(gather) + bytes_per_param - 2) + (2·P_u + E_s)·(bytes(gather) + bytes(grad))`,
  E_s the stage's gathered end units (fsdp_state_bytes) in place of the state below. A job that
  may span sites (RunFigures.multi_site) keeps its FSDP group hybrid inside a site
  (multi_site_fsdp_problem).
Memory per accelerator (must fit `hbm · hbm_usable_fraction`):
  `P_acc · (bytes(weights) + bytes(grad)) + P_shard · (bytes_per_param - 2 - bytes(grad))`
  (weights 2 B, 1 B when kept in FP8: the parameter gather's precision)
  `+ H · t · hidden/TP · (a_p·(1-r) + 2·r)`, H = `ls · f_pp` layer-micro-batches held,
  `f_pp = min(m, PP)` micro-batches in flight,
  `· (1 + (PP-1)/(PP·v))` when interleaved (Korthikanti et al. 2022: a = 34 bytes per hidden
  element per layer with sequence parallelism and flash attention in BF16/FP16; in FP8/FP4 the
  GEMM-only inputs are kept at the low precision, `a_p = 34 - 6·(2 - q) + q`, q = 1 B for FP8:
  29, activation_bytes_per_hidden; a recomputed layer keeps its 2-byte input only); with
  `embedding_loss_in_pp_split` H less the first virtual stage's missing layer in each of its
  held forwards, `v·f_pp - (v-1)·min(m, PP)` of them,
  `P_acc = N_dense/(TP·PP) + N_experts/(ETP·PP·EP)`.
MFU = model FLOPs per token (6·N_a + 3·A(S/2)) x tokens/s / (G · peak_flops[p]): the spec peak,
while peak(p) above is peak_flops[p] · sustained_clock_fraction (the compute terms' rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from hardware.schema import ModelArch
from planner.demand.common import (
    MTP_PROJECTION_PER_HIDDEN_SQUARED,
    TRAINING_FLOPS_PER_PARAM,
    TRAINING_TO_FORWARD,
    Hardware,
    causal_attention_flops_per_token,
)

# Bytes of memory-bound traffic (norms, residual adds, rotary, SwiGLU, casts) per token per layer,
# forward + backward, per hidden element on one accelerator: ~70 reads/writes of a hidden-size
# BF16 vector (counted from a Llama block: 2 RMSNorms, 2 residual adds, rotary on q/k, SwiGLU on
# 3.5·hidden, x3 for backward). An estimate; it makes small hidden sizes less efficient.
ELEMENTWISE_BYTES_PER_HIDDEN = 140.0
# FP8/FP4 runs cast every GEMM input to the low precision (activations forward, output
# gradients backward, transposed copies for the weight gradient) and reduce its absolute maximum
# for the scale: ~100 more bytes of memory-bound traffic per hidden element per token per layer
# (~17 hidden-size tensors per Llama block x read 2 B + write 1 B + amax read 2 B). An estimate.
LOW_PRECISION_CAST_BYTES_PER_HIDDEN = 100.0
LOW_PRECISION = ("fp8", "fp4")
# A MoE layer moves every routed copy of a token (k per token, the model's experts per token)
# through memory-bound passes a dense layer does not have (Megatron-LM's token dispatcher:
# permute into expert order, sort the received chunks by local expert, the inverse sort and
# the probability-weighted unpermute; the same passes backward on the gradients, plus the router
# probabilities' gradient, which reads each copy's expert output): per routed copy per hidden
# element, forward permute read 2 + write 2 B, chunk sort and unsort 2 x (2 + 2) B, unpermute
# read 2 B = 14 B; backward the same 14 B plus 2 B = 30 B (BF16 copies). A count from the data
# flow; byte counts of one pass each, no fusion assumed beyond the fused permute.
MOE_PERMUTE_BYTES_PER_HIDDEN = 30.0
# Of those, the chunk sort and unsort, forward 2 x (2 + 2) B and backward the same: 16 B a copy.
# They run after the expert TP group's all-gather of the received copies and before its
# reduce-scatter (Megatron-Core token_dispatcher.py @d98e8a64 MoEAlltoAllTokenDispatcher
# dispatch_postprocess: gather_from_sequence_parallel_region over the expert TP group, then
# sort_chunks_by_idxs; combine_preprocess the inverse), so on ETP x the copies a rank dispatched
# (session s22 fsdp2: counted once before, at any expert TP).
MOE_SORT_BYTES_PER_HIDDEN = 16.0
# FP8/FP4 runs cast each expert GEMM input per routed copy, where a dense layer casts its FFN
# input once: per extra copy per hidden element the fc1 input (read 2 + write 1 + amax read 2 B)
# forward and the fc2 output gradient (the same 5 B) backward = 10 B.
MOE_LOW_PRECISION_CAST_BYTES_PER_HIDDEN = 10.0
# The output head's GEMMs run in BF16 in FP8/FP4 runs too: the DeepSeek-V3 report (section
# 3.3.1) keeps the embedding, the output head, the MoE gating, the norms and attention in BF16/FP32;
# Megatron-LM builds the output layer as a tensor_parallel.ColumnParallelLinear
# (megatron/core/models/gpt/gpt_model.py), outside Transformer Engine's FP8 autocast.
# The loss over the vocabulary: the fused cross entropy reads the BF16 logits forward, reads them
# again and writes their gradient backward: 6 bytes per logit per token (a count from the data
# flow; the logits' write is the head GEMM's output).
CROSS_ENTROPY_BYTES_PER_LOGIT = 6.0
# Activation bytes stored per token per layer per hidden element with sequence parallelism and
# flash attention (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
# Transformer Models", eq. 2 with selective recomputation: 34·s·b·h/t).
ACTIVATION_BYTES_PER_HIDDEN = 34.0
# FP8/FP4 runs (Transformer Engine) save the low-precision copy of a GEMM input for the weight
# gradient instead of the BF16 one: te.Linear / LayerNormLinear quantize the input and keep only
# its column-wise (wgrad) usage for the backward (transformer_engine/pytorch/module/linear.py,
# `inputmat.update_usage(rowwise_usage=False, columnwise_usage=True)` then `saved_inputmat =
# inputmat`; TE issue #1764: "we cache the FP8 data (on Blackwell) or the FP8 transpose data
# (on Hopper)"). Of Korthikanti's 34 bytes, the GEMM inputs kept for their GEMM alone are the
# QKV input (1 hidden element per token), the fc1 input (1) and the fc2 input (4: the 4h MLP of
# the paper's layer): LOW_PRECISION_GEMM_INPUTS_PER_HIDDEN = 6 elements at 2 B in BF16. The
# attention output (1 element) is the output projection's input and also flash attention's
# saved `out` (its backward needs O): in BF16 one tensor, in FP8/FP4 the BF16 `out` stays and
# the projection adds its low-precision copy. Norm inputs, Q/K/V, the activation function's
# input and the masks stay BF16 (Transformer Engine's attention and norms run in BF16). So a
# low-precision layer stores 34 - 6 x (2 - q) + 1 x q bytes per hidden element, q the bytes of
# one saved value (activation_bytes_per_hidden): FP8 29, NVFP4 25.94.
LOW_PRECISION_GEMM_INPUTS_PER_HIDDEN = 6.0
LOW_PRECISION_ATTENTION_OUTPUT_PER_HIDDEN = 1.0
# Bytes of one saved low-precision value: FP8 1 (per-tensor scaling: one scale per tensor);
# NVFP4 4 bits + one E4M3 scale per 16 values (Transformer Engine NVFP4BlockScaling recipe).
LOW_PRECISION_VALUE_BYTES = {"fp8": 1.0, "fp4": 0.5 + 1.0 / 16.0}
# A recomputed layer keeps only its BF16 input: 2 bytes per hidden element per token.
CHECKPOINT_BYTES_PER_HIDDEN = 2.0
# Activations and collectives move BF16 (2 bytes per value), also in FP8 runs.
ACTIVATION_VALUE_BYTES = 2.0
# Weights are kept in BF16 for the forward and backward (FP8 runs cast per GEMM).
WEIGHT_VALUE_BYTES = 2.0
# Candidate values the search tries.
MICRO_BATCH_SEQUENCES = (1, 2, 4)
VIRTUAL_STAGES = (1, 2, 4, 8)
CONTEXT_PARALLEL = (1, 2, 4, 8, 16, 32)
MIN_TOKENS_PER_CP_RANK = 2048
RECOMPUTE_STEPS = 20  # recomputed share of layers in steps of 1/20
# A forward-only pass moves half a step's TP, EP and PP traffic: the forward's 2 all-gathers and 2
# reduce-scatters of 8, dispatch and combine of 4, activation sends of 2 (this module's terms).
FORWARD_COMM_SHARE = 0.5


@dataclass(frozen=True)
class Layout:
    """A parallel layout. G = tp·pp·dp·cp accelerators; ep divides dp (MoE experts only)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vp: int = 1  # virtual pipeline stages per rank (interleaved 1F1B)
    micro_batch: int = 1  # sequences per micro-batch
    # TP communication overlapped with the GEMMs (Megatron-LM/Transformer Engine
    # tp_comm_overlap, userbuffers): exposed TP = max(0, TP time - GEMM time) per micro-batch
    # instead of (1 - comm_overlap) of it. A recipe input; the layout search leaves it off.
    tp_comm_overlap: bool = False
    # Expert-parallel all-to-all overlapped with another micro-batch's computation (Megatron-LM
    # --overlap-moe-expert-parallel-comm / Megatron-Bridge moe_a2a_overlap, DeepSeek-V3
    # DualPipe): exposed EP = max(0, EP time - compute time) per micro-batch; without it the
    # dispatch and combine sit on the micro-batch's critical path (the expert GEMMs wait for the
    # dispatch, the next layer for the combine): fully exposed. A recipe input; the layout
    # search leaves it off.
    ep_comm_overlap: bool = False
    # The pipeline split counts the input embedding and the loss as one layer each (Megatron-LM
    # account_for_embedding_in_pipeline_split + account_for_loss_in_pipeline_split; the MLPerf
    # NeMo configs' ASYM_PP_EMBED/ASYM_PP_LOSS): L + 2 slots split evenly, so the first stage
    # holds one decoder layer fewer (in its first virtual stage) beside the embedding and the
    # last one layer fewer beside the loss and output head. A recipe input (PP > 1); the layout
    # search leaves it off.
    embedding_loss_in_pp_split: bool = False
    # The expert GEMMs run over a static, padded receive buffer of `expert_capacity_factor` x
    # the mean routed copies a rank receives (t·k), not over the routed copies: Megatron-LM's
    # moe_expert_rank_capacity_factor (HybridEP's fixed receive budget, sized for CUDA-graph
    # capture) in a recipe without paged stashing (the MLPerf v6.0 gpt_oss_20b configs). 0: the
    # GEMMs run over the routed copies (dropless; and the recipes that pair the factor with
    # moe_paged_stash, whose rows match without it). A recipe input (MoE only); the layout
    # search leaves it off.
    expert_capacity_factor: float = 0.0
    # The routed experts' tensor-parallel size (Megatron-Core expert_tensor_parallel_size, ETP):
    # each expert's weights split over ETP ranks, the experts over EP of those groups; 0 = TP
    # (Megatron-Core's default when unset: parallel_state.initialize_model_parallel). A recipe
    # input (MoE only; it must divide TP); the layout search tries ETP = TP and, at TP > 1,
    # ETP 1 (docs/models.md, expert tensor parallelism).
    expert_tp: int = 0
    # The expert GEMMs run a fused grouped-GEMM kernel at the dense GEMM rate of their shape
    # (DeepSeek's DeepGEMM m-grouped FP8 GEMM, the DeepSeek-V3 report's own runs): the
    # accelerator's expert_gemm_fraction not applied. Off: the fraction applies (fitted to
    # Megatron-Core / Transformer Engine grouped GEMMs: expert_gemm_shape). A recipe input (MoE
    # only); the layout search leaves it off.
    fused_grouped_gemm: bool = False
    # Selective recomputation (Megatron-Core recompute_granularity selective with
    # recompute_modules; the MLPerf NeMo configs' RECOMPUTE_MODULES): the named modules'
    # forwards run again in the backward and their saved activations are dropped for their
    # inputs (selective_recompute_terms, selective_freed_bytes_per_hidden; docs/models.md,
    # selective recomputation). (): none (Megatron-Core's default is core_attn, but only when
    # the recipe selects selective granularity). A recipe input; the layout search leaves it off.
    recompute_modules: tuple[str, ...] = ()
    # Weights, gradients and optimizer state sharded over `fsdp` data-parallel ranks (ZeRO-3 /
    # FSDP: PyTorch FSDP2 fully_shard as in torchtitan, Megatron-FSDP's optim_grads_params
    # strategy (Megatron-Bridge use_megatron_fsdp; its tables' FSDP column is this group's
    # size), AXLearn's fsdp mesh axis): each decoder layer's weights all-gathered before its
    # forward and again before its backward (reshard_after_forward, the three stacks' default),
    # its gradients reduce-scattered after its backward, every micro-batch, prefetched one
    # layer ahead on a stream of their own (fsdp_exposed); no ZeRO-1 exchange at the step's
    # end. fsdp = DP·CP: fully sharded; a divisor of DP·CP below it: hybrid sharding (HSDP,
    # AXLearn's data x fsdp mesh), the DP·CP/fsdp replicas all-reducing their gradient shards
    # once a step. 0: off (the distributed optimizer, ZeRO-1). The layout search ranks each
    # candidate with DP·CP > 1 also fully sharded (fsdp = DP·CP); a hybrid group is a recipe
    # input.
    fsdp: int = 0
    # Ranks a scale-up domain holds (0: every accelerator of it): a job of whole NVL72 racks run
    # on 64 of each rack's 72 GPUs, its power-of-two groups inside a rack and 8 GPUs a rack
    # idle (in_one_domain; the way NVIDIA's GB200 runs are laid out). Not a recipe input: the
    # search (pretrain.training_throughput) tries it beside the whole racks.
    domain_ranks: int = 0

    @property
    def accelerators(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def etp(self) -> int:
        """The expert tensor-parallel size: expert_tp, or TP when 0 (Megatron-Core's default)."""
        return self.expert_tp or self.tp

    def __str__(self) -> str:
        parts = [f"TP{self.tp}", f"PP{self.pp}", f"DP{self.dp}"]
        if self.cp > 1:
            parts.append(f"CP{self.cp}")
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        text = " x ".join(parts)
        if self.vp > 1:
            text += f" (v{self.vp})"
        text += f", mb {self.micro_batch}"
        text += ", TP overlap" if self.tp_comm_overlap else ""
        text += ", EP overlap" if self.ep_comm_overlap else ""
        if self.expert_capacity_factor:
            text += f", expert GEMMs padded to {self.expert_capacity_factor:g}x"
        if self.expert_tp and self.expert_tp != self.tp:
            text += f", expert TP {self.expert_tp}"
        if self.fused_grouped_gemm:
            text += ", fused grouped expert GEMMs"
        if self.recompute_modules:
            text += f", recompute {'+'.join(self.recompute_modules)}"
        text += f", FSDP over {self.fsdp}" if self.fsdp else ""
        text += f", {self.domain_ranks} ranks a scale-up domain" if self.domain_ranks else ""
        return text + (
            ", embedding and loss in the PP split" if self.embedding_loss_in_pp_split else ""
        )


@dataclass(frozen=True)
class TrainFigures:
    """The catalog figures the step model reads, flattened (hashable, for caching)."""

    peak_flops: float  # at the run's precision
    peak_bf16_flops: float  # attention runs in BF16
    gemm_efficiency: float
    gemm_half_tokens: float
    gemm_half_width: float
    attention_efficiency: float
    hbm_bytes_per_s: float
    memory_bandwidth_utilisation: float
    collective_efficiency: float
    scale_up_bytes_per_s: float  # per direction
    scale_out_bytes_per_s: float  # per direction
    scale_up_domain: int
    usable_hbm_bytes: float
    comm_overlap: float
    cast_bytes_per_hidden: float  # LOW_PRECISION_CAST_BYTES_PER_HIDDEN in FP8/FP4, else 0
    # gemm_efficiency at BF16, for the output head's GEMMs (BF16 in every run); 0: gemm_efficiency
    head_gemm_efficiency: float = 0.0
    # gemm_half_width at BF16, for the output head's GEMMs' shape; 0: gemm_half_width
    head_gemm_half_width: float = 0.0
    # stored activation bytes per hidden element per token per layer (activation_bytes_per_hidden:
    # 34 in BF16, 29 in FP8)
    activation_bytes_per_hidden: float = ACTIVATION_BYTES_PER_HIDDEN
    # the accelerator's sustained_clock_fraction: the compute terms (GEMMs, output head,
    # attention) run at peak x this; MFU stays on the spec peak
    sustained_clock_fraction: float = 1.0
    # bytes of one saved GEMM-only input at the run's precision (LOW_PRECISION_VALUE_BYTES:
    # FP8 1, NVFP4 0.5625; 2 in BF16): what selective recomputation frees of a GEMM input
    saved_value_bytes: float = ACTIVATION_VALUE_BYTES
    # the routed experts' grouped GEMMs' rate over a dense GEMM of their shape at the run's
    # precision (catalog training.expert_gemm_fraction; 1 when not given): expert_gemm_shape
    expert_gemm_fraction: float = 1.0


@dataclass(frozen=True)
class DenseLinear:
    """One dense linear of a transformer layer: `in_features` x `out_features` weights,
    `split` over the TP group as Megatron-Core builds it ("column": the output features split,
    QKV and FFN up/gate; "row": the input features split, the attention output and FFN down;
    "none": duplicated on every rank, MLA's down-projections and the router), `per_layer` of
    them in the average layer (the dense FFN on `dense_layers / layers` of a MoE model's
    layers, the shared experts and router on its MoE layers' share)."""

    name: str
    in_features: float
    out_features: float
    split: str
    per_layer: float = 1.0

    def gemm(self, tokens: Any, tp: Any) -> tuple[Any, Any, Any]:
        """(M, N, K) of its forward GEMM per micro-batch on one rank (floats or numpy arrays):
        M = the micro-batch's tokens (sequence parallel: gathered, t), N the output features
        and K the input features on this rank. The data gradient is (M, K, N), the weight
        gradient (K, N, M): each of the three contracts a different one of the three."""
        n, k = self.out_features, self.in_features
        if self.split == "column":
            n = n / tp
        elif self.split == "row":
            k = k / tp
        return tokens, n + 0.0 * tp, k + 0.0 * tp


@dataclass(frozen=True)
class ModelFigures:
    params: float
    active: float
    layers: int
    hidden: int
    heads: int
    kv_dim: int  # kv_heads · head_dim (K or V width)
    # A(S/2), FLOP per token, all layers (banded layers at their causal mean: W - W^2/(2S))
    attention_fwd_per_token_causal: float
    experts: int = 0
    experts_per_token: int = 0
    moe_layers: int = 0
    max_nodes_per_token: int = 0  # node-limited routing's M; 0: not node-limited
    # Untied embedding and output head of vocab x hidden each (0: unknown, spread over the layers
    # as active parameters) and the multi-token-prediction modules trained (last stage).
    vocab: int = 0
    mtp_layers: int = 0
    # A routed expert's FFN width (a gated FFN: gate and up of `expert_ffn` each, down back to
    # hidden; catalog `moe.expert_ffn`); 0: not given (dense model)
    expert_ffn: int = 0
    # Shared experts per MoE layer (catalog `moe.shared_experts`): dense FFNs split by TP, whose
    # tensor-parallel collectives stay when the routed experts run at an expert TP below TP
    shared_experts: int = 0
    # Selective recomputation's module sizes (model_figures): the MLA up-projections' parameters
    # per layer (q_lora x heads x qk head dim + kv_lora x heads x (qk nope + v head dim); 0
    # without MLA), a dense-FFN layer's MLP parameters (the layer's dense parameters less its
    # attention's), and whether the model has multi-head latent attention.
    mla_up_params: float = 0.0
    dense_mlp_params: float = 0.0
    mla: bool = False
    # The dense linears of the average layer, each rated at its own GEMM shapes
    # (dense_linears, dense_gemm_shape); empty (a ModelFigures built by hand): one shape at
    # K = hidden/TP for every dense GEMM (_shape)
    linears: tuple[DenseLinear, ...] = ()

    @property
    def expert_params(self) -> float:
        """Routed-expert parameters N_e from N = N_d + N_e and N_a = N_d + k/E·N_e."""
        if not self.experts:
            return 0.0
        share = self.experts_per_token / self.experts
        return (self.params - self.active) / (1.0 - share)

    @property
    def layer_params(self) -> tuple[float, float]:
        """(dense, routed-expert) active parameters of the `layers` transformer layers: N_a less
        the routed experts' k/E share, less the embedding and the output head (vocab x hidden
        each) when the vocabulary is known; and k/E · N_e."""
        expert_active = (
            self.expert_params * self.experts_per_token / self.experts if self.experts else 0.0
        )
        dense = self.active - expert_active - 2.0 * self.vocab * self.hidden
        return dense, expert_active


@dataclass(frozen=True)
class RunFigures:
    sequence_tokens: int
    global_batch_tokens: float
    bytes_per_param: float
    gradient_bytes: float
    # Bytes per parameter of the weights each rank holds and the distributed optimizer gathers:
    # BF16 (2), or 1 when the weights are kept in FP8 (Transformer Engine `fp8_params`; the
    # optimizer's FP32 master copy and moments, bytes_per_param - 2 - bytes(grad), unchanged).
    param_gather_bytes: float = WEIGHT_VALUE_BYTES
    # The job may be split over sites (a pretraining's allow_multi_site): an FSDP shard group is
    # kept inside a site, its replicas across sites (multi_site_fsdp_problem), so the search
    # ranks no fully sharded twin and a pinned fully sharded layout is refused.
    multi_site: bool = False


@dataclass(frozen=True)
class StepTime:
    """One step of one layout: time split, memory, throughput and MFU."""

    layout: Layout
    micro_batches: float  # per DP rank, whole
    batch_tokens: float  # tokens per step: the asked global batch rounded up to whole micro-batches
    asked_batch_tokens: float
    recompute: float  # share of layers recomputed
    gemm_s: float  # per micro-batch
    attention_s: float
    memory_s: float
    tp_s: float  # exposed, per micro-batch
    cp_s: float
    ep_s: float
    pp_s: float
    micro_batch_s: float
    bubble_s: float  # per step
    bubble_share: float
    dp_s: float  # DP collective time (before overlap)
    dp_exposed_s: float
    optimizer_s: float
    step_s: float
    memory_bytes: float
    usable_bytes: float
    tokens_per_s: float  # whole job
    model_flops_per_token: float
    mfu: float
    gemm_shape: float
    pp_in_scale_up: bool = False  # rank placement: PP stages share a scale-up domain
    # groups that fit a scale-up domain's size but cross its boundaries (in_one_domain), as
    # "EP groups of 64 ranks cross 72-rank scale-up domains": charged the scale-out rate
    straddle_note: str = ""
    # The output head's GEMMs (the main head's and each MTP module's) on the last stage, per
    # micro-batch, when the last stage sets the pace (then the other terms are its too; the
    # loss's memory-bound bytes are in memory_s)
    head_s: float = 0.0
    last_stage: bool = False  # the last pipeline stage (its layers + MTP + heads) is the slowest
    stage_layers: float = 0.0  # decoder layers on the slowest stage (+ its MTP modules)
    # FSDP (Layout.fsdp): the weight all-gathers and gradient reduce-scatters the slowest
    # stage's compute does not hide, per micro-batch (in micro_batch_s; fsdp_exposed); dp_s is
    # then the step's FSDP collective time, none of it at the step's end
    fsdp_s: float = 0.0
    # ep_comm_overlap: the all-to-all the chunks outside the steady 1F1B phase pay in full, per
    # step (ep_outside_overlap; in step_s)
    ep_fill_s: float = 0.0
    # memory_bytes's terms, for the derivation (memory_line): the training state held, and the
    # activations' layer passes in flight on the first stage, hidden elements each (t·hidden/TP),
    # bytes per element kept (a layer not recomputed) and checkpointed (recomputed)
    state_bytes: float = 0.0
    # without FSDP, state = params_per_acc x replicated B + optimizer_params x optimizer B
    params_per_acc: float = 0.0
    replicated_bytes_per_param: float = 0.0
    optimizer_params: float = 0.0
    optimizer_bytes_per_param: float = 0.0
    held_layers: float = 0.0
    act_elements_per_layer: float = 0.0
    act_bytes_per_hidden: float = 0.0
    checkpoint_bytes_per_hidden: float = 0.0

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.usable_bytes

    @property
    def tokens_per_s_per_accelerator(self) -> float:
        return self.tokens_per_s / self.layout.accelerators

    def summary(self) -> str:
        return (
            f"{self.layout}: MFU {self.mfu:.1%}, step {self.step_s:.3g} s, "
            f"m {self.micro_batches:g}, bubble {self.bubble_share:.1%}"
            + self.placement_note()
            + self.batch_note()
            + (f", recompute {self.recompute:.0%}" if self.recompute else "")
            + f", {self.memory_bytes / 1e9:.0f}/{self.usable_bytes / 1e9:.0f} GB"
        )

    def placement_note(self) -> str:
        """The rank placement: PP stages sharing a scale-up domain (DP across domains), and
        groups that straddle two domains (their collectives at the scale-out rate)."""
        inside = ", PP inside the scale-up domain" if self.pp_in_scale_up else ""
        return inside + (f", {self.straddle_note}" if self.straddle_note else "")

    def batch_note(self) -> str:
        """How the global batch was rounded, when it was."""
        if self.batch_tokens <= self.asked_batch_tokens * (1 + WHOLE_TOL):
            return ""
        more = self.batch_tokens / self.asked_batch_tokens - 1
        return f", batch rounded up {more:.1%} to whole micro-batches per DP rank"

    def memory_line(self) -> str:
        """memory_bytes from its terms, for derivations: state + held layer passes x elements x
        ((1 - r) x kept bytes + r x checkpoint bytes)."""
        r = self.recompute
        act = self.memory_bytes - self.state_bytes
        state = (
            f" ({self.params_per_acc:.4g} params x {self.replicated_bytes_per_param:g} B weights"
            f" + gradients, optimizer shard {self.optimizer_params:.4g} params x "
            f"{self.optimizer_bytes_per_param:g} B)"
            if not self.layout.fsdp
            else f" (FSDP over {self.layout.fsdp})"
        )
        return (
            f"memory per accelerator (first stage) = training state {self.state_bytes / 1e9:.4g}"
            f" GB{state} + activations {self.held_layers:.4g} layer passes in flight x "
            f"{self.act_elements_per_layer:.4g} elements (tokens x hidden/TP) x ({1 - r:.0%} x "
            f"{self.act_bytes_per_hidden:.4g} B kept + {r:.0%} x "
            f"{self.checkpoint_bytes_per_hidden:.4g} B recomputed) = {act / 1e9:.4g} GB; "
            f"{self.memory_bytes / 1e9:.4g} of {self.usable_bytes / 1e9:.4g} GB usable"
        )

    def breakdown(self) -> str:
        """Per micro-batch split and step terms, for derivations."""
        return (
            f"per micro-batch {self.micro_batch_s * 1e3:.4g} ms = GEMM {self.gemm_s * 1e3:.4g}"
            f" (shape x{self.gemm_shape:.3f})"
            + (f" + output heads {self.head_s * 1e3:.4g}" if self.head_s else "")
            + f" + attention {self.attention_s * 1e3:.4g}"
            f" + memory-bound {self.memory_s * 1e3:.4g} + exposed TP {self.tp_s * 1e3:.3g}"
            f" / CP {self.cp_s * 1e3:.3g} / EP {self.ep_s * 1e3:.3g} / PP {self.pp_s * 1e3:.3g}"
            + (f" + exposed FSDP {self.fsdp_s * 1e3:.3g}" if self.fsdp_s else "")
            + (f" (last stage, {self.stage_layers:g} layers)" if self.last_stage else "")
            + "; "
            f"step = {self.micro_batches:g} micro-batches + bubble {self.bubble_s:.3g} s "
            f"({self.bubble_share:.1%})"
            + (f" + EP outside the overlap {self.ep_fill_s:.3g} s" if self.ep_fill_s else "")
            + f" + exposed DP {self.dp_exposed_s:.3g} s (of "
            f"{self.dp_s:.3g}) + optimizer {self.optimizer_s:.3g} s = {self.step_s:.4g} s"
        )


# A global batch within this share of whole micro-batches per DP rank is whole (float noise).
WHOLE_TOL = 1e-9


def whole_micro_batches(run: RunFigures, dp: int, mb: int) -> int:
    """Micro-batches per DP rank: the global batch B over DP·mb sequences of S tokens, rounded
    up. Every DP rank runs the same whole number of micro-batches (Megatron-LM requires B to be
    a multiple of DP·mb), so a batch that does not divide is run rounded up to the next
    multiple, as practitioners size it: m = ceil(B / (S·DP·mb)), m·mb·DP·S tokens a step."""
    return math.ceil(run.global_batch_tokens / (run.sequence_tokens * dp * mb) - WHOLE_TOL)


def activation_bytes_per_hidden(precision: str) -> float:
    """Stored activation bytes per hidden element per token per layer (sequence parallel, flash
    attention): Korthikanti et al.'s 34 in BF16/FP16; in FP8/FP4 the GEMM-only inputs at the
    low precision and the attention output's extra low-precision copy,
    `34 - 6 · (2 - q) + 1 · q` (constants above)."""
    q = LOW_PRECISION_VALUE_BYTES.get(precision)
    if q is None:
        return ACTIVATION_BYTES_PER_HIDDEN
    return (
        ACTIVATION_BYTES_PER_HIDDEN
        - LOW_PRECISION_GEMM_INPUTS_PER_HIDDEN * (ACTIVATION_VALUE_BYTES - q)
        + LOW_PRECISION_ATTENTION_OUTPUT_PER_HIDDEN * q
    )


def train_figures(hw: Hardware, precision: str) -> TrainFigures | None:
    """The flattened figures, or None when the accelerator has no training block or precision."""
    tr = hw.accelerator.training
    st = hw.system.training
    if tr is None or st is None or precision not in tr.gemm_efficiency:
        return None
    acc = hw.accelerator
    return TrainFigures(
        peak_flops=hw.peak(precision),
        peak_bf16_flops=hw.peak("bf16") or hw.peak(precision),
        gemm_efficiency=tr.gemm_efficiency[precision],
        gemm_half_tokens=tr.gemm_half_tokens,
        gemm_half_width=tr.half_width(precision),
        attention_efficiency=tr.attention_efficiency,
        hbm_bytes_per_s=acc.hbm_bandwidth_bytes_per_s,
        memory_bandwidth_utilisation=tr.memory_bandwidth_utilisation,
        collective_efficiency=tr.collective_efficiency,
        # Catalog scale-up figures are bidirectional (NVLink 900 GB/s = 450 GB/s each way).
        scale_up_bytes_per_s=acc.scale_up_bandwidth_bytes_per_s / 2,
        scale_out_bytes_per_s=acc.scale_out_bandwidth_bytes_per_s,
        scale_up_domain=hw.system.scale_up_domain,
        usable_hbm_bytes=acc.hbm_bytes * hw.hbm_usable_fraction,
        comm_overlap=st.comm_overlap,
        cast_bytes_per_hidden=(
            LOW_PRECISION_CAST_BYTES_PER_HIDDEN if precision in LOW_PRECISION else 0.0
        ),
        head_gemm_efficiency=tr.gemm_efficiency.get("bf16", tr.gemm_efficiency[precision]),
        head_gemm_half_width=tr.half_width("bf16" if "bf16" in tr.gemm_efficiency else precision),
        activation_bytes_per_hidden=activation_bytes_per_hidden(precision),
        sustained_clock_fraction=acc.clock_fraction,
        saved_value_bytes=LOW_PRECISION_VALUE_BYTES.get(precision, ACTIVATION_VALUE_BYTES),
        expert_gemm_fraction=tr.expert_gemm_fraction.get(precision, 1.0),
    )


def model_figures(arch: ModelArch, sequence_tokens: int, mtp: bool = True) -> ModelFigures:
    """The model's figures; mtp False: without its multi-token-prediction modules (a run that
    does not train them: RL, or a pretraining recipe that turns them off)."""
    kv_heads = arch.kv_heads if arch.kv_heads is not None else arch.heads
    moe = arch.moe
    mf = ModelFigures(
        params=arch.params,
        active=arch.active,
        layers=arch.layers,
        hidden=arch.hidden,
        heads=arch.heads,
        kv_dim=kv_heads * arch.head_dim,
        attention_fwd_per_token_causal=causal_attention_flops_per_token(arch, sequence_tokens),
        experts=moe.experts if moe else 0,
        experts_per_token=moe.active_experts if moe else 0,
        moe_layers=arch.layers - moe.dense_layers if moe else 0,
        max_nodes_per_token=(moe.max_nodes_per_token or 0) if moe else 0,
        vocab=arch.vocab or 0,
        mtp_layers=arch.mtp_layers if mtp else 0,
        expert_ffn=moe.expert_ffn if moe else 0,
        shared_experts=moe.shared_experts if moe else 0,
    )
    return _with_module_sizes(mf, arch)


# Selective recomputation (Megatron-Core recompute_granularity "selective", recompute_modules;
# megatron/core/transformer/transformer_config.py `recompute_modules`, NVIDIA/Megatron-LM @
# d98e8a64ddf34856e74b24714e3bedb2f5a39553). What each module recomputes, from the source:
#   core_attn      the core attention (TE DotProductAttention, checkpoint_core_attention): the
#                  attention's forward again in the backward (and with CP its ring passes);
#                  flash attention saves Q, K, V, O, and the checkpoint Q, K, V with the
#                  projection keeping O, so it frees only flash's BF16 O in FP8/FP4 runs
#                  (the projection keeps its low-precision copy); nothing in BF16
#   mlp            the dense MLP of a layer (transformer_layer.py: `if "mlp" in
#                  recompute_modules: if not self.is_moe_layer: self.recompute_mlp = True`, and
#                  before Dec 2025 `if not isinstance(self.mlp, MoELayer)`, since commit
#                  3b141a2471 of Apr 2025): only the dense-FFN layers, nothing on a MoE layer
#   moe            the whole MoE layer (moe_layer.py: `moe_layer_recompute`, custom_forward =
#                  shared experts, route, dispatch, experts, combine, under one checkpoint):
#                  the all-to-all's dispatch and combine run again
#   moe_act        the routed experts' activation function, output-discarding (experts.py
#                  `activation_recompute`): frees the fc2 input
#   shared_experts the shared experts (moe_layer.py `shared_experts_recompute`)
#   mla_up_proj    the MLA up-projections and RoPE, output-discarding
#                  (multi_latent_attention.py `recompute_up_proj`, qkv_up_proj_and_rope_apply):
#                  frees Q, K, V, recomputed before the core attention's backward
#   layernorm      input_layernorm and pre_mlp_layernorm, output-discarding, where they are
#                  norms of their own (`if not isinstance(..., IdentityOp)`): Transformer
#                  Engine fuses a GQA layer's input norm and a dense MLP's pre-norm into the
#                  next linear (models/gpt/gpt_layer_specs.py), leaving MLA's input norm and a
#                  MoE layer's pre-MLP norm: frees their outputs
RECOMPUTE_MODULE_NAMES = (
    "core_attn",
    "mlp",
    "moe",
    "moe_act",
    "shared_experts",
    "mla_up_proj",
    "layernorm",
)
# Korthikanti et al. 2022's MLP block of ACTIVATION_BYTES_PER_HIDDEN: fc1 input 2, activation
# input 8, fc2 input 8 (the 4h MLP), dropout mask 1 bytes per hidden element; of it the GEMM-only
# inputs, fc1's (1 element) and fc2's (4), are saved at the run's precision in FP8/FP4.
MLP_BLOCK_BYTES_PER_HIDDEN = 19.0
MLP_GEMM_INPUTS_PER_HIDDEN = 5.0
# fc2's input (the activation function's output): 4 elements per hidden element (4h MLP).
FC2_INPUT_PER_HIDDEN = 4.0
# Q, K and V of the attention block (Korthikanti's 4 + 2 bytes per hidden element, BF16: the
# attention runs in BF16 in every run).
QKV_BYTES_PER_HIDDEN = 6.0
# Memory-bound bytes of a recomputed forward, per token per hidden element, counted as
# ELEMENTWISE_BYTES_PER_HIDDEN is (a Llama block, BF16): the MLP's pre-norm (read 2 + write 2)
# and SwiGLU over 3.5·hidden (read 7, write 3.5 elements x 2 B) = 25 B; the SwiGLU alone 21 B;
# a norm 4 B; RoPE on q and k (read + write of 2 hidden-size vectors) 8 B. In FP8/FP4 the
# recomputed GEMM inputs are cast again (read 2 + write 1 + amax read 2 = 5 B an element): the
# MLP's fc1 (1) and fc2 (3.5) inputs 22.5 B, fc2's alone 17.5 B, a norm's output 5 B.
MLP_FORWARD_BYTES_PER_HIDDEN = 25.0
MLP_FORWARD_CAST_BYTES_PER_HIDDEN = 22.5
SWIGLU_FORWARD_BYTES_PER_HIDDEN = 21.0
FC2_CAST_BYTES_PER_HIDDEN = 17.5
NORM_FORWARD_BYTES_PER_HIDDEN = 4.0
NORM_CAST_BYTES_PER_HIDDEN = 5.0
ROPE_FORWARD_BYTES_PER_HIDDEN = 8.0
# A routed copy's forward memory-bound passes of MOE_PERMUTE_BYTES_PER_HIDDEN's 30 B (permute
# 4, chunk sort and unsort 8, unpermute 2) and of MOE_LOW_PRECISION_CAST_BYTES_PER_HIDDEN's 10 B
# (the fc1 input's cast, 5).
MOE_PERMUTE_FORWARD_BYTES_PER_HIDDEN = 14.0
MOE_CAST_FORWARD_BYTES_PER_HIDDEN = 5.0


def attention_params_per_layer(arch: ModelArch) -> float:
    """Parameters of one layer's attention projections. GQA: hidden · head_dim · (2·heads +
    2·kv_heads) (q and o, k and v). MLA: the query (hidden x q_lora + q_lora x heads x qk dim,
    or hidden x heads x qk dim without q_lora), the KV down-projection hidden x (kv_lora + rope),
    the KV up-projection kv_lora x heads x (qk nope + v) and the output heads x v x hidden."""
    h = arch.hidden
    if arch.mla is None:
        kv_heads = arch.kv_heads if arch.kv_heads is not None else arch.heads
        return float(h * arch.head_dim * (2 * arch.heads + 2 * kv_heads))
    m = arch.mla
    qk = m.qk_nope_head_dim + m.qk_rope_head_dim
    q = (h + arch.heads * qk) * m.q_lora_rank if m.q_lora_rank else h * arch.heads * qk
    kv = h * (m.kv_lora_rank + m.qk_rope_head_dim)
    kv += m.kv_lora_rank * arch.heads * (m.qk_nope_head_dim + m.v_head_dim)
    return float(q + kv + arch.heads * m.v_head_dim * h)


def dense_linears(arch: ModelArch, dense_mlp_params: float) -> tuple[DenseLinear, ...]:
    """The dense linears of the model's average transformer layer (Megatron-Core's modules;
    DenseLinear.gemm gives each one's (M, N, K) per micro-batch):
      attention  GQA: QKV `hidden -> (heads + 2·kv_heads)·head_dim` (column), the output
                 `heads·head_dim -> hidden` (row); MLA: the query down `hidden -> q_lora` and the
                 KV down `hidden -> kv_lora + rope` (duplicated: TE parallel_mode "duplicated"),
                 the query up `q_lora -> heads·(nope + rope)` (or `hidden -> heads·(nope + rope)`
                 without q_lora) and the KV up `kv_lora -> heads·(nope + v)` (column), the
                 output `heads·v -> hidden` (row); one a layer
      dense FFN  up (and gate) `hidden -> 2·ffn` (gated) or `hidden -> ffn` (column), down
                 `ffn -> hidden` (row), on `(L - L_moe)/L` of a layer: the catalog's `ffn` and
                 `ffn_gated` (config.json intermediate_size), or, not given, a gated FFN of
                 width `dense_mlp_params / (3·hidden)` (the layer's MLP parameters)
      MoE layer  the shared experts as one gated FFN of width `shared · expert_ffn` (Megatron-
                 Core SharedExpertMLP) and the router `hidden -> experts` (duplicated), on
                 `L_moe/L` of a layer (the routed experts: expert_gemm_shape)."""
    h = float(arch.hidden)
    out: list[DenseLinear] = []
    if arch.mla is None:
        kv_heads = arch.kv_heads if arch.kv_heads is not None else arch.heads
        q = float(arch.heads * arch.head_dim)
        out.append(DenseLinear("qkv", h, q + 2.0 * kv_heads * arch.head_dim, "column"))
        out.append(DenseLinear("attention out", q, h, "row"))
    else:
        m = arch.mla
        qk = float(arch.heads * (m.qk_nope_head_dim + m.qk_rope_head_dim))
        if m.q_lora_rank:
            out.append(DenseLinear("q down", h, float(m.q_lora_rank), "none"))
            out.append(DenseLinear("q up", float(m.q_lora_rank), qk, "column"))
        else:
            out.append(DenseLinear("q", h, qk, "column"))
        out.append(DenseLinear("kv down", h, float(m.kv_lora_rank + m.qk_rope_head_dim), "none"))
        kv_up = float(arch.heads * (m.qk_nope_head_dim + m.v_head_dim))
        out.append(DenseLinear("kv up", float(m.kv_lora_rank), kv_up, "column"))
        out.append(DenseLinear("attention out", float(arch.heads * m.v_head_dim), h, "row"))
    moe_share = arch.moe_layers / arch.layers
    dense_share = 1.0 - moe_share
    if dense_share > 0.0:
        if arch.ffn is not None:
            ffn, gated = float(arch.ffn), bool(arch.ffn_gated)
        else:
            ffn, gated = dense_mlp_params / (3.0 * h), True
        if ffn > 0.0:
            up = 2.0 * ffn if gated else ffn
            out.append(DenseLinear("ffn up", h, up, "column", dense_share))
            out.append(DenseLinear("ffn down", ffn, h, "row", dense_share))
    if arch.moe is not None:
        if arch.moe.shared_experts:
            w = float(arch.moe.shared_experts * arch.moe.expert_ffn)
            out.append(DenseLinear("shared experts up", h, 2.0 * w, "column", moe_share))
            out.append(DenseLinear("shared experts down", w, h, "row", moe_share))
        out.append(DenseLinear("router", h, float(arch.moe.experts), "none", moe_share))
    return tuple(out)


def linears_shape(tokens: Any, tp: Any, linears: tuple[DenseLinear, ...], f: TrainFigures) -> Any:
    """The GEMM shape of `linears` (floats or numpy arrays): each linear's forward, data-
    gradient and weight-gradient GEMMs contract its K, its N and the tokens M in turn
    (DenseLinear.gemm), each at `X/(X + gemm_half_width)` for its own reduction width X, all
    at the tokens' `M/(M + gemm_half_tokens)`; FLOP-weighted harmonically (times add), the
    three GEMMs of a linear alike:
    `M/(M + M_half) · 3·Σ c_l / Σ c_l ((K_l + W)/K_l + (N_l + W)/N_l + (M + W)/M)`,
    c_l = per_layer · in · out (its FLOPs' share), W = gemm_half_width."""
    half = f.gemm_half_width
    flops = 0.0
    time: Any = 0.0
    for lin in linears:
        m, n, k = lin.gemm(tokens, tp)
        c = lin.per_layer * lin.in_features * lin.out_features
        flops += 3.0 * c
        time = time + c * ((k + half) / k + (n + half) / n + (m + half) / m)
    return tokens / (tokens + f.gemm_half_tokens) * flops / time


def dense_gemm_shape(tokens: Any, tp: Any, mf: ModelFigures, f: TrainFigures) -> Any:
    """The layers' dense GEMM shape (floats or numpy arrays): every dense linear of the average
    layer at its own reduction widths (linears_shape over mf.linears, dense_linears); a
    ModelFigures without linears (built by hand) keeps one `K = hidden/TP` (_shape)."""
    if not mf.linears:
        return _shape(tokens, mf.hidden / tp, f)
    return linears_shape(tokens, tp, mf.linears, f)


def head_gemm_shape(tokens: Any, tp: Any, mf: ModelFigures, f: TrainFigures) -> Any:
    """The output head's GEMM shape at BF16 (floats or numpy arrays): the column-parallel
    `hidden -> vocab` linear at its own reduction widths (linears_shape: K = hidden, N =
    vocab/TP, M = t) at the head's half-width (BF16's); without mf.linears (a ModelFigures built
    by hand) `_shape(t, hidden/TP)` at that half-width."""
    fh = f
    if f.head_gemm_half_width and f.head_gemm_half_width != f.gemm_half_width:
        fh = replace(f, gemm_half_width=f.head_gemm_half_width)
    if not mf.linears or not mf.vocab:
        return _shape(tokens, mf.hidden / tp, fh)
    head = (DenseLinear("output head", float(mf.hidden), float(mf.vocab), "column"),)
    return linears_shape(tokens, tp, head, fh)


def _with_module_sizes(mf: ModelFigures, arch: ModelArch) -> ModelFigures:
    """mf with the sizes selective recomputation reads: the MLA up-projections' parameters a
    layer, `q_lora · heads · (qk nope + rope) + kv_lora · heads · (qk nope + v)` (DeepSeek-V3:
    37.7M + 16.8M = 54.5M), and a dense-FFN layer's MLP parameters: a dense model's layer
    parameters (layer_params) less its attention's; a MoE model's dense layers' share of the
    dense parameters left after every layer's attention and every MoE layer's shared experts
    (3·hidden·expert_ffn each) and router (hidden x experts), over its dense layers (0 without
    any). From the catalog's rounded totals (DeepSeek-V3's 37B active: ~0.2B a dense layer for
    the config's 0.4B: 3 of 61 layers)."""
    attn = attention_params_per_layer(arch)
    dense_l, _ = mf.layer_params
    mla_up = 0.0
    if arch.mla is not None:
        m = arch.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        mla_up = float((m.q_lora_rank or 0) * arch.heads * qk)
        mla_up += float(m.kv_lora_rank * arch.heads * (m.qk_nope_head_dim + m.v_head_dim))
    if not mf.experts:
        mlp = dense_l / mf.layers - attn
    else:
        dense_ffn_layers = mf.layers - mf.moe_layers
        moe_dense = mf.shared_experts * 3.0 * mf.hidden * mf.expert_ffn + mf.hidden * mf.experts
        rest = dense_l - mf.layers * attn - mf.moe_layers * moe_dense
        mlp = rest / dense_ffn_layers if dense_ffn_layers else 0.0
    mlp = max(0.0, mlp)
    return replace(
        mf,
        mla_up_params=mla_up,
        dense_mlp_params=mlp,
        mla=arch.mla is not None,
        linears=dense_linears(arch, mlp),
    )


def recompute_modules_problem(
    modules: tuple[str, ...], mf: ModelFigures, ep_comm_overlap: bool = False
) -> str:
    """Why `modules` cannot be recomputed on this model, or "": a name Megatron-Core knows
    but the planner does not model (gdn_norm_out, gdp_*, mhc) or does not know, mla_up_proj on a
    model without MLA (Megatron-Core raises: "mla_up_proj in recompute_modules is only
    supported with multi_latent_attention"), and moe with the all-to-all overlapped
    (Megatron-Bridge training/comm_overlap.py asserts "disable moe in recompute_modules when
    enabling overlap_moe_expert_parallel_comm")."""
    for name in modules:
        if name not in RECOMPUTE_MODULE_NAMES:
            return (
                f"recompute module {name!r} is not modelled (modelled: "
                f"{', '.join(RECOMPUTE_MODULE_NAMES)})"
            )
    if "mla_up_proj" in modules and not mf.mla:
        return "recompute module mla_up_proj needs a model with multi-head latent attention"
    if "moe" in modules and ep_comm_overlap and mf.experts:
        return (
            "recompute module moe cannot run with ep_comm_overlap (Megatron-Bridge: disable moe "
            "in recompute_modules when enabling overlap_moe_expert_parallel_comm)"
        )
    return ""


def selective_freed_bytes_per_hidden(
    modules: tuple[str, ...], mf: ModelFigures, f: TrainFigures
) -> float:
    """Activation bytes per hidden element per token per layer (the mean over the model's
    layers) that `modules`' selective recomputation frees of activation_bytes_per_hidden a_p,
    each module's saved activations replaced by its input (already saved as the block before's
    output), with q = the run's saved GEMM-input bytes (f.saved_value_bytes) and a_mlp =
    `MLP_BLOCK_BYTES_PER_HIDDEN - MLP_GEMM_INPUTS_PER_HIDDEN · (2 - q)` (19 BF16, 14 FP8):
    core_attn flash attention's BF16 output in FP8/FP4 (2 B; 0 in BF16), mlp a_mlp on the
    dense-FFN layers, moe a_mlp on the MoE layers (the step model's activation count is per
    token, not per routed copy), moe_act (without moe) fc2's input `4 · q · k/(k + s)` and
    shared_experts (without moe) `a_mlp · s/(k + s)` on the MoE layers (k routed, s shared
    experts a token), mla_up_proj Q, K, V (6 B), layernorm the unfused norms' outputs, q each
    (MLA's input norm on every layer, the pre-MLP norm on the MoE layers);
    at most a_p - CHECKPOINT_BYTES_PER_HIDDEN."""
    if not modules:
        return 0.0
    q = f.saved_value_bytes
    low = f.cast_bytes_per_hidden > 0.0
    a_mlp = MLP_BLOCK_BYTES_PER_HIDDEN - MLP_GEMM_INPUTS_PER_HIDDEN * (ACTIVATION_VALUE_BYTES - q)
    moe_share = mf.moe_layers / mf.layers if mf.experts else 0.0
    k, sh = mf.experts_per_token, mf.shared_experts
    freed = 0.0
    if "core_attn" in modules and low:
        freed += LOW_PRECISION_ATTENTION_OUTPUT_PER_HIDDEN * ACTIVATION_VALUE_BYTES
    if "mlp" in modules:
        freed += a_mlp * (1.0 - moe_share)
    if "moe" in modules:
        freed += a_mlp * moe_share
    elif moe_share:
        if "moe_act" in modules:
            freed += FC2_INPUT_PER_HIDDEN * q * k / (k + sh) * moe_share
        if "shared_experts" in modules and sh:
            freed += a_mlp * sh / (k + sh) * moe_share
    if "mla_up_proj" in modules and mf.mla:
        freed += QKV_BYTES_PER_HIDDEN
    if "layernorm" in modules:
        freed += q * ((1.0 if mf.mla else 0.0) + moe_share)
    return min(freed, f.activation_bytes_per_hidden - CHECKPOINT_BYTES_PER_HIDDEN)


def selective_recompute_terms(
    modules: tuple[str, ...],
    n: Any,
    mtp: float,
    moe_n: Any,
    t: Any,
    tp: Any,
    etp: Any,
    mf: ModelFigures,
    f: TrainFigures,
    shape_dense: Any,
    shape_exp: Any,
    ep_load: Any = 1.0,
    gemm_load: Any = None,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """The forward work `modules`' selective recomputation adds to one pipeline stage's micro-
    batch (floats or numpy arrays alike; n decoder layers, mtp MTP modules, moe_n of them MoE,
    the rest dense-FFN): (GEMM s, attention s, memory-bound s, TP bytes in units of the
    activation bytes t·hidden·2 B, CP ring passes in layers' units, all-to-all passes in MoE
    layers' units). Per recomputed module, on the layers it runs on (not on fully recomputed
    layers: the caller scales by 1 - r):
      core_attn      attention FLOPs A(S/2)/L a layer (the forward of 3x) at the attention
                     rate; 1/3 of a layer's CP ring passes
      mlp            dense-FFN layers: 2 · P_mlp · t/TP FLOP at the dense GEMM shape and the run's
                     precision; (MLP_FORWARD + MLP_FORWARD_CAST in FP8/FP4) · hidden/TP · t B;
                     the MLP's all-gather and reduce-scatter, 2·(TP-1)/TP
      moe            MoE layers: the expert GEMMs' forward, 2 · N_e·k/E / L_moe · t/TP · load FLOP
                     at the expert shape (the busiest EP rank's or the padded buffer's rows),
                     the shared experts and router 2 · (s · 3·hidden·expert_ffn + hidden · E) ·
                     t/TP at the dense shape; the MLP forward bytes as mlp plus the routed
                     copies' forward passes k · hidden/TP · t · (14 + 5·(k-1)/k in FP8/FP4) B
                     x the EP load; the MoE FFN's forward TP collectives, half of its
                     4·(TP-1)/TP less moe_tp_bytes_removed; the dispatch and combine again
                     (half a MoE layer's all-to-all passes)
      moe_act        (without moe) MoE layers: the SwiGLU forward and fc2 input's cast,
                     (SWIGLU_FORWARD + FC2_CAST in FP8/FP4) · hidden/TP · t B
      shared_experts (without moe) MoE layers: 2 · s · 3·hidden·expert_ffn · t/TP FLOP at the
                     dense shape and their all-gather and reduce-scatter, 2·(TP-1)/TP
      mla_up_proj    every layer: 2 · P_up · t/TP FLOP at the dense shape (MLA up-projections,
                     mf.mla_up_params); RoPE on q and k, ROPE_FORWARD · hidden/TP · t B
      layernorm      the unfused norms (MLA's input norm on every layer, the MoE layers'
                     pre-MLP norm; none on a GQA dense layer), (NORM_FORWARD + NORM_CAST in
                     FP8/FP4) · hidden/TP · t B each."""
    zero = 0.0 * n * t
    if not modules:
        return zero, zero, zero, zero, zero, zero
    h = mf.hidden
    layers = n + mtp
    dense_ffn = layers - moe_n
    low = 1.0 if f.cast_bytes_per_hidden > 0.0 else 0.0
    dense_flops = zero
    exp_flops = zero
    attn_flops = zero
    mem_per_hidden = zero  # bytes per hidden element per token, summed over the stage's layers
    copy_bytes = zero  # routed copies' bytes per token
    tp_units = zero
    cp_layers = zero
    ep_layers = zero
    tp_pair = 2.0 * (tp - 1) / tp  # one all-gather + one reduce-scatter
    if "core_attn" in modules:
        attn_flops = attn_flops + mf.attention_fwd_per_token_causal / mf.layers * layers * t / tp
        cp_layers = cp_layers + layers / 3.0
    if "mlp" in modules:
        dense_flops = dense_flops + 2.0 * mf.dense_mlp_params * dense_ffn * t / tp
        mem_per_hidden = (
            mem_per_hidden
            + (MLP_FORWARD_BYTES_PER_HIDDEN + MLP_FORWARD_CAST_BYTES_PER_HIDDEN * low) * dense_ffn
        )
        tp_units = tp_units + tp_pair * dense_ffn
    if mf.experts:
        k, sh = mf.experts_per_token, mf.shared_experts
        shared_params = sh * 3.0 * h * mf.expert_ffn
        if "moe" in modules:
            _, expert_l = mf.layer_params
            load = ep_load if gemm_load is None else gemm_load
            exp_flops = exp_flops + 2.0 * expert_l / mf.moe_layers * moe_n * t / tp * load
            router = h * mf.experts
            dense_flops = dense_flops + 2.0 * (shared_params + router) * moe_n * t / tp
            mem_per_hidden = (
                mem_per_hidden
                + (MLP_FORWARD_BYTES_PER_HIDDEN + MLP_FORWARD_CAST_BYTES_PER_HIDDEN * low) * moe_n
            )
            per_copy = MOE_PERMUTE_FORWARD_BYTES_PER_HIDDEN + (
                MOE_CAST_FORWARD_BYTES_PER_HIDDEN * (k - 1) / k * low
            )
            copy_bytes = copy_bytes + k * h * per_copy * moe_n * ep_load
            removed = 0.0 if sh else 4.0 * (tp - etp) / tp  # moe_tp_bytes_removed
            tp_units = tp_units + (2.0 * tp_pair - removed) / 2.0 * moe_n
            ep_layers = ep_layers + moe_n / 2.0
        else:
            if "moe_act" in modules:
                mem_per_hidden = (
                    mem_per_hidden
                    + (SWIGLU_FORWARD_BYTES_PER_HIDDEN + FC2_CAST_BYTES_PER_HIDDEN * low) * moe_n
                )
            if "shared_experts" in modules and sh:
                dense_flops = dense_flops + 2.0 * shared_params * moe_n * t / tp
                tp_units = tp_units + tp_pair * moe_n
    if "mla_up_proj" in modules and mf.mla:
        dense_flops = dense_flops + 2.0 * mf.mla_up_params * layers * t / tp
        mem_per_hidden = mem_per_hidden + ROPE_FORWARD_BYTES_PER_HIDDEN * layers
    if "layernorm" in modules:
        # the unfused norms only: MLA's input norm on every layer, the pre-MLP norm of a MoE
        # layer (Transformer Engine fuses a GQA layer's input norm and a dense MLP's into the
        # next linear: IdentityOp, which Megatron-Core does not recompute)
        norms = (layers if mf.mla else 0.0 * layers) + moe_n
        mem_per_hidden = (
            mem_per_hidden
            + (NORM_FORWARD_BYTES_PER_HIDDEN + NORM_CAST_BYTES_PER_HIDDEN * low) * norms
        )
    peak = f.peak_flops * f.sustained_clock_fraction
    peak_bf16 = f.peak_bf16_flops * f.sustained_clock_fraction
    gemm = dense_flops / (peak * f.gemm_efficiency * shape_dense) + exp_flops / (
        peak * f.gemm_efficiency * shape_exp
    )
    attention = attn_flops / (peak_bf16 * f.attention_efficiency)
    memory = (
        (mem_per_hidden * h + copy_bytes)
        / tp
        * t
        / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation)
    )
    return gemm, attention, memory, tp_units, cp_layers, ep_layers


def tp_exposed(tp_s: float, gemm_s: float, exposed: float, overlap: bool) -> float:
    """Exposed TP collective time per micro-batch from its full time `tp_s`: with TP
    communication overlap (`tp_comm_overlap`: userbuffers pipeline each all-gather /
    reduce-scatter with the GEMM next to it), what the micro-batch's GEMM time `gemm_s` cannot
    hide, `max(0, tp_s - gemm_s)`; otherwise `exposed · tp_s`, exposed = 1 - comm_overlap."""
    if overlap:
        return max(0.0, tp_s - gemm_s)
    return exposed * tp_s


def moe_copy_bytes_per_token(mf: ModelFigures, f: TrainFigures) -> float:
    """Memory-bound bytes of a MoE model's routed copies per token, all MoE layers, forward +
    backward, before the division by TP: `moe_layers · k · hidden · (MOE_PERMUTE_BYTES_PER_HIDDEN
    + (k-1)/k · MOE_LOW_PRECISION_CAST_BYTES_PER_HIDDEN in FP8/FP4)`; 0 for a dense model."""
    if not mf.experts:
        return 0.0
    k = mf.experts_per_token
    cast = MOE_LOW_PRECISION_CAST_BYTES_PER_HIDDEN * (k - 1) / k if f.cast_bytes_per_hidden else 0.0
    return mf.moe_layers * k * mf.hidden * (MOE_PERMUTE_BYTES_PER_HIDDEN + cast)


def target_nodes(mf: ModelFigures, n: float) -> float:
    """Nodes a token's k routed copies land on, of n: node-limited routing picks M nodes and
    spreads its k experts over them, min(M, n, k); otherwise, routing balanced over the n nodes,
    the expected distinct nodes of k uniform draws, n · (1 - (1 - 1/n)^k)."""
    k = mf.experts_per_token
    if mf.max_nodes_per_token:
        return min(mf.max_nodes_per_token, n, k)
    return n * (1.0 - (1.0 - 1.0 / n) ** k)


def ep_exposed(ep_s: float, compute_s: float, overlap: bool) -> float:
    """Exposed expert-parallel all-to-all time per micro-batch from its full time `ep_s`: with
    `ep_comm_overlap` (one micro-batch's dispatch/combine run under another micro-batch's
    computation, `compute_s` = its GEMM + attention + memory-bound time), `max(0, ep_s -
    compute_s)`; otherwise all of it (a micro-batch's expert GEMMs wait for its dispatch and
    its next layer for the combine: nothing of its own to hide behind)."""
    if overlap:
        return max(0.0, ep_s - compute_s)
    return ep_s


def ep_overlap_chunks(pp: int, v: int, m: int, rank: int) -> int:
    """Model chunks (a micro-batch's pass through one of a rank's v virtual stages) whose
    forward runs before the steady 1F1B phase under an EP overlap, as many backwards running
    after it: Megatron-Core's interleaved schedule warms up with `2·(PP-1-rank) + (v-1)·PP`
    chunk forwards (microbatch_group_size_per_vp_stage = PP, the default) and, with
    overlap_moe_expert_parallel_comm, one more ("to ensure the forward and backward
    computations are independent in all 1f1b steps"), at most all m·v of them (schedules.py
    get_pp_rank_microbatches); without pipelining the first micro-batch's forward and the last
    one's backward run alone (combined_1f1b.py combined_1f1b_schedule_for_no_pipelining: 1).
    A forward-only pass never takes the combined path: no overlap at all (_placed).
    NVIDIA/Megatron-LM @d98e8a64dd."""
    total = m * v
    if pp <= 1:
        return min(total, 1)
    return min(total, 2 * (pp - 1 - rank) + (v - 1) * pp + 1)


def ep_outside_overlap(ep_full_s: float, ep_exposed_s: float, chunks: int, v: int) -> float:
    """Per step: the all-to-all an EP overlap hides in the steady 1F1B phase, paid in full by the
    `chunks` outside it (ep_overlap_chunks), nothing of another micro-batch to run under: a
    chunk's all-to-all is `ep_full_s / v` (ep_full_s a micro-batch's on the stage), half of it
    in the forward (dispatch and combine), half in the backward, so `chunks` warm-up forwards
    and as many cool-down backwards add `chunks / v · (ep_full_s - ep_exposed_s)` beyond what
    the per-micro-batch term (ep_exposed) already charges."""
    hidden = max(0.0, ep_full_s - ep_exposed_s)
    if v <= 0:
        return 0.0
    return chunks / v * hidden


def _shape(tokens: float, width: float, f: TrainFigures) -> float:
    """GEMM shape efficiency M/(M + M_half) · K/(K + K_half)."""
    return tokens / (tokens + f.gemm_half_tokens) * width / (width + f.gemm_half_width)


def expert_width_shape(mf: ModelFigures, tp: Any, f: TrainFigures) -> Any:
    """The routed experts' FFN-width factor of their GEMM shape (floats or numpy arrays): each
    expert is a gated FFN, fc1 (gate and up) `hidden x 2·w` and fc2 `w x hidden`, w =
    expert_ffn/TP; a linear's forward, data-gradient and weight-gradient GEMMs each have the
    two weight dimensions among their M, N, K (the third is the tokens), so each linear's shape
    carries `n/(n + gemm_half_width)` for its FFN-side width n (2·w for fc1, w for fc2) beside
    the tokens' and the hidden's factors (_shape). FLOP-weighted over the linears (fc1 twice
    fc2's FLOPs), harmonically (times add): `3 / (2·(2w + W)/(2w) + (w + W)/w)`, W =
    gemm_half_width. 1 without `expert_ffn` (the expert's width not given)."""
    if not mf.expert_ffn:
        return 1.0
    w = mf.expert_ffn / tp
    half = f.gemm_half_width
    return 3.0 / (2.0 * (2.0 * w + half) / (2.0 * w) + (w + half) / w)


def expert_gemm_shape(
    tokens_per_expert: Any, width: Any, mf: ModelFigures, etp: Any, f: TrainFigures, fused: bool
) -> Any:
    """The routed experts' GEMM shape (floats or numpy arrays): `g · M/(M + gemm_half_tokens) ·
    K/(K + gemm_half_width) · expert_width_shape`, M = tokens_per_expert (the rows of one local
    expert's GEMMs), K = width (hidden/TP), g = expert_gemm_fraction (the accelerator's grouped
    expert GEMMs' rate over a dense GEMM of the same shape at the run's precision, catalog
    training.expert_gemm_fraction; 1 when not given, or `fused`: a layout's fused_grouped_gemm)."""
    g = 1.0 if fused else f.expert_gemm_fraction
    return g * _shape(tokens_per_expert, width, f) * expert_width_shape(mf, etp, f)


def ep_load_imbalance(mf: ModelFigures, t: Any, ep: Any) -> Any:
    """The busiest expert-parallel rank's routed copies over the mean, per MoE layer and
    micro-batch (floats or numpy arrays): the Megatron-Bridge benchmarks force balanced routing
    with random router logits (Megatron-LM `moe_router_force_load_balancing`:
    `apply_random_logits`, a normal draw per token and expert), so each of a token's k copies
    lands on a uniformly random expert and a rank's load is ~Binomial with mean `μ = t·k` (each
    of the EP ranks routes its t tokens' k copies over all of them); the dispatch, the expert
    GEMMs and the combine of a layer finish with the busiest of the EP ranks, ≈ μ + sqrt(2 μ ln EP)
    (balls into bins, Raab & Steger 1998; serving_physics.ep_imbalance, the same bound): `x = 1 +
    sqrt(2 ln EP / μ)`, at most EP·min(k, E/EP)/k (every copy on one rank's experts). 1 for a
    dense model or EP = 1."""
    if not mf.experts:
        return 1.0
    k = mf.experts_per_token
    mu = t * k
    cap = ep * np.minimum(k, mf.experts / ep) / k
    x = np.minimum(1.0 + np.sqrt(2.0 * np.log(np.maximum(ep, 1.0)) / mu), cap)
    return np.where(ep > 1, x, 1.0) if np.ndim(x) else (float(x) if ep > 1 else 1.0)


def optimizer_shard(
    p_dense: Any, p_expert: Any, dp_group: Any, ep: Any, etp_share: Any = 1.0
) -> Any:
    """Parameters whose optimizer state one accelerator keeps and updates (floats or numpy arrays):
    the distributed optimizer shards each parameter over its data-parallel group, the dense
    parameters (`p_dense` = N_dense/(TP·PP)) over the DP·CP ranks, the routed experts (`p_expert`
    = N_experts/(ETP·PP·EP)) over the ranks that hold the same expert shard, Megatron-Core's
    expert data-parallel group of TP·DP·CP/(ETP·EP) ranks (world / (ETP·EP·PP)):
    `p_dense/(DP·CP) + p_expert·EP·ETP/(TP·DP·CP)`, etp_share = ETP/TP (1: expert TP = TP, the
    DP·CP/EP ranks). The experts' shard is N_experts/(TP·PP·DP·CP) whatever the ETP."""
    return p_dense / dp_group + p_expert * ep * etp_share / dp_group


def expert_parallel_problem(lay: Layout, experts: int) -> str:
    """Why a pinned layout's EP cannot be built, or "": Megatron-LM puts each expert-parallel
    group inside the TP·DP·CP ranks of one pipeline stage (world size divisible by expert TP x
    EP x PP, expert TP 1 at the widest), so EP must divide TP·DP·CP, and the routed experts (a
    rank holds experts/EP whole experts). Whatever the expert TP, a rank's share of the experts'
    optimizer state is N_experts/(TP·PP·DP·CP) (optimizer_shard); an EP wider than TP·DP·CP
    has no ranks to live on. Expert TP not given is Megatron-Core's default, TP, and is checked
    as given: TP2 x EP32 on a 32-rank stage leaves the expert data-parallel group no ranks (a
    calibration row was priced so, its gradient exchange charged nothing, until session 32).
    The layout search only makes EPs dividing DP; a pinned layout is checked here (EP16 on 8
    GPUs was priced before)."""
    if not experts:
        return ""
    ranks = lay.tp * lay.dp * lay.cp
    if lay.expert_tp and lay.tp % lay.expert_tp:
        return (
            f"expert TP {lay.expert_tp} must divide TP {lay.tp}: the planner places each "
            "expert tensor-parallel group inside one TP group (ETP above TP is not modelled)"
        )
    if lay.ep > 1 and ranks % (lay.etp * lay.ep):
        given = "" if lay.expert_tp else " (expert_tp not given: Megatron-Core's default, TP)"
        return (
            f"expert TP {lay.etp}{given} x EP {lay.ep} must divide TP x DP x CP = {ranks} "
            "(Megatron-Core: the world divisible by expert TP x EP x PP; otherwise the expert "
            "data-parallel group has no ranks)"
        )
    if lay.ep <= 1:
        return ""
    if ranks % lay.ep:
        return (
            f"EP {lay.ep} must divide TP x DP x CP = {ranks}: each expert-parallel group lies "
            "within one pipeline stage's ranks (Megatron-LM: TP x DP x CP divisible by expert "
            "TP x EP)"
        )
    if experts % lay.ep:
        return f"EP {lay.ep} must divide the model's {experts} routed experts"
    return ""


def dense_fused_problem(model: str) -> str:
    """Why a layout's `fused_grouped_gemm` cannot apply to `model`, a dense model: the flag sets
    how routed-expert GEMMs run (expert_gemm_shape) and a dense model has none, so it would be
    accepted and silently unused (review s32 for a scenario's layout, review s33 for a
    calibration table's)."""
    return (
        f"fused_grouped_gemm sets how routed-expert GEMMs run, and {model} is a dense model "
        "(no routed experts): remove it"
    )


def fsdp_problem(lay: Layout, experts: int) -> str:
    """Why a pinned layout's FSDP group cannot be built, or "": it must divide DP·CP (the
    ranks that hold the same weights); a hybrid group (below DP·CP) must hold whole CP groups
    (CP ranks are adjacent, the shard group DP ranks next) and, on a MoE model, is not modelled
    (the routed experts' own data-parallel group beside it)."""
    if not lay.fsdp:
        return ""
    ranks = lay.dp * lay.cp
    if lay.fsdp < 2 or ranks % lay.fsdp:
        return f"fsdp {lay.fsdp} must be at least 2 and divide DP x CP = {ranks}"
    if lay.fsdp < ranks and lay.fsdp % lay.cp:
        return f"a hybrid fsdp group ({lay.fsdp} of {ranks} DP x CP ranks) must hold whole CP groups ({lay.cp})"
    if lay.fsdp < ranks and experts:
        return (
            f"hybrid sharding (fsdp {lay.fsdp} below DP x CP = {ranks}) of a MoE model is not "
            "modelled: use fsdp = DP x CP"
        )
    return ""


def multi_site_fsdp_problem(lay: Layout, run: RunFigures) -> str:
    """Why a layout cannot run a job that may be split over sites (run.multi_site), or "": its
    FSDP group must be hybrid, `fsdp` below DP·CP, the shard group inside a site and its
    DP·CP/fsdp replicas across sites (HSDP, what a run spread over datacenters does: torchtitan's
    dp_replicate x dp_shard mesh, AXLearn's data x fsdp). The replicas all-reduce their gradient
    shards once a step, the sites exchanging 2 parameter volumes a step as plain data
    parallelism's exchange (planner/traffic.py, the LP's gradsync row); a group over every
    DP·CP rank would stretch each layer's two all-gathers and reduce-scatter over the inter-site
    links, `m · (2·bytes(param gather) + bytes(grad))` bytes a parameter a step, 3m volumes at
    BF16 (m the micro-batches a rank), and their per-layer latency across datacenters, which the
    step model does not price."""
    if not run.multi_site or not lay.fsdp or lay.fsdp < lay.dp * lay.cp:
        return ""
    m = whole_micro_batches(run, lay.dp, lay.micro_batch)
    per_param = 2.0 * run.param_gather_bytes + run.gradient_bytes
    volumes = m * per_param / run.gradient_bytes
    return (
        f"fsdp {lay.fsdp} shards over every DP x CP rank, and the job may span sites "
        f"(allow_multi_site): its per-layer gathers and reduce-scatters would cross the "
        f"inter-site links, {m:g} micro-batches x {per_param:g} B = {volumes:g} gradient volumes "
        "a step against 2 for data-parallel replicas; pin a hybrid group (fsdp dividing dp x cp, "
        "below it: the shard group inside a site, its replicas across sites) or leave "
        "allow_multi_site off"
    )


def expert_gemm_load(capacity: float, ep_load: float) -> float:
    """The expert GEMMs' rows over the mean routed copies a rank receives (t·k), per MoE layer
    and micro-batch: with a static receive buffer of `capacity` x the mean (Megatron-LM
    moe_expert_rank_capacity_factor: HybridEP's budget `tokens · topk · factor`, rounded up to
    the quantisation alignment; in the MLPerf v6.0 gpt_oss_20b recipes, without paged stashing,
    the expert GEMMs take every row of it, padding included: docs/models.md), `max(capacity, ep_load)`: every rank computes the whole buffer, so
    the busiest rank's routed share (ep_load) no longer sets the time. A buffer below that share
    would drop the tokens past its budget; the planner models no dropping, so it keeps the busiest
    rank's share there (the larger of the two). 0 (no static buffer): ep_load."""
    if capacity <= 0.0:
        return ep_load
    return max(capacity, ep_load)


# NCCL's ring cost model for a bandwidth-bound all-gather or reduce-scatter (Simple protocol,
# the one NCCL picks for messages of this size): a base latency and one step per rank, a step
# within the scale-up domain or over the network (NVIDIA/nccl src/graph/tuning.cc @5067397c,
# ncclTunerConstantsDefaults: Ring/Simple base 8.4 us, NVLink step 3.4 us, network step 14.0 us;
# an all-gather or reduce-scatter ring takes ranks-1 steps, domains-1 of them over the network;
# bench/fsdp_unit_pipeline.py reads them). Applied to every accelerator's collective library.
RING_BASE_S = 8.4e-6
RING_STEP_SCALE_UP_S = 3.4e-6
RING_STEP_SCALE_OUT_S = 14.0e-6


def ring_latency_s(ranks: int, domains: int) -> float:
    """Latency of one ring all-gather or reduce-scatter over `ranks` ranks in `domains` scale-up
    domains: base + (ranks-1-(domains-1)) scale-up steps + (domains-1) network steps, s."""
    if ranks <= 1:
        return 0.0
    inter = max(0, domains - 1)
    return RING_BASE_S + (ranks - 1 - inter) * RING_STEP_SCALE_UP_S + inter * RING_STEP_SCALE_OUT_S


# The largest FSDP sharding group among the training calibration rows within their band that
# check the model (planner/calibration/training.yaml: AXLearn Fuji-70B on 512 H100, hybrid
# sharding over 128 GPUs x 4 replicas, +4.7%; Megatron-Bridge's FSDP rows are 8-64 GPUs; the two
# Trainium2 rows fully sharded over 1,024 chips are the fit points of Trainium2's BF16 fraction
# since session s22, which absorbs their collectives, so they check nothing).
# tests/test_review21b.py recomputes it from the table.
CALIBRATED_FSDP_GROUP = 128


def fsdp_caveat(layout: Layout, f: TrainFigures) -> str:
    """A derivation line for a layout whose FSDP group is wider than any calibrated one ("" at
    or below CALIBRATED_FSDP_GROUP): the group size, the scale-up domains it spans and its
    fewest and most ranks in one (dp_pieces, DP beside TP·CP) and the NCCL ring latency of one
    of its per-layer collectives (ring_latency_s), priced from NCCL's cost model and not measured at that size
    (review21b: the search picks FSDP over 1,026 GB200 ranks for the 405B, 8x the largest
    calibrated group). A layout on `domain_ranks` of each domain's accelerators counts domains
    of that many ranks, as step_time places it."""
    group = layout.fsdp
    if group <= CALIBRATED_FSDP_GROUP:
        return ""
    domain = layout.domain_ranks or f.scale_up_domain
    fewest, most, domains = dp_pieces(
        layout.tp, layout.cp, layout.dp, layout.pp, domain, group=group
    )
    pieces = f"{fewest}" if fewest == most else f"{fewest} to {most}"
    lat = ring_latency_s(group, domains)
    return (
        f"caveat: FSDP over {group:,} ranks ({domains} scale-up domains of {pieces}) is "
        f"{group / CALIBRATED_FSDP_GROUP:.1f}x the largest FSDP group calibrated within its band "
        f"({CALIBRATED_FSDP_GROUP}: AXLearn Fuji-70B on 512 H100, 4 replicas of 128; Megatron-"
        "Bridge's FSDP rows are 8-64 GPUs; the Trainium2 rows at 1,024 chips fit Trainium2's "
        "BF16 fraction, which absorbs their collectives): each layer's two weight all-gathers and gradient reduce-scatter are priced "
        f"from NCCL's ring model, {lat * 1e3:.2f} ms latency a collective ({domains - 1} "
        "network steps), unmeasured at this size"
    )


def fsdp_end_params(mf: ModelFigures, tp: int) -> float:
    """Parameters a rank holds of one end unit, the embedding or the output head: `vocab ·
    hidden / TP` (vocabulary-parallel over the TP group; 0 when the vocabulary is unknown, the
    model then spreading them over the layers). Under FSDP each is an FSDP unit of its own
    (torchtitan's apply_fsdp: `fully_shard(model.tok_embeddings)` and `fully_shard([model.norm,
    model.lm_head], reshard_after_forward=False)` beside each block's, pytorch/torchtitan
    torchtitan/distributed/fsdp.py @b5bcd76c; Megatron-FSDP: the embedding and output layer are
    no TransformerLayer, so outside every FSDP unit, their buckets sharded under
    optim_grads_params and kept gathered once gathered, "Non-unit modules should remain
    persistently allocated", NVIDIA/Megatron-LM megatron/core/distributed/fsdp/src/megatron_fsdp/
    param_and_grad_buffer.py @d98e8a64)."""
    return float(mf.vocab) * mf.hidden / tp


def fsdp_exposed(
    gather_s: float,
    scatter_s: float,
    compute_s: float,
    forward_share: float,
    units: float,
    embedding: tuple[float, float] = (0.0, 0.0),
    head: tuple[float, float] = (0.0, 0.0),
) -> float:
    """FSDP's collective time a micro-batch's compute does not hide, per micro-batch, s: `units`
    FSDP units (one decoder layer each: torchtitan and Megatron-FSDP wrap each transformer
    block) of equal compute `compute_s/units`, `forward_share` of it forward; each unit's weights
    all-gathered (`gather_s` a unit, its latency included) before its forward and again before
    its backward, its gradients reduce-scattered (`scatter_s`) after its backward, on a
    communication stream of their own, the next unit's gather issued while this one computes
    (PyTorch FSDP notes: implicit forward prefetching, "the 1st all-gather will not be able to
    overlap with anything"; backward prefetch one unit ahead):
    `g + (n-1)·max(0, g - c_f)` forward, `(n-1)·max(0, g + r - c_b) + r` backward (the first
    backward unit's gather issued under the output head and loss; the last reduce-scatter after
    the last backward), c_f and c_b a unit's forward and backward compute. forward_share 1 (a
    forward-only pass): the forward's gathers alone.
    The end units (fsdp_end_params; (gather, reduce-scatter) s, 0 on a stage without them):
    the embedding's gather before the first layer's, nothing to hide it (the lookup is
    memory-trivial), and its reduce-scatter after the last layer's, both exposed, `g_e + r_e`
    (its backward gather, torchtitan's, prefetched under the first layer's backward, whose
    window holds only a reduce-scatter, is not charged; Megatron-FSDP keeps it gathered); the
    head's gather in the last layer's forward window, which prefetches no layer,
    `max(0, g_h - c_f)`, kept gathered for its backward (reshard_after_forward False), and its
    reduce-scatter, after the head's backward, in the first backward window beside that
    window's gather and reduce-scatter: `max(0, g + r + r_h - c_b) - max(0, g + r - c_b)`."""
    n = max(1.0, units)
    cf = forward_share * compute_s / n
    cb = (1.0 - forward_share) * compute_s / n
    g_e, r_e = embedding
    g_h, r_h = head
    out = g_e + gather_s + (n - 1.0) * max(0.0, gather_s - cf) + max(0.0, g_h - cf)
    if forward_share < 1.0:
        out += (n - 1.0) * max(0.0, gather_s + scatter_s - cb) + scatter_s + r_e
        out += max(0.0, gather_s + scatter_s + r_h - cb) - max(0.0, gather_s + scatter_s - cb)
    return out


def fsdp_state_bytes(
    p_shard: float, p_unit: float, run: RunFigures, p_ends: float | Any = 0.0
) -> Any:
    """Training state an accelerator holds under FSDP, B: its shard `p_shard` (optimizer_shard's
    parameters) of the weights at the gather precision, the gradients and the optimizer state
    (bytes_per_param - 2 - bytes(grad)), plus two gathered units of `p_unit` parameters with
    their full gradients (the unit computing and the one prefetched: the weights at the gather
    precision, the gradients before their reduce-scatter), plus the end units the stage holds,
    `p_ends` parameters (fsdp_end_params: the embedding on the first stage, the head too at
    PP 1), gathered with their gradients (Megatron-FSDP keeps them gathered; torchtitan keeps
    the head's through the backward)."""
    optimizer = max(0.0, run.bytes_per_param - WEIGHT_VALUE_BYTES - run.gradient_bytes)
    per_param = run.param_gather_bytes + run.gradient_bytes
    return p_shard * (per_param + optimizer) + (2.0 * p_unit + p_ends) * per_param


def expert_group_span(tp: int, cp: int, ep: int, etp: int, pp: int, pp_inside: bool) -> int:
    """Consecutive accelerators one expert-parallel group spans: Megatron-Core orders a stage's
    ranks for the experts as ETP innermost, then EP, then the expert DP, with no CP axis
    (parallel_state.initialize_model_parallel's expert RankGenerator, cp=1, order tp-cp-ep-dp-pp
    with tp = ETP: @d98e8a64), so an EP group is ETP·EP consecutive ranks of the stage at any
    expert TP, ETP = TP included: first inside a TP·CP block, then across DP replicas (which lie
    TP·CP·PP apart when PP shares the domain). Review21: at ETP = TP this was TP·CP·EP (·PP),
    the EP ranks carved out of DP TP·CP apart, CP times too wide at CP > 1."""
    span = etp * ep
    if pp_inside and span > tp * cp:
        span *= pp
    return span


def moe_tp_bytes_removed(mf: ModelFigures, tp: int, etp: int) -> float:
    """Share of a MoE layer's TP collectives (per token per hidden element, in units of the
    activation bytes t·hidden·2 B) the model does not charge as TP bytes. The model charges
    every layer `8·(TP-1)/TP` (the attention's and the FFN's all-gather and reduce-scatter,
    forward and backward); in a MoE layer without shared experts the FFN half, `4·(TP-1)/TP`,
    is not there at any expert TP: under sequence parallelism the router and the dispatcher
    work on a rank's own t/TP tokens (no all-gather before the experts), and the expert TP
    group's exchange, the all-gather of the received (routed, k-fold) tokens after the
    all-to-all and their reduce-scatter before the combine (Megatron-Core token_dispatcher.py
    @d98e8a64 MoEAlltoAllTokenDispatcher dispatch_postprocess / combine_preprocess, `if
    self.tp_size > 1`, tp_group the expert TP group; the flex dispatcher instead sends each
    token to its experts' ETP ranks in the all-to-all itself) is in the all-to-all term, whose
    `t·ETP/TP` tokens a rank are the all-to-all's t/TP and the gather's (ETP-1)·t/TP (review21:
    the etp session removed `4·(TP-ETP)/TP`, leaving `4·(ETP-1)/TP`, 1/k of that gather
    counted a second time, at ETP > 1). A model with shared experts keeps it: its shared
    experts are TP-split FFNs with their own all-gather and reduce-scatter of the t tokens."""
    if tp <= 1 or mf.shared_experts or not mf.experts:
        return 0.0
    return 4.0 * (tp - 1) / tp


def _expert_copies_folded(group: int, stage_ranks_per_domain: int, block: int) -> int:
    """Ranks of one scale-up domain holding the same routed-expert shard, at any expert TP: a
    stage's ranks in Megatron-Core's expert order (ETP innermost, then EP, then the
    expert DP) hold the same shard every `block` = ETP·EP ranks, so a domain holding
    `stage_ranks_per_domain` of the stage's ranks holds `stage_ranks_per_domain // block` of
    them (at least 1), the largest divisor of the expert DP group `group` not above it.
    Review21: at ETP = TP the model had its own count (_expert_copies), with EP ranks TP·CP
    apart, CP inner; Megatron-Core's expert ranks have no CP axis (parallel_state.py
    @d98e8a64), so e.g. CP2 EP32 with 32 DP·CP ranks a domain holds one EP group (1 copy), not
    the CP pair's 2."""
    k = max(1, min(group, stage_ranks_per_domain // block))
    while group % k:
        k -= 1
    return k


def in_one_domain(span: Any, ranks: Any, domain: int) -> Any:
    """Whether every group of `span` consecutive ranks of a job of `ranks` ranks lies inside
    one scale-up domain of D = `domain` accelerators (scalars or numpy arrays alike):

        span <= D  and  (ranks <= D  or  ranks mod D != 0  or  D mod span = 0)

    A job of whole domains (ranks a multiple of D: every job the LP rates, its sizes whole
    units) fills each domain, its groups run over consecutive ranks (Megatron-Core's rank
    order), and a group whose span does not divide D crosses a domain boundary: EP64 on 8 NVL72
    racks (576 ranks) has 7 of its 9 groups over two racks; the slowest group sets a
    synchronous collective's time (qa28; before session 29 `span <= D` alone decided, charging
    those groups the NVLink rate). A job of a size that is not whole domains leaves
    accelerators idle anyway and is taken to sit as the published runs do, whole groups a
    domain: NVIDIA's 256-GPU and 2,496-GPU GB200 runs are 4 and 39 racks of 64 ranks, their
    EP64 groups and PP stages each inside a rack. A job of whole domains may also run on 64 of
    each rack's 72 accelerators (Layout.domain_ranks: its groups inside, 8 a rack idle), which
    the search rates beside it (pretrain._on_part_of_each_domain)."""
    if isinstance(span, np.ndarray) or isinstance(ranks, np.ndarray):
        return (span <= domain) & ((ranks <= domain) | (ranks % domain != 0) | (domain % span == 0))
    return span <= domain and (ranks <= domain or ranks % domain != 0 or domain % span == 0)


def _straddle_note(layout: Layout, mf: ModelFigures, f: TrainFigures, pp_inside: bool) -> str:
    """The TP, CP and EP groups of a layout that fit a scale-up domain's size but cross its
    boundaries (in_one_domain false at span <= D), which step_time charges the scale-out rate
    (EP: the hierarchical dispatch over two domains); "" when there are none. Names what makes
    an exposed TP/CP/EP term large, e.g. EP64 on whole NVL72 racks."""
    d, g = f.scale_up_domain, layout.accelerators
    tp, cp, ep = layout.tp, layout.cp, layout.ep
    spans = [("TP", tp), ("CP", tp * cp if cp > 1 else 1)]
    if ep > 1 and mf.experts:
        spans.append(("EP", expert_group_span(tp, cp, ep, layout.etp, layout.pp, pp_inside)))
    crossing = [
        f"{name} groups of {span} ranks"
        for name, span in spans
        if 1 < span <= d and not in_one_domain(span, g, d)
    ]
    if not crossing:
        return ""
    return f"{' and '.join(crossing)} cross {d}-rank scale-up domains (over scale-out)"


def domains_spanned(span: Any, ranks: Any, domain: int) -> Any:
    """Scale-up domains n the widest group of `span` consecutive ranks of a job of `ranks`
    touches (scalars or numpy arrays alike). On a job of whole domains (ranks a multiple of D =
    `domain`, more than one) the groups start at multiples of span, their offsets in a domain
    the multiples of g = gcd(span, D), and the one starting g short of a boundary touches

        n = floor((D - g + span - 1) / D) + 1

    domains; the slowest group sets a synchronous collective's time (in_one_domain): EP64 on
    576 GB200 ranks 2, EP128 on 1,152 ranks 3 (ranks 128-255 on racks 1, 2 and 3), EP144 2. A
    span that D divides, or a multiple of D, touches span / D or 1 (the group's own). A job that
    is not whole domains sits as the published runs do (in_one_domain): span / D, at least 1."""
    if isinstance(span, np.ndarray) or isinstance(ranks, np.ndarray):
        spans = np.asarray(span).astype(np.int64)
        g = np.gcd(spans, domain)
        worst = (domain - g + spans - 1) // domain + 1
        whole = (ranks > domain) & (ranks % domain == 0)
        return np.where(whole, worst, np.maximum(span / domain, 1.0)).astype(float)
    if ranks > domain and ranks % domain == 0:
        span_i = int(span)
        return float((domain - math.gcd(span_i, domain) + span_i - 1) // domain + 1)
    return max(span / domain, 1.0)


def _group_bandwidth(group_span: int, ranks: int, f: TrainFigures) -> float:
    """Per-direction bandwidth of a collective over groups of `group_span` consecutive ranks of a
    job of `ranks`: scale-up when every group stays inside one scale-up domain (in_one_domain),
    else scale-out."""
    inside = in_one_domain(group_span, ranks, f.scale_up_domain)
    bw = f.scale_up_bytes_per_s if inside else f.scale_out_bytes_per_s
    return bw * f.collective_efficiency


def stage_terms(
    n: Any,
    mtp: float,
    heads: float,
    t: Any,
    tp: Any,
    extra: Any,
    head_share: float,
    mf: ModelFigures,
    f: TrainFigures,
    shape_dense: Any,
    shape_exp: Any,
    ep_load: Any = 1.0,
    gemm_load: Any = None,
    etp: Any = 1,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """One pipeline stage's compute per micro-batch (floats or numpy arrays alike): `n` decoder
    layers, `mtp` MTP modules (each a layer, MoE in a MoE model, and a 2·hidden x hidden
    projection), `heads` passes of the output head and loss (the last stage: 1 + MTP modules
    when the vocabulary is known, else 0). Returns (layer GEMM s, head s, attention s,
    memory-bound s before any forward-only scaling, MoE layers on the stage, GEMM shape: the
    FLOP-weighted blend of the dense and expert shapes for scalars, the dense shape for arrays
    and for a stage without layers).
    extra: 1 + r/3 (recomputation) or 1/3 (forward only) on the layers; head_share: 1 or 1/3
    (the head is not recomputed); ep_load: the busiest EP rank's routed copies over the mean
    (ep_load_imbalance), on the expert GEMMs and the routed copies' memory-bound passes;
    gemm_load: the expert GEMMs' rows over the mean routed copies when it differs from ep_load
    (a padded receive buffer: expert_gemm_load), None: ep_load; etp: the expert TP, whose
    group's gathered copies the chunk sort and unsort run on (MOE_SORT_BYTES_PER_HIDDEN x
    (ETP - 1) more a dispatched copy)."""
    h = mf.hidden
    dense_l, expert_l = mf.layer_params
    dense_params = dense_l / mf.layers * (n + mtp) + mtp * MTP_PROJECTION_PER_HIDDEN_SQUARED * h * h
    dense_flops = TRAINING_FLOPS_PER_PARAM * dense_params * t / tp * extra
    # the compute rates: the spec peaks at the sustained clock share (sustained_clock_fraction)
    peak = f.peak_flops * f.sustained_clock_fraction
    peak_bf16 = f.peak_bf16_flops * f.sustained_clock_fraction
    gemm = dense_flops / (peak * f.gemm_efficiency * shape_dense)
    shape = shape_dense
    moe_n = 0.0 * n
    if expert_l:
        moe_n = mf.moe_layers * n / mf.layers + mtp
        exp_flops = (
            TRAINING_FLOPS_PER_PARAM
            * expert_l
            * moe_n
            / mf.moe_layers
            * t
            / tp
            * extra
            * (ep_load if gemm_load is None else gemm_load)
        )
        gemm = gemm + exp_flops / (peak * f.gemm_efficiency * shape_exp)
        if np.ndim(dense_flops) == 0 and dense_flops + exp_flops > 0:  # scalars: the blend
            shape = (dense_flops + exp_flops) / (dense_flops / shape_dense + exp_flops / shape_exp)
    head_eff = f.head_gemm_efficiency or f.gemm_efficiency
    head_flops = TRAINING_FLOPS_PER_PARAM * mf.vocab * h * heads * t / tp * head_share
    # the head's BF16 GEMMs at BF16's half-width, at their own shape (head_gemm_shape)
    head = head_flops / (peak_bf16 * head_eff * head_gemm_shape(t, tp, mf, f))
    attn_flops = TRAINING_TO_FORWARD * extra * mf.attention_fwd_per_token_causal
    attention = attn_flops * (n + mtp) / mf.layers * t / tp / (peak_bf16 * f.attention_efficiency)
    per_moe_layer = moe_copy_bytes_per_token(mf, f) / mf.moe_layers if mf.experts else 0.0
    if mf.experts:
        sort = (etp - 1) * mf.experts_per_token * h * MOE_SORT_BYTES_PER_HIDDEN
        per_moe_layer = per_moe_layer + sort
    memory_bytes = (
        (ELEMENTWISE_BYTES_PER_HIDDEN + f.cast_bytes_per_hidden) * h / tp * (n + mtp)
        + per_moe_layer / tp * moe_n * ep_load
        + CROSS_ENTROPY_BYTES_PER_LOGIT * mf.vocab / tp * heads
    ) * t
    memory = memory_bytes / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation)
    return gemm, head, attention, memory, moe_n, shape


def last_stage_layers(layers: int, pp: int, layers_stage: int) -> int:
    """Decoder layers on the last pipeline rank: what the other PP-1 ranks of `layers_stage`
    each leave, `max(0, L - (PP-1)·ls)` (Megatron-LM's uneven split: the DeepSeek-V3 layouts of
    Megatron-Bridge give the last stage the remainder beside the MTP module and the loss)."""
    return max(0, layers - (pp - 1) * layers_stage)


@dataclass(frozen=True)
class _Placement:
    """The communication terms of one rank placement (step_time's, per micro-batch and step)."""

    pp_inside: bool
    ep_s: float
    pp_s: float
    t_mb: float
    bubble_s: float
    dp_s: float
    dp_exposed_s: float
    step_s: float
    stage: int = 0  # the slowest stage of `stages` (0: the busiest of the first PP-1; 1: the last)
    fsdp_s: float = 0.0  # FSDP's exposed collectives per micro-batch (fsdp_exposed)
    ep_fill_s: float = 0.0  # per step: EP all-to-all outside the 1F1B overlap (_ep_fill)


def _placed(
    pp_inside: bool,
    layout: Layout,
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
    t: float,
    p_acc: float,
    p_expert: float,
    stages: tuple[tuple[float, float, float], ...],
    m: int,
    optimizer_s: float,
    forward_only: bool = False,
    units: tuple[float, ...] = (),
    forward_share: float = 1.0 / TRAINING_TO_FORWARD,
) -> _Placement:
    """EP, PP and DP terms and the step for one placement. pp_inside: the replica TP·CP·PP lies
    in one scale-up domain (PP sends over scale-up; DP·CP reduces over the CP ranks and the
    replicas sharing a domain first); else DP ranks sit next to TP·CP and PP sends go over
    scale-out; the EP group's span either way expert_group_span's. forward_only:
    EP and PP traffic halved (forward only), no DP synchronisation (no gradients). stages:
    (MoE layers, GEMM + head + attention + memory-bound + TP + CP time, compute time: what an
    EP overlap hides behind) of each pipeline stage kind; the slowest sets the micro-batch time
    (the first on a tie). p_expert: the routed experts' share of p_acc, N_e/(TP·PP·EP), whose
    data-parallel peers are the TP·DP·CP/(ETP·EP) ranks holding the same shard
    (_expert_copies_folded).
    units, forward_share: with layout.fsdp, each stage kind's FSDP units (its layers) and the
    forward's share of its compute (_fsdp_placed)."""
    tp, pp, dp, cp, ep, v = layout.tp, layout.pp, layout.dp, layout.cp, layout.ep, layout.vp
    etp = layout.etp
    # the routed tokens an expert TP group works on, per rank: ETP/TP of the TP group's t
    # (sequence parallel: each TP rank dispatches its t/TP tokens; the expert TP group gathers)
    t_e = t * (etp / tp)
    h = mf.hidden
    exposed = 1.0 - f.comm_overlap
    one_way = FORWARD_COMM_SHARE if forward_only else 1.0
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    act_bytes = t * h * ACTIVATION_VALUE_BYTES
    ep_one = 0.0
    if ep > 1 and mf.experts:
        ep_bytes = 4.0 * (ep - 1) / ep * t_e * mf.experts_per_token * h * ACTIVATION_VALUE_BYTES
        span = expert_group_span(tp, cp, ep, etp, pp, pp_inside)
        if not in_one_domain(span, layout.accelerators, f.scale_up_domain):
            # Hierarchical dispatch: once per remote target node over scale-out, then forwarded
            # over scale-up; the two pipeline, the slower one sets the time. The scale-out leg
            # carries the rank's own t/TP tokens (sequence parallel) whatever the expert TP: the
            # flex dispatcher forwards a token to its expert's ETP ranks inside the target node,
            # the all-to-all dispatcher all-gathers over the expert TP group after the
            # all-to-all (review21; t·ETP/TP here had charged that gather at the scale-out rate)
            # the widest group's domains: a group that fits a domain's size but straddles two
            # is over 2, EP128 on whole NVL72 racks over up to 3 (domains_spanned)
            n = domains_spanned(span, layout.accelerators, f.scale_up_domain)
            copies = target_nodes(mf, n) * (n - 1) / n
            out_bytes = 4.0 * copies * (t / tp) * h * ACTIVATION_VALUE_BYTES
            ep_one = max(out_bytes / so, ep_bytes / su)
        else:
            ep_one = ep_bytes / _group_bandwidth(span, layout.accelerators, f)
        ep_one *= ep_load_imbalance(mf, t_e, ep)  # the busiest rank's dispatch and combine
    pp_s = 0.0
    if pp > 1:
        pp_bytes = 2.0 * v * act_bytes / tp
        pp_s = exposed * pp_bytes / (su if pp_inside else so) * one_way
    stage, t_mb, ep_s = 0, -1.0, 0.0
    # a forward-only pass never takes Megatron-Core's combined 1F1B path: nothing overlapped
    overlap = layout.ep_comm_overlap and not forward_only
    kinds_ep: list[tuple[float, float, float]] = []  # (micro-batch time, all-to-all, exposed)
    for i, (moe_n, base_s, compute_s) in enumerate(stages):
        ep_i = 0.0
        if ep_one:
            ep_i = ep_exposed(ep_one * moe_n * one_way, compute_s, overlap)
        kinds_ep.append((base_s + ep_i + pp_s, ep_one * moe_n * one_way, ep_i))
        if base_s + ep_i + pp_s > t_mb:
            stage, t_mb, ep_s = i, base_s + ep_i + pp_s, ep_i
    bubble_s = (pp - 1) / v * t_mb
    ep_fill_s = _ep_fill(layout, kinds_ep, m, t_mb, overlap)
    # Data-parallel gradient reduce-scatter + parameter all-gather, hierarchical.
    dp_s = 0.0
    dp_group = dp * cp  # gradients are reduced over data and context parallel ranks
    # the routed experts' data-parallel group: the TP·DP·CP/(ETP·EP) ranks holding the same
    # expert shard (DP·CP/EP at expert TP = TP)
    expert_group = dp_group * tp // (etp * ep) if p_expert else 1
    if (dp_group > 1 or expert_group > 1) and (layout.fsdp or not forward_only):
        # reduce-scatter of the gradients + all-gather of the updated parameters, each over its
        # group as placed (two levels over its (d, w, u) pieces): the dense parameters over the
        # DP·CP ranks (dp_pieces), the routed experts' over the ranks holding the same experts
        # (expert_dp_pieces)
        domain = f.scale_up_domain
        per_param = run.gradient_bytes + run.param_gather_bytes
        dense_bytes = (p_acc - p_expert) * per_param
        dp_s += hierarchical_exchange_s(
            dense_bytes, dp_pieces(tp, cp, dp, pp, domain, pp_inside), su, so
        )
        if p_expert:
            expert_pieces = expert_dp_pieces(tp, cp, dp, pp, ep, etp, domain, pp_inside)
            dp_s += hierarchical_exchange_s(p_expert * per_param, expert_pieces, su, so)
    if layout.fsdp:
        return _fsdp_placed(
            pp_inside,
            layout,
            f,
            run,
            p_acc,
            p_expert,
            stages,
            m,
            optimizer_s,
            dp_s,
            ep_one,
            pp_s,
            units,
            forward_share,
            forward_only,
            fsdp_end_params(mf, tp),
        )
    # The reduce-scatter of a model chunk starts when its last backward ends: it overlaps the
    # last micro-batch's backward and the pipeline drain; the all-gather the next fill.
    dp_exposed = max(0.0, dp_s - (t_mb + bubble_s))
    step = m * t_mb + bubble_s + ep_fill_s + dp_exposed + optimizer_s
    return _Placement(
        pp_inside, ep_s, pp_s, t_mb, bubble_s, dp_s, dp_exposed, step, stage, ep_fill_s=ep_fill_s
    )


def _ep_fill(
    layout: Layout,
    kinds_ep: list[tuple[float, float, float]],
    m: int,
    t_mb: float,
    overlap: bool,
) -> float:
    """Per step, under the EP overlap (`overlap`: ep_comm_overlap on a training pass; 0
    without it), what the all-to-all outside the steady 1F1B phase adds to the step beyond
    `m · t_mb + bubble` (bubble `(PP-1)/v · t_mb`). kinds_ep: (micro-batch time t_i, the
    micro-batch's all-to-all, its exposed part) of each stage kind of _placed's `stages`; kind
    1 the last rank (PP-1), kind 0 the busiest of the first PP-1 (rank 0's warm-up the longest);
    h_i = all-to-all - exposed, what the steady phase hides a micro-batch.
    A rank's step is its busy time plus its idle time. Busy: `m · t_i` + its own warm-up and
    cool-down chunks' all-to-all, `w_r / v · h_i` (w_r = ep_overlap_chunks). Idle, session
    review22: the last rank waits for the first micro-batch's forward through the PP-1 ranks
    before it and, at the end, for the last backward's drain through them; those are warm-up
    forwards and cool-down backwards, whose all-to-all nothing hides either, so the last rank's
    idle is `(PP-1)/v · (t_0 + h_0)`, not the bubble's `(PP-1)/v · t_mb`; rank 0's longer
    warm-up (2·(PP-1) chunks more) runs while the pipeline fills, its idle
    `(PP-1)/v · max(0, t_0 - h_0)`. The step: the larger of
    `m·t_1 + w_{PP-1}/v · h_1 + (PP-1)/v · (t_0 + h_0)` and
    `m·t_0 + w_0/v · h_0 + (PP-1)/v · max(0, t_0 - h_0)`, each exact for equal stages (then
    `m·t + (PP-1)/v · t + PP · h`: the last rank's (v-1)·PP + 1 chunks and the PP-1 fill
    chunks, v·PP chunks of 1/v of a micro-batch's all-to-all). Checked against an event-level
    replay of Megatron-Core's interleaved order (tests/test_review22.py): within 1% of the
    replayed step on equal and unequal stages where the session-dsv3scale form, the busiest
    rank's own chunks without the fill's, was off by up to (PP-1)/v · h either way. Without
    pipelining the first forward and the last backward run alone: `h / v` (v = 1)."""
    if not overlap or not kinds_ep:
        return 0.0
    pp, v = layout.pp, max(1, layout.vp)
    base = m * t_mb
    if pp <= 1:
        busiest = base
        for t_i, ep_full, ep_i in kinds_ep:
            chunks = ep_overlap_chunks(1, v, m, 0)
            busiest = max(busiest, m * t_i + ep_outside_overlap(ep_full, ep_i, chunks, v))
        return busiest - base
    t0, full0, exp0 = kinds_ep[0]
    t1, full1, exp1 = kinds_ep[-1]
    h0, h1 = max(0.0, full0 - exp0), max(0.0, full1 - exp1)
    w_last = ep_overlap_chunks(pp, v, m, pp - 1)
    w_first = ep_overlap_chunks(pp, v, m, 0)
    last = m * t1 + w_last / v * h1 + (pp - 1) / v * (t0 + h0)
    first = m * t0 + w_first / v * h0 + (pp - 1) / v * max(0.0, t0 - h0)
    return max(0.0, max(last, first) - base - (pp - 1) / v * t_mb)


def _fsdp_placed(
    pp_inside: bool,
    layout: Layout,
    f: TrainFigures,
    run: RunFigures,
    p_acc: float,
    p_expert: float,
    stages: tuple[tuple[float, float, float], ...],
    m: int,
    optimizer_s: float,
    exchange_s: float,
    ep_one: float,
    pp_s: float,
    units: tuple[float, ...],
    forward_share: float,
    forward_only: bool,
    p_end: float = 0.0,
) -> _Placement:
    """_placed's micro-batch time and step under FSDP (layout.fsdp = F, a valid group:
    fsdp_problem). Fully sharded (F = DP·CP): `exchange_s` is _placed's hierarchical DP exchange
    time of the p_acc parameters at (bytes(grad) + bytes(param gather)) each (the dense
    parameters over DP·CP, the routed experts over their own group), and a unit's all-gather
    moves its p_acc/n parameters at the gather precision, its reduce-scatter at the
    gradient's, over the same rings. Hybrid (F < DP·CP, dense): the same hierarchical ring over
    the F ranks of a shard group (k of them a domain: the DP ranks of a domain, F/k domains),
    and once a step the replicas all-reduce their gradient shards, `2·(R-1)/R · p_acc/F ·
    bytes(grad)` over R = DP·CP/F replicas (over scale-out when the job leaves the domain),
    overlapped with the last micro-batch and the drain as the ZeRO-1 exchange. Each
    collective costs `ring_latency_s` more (twice with routed experts: their group's
    collective beside the dense one's). The end units (`p_end` parameters each,
    fsdp_end_params: the embedding on the first stage, the head on the last, both at PP 1) move
    over the dense ring with one latency, and the layers' units the rest, `(p_acc - 2·p_end/PP)
    / n` each (p_acc spreads the two ends over the PP stages). Each stage kind's micro-batch
    time gains fsdp_exposed; `step = m · t_mb + bubble + exposed all-reduce + optimizer`; dp_s:
    the step's FSDP collective time (+ the all-reduce)."""
    tp, pp, dp, cp, v = layout.tp, layout.pp, layout.dp, layout.cp, layout.vp
    dp_group = dp * cp
    group = layout.fsdp
    pieces = dp_pieces(tp, cp, dp, pp, f.scale_up_domain, pp_inside, group)
    domains = pieces[2]
    alpha = ring_latency_s(group, domains) * (2 if p_expert else 1)
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    # the dense ring's time per byte of a message (the end units', the hybrid group's)
    ring_per_byte = hierarchical_exchange_s(1.0, pieces, su, so)
    if group == dp_group:
        # the bandwidth time of all p_acc parameters at one byte each
        per_byte = exchange_s / (run.gradient_bytes + run.param_gather_bytes)
    else:
        per_byte = ring_per_byte * p_acc
    # the layers' share: less the two end units p_acc spreads over the PP stages
    per_byte -= ring_per_byte * 2.0 * p_end / pp
    alpha_end = ring_latency_s(group, domains)
    end = (
        (alpha_end + ring_per_byte * p_end * run.param_gather_bytes),
        (alpha_end + ring_per_byte * p_end * run.gradient_bytes),
    )
    none = (0.0, 0.0)
    stage, t_mb, ep_s, fsdp_s, busy = 0, -1.0, 0.0, 0.0, 0.0
    overlap = layout.ep_comm_overlap and not forward_only  # as _placed
    kinds_ep: list[tuple[float, float, float]] = []  # as _placed
    one_way = FORWARD_COMM_SHARE if forward_only else 1.0
    for i, (moe_n, base_s, compute_s) in enumerate(stages):
        n = max(1.0, units[i] if i < len(units) else 1.0)
        gather = alpha + per_byte * run.param_gather_bytes / n
        scatter = alpha + per_byte * run.gradient_bytes / n
        # the embedding on the first stage kind, the head on the last (both at PP 1); with
        # embedding_loss_in_pp_split at PP > 2 the first kind is a middle stage (the first holds
        # one layer fewer beside the embedding, step_time's n_first), which holds no embedding
        middle = layout.embedding_loss_in_pp_split and pp > 2
        emb = end if p_end and ((i == 0 and not middle) or pp == 1) else none
        head = end if p_end and i == 1 else none
        f_i = fsdp_exposed(gather, scatter, compute_s, forward_share, n, emb, head)
        ep_i = 0.0
        if ep_one:
            ep_i = ep_exposed(ep_one * moe_n * one_way, compute_s, overlap)
        kinds_ep.append((base_s + ep_i + pp_s + f_i, ep_one * moe_n * one_way, ep_i))
        if base_s + ep_i + pp_s + f_i > t_mb:
            stage, t_mb, ep_s, fsdp_s = i, base_s + ep_i + pp_s + f_i, ep_i, f_i
            ends = [x for x, on in ((emb, emb[0] > 0), (head, head[0] > 0)) if on]
            busy = n * (gather if forward_only else 2.0 * gather + scatter)
            busy += sum(x[0] if forward_only else x[0] + x[1] for x in ends)
    bubble_s = (pp - 1) / v * t_mb
    ep_fill_s = _ep_fill(layout, kinds_ep, m, t_mb, overlap)
    replicas = dp_group // group
    reduce_s = 0.0
    if replicas > 1 and not forward_only:
        span = tp * dp * cp * (pp if pp_inside else 1)
        shard_bytes = p_acc / group * run.gradient_bytes
        bw = _group_bandwidth(span, layout.accelerators, f)
        reduce_s = 2.0 * (replicas - 1) / replicas * shard_bytes / bw
    exposed = max(0.0, reduce_s - (t_mb + bubble_s))
    step = m * t_mb + bubble_s + ep_fill_s + exposed + optimizer_s
    return _Placement(
        pp_inside,
        ep_s,
        pp_s,
        t_mb,
        bubble_s,
        m * busy + reduce_s,
        exposed,
        step,
        stage,
        fsdp_s,
        ep_fill_s,
    )


def step_time(
    layout: Layout,
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
    recompute: float | None = None,
    forward_only: bool = False,
) -> StepTime:
    """Step time of `layout` (module docstring). `recompute` None = the least that fits.

    forward_only: a forward pass over the batch on the same layout (an RL stack's log-prob pass:
    no backward, no recomputation, no gradients, no optimizer step), the step's terms at their
    forward share: GEMM, attention and memory-bound traffic x 1/TRAINING_TO_FORWARD (2N of 6N;
    ELEMENTWISE/cast bytes count the backward as twice the forward), TP, EP and PP traffic x
    FORWARD_COMM_SHARE (1/2: the forward's all-gathers/reduce-scatters, dispatch/combine and
    activation sends, not the backward's), CP x 1/3 (K and V forward of K, V and their
    gradients); `(m + (PP-1)/v) · t_mb`, no DP synchronisation, no optimizer. Memory: the
    training state as held, plus each in-flight micro-batch's layer inputs only.

    A layout on `domain_ranks` of each scale-up domain's accelerators is placed on domains of
    that many ranks (the rest idle)."""
    if layout.domain_ranks and layout.domain_ranks != f.scale_up_domain:
        f = replace(f, scale_up_domain=layout.domain_ranks)
    tp, pp, dp, cp, ep, v, mb = (
        layout.tp,
        layout.pp,
        layout.dp,
        layout.cp,
        layout.ep,
        layout.vp,
        layout.micro_batch,
    )
    s = run.sequence_tokens
    m = whole_micro_batches(run, dp, mb)
    t = mb * s / cp  # tokens per micro-batch per accelerator
    h = mf.hidden
    # With the embedding and the loss counted in the pipeline split (PP > 1): L + 2 slots.
    split = layout.embedding_loss_in_pp_split and pp > 1
    slots = mf.layers + (2 if split else 0)
    layers_stage = math.ceil(slots / (pp * v)) * v
    # Parameters held per accelerator.
    expert = mf.expert_params
    dense = mf.params - expert
    # The routed experts split over ETP·PP·EP ranks (expert TP, 0 = TP: each expert's weights
    # over ETP ranks, the experts over EP groups of them).
    etp = layout.etp
    p_expert = expert / (etp * pp * ep)
    p_acc = dense / (tp * pp) + p_expert
    # The distributed optimizer's shard: the dense parameters' over the DP·CP ranks, the routed
    # experts' over the TP·DP·CP/(ETP·EP) ranks holding the same expert shard (their
    # data-parallel group).
    p_shard = optimizer_shard(p_acc - p_expert, p_expert, dp * cp, ep, etp / tp)
    # Memory.
    replicated_b = run.param_gather_bytes + run.gradient_bytes
    optimizer_b = max(0.0, run.bytes_per_param - WEIGHT_VALUE_BYTES - run.gradient_bytes)
    state = p_acc * replicated_b + p_shard * optimizer_b
    if layout.fsdp:  # weights and gradients sharded too (over the FSDP group), a layer a unit
        p_shard = optimizer_shard(p_acc - p_expert, p_expert, layout.fsdp, ep, etp / tp)
        # the embedding and the head units of their own (fsdp_end_params): the first stage
        # holds the embedding, the head too at PP 1; the layers' units the rest
        p_end = fsdp_end_params(mf, tp)
        p_unit = (p_acc - 2.0 * p_end / pp) / max(1, layers_stage)
        state = fsdp_state_bytes(p_shard, p_unit, run, p_end * (2.0 if pp == 1 else 1.0))
    # Micro-batches whose activations the first stage holds: PP with 1F1B; interleaving adds
    # (PP-1)/(PP·v) of a stage per warm-up (Korthikanti et al. 2022, section 4.2.3).
    in_flight = min(m, pp) * (1 + (pp - 1) / (pp * v) if v > 1 else 1.0) if pp > 1 else 1.0
    held_layers = layers_stage * in_flight
    if split:
        # The first virtual stage of the first rank holds the embedding in one layer's slot:
        # one layer fewer in each of its forwards in flight, v·f_pp - (v-1)·min(m, PP) of the
        # v·f_pp stage-chunk forwards held (interleaved 1F1B runs PP micro-batches through each
        # virtual stage in turn; 2·PP - 1 of them the first virtual stage's when m >= PP, all
        # f_pp without interleaving).
        held_layers -= v * in_flight - (v - 1) * min(m, pp)
    act_tokens = held_layers * t * h / tp
    modules = layout.recompute_modules
    freed = selective_freed_bytes_per_hidden(modules, mf, f)
    full_act = act_tokens * (f.activation_bytes_per_hidden - freed)
    ckpt_act = act_tokens * CHECKPOINT_BYTES_PER_HIDDEN
    if forward_only:
        r = 1.0  # memory: no activations kept for a backward, the layer inputs at most
    elif recompute is None:
        room = f.usable_hbm_bytes - state
        if room >= full_act:
            r = 0.0
        elif room <= ckpt_act:
            r = 1.0
        else:
            need = (full_act - room) / (full_act - ckpt_act)
            r = min(1.0, math.ceil(need * RECOMPUTE_STEPS - 1e-9) / RECOMPUTE_STEPS)
    else:
        r = recompute
    memory = state + full_act * (1 - r) + ckpt_act * r
    # Compute per micro-batch on the busiest of the first PP-1 stages (ls layers) and on the
    # last (the remainder, the MTP modules, the output heads and the loss); the slower sets t_mb.
    extra = 1.0 + r / 3.0  # recomputing a layer repeats its forward (2N of 6N)
    head_share = 1.0
    if forward_only:
        extra = 1.0 / TRAINING_TO_FORWARD  # the forward's share of a step without recomputation
        head_share = 1.0 / TRAINING_TO_FORWARD
    shape_dense = dense_gemm_shape(t, tp, mf, f)
    shape_exp = 1.0
    # the routed tokens one expert TP group works on, per rank (sequence parallel: t/TP a rank,
    # gathered over the ETP ranks): t·ETP/TP
    t_e = t * (etp / tp)
    ep_load = ep_load_imbalance(mf, t_e, ep)
    gemm_load = ep_load
    if mf.experts:
        gemm_load = expert_gemm_load(layout.expert_capacity_factor, ep_load)
        # rows per local expert: the routed mean, or the padded buffer's (the GEMM runs over
        # all of them, at that M's shape): t·k·ETP·EP/(TP·E). The expert TP splits the FFN
        # width (expert_width_shape at expert_ffn/ETP), not the hidden side (fc1's K and fc2's N
        # are the whole hidden whatever the split), so the hidden factor keeps the layers'
        # hidden/TP convention.
        rows = gemm_load if gemm_load != ep_load else 1.0
        tokens_per_expert = t * mf.experts_per_token * ep * (etp / tp) / mf.experts * rows
        shape_exp = expert_gemm_shape(
            tokens_per_expert, h / tp, mf, etp, f, layout.fused_grouped_gemm
        )
    n_last = max(0, last_stage_layers(slots, pp, layers_stage) - (1 if split else 0))  # loss slot
    # the busiest of the first PP-1 stages: a middle one, or the first (one layer fewer) at PP2
    n_first = layers_stage - (1 if split and pp == 2 else 0)
    heads = 1 + mf.mtp_layers if mf.vocab else 0
    exposed = 1.0 - f.comm_overlap
    act_bytes = t * h * ACTIVATION_VALUE_BYTES
    kinds = []  # per stage kind: (gemm, head, attention, memory, tp, cp, moe layers, shape, layers)
    for n, mtp, nh in ((n_first, 0, 0), (n_last, mf.mtp_layers, heads)):
        gemm_i, head_i, attn_i, mem_i, moe_i, shape_i = stage_terms(
            n,
            mtp,
            nh,
            t,
            tp,
            extra,
            head_share,
            mf,
            f,
            shape_dense,
            shape_exp,
            ep_load,
            gemm_load,
            etp,
        )
        if forward_only:
            mem_i /= TRAINING_TO_FORWARD
        # selective recomputation on the layers not fully recomputed (none forward only)
        sel_tp = sel_cp = sel_ep = 0.0
        if modules and not forward_only and r < 1.0:
            sel_g, sel_a, sel_m, sel_tp, sel_cp, sel_ep = (
                (1.0 - r) * x
                for x in selective_recompute_terms(
                    modules,
                    n,
                    mtp,
                    moe_i,
                    t,
                    tp,
                    etp,
                    mf,
                    f,
                    shape_dense,
                    shape_exp,
                    ep_load,
                    gemm_load,
                )
            )
            gemm_i, attn_i, mem_i = gemm_i + sel_g, attn_i + sel_a, mem_i + sel_m
        tp_i = 0.0
        if tp > 1:
            tp_bytes = 8.0 * (tp - 1) / tp * act_bytes * (n + mtp)
            # the MoE layers' FFN half, carried by the all-to-all term (moe_tp_bytes_removed)
            tp_bytes -= moe_tp_bytes_removed(mf, tp, etp) * act_bytes * moe_i
            tp_bytes += sel_tp * act_bytes
            tp_full = tp_bytes / _group_bandwidth(tp, layout.accelerators, f)
            if forward_only:
                tp_full *= FORWARD_COMM_SHARE
            tp_i = tp_exposed(tp_full, gemm_i + head_i, exposed, layout.tp_comm_overlap)
        cp_i = 0.0
        if cp > 1:
            cp_layers = n + mtp + sel_cp
            cp_bytes = 3.0 * (cp - 1) * t * 2 * mf.kv_dim / tp * ACTIVATION_VALUE_BYTES * cp_layers
            if forward_only:
                cp_bytes /= 3.0
            cp_i = max(0.0, cp_bytes / _group_bandwidth(tp * cp, layout.accelerators, f) - attn_i)
        # the all-to-all passes count in MoE layers (moe's recomputation repeats the forward's)
        kinds.append((gemm_i, head_i, attn_i, mem_i, tp_i, cp_i, moe_i + sel_ep, shape_i, n + mtp))
    optimizer_s = (
        2.0 * run.bytes_per_param * p_shard / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation)
    )
    if forward_only:
        optimizer_s = 0.0
    stages = tuple(
        (k[6], k[0] + k[1] + k[2] + k[3] + k[4] + k[5], k[0] + k[1] + k[2] + k[3]) for k in kinds
    )
    # Rank placement (TP innermost, then CP): DP ranks fill the scale-up domain next and PP
    # stages lie in different domains, or, when a whole model-parallel replica TP·CP·PP fits in
    # one domain, PP stages share it and DP runs across domains; the faster is kept (DP first
    # on a tie).
    args = (t, p_acc, p_expert, stages, m, optimizer_s, forward_only)
    # FSDP units: a stage kind's layers; the forward's share of their compute, 1/(3·(1 + r/3))
    fsdp_args: dict[str, Any] = {}
    if layout.fsdp:
        fsdp_args = {
            "units": tuple(float(k[8]) for k in kinds),
            "forward_share": 1.0 if forward_only else 1.0 / (TRAINING_TO_FORWARD * extra),
        }
    placed = _placed(False, layout, mf, f, run, *args, **fsdp_args)
    if pp > 1 and in_one_domain(tp * cp * pp, layout.accelerators, f.scale_up_domain):
        inside = _placed(True, layout, mf, f, run, *args, **fsdp_args)
        if inside.step_s < placed.step_s:
            placed = inside
    ep_s, pp_s, t_mb, bubble_s = placed.ep_s, placed.pp_s, placed.t_mb, placed.bubble_s
    dp_s, dp_exposed, step = placed.dp_s, placed.dp_exposed_s, placed.step_s
    gemm_s, head_s, attention_s, memory_s, tp_s, cp_s, _, shape, stage_n = kinds[placed.stage]
    tokens_per_s = m * mb * s * dp / step
    model_flops = TRAINING_FLOPS_PER_PARAM * mf.active + (
        TRAINING_TO_FORWARD * mf.attention_fwd_per_token_causal
    )
    if forward_only:
        model_flops /= TRAINING_TO_FORWARD  # 2·N_a + A(S/2)
    g = layout.accelerators
    return StepTime(
        straddle_note=_straddle_note(layout, mf, f, placed.pp_inside),
        layout=layout,
        micro_batches=m,
        batch_tokens=m * mb * s * dp,
        asked_batch_tokens=run.global_batch_tokens,
        recompute=r,
        gemm_s=gemm_s,
        attention_s=attention_s,
        memory_s=memory_s,
        tp_s=tp_s,
        cp_s=cp_s,
        ep_s=ep_s,
        pp_s=pp_s,
        micro_batch_s=t_mb,
        bubble_s=bubble_s,
        bubble_share=(pp - 1) / (v * m + pp - 1),
        pp_in_scale_up=placed.pp_inside,
        dp_s=dp_s,
        dp_exposed_s=dp_exposed,
        optimizer_s=optimizer_s,
        step_s=step,
        memory_bytes=memory,
        usable_bytes=f.usable_hbm_bytes,
        tokens_per_s=tokens_per_s,
        model_flops_per_token=model_flops,
        mfu=model_flops * tokens_per_s / (g * f.peak_flops),
        gemm_shape=shape,
        head_s=head_s,
        last_stage=placed.stage == 1,
        stage_layers=stage_n,
        fsdp_s=placed.fsdp_s,
        ep_fill_s=placed.ep_fill_s,
        state_bytes=state,
        params_per_acc=p_acc,
        replicated_bytes_per_param=replicated_b,
        optimizer_params=p_shard,
        optimizer_bytes_per_param=optimizer_b,
        held_layers=held_layers,
        act_elements_per_layer=t * h / tp,
        act_bytes_per_hidden=f.activation_bytes_per_hidden - freed,
        checkpoint_bytes_per_hidden=CHECKPOINT_BYTES_PER_HIDDEN,
    )


@lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    """Divisors of n in increasing order (trial division up to sqrt(n))."""
    small, large = [], []
    d = 1
    while d * d <= n:
        if n % d == 0:
            small.append(d)
            if d * d != n:
                large.append(n // d)
        d += 1
    return tuple(small + large[::-1])


def candidate_layouts(
    accelerators: int, mf: ModelFigures, f: TrainFigures, run: RunFigures
) -> list[Layout]:
    """Layouts of exactly `accelerators`: TP divides the heads and the scale-up domain; CP keeps
    >= MIN_TOKENS_PER_CP_RANK tokens per rank; PP <= layers; at least one micro-batch per DP
    rank; interleaving needs PP > 1, m >= PP and >= 1 layer per virtual stage; EP (MoE only)
    divides DP and the expert count; expert TP (MoE only) TP or, at TP > 1, 1; each with
    DP·CP > 1 also fully sharded (fsdp = DP·CP) after itself, unless the job may span sites
    (run.multi_site: multi_site_fsdp_problem)."""
    out: list[Layout] = []
    sequences = run.global_batch_tokens / run.sequence_tokens
    tps = [t for t in _divisors(f.scale_up_domain) if mf.heads % t == 0 and accelerators % t == 0]
    for tp in tps:
        for cp in CONTEXT_PARALLEL:
            if run.sequence_tokens / cp < MIN_TOKENS_PER_CP_RANK and cp > 1:
                continue
            if accelerators % (tp * cp):
                continue
            rest = accelerators // (tp * cp)
            for pp in _divisors(rest):
                if pp > mf.layers:
                    continue
                dp = rest // pp
                twins = dp * cp > 1 and not run.multi_site
                eps = [1]
                etps = [0]  # expert TP = TP; and 1 for a MoE model at TP > 1 (SEARCHED_EXPERT_TP)
                if mf.experts:
                    eps = [e for e in _divisors(dp) if mf.experts % e == 0]
                    etps = [0, 1] if tp > 1 else [0]
                for mb in MICRO_BATCH_SEQUENCES:
                    m = sequences / (dp * mb)
                    if m < 1:
                        continue
                    for v in VIRTUAL_STAGES:
                        if v > 1 and (pp == 1 or m < pp or mf.layers < pp * v):
                            continue
                        for ep in eps:
                            for etp in etps:
                                for fs in (0, dp * cp) if twins else (0,):
                                    out.append(
                                        Layout(tp, pp, dp, cp, ep, v, mb, expert_tp=etp, fsdp=fs)
                                    )
    return out


# Candidates re-evaluated one by one (step_time) after the vectorised ranking: the best and
# runner-ups are always the scalar model's figures; a margin beyond the runner-ups shown absorbs
# rounding differences between the two evaluations.
RESCORED = 6


def _per_domain(dp_group: int, tp: int, domain: int) -> int:
    """DP ranks per scale-up domain as the published runs sit (a job that is not whole domains,
    in_one_domain; a replica inside a domain at pp_inside): the largest divisor of dp_group <=
    domain // tp."""
    if tp > domain:
        return 1
    k = max(1, min(dp_group, domain // tp))
    while dp_group % k:
        k -= 1
    return k


@lru_cache(maxsize=4096)
def strided_pieces(stride: int, count: int, ranks: int, domain: int) -> tuple[int, int, int]:
    """(d, w, u) of the groups of `count` ranks `stride` apart that tile a job of `ranks`
    consecutive ranks on scale-up domains of D = `domain` (rank r in domain r // D): the groups
    `{b·L + t + stride·j : j < count}`, L = stride·count, t < stride, b < ranks / L (Megatron-
    Core's order tp-cp-dp-pp: a DP·CP group is TP apart in its stage's L = TP·CP·DP ranks; an
    expert DP group ETP·EP apart in the same L). Over all groups, as serving_physics.group_pieces:
    d the fewest ranks a group has in one domain, w the most a group that spans domains has in
    one (count when none spans), u the most domains a group touches.

    Where a group starts in its domain, r = (b·L + t) mod D, decides its pieces (each of the
    D residues at most once): the first domain holds `n_0 = min(count, ceil((D - r)/stride))`;
    a group that does not end there touches `u = floor((r + stride·(count - 1)) / D) + 1`
    domains, the q-th in between holding `ceil(((q+1)·D - r)/stride) - ceil((q·D - r)/stride)`
    (floor or ceil of D/stride, periodic in q with period stride / gcd(stride, D)), the last the
    rest. A stride of D or more puts every rank of a group in a domain of its own: (1, 1,
    count). One domain (ranks <= D): (count, count, 1).

    TP4 x PP2 x DP117 on 936 GB200 ranks (13 NVL72 racks): L = 468; stage 0's groups start at
    r = 0..3 (18 ranks in each of racks 0-5, then 9 in rack 6: ranks 432-467), stage 1's at
    468 mod 72 = 36..39 (9 in rack 6: ranks 468-503, then 18 in each of racks 7-12): (9, 18, 7).
    An aligned layout, L a multiple of D or a divisor of it, has every group on D/stride ranks
    of each domain or inside one: TP8 x DP9 (x PP2) on 72-GPU racks (9, 9, 1)."""
    if count <= 1:
        return 1, 1, 1
    if ranks <= domain:
        return count, count, 1
    if stride >= domain:
        return 1, 1, count
    block = stride * count
    period = domain // math.gcd(block, domain)
    bases = {(b * block) % domain for b in range(min(ranks // block, period))}
    fewest, widest, most = count, 1, 1
    if domain % stride == 0:
        # a block starts at a multiple of stride, and so does every domain: the groups at
        # t = 1..stride-1 hold t = 0's ranks shifted by t inside the same domains, and a domain
        # between the first and the last holds n = D/stride; from r = a·stride the first holds
        # n - a, the last the rest
        n = domain // stride
        for r in bases:
            first = min(count, n - r // stride)
            if first == count:
                continue
            spans = (r + stride * (count - 1)) // domain + 1
            last = count - first - (spans - 2) * n
            inner = (n,) if spans > 2 else ()
            fewest, widest = min(fewest, first, last, *inner), max(widest, first, last, *inner)
            most = max(most, spans)
        return fewest, widest if most > 1 else count, most
    starts = sorted({(base + t) % domain for base in bases for t in range(stride)})
    inner_period = stride // math.gcd(stride, domain)
    for r in starts:
        first = min(count, -(-(domain - r) // stride))
        if first == count:
            continue
        last_q = (r + stride * (count - 1)) // domain
        pieces = [first, count + (-(last_q * domain - r) // stride)]
        for q in range(1, min(last_q, 1 + inner_period)):
            pieces.append(-(-((q + 1) * domain - r) // stride) + (-(q * domain - r) // stride))
        fewest, widest = min(fewest, *pieces), max(widest, *pieces)
        most = max(most, last_q + 1)
    return fewest, widest if most > 1 else count, most


def dp_pieces(
    tp: int, cp: int, dp: int, pp: int, domain: int, pp_inside: bool = False, group: int = 0
) -> tuple[int, int, int]:
    """(d, w, u) of the dense gradients' data-parallel group (strided_pieces' figures): the
    DP·CP ranks of a replica's position, or with `group` = F the F of them a hybrid FSDP shard
    group holds (consecutive in the DP·CP order), on a job of TP·CP·DP·PP ranks over scale-up
    domains of D = `domain`.

      DP beside TP·CP (rank = tp + TP·cp + TP·CP·dp + TP·CP·DP·pp, Megatron-Core's order) on
      whole domains (ranks a multiple of D, more than one): the group's ranks lie TP apart,
      strided_pieces(TP, F, ranks, D), its pieces uneven where the stage's TP·CP·DP ranks do
      not tile whole domains (TP4 x PP2 x DP117 on 936 NVL72 ranks: (9, 18, 7));
      PP inside a domain (pp_inside: a replica of TP·CP·PP ranks inside one, in_one_domain),
      or a job that is not whole domains (placed as the published runs sit, whole groups a
      domain): k, k, F/k with k = CP · (the largest divisor of F/CP <= D/(TP·CP·PP)) at
      pp_inside (whole replicas a domain), else the largest divisor of F <= D/TP (_per_domain).

    A two-level exchange of B bytes (hierarchical_exchange_s) waits for the domain with the most
    ranks inside, `(w-1)/w · B` over scale-up, and for a rank of the fewest, holding the largest
    shard, `(u-1)/u · B/d` across the u domains over its NIC. Worked, TP4 x PP2 x DP117 on 936
    GB200 ranks (13 NVL72 racks, DP beside TP): the stage of 468 ranks puts each group's 117
    ranks 4 apart as 18 in each of 6 racks and 9 in a seventh (stage 1 starts mid-rack, at
    rank 468 = 6·72 + 36), (9, 18, 7): `17/18 · B` over NVLink, `6/7 · B/9` = 0.0952·B over
    the NIC. Before session 32 every job took the last rule, k of the group's ranks in each of
    F/k domains: 13 in each of 9 racks (18 racks for the two stages, of 13), `12/13 · B` and
    `8/9 · B/13` = 0.0684·B over the NIC, 1.39x (39%) low."""
    g = group or dp * cp
    ranks = tp * cp * dp * pp
    if pp_inside:
        k = cp * _per_domain(g // cp, tp * cp * pp, domain)
    elif ranks > domain and ranks % domain == 0:
        return strided_pieces(tp, g, ranks, domain)
    else:
        k = _per_domain(g, tp, domain)
    return k, k, g // k


def expert_dp_pieces(
    tp: int, cp: int, dp: int, pp: int, ep: int, etp: int, domain: int, pp_inside: bool = False
) -> tuple[int, int, int]:
    """(d, w, u) of the routed experts' data-parallel group, the E = TP·DP·CP/(ETP·EP) ranks
    holding the same expert shard: in Megatron-Core's expert order (ETP innermost, then EP, then
    the expert DP, no CP axis: parallel_state.py @d98e8a64) ETP·EP apart in a stage's TP·CP·DP
    ranks, so on whole domains with DP beside TP·CP strided_pieces(ETP·EP, E, ranks, D); at
    pp_inside or on a job that is not whole domains k, k, E/k with k = the copies a domain holds
    (_expert_copies_folded of the stage ranks a domain holds, TP · dp_pieces' k)."""
    group = tp * dp * cp // (etp * ep)
    if group <= 1:
        # one copy of each shard (or, ETP·EP above a stage's ranks, a group of none: the former
        # rule's nothing to exchange, kept): no exchange
        return 1, 1, 1
    ranks = tp * cp * dp * pp
    if not pp_inside and ranks > domain and ranks % domain == 0:
        return strided_pieces(etp * ep, group, ranks, domain)
    dense, _, _ = dp_pieces(tp, cp, dp, pp, domain, pp_inside)
    k = _expert_copies_folded(group, dense * tp, etp * ep)
    return k, k, group // k


def hierarchical_exchange_s(nbytes: Any, pieces: tuple[Any, Any, Any], su: float, so: float) -> Any:
    """A two-level reduce-scatter (or all-gather) of `nbytes` over a group of (d, w, u) pieces
    (dp_pieces), s: inside each domain over its ranks, the domain with the most, w, the slowest,
    `(w-1)/w · nbytes / su`; then across the u domains a rank of the fewest, d, with the largest
    shard, `(u-1)/u · nbytes / d / so` (su, so: the scale-up and scale-out bytes/s). Scalars or
    numpy arrays alike."""
    d, w, u = pieces
    inner = (w - 1) / w * nbytes / su
    outer = (u - 1) / u * nbytes / d / so
    return inner + outer


def _candidate_arrays(
    accelerators: int, mf: ModelFigures, f: TrainFigures, run: RunFigures
) -> dict[str, np.ndarray]:
    """candidate_layouts as integer arrays: the same candidates in the same order (TP, CP, PP,
    then micro-batch, interleaving and EP), built on arrays."""
    sequences = run.global_batch_tokens / run.sequence_tokens
    base: list[tuple[int, int, int, int, int]] = []  # tp, pp, dp, cp, ep
    tps = [t for t in _divisors(f.scale_up_domain) if mf.heads % t == 0 and accelerators % t == 0]
    for tp in tps:
        for cp in CONTEXT_PARALLEL:
            if run.sequence_tokens / cp < MIN_TOKENS_PER_CP_RANK and cp > 1:
                continue
            if accelerators % (tp * cp):
                continue
            rest = accelerators // (tp * cp)
            for pp in _divisors(rest):
                if pp > mf.layers:
                    continue
                dp = rest // pp
                base.append((tp, pp, dp, cp, 0))
    names = ("tp", "pp", "dp", "cp", "ep", "vp", "mb", "etp", "fsdp")
    if not base:
        return {n: np.zeros(0, dtype=np.int64) for n in names}
    b = np.array(base, dtype=np.int64)
    # (mb, v, ep) blocks per base row, micro-batch outermost, as candidate_layouts loops
    combos = [(mb, v) for mb in MICRO_BATCH_SEQUENCES for v in VIRTUAL_STAGES]
    mbv = np.array(combos, dtype=np.int64)
    rows = np.repeat(b, len(combos), axis=0)
    mb_col = np.tile(mbv[:, 0], len(base))
    v_col = np.tile(mbv[:, 1], len(base))
    pp_col, dp_col = rows[:, 1], rows[:, 2]
    m = sequences / (dp_col * mb_col)
    keep = (m >= 1) & ~((v_col > 1) & ((pp_col == 1) | (m < pp_col) | (mf.layers < pp_col * v_col)))
    rows, mb_col, v_col = rows[keep], mb_col[keep], v_col[keep]
    if mf.experts:
        reps = [[e for e in _divisors(int(d)) if mf.experts % e == 0] for d in rows[:, 2].tolist()]
        counts = np.array([len(e) for e in reps], dtype=np.int64)
        ep_col = np.array([e for es in reps for e in es], dtype=np.int64)
        rows, mb_col, v_col = (np.repeat(x, counts, axis=0) for x in (rows, mb_col, v_col))
        # expert TP innermost: 0 (= TP), then 1 when TP > 1
        n_etp = np.where(rows[:, 0] > 1, 2, 1)
        rows, mb_col, v_col, ep_col = (
            np.repeat(x, n_etp, axis=0) for x in (rows, mb_col, v_col, ep_col)
        )
        starts = np.cumsum(n_etp) - n_etp
        etp_col = np.arange(len(rows), dtype=np.int64) - np.repeat(starts, n_etp)
    else:
        ep_col = np.ones(len(rows), dtype=np.int64)
        etp_col = np.zeros(len(rows), dtype=np.int64)
    # each candidate with DP·CP > 1 followed by its fully sharded twin (fsdp = DP·CP), none
    # for a job that may span sites (multi_site_fsdp_problem)
    group = rows[:, 2] * rows[:, 3]
    twins = np.where((group > 1) & (not run.multi_site), 2, 1)
    starts = np.cumsum(twins) - twins
    second = np.arange(int(twins.sum())) - np.repeat(starts, twins) == 1
    rows, mb_col, v_col, ep_col, etp_col = (
        np.repeat(x, twins, axis=0) for x in (rows, mb_col, v_col, ep_col, etp_col)
    )
    return {
        "tp": rows[:, 0],
        "pp": rows[:, 1],
        "dp": rows[:, 2],
        "cp": rows[:, 3],
        "ep": ep_col,
        "vp": v_col,
        "mb": mb_col,
        "etp": etp_col,
        "fsdp": np.where(second, rows[:, 2] * rows[:, 3], 0),
    }


def candidate_layout(c: dict[str, np.ndarray], i: int, **recipe: Any) -> Layout:
    """Candidate `i` of the arrays `c` (_candidate_arrays) as a Layout, with any recipe inputs
    (`recompute_modules`, ...) the arrays do not carry."""
    return Layout(
        int(c["tp"][i]),
        int(c["pp"][i]),
        int(c["dp"][i]),
        int(c["cp"][i]),
        int(c["ep"][i]),
        int(c["vp"][i]),
        int(c["mb"][i]),
        expert_tp=int(c["etp"][i]),
        fsdp=int(c["fsdp"][i]),
        **recipe,
    )


def _expert_tp_column(c: dict[str, np.ndarray]) -> np.ndarray:
    """The candidates' expert TP: their `etp` column (0: TP), TP where there is none."""
    etp = c.get("etp")
    if etp is None:
        return c["tp"]
    out: np.ndarray = np.where(etp > 0, etp, c["tp"])
    return out


def step_times_vector(
    c: dict[str, np.ndarray],
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
    modules: tuple[str, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """(tokens/s, memory bytes) of every candidate: step_time's formulas on arrays (the
    recomputed share is the least that fits, as step_time's default; candidates leave the
    recipe inputs tp_comm_overlap, ep_comm_overlap and embedding_loss_in_pp_split off; their
    `etp` column is the expert TP, 0 = TP, as Layout.expert_tp; `modules`: every candidate's
    selective recomputation, Layout.recompute_modules: the search leaves it empty; the fully
    sharded twins, c["fsdp"] = DP·CP, as _fsdp_placed)."""
    tp, pp, dp, cp, ep, v, mb = (
        c[k].astype(float) for k in ("tp", "pp", "dp", "cp", "ep", "vp", "mb")
    )
    s = run.sequence_tokens
    m = np.ceil(run.global_batch_tokens / (s * dp * mb) - WHOLE_TOL)
    t = mb * s / cp
    h = mf.hidden
    layers_stage = np.ceil(mf.layers / (pp * v)) * v
    expert = mf.expert_params
    dense = mf.params - expert
    etp = _expert_tp_column(c).astype(float)
    share = etp / tp
    p_expert = expert / (etp * pp * ep)
    p_acc = dense / (tp * pp) + p_expert
    p_shard = optimizer_shard(dense / (tp * pp), p_expert, dp * cp, ep, share)
    replicated_b = run.param_gather_bytes + run.gradient_bytes
    optimizer_b = max(0.0, run.bytes_per_param - WEIGHT_VALUE_BYTES - run.gradient_bytes)
    state = p_acc * replicated_b + p_shard * optimizer_b
    fsdp = c["fsdp"] > 0 if "fsdp" in c else np.zeros(len(tp), dtype=bool)
    # fully sharded candidates (fsdp = DP·CP: p_shard is already over their group), the
    # embedding and head units of their own (step_time's)
    p_end = fsdp_end_params(mf, 1) / tp
    p_unit = (p_acc - 2.0 * p_end / pp) / np.maximum(1.0, layers_stage)
    ends_held = p_end * np.where(pp == 1, 2.0, 1.0)
    state = np.where(fsdp, fsdp_state_bytes(p_shard, p_unit, run, ends_held), state)
    interleave = np.where(v > 1, 1 + (pp - 1) / (pp * v), 1.0)
    in_flight = np.where(pp > 1, np.minimum(m, pp) * interleave, 1.0)
    act_tokens = layers_stage * in_flight * t * h / tp
    freed = selective_freed_bytes_per_hidden(modules, mf, f)
    full_act = act_tokens * (f.activation_bytes_per_hidden - freed)
    ckpt_act = act_tokens * CHECKPOINT_BYTES_PER_HIDDEN
    room = f.usable_hbm_bytes - state
    with np.errstate(divide="ignore", invalid="ignore"):
        need = (full_act - room) / (full_act - ckpt_act)
    partial = np.minimum(1.0, np.ceil(need * RECOMPUTE_STEPS - 1e-9) / RECOMPUTE_STEPS)
    r = np.where(room >= full_act, 0.0, np.where(room <= ckpt_act, 1.0, partial))
    memory = state + full_act * (1 - r) + ckpt_act * r
    extra = 1.0 + r / 3.0
    shape_dense = dense_gemm_shape(t, tp, mf, f)
    shape_exp = 1.0
    if mf.experts:
        tokens_per_expert = t * mf.experts_per_token * ep * share / mf.experts
        shape_exp = expert_gemm_shape(tokens_per_expert, h / tp, mf, etp, f, False)
    ep_load = ep_load_imbalance(mf, t * share, ep)
    removed = np.zeros_like(t)
    if mf.experts and not mf.shared_experts:
        removed = 4.0 * (tp - 1) / tp  # moe_tp_bytes_removed (0 at TP 1)
    n_last = np.maximum(0.0, mf.layers - (pp - 1) * layers_stage)
    heads = 1 + mf.mtp_layers if mf.vocab else 0
    exposed = 1.0 - f.comm_overlap
    act_bytes = t * h * ACTIVATION_VALUE_BYTES
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency

    ranks = c["tp"] * c["pp"] * c["dp"] * c["cp"]

    def group_bw(span: np.ndarray) -> np.ndarray:
        return np.where(in_one_domain(span, ranks, f.scale_up_domain), su, so)

    stages = []
    for nl, mtp, nh in ((layers_stage, 0, 0), (n_last, mf.mtp_layers, heads)):
        gemm_i, head_i, attn_i, mem_i, moe_i, _ = stage_terms(
            nl,
            mtp,
            nh,
            t,
            tp,
            extra,
            1.0,
            mf,
            f,
            shape_dense,
            shape_exp,
            ep_load,
            etp=etp,
        )
        sel_tp = sel_cp = sel_ep = 0.0 * t
        if modules:
            sel_g, sel_a, sel_m, sel_tp, sel_cp, sel_ep = (
                (1.0 - r) * x
                for x in selective_recompute_terms(
                    modules, nl, mtp, moe_i, t, tp, etp, mf, f, shape_dense, shape_exp, ep_load
                )
            )
            gemm_i, attn_i, mem_i = gemm_i + sel_g, attn_i + sel_a, mem_i + sel_m
        tp_bytes = 8.0 * (tp - 1) / tp * act_bytes * (nl + mtp) - removed * act_bytes * moe_i
        tp_bytes = tp_bytes + sel_tp * act_bytes
        tp_i = np.where(tp > 1, exposed * tp_bytes / group_bw(tp), 0.0)
        cp_layers = nl + mtp + sel_cp
        cp_bytes = 3.0 * (cp - 1) * t * 2 * mf.kv_dim / tp * ACTIVATION_VALUE_BYTES * cp_layers
        cp_i = np.where(cp > 1, np.maximum(0.0, cp_bytes / group_bw(tp * cp) - attn_i), 0.0)
        base_i = gemm_i + head_i + attn_i + mem_i + tp_i + cp_i
        compute_i = gemm_i + head_i + attn_i + mem_i
        stages.append(
            (
                np.broadcast_to(moe_i + sel_ep, t.shape),
                np.broadcast_to(base_i, t.shape),
                np.broadcast_to(compute_i, t.shape),
                np.broadcast_to(nl + mtp, t.shape),
            )
        )
    optimizer_s = (
        2.0 * run.bytes_per_param * p_shard / (f.hbm_bytes_per_s * f.memory_bandwidth_utilisation)
    )
    # Both rank placements in one pass: every candidate with DP inside the domain, then those
    # whose replica TP·CP·PP fits the domain with PP inside; the faster kept (step_time's rule).
    n = len(t)
    fits_domain = np.flatnonzero(
        (c["pp"] > 1) & in_one_domain(c["tp"] * c["cp"] * c["pp"], ranks, f.scale_up_domain)
    )
    rows = np.concatenate([np.arange(n), fits_domain])
    inside = np.arange(len(rows)) >= n
    share = 1.0 / (TRAINING_TO_FORWARD * extra)  # the forward's share of a layer's compute
    per = (t, p_acc, p_expert, m, optimizer_s, share)
    t_, p_, pe_, m_, opt_, share_ = (np.broadcast_to(x, t.shape)[rows] for x in per)
    stages_ = tuple(tuple(x[rows] for x in stage) for stage in stages)
    both = _placed_vector(
        inside,
        {k: v[rows] for k, v in c.items()},
        mf,
        f,
        run,
        t_,
        p_,
        pe_,
        stages_,
        m_,
        opt_,
        share_,
    )
    step = both[:n].copy()
    step[fits_domain] = np.minimum(step[fits_domain], both[n:])
    return m * mb * s * dp / step, memory


def _placed_vector(
    pp_inside: np.ndarray,
    c: dict[str, np.ndarray],
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
    t: np.ndarray,
    p_acc: np.ndarray,
    p_expert: np.ndarray,
    stages: tuple[tuple[np.ndarray, ...], ...],
    m: np.ndarray,
    optimizer_s: np.ndarray,
    forward_share: np.ndarray | None = None,
) -> np.ndarray:
    """_placed's step on arrays, for every candidate of `c`, each with its placement
    (pp_inside: only for candidates whose replica TP·CP·PP fits the domain); stages: (MoE
    layers, base time, compute time, layers) of each stage kind, the slowest sets the
    micro-batch time; p_expert: the routed experts' share of p_acc (exchanged over their own DP
    group, _expert_copies_folded); the fully sharded candidates (c["fsdp"] > 0) as
    _fsdp_placed, their units a stage's layers, forward_share of its compute forward."""
    tp, pp, dp, cp, ep, v = (c[k].astype(float) for k in ("tp", "pp", "dp", "cp", "ep", "vp"))
    etp_i = _expert_tp_column(c)
    etp = etp_i.astype(float)
    t_e = t * (etp / tp)  # the routed tokens of an expert TP group, per rank
    h = mf.hidden
    exposed = 1.0 - f.comm_overlap
    su = f.scale_up_bytes_per_s * f.collective_efficiency
    so = f.scale_out_bytes_per_s * f.collective_efficiency
    act_bytes = t * h * ACTIVATION_VALUE_BYTES

    ranks = tp * pp * dp * cp
    ep_one = np.zeros_like(t)
    if mf.experts:
        ep_bytes = 4.0 * (ep - 1) / ep * t_e * mf.experts_per_token * h * ACTIVATION_VALUE_BYTES
        # ETP·EP consecutive ranks at any expert TP (expert_group_span)
        span = etp * ep * np.where(pp_inside & (etp * ep > tp * cp), pp, 1.0)
        inside = in_one_domain(span, ranks, f.scale_up_domain)
        # the widest group's domains (domains_spanned, as _placed)
        n = np.where(inside, 1.0, domains_spanned(span, ranks, f.scale_up_domain))
        if mf.max_nodes_per_token:
            distinct = np.minimum(min(mf.max_nodes_per_token, mf.experts_per_token), n)
        else:
            distinct = n * (1.0 - (1.0 - 1.0 / n) ** mf.experts_per_token)
        # the scale-out leg: a rank's own t/TP tokens whatever the expert TP (_placed)
        out_bytes = 4.0 * distinct * (n - 1) / n * (t / tp) * h * ACTIVATION_VALUE_BYTES
        hierarchical = np.maximum(out_bytes / so, ep_bytes / su)
        ep_one = np.where(inside, ep_bytes / su, hierarchical)
        # search candidates leave ep_comm_overlap off: the all-to-all fully exposed
        ep_one = np.where(ep > 1, ep_one * ep_load_imbalance(mf, t_e, ep), 0.0)
    pp_s = np.where(pp > 1, exposed * (2.0 * v * act_bytes / tp) / np.where(pp_inside, su, so), 0.0)
    t_mb = np.full_like(t, -1.0)
    for moe_i, base_i, *_ in stages:
        t_mb = np.maximum(t_mb, base_i + ep_one * moe_i + pp_s)
    bubble_s = (pp - 1) / v * t_mb
    dp_group = c["dp"] * c["cp"]
    # each group's (d, w, u) pieces as placed (dp_pieces, expert_dp_pieces), once per distinct
    # (placement, TP, CP, DP, PP[, EP, ETP])
    domain = f.scale_up_domain
    cols = [pp_inside.astype(np.int64), c["tp"], c["cp"], c["dp"], c["pp"]]
    keys, inverse = _unique_rows(cols)
    per_key = [
        dp_pieces(tp_, cp_, dp_, pp_, domain, bool(in_))
        for in_, tp_, cp_, dp_, pp_ in keys.tolist()
    ]
    pieces = np.array(per_key, dtype=float)[inverse]
    dense_pieces = (pieces[:, 0], pieces[:, 1], pieces[:, 2])
    per_param = run.gradient_bytes + run.param_gather_bytes
    dense_bytes = (p_acc - p_expert) * per_param
    dp_s = hierarchical_exchange_s(dense_bytes, dense_pieces, su, so)
    if mf.experts:
        # the routed experts over the TP·DP·CP/(ETP·EP) ranks holding the same expert shard
        # (Megatron-Core's expert rank order at any expert TP)
        ekeys, einv = _unique_rows([*cols, c["ep"], etp_i])
        per_ekey = [
            expert_dp_pieces(tp_, cp_, dp_, pp_, ep_, etp_, domain, bool(in_))
            for in_, tp_, cp_, dp_, pp_, ep_, etp_ in ekeys.tolist()
        ]
        e_pieces = np.array(per_ekey, dtype=float)[einv]
        expert_bytes = p_expert * per_param
        dp_s = dp_s + hierarchical_exchange_s(
            expert_bytes, (e_pieces[:, 0], e_pieces[:, 1], e_pieces[:, 2]), su, so
        )
    dp_exposed = np.maximum(0.0, dp_s - (t_mb + bubble_s))
    step: np.ndarray = m * t_mb + bubble_s + dp_exposed + optimizer_s
    fsdp = c["fsdp"] > 0 if "fsdp" in c else np.zeros(len(t), dtype=bool)
    if fsdp.any():
        # fully sharded: each stage's layers gather and reduce-scatter over the DP·CP ring
        # (dp_s's, per parameter byte) with NCCL's ring latency, exposed as fsdp_exposed
        assert forward_share is not None
        inter = np.maximum(0.0, dense_pieces[2] - 1.0)
        alpha_end = RING_BASE_S + (dp_group - 1 - inter) * RING_STEP_SCALE_UP_S
        alpha_end = alpha_end + inter * RING_STEP_SCALE_OUT_S
        alpha = alpha_end * (2.0 if mf.experts else 1.0)
        # the end units (fsdp_end_params) over the dense ring; the layers the rest of p_acc
        ring_per_byte = hierarchical_exchange_s(1.0, dense_pieces, su, so)
        p_end = fsdp_end_params(mf, 1) / tp
        per_byte = dp_s / (run.gradient_bytes + run.param_gather_bytes)
        per_byte = per_byte - ring_per_byte * 2.0 * p_end / pp
        g_end = alpha_end + ring_per_byte * p_end * run.param_gather_bytes
        r_end = alpha_end + ring_per_byte * p_end * run.gradient_bytes
        has_end = p_end > 0
        t_fs = np.full_like(t, -1.0)
        for i, (moe_i, base_i, compute_i, layers_i) in enumerate(stages):
            n = np.maximum(1.0, layers_i)
            g = alpha + per_byte * run.param_gather_bytes / n
            r = alpha + per_byte * run.gradient_bytes / n
            cf = forward_share * compute_i / n
            cb = compute_i / n - cf
            exposed = g + (n - 1.0) * (np.maximum(0.0, g - cf) + np.maximum(0.0, g + r - cb)) + r
            # fsdp_exposed's end units: the embedding on the first stage kind (both at PP 1),
            # the head on the last
            emb = has_end & ((pp == 1) | (i == 0))
            exposed = exposed + np.where(emb, g_end + r_end, 0.0)
            if i == 1:
                head = np.maximum(0.0, g_end - cf) + np.maximum(0.0, g + r + r_end - cb)
                exposed = exposed + np.where(has_end, head - np.maximum(0.0, g + r - cb), 0.0)
            t_fs = np.maximum(t_fs, base_i + ep_one * moe_i + pp_s + exposed)
        step = np.where(fsdp, m * t_fs + (pp - 1) / v * t_fs + optimizer_s, step)
    return step


def _unique_rows(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the non-negative integer columns `cols` (one array each, as rows)
    and each row's index among them, as np.unique(axis=0, return_inverse=True) gives them: the
    columns packed into one integer, mixed radix (each column's max + 1), a 1-D unique being
    several times faster; the 2-D unique where the radices' product nears 2^63."""
    radices = [int(col.max(initial=0)) + 1 for col in cols]
    if math.prod(radices) >= 2**62:
        rows, inverse = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        return rows, inverse.reshape(-1)
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for col, radix in zip(cols, radices, strict=True):
        key = key * radix + col
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return np.stack(cols, axis=1)[first], inverse.reshape(-1)


class _Searches(dict[tuple[int, ModelFigures, TrainFigures, RunFigures], "Searched"]):
    """_search's answers by (accelerators, model, system figures, run), as its lru_cache held
    them: a pure function of frozen figures, so nothing here can go stale; the oldest let go
    past SEARCHES_KEPT. `cache_clear` as an lru_cache's (bench/layout_search.py clears it)."""

    def cache_clear(self) -> None:
        self.clear()


Searched = tuple[tuple["StepTime", ...], int]
SEARCHES_KEPT = 4096
_SEARCHES = _Searches()


def _search(accelerators: int, mf: ModelFigures, f: TrainFigures, run: RunFigures) -> Searched:
    """(the fastest fitting layouts, best first, as step_time gives them; how many fit).

    Every candidate is ranked on arrays (step_times_vector); the RESCORED fastest that fit are
    evaluated again by step_time and sorted by (-tokens/s, PP, TP): the same choice as sorting
    every candidate's step_time (tests/test_demand_training.py checks it by brute force)."""
    return search_sizes((accelerators,), mf, f, run)[0]


def search_sizes(
    sizes: tuple[int, ...], mf: ModelFigures, f: TrainFigures, run: RunFigures
) -> list[Searched]:
    """`_search` of each job size of `sizes`, the sizes not searched before ranked together in
    one step_times_vector pass over all their candidates: its formulas are element by element
    (the same floats whatever else is in the arrays), and a pass costs per numpy call as much
    as per candidate at ~1,300 candidates a size (a job and its rounded-down sizes,
    planner/demand/pretrain.py training_throughput: 152 passes at 30 sites, bench/bench_lp.py)."""
    missing = [a for a in dict.fromkeys(sizes) if (a, mf, f, run) not in _SEARCHES]
    if missing:
        arrays = [_candidate_arrays(a, mf, f, run) for a in missing]
        counts = [len(c["tp"]) for c in arrays]
        joined = {k: np.concatenate([c[k] for c in arrays]) for k in arrays[0]}
        rate, memory = (
            step_times_vector(joined, mf, f, run) if sum(counts) else (np.zeros(0), np.zeros(0))
        )
        start = 0
        for a, c, n in zip(missing, arrays, counts, strict=True):
            stop = start + n
            found = _shortlist(c, rate[start:stop], memory[start:stop], mf, f, run)
            if len(_SEARCHES) >= SEARCHES_KEPT:
                del _SEARCHES[next(iter(_SEARCHES))]
            _SEARCHES[(a, mf, f, run)] = found
            start = stop
    return [_SEARCHES[(a, mf, f, run)] for a in sizes]


def _shortlist(
    c: dict[str, np.ndarray],
    rate: np.ndarray,
    memory: np.ndarray,
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
) -> Searched:
    """One size's answer from its candidates' array figures: the RESCORED fastest that fit,
    evaluated again by step_time, sorted; and how many fit."""
    if not len(c["tp"]):
        return (), 0
    fits = memory <= f.usable_hbm_bytes
    idx = np.flatnonzero(fits)
    order = idx[np.lexsort((c["tp"][idx], c["pp"][idx], -rate[idx]))][:RESCORED]
    steps = [
        step_time(
            candidate_layout(c, int(i)),
            mf,
            f,
            run,
        )
        for i in order
    ]
    fitting = [st for st in steps if st.fits]
    fitting.sort(key=lambda st: (-st.tokens_per_s, st.layout.pp, st.layout.tp))
    return tuple(fitting), len(idx)


def search_all(
    accelerators: int, mf: ModelFigures, f: TrainFigures, run: RunFigures
) -> list[StepTime]:
    """Brute force: step_time of every candidate, the fitting ones sorted as _search sorts."""
    steps = [step_time(lay, mf, f, run) for lay in candidate_layouts(accelerators, mf, f, run)]
    fitting = [st for st in steps if st.fits]
    fitting.sort(key=lambda st: (-st.tokens_per_s, st.layout.pp, st.layout.tp))
    return fitting


@dataclass(frozen=True)
class LayoutChoice:
    """The fastest layout that fits, and the runner-ups."""

    best: StepTime | None
    runner_ups: list[StepTime] = field(default_factory=list)
    candidates: int = 0
    reason: str = ""


def best_layout(
    accelerators: int,
    mf: ModelFigures,
    f: TrainFigures,
    run: RunFigures,
    pinned: Layout | None = None,
    runner_ups: int = 3,
    recompute: float | None = None,
) -> LayoutChoice:
    """Highest tokens/s layout of exactly `accelerators` that fits memory (or `pinned`, with
    `recompute` of its layers recomputed; None: the least that fits)."""
    if pinned is not None:
        lay = pinned
        if lay.accelerators != accelerators:
            lay = replace(lay, dp=max(1, accelerators // (lay.tp * lay.pp * lay.cp)))
        bad_ep = (
            expert_parallel_problem(lay, mf.experts)
            or fsdp_problem(lay, mf.experts)
            or multi_site_fsdp_problem(lay, run)
            or recompute_modules_problem(lay.recompute_modules, mf, lay.ep_comm_overlap)
        )
        if bad_ep:
            return LayoutChoice(None, [], 1, f"pinned layout {lay}: {bad_ep}")
        st = step_time(lay, mf, f, run, recompute)
        if not st.fits:
            return LayoutChoice(
                None,
                [],
                1,
                f"pinned layout {lay} needs {st.memory_bytes / 1e9:.0f} GB per accelerator "
                f"> {st.usable_bytes / 1e9:.0f} GB usable even with full recomputation",
            )
        return LayoutChoice(st, [], 1, "pinned")
    fitting, count = _search(accelerators, mf, f, run)
    if not fitting:
        return LayoutChoice(
            None, [], 0, f"no layout of {accelerators} accelerators fits the model in memory"
        )
    return LayoutChoice(fitting[0], list(fitting[1 : 1 + runner_ups]), count, "searched")
