"""Shared first-principles pieces: FLOPs per token, weight bytes, catalog look-ups, unit cost.

SI units throughout: bytes, FLOP, seconds, watts, joules; money in USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from hardware.schema import Accelerator, ModelArch, System

Pricing = Literal["rental", "amortised"]

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
JOULES_PER_KWH = 3.6e6

# FLOPs per parameter per token of a forward pass: one multiply and one add per weight
# (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section 2.1: C_forward ~ 2N).
FORWARD_FLOPS_PER_PARAM = 2.0
# Training = forward (2N) + backward (4N: gradients w.r.t. activations and weights) = 6N
# (Kaplan et al. 2020, section 2.1; Hoffmann et al. 2022 use the same C = 6ND).
TRAINING_FLOPS_PER_PARAM = 6.0
BACKWARD_SHARE_OF_TRAINING = 4.0 / 6.0
# Attention score and value products per token at context L: QK^T and AV each cost
# 2·heads·head_dim·L multiply-adds per layer, 4·heads·head_dim·L together (DESIGN.md).
ATTENTION_FLOPS_FACTOR = 4.0
# Training multiplies forward FLOPs by 3 (backward = 2 x forward), attention included.
TRAINING_TO_FORWARD = TRAINING_FLOPS_PER_PARAM / FORWARD_FLOPS_PER_PARAM

# Default electricity price and PUE for amortised pricing: defaults for a user to replace.
# US industrial average electricity price 2023: 8.06 c/kWh (EIA, Electric Power Monthly).
DEFAULT_ELECTRICITY_USD_PER_KWH = 0.0806
# PUE 1.0 = IT power only; the Uptime Institute's average is ~1.56, new large sites <= 1.3.
DEFAULT_PUE = 1.0


def pue_text(pue: float, option: bool = True) -> str:
    """The PUE an estimate's energy is priced at, and whose it is: at DEFAULT_PUE, IT power
    alone and no site's, while a plan charges its site's (before session 26 the estimate
    printed "PUE 1" and nothing said a plan's energy would be 15-30% higher); `option`: the
    command takes --pue."""
    if pue != DEFAULT_PUE:
        return f"PUE {pue:g} (--pue)"
    return (
        f"PUE {pue:g}, the default: IT power only, not a site's; a plan charges its site's PUE "
        "(1.15-1.3 in the shipped topologies; Uptime Institute: average ~1.56, new large sites "
        "<= 1.3)" + ("; --pue sets one" if option else "")
    )


# Without a scenario an estimate takes a scenario's defaults: no cost of capital (straight-line
# capex, planner/scenario.py economics.cost_of_capital) and no facility charge (a topology
# site's facility_usd_per_kw_month not given).
DEFAULT_COST_OF_CAPITAL = 0.0
DEFAULT_FACILITY_USD_PER_KW_MONTH = 0.0


def weight_bytes(model: ModelArch, precision: str) -> float:
    """Bytes of all weights: params (TOTAL params, all experts for MoE) x bytes per value."""
    return model.params * BYTES_PER_VALUE[precision]


def checkpoint_weight_bytes(model: ModelArch, precision: str) -> float:
    """Bytes the published checkpoint of `precision` loads: the catalog's per-model figure
    (`checkpoints.<precision>.weights`, e.g. Meta's FP8 405B: 496 GB, some layers stay BF16), else
    params x bytes per value."""
    ckpt = model.checkpoints.get(precision)  # type: ignore[call-overload]
    return ckpt.weights_bytes if ckpt is not None else weight_bytes(model, precision)


def dense_precision(model: ModelArch, precision: str) -> str:
    """Precision of every weight but the routed experts (attention, dense layers, shared experts,
    embeddings) in the checkpoint of `precision`: the catalog's
    `checkpoints.<precision>.dense_precision` (an FP4 MoE checkpoint whose attention stays FP8),
    else `precision` itself."""
    ckpt = model.checkpoints.get(precision)  # type: ignore[call-overload]
    if ckpt is None or ckpt.dense_precision is None:
        return precision
    return str(ckpt.dense_precision)


def attention_dims(model: ModelArch) -> tuple[int, int]:
    """(query/key dim, value dim) per head: head_dim and head_dim for GQA/MHA; for MLA
    (qk_nope_head_dim + qk_rope_head_dim, v_head_dim) when the catalog gives the dims
    (DeepSeek-V3: 192, 128), else hidden/heads."""
    if model.mla is not None:
        return model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim, model.mla.v_head_dim
    return model.head_dim, model.head_dim


def attention_flops_per_token(model: ModelArch, context: float) -> float:
    """Forward attention FLOPs for one token attending to `context` tokens, per head and layer
    2·d_qk·c for QK^T and 2·d_v·c for AV, c the tokens the layer attends to:
    2 · heads · (d_qk + d_v) · Σ_layers c (FLOP), Σ_layers c = model.attended_layer_tokens:
    layers · context, or with banded layers (sliding_window: W tokens on L_b layers)
    (layers − L_b) · context + L_b · min(context, W).

    GQA/MHA: d_qk = d_v = head_dim, i.e. 4 · heads · layers · head_dim · context without a
    window. MLA as trained and prefilled (keys and values decompressed from the latent):
    d_qk = 192, d_v = 128 for DeepSeek-V3 (decode uses the absorbed form:
    decode_attention_flops_per_token). A prompt passes its mean context P/2 (prefill): a banded
    layer then attends to min(P/2, W) where the causal mean is W − W²/(2P) (128 vs 126.4 tokens
    for gpt-oss at P = 5,011; causal_attention_flops_per_token is exact)."""
    d_qk, d_v = attention_dims(model)
    return (
        FORWARD_FLOPS_PER_PARAM * model.heads * (d_qk + d_v) * model.attended_layer_tokens(context)
    )


def causal_attention_flops_per_token(model: ModelArch, sequence: float) -> float:
    """Forward attention FLOPs per token of a causal sequence of `sequence` tokens, averaged
    over its positions (training): 2 · heads · (d_qk + d_v) · (full layers · S/2 + banded
    layers · m), m = S/2 when S <= W, else W − W²/(2S) (the mean of min(t, W) over t in [0, S]).
    Equal to attention_flops_per_token(model, S/2) for a model without banded layers."""
    d_qk, d_v = attention_dims(model)
    return (
        FORWARD_FLOPS_PER_PARAM
        * model.heads
        * (d_qk + d_v)
        * model.causal_attended_layer_tokens(sequence)
    )


def decode_attention_flops_per_token(model: ModelArch, context: float) -> float:
    """Attention FLOPs of one decoded token at `context`. GQA: attention_flops_per_token.
    MLA with absorbed weights (DeepSeek-V2 section 2.1.3; the form decode kernels such as FlashMLA
    run): each head's query is projected into the latent space, scores are taken against the
    cached latent + rope key (kv_lora_rank + qk_rope_head_dim) and values read from the latent
    (kv_lora_rank): 2 · heads · layers · (2 · kv_lora_rank + qk_rope_head_dim) · context
    (DeepSeek-V3: 2 · 128 · 61 · 1,088 = 17.0 MFLOP per token of context)."""
    if model.mla is None:
        return attention_flops_per_token(model, context)
    per_head = 2 * model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
    return FORWARD_FLOPS_PER_PARAM * model.heads * per_head * model.attended_layer_tokens(context)


# The MTP module's projection of [hidden; embedding] back to hidden: 2·hidden x hidden parameters
# (DeepSeek-V3 report, section 2.2: M_k in R^{d x 2d}).
MTP_PROJECTION_PER_HIDDEN_SQUARED = 2.0


def mtp_module_params(model: ModelArch) -> tuple[float, float]:
    """(routed expert, other) parameters of the model's MTP modules as a serving engine loads
    them to draft with: each module a decoder layer, a MoE layer in a MoE model (all its routed
    experts, routed_expert_params / moe_layers, and a layer's share of the rest, (params −
    routed_expert_params − 2·V·h) / layers), and its 2·hidden x hidden projection; the embedding
    and output head are the main model's (SGLang python/sglang/srt/models/deepseek_nextn.py
    set_embed_and_head: the draft's embed_tokens and lm_head are replaced by the target's).
    DeepSeek-V3/R1 (mtp_layers 1): 11.27B + 0.35B = 11.63B; with the checkpoint's own copies of
    the embedding and head (2 x 0.93B) 13.5B, the README's "14B MTP module" (685B = 671B + 14B).
    (0, 0) without mtp_layers."""
    n = model.mtp_layers
    if not n:
        return 0.0, 0.0
    embeddings = 2.0 * model.vocab * model.hidden if model.vocab else 0.0
    routed = model.routed_expert_params / model.moe_layers if model.moe_layers else 0.0
    other = (model.params - model.routed_expert_params - embeddings) / model.layers
    other += MTP_PROJECTION_PER_HIDDEN_SQUARED * model.hidden * model.hidden
    return n * routed, n * other


def embedding_params(model: ModelArch) -> float:
    """Parameters of the untied input embedding, vocab x hidden (0 when the catalog gives no
    vocab): counted in active_params, but a token's embedding is a row lookup, not a GEMM."""
    return float(model.vocab * model.hidden) if model.vocab else 0.0


