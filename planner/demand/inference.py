"""Serving: the instance that holds the weights, the batch that fits HBM and the step-time
budget, roofline decode step time, prefill rate, TTFT and $ per million tokens.

Formulas (SI units; see docs/models.md):
  W   = params_total · bytes(precision)                       weight bytes (all experts for MoE)
  kv  = kv_elements_per_token · bytes(kv_precision)           KV bytes per token
  KV stored per sequence  = (prompt/k + output) · kv          k = sequences sharing one prompt
  KV read per sequence    = (prompt/k + output/2) · kv        per decode step, at mean context
  F   = 2·N_active + 4·heads·layers·head_dim·(prompt + output/2)   FLOPs per decoded token
  C   = a · peak(precision) · decode_compute_utilisation      FLOP/s of an instance of a chips
  B   = a · hbm_bandwidth · decode_bandwidth_utilisation      bytes/s of the instance
  step(b) = max(b·F / C, (W + b·KV_read) / B)                 roofline decode step, seconds
  b_hbm = (a · hbm · hbm_usable_fraction − W) / KV_stored
  b_lat = min(T·C/F, (T·B − W)/KV_read), T = 1/tokens_per_s_per_user
  batch = floor(min(b_hbm, b_lat)); tokens/s per instance = batch / step(batch)
  prefill tokens/s per instance = a · peak · prefill_compute_utilisation / F(prompt/2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardware.catalog import Catalog
from hardware.schema import ModelArch
from planner.demand.common import (
    CPU_ONLY_REASON,
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_PUE,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    Hardware,
    Pricing,
    forward_flops_per_token,
    gb,
    hardware,
    unit_usd_per_hour,
    weight_bytes,
)
from planner.demand.kv import kv_bytes_per_token
from planner.demand.types import Rate
from fleetcore.schema import BYTES_PER_VALUE
from planner.workloads import InferenceSpec

# Planner convention: a serving instance may span at most this many units (servers/racks),
# joined over the scale-out network by pipeline parallelism. Two 8-GPU servers per instance
# is common practice for 400B+ BF16 models; past a few units, inter-node hops dominate decode
# latency, which this roofline model does not see. Override with max_units_per_instance.
MAX_UNITS_PER_INSTANCE = 4


@dataclass(frozen=True)
class Instance:
    """A model replica: `accelerators` chips; within one unit or spanning `units_spanned` units."""

    accelerators: int
    tensor_parallel: int  # accelerators sharing each layer; the rest are pipeline stages
    units_spanned: int
    instances_per_unit: float  # accelerators // a within a unit, or 1/units_spanned
    usable_bytes: float  # a · hbm · hbm_usable_fraction
    free_bytes: float  # usable − weights

    def label(self, scale_up_domain: int) -> str:
        pp = self.accelerators // self.tensor_parallel
        shape = f"TP{self.tensor_parallel}" + (f" x PP{pp}" if pp > 1 else "")
        if self.units_spanned == 1:
            n = self.instances_per_unit
            return f"{shape} x{n:g} instance{'s' if n != 1 else ''}/unit"
        return (
            f"{self.accelerators} accelerators spanning {self.units_spanned} units "
            f"({shape}, 1/{self.units_spanned} instance/unit)"
        )


def tensor_parallel_width(arch: ModelArch, hw: Hardware, accelerators: int) -> int:
    """The widest tensor-parallel group for an instance of `accelerators` chips: it divides the
    instance, stays in the scale-up domain, splits the attention heads evenly, and (GQA) does
    not exceed the KV heads, since replicating KV heads is not modelled. The remaining factor
    is pipeline stages."""
    limit = min(hw.system.scale_up_domain, arch.kv_heads or arch.heads)
    return max(
        t
        for t in range(1, accelerators + 1)
        if accelerators % t == 0
        and t <= limit
        and arch.heads % t == 0
        and hw.system.scale_up_domain % t == 0
    )


def instance_candidates(hw: Hardware, max_units_per_instance: int) -> list[int]:
    """Instance sizes tried, ascending: divisors of the scale-up domain (the instance stays on
    NVLink/NeuronLink; see tensor_parallel_width for its TP x PP shape), then whole multiples of
    the unit (2, 3, ... units)."""
    domain = hw.system.scale_up_domain
    sizes = [d for d in range(1, domain + 1) if domain % d == 0]
    if hw.accelerators not in sizes:
        sizes.append(hw.accelerators)
    sizes += [k * hw.accelerators for k in range(2, max_units_per_instance + 1)]
    return sizes


def make_instance(arch: ModelArch, hw: Hardware, a: int, weights: float) -> Instance:
    units = max(1, math.ceil(a / hw.accelerators))
    per_unit = hw.accelerators // a if a <= hw.accelerators else 1.0 / units
    usable = a * hw.accelerator.hbm_bytes * hw.hbm_usable_fraction
    return Instance(
        a, tensor_parallel_width(arch, hw, a), units, float(per_unit), usable, usable - weights
    )


def fitting_instances(
    arch: ModelArch,
    hw: Hardware,
    weights: float,
    one_sequence_kv: float,
    max_units_per_instance: int,
) -> list[Instance]:
    """Instances, ascending, whose usable HBM holds the weights and one sequence's KV."""
    out = []
    for a in instance_candidates(hw, max_units_per_instance):
        inst = make_instance(arch, hw, a, weights)
        if inst.free_bytes >= one_sequence_kv:
            out.append(inst)
    return out


