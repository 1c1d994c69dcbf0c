"""Pretraining: FLOPs, time, memory of the model state, parallel layout, energy and cost.

Formulas (SI units; see docs/models.md):
  D      = tokens, or tokens_per_param · params_total
  FLOPs  = 6 · N_active · D  [+ 3 · 4·heads·layers·head_dim·(seq/2) · D with include_attention,
           i.e. Kaplan et al.'s 6·layers·d_attn·n_ctx per token]
  rate   = accelerators · FLOPs per token · tokens/s per accelerator · goodput   FLOP/s per unit;
           tokens/s from the step time of the fastest parallel layout that fits
           (planner/demand/training.py), goodput given or derived from the system's failure
           physics (planner/demand/goodput.py)
  time   = FLOPs / (units · rate)
  state  = bytes_per_param · params_total          (weights, grads, optimizer state)
  energy = units · power_w · PUE · time
  cost   = units · unit_usd_per_hour · time / 3600
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from fleetcore.schema import BYTES_PER_VALUE, MAX_UNITS
from hardware.catalog import Catalog, overlay_source_head
from hardware.schema import ModelArch
from planner.demand.common import (
    CPU_ONLY_REASON,
    DEFAULT_COST_OF_CAPITAL,
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_FACILITY_USD_PER_KW_MONTH,
    DEFAULT_PUE,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    TRAINING_FLOPS_PER_PARAM,
    TRAINING_TO_FORWARD,
    Hardware,
    Pricing,
    amortised_breakdown,
    causal_attention_flops_per_token,
    gb,
    hardware,
    unit_usd_per_hour,
)
from planner.demand.goodput import Goodput, derive_goodput
from planner.demand.training import (
    Layout,
    LayoutChoice,
    ModelFigures,
    RunFigures,
    StepTime,
    TrainFigures,
    best_layout,
    fsdp_caveat,
    in_one_domain,
    model_figures,
    search_sizes,
    train_figures,
)
from planner.demand.types import Rate
from planner.kinds.pretrain import LayoutSpec, PretrainSpec


def pretrain_tokens(spec: PretrainSpec, arch: ModelArch) -> float:
    """D: the spec's tokens, or tokens_per_param x TOTAL params."""
    if spec.tokens is not None:
        return spec.tokens
    assert spec.tokens_per_param is not None
    return spec.tokens_per_param * arch.params


def pretrain_flops(spec: PretrainSpec, arch: ModelArch) -> tuple[float, float]:
    """(6·N_active·D, attention term) in FLOP. The attention term is 0 unless include_attention:
    3 (forward + backward) x 4·heads·layers·head_dim x mean causal context seq/2, per token
    (banded layers at their causal mean: causal_attention_flops_per_token)."""
    d = pretrain_tokens(spec, arch)
    dense = TRAINING_FLOPS_PER_PARAM * arch.active * d
    attention = (
        TRAINING_TO_FORWARD * causal_attention_flops_per_token(arch, spec.sequence_length) * d
        if spec.include_attention
        else 0.0
    )
    return dense, attention


# A job may round its size down to a multiple of 2^k units (k <= this) for a better layout.
IDLE_ROUNDING_STEPS = 6


@dataclass(frozen=True)
class TrainingThroughput:
    """A training job's derived throughput on one system: layout, step, goodput, rate."""

    accelerators: int  # job size the layout was chosen for
    choice: LayoutChoice | None
    goodput: Goodput | None  # None when given by the spec
    goodput_value: float
    work_flops_per_token: float  # what the LP counts per token
    rate_per_unit_s: float  # work FLOP/s per unit, goodput included
    reason: str

    @property
    def step(self) -> StepTime | None:
        return self.choice.best if self.choice is not None else None


def _rate_zero(hw: Hardware | None, precision: str) -> str | None:
    """Why a system cannot train at `precision`, or None."""
    if hw is None:
        return CPU_ONLY_REASON
    if not hw.supports(precision):
        return (
            f"{hw.system.accelerator} does not support {precision} "
            f"(supports {', '.join(hw.accelerator.peak_flops)})"
        )
    if train_figures(hw, precision) is None:
        return (
            f"no training figures for {hw.system.accelerator} at {precision} "
            f"(catalog `training:` blocks of the accelerator and system)"
        )
    return None