def forward_flops_per_token(model: ModelArch, context: float) -> float:
    """Forward FLOPs of one token at `context`: 2·(N_active − V·h) + attention (FLOP): every
    active parameter a multiply-add but the input embedding's (a lookup); the output head's
    V·h computes the token's logits."""
    return FORWARD_FLOPS_PER_PARAM * (
        model.active - embedding_params(model)
    ) + attention_flops_per_token(model, context)


def prefill_flops_per_token(model: ModelArch, context: float, prompt_tokens: float) -> float:
    """Forward FLOPs of a prompt token in prefill at `context`: forward_flops_per_token less the
    output head, which a prefill runs for the prompt's last token only (the engines compute the
    logits of the position that samples the first output token), spread over the P tokens:
    2·(N_active − 2·V·h) + 2·V·h / P + attention (FLOP)."""
    head = FORWARD_FLOPS_PER_PARAM * embedding_params(model)
    return forward_flops_per_token(model, context) - head + head / max(1.0, prompt_tokens)


@dataclass(frozen=True)
class Hardware:
    """One accelerated system's figures the demand models use."""

    name: str
    system: System
    accelerator: Accelerator
    hbm_usable_fraction: float

    @property
    def accelerators(self) -> int:
        return self.system.accelerators

    def peak(self, precision: str) -> float:
        """Dense peak FLOP/s of ONE accelerator at a precision (0 if unsupported)."""
        return float(self.accelerator.peak_flops.get(precision, 0.0))  # type: ignore[call-overload]

    def sustained_peak(self, precision: str) -> float:
        """FLOP/s of ONE accelerator that its compute terms scale: the dense peak x the
        accelerator's sustained_clock_fraction (its power-limited clock under dense matrix
        load against the clock its efficiency figures hold; 1 on most parts)."""
        return self.peak(precision) * self.accelerator.clock_fraction

    def supports(self, precision: str) -> bool:
        return precision in self.accelerator.peak_flops