def does_not_fit_reason(
    arch: ModelArch,
    hw: Hardware,
    precision: str,
    kv_precision: str,
    seq_tokens: float,
    max_units_per_instance: int,
) -> str:
    """Why the weights do not fit, and what would: a smaller weight precision the accelerator
    supports on one unit, or the number of units an instance would have to span."""
    weights = weight_bytes(arch, precision)
    one_kv = seq_tokens * kv_bytes_per_token(arch, kv_precision)
    unit_usable = hw.accelerators * hw.accelerator.hbm_bytes * hw.hbm_usable_fraction
    msg = (
        f"{precision} weights {gb(weights)} + one sequence's KV {gb(one_kv)} exceed the usable HBM "
        f"of {'1 unit' if max_units_per_instance == 1 else f'{max_units_per_instance} units'} "
        f"({hw.accelerators} x {gb(hw.accelerator.hbm_bytes)} x {hw.hbm_usable_fraction:g} "
        f"= {gb(unit_usable)} per unit)"
    )
    fits = []
    for p in sorted(hw.accelerator.peak_flops, key=lambda q: -BYTES_PER_VALUE[q]):
        if BYTES_PER_VALUE[p] < BYTES_PER_VALUE[precision]:
            w = weight_bytes(arch, p)
            if w + one_kv <= unit_usable:
                fits.append(f"{p} weights ({gb(w)}) on one unit")
    units = math.ceil((weights + one_kv) / unit_usable)
    fits.append(f"{precision} on an instance spanning {units} units")
    return msg + "; fits: " + ", or ".join(fits)


@dataclass(frozen=True)
class DecodePoint:
    """The decode operating point of one system for one model and request shape."""

    feasible: bool
    reason: str
    weight_bytes: float
    kv_bytes_per_token: float
    kv_bytes_per_sequence: float  # stored, prefix shared by `share` sequences
    kv_read_bytes_per_sequence: float  # read per step at mean context
    flops_per_token: float
    instance: Instance | None = None
    max_batch_hbm: float | None = None  # before flooring
    max_batch_latency: float | None = None  # None in throughput mode
    batch: int | None = None
    step_time_s: float | None = None
    step_compute_s: float | None = None
    step_memory_s: float | None = None
    tokens_per_s_per_instance: float | None = None
    tokens_per_s_per_unit: float | None = None