def training_throughput(
    hw: Hardware | None,
    arch: ModelArch,
    precision: str,
    *,
    sequence_tokens: int,
    global_batch_tokens: float,
    bytes_per_param: float,
    gradient_precision: str,
    work_flops_per_token: float,
    accelerators: int,
    goodput: float | None = None,
    pinned: Layout | None = None,
    recompute: float | None = None,
    attention_tokens: int | None = None,
    mtp: bool = True,
    multi_site: bool = False,
) -> TrainingThroughput:
    """Fastest layout of `accelerators` that fits (or `pinned`, `recompute` of its layers
    recomputed, None: the least that fits; attention over sequences of `attention_tokens` when
    packed sequences hold several samples, default sequence_tokens; mtp: train the model's
    multi-token-prediction modules, as its pretraining did; multi_site: the job may be split
    over sites, its FSDP group hybrid inside a site, RunFigures.multi_site), its goodput (given, or derived
    from the system's `reliability:`), and the LP rate
    `accelerators per unit x work_flops_per_token x tokens/s per accelerator x goodput`."""
    why = _rate_zero(hw, precision)
    if why is not None:
        return TrainingThroughput(accelerators, None, None, 0.0, work_flops_per_token, 0.0, why)
    assert hw is not None
    if accelerators > MAX_UNITS * hw.accelerators:
        # a job the solver could never hold (a window or count in the wrong unit): the layout
        # search would factor its size by trial division for hours
        why = (
            f"a job of {accelerators:.3g} accelerators is more than {MAX_UNITS:.0e} units of "
            f"{hw.accelerators} accelerators, the most the solver plans with"
        )
        return TrainingThroughput(accelerators, None, None, 0.0, work_flops_per_token, 0.0, why)
    f = train_figures(hw, precision)
    assert f is not None
    mf = model_figures(arch, attention_tokens or sequence_tokens, mtp)
    run = RunFigures(
        sequence_tokens,
        global_batch_tokens,
        bytes_per_param,
        BYTES_PER_VALUE[gradient_precision],
        multi_site=multi_site,
    )
    # Awkward sizes (prime factors) have poor layouts: also try the job rounded down to
    # multiples of 2, 4, ..., 64 units and keep the fastest whole job; the rest idle.
    unit = hw.accelerators
    rounded = [accelerators // (unit << k) * (unit << k) for k in range(1, IDLE_ROUNDING_STEPS + 1)]
    rounded = rounded[: next((i for i, used in enumerate(rounded) if used <= 0), len(rounded))]
    if pinned is None:
        search_sizes((accelerators, *rounded), mf, f, run)  # every size's search in one pass
    choice = best_layout(accelerators, mf, f, run, pinned, recompute=recompute)
    if pinned is None:
        for used in rounded:
            other = best_layout(used, mf, f, run)
            if other.best is not None and (
                choice.best is None or other.best.tokens_per_s > choice.best.tokens_per_s
            ):
                choice = other
    partial = _on_part_of_each_domain(accelerators, mf, f, run) if pinned is None else None
    if partial is not None and (
        choice.best is None or partial.best.tokens_per_s > choice.best.tokens_per_s  # type: ignore[union-attr]
    ):
        choice = partial
    if choice.best is None:
        return TrainingThroughput(
            accelerators, choice, None, 0.0, work_flops_per_token, 0.0, choice.reason
        )
    g = choice.best.layout.accelerators
    state = bytes_per_param * arch.params
    derived: Goodput | None = None
    if goodput is None:
        rel = hw.system.reliability
        if rel is None:
            goodput_value, gp_text = 1.0, "goodput 1 (no reliability figures for this system)"
        else:
            derived = derive_goodput(rel, g, state)
            goodput_value, gp_text = derived.goodput, f"derived goodput {derived.goodput:.3f}"
    else:
        goodput_value, gp_text = goodput, f"goodput {goodput:g} (given)"
    # tokens/s per accelerator of the whole job, idle ones included
    per_acc = choice.best.tokens_per_s / max(accelerators, g)
    rate = hw.accelerators * work_flops_per_token * per_acc * goodput_value
    idle = f" ({accelerators - g:,} of {accelerators:,} idle)" if accelerators > g else ""
    reason = (
        f"{choice.best.layout} on {g:,} accelerators{idle}{choice.best.placement_note()}"
        f"{choice.best.batch_note()}: "
        f"MFU {choice.best.mfu:.1%} of "
        f"{hw.peak(precision) / 1e12:,.0f} TFLOPS ({per_acc:,.4g} tokens/s each), {gp_text}"
        + (f"; {expert_gemm_note(hw, precision, choice.best.layout)}" if mf.experts else "")
    )
    return TrainingThroughput(
        max(accelerators, g), choice, derived, goodput_value, work_flops_per_token, rate, reason
    )


def expert_gemm_note(hw: Hardware, precision: str, layout: Layout) -> str:
    """What rate an MoE model's routed-expert GEMMs run at and where it comes from, for a rate's
    reason (review s32: the plan and `estimate pretrain` printed the combined GEMM shape only, so
    the fitted fraction, or its absence at a precision the catalog does not give, was silent):
    "routed-expert GEMMs at x0.37 of the dense rate of their shape (catalog h100-sxm
    training.expert_gemm_fraction.fp8: fitted (session s31 moe))", the dense rate when the
    layout sets fused_grouped_gemm, or the dense rate with the catalog naming no fraction."""
    name = hw.system.accelerator
    tr = hw.accelerator.training
    given = tr.expert_gemm_fraction if tr is not None else {}
    key = f"training.expert_gemm_fraction.{precision}"
    if layout.fused_grouped_gemm:
        return "routed-expert GEMMs at the dense rate of their shape (layout fused_grouped_gemm)"
    if precision not in given:
        others = f" (given for {', '.join(sorted(given))} only)" if given else ""
        return (
            f"routed-expert GEMMs at the dense rate of their shape: catalog {name} gives no "
            f"{key}{others}"
        )
    source = overlay_source_head(hw.accelerator.source_of(key))
    return (
        f"routed-expert GEMMs at x{given[precision]:g} of the dense rate of their shape "
        f"(catalog {name} {key}: {source})"
    )


def _on_part_of_each_domain(
    accelerators: int, mf: ModelFigures, f: TrainFigures, run: RunFigures
) -> LayoutChoice | None:
    """The best layout of a job of whole scale-up domains run on P of each domain's D
    accelerators, P the largest power of two below D (64 of an NVL72 rack's 72), its groups
    inside a domain where on whole domains a power-of-two group straddles two
    (training.in_one_domain) and D - P accelerators a domain idle; None where D is a power of
    two, the job is not whole domains or one domain, or no layout fits. Its layouts carry
    domain_ranks = P (step_time places them on domains of P ranks)."""
    domain = f.scale_up_domain
    part = 1 << (domain.bit_length() - 1)
    if part >= domain or accelerators % domain or accelerators <= domain:
        return None
    choice = best_layout(accelerators // domain * part, mf, replace(f, scale_up_domain=part), run)
    if choice.best is None:
        return None

    def on_part(st: StepTime) -> StepTime:
        return replace(st, layout=replace(st.layout, domain_ranks=part))

    return replace(
        choice, best=on_part(choice.best), runner_ups=[on_part(r) for r in choice.runner_ups]
    )


def _job_accelerators(
    hw: Hardware, arch: ModelArch, state_bytes: float, at_least: float = 0.0
) -> int:
    """Whole units holding the fully sharded state, and >= `at_least` accelerators; at most
    MAX_UNITS units, the most the solver plans with (a job searched at 1e24 accelerators, from
    a token count in the wrong unit, factored its size by trial division for hours)."""
    units = max(min_units_for_state(state_bytes, hw), math.ceil(at_least / hw.accelerators), 1)
    return min(units, MAX_UNITS) * hw.accelerators


def training_rate(
    hw: Hardware | None,
    precision: str,
    goodput: float | None,
    arch: ModelArch | None = None,
    *,
    sequence_tokens: int = 8192,
    global_batch_tokens: float = 4e6,
    bytes_per_param: float = 16.0,
    gradient_precision: str = "bf16",
    work_flops_per_token: float | None = None,
    accelerators: int | None = None,
) -> Rate:
    """FLOP/s per unit of a training job of `arch` (used by the RL trainer): the fastest layout
    on `accelerators` (default: the fewest whole units whose layout fits memory, doubled until
    one does), x goodput (given, or derived). Work counted: `work_flops_per_token` (default
    6·N_active) per trained token."""
    why = _rate_zero(hw, precision)
    if why is not None:
        return Rate(0.0, why)
    assert hw is not None
    if arch is None:
        return Rate(0.0, "the training rate needs the model (training_rate(..., arch=...))")
    work = work_flops_per_token or TRAINING_FLOPS_PER_PARAM * arch.active
    g = accelerators or _job_accelerators(hw, arch, bytes_per_param * arch.params)
    for _ in range(8):
        tt = training_throughput(
            hw,
            arch,
            precision,
            sequence_tokens=sequence_tokens,
            global_batch_tokens=global_batch_tokens,
            bytes_per_param=bytes_per_param,
            gradient_precision=gradient_precision,
            work_flops_per_token=work,
            accelerators=g,
            goodput=goodput,
        )
        if tt.rate_per_unit_s > 0 or accelerators is not None:
            return Rate(tt.rate_per_unit_s, tt.reason)
        g *= 2
    return Rate(tt.rate_per_unit_s, tt.reason)


def training_layout(lay: LayoutSpec, dp: int) -> Layout:
    """The step model's Layout of a workload's pinned `layout:` (pretraining) or `trainer:`
    layout (RL), with `dp` data-parallel ranks where the spec leaves dp out."""
    return Layout(
        lay.tp,
        lay.pp,
        lay.dp or dp,
        lay.cp,
        lay.ep,
        lay.vp,
        lay.micro_batch,
        lay.tp_comm_overlap,
        lay.ep_comm_overlap,
        lay.embedding_loss_in_pp_split,
        lay.expert_capacity_factor,
        expert_tp=lay.expert_tp,
        fused_grouped_gemm=lay.fused_grouped_gemm,
        recompute_modules=tuple(lay.recompute_modules),
        fsdp=lay.fsdp,
    )


def _pinned(spec: PretrainSpec, accelerators: int) -> Layout | None:
    if spec.layout is None:
        return None
    lay = spec.layout
    return training_layout(lay, max(1, accelerators // (lay.tp * lay.pp * lay.cp)))


def pretrain_throughput(
    spec: PretrainSpec,
    catalog: Catalog,
    system: str,
    units: int | None = None,
    hbm_usable_fraction: float | None = None,
    accelerators: int | None = None,
) -> TrainingThroughput:
    """Throughput of `spec` on `system`. Job size: `accelerators` or `units` if given (the
    layout search at that size: the job a plan placed the run on, planner/kinds/pretrain.py
    placed_jobs), the pinned layout's if it names dp, else the fewest whole units that meet the
    deadline at the rate of the layout chosen for that size (at least the units holding the
    state), found by bisection."""
    arch = catalog.models[spec.model_name]
    hw = hardware(catalog, system, hbm_usable_fraction)
    dense, attention = pretrain_flops(spec, arch)
    flops = dense + attention
    tokens = pretrain_tokens(spec, arch)
    work = flops / tokens
    kw = dict(
        sequence_tokens=spec.sequence_length,
        global_batch_tokens=spec.global_batch_tokens,
        bytes_per_param=spec.bytes_per_param,
        gradient_precision=spec.gradient_precision,
        work_flops_per_token=work,
        goodput=spec.goodput,
        multi_site=spec.allow_multi_site,
    )
    if hw is None or _rate_zero(hw, spec.precision) is not None:
        return training_throughput(hw, arch, spec.precision, accelerators=0, **kw)  # type: ignore[arg-type]
    state = spec.bytes_per_param * arch.params

    def at(g: int) -> TrainingThroughput:
        return training_throughput(
            hw,
            arch,
            spec.precision,
            accelerators=g,
            pinned=_pinned(spec, g),
            **kw,  # type: ignore[arg-type]
        )

    if accelerators is not None:
        return at(accelerators)
    if units is not None:
        return at(units * hw.accelerators)
    if spec.layout is not None and spec.layout.dp is not None:
        lay = spec.layout
        return at(lay.tp * lay.pp * spec.layout.dp * lay.cp)
    g = _job_accelerators(hw, arch, state)
    tt = at(g)
    for _ in range(8):  # the fully sharded minimum may not hold a ZeRO-1 layout: grow the job
        if tt.rate_per_unit_s > 0:
            break
        g *= 2
        tt = at(g)

    # Smallest job that meets the deadline at its own layout's rate: the rate per accelerator
    # falls as the job grows (fewer micro-batches per rank, more failures), so bisect on units.
    # The job has its window, start to deadline (both count from the start of the horizon),
    # the time the plan gives it: sized to the deadline alone, a run starting late was rated
    # at a job a fraction of the size the plan then gives it.
    window_s = spec.deadline_s - spec.start_s

    def meets(t: TrainingThroughput) -> bool:
        return (
            t.rate_per_unit_s > 0
            and flops / (t.rate_per_unit_s / hw.accelerators * t.accelerators) <= window_s
        )

    if tt.rate_per_unit_s <= 0 or meets(tt):
        return tt
    lo_g, lo_tt = g, tt
    need = flops / (window_s * tt.rate_per_unit_s / hw.accelerators)
    hi_g = _job_accelerators(hw, arch, state, need)
    hi_tt = at(hi_g)
    tried = [tt]
    for _ in range(6):  # grow until the deadline is met (or the batch caps the job)
        if meets(hi_tt) or hi_tt.rate_per_unit_s <= 0:
            break
        if hi_g >= MAX_UNITS * hw.accelerators:
            break
        lo_g, lo_tt = hi_g, hi_tt
        tried.append(lo_tt)
        hi_g = min(2 * hi_g, MAX_UNITS * hw.accelerators)
        hi_tt = at(hi_g)
    if not meets(hi_tt):
        if hi_tt.rate_per_unit_s <= 0 < lo_tt.rate_per_unit_s:
            lo_g, lo_tt = _largest_laid_out(at, lo_g, lo_tt, hi_g, hw.accelerators)
        # the total rate peaks below the largest job laid out (deep pipelines near the batch's
        # limit): search the jobs between the state-holding one and it for the fastest
        fastest = _fastest_laid_out(at, g, lo_g, hw.accelerators)
        return max(
            (*tried, lo_tt, hi_tt, fastest), key=lambda t: t.rate_per_unit_s * t.accelerators
        )
    unit = hw.accelerators
    for _ in range(10):
        if hi_g - lo_g <= unit:
            break
        mid = (lo_g + hi_g) // 2 // unit * unit
        mid_tt = at(mid)
        if meets(mid_tt):
            hi_g, hi_tt = mid, mid_tt
        else:
            lo_g = mid
    return hi_tt


def _fastest_laid_out(
    at: Callable[[int], TrainingThroughput], lo_g: int, hi_g: int, unit: int
) -> TrainingThroughput:
    """The job of most FLOP/s in all (rate per unit x units) between lo_g and hi_g accelerators,
    by golden-section search on whole units (the total rate rises with the job, then falls as
    a batch capped in data parallelism needs deeper pipelines); the fastest job probed. review28:
    405B, 4M-token batch on H100: the run was reported at the largest job laid out (266,872
    accelerators, 2.2e15 FLOP/s) as "the fastest", where one of 62,800 runs 8.5e18."""

    def total(t: TrainingThroughput) -> float:
        return t.rate_per_unit_s * t.accelerators

    seen: dict[int, TrainingThroughput] = {}

    def probe(u: int) -> float:
        if u not in seen:
            seen[u] = at(u * unit)
        return total(seen[u])

    a, b = lo_g // unit, hi_g // unit
    inv_phi = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        if b - a <= 2:
            break
        c = b - round((b - a) * inv_phi)
        d = a + round((b - a) * inv_phi)
        if c >= d:
            c, d = a + (b - a) // 3, b - (b - a) // 3
        if probe(c) >= probe(d):
            b = d
        else:
            a = c
    for u in range(a, b + 1):
        probe(u)
    return max(seen.values(), key=total)


def _largest_laid_out(
    at: Callable[[int], TrainingThroughput],
    lo_g: int,
    lo_tt: TrainingThroughput,
    hi_g: int,
    unit: int,
) -> tuple[int, TrainingThroughput]:
    """The largest job between lo_g (laid out: a positive rate) and hi_g (none: past what the
    global batch lets a layout use), by bisection on whole units: the fastest job a run that
    meets no window is reported at. Without it a run whose growth jumped from a small job to
    one no layout fits was reported at the small one (qa28b: 1e16 tokens of a 405B model, "the
    fastest, 96 accelerators, takes 9,290,835 days", where a 3.9M-accelerator job takes 7,850)."""
    for _ in range(40):
        if hi_g - lo_g <= unit:
            break
        mid = (lo_g + hi_g) // 2 // unit * unit
        mid_tt = at(mid)
        if mid_tt.rate_per_unit_s > 0:
            lo_g, lo_tt = mid, mid_tt
        else:
            hi_g = mid
    return lo_g, lo_tt


def pretrain_rate(spec: PretrainSpec, catalog: Catalog, system: str) -> Rate:
    """FLOP/s per unit the LP uses (derivation in the reason): pretrain_throughput's rate; 0
    where no job of the system meets the run's window (the rate per accelerator falls as the
    job grows: the LP, which scales units linearly, planned such a run on 3.4x the accelerators
    its rate was derived for, a 546,000-GPU job at the MFU of 160,000)."""
    tt = pretrain_throughput(spec, catalog, system)
    hw = hardware(catalog, system)
    pinned = spec.layout is not None and spec.layout.dp is not None
    if tt.rate_per_unit_s > 0 and hw is not None and not pinned:
        dense, attention = pretrain_flops(spec, catalog.models[spec.model_name])
        job_s = (dense + attention) / (tt.rate_per_unit_s / hw.accelerators * tt.accelerators)
        window_s = spec.deadline_s - spec.start_s
        if job_s > window_s * (1 + 1e-9):
            # The work in accelerator-years at the dense peak (MFU 100%, goodput 1): a figure a
            # reader checks with one division, and what a token count in the wrong unit shows.
            peak_years = (dense + attention) / hw.peak(spec.precision) / (365 * SECONDS_PER_DAY)
            return Rate(
                0.0,
                f"no job meets the {window_s / SECONDS_PER_DAY:g}-day window: the run is "
                f"{dense + attention:.3g} FLOP, {peak_years:,.4g} accelerator-years at the "
                f"{spec.precision} peak ({hw.peak(spec.precision) / 1e12:,.0f} TFLOPS); the "
                f"fastest job found, {tt.accelerators:,} accelerators ({tt.reason}), takes "
                f"{job_s / SECONDS_PER_DAY:,.1f} days, and a larger job is no faster (the global "
                f"batch of {spec.global_batch_tokens:.3g} tokens caps its data parallelism): a "
                "larger global_batch_tokens, fewer tokens or a later deadline",
            )
    return _rate_of(spec, tt, hw)


def _rate_of(spec: PretrainSpec, tt: TrainingThroughput, hw: Hardware | None) -> Rate:
    """The LP's Rate of a derived throughput: its rate, derivation, the FSDP caveat of its
    layout, and the job (accelerators) it was derived for."""
    caveat = ""
    if tt.rate_per_unit_s > 0 and tt.choice is not None and tt.choice.best is not None:
        f = train_figures(hw, spec.precision) if hw is not None else None
        caveat = fsdp_caveat(tt.choice.best.layout, f) if f is not None else ""
    return Rate(tt.rate_per_unit_s, tt.reason, caveat, tt.accelerators)


def pretrain_rate_at(spec: PretrainSpec, catalog: Catalog, system: str, accelerators: int) -> Rate:
    """FLOP/s per unit of `spec` run as a job of `accelerators` on `system`: the same layout
    search as pretrain_rate (the fastest layout that fits, or the job rounded down to 2^k units
    with the rest idle; the pinned layout with its dp scaled to the job), at a given job size
    instead of the one the window needs: the job a solved plan runs it on (placed_jobs)."""
    tt = pretrain_throughput(spec, catalog, system, accelerators=accelerators)
    return _rate_of(spec, tt, hardware(catalog, system))


@dataclass(frozen=True)
class PretrainEstimate:
    """Everything `estimate pretrain` computes. SI units; inf/None where infeasible."""

    model: str
    system: str
    precision: str
    params: float
    active_params: float
    tokens: float
    flops_dense: float  # 6 · N_active · D
    flops_attention: float
    flops: float
    rate_flops_per_s_per_unit: float
    rate_reason: str
    units: int
    units_for_deadline: int | None
    deadline_s: float
    meets_deadline: bool
    time_s: float
    days: float
    accelerator_hours: float
    energy_j: float
    pricing: str
    unit_usd_per_hour: float
    cost_usd: float
    model_state_bytes: float  # bytes_per_param · params
    min_accelerators_for_state: int  # fully sharded (ZeRO-3/FSDP) over the data-parallel group
    min_units_for_state: int
    model_parallel_width: int  # ceil(weights + grads / usable HBM per accelerator)
    tp_width: int
    pipeline_stages: int
    fits_scale_up: bool
    gradient_bytes_per_sync: float
    syncs: float
    feasible: bool
    reason: str
    notes: list[str] = field(default_factory=list)
    derivation: list[str] = field(default_factory=list)
    # Derived throughput (planner/demand/training.py, goodput.py); None where infeasible.
    layout: str | None = None
    job_accelerators: int = 0  # job size the layout was chosen for
    mfu: float | None = None
    goodput: float | None = None
    goodput_derived: bool = False
    tokens_per_s_per_accelerator: float | None = None
    step_s: float | None = None
    runner_ups: list[str] = field(default_factory=list)


def min_units_for_state(state_bytes: float, hw: Hardware | None) -> int:
    """Fewest units whose usable HBM holds a training job's state, fully sharded:
    ceil(ceil(state / (hbm x hbm_usable_fraction)) / accelerators per unit); 0 for CPU-only."""
    if hw is None:
        return 0
    per_acc = hw.accelerator.hbm_bytes * hw.hbm_usable_fraction
    return math.ceil(math.ceil(state_bytes / per_acc) / hw.accelerators)


def estimate_pretrain(
    spec: PretrainSpec,
    catalog: Catalog,
    system: str,
    units: int | None = None,
    *,
    pricing: Pricing = "rental",
    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH,
    pue: float = DEFAULT_PUE,
    cost_of_capital: float = DEFAULT_COST_OF_CAPITAL,
    facility_usd_per_kw_month: float = DEFAULT_FACILITY_USD_PER_KW_MONTH,
    hbm_usable_fraction: float | None = None,
) -> PretrainEstimate:
    """Time, energy and cost of `spec` on `units` units of `system` (default: the fewest units
    that meet the deadline and hold the model state).

    Memory: state = bytes_per_param · params must fit the HBM of the whole group, fully sharded:
    min accelerators = ceil(state / (hbm · hbm_usable_fraction)). Model-parallel width (TP x PP)
    = ceil(params · (bytes(precision) + bytes(gradient_precision)) / (hbm · hbm_usable_fraction))
    when only the optimizer state is sharded over data-parallel ranks (ZeRO-1); TP stays inside
    the scale-up domain, the rest becomes pipeline stages across units.
    """
    arch = catalog.models[spec.model_name]
    hw = hardware(catalog, system, hbm_usable_fraction)
    sys_ = catalog.system(system)
    d = pretrain_tokens(spec, arch)
    dense, attention = pretrain_flops(spec, arch)
    flops = dense + attention
    tt = pretrain_throughput(spec, catalog, system, units, hbm_usable_fraction)
    rate = Rate(tt.rate_per_unit_s, tt.reason)
    step = tt.step
    state = spec.bytes_per_param * arch.params
    grad_bytes = arch.params * BYTES_PER_VALUE[spec.gradient_precision]
    syncs = d / spec.global_batch_tokens
    costs = (electricity_usd_per_kwh, pue, cost_of_capital, facility_usd_per_kw_month)
    usd_h = unit_usd_per_hour(sys_, pricing, *costs)
    lines = [
        f"D = {d:.4g} tokens"
        + (
            f" (= {spec.tokens_per_param:g} x {arch.params:.4g} params)"
            if spec.tokens is None
            else ""
        ),
        f"FLOPs = 6 x N_active {arch.active:.4g} x D = {dense:.4g}"
        + (f" + attention {attention:.4g} = {flops:.4g}" if spec.include_attention else ""),
        f"rate/unit = {hw.accelerators if hw else 0} x {tt.work_flops_per_token:.4g} FLOP/token x "
        f"tokens/s per accelerator x goodput = {rate.per_unit_s:.4g} FLOP/s: {rate.reason}",
    ]
    if step is not None:
        assert tt.choice is not None
        lines += [
            f"layout ({tt.choice.candidates} fitting candidates searched on "
            f"{tt.accelerators:,} accelerators): {step.summary()}",
            f"step: {step.breakdown()}",
            step.memory_line(),
            *(f"runner-up: {r.summary()}" for r in tt.choice.runner_ups),
        ]
        f_train = train_figures(hw, spec.precision) if hw is not None else None
        caveat = fsdp_caveat(step.layout, f_train) if f_train is not None else ""
        if caveat:
            lines.append(caveat)
        clock = hw.accelerator.clock_fraction if hw is not None else 1.0
        if clock != 1.0:
            lines.append(
                f"compute terms (GEMM, output heads, attention) at peak x sustained clock "
                f"{clock:g} (the accelerator's sustained_clock_fraction); MFU is over the spec peak"
            )
    if tt.goodput is not None:
        lines.append(tt.goodput.derivation())
    if hw is None:
        per_acc = 0.0
        min_acc = min_units = mp = tp = stages = 0
        fits_scale_up = False
    else:
        per_acc = hw.accelerator.hbm_bytes * hw.hbm_usable_fraction
        min_acc = math.ceil(state / per_acc)
        min_units = min_units_for_state(state, hw)
        weights_grads = arch.params * (
            BYTES_PER_VALUE[spec.precision] + BYTES_PER_VALUE[spec.gradient_precision]
        )
        mp = math.ceil(weights_grads / per_acc)
        domain = hw.system.scale_up_domain
        # TP widths split the attention heads evenly and divide the scale-up domain; the
        # smallest such width >= mp, else the widest with pipeline stages for the rest.
        widths = [t for t in range(1, domain + 1) if domain % t == 0 and arch.heads % t == 0]
        tp = next((t for t in widths if t >= mp), widths[-1])
        fits_scale_up = tp >= mp
        stages = math.ceil(mp / tp)
        if step is not None:  # the chosen layout's widths
            tp, stages = step.layout.tp, step.layout.pp
            # its TP groups inside a domain as laid out (a TP16 group of 2 whole NVL72 racks
            # straddles one: training.in_one_domain), on the domain's ranks it uses
            ranks = step.layout.domain_ranks or domain
            fits_scale_up = bool(in_one_domain(tp, step.layout.accelerators, ranks))
        lines += [
            f"model state = {spec.bytes_per_param:g} B/param x {arch.params:.4g} = {gb(state)}: "
            f">= {min_acc} accelerators ({min_units} units) fully sharded at "
            f"{gb(per_acc)} usable each",
            f"weights + grads = {gb(weights_grads)}: >= {mp} accelerators of model parallelism "
            f"without data-parallel sharding of weights and gradients",
        ]
    if rate.per_unit_s <= 0:
        return PretrainEstimate(
            model=spec.model_name,
            system=system,
            precision=spec.precision,
            params=arch.params,
            active_params=arch.active,
            tokens=d,
            flops_dense=dense,
            flops_attention=attention,
            flops=flops,
            rate_flops_per_s_per_unit=0.0,
            rate_reason=rate.reason,
            units=units or 0,
            units_for_deadline=None,
            deadline_s=spec.deadline_s,
            meets_deadline=False,
            time_s=math.inf,
            days=math.inf,
            accelerator_hours=math.inf,
            energy_j=math.inf,
            pricing=pricing,
            unit_usd_per_hour=usd_h,
            cost_usd=math.inf,
            model_state_bytes=state,
            min_accelerators_for_state=min_acc,
            min_units_for_state=min_units,
            model_parallel_width=mp,
            tp_width=tp,
            pipeline_stages=stages,
            fits_scale_up=fits_scale_up,
            gradient_bytes_per_sync=grad_bytes,
            syncs=syncs,
            feasible=False,
            reason=rate.reason,
            derivation=lines,
            job_accelerators=tt.accelerators,
        )
    assert hw is not None
    for_deadline = math.ceil(flops / (spec.deadline_s * rate.per_unit_s))
    notes: list[str] = []
    pinned = spec.layout
    if (
        pinned is not None
        and pinned.dp is not None
        and step is not None
        and step.layout.dp != pinned.dp
    ):
        # the job's size wins (the layout re-rated at the job a plan places it on): say so
        # rather than print another DP than the one asked (qa28)
        notes.append(
            f"the pinned layout's dp {pinned.dp} is re-sized to DP{step.layout.dp} to fill "
            f"the job of {tt.accelerators:,} accelerators (--units); omit --units to run "
            f"the pinned layout as given"
        )
    if pricing == "amortised":
        notes.append(amortised_breakdown(system, sys_, *costs))
    # the job the rate was derived for, in whole units: its layout runs on all of them but an
    # awkward remainder (qa28: 405B on H100 to 15.6T tokens in 90 days was rated on a job of
    # 1,553 units, TP8 x PP8 x DP97 x CP2 on 12,416 of its 12,424 accelerators, and printed
    # 1,542 units, at that job's rate per unit: 12,336 accelerators, which cannot hold the layout)
    job_units = math.ceil(tt.accelerators / hw.accelerators - 1e-9)
    sized_by_job = False
    no_job_meets = False  # no job of any size meets the deadline (units_for_deadline is moot)
    pinned_job = spec.layout is not None and spec.layout.dp is not None
    if units is None and pinned_job:
        # a layout that names dp is the job: more units than it holds would not run it faster
        # (qa28: TP8 x PP16 x DP64 on 1,024 H100 units printed 1,683 units meeting 90 days at
        # the 1,024-unit layout's rate per unit; the layout takes 147.9 days)
        units = max(min_units, job_units)
        sized_by_job = job_units != for_deadline
    elif units is None and for_deadline > job_units:
        # no job meets the deadline (pretrain_throughput gave the fastest it found): units past
        # that job would sit idle, so they are not the deadline's count (review28: 405B, 1e16
        # tokens, printed 3,941,500 units beside the 9,766-unit job's 36,323 days)
        units = max(min_units, job_units)
        sized_by_job = True
        no_job_meets = True
        notes.append(
            f"no job meets the {spec.deadline_s / SECONDS_PER_DAY:g}-day deadline: the fastest "
            f"job found takes {job_units:,} units and more would sit idle; the time is that job's"
        )
    elif units is None:
        units = max(for_deadline, min_units, job_units)
        sized_by_job = job_units > max(for_deadline, min_units)
        if min_units > max(for_deadline, job_units):
            notes.append(
                f"{min_units} units needed to hold the model state (more than the deadline needs)"
            )
    # the rate is per unit of the job it was derived for (its idle accelerators included): a
    # job that is not whole units (a pinned layout's) or fewer units than held runs on its own
    # accelerators only (qa28: DeepSeek-V3 pinned DP2048 on GB200 NVL72 held 29 racks, 2,088
    # GPUs, and the time counted all of them at the 2,048 GPUs' rate each)
    working_units = min(float(units), tt.accelerators / hw.accelerators)
    time_s = flops / (working_units * rate.per_unit_s)
    energy = units * sys_.power_w * pue * time_s
    cost = units * usd_h * time_s / SECONDS_PER_HOUR
    feasible = units >= min_units
    reason = (
        "ok"
        if feasible
        else f"{units} units hold {gb(units * hw.accelerators * per_acc)} < model state {gb(state)}"
    )
    lines += [
        f"units = {units} (deadline {spec.deadline_s / SECONDS_PER_DAY:g} days needs "
        f"ceil(FLOPs / (deadline x rate)) = {for_deadline}"
        + (
            (
                f"; the pinned layout's job takes {job_units} units"
                if pinned_job
                else f"; the job the rate is for takes {job_units} units, its layout "
                f"{step.layout.accelerators:,} of their accelerators"
            )
            if sized_by_job and step is not None
            else ""
        )
        + ")",
        (
            f"time = FLOPs / (units x rate) = {time_s / SECONDS_PER_DAY:,.2f} days"
            if working_units == units
            else f"time = FLOPs / ({working_units:,.4g} units the job's {tt.accelerators:,} "
            f"accelerators fill x rate) = {time_s / SECONDS_PER_DAY:,.2f} days"
        ),
        f"energy = {units} x {sys_.power_w / 1e3:g} kW x PUE {pue:g} x time = "
        f"{energy / 3.6e9:,.4g} MWh",
        f"cost = {units} x ${usd_h:,.2f}/h ({pricing}) x {time_s / SECONDS_PER_HOUR:,.0f} h = "
        f"${cost:,.0f}",
        f"gradient sync = {arch.params:.4g} x {BYTES_PER_VALUE[spec.gradient_precision]:g} B = "
        f"{gb(grad_bytes)} per step x {syncs:,.0f} steps (D / global batch "
        f"{spec.global_batch_tokens:,.0f}, as a plan's multi-site gradient traffic counts them)"
        + (
            f"; the layout's batch of {step.batch_tokens:,.0f} tokens (rounded up to whole "
            f"micro-batches) runs {d / step.batch_tokens:,.0f}"
            if step is not None and step.batch_note()
            else ""
        ),
    ]
    return PretrainEstimate(
        model=spec.model_name,
        system=system,
        precision=spec.precision,
        params=arch.params,
        active_params=arch.active,
        tokens=d,
        flops_dense=dense,
        flops_attention=attention,
        flops=flops,
        rate_flops_per_s_per_unit=rate.per_unit_s,
        rate_reason=rate.reason,
        units=units,
        units_for_deadline=None if no_job_meets else for_deadline,
        deadline_s=spec.deadline_s,
        meets_deadline=time_s <= spec.deadline_s,
        time_s=time_s,
        days=time_s / SECONDS_PER_DAY,
        accelerator_hours=units * hw.accelerators * time_s / SECONDS_PER_HOUR,
        energy_j=energy,
        pricing=pricing,
        unit_usd_per_hour=usd_h,
        cost_usd=cost,
        model_state_bytes=state,
        min_accelerators_for_state=min_acc,
        min_units_for_state=min_units,
        model_parallel_width=mp,
        tp_width=tp,
        pipeline_stages=stages,
        fits_scale_up=fits_scale_up,
        gradient_bytes_per_sync=grad_bytes,
        syncs=syncs,
        feasible=feasible,
        reason=reason,
        notes=notes,
        derivation=lines,
        layout=str(step.layout) if step else None,
        job_accelerators=tt.accelerators,
        mfu=step.mfu if step else None,
        goodput=tt.goodput_value,
        goodput_derived=tt.goodput is not None,
        tokens_per_s_per_accelerator=step.tokens_per_s_per_accelerator if step else None,
        step_s=step.step_s if step else None,
        runner_ups=[r.summary() for r in tt.choice.runner_ups] if tt.choice else [],
    )