def hardware(
    catalog: Catalog, system: str, hbm_usable_fraction: float | None = None
) -> Hardware | None:
    """The system's accelerator and its figures; None for a CPU-only system.

    `hbm_usable_fraction` overrides the catalog's figure (e.g. 1.0 to count all HBM)."""
    sys_ = catalog.system(system)
    acc = catalog.accelerator_of(system)
    if acc is None or sys_.accelerators == 0:
        return None
    assert sys_.hbm_usable_fraction is not None
    return Hardware(
        name=system,
        system=sys_,
        accelerator=acc,
        hbm_usable_fraction=(
            sys_.hbm_usable_fraction if hbm_usable_fraction is None else hbm_usable_fraction
        ),
    )


CPU_ONLY_REASON = "CPU-only system has no accelerators"


@dataclass(frozen=True)
class BoughtUnitHour:
    """What the plan's objective charges one unit bought and kept busy, per hour in service
    (planner/lp/objective.py; planner/explain.py bought_usd_per_s), US$/h by component."""

    capital_usd_per_h: float
    network_storage_usd_per_h: float
    maintenance_usd_per_h: float
    facility_usd_per_h: float
    energy_usd_per_h: float
    crf_per_year: float

    @property
    def total_usd_per_h(self) -> float:
        return (
            self.capital_usd_per_h
            + self.network_storage_usd_per_h
            + self.maintenance_usd_per_h
            + self.facility_usd_per_h
            + self.energy_usd_per_h
        )