def decode_point(
    arch: ModelArch,
    hw: Hardware,
    precision: str,
    kv_precision: str,
    prompt_tokens: float,
    output_tokens: float,
    share: int,
    tokens_per_s_per_user: float | None,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
) -> DecodePoint:
    """Batch and tokens/s of the best serving instance (throughput mode when
    tokens_per_s_per_user is None: batch limited by HBM only). `share` sequences share one prompt
    prefix's KV.

    Instances tried: those holding the weights plus one sequence's KV (`fitting_instances`).
    Among those inside one unit, the one with the highest decode tokens/s per unit wins (the
    smaller on a tie); instances spanning several units are used only when none inside one
    unit meets the budget, and then the smallest that does."""
    w = weight_bytes(arch, precision)
    kvb = kv_bytes_per_token(arch, kv_precision)
    stored = (prompt_tokens / share + output_tokens) * kvb
    read = (prompt_tokens / share + output_tokens / 2) * kvb
    flops = forward_flops_per_token(arch, prompt_tokens + output_tokens / 2)
    base = dict(
        weight_bytes=w,
        kv_bytes_per_token=kvb,
        kv_bytes_per_sequence=stored,
        kv_read_bytes_per_sequence=read,
        flops_per_token=flops,
    )
    if not hw.supports(precision):
        return DecodePoint(
            False,
            f"{hw.system.accelerator} does not support {precision} "
            f"(supports {', '.join(hw.accelerator.peak_flops)})",
            **base,
        )
    instances = fitting_instances(
        arch, hw, w, (prompt_tokens + output_tokens) * kvb, max_units_per_instance
    )
    if not instances:
        return DecodePoint(
            False,
            does_not_fit_reason(
                arch,
                hw,
                precision,
                kv_precision,
                prompt_tokens + output_tokens,
                max_units_per_instance,
            ),
            **base,
        )
    first_failure = ""
    eff = hw.efficiency
    best: DecodePoint | None = None
    for inst in instances:
        if best is not None and inst.units_spanned > 1:
            break  # an instance inside one unit works: do not span units
        a = inst.accelerators
        compute = a * hw.peak(precision) * eff.decode_compute_utilisation
        bandwidth = a * hw.accelerator.hbm_bandwidth_bytes_per_s * eff.decode_bandwidth_utilisation
        b_hbm = inst.free_bytes / stored
        b_lat: float | None = None
        if tokens_per_s_per_user is not None:
            budget = 1.0 / tokens_per_s_per_user
            b_lat = min(budget * compute / flops, (budget * bandwidth - w) / read)
        batch = math.floor(min(b_hbm, b_lat) if b_lat is not None else b_hbm)
        if batch < 1:
            if not first_failure:
                assert tokens_per_s_per_user is not None
                first_failure = (
                    f"{tokens_per_s_per_user:g} tok/s/user unreachable: reading {gb(w)} of "
                    f"weights takes {w / bandwidth * 1e3:.1f} ms per step on {a} accelerators "
                    f"(at {eff.decode_bandwidth_utilisation:g} of HBM bandwidth) vs a "
                    f"{1e3 / tokens_per_s_per_user:.1f} ms budget"
                )
            continue
        t_c = batch * flops / compute
        t_m = (w + batch * read) / bandwidth
        step = max(t_c, t_m)
        per_inst = batch / step
        point = DecodePoint(
            True,
            f"{inst.label(hw.system.scale_up_domain)}, batch {batch}, step {step * 1e3:.1f} ms",
            instance=inst,
            max_batch_hbm=b_hbm,
            max_batch_latency=b_lat,
            batch=batch,
            step_time_s=step,
            step_compute_s=t_c,
            step_memory_s=t_m,
            tokens_per_s_per_instance=per_inst,
            tokens_per_s_per_unit=per_inst * inst.instances_per_unit,
            **base,
        )
        # Keep the highest tokens/s per unit; the smaller instance on a tie (within 0.1%).
        if best is None or point.tokens_per_s_per_unit > best.tokens_per_s_per_unit * 1.001:  # type: ignore[operator]
            best = point
    if best is not None:
        return best
    return DecodePoint(False, first_failure, instance=instances[0], **base)


def prefill_tokens_per_s_per_instance(
    arch: ModelArch, hw: Hardware, precision: str, a: int, prompt_tokens: float
) -> float:
    """Compute-bound prefill: a · peak · prefill_compute_utilisation / F(prompt/2), tokens/s.
    Mean context of a prompt's tokens is prompt/2 (causal attention)."""
    return (
        a
        * hw.peak(precision)
        * hw.efficiency.prefill_compute_utilisation
        / forward_flops_per_token(arch, prompt_tokens / 2)
    )


