"""Pretraining: FLOPs, time, memory of the model state, parallel layout, energy and cost.

Formulas (SI units; see docs/models.md):
  D      = tokens, or tokens_per_param · params_total
  FLOPs  = 6 · N_active · D  [+ 3 · 4·heads·layers·head_dim·(seq/2) · D with include_attention,
           i.e. Kaplan et al.'s 6·layers·d_attn·n_ctx per token]
  rate   = accelerators · peak(precision) · training_mfu · goodput     FLOP/s per unit
  time   = FLOPs / (units · rate)
  state  = bytes_per_param · params_total          (weights, grads, optimizer state)
  energy = units · power_w · PUE · time
  cost   = units · unit_usd_per_hour · time / 3600
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from hardware.schema import ModelArch
from planner.demand.common import (
    CPU_ONLY_REASON,
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_PUE,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    TRAINING_FLOPS_PER_PARAM,
    TRAINING_TO_FORWARD,
    Hardware,
    Pricing,
    attention_flops_per_token,
    gb,
    hardware,
    unit_usd_per_hour,
)
from planner.demand.types import Rate
from planner.workloads import PretrainSpec


def pretrain_tokens(spec: PretrainSpec, arch: ModelArch) -> float:
    """D: the spec's tokens, or tokens_per_param x TOTAL params."""
    if spec.tokens is not None:
        return spec.tokens
    assert spec.tokens_per_param is not None
    return spec.tokens_per_param * arch.params


def pretrain_flops(spec: PretrainSpec, arch: ModelArch) -> tuple[float, float]:
    """(6·N_active·D, attention term) in FLOP. The attention term is 0 unless include_attention:
    3 (forward + backward) x 4·heads·layers·head_dim x mean causal context seq/2, per token."""
    d = pretrain_tokens(spec, arch)
    dense = TRAINING_FLOPS_PER_PARAM * arch.active * d
    attention = (
        TRAINING_TO_FORWARD * attention_flops_per_token(arch, spec.sequence_length / 2) * d
        if spec.include_attention
        else 0.0
    )
    return dense, attention


def training_rate(hw: Hardware | None, precision: str, goodput: float) -> Rate:
    """FLOP/s per unit = accelerators · peak(precision) · training_mfu · goodput."""
    if hw is None:
        return Rate(0.0, CPU_ONLY_REASON)
    if not hw.supports(precision):
        return Rate(
            0.0,
            f"{hw.system.accelerator} does not support {precision} "
            f"(supports {', '.join(hw.accelerator.peak_flops)})",
        )
    mfu = hw.efficiency.training_mfu
    rate = hw.accelerators * hw.peak(precision) * mfu * goodput
    return Rate(
        rate,
        f"{hw.accelerators} x {hw.peak(precision) / 1e12:,.0f} TFLOPS x MFU {mfu:g} x goodput "
        f"{goodput:g}",
    )


def pretrain_rate(spec: PretrainSpec, catalog: Catalog, system: str) -> Rate:
    return training_rate(hardware(catalog, system), spec.precision, spec.goodput)


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
    arch = catalog.models[spec.model]
    hw = hardware(catalog, system, hbm_usable_fraction)
    sys_ = catalog.system(system)
    d = pretrain_tokens(spec, arch)
    dense, attention = pretrain_flops(spec, arch)
    flops = dense + attention
    rate = training_rate(hw, spec.precision, spec.goodput)
    state = spec.bytes_per_param * arch.params
    grad_bytes = arch.params * BYTES_PER_VALUE[spec.gradient_precision]
    syncs = d / spec.global_batch_tokens
    usd_h = unit_usd_per_hour(sys_, pricing, electricity_usd_per_kwh, pue)
    lines = [
        f"D = {d:.4g} tokens"
        + (
            f" (= {spec.tokens_per_param:g} x {arch.params:.4g} params)"
            if spec.tokens is None
            else ""
        ),
        f"FLOPs = 6 x N_active {arch.active:.4g} x D = {dense:.4g}"
        + (f" + attention {attention:.4g} = {flops:.4g}" if spec.include_attention else ""),
        f"rate/unit = {rate.reason} = {rate.per_unit_s:.4g} FLOP/s",
    ]
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
        lines += [
            f"model state = {spec.bytes_per_param:g} B/param x {arch.params:.4g} = {gb(state)}: "
            f">= {min_acc} accelerators ({min_units} units) fully sharded at "
            f"{gb(per_acc)} usable each",
            f"weights + grads = {gb(weights_grads)}: model-parallel width {mp} -> TP{tp}"
            + (
                f" x PP{stages} (no TP width >= {mp} both divides the {domain}-accelerator scale-up domain "
                f"and splits {arch.heads} heads evenly: pipeline stages take the rest)"
                if not fits_scale_up
                else ""
            ),
        ]
    if rate.per_unit_s <= 0:
        return PretrainEstimate(
            model=spec.model,
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
        )
    assert hw is not None
    for_deadline = math.ceil(flops / (spec.deadline_s * rate.per_unit_s))
    notes: list[str] = []
    if units is None:
        units = max(for_deadline, min_units)
        if min_units > for_deadline:
            notes.append(
                f"{min_units} units needed to hold the model state (more than the deadline needs)"
            )
    time_s = flops / (units * rate.per_unit_s)
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
        f"ceil(FLOPs / (deadline x rate)) = {for_deadline})",
        f"time = FLOPs / (units x rate) = {time_s / SECONDS_PER_DAY:,.2f} days",
        f"energy = {units} x {sys_.power_w / 1e3:g} kW x PUE {pue:g} x time = "
        f"{energy / 3.6e9:,.4g} MWh",
        f"cost = {units} x ${usd_h:,.2f}/h ({pricing}) x {time_s / SECONDS_PER_HOUR:,.0f} h = "
        f"${cost:,.0f}",
        f"gradient sync = {arch.params:.4g} x {BYTES_PER_VALUE[spec.gradient_precision]:g} B = "
        f"{gb(grad_bytes)} per step x {syncs:,.0f} steps",
    ]
    return PretrainEstimate(
        model=spec.model,
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
        units_for_deadline=for_deadline,
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
    )