def bought_unit_hour(
    system: System,
    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH,
    pue: float = DEFAULT_PUE,
    cost_of_capital: float = DEFAULT_COST_OF_CAPITAL,
    facility_usd_per_kw_month: float = DEFAULT_FACILITY_USD_PER_KW_MONTH,
) -> BoughtUnitHour:
    """One bought unit-hour as the objective charges it:
    capital = capex_usd x CRF / 8,760 h, CRF = r / (1 - (1 + r)^-L) per year (r =
              cost_of_capital, L = lifetime in years; r = 0: 1 / L)
    network_storage = capital x network_storage_capex_fraction
    maintenance = capex_usd x (1 + network_storage_capex_fraction) x
                  maintenance_fraction_per_year / 8,760 h
    facility = facility_usd_per_kw_month x power_w / 1000 / 730 h (a month = a year / 12)
    energy = power_w / 1000 x PUE x electricity_usd_per_kwh
    (a catalog figure not given is not charged)."""
    from planner.lp.objective import (
        S_PER_MONTH,
        S_PER_YEAR,
        capital_recovery_factor,
        maintenance_usd_per_s,
    )

    crf = capital_recovery_factor(cost_of_capital, system.lifetime_s)
    capital_h = system.capex_usd * crf / (S_PER_YEAR / SECONDS_PER_HOUR)
    return BoughtUnitHour(
        capital_usd_per_h=capital_h,
        network_storage_usd_per_h=capital_h * (system.network_storage_capex_fraction or 0.0),
        maintenance_usd_per_h=maintenance_usd_per_s(system) * SECONDS_PER_HOUR,
        facility_usd_per_h=facility_usd_per_kw_month
        * system.power_w
        / 1000.0
        / (S_PER_MONTH / SECONDS_PER_HOUR),
        energy_usd_per_h=system.power_w / 1000.0 * pue * electricity_usd_per_kwh,
        crf_per_year=crf,
    )


def unit_usd_per_hour(
    system: System,
    pricing: Pricing,
    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH,
    pue: float = DEFAULT_PUE,
    cost_of_capital: float = DEFAULT_COST_OF_CAPITAL,
    facility_usd_per_kw_month: float = DEFAULT_FACILITY_USD_PER_KW_MONTH,
) -> float:
    """Cost of one unit-hour (USD/h).

    rental: the catalog's rental_usd_per_hour (energy included by the provider);
    amortised: what a plan charges a bought unit (bought_unit_hour): capital recovery, the
    network/storage share, maintenance, facility and energy at PUE.
    """
    if pricing == "rental":
        return system.rental_usd_per_hour
    if pricing == "amortised":
        return bought_unit_hour(
            system, electricity_usd_per_kwh, pue, cost_of_capital, facility_usd_per_kw_month
        ).total_usd_per_h
    raise ValueError(f"unknown pricing {pricing!r}; use rental or amortised")