def prefill_rate(
    arch: ModelArch,
    hw: Hardware | None,
    precision: str,
    kv_precision: str,
    context_tokens: float,
    mean_context: float,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
) -> Rate:
    """Prefill (forward-only) tokens/s per unit for a model whose passes read `context_tokens`
    tokens (KV must fit) at mean attention context `mean_context`."""
    if hw is None:
        return Rate(0.0, CPU_ONLY_REASON)
    if not hw.supports(precision):
        return Rate(0.0, f"{hw.system.accelerator} does not support {precision}")
    w = weight_bytes(arch, precision)
    kvb = kv_bytes_per_token(arch, kv_precision)
    instances = fitting_instances(arch, hw, w, context_tokens * kvb, max_units_per_instance)
    if not instances:
        return Rate(
            0.0,
            does_not_fit_reason(
                arch, hw, precision, kv_precision, context_tokens, max_units_per_instance
            ),
        )
    inst = instances[0]
    f = forward_flops_per_token(arch, mean_context)
    per_inst = (
        inst.accelerators * hw.peak(precision) * hw.efficiency.prefill_compute_utilisation / f
    )
    return Rate(
        per_inst * inst.instances_per_unit,
        f"{inst.label(hw.system.scale_up_domain)}, {hw.efficiency.prefill_compute_utilisation:g}"
        f" x peak / {f:.3g} FLOP/token",
    )


@dataclass(frozen=True)
class InferenceEstimate:
    """Everything `estimate inference` computes; None where infeasible. SI units."""

    model: str
    system: str
    precision: str
    kv_precision: str
    prompt_tokens: int
    output_tokens: int
    votes: int
    tokens_per_s_per_user: float
    hbm_usable_fraction: float | None
    weight_bytes: float
    kv_bytes_per_token: float
    kv_bytes_per_group: float  # (prompt + votes · output) · kv: the prefix stored once
    flops_per_decode_token: float
    feasible: bool
    reason: str
    fits_one_unit: bool
    instance_accelerators: int | None = None
    units_per_instance: int | None = None
    instances_per_unit: float | None = None
    max_batch_hbm: float | None = None
    max_batch_latency: float | None = None
    max_batch: int | None = None
    step_time_s: float | None = None
    step_budget_s: float | None = None
    bound: str | None = None  # "memory" or "compute"
    tokens_per_s_per_instance: float | None = None
    tokens_per_s_per_system: float | None = None
    prefill_tokens_per_s_per_instance: float | None = None
    prefill_tokens_per_s_per_system: float | None = None
    ttft_s: float | None = None
    pricing: str = "rental"
    unit_usd_per_hour: float | None = None
    usd_per_million_tokens: float | None = None  # per output token, decode + prefill share
    usd_per_million_decode_tokens: float | None = None  # decode time only
    units_for_demand: float | None = None  # units to serve requests_per_day at peak
    notes: list[str] = field(default_factory=list)
    derivation: list[str] = field(default_factory=list)