def amortised_breakdown(
    name: str,
    system: System,
    electricity_usd_per_kwh: float,
    pue: float,
    cost_of_capital: float,
    facility_usd_per_kw_month: float,
) -> str:
    """The amortised unit-hour's components, each with its figures, for an estimate's notes."""
    h = bought_unit_hour(
        system, electricity_usd_per_kwh, pue, cost_of_capital, facility_usd_per_kw_month
    )
    years = system.lifetime_s / (365 * SECONDS_PER_DAY)
    return (
        f"amortised {name} ${h.total_usd_per_h:,.2f}/h = capital ${h.capital_usd_per_h:,.2f} "
        f"(capex ${system.capex_usd:,.0f} x CRF {h.crf_per_year:.4f}/y at cost of capital "
        f"{cost_of_capital:g}, {years:g} y life) + network/storage "
        f"${h.network_storage_usd_per_h:,.2f} "
        f"(x {system.network_storage_capex_fraction or 0.0:g}) + maintenance "
        f"${h.maintenance_usd_per_h:,.2f} ({system.maintenance_fraction_per_year or 0.0:g} of "
        f"capex with its network/storage a year) + facility ${h.facility_usd_per_h:,.2f} "
        f"(${facility_usd_per_kw_month:g}/kW-month) + energy ${h.energy_usd_per_h:,.2f} "
        f"({system.power_w / 1e3:g} kW x PUE {pue:g} x ${electricity_usd_per_kwh:g}/kWh; "
        f"{pue_text(pue)}); as a plan charges a bought unit (`planner plan --explain`)"
    )


def gb(value: float) -> str:
    """Bytes as decimal GB for derivations."""
    return f"{value / 1e9:,.1f} GB"


# What a plan says of work on a system whose efficiency at the work's precision is an estimate
# (Caveat with the systems estimated_systems names): training's gemm_efficiency, serving's
# compute_utilisation.
ESTIMATED_TRAINING_CAVEAT = (
    "training rates of {} rest on an estimated gemm_efficiency (no calibrated training run of "
    "that accelerator at that precision: hardware/data/accelerators.yaml; `planner sensitivity` "
    "re-plans across its range)"
)
MOE_TRAINING_CAVEAT = (
    "MoE training ({}) by the step model, which NVIDIA's MLPerf Training v6.0 MoE runs exceed by "
    "a per-step cost it does not have: DeepSeek-V3 on 2,048-8,192 GB200 ran 1.25-1.70x slower "
    "than modelled (~1.4 s a step more), on 256-512 GPUs within -9% to +10%, while Megatron-Bridge's "
    "DeepSeek-V3 runs at expert TP 1 are in band (B200 +8%, H100 with its grouped expert GEMMs' "
    "fraction) (planner/calibration/"
    "training.yaml mlperf60-*, mbridge*, docs/models.md): the training capacity may be short by as much, "
    "the more so the fewer micro-batches a step; and a recipe that pads the expert GEMMs to a "
    "static CUDA-graph buffer (gpt-oss-20b's MLPerf configs, 1.5-7x the routed tokens: 1.2-3.4x "
    "slower than unpadded) needs its layout's expert_capacity_factor"
)


# What a plan says of MoE training on an accelerator at a precision the catalog gives no
# training.expert_gemm_fraction for (the routed experts' grouped GEMMs at the dense rate) where a
# calibration row measures what that costs: {(accelerator, precision): text}, `{}` for the
# workloads (moe_unfitted_expert_gemms). tests/test_review33.py recomputes the figures from the
# row. H200 takes H100's training figures (same GH100 die), so it takes the H100 row's caveat.
def _h100_bf16_moe(part: str) -> str:
    return (
        f"MoE training ({{}}) in BF16 on {part}: the catalog gives the GH100 die an "
        "expert_gemm_fraction for FP8 only (fitted on Megatron-Core's grouped expert GEMMs), so "
        "the routed experts' BF16 GEMMs run at the dense rate of their shape, and the one H100 "
        "BF16 MoE calibration row, Megatron-Bridge's gpt-oss-120b on 64 H100 "
        "(planner/calibration/training.yaml mbridge260401-gpt-oss-120b-bf16-h100-64gpu, a known "
        "miss), is priced at 1.42x its measured tokens/s (+41.7%): the training capacity may be "
        "short by as much"
    )


MOE_UNFITTED_EXPERT_GEMM_CAVEATS = {
    ("h100-sxm", "bf16"): _h100_bf16_moe("H100"),
    ("h200-sxm", "bf16"): _h100_bf16_moe("H200 (H100's training figures)"),
}


def moe_unfitted_expert_gemms(
    catalog: Catalog, systems: list[str], precision: str
) -> list[tuple[str, tuple[str, ...]]]:
    """(caveat text, systems) of MOE_UNFITTED_EXPERT_GEMM_CAVEATS for the systems among
    `systems` whose accelerator has an entry at `precision` and still no
    training.expert_gemm_fraction there (a catalog overlay or a later fit giving one ends it)."""
    out: dict[str, list[str]] = {}
    for system in systems:
        name = catalog.system(system).accelerator
        acc = catalog.accelerator_of(system)
        text = MOE_UNFITTED_EXPERT_GEMM_CAVEATS.get((name or "", precision))
        if acc is None or text is None:
            continue
        if acc.training is not None and precision in acc.training.expert_gemm_fraction:
            continue
        out.setdefault(text, []).append(system)
    return [(text, tuple(names)) for text, names in out.items()]


ESTIMATED_SERVING_CAVEAT = (
    "serving rates of {} rest on an estimated compute_utilisation (no calibrated serving run of "
    "that accelerator at that precision: hardware/data/accelerators.yaml; `planner sensitivity` "
    "re-plans across its range)"
)


def calibration_limits(
    catalog: Catalog, systems: list[str], block: str = "serving"
) -> list[tuple[str, tuple[str, ...]]]:
    """(caveat text, systems) for each `block` (serving or training) calibration_limit of the
    accelerators of `systems` (hardware/data/accelerators.yaml): "serving and generation rates
    of {}: <limit>" or "training rates of {}: <limit>", the `{}` for the workloads a plan runs
    there (Caveat), naming the accelerator's systems among them."""
    lead = (
        "serving and generation rates of {}: " if block == "serving" else "training rates of {}: "
    )
    out: dict[str, list[str]] = {}
    for system in systems:
        acc = catalog.accelerator_of(system)
        figures = getattr(acc, block, None) if acc is not None else None
        limit = figures.calibration_limit if figures is not None else None
        if limit:
            text = lead + limit.replace("{", "{{").replace("}", "}}")
            out.setdefault(text, []).append(system)
    return [(text, tuple(names)) for text, names in out.items()]


def serving_limits(catalog: Catalog, systems: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """calibration_limits of the serving figures (serving and RL generation caveats)."""
    return calibration_limits(catalog, systems, "serving")


def estimated_systems(
    catalog: Catalog, systems: list[str], block: str, figure: str, precision: str
) -> tuple[str, ...]:
    """The systems among `systems` whose accelerator's `block.figure` (training.gemm_efficiency,
    serving.compute_utilisation) at `precision` is an estimate: its catalog source says so (no
    calibrated run at that precision), as a plan states them (Caveat)."""
    out = []
    for system in systems:
        acc = catalog.accelerator_of(system)
        figures = getattr(acc, block, None) if acc is not None else None
        if acc is None or figures is None or precision not in getattr(figures, figure):
            continue
        if "estimate" in acc.source_of(f"{block}.{figure}.{precision}").lower():
            out.append(system)
    return tuple(out)