def estimate_inference(
    spec: InferenceSpec,
    catalog: Catalog,
    system: str,
    *,
    hbm_usable_fraction: float | None = None,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
    pricing: Pricing = "rental",
    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH,
    pue: float = DEFAULT_PUE,
) -> InferenceEstimate:
    """Serve `spec` on `system`: instance, batch, step time, tokens/s, TTFT, $/M tokens.

    usd_per_million_tokens = 1e6 · unit_usd_per_s · (1/decode_tokens_per_s_per_unit
        + prompt / (votes · output) / prefill_tokens_per_s_per_unit)
    i.e. per generated output token: its share of decode time plus its share of its request's
    prefill. units_for_demand = decode tokens/s needed / decode rate + prefill tokens/s needed /
    prefill rate, needed rates = requests_per_day · tokens · peak_to_average / 86,400 s.
    """
    arch = catalog.models[spec.model]
    kvp = spec.kv
    hw = hardware(catalog, system, hbm_usable_fraction)
    kvb = kv_bytes_per_token(arch, kvp)
    w = weight_bytes(arch, spec.precision)
    group_kv = (spec.prompt_tokens + spec.votes * spec.output_tokens) * kvb
    common = dict(
        model=spec.model,
        system=system,
        precision=spec.precision,
        kv_precision=kvp,
        prompt_tokens=spec.prompt_tokens,
        output_tokens=spec.output_tokens,
        votes=spec.votes,
        tokens_per_s_per_user=spec.tokens_per_s_per_user,
        weight_bytes=w,
        kv_bytes_per_token=kvb,
        kv_bytes_per_group=group_kv,
        flops_per_decode_token=forward_flops_per_token(
            arch, spec.prompt_tokens + spec.output_tokens / 2
        ),
        pricing=pricing,
    )
    if hw is None:
        return InferenceEstimate(
            hbm_usable_fraction=None,
            feasible=False,
            reason=CPU_ONLY_REASON,
            fits_one_unit=False,
            **common,  # type: ignore[arg-type]
        )
    point = decode_point(
        arch,
        hw,
        spec.precision,
        kvp,
        spec.prompt_tokens,
        spec.output_tokens,
        spec.votes,
        spec.tokens_per_s_per_user,
        max_units_per_instance,
    )
    unit_usable = hw.accelerators * hw.accelerator.hbm_bytes * hw.hbm_usable_fraction
    one_seq = (spec.prompt_tokens + spec.output_tokens) * kvb
    fits_one = w + one_seq <= unit_usable
    notes: list[str] = []
    if not fits_one and hw.supports(spec.precision) and point.feasible:
        notes.append(
            "does not fit one unit: "
            + does_not_fit_reason(
                arch, hw, spec.precision, kvp, spec.prompt_tokens + spec.output_tokens, 1
            )
        )
    eff = hw.efficiency
    lines = [
        f"weights W = {arch.params:.4g} params x {BYTES_PER_VALUE[spec.precision]:g} B = {gb(w)}",
        f"kv/token = {arch.kv_elements_per_token:,} x {BYTES_PER_VALUE[kvp]:g} B = {kvb:,.0f} B; "
        f"per group of {spec.votes} = (prompt {spec.prompt_tokens} + {spec.votes} x output "
        f"{spec.output_tokens}) x kv = {gb(group_kv)}",
        f"FLOPs/decode token F = 2 x {arch.active:.4g} + attention at context "
        f"{spec.prompt_tokens + spec.output_tokens / 2:,.0f} = {point.flops_per_token:.4g}",
    ]
    if not point.feasible or point.instance is None or point.batch is None:
        return InferenceEstimate(
            hbm_usable_fraction=hw.hbm_usable_fraction,
            feasible=False,
            reason=point.reason,
            fits_one_unit=fits_one,
            notes=notes,
            derivation=lines,
            instance_accelerators=point.instance.accelerators if point.instance else None,
            units_per_instance=point.instance.units_spanned if point.instance else None,
            instances_per_unit=point.instance.instances_per_unit if point.instance else None,
            **common,  # type: ignore[arg-type]
        )
    inst = point.instance
    a = inst.accelerators
    assert point.step_time_s is not None and point.tokens_per_s_per_instance is not None
    assert point.tokens_per_s_per_unit is not None and point.max_batch_hbm is not None
    prefill_inst = prefill_tokens_per_s_per_instance(
        arch, hw, spec.precision, a, spec.prompt_tokens
    )
    prefill_unit = prefill_inst * inst.instances_per_unit
    usd_h = unit_usd_per_hour(hw.system, pricing, electricity_usd_per_kwh, pue)
    usd_s = usd_h / SECONDS_PER_HOUR
    decode_usd_m = 1e6 * usd_s / point.tokens_per_s_per_unit
    prefill_per_output = spec.prompt_tokens / (spec.votes * spec.output_tokens)
    usd_m = decode_usd_m + 1e6 * usd_s * prefill_per_output / prefill_unit
    need_decode = (
        spec.requests_per_day
        * spec.output_tokens
        * spec.votes
        * spec.peak_to_average
        / SECONDS_PER_DAY
    )
    need_prefill = (
        spec.requests_per_day * spec.prompt_tokens * spec.peak_to_average / SECONDS_PER_DAY
    )
    units = need_decode / point.tokens_per_s_per_unit + need_prefill / prefill_unit
    compute = a * hw.peak(spec.precision) * eff.decode_compute_utilisation
    bandwidth = a * hw.accelerator.hbm_bandwidth_bytes_per_s * eff.decode_bandwidth_utilisation
    lat = f"{point.max_batch_latency:.1f}" if point.max_batch_latency is not None else "n/a"
    lines += [
        f"instance = {inst.label(hw.system.scale_up_domain)}: usable HBM {a} x "
        f"{gb(hw.accelerator.hbm_bytes)} x {hw.hbm_usable_fraction:g} = {gb(inst.usable_bytes)}, "
        f"free after weights {gb(inst.free_bytes)}",
        f"batch(HBM) = free / ((prompt/{spec.votes} + output) x kv) = {point.max_batch_hbm:.1f}",
        f"compute C = {a} x {hw.peak(spec.precision):.4g} x {eff.decode_compute_utilisation:g} "
        f"= {compute:.4g} FLOP/s; bandwidth B = {a} x "
        f"{hw.accelerator.hbm_bandwidth_bytes_per_s:.4g} x {eff.decode_bandwidth_utilisation:g} "
        f"= {bandwidth:.4g} B/s",
        f"batch(latency) = min(T C / F, (T B - W) / kv read per seq), T = "
        f"{1e3 / spec.tokens_per_s_per_user:.2f} ms: {lat}",
        f"batch = floor(min) = {point.batch}; step = max({point.step_compute_s * 1e3:.2f} ms "  # type: ignore[operator]
        f"compute, {point.step_memory_s * 1e3:.2f} ms memory) = {point.step_time_s * 1e3:.2f} ms",  # type: ignore[operator]
        f"decode = {point.batch} / step = {point.tokens_per_s_per_instance:,.0f} tok/s/instance "
        f"x {inst.instances_per_unit:g} = {point.tokens_per_s_per_unit:,.0f} tok/s/unit",
        f"prefill = {a} x peak x {eff.prefill_compute_utilisation:g} / F(prompt/2) = "
        f"{prefill_inst:,.0f} tok/s/instance; TTFT = {spec.prompt_tokens} / that = "
        f"{spec.prompt_tokens / prefill_inst * 1e3:.1f} ms",
        f"$/M tokens = 1e6 x ${usd_h:,.2f}/h / 3600 x (1/{point.tokens_per_s_per_unit:,.0f} + "
        f"{prefill_per_output:.3g}/{prefill_unit:,.0f}) = ${usd_m:,.3f}",
    ]
    return InferenceEstimate(
        hbm_usable_fraction=hw.hbm_usable_fraction,
        feasible=True,
        reason=point.reason,
        fits_one_unit=fits_one,
        instance_accelerators=a,
        units_per_instance=inst.units_spanned,
        instances_per_unit=inst.instances_per_unit,
        max_batch_hbm=point.max_batch_hbm,
        max_batch_latency=point.max_batch_latency,
        max_batch=point.batch,
        step_time_s=point.step_time_s,
        step_budget_s=1.0 / spec.tokens_per_s_per_user,
        bound="compute" if point.step_compute_s >= point.step_memory_s else "memory",  # type: ignore[operator]
        tokens_per_s_per_instance=point.tokens_per_s_per_instance,
        tokens_per_s_per_system=point.tokens_per_s_per_unit,
        prefill_tokens_per_s_per_instance=prefill_inst,
        prefill_tokens_per_s_per_system=prefill_unit,
        ttft_s=spec.prompt_tokens / prefill_inst,
        unit_usd_per_hour=usd_h,
        usd_per_million_tokens=usd_m,
        usd_per_million_decode_tokens=decode_usd_m,
        units_for_demand=units,
        notes=notes,
        derivation=lines,
        **common,  # type: ignore[arg-type]
    )


def inference_rates(spec: InferenceSpec, catalog: Catalog, system: str) -> tuple[Rate, Rate]:
    """(decode, prefill) tokens/s per unit of `system` for the LP. Prefill is rated on its own
    (it may run on other units than decode): the smallest instance holding the weights and one
    prompt's KV, compute-bound at mean context prompt/2."""
    hw = hardware(catalog, system)
    if hw is None:
        return Rate(0.0, CPU_ONLY_REASON), Rate(0.0, CPU_ONLY_REASON)
    est = estimate_inference(spec, catalog, system)
    decode = (
        Rate(est.tokens_per_s_per_system, est.reason)
        if est.feasible and est.tokens_per_s_per_system is not None
        else Rate(0.0, est.reason)
    )
    arch = catalog.models[spec.model]
    prefill = prefill_rate(
        arch, hw, spec.precision, spec.kv, spec.prompt_tokens, spec.prompt_tokens / 2
    )
    return decode, prefill
