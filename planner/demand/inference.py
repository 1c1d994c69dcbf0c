"""Serving: the layout that holds the weights, the batch that fits HBM and the time-per-token
budget, the decode step with every term, prefill, queueing, TTFT and $ per million tokens.

The step physics is in planner/demand/serving_physics.py (docstring there), the queueing in
planner/demand/queueing.py; formulas and sources in docs/models.md. Summary (SI units):
  W        = checkpoint bytes of the weights (catalog checkpoints, else params · bytes)
  usable   = a · (hbm − runtime_reserve)                 HBM for weights + KV of an instance
  b_hbm    = (usable − W stored) / (KV stored per sequence · KV replication)
  step(B)  = Σ phases max(compute, memory) + TP all-reduce + EP all-to-all + PP hops
             + MoE layer latency + MoE routed tokens + step overhead
             (phases: attention, dense GEMMs, expert GEMMs)
  TPOT(B)  = step(B) + prefill chunk(B) <= 1 / tokens_per_s_per_user   (interactive mode)
             (tpot_percentile p99: the p99 over requests of step(B) + K · s_p / (n − 1), K
             Poisson prompt stalls during a request's n output tokens: tpot_tail.py)
  batch    = largest B <= min(b_hbm, engine cap) meeting TPOT (offline: floor of that min);
             engine cap = min(max_sequences, max_sequences_per_accelerator · a, the token
             budget's M · pp · d / (q + t · P/(votes · O)): serving_physics.token_budget_cap),
             inf if unset
  decode tokens/s per instance = batch / step(batch);  per unit x instances per unit
  prefill s per prompt token = F(prompt/2) / (a · peak · compute_utilisation)
             + n_allreduce · 2(tp−1)/tp · hidden · 2 B / (one-way scale-up bw · link util) · tp/a
             (serving_physics.prefill_time: the LP's prefill rate, TTFT and the prefill chunk)
  prefill tokens/s per instance = 1 / that
  server (ttft_p99): decode and prefill rates x the M/D/c utilisation meeting the p99 TTFT
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from hardware.schema import ModelArch, ServingFigures
from planner.demand.common import (
    CPU_ONLY_REASON,
    DEFAULT_COST_OF_CAPITAL,
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_FACILITY_USD_PER_KW_MONTH,
    DEFAULT_PUE,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    Hardware,
    Pricing,
    amortised_breakdown,
    checkpoint_weight_bytes,
    dense_precision,
    gb,
    hardware,
    unit_usd_per_hour,
)
from planner.demand.kv import kv_sequence_bytes
from planner.demand.memo import PHYSICS_CACHE_SIZE, forget_fingerprints, memoised
from planner.demand.queueing import max_utilisation, mean_wait_mdc
from planner.demand.serving_physics import (
    Layout,
    ModelLoad,
    StepArrays,
    StepPhysics,
    StepTerms,
    figures,
    kv_replication,
    max_batch_within,
    model_load,
    moe_token_bytes,
    padded_prompt_tokens,
    precision_gap,
    prefill_time,
    quantile_label,
    token_budget_cap,
)
from planner.demand.training import in_one_domain
from planner.demand.types import Rate
from planner.kinds.base import engine_sequence_cap
from planner.kinds.inference import InferenceSpec

# Planner convention: a serving instance may span at most this many units (servers/racks),
# joined over the scale-out network (pipeline stages, or expert parallelism for MoE). Two 8-GPU
# servers per instance is common practice for 400B+ BF16 models. Override with
# max_units_per_instance.
MAX_UNITS_PER_INSTANCE = 4
# decode_point skips layouts whose bound shows they change nothing (tests/test_serving_speed.py
# turns this off to check the points are the same).
SKIP_BOUNDED = True
# decode_point searches every layout's batch at once on arrays (_search_layouts); False: one
# layout after another (_evaluate, the reference tests/test_serving_vector.py compares with).
VECTORISED = True
# Server scenarios: TTFT targets are p99 (MLPerf Inference Server rules for Llama 2 70B).
TAIL_PROBABILITY = 0.01


def usable_bytes(hw: Hardware, accelerators: int, hbm_usable_fraction: float | None) -> float:
    """HBM of `accelerators` chips for weights + KV: a · (hbm − runtime_reserve), or
    a · hbm · f when a fraction f is given explicitly (override)."""
    hbm = hw.accelerator.hbm_bytes
    if hbm_usable_fraction is not None:
        return accelerators * hbm * hbm_usable_fraction
    return accelerators * max(0.0, hbm - figures(hw).runtime_reserve_bytes)


def instance_sizes(hw: Hardware, max_units_per_instance: int) -> list[int]:
    """Instance sizes tried, ascending: divisors of the scale-up domain and powers of two up to
    it (a 72-GPU NVL72 domain holds one TP64 or four TP16 instances; the GPUs left over idle),
    then whole multiples of the unit (2, 3, ... units)."""
    domain = hw.system.scale_up_domain
    powers = {1 << k for k in range(domain.bit_length()) if 1 << k <= domain}
    sizes = sorted({d for d in range(1, domain + 1) if domain % d == 0} | powers)
    if hw.accelerators not in sizes:
        sizes.append(hw.accelerators)
    sizes += [k * hw.accelerators for k in range(2, max_units_per_instance + 1)]
    return sizes


def instances_per_unit(hw: Hardware, accelerators: int) -> float:
    """Instances of a = `accelerators` chips one unit of U chips holds, each inside one
    scale-up domain of D chips when it fits one (the unit's other chips idle):

        a <= D:      floor(U / D) · floor(D / a) + floor((U mod D) / a)
        D < a <= U:  floor(U / a)
        a > U:       1 / ceil(a / U)   (an instance spans units)

    Every catalog system has U = D (floor(U / a)); a unit of two 72-GPU domains holds 8
    16-GPU instances, not 9: the fifth would lie over ranks 64-79, across both domains."""
    units, domain = hw.accelerators, hw.system.scale_up_domain
    if accelerators > units:
        return 1.0 / math.ceil(accelerators / units)
    if accelerators > domain:
        return float(units // accelerators)
    return float(units // domain * (domain // accelerators) + units % domain // accelerators)


def layouts(
    arch: ModelArch,
    hw: Hardware,
    load: ModelLoad,
    max_units_per_instance: int,
    hbm_usable_fraction: float | None = None,
) -> list[Layout]:
    """Every layout tried, by instance size: pp stages (dividing the instance, at most one per
    layer) of g = a/pp chips;
    TP widths that divide g, stay in the scale-up domain and split the attention heads evenly
    (KV heads are replicated when TP exceeds them); dense models use TP = g (a stage is one TP
    group on the scale-up fabric); MoE models also try narrower attention groups (data-parallel
    attention) with the experts over all g chips (EP = g, beyond the domain over scale-out).
    In an instance of whole domains a stage or TP group no larger than a domain that crosses a
    domain boundary (training.in_one_domain over the instance's consecutive ranks) is not
    tried (session 30): a restriction of the search, which keeps it to layouts whose groups each
    lie inside a domain or span whole ones; a stated layout of that shape (pinned_layout) is
    rated with the NIC its straddling groups pay (serving_physics.group_split)."""
    domain = hw.system.scale_up_domain
    out: list[Layout] = []
    for a in instance_sizes(hw, max_units_per_instance):
        units = max(1, math.ceil(a / hw.accelerators))
        per_unit = instances_per_unit(hw, a)
        usable = usable_bytes(hw, a, hbm_usable_fraction)
        # at most one stage per layer: a stage holds whole layers
        for pp in (p for p in range(1, min(a, arch.layers) + 1) if a % p == 0):
            g = a // pp
            if g <= domain and not in_one_domain(g, a, domain):
                # a stage that fits a domain's size but crosses a domain boundary (a stage of
                # 48 of a 2-rack NVL72 instance spans ranks 48-95): not searched (a stated one
                # pays the NIC for it, group_split)
                continue
            if arch.moe is None:
                tps = [g] if g <= domain and arch.heads % g == 0 else []
            else:
                # TP groups at consecutive ranks, each inside a domain (training.in_one_domain:
                # TP6 of a 12-chip stage on 3 HGX servers crosses the 8-GPU boundary)
                tps = [
                    t
                    for t in range(1, min(g, domain) + 1)
                    if g % t == 0 and arch.heads % t == 0 and in_one_domain(t, a, domain)
                ]
            for tp in tps:
                stored = load.dense_bytes * (g // tp) + (load.weights_bytes - load.dense_bytes)
                out.append(
                    Layout(a, tp, pp, units, float(per_unit), usable, stored, arch.moe is not None)
                )
    return out


def pinned_layout(
    arch: ModelArch,
    hw: Hardware,
    load: ModelLoad,
    tp: int,
    pp: int,
    ep: int,
    hbm_usable_fraction: float | None = None,
) -> Layout | str:
    """A stated engine layout (vLLM tensor/pipeline/expert parallel sizes) as a serving Layout:
    a = pp · g chips, g = max(tp, ep) a stage; an MoE model with ep > 1 spreads its experts
    over the g chips (EP = g, g / tp data-parallel attention groups, as `layouts` builds them),
    with ep = 1 shards every expert over the TP group (expert_tp); weights stored as `layouts`
    counts them, HBM as usable_bytes (x hbm_usable_fraction when given). TP may exceed the
    scale-up domain (allreduce_s goes hierarchical). A string says why the layout cannot be
    built: more pipeline stages than layers, attention heads that TP does not split evenly,
    ep on a dense model."""
    g = max(tp, ep)
    a = pp * g
    if arch.moe is None and ep > 1:
        return f"ep {ep} on a dense model (no experts to spread)"
    if pp > arch.layers:
        return f"pp {pp} exceeds the model's {arch.layers} layers"
    if arch.heads % tp:
        return f"tp {tp} does not divide the model's {arch.heads} attention heads"
    units = max(1, math.ceil(a / hw.accelerators))
    per_unit = instances_per_unit(hw, a)
    usable = usable_bytes(hw, a, hbm_usable_fraction)
    stored = load.dense_bytes * (g // tp) + (load.weights_bytes - load.dense_bytes)
    moe = arch.moe is not None
    return Layout(
        a, tp, pp, units, float(per_unit), usable, stored, moe, expert_tp=moe and ep == 1 and tp > 1
    )


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
    weights = checkpoint_weight_bytes(arch, precision)
    one_kv = kv_sequence_bytes(arch, kv_precision, seq_tokens)
    unit_usable = usable_bytes(hw, hw.accelerators, None)
    reserve = figures(hw).runtime_reserve_bytes
    msg = (
        f"{precision} weights {gb(weights)} + one sequence's KV {gb(one_kv)} exceed the usable HBM "
        f"of {'1 unit' if max_units_per_instance == 1 else f'{max_units_per_instance} units'} "
        f"({hw.accelerators} x ({gb(hw.accelerator.hbm_bytes)} - {gb(reserve)} runtime reserve) "
        f"= {gb(unit_usable)} per unit)"
    )
    fits = []
    for p in sorted(hw.accelerator.peak_flops, key=lambda q: -BYTES_PER_VALUE[q]):
        if BYTES_PER_VALUE[p] < BYTES_PER_VALUE[precision]:
            w = checkpoint_weight_bytes(arch, p)
            if w + one_kv <= unit_usable:
                fits.append(f"{p} weights ({gb(w)}) on one unit")
    units = math.ceil((weights + one_kv) / unit_usable) if unit_usable > 0 else 0
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
    instance: Layout | None = None
    max_batch_hbm: float | None = None  # before flooring
    max_batch_latency: float | None = None  # None in throughput mode
    max_batch_engine: float | None = None  # the engine's cap on this instance; None: no cap
    batch: int | None = None
    terms: StepTerms | None = None
    step_time_s: float | None = None  # decode-only step
    tpot_s: float | None = None  # step + prefill chunk
    step_compute_s: float | None = None
    step_memory_s: float | None = None
    tokens_per_s_per_instance: float | None = None
    tokens_per_s_per_unit: float | None = None
    alternatives: list[str] = field(default_factory=list)  # other layouts, why not chosen


def fits_one_sequence(load: ModelLoad, lay: Layout) -> bool:
    """Whether the layout holds its weights and at least one sequence a pipeline stage."""
    return _hbm_batch(load, lay) >= lay.pp


def _hbm_batch(load: ModelLoad, lay: Layout) -> float:
    """Sequences whose KV fits beside the weights: free / (KV stored per sequence · r)."""
    return lay.free_bytes / (load.kv_stored_per_sequence * kv_replication(load.arch, lay.tp))


def _per_unit_bound(
    step: StepPhysics,
    load: ModelLoad,
    lay: Layout,
    target: float | None,
    chunked: bool,
    cap: float = math.inf,
) -> float:
    """An upper bound of _evaluate's decode tokens/s per unit on this layout, for one step
    evaluation instead of a batch search. The batch is at most B: the HBM's, and with a target
    the largest whose TPOT floor (a lower bound of the TPOT, non-decreasing in the batch) fits
    the budget. Tokens/s per instance, b · k / step(b), does not fall as b grows: step(b) / b
    is non-increasing, as every term of the step is (affine with a non-negative intercept:
    attention, KV read, dense GEMMs at n/(n + half) efficiency, TP all-reduces, PP hops,
    overheads; concave from 0: distinct experts' weights read; b times a non-increasing factor:
    expert GEMMs (EP imbalance falls and GEMM rows per expert grow with b), routed tokens, EP
    all-to-all; and a max of such per phase). So the value at B bounds the one at any b <= B
    (times 1 + 1e-9 against float rounding). 0 when no batch fits. `cap`: the engine's
    sequence cap on this instance (the batch is at most it too)."""
    batch = math.floor(min(_hbm_batch(load, lay), cap))
    if target is not None:
        budget = 1.0 / target
        lo, hi = 0, batch  # bisection: the largest batch in [0, hi] whose floor fits
        if step.tpot_floor_s(hi, chunked) > budget:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if step.tpot_floor_s(mid, chunked) <= budget:
                    lo = mid
                else:
                    hi = mid
            batch = lo
    if batch < lay.pp:
        return 0.0
    # Unpadded: a CUDA-graph-padded step (padded_decode_batch) is never shorter, so this stays
    # an upper bound of the padded rate at any b <= B too.
    terms = step.terms(batch, False, padded=False)
    return batch * terms.tokens_per_step / terms.step_s * lay.instances_per_unit * (1 + 1e-9)


def _evaluate(
    hw: Hardware,
    load: ModelLoad,
    lay: Layout,
    target: float | None,
    chunked: bool,
    step: StepPhysics | None = None,
    cap: float = math.inf,
) -> tuple[DecodePoint | None, str, float]:
    """The operating point of one layout, or (None, why not, its TPOT floor in s). `cap`: the
    engine's sequence cap on this instance (engine_sequence_cap; inf: none), a bound on the
    batch beside HBM's and the TPOT budget's."""
    step = step or StepPhysics(hw, load, lay)
    b_hbm = _hbm_batch(load, lay)
    if b_hbm < lay.pp:
        return None, f"{lay.label()}: {b_hbm:.1f} sequences fit HBM (need >= {lay.pp})", math.inf
    if cap < lay.pp:
        return (
            None,
            f"{lay.label()}: the engine's cap of {cap:,.0f} sequences is below its {lay.pp} "
            "pipeline stages (one sequence a stage)",
            math.inf,
        )
    b_lat: float | None = None
    if target is None:
        batch = math.floor(min(b_hbm, cap))
    else:
        budget = 1.0 / target
        b_lat = float(max_batch_within(hw, load, lay, budget, 1 << 22, chunked, step))
        batch = int(min(math.floor(b_hbm), int(b_lat), cap))
        if batch < lay.pp:
            floor_terms = step.terms(lay.pp, chunked)
            what = (
                "TPOT"
                if floor_terms.tpot_quantile is None
                else f"{quantile_label(floor_terms.tpot_quantile)} TPOT"
            )
            return (
                None,
                (
                    f"{lay.label()}: {what} at the smallest batch is "
                    f"{floor_terms.tpot_bound_s * 1e3:.1f} ms vs the {budget * 1e3:.3g} ms budget "
                    f"({floor_terms.describe()})"
                ),
                floor_terms.tpot_bound_s,
            )
    batch = _best_padded_batch(step, load, lay, batch, chunked and target is not None)
    return _feasible_point(
        load, lay, step, b_hbm, b_lat, cap, batch, chunked and target is not None
    )


def _feasible_point(
    load: ModelLoad,
    lay: Layout,
    step: StepPhysics,
    b_hbm: float,
    b_lat: float | None,
    cap: float,
    batch: int,
    with_chunk: bool,
) -> tuple[DecodePoint, str, float]:
    """_evaluate's point of a layout whose batch is chosen: its step terms at that batch."""
    terms = step.terms(batch, with_chunk)
    per_inst = batch * load.tokens_per_step / terms.step_s
    return (
        DecodePoint(
            True,
            f"{lay.label()}, batch {batch}, step {terms.describe()}",
            weight_bytes=load.weights_bytes,
            kv_bytes_per_token=load.kv_bytes_per_token,
            kv_bytes_per_sequence=load.kv_stored_per_sequence,
            kv_read_bytes_per_sequence=load.kv_read_per_sequence,
            flops_per_token=load.flops_per_token,
            instance=lay,
            max_batch_hbm=b_hbm,
            max_batch_latency=b_lat,
            max_batch_engine=cap if math.isfinite(cap) else None,
            batch=batch,
            terms=terms,
            step_time_s=terms.step_s,
            tpot_s=terms.tpot_s,
            step_compute_s=terms.compute_s,
            step_memory_s=terms.memory_s,
            tokens_per_s_per_instance=per_inst,
            tokens_per_s_per_unit=per_inst * lay.instances_per_unit,
        ),
        "",
        terms.tpot_s,
    )


@dataclass(frozen=True)
class _Scored:
    """One layout's operating point as the vectorised search found it (no step terms yet)."""

    index: int  # in the candidates
    b_lat: float | None
    batch: int
    per_unit: float  # decode tokens/s per unit


def _search_layouts(
    hw: Hardware,
    load: ModelLoad,
    candidates: list[Layout],
    target: float | None,
    chunked: bool,
    caps: list[float],
) -> list[_Scored]:
    """The layouts' points, in the candidates' order, as _evaluate finds them one by one (same
    batch, same tokens/s per unit to the last bit): the TPOT budget's batch search
    (max_batch_within) of every layout at once in lockstep, the CUDA-graph sawtooth
    (_best_padded_batch) and the rate on arrays (serving_physics.StepArrays); infeasible
    layouts left out. Where a step's TPOT costs Python work per element (a TPOT quantile's
    tail, whole-prompt stalls), layouts that can change nothing are left out too, as
    decode_point's scalar search skips them: the layouts with the highest rate bounds
    (_per_unit_bounds) are evaluated first, then only those whose bound is not below four
    evaluated rates (it could be among the three alternatives) or exceeds every evaluated
    rate before it in the candidates' order (it could become the best: a layout replaces the
    best only by beating it by 0.1%, so the best at any point is at least every earlier rate
    / 1.001)."""
    steps = [StepPhysics(hw, load, lay) for lay in candidates]
    arrays = StepArrays(steps)
    b_hbm = [_hbm_batch(load, lay) for lay in candidates]
    live = [
        j for j, lay in enumerate(candidates) if not (b_hbm[j] < lay.pp) and not (caps[j] < lay.pp)
    ]
    costly = (
        target is not None
        and chunked
        and (load.tpot_quantile is not None or any(st.replica_stall_s is not None for st in steps))
    )
    if not costly or len(live) <= 2 * PRUNE_FIRST:
        found = _evaluate_many(arrays, load, candidates, target, chunked, caps, b_hbm, live)
        return [found[j] for j in sorted(found)]
    bounds = _per_unit_bounds(arrays, candidates, target, chunked, caps, b_hbm, live)
    first = sorted(live, key=lambda j: -bounds[j])[:PRUNE_FIRST]
    found = _evaluate_many(arrays, load, candidates, target, chunked, caps, b_hbm, first)
    rates = [p.per_unit for p in found.values()]
    rest = []
    for j in live:
        if j in first:
            continue
        earlier = max((p.per_unit for k, p in found.items() if k < j), default=-math.inf)
        if bounds[j] <= earlier and sum(r > bounds[j] for r in rates) >= 4:
            continue  # never the best, never among the three alternatives
        rest.append(j)
    found.update(_evaluate_many(arrays, load, candidates, target, chunked, caps, b_hbm, rest))
    return [found[j] for j in sorted(found)]


# Costly searches (_search_layouts): layouts evaluated before the others are bounded.
PRUNE_FIRST = 6


def _per_unit_bounds(
    arrays: StepArrays,
    candidates: list[Layout],
    target: float | None,
    chunked: bool,
    caps: list[float],
    b_hbm: list[float],
    rows: list[int],
) -> dict[int, float]:
    """_per_unit_bound of the layouts `rows` on arrays: the batch bisected on the TPOT floor
    in lockstep, the unpadded rate at it (times 1 + 1e-9)."""
    i = np.array(rows, dtype=np.int64)
    batch = np.array([math.floor(min(b_hbm[j], caps[j])) for j in rows], dtype=np.int64)
    if target is not None:
        budget = 1.0 / target
        lo, hi = np.zeros(len(rows), dtype=np.int64), batch.copy()
        open_ = np.flatnonzero(arrays.tpot_floor_s(i, hi, chunked) > budget)
        while True:
            open_ = open_[hi[open_] - lo[open_] > 1]
            if len(open_) == 0:
                break
            mid = (lo[open_] + hi[open_]) // 2
            fits = arrays.tpot_floor_s(i[open_], mid, chunked) <= budget
            lo[open_[fits]] = mid[fits]
            hi[open_[~fits]] = mid[~fits]
        over = np.flatnonzero(arrays.tpot_floor_s(i, batch, chunked) > budget)
        batch[over] = lo[over]
    out = {j: 0.0 for j in rows}
    ok = np.flatnonzero(batch >= arrays.pp[i])
    if len(ok):
        step = arrays.step_s(i[ok], batch[ok], padded=False)[0].tolist()
        for k, s in zip(ok.tolist(), step, strict=True):
            j = rows[k]
            rate = int(batch[k]) * arrays.load.tokens_per_step / s
            out[j] = rate * candidates[j].instances_per_unit * (1 + 1e-9)
    return out


def _evaluate_many(
    arrays: StepArrays,
    load: ModelLoad,
    candidates: list[Layout],
    target: float | None,
    chunked: bool,
    caps: list[float],
    b_hbm: list[float],
    live: list[int],
) -> dict[int, _Scored]:
    """_evaluate's batch and rate of the layouts `live` (each holding a sequence a stage in
    HBM and under the engine's cap), on arrays; the infeasible ones left out."""
    b_lats: dict[int, float | None] = {}
    batches: dict[int, int] = {}
    if target is None:
        for j in live:
            b_lats[j] = None
            batches[j] = math.floor(min(b_hbm[j], caps[j]))
    elif live:
        found = arrays.max_batches_within(np.array(live), 1.0 / target, 1 << 22, chunked)
        for j, b_lat in zip(live, found.tolist(), strict=True):
            batch = int(min(math.floor(b_hbm[j]), int(float(b_lat)), caps[j]))
            if batch >= candidates[j].pp:
                b_lats[j], batches[j] = float(b_lat), batch
    rows = list(batches)
    if not rows:
        return {}
    if load.graph_batch_sizes:
        # _best_padded_batch: the batch itself or the top of a smaller graph size's range,
        # the highest rate first met in size order (the batch first)
        tries = [
            [batches[j]]
            + [
                top
                for size in load.graph_batch_sizes
                for top in (size * candidates[j].attention_replicas * candidates[j].pp,)
                if candidates[j].pp <= top < batches[j]
            ]
            for j in rows
        ]
        flat_i = np.array([j for j, t in zip(rows, tries, strict=True) for _ in t])
        flat_b = np.array([b for t in tries for b in t], dtype=np.int64)
        step_s = arrays.step_s(flat_i, flat_b)[0].tolist()
        at = 0
        for j, t in zip(rows, tries, strict=True):
            best, best_rate = t[0], t[0] / step_s[at]
            for k, top in enumerate(t[1:], start=1):
                rate = top / step_s[at + k]
                if rate > best_rate:
                    best, best_rate = top, rate
            batches[j] = best
            at += len(t)
    final = np.array([batches[j] for j in rows], dtype=np.int64)
    step_s = arrays.step_s(np.array(rows), final)[0].tolist()
    return {
        j: _Scored(
            j,
            b_lats[j],
            batches[j],
            batches[j] * load.tokens_per_step / s * candidates[j].instances_per_unit,
        )
        for j, s in zip(rows, step_s, strict=True)
    }


def _best_padded_batch(
    step: StepPhysics, load: ModelLoad, lay: Layout, batch: int, with_chunk: bool
) -> int:
    """With CUDA graph padding (load.graph_batch_sizes) the decode rate b / step(padded(b)) is
    a sawtooth in b: it rises inside a graph size's range of batches and drops where the
    padded size steps up. So the best batch up to `batch` (the largest the HBM, the engine's
    cap and the TPOT budget allow; TPOT never falls as the batch grows, so every smaller batch
    fits too) is `batch` itself or the top of a smaller size's range, size x replicas x pp:
    the one with the highest rate (the larger on a tie). Without sizes: `batch`."""
    sizes = load.graph_batch_sizes
    if not sizes:
        return batch
    group = lay.attention_replicas * lay.pp
    best, best_rate = batch, batch / step.terms(batch, with_chunk).step_s
    for size in sizes:
        top = size * group
        if lay.pp <= top < batch:
            rate = top / step.terms(top, with_chunk).step_s
            if rate > best_rate:
                best, best_rate = top, rate
    return best


def _own_alternatives(point: DecodePoint) -> DecodePoint:
    """A cached DecodePoint for one caller: shared (frozen) except its alternatives list, copied."""
    return replace(point, alternatives=list(point.alternatives))


@memoised(copy=_own_alternatives)
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
    hbm_usable_fraction: float | None = None,
    chunked_prefill: bool = False,
    draft_tokens: int = 0,
    draft_acceptance: float = 0.0,
    prompt_cache_hit: float = 0.0,
    tpot_quantile: float | None = None,
    whole_prompts: bool = False,
    prefill_buckets: tuple[int, ...] | None = None,
    max_sequences: int | None = None,
    max_sequences_per_accelerator: int | None = None,
    pinned: tuple[int, int, int] | None = None,
    prompt_cv: float = 0.0,
    graph_batch_sizes: tuple[int, ...] | None = None,
    token_budget: int | None = None,
    output_percentiles: tuple[tuple[float, float], ...] | None = None,
    engine_release: str | None = None,
) -> DecodePoint:
    """Batch and decode tokens/s of the best layout (throughput mode when tokens_per_s_per_user
    is None: batch limited by HBM only). max_sequences, max_sequences_per_accelerator: the
    engine's batch cap (EngineSpec: at most min(max_sequences, max_sequences_per_accelerator x
    the layout's chips) sequences an instance; None: no cap). pinned (tp, pp, ep): the engine's
    own layout (EngineSpec.layout, pinned_layout), the only one evaluated. `share` sequences share one prompt prefix's KV.
    chunked_prefill: prompts are prefilled in the decode steps (aggregated serving), so the
    TPOT that must meet the target includes each step's prefill chunk; with `tpot_quantile`
    (0.99: p99) the target bounds that quantile of TPOT over requests instead of its mean
    (tpot_tail.py: Poisson prompt stalls spread over each request's own output tokens).
    whole_prompts: aggregated prefill without chunked context: on an attention-DP layout each
    prompt is prefilled on its own replica while the others wait (StepPhysics.terms).
    prefill_buckets: compile-time prompt shapes (model_load): the prefill chunk and stalls
    compute the prompt padded to its bucket. prompt_cv: the prompts' length stdev / mean; with
    tpot_quantile each stall is a gamma of that spread (tpot_tail.py; 0: the mean prompt's).
    graph_batch_sizes: the engine's CUDA graph batch sizes with padding
    (EngineSpec.cuda_graph_batch_sizes): each step computes its batch rounded up per attention
    replica (serving_physics.padded_decode_batch), and the batch is the best of the sawtooth
    (_best_padded_batch). token_budget: the engine's tokens a step (EngineSpec.max_num_tokens,
    per attention replica and pipeline micro-batch): the batch is capped so that its decode
    tokens and the prompt tokens that keep up with them fit it (token_budget_cap); the TPOT
    tail is unchanged (a prompt's chunks fall on consecutive steps: tpot_tail.py).
    output_percentiles: the output lengths' law, (quantile, tokens) pairs, for the TPOT
    quantile (tpot_tail.output_lengths; None: geometric of the mean). engine_release: the
    TensorRT-LLM release the engine runs (EngineSpec.tensorrt_llm_version): the MoE module's
    time from a measured table where one covers it (moe_kernels.py).

    Every layout (see `layouts`), spanning units or not, is evaluated; the one with the highest
    decode tokens/s per unit wins (the smaller instance on a tie within 0.1%). Layouts spanning
    units pay their pipeline hops or expert all-to-all over the scale-out network.

    Memoised per process on all its arguments (the catalog entries by content,
    planner/demand/memo.py): a sweep re-rates the same model, system and request shape at every
    point."""
    load = model_load(
        arch,
        precision,
        kv_precision,
        prompt_tokens,
        output_tokens,
        share,
        draft_tokens,
        draft_acceptance,
        prompt_cache_hit,
        tpot_quantile,
        whole_prompts,
        prefill_buckets,
        prompt_cv,
        graph_batch_sizes,
        token_budget,
        output_percentiles,
        engine_release,
    )
    base = dict(
        weight_bytes=load.weights_bytes,
        kv_bytes_per_token=load.kv_bytes_per_token,
        kv_bytes_per_sequence=load.kv_stored_per_sequence,
        kv_read_bytes_per_sequence=load.kv_read_per_sequence,
        flops_per_token=load.flops_per_token,
    )
    gap = precision_gap(hw, arch, precision)
    if gap is not None:
        return DecodePoint(False, gap, **base)  # type: ignore[arg-type]
    one_seq = load.kv_bytes(prompt_tokens + output_tokens)
    if pinned is not None:
        lay_or_why = pinned_layout(arch, hw, load, *pinned, hbm_usable_fraction)
        if isinstance(lay_or_why, str):
            return DecodePoint(False, f"engine layout: {lay_or_why}", **base)  # type: ignore[arg-type]
        tried = [lay_or_why]
    else:
        tried = layouts(arch, hw, load, max_units_per_instance, hbm_usable_fraction)
    candidates = [lay for lay in tried if lay.free_bytes >= one_seq * kv_replication(arch, lay.tp)]
    if not candidates and pinned is not None:
        lay = tried[0]
        return DecodePoint(
            False,
            f"engine layout {lay.label()} does not hold the {precision} weights "
            f"({gb(lay.weights_bytes)} stored) and one sequence's KV "
            f"({gb(one_seq * kv_replication(arch, lay.tp))}) in its usable HBM "
            f"({gb(lay.usable_bytes)})",
            **base,  # type: ignore[arg-type]
        )
    if not candidates:
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
            **base,  # type: ignore[arg-type]
        )

    def caps(lay: Layout) -> float:
        return min(
            engine_sequence_cap(max_sequences, max_sequences_per_accelerator, lay.accelerators),
            token_budget_cap(load, lay, chunked_prefill),
        )

    if VECTORISED and pinned is None:
        limits = [caps(lay) for lay in candidates]
        found = _search_layouts(
            hw, load, candidates, tokens_per_s_per_user, chunked_prefill, limits
        )
        if found:  # else the scalar search below, for its reasons why not
            top = found[0]
            for p in found:  # ascending size: a larger layout must win by more than 0.1%
                if p.per_unit > top.per_unit * 1.001:
                    top = p
            lay = candidates[top.index]
            chosen = _feasible_point(
                load,
                lay,
                StepPhysics(hw, load, lay),
                _hbm_batch(load, lay),
                top.b_lat,
                limits[top.index],
                top.batch,
                chunked_prefill and tokens_per_s_per_user is not None,
            )[0]
            ranked = sorted((p for p in found if p is not top), key=lambda p: -p.per_unit)
            return _chosen(
                chosen,
                [(candidates[p.index], p.per_unit, p.batch) for p in ranked[:3]],
                base,
            )
    failures: list[tuple[float, str]] = []
    best: DecodePoint | None = None
    scored: list[DecodePoint] = []
    for lay in candidates:  # ascending size: a larger layout must win by more than 0.1%
        step = StepPhysics(hw, load, lay)
        if SKIP_BOUNDED and best is not None and len(scored) >= 4:
            # Skipped when it can change nothing: its bound cannot beat the best by 0.1% (so
            # it never becomes the best) and four scored layouts already exceed it (so it is
            # never among the three alternatives shown). The same point as evaluating it.
            bound = _per_unit_bound(
                step, load, lay, tokens_per_s_per_user, chunked_prefill, caps(lay)
            )
            if bound <= best.tokens_per_s_per_unit * 1.001 and (  # type: ignore[operator]
                sum(p.tokens_per_s_per_unit > bound for p in scored) >= 4  # type: ignore[operator]
            ):
                continue
        point, why, floor_s = _evaluate(
            hw, load, lay, tokens_per_s_per_user, chunked_prefill, step, caps(lay)
        )
        if point is None:
            failures.append((floor_s, why))
            continue
        scored.append(point)
        if best is None or point.tokens_per_s_per_unit > best.tokens_per_s_per_unit * 1.001:  # type: ignore[operator]
            best = point
    if best is None:
        head = (
            f"{tokens_per_s_per_user:g} tok/s/user unreachable on every layout"
            if tokens_per_s_per_user is not None
            else "no layout holds a batch"
        )
        closest = min(failures)[1]  # the layout with the lowest latency floor
        return DecodePoint(
            False,
            f"{head}; fastest: {closest}",
            instance=candidates[0],
            **base,  # type: ignore[arg-type]
        )
    others = sorted(
        (p for p in scored if p is not best),
        key=lambda p: -(p.tokens_per_s_per_unit or 0.0),
    )[:3]
    return _chosen(
        best,
        [(p.instance, p.tokens_per_s_per_unit, p.batch) for p in others],  # type: ignore[misc]
        base,
    )


def _chosen(
    best: DecodePoint, others: list[tuple[Layout, float, int]], base: dict[str, float]
) -> DecodePoint:
    """decode_point's answer: the best layout's point, the next three named as alternatives."""
    return DecodePoint(
        True,
        best.reason,
        instance=best.instance,
        max_batch_hbm=best.max_batch_hbm,
        max_batch_latency=best.max_batch_latency,
        max_batch_engine=best.max_batch_engine,
        batch=best.batch,
        terms=best.terms,
        step_time_s=best.step_time_s,
        tpot_s=best.tpot_s,
        step_compute_s=best.step_compute_s,
        step_memory_s=best.step_memory_s,
        tokens_per_s_per_instance=best.tokens_per_s_per_instance,
        tokens_per_s_per_unit=best.tokens_per_s_per_unit,
        alternatives=[
            f"{lay.label()}: {rate:,.0f} tok/s/unit (batch {batch})" for lay, rate, batch in others
        ],
        **base,
    )


def prefill_tokens_per_s_per_instance(
    arch: ModelArch,
    hw: Hardware,
    precision: str,
    lay: Layout,
    prompt_tokens: float,
    kv_precision: str | None = None,
) -> float:
    """Prompt tokens/s one instance of `lay` prefills: 1 / prefill_time(prompt/2).per_token_s,
    i.e. F(prompt/2) / (a · peak · compute_utilisation) (a checkpoint with a dense_precision:
    its routed experts' FLOPs at the precision's rate, the rest at the dense precision's:
    prefill_compute_rate; attention at the KV precision's rate where given) plus the TP
    all-reduces' bandwidth time per token and, for an MoE
    model, the EP all-to-all, expert imbalance and per-pass MoE layer latency (prefill_time).
    Mean context of a prompt's tokens is prompt/2 (causal attention); prompts are long enough
    for full GEMM efficiency."""
    return prefill_time(
        hw, arch, precision, lay, prompt_tokens / 2, kv_precision=kv_precision
    ).tokens_per_s


@memoised()
def prefill_rate(
    arch: ModelArch,
    hw: Hardware | None,
    precision: str,
    kv_precision: str,
    context_tokens: float,
    mean_context: float,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
    padding: float = 1.0,
) -> Rate:
    """Prefill (forward-only) tokens/s per unit for a model whose passes read `context_tokens`
    tokens (KV must fit) at mean attention context `mean_context`: the smallest instance holding
    the weights and one pass's KV, 1 / prefill_time (F(mean_context) / (a · peak ·
    compute_utilisation) + its TP all-reduces per token + an MoE model's EP terms) x instances
    per unit; with compile-time prompt buckets `mean_context` is the padded prompt's P'/2 and
    `padding` = P'/P the tokens computed per prompt token (prefill_time). Memoised per
    process on all its arguments (catalog entries by content, planner/demand/memo.py)."""
    if hw is None:
        return Rate(0.0, CPU_ONLY_REASON)
    gap = precision_gap(hw, arch, precision)
    if gap is not None:
        return Rate(0.0, gap)
    load = model_load(arch, precision, kv_precision, context_tokens, 1, 1)
    need = load.kv_bytes(context_tokens)
    fitting = [
        lay
        for lay in layouts(arch, hw, load, max_units_per_instance)
        if lay.free_bytes >= need * kv_replication(arch, lay.tp) and lay.pp == 1
    ] or [
        lay
        for lay in layouts(arch, hw, load, max_units_per_instance)
        if lay.free_bytes >= need * kv_replication(arch, lay.tp)
    ]
    if not fitting:
        return Rate(
            0.0,
            does_not_fit_reason(
                arch, hw, precision, kv_precision, context_tokens, max_units_per_instance
            ),
        )
    lay = min(fitting, key=lambda x: x.accelerators)
    t = prefill_time(
        hw, arch, precision, lay, mean_context, 2.0 * mean_context, padding, kv_precision
    )
    util = figures(hw).compute_utilisation
    dense_p = dense_precision(arch, precision)
    # the peaks run at the accelerator's sustained clock (compute_rate), said where it is not 1
    clock = hw.accelerator.clock_fraction
    at_clock = f" x sustained clock {clock:g}" if clock != 1.0 else ""
    rate = (
        f"{util[precision]:g} x peak{at_clock}"  # type: ignore[index]
        if dense_p == precision
        else f"routed experts at {util[precision]:g} x {precision} peak{at_clock}, "  # type: ignore[index]
        f"the rest at {util[dense_p]:g} x {dense_p} peak{at_clock}"  # type: ignore[index]
    )
    return Rate(
        t.tokens_per_s * lay.instances_per_unit,
        f"{lay.label()}, {rate}: {t.describe()}",
    )


@dataclass(frozen=True)
class ServerLoad:
    """Server scenario: Poisson arrivals, a p99 TTFT target, the decode slots of an instance."""

    utilisation: float  # share of decode slots busy that still meets the p99 TTFT
    service_s: float  # a request's hold on a slot: TTFT + output · TPOT
    allowed_wait_s: float  # p99 TTFT target − prefill time
    mean_wait_s: float


@functools.lru_cache(maxsize=PHYSICS_CACHE_SIZE, typed=True)
def server_load(
    batch: int, ttft_p99_s: float, prefill_s: float, output_tokens: float, tpot_s: float
) -> ServerLoad:
    """The utilisation of `batch` decode slots (M/D/c servers) at which P(wait > ttft_p99 −
    prefill) <= 1%; service time = prefill + output · TPOT. It does not depend on the arrival
    rate (the utilisation is what the target allows), so it is memoised per process on its
    arguments (pure scalars)."""
    service = prefill_s + output_tokens * tpot_s
    wait = ttft_p99_s - prefill_s
    rho = max_utilisation(batch, service, wait, TAIL_PROBABILITY)
    mean_wait = mean_wait_mdc(batch, rho * batch, service) if rho > 0 else math.inf
    return ServerLoad(rho, service, wait, mean_wait)


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
    tokens_per_s_per_user: float | None
    mode: str
    hbm_usable_fraction: float | None  # an explicit override, else None (runtime reserve)
    weight_bytes: float
    kv_bytes_per_token: float
    kv_bytes_per_group: float  # (prompt + votes · output) · kv: the prefix stored once
    flops_per_decode_token: float
    feasible: bool
    reason: str
    fits_one_unit: bool
    instance_accelerators: int | None = None
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    expert_parallel: int | None = None
    units_per_instance: int | None = None
    instances_per_unit: float | None = None
    max_batch_hbm: float | None = None
    max_batch_latency: float | None = None
    max_batch_engine: float | None = None  # the engine's sequence cap on the instance; None: none
    max_batch: int | None = None
    step_time_s: float | None = None
    tpot_s: float | None = None
    step_budget_s: float | None = None
    step_terms_s: dict[str, float] = field(default_factory=dict)
    bound: str | None = None  # "compute", "memory", "communication", "latency" or "MoE tokens"
    tokens_per_s_per_instance: float | None = None
    tokens_per_s_per_system: float | None = None  # decode, after the server utilisation
    prefill_tokens_per_s_per_instance: float | None = None
    prefill_tokens_per_s_per_system: float | None = None  # after the server utilisation
    ttft_s: float | None = None  # prefill alone (+ mean queue wait in server mode)
    server_utilisation: float | None = None  # None unless ttft_p99 is set
    output_tokens_per_s_per_accelerator: float | None = None  # decode + its prefill share
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
    cost_of_capital: float = DEFAULT_COST_OF_CAPITAL,
    facility_usd_per_kw_month: float = DEFAULT_FACILITY_USD_PER_KW_MONTH,
) -> InferenceEstimate:
    """Serve `spec` on `system`: layout, batch, step terms, tokens/s, TTFT, $/M tokens.

    usd_per_million_tokens = 1e6 · unit_usd_per_s · (1/decode_tokens_per_s_per_unit
        + prompt / (votes · output) / prefill_tokens_per_s_per_unit)
    i.e. per generated output token: its share of decode time plus its share of its request's
    prefill. With ttft_p99 both rates are multiplied by the M/D/c utilisation that meets it.
    output_tokens_per_s_per_accelerator = 1 / (that time per token) / accelerators per unit (the
    figure MLPerf and InferenceX publish). units_for_demand = decode tokens/s needed / decode rate
    + prefill tokens/s needed / prefill rate, needed = requests_per_day · tokens ·
    peak_to_average / 86,400 s.
    """
    return estimate_serving(
        spec,
        catalog.models[spec.model_name],
        hardware(catalog, system),
        system,
        hbm_usable_fraction=hbm_usable_fraction,
        max_units_per_instance=max_units_per_instance,
        pricing=pricing,
        electricity_usd_per_kwh=electricity_usd_per_kwh,
        pue=pue,
        cost_of_capital=cost_of_capital,
        facility_usd_per_kw_month=facility_usd_per_kw_month,
    )


def serving_load(spec: InferenceSpec, arch: ModelArch) -> ModelLoad:
    """The ModelLoad an inference spec's decode search takes (decode_point's model_load, with
    the spec's fields as estimate_serving passes them): for scripts that rebuild a step at a
    batch of their own (bench/step_at_run_batch.py, bench/moe_kernel_bottom_up.py)."""
    return model_load(
        arch,
        spec.precision,
        spec.kv,
        spec.prompt_tokens,
        spec.output_tokens,
        spec.votes,
        spec.draft_tokens,
        spec.draft_acceptance,
        spec.prompt_cache_hit,
        spec.tpot_quantile,
        spec.prefill == "aggregated" and not spec.chunked_context,
        spec.prefill_buckets,
        spec.prompt_tokens_cv,
        spec.engine_graph_sizes,
        spec.engine.max_num_tokens if spec.engine else None,
        spec.output_law,
        spec.engine_release,
    )


def estimate_serving(
    spec: InferenceSpec,
    arch: ModelArch,
    hw: Hardware | None,
    system: str,
    *,
    hbm_usable_fraction: float | None = None,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
    pricing: Pricing = "rental",
    electricity_usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH,
    pue: float = DEFAULT_PUE,
    cost_of_capital: float = DEFAULT_COST_OF_CAPITAL,
    facility_usd_per_kw_month: float = DEFAULT_FACILITY_USD_PER_KW_MONTH,
) -> InferenceEstimate:
    """`estimate_inference` of the model entry `arch` on `hw` (the system named `system`; None
    for a CPU-only one): it reads nothing else of the catalog."""
    kvp = spec.kv
    target = spec.decode_target
    if hbm_usable_fraction is None and spec.engine is not None:
        hbm_usable_fraction = spec.engine.memory_utilization
    load = model_load(
        arch,
        spec.precision,
        kvp,
        spec.prompt_tokens,
        spec.output_tokens,
        spec.votes,
        spec.draft_tokens,
        spec.draft_acceptance,
        spec.prompt_cache_hit,
        prefill_buckets=spec.prefill_buckets,
    )
    kvb = load.kv_bytes_per_token
    # (P + votes · O) · kv: one prompt, each vote's own tokens (banded layers: their window)
    one_seq = load.kv_bytes(spec.prompt_tokens + spec.output_tokens)
    group_kv = one_seq + (spec.votes - 1) * (one_seq - load.kv_bytes(spec.prompt_tokens))
    common = dict(
        model=spec.model,
        system=system,
        precision=spec.precision,
        kv_precision=kvp,
        prompt_tokens=spec.prompt_tokens,
        output_tokens=spec.output_tokens,
        votes=spec.votes,
        tokens_per_s_per_user=target,
        mode=spec.mode,
        weight_bytes=load.weights_bytes,
        kv_bytes_per_token=kvb,
        kv_bytes_per_group=group_kv,
        flops_per_decode_token=load.flops_per_token,
        pricing=pricing,
        hbm_usable_fraction=hbm_usable_fraction,
    )
    if hw is None:
        return InferenceEstimate(
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
        target,
        max_units_per_instance,
        hbm_usable_fraction,
        chunked_prefill=spec.prefill == "aggregated",
        draft_tokens=spec.draft_tokens,
        draft_acceptance=spec.draft_acceptance,
        prompt_cache_hit=spec.prompt_cache_hit,
        tpot_quantile=spec.tpot_quantile,
        whole_prompts=spec.prefill == "aggregated" and not spec.chunked_context,
        prefill_buckets=spec.prefill_buckets,
        max_sequences=spec.engine_caps[0],
        max_sequences_per_accelerator=spec.engine_caps[1],
        pinned=spec.engine.layout.pinned if spec.engine and spec.engine.layout else None,
        prompt_cv=spec.prompt_tokens_cv,
        graph_batch_sizes=spec.engine_graph_sizes,
        token_budget=spec.engine.max_num_tokens if spec.engine else None,
        output_percentiles=spec.output_law,
        engine_release=spec.engine_release,
    )
    if hw.accelerator.serving is None:
        return InferenceEstimate(
            feasible=False,
            reason=point.reason,
            fits_one_unit=False,
            **common,  # type: ignore[arg-type]
        )
    unit_usable = usable_bytes(hw, hw.accelerators, hbm_usable_fraction)
    fits_one = load.weights_bytes + one_seq <= unit_usable
    notes: list[str] = []
    if not fits_one and hw.supports(spec.precision) and point.feasible:
        notes.append(
            "does not fit one unit: "
            + does_not_fit_reason(
                arch, hw, spec.precision, kvp, spec.prompt_tokens + spec.output_tokens, 1
            )
        )
    ckpt = arch.checkpoints.get(spec.precision)
    lines = [
        "weights W = "
        + (
            f"{gb(load.weights_bytes)} (checkpoint: {ckpt.source})"
            + (
                ""
                if load.dense_precision == spec.precision
                else f"; routed experts {spec.precision}, the rest ({gb(load.dense_bytes)}) "
                f"{load.dense_precision}, bytes and GEMM rate"
            )
            if ckpt is not None
            else f"{arch.params:.4g} params x {BYTES_PER_VALUE[spec.precision]:g} B = "
            f"{gb(load.weights_bytes)}"
        ),
        f"kv/token = {arch.kv_elements_per_token:,} x {BYTES_PER_VALUE[kvp]:g} B = {kvb:,.0f} B; "
        f"per group of {spec.votes} = (prompt {spec.prompt_tokens} + {spec.votes} x output "
        f"{spec.output_tokens}) x kv = {gb(group_kv)}"
        + (
            f" ({arch.sliding_window.layers} of {arch.layers} layers banded: they keep and "
            f"attend to the last {arch.sliding_window.tokens} tokens only)"
            if arch.sliding_window is not None
            else ""
        ),
        f"FLOPs/decode token = dense {load.flops_dense:.4g} + experts {load.flops_experts:.4g} + "
        f"attention at context {spec.prompt_tokens + spec.output_tokens / 2:,.0f} "
        f"{load.flops_attention:.4g} = {load.flops_per_token:.4g}",
    ]
    if not point.feasible or point.instance is None or point.batch is None:
        return InferenceEstimate(
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
    lay = point.instance
    terms = point.terms
    assert terms is not None and point.tokens_per_s_per_unit is not None
    assert point.tokens_per_s_per_instance is not None and point.max_batch_hbm is not None
    a = lay.accelerators
    prefill_t = prefill_time(
        hw,
        arch,
        spec.precision,
        lay,
        load.prefill_context,
        2.0 * load.prefill_context,
        load.prefill_padding,
        load.kv_precision,
    )
    prefill_inst = prefill_t.tokens_per_s
    prefill_s = spec.prefilled_prompt_tokens / prefill_inst
    decode_unit = point.tokens_per_s_per_unit
    prefill_unit = prefill_inst * lay.instances_per_unit
    ttft = prefill_s
    server: ServerLoad | None = None
    if spec.ttft_p99_s is not None:
        server = server_load(
            point.batch, spec.ttft_p99_s, prefill_s, spec.output_tokens, terms.tpot_s
        )
        if server.utilisation <= 0:
            return InferenceEstimate(
                feasible=False,
                reason=(
                    f"p99 TTFT {spec.ttft_p99_s:g} s unreachable: prefill alone takes "
                    f"{prefill_s:.3g} s on {lay.label()}"
                ),
                fits_one_unit=fits_one,
                notes=notes,
                derivation=lines,
                **common,  # type: ignore[arg-type]
            )
        decode_unit *= server.utilisation
        prefill_unit *= server.utilisation
        ttft = prefill_s + server.mean_wait_s
    costs = (electricity_usd_per_kwh, pue, cost_of_capital, facility_usd_per_kw_month)
    usd_h = unit_usd_per_hour(hw.system, pricing, *costs)
    if pricing == "amortised":
        notes.append(amortised_breakdown(system, hw.system, *costs))
    usd_s = usd_h / SECONDS_PER_HOUR
    decode_usd_m = 1e6 * usd_s / decode_unit
    per_output = load.prefill_per_output
    usd_m = decode_usd_m + 1e6 * usd_s * per_output / prefill_unit
    per_acc = 1.0 / (1.0 / decode_unit + per_output / prefill_unit) / hw.accelerators
    need_decode = (
        spec.requests_per_day
        * spec.output_tokens
        * spec.votes
        * spec.peak_to_average
        / SECONDS_PER_DAY
    )
    need_prefill = (
        spec.requests_per_day
        * spec.prefilled_prompt_tokens
        * spec.peak_to_average
        / SECONDS_PER_DAY
    )
    units = need_decode / decode_unit + need_prefill / prefill_unit
    s = figures(hw)
    util = s.compute_utilisation[spec.precision]
    lat = (
        f"{point.max_batch_latency:.0f}" if point.max_batch_latency is not None else "n/a (offline)"
    )
    r = kv_replication(arch, lay.tp)
    lines += [
        f"layout = {lay.label()} (the engine's, engine.layout)"
        if spec.engine is not None and spec.engine.layout is not None
        else f"layout = {lay.label()} (chosen for the highest decode tok/s per unit"
        + ("; next: " + "; ".join(point.alternatives) if point.alternatives else "")
        + ")",
        f"usable HBM = {a} x ({gb(hw.accelerator.hbm_bytes)} - runtime reserve "
        f"{gb(s.runtime_reserve_bytes)}) = {gb(lay.usable_bytes)}"
        if hbm_usable_fraction is None
        else f"usable HBM = {a} x {gb(hw.accelerator.hbm_bytes)} x {hbm_usable_fraction:g} "
        f"= {gb(lay.usable_bytes)}",
        f"weights stored {gb(lay.weights_bytes)}"
        + (
            # a hand check of the free HBM needs the replicated dense part (layouts())
            f" (routed experts {gb(load.weights_bytes - load.dense_bytes)} once + dense "
            f"{gb(load.dense_bytes)} x {lay.attention_replicas} attention replicas)"
            if lay.moe and lay.attention_replicas > 1
            else ""
        )
        + f"; free {gb(lay.free_bytes)}; KV replication "
        f"r = {r:g}; batch(HBM) = free / ((prompt/{spec.votes} + output) x kv x r"
        + (
            f", the {arch.sliding_window.layers} banded layers holding "
            f"{arch.sliding_window.tokens} tokens"
            if arch.sliding_window is not None
            else ""
        )
        + f") = {point.max_batch_hbm:.2f}",
        f"per chip per step: weights read {gb(terms.weights_read_bytes)} (each of {lay.pp} "
        f"stage(s) reads its weights once per micro-batch), KV read {gb(terms.kv_read_bytes)}; "
        f"HBM {hw.accelerator.hbm_bandwidth_bytes_per_s / 1e12:.3g} TB/s x "
        f"{s.hbm_bandwidth_utilisation:g}",
        f"compute = {hw.peak(spec.precision):.4g} FLOP/s"
        + (
            f" x sustained clock {hw.accelerator.clock_fraction:g}"
            if hw.accelerator.clock_fraction != 1.0
            else ""
        )
        + f" x {util:g} ({spec.precision}) per chip, "
        f"GEMM efficiency n/(n + {s.gemm_half_tokens:g}) at n tokens per GEMM",
        f"step(batch {point.batch}) = {terms.describe()}",
        *_moe_lines(arch, s, terms, spec.engine_release),
        # the batch is whole sequences: the HBM's bound floored, as _evaluate takes it (rounded,
        # 27.95 printed as "min(HBM 28, ...) = 27")
        f"batch = min(HBM {math.floor(point.max_batch_hbm):d}, "
        + ("" if spec.tpot_quantile is None else quantile_label(spec.tpot_quantile) + " ")
        + "TPOT budget "
        + (f"{1e3 / target:.2f} ms: {lat}" if target is not None else lat)
        + _engine_cap_text(spec, a, point.max_batch_engine)
        + f") = {point.batch}",
        f"decode = {point.batch} x {load.tokens_per_step:.3g} tokens/step / "
        f"{terms.step_s * 1e3:.2f} ms = "
        f"{point.tokens_per_s_per_instance:,.0f} tok/s/instance x {lay.instances_per_unit:g} = "
        f"{point.tokens_per_s_per_unit:,.0f} tok/s/unit",
        f"prefill per prompt token (F at prompt/2, on this layout) = {prefill_t.describe()} -> "
        f"{prefill_inst:,.0f} tok/s/instance; prefill time = {spec.prefilled_prompt_tokens:,.0f} "
        f"/ that = {prefill_s * 1e3:.1f} ms",
    ]
    if server is not None:
        lines.append(
            f"server: Poisson arrivals, {point.batch} decode slots (M/D/c), service "
            f"{server.service_s:.1f} s, p99 wait <= {server.allowed_wait_s:.2f} s -> utilisation "
            f"{server.utilisation:.3f}; decode and prefill rates x that; mean TTFT "
            f"{ttft * 1e3:.0f} ms"
        )
    lines += [
        f"output tok/s per accelerator = 1 / (1/{decode_unit:,.0f} + {per_output:.3g}/"
        f"{prefill_unit:,.0f}) / {hw.accelerators} = {per_acc:,.0f}",
        f"$/M tokens = 1e6 x ${usd_h:,.2f}/h / 3600 x (1/{decode_unit:,.0f} + "
        f"{per_output:.3g}/{prefill_unit:,.0f}) = ${usd_m:,.3f}",
        # Before session 24 the units printed without the demand they serve (the defaults of
        # --requests-per-day and --peak-to-average were nowhere in the output).
        f"units for the demand = {spec.requests_per_day:,.0f} requests/day x peak/average "
        f"{spec.peak_to_average:g} / 86,400 s x ({spec.output_tokens:,} output x "
        f"{spec.votes} votes / {decode_unit:,.0f} + {spec.prefilled_prompt_tokens:,.0f} "
        f"prompt / {prefill_unit:,.0f}) = {units:.4g}",
    ]
    return InferenceEstimate(
        feasible=True,
        reason=point.reason,
        fits_one_unit=fits_one,
        instance_accelerators=a,
        tensor_parallel=lay.tp,
        pipeline_parallel=lay.pp,
        expert_parallel=lay.stage_accelerators if lay.moe else 1,
        units_per_instance=lay.units_spanned,
        instances_per_unit=lay.instances_per_unit,
        max_batch_hbm=point.max_batch_hbm,
        max_batch_latency=point.max_batch_latency,
        max_batch_engine=point.max_batch_engine,
        max_batch=point.batch,
        step_time_s=terms.step_s,
        tpot_s=terms.tpot_s,
        step_budget_s=1.0 / target if target is not None else None,
        step_terms_s={
            "compute": terms.compute_s,
            "memory": terms.memory_s,
            "roofline": terms.roofline_s,
            "tp_allreduce": terms.tp_comm_s,
            "ep_alltoall": terms.ep_comm_s,
            "pp_hops": terms.pp_comm_s,
            "moe_layer": terms.moe_layer_s,
            "moe_tokens": terms.moe_token_s,
            # the measured MoE module: only where a table covers the step (plans and JSON
            # without one are unchanged)
            **({"moe_module": terms.moe_module_s} if terms.moe_kernels is not None else {}),
            "overhead": terms.overhead_s,
            "prefill_chunk": terms.chunk_s,
            # the quantile's excess over the mean TPOT: only with tpot_percentile (plans and
            # JSON without it are unchanged)
            **({"tpot_tail": terms.tpot_tail_s} if terms.tpot_quantile is not None else {}),
        },
        bound=terms.bound,
        tokens_per_s_per_instance=point.tokens_per_s_per_instance,
        tokens_per_s_per_system=decode_unit,
        prefill_tokens_per_s_per_instance=prefill_inst,
        prefill_tokens_per_s_per_system=prefill_unit,
        ttft_s=ttft,
        server_utilisation=server.utilisation if server is not None else None,
        output_tokens_per_s_per_accelerator=per_acc,
        unit_usd_per_hour=usd_h,
        usd_per_million_tokens=usd_m,
        usd_per_million_decode_tokens=decode_usd_m,
        units_for_demand=units,
        notes=notes,
        derivation=lines,
        **common,  # type: ignore[arg-type]
    )


def inference_rates(spec: InferenceSpec, catalog: Catalog, system: str) -> tuple[Rate, Rate]:
    """(decode, prefill) tokens/s per unit of `system` for the LP. Disaggregated prefill is
    rated on its own (it may run on other units than decode): the smallest instance holding the
    weights and one prompt's KV, at mean context prompt/2: compute plus that layout's TP
    all-reduces per token (prefill_rate, serving_physics.prefill_time). Aggregated prefill runs
    in the decode instances' steps: the decode layout's prefill rate (the estimate's). With
    ttft_p99 both are multiplied by the server utilisation of the decode layout.

    Memoised per process (planner/demand/memo.py) on the spec without the demand it serves
    (requests_per_day and peak_to_average only size units_for_demand, which the rates do not
    use), the model entry and the system's hardware, by content."""
    hw = hardware(catalog, system)
    if hw is None:
        return Rate(0.0, CPU_ONLY_REASON), Rate(0.0, CPU_ONLY_REASON)
    return inference_rates_on(spec, catalog.models[spec.model_name], hw, system)


# Fields of an InferenceSpec that scale the demand served and nothing of its rates.
DEMAND_FIELDS = {"requests_per_day", "peak_to_average"}


def rates_shape(spec: InferenceSpec) -> tuple[str, str]:
    """The key of a spec for its rates: its type and every field but the DEMAND_FIELDS."""
    return type(spec).__qualname__, spec.model_dump_json(exclude=DEMAND_FIELDS)


@memoised(keys={"spec": rates_shape})
def inference_rates_on(
    spec: InferenceSpec, arch: ModelArch, hw: Hardware, system: str
) -> tuple[Rate, Rate]:
    """`inference_rates` of the model entry `arch` on `hw` (the system named `system`)."""
    est = estimate_serving(spec, arch, hw, system)
    utilisation = est.server_utilisation if est.server_utilisation is not None else 1.0
    suffix = f", x{utilisation:.3f} server utilisation (p99 TTFT)" if utilisation < 1 else ""
    decode = (
        Rate(est.tokens_per_s_per_system, est.reason + suffix)
        if est.feasible and est.tokens_per_s_per_system is not None
        else Rate(0.0, est.reason)
    )
    if spec.prefill == "aggregated":
        # Aggregated prompts are prefilled by the decode instances, in their steps: at the
        # decode layout's prefill rate (the estimate's, which the calibration points check;
        # the server utilisation in it), not at a separate smallest instance's; none where the
        # decode side cannot serve.
        per_unit = est.prefill_tokens_per_s_per_system if est.feasible else None
        on_decode = f"on the decode instances (prefill: aggregated): {est.reason}{suffix}"
        return decode, Rate(per_unit, on_decode) if per_unit else Rate(0.0, est.reason)
    padded = padded_prompt_tokens(spec.prompt_tokens, spec.prefill_buckets)
    prefill = prefill_rate(
        arch,
        hw,
        spec.precision,
        spec.kv,
        spec.prompt_tokens,
        padded / 2,
        padding=padded / spec.prompt_tokens,
    )
    if prefill.feasible and utilisation < 1:
        prefill = Rate(prefill.per_unit_s * utilisation, prefill.reason + suffix)
    return decode, prefill


@dataclass(frozen=True)
class CurvePoint:
    """One point of the throughput-interactivity curve of one system."""

    system: str
    tokens_per_s_per_user: float
    feasible: bool
    output_tokens_per_s_per_accelerator: float | None
    usd_per_million_tokens: float | None
    layout: str  # the reason text: layout, batch, step


def interactivity_curve(
    spec: InferenceSpec,
    catalog: Catalog,
    systems: list[str],
    targets: list[float],
    pricing: Pricing = "rental",
) -> list[CurvePoint]:
    """Output tokens/s per accelerator (prefill share included) and $/M output tokens of `spec`
    on each system at each tokens/s/user target: the tokenomics curve. Each point re-chooses the
    layout that maximises throughput at its target."""
    out = []
    for system in systems:
        for target in targets:
            s = spec.model_copy(update={"tokens_per_s_per_user": target, "mode": "interactive"})
            est = estimate_inference(s, catalog, system, pricing=pricing)
            out.append(
                CurvePoint(
                    system,
                    target,
                    est.feasible,
                    est.output_tokens_per_s_per_accelerator,
                    est.usd_per_million_tokens,
                    est.reason,
                )
            )
    return out


def clear_physics_caches() -> None:
    """Forget every memoised serving result of this process (tests compare cold and warm)."""
    decode_point.cache_clear()
    prefill_rate.cache_clear()
    inference_rates_on.cache_clear()
    server_load.cache_clear()
    forget_fingerprints()


def _engine_cap_text(spec: InferenceSpec, accelerators: int, cap: float | None) -> str:
    """The batch line's engine part, ", engine cap <how> = <cap>" ("" without a cap)."""
    if cap is None:
        return ""
    per_instance, per_accelerator = spec.engine_caps
    parts = [f"max_sequences {per_instance:,}"] if per_instance is not None else []
    if per_accelerator is not None:
        parts.append(f"{per_accelerator:,}/accelerator x {accelerators}")
    if spec.engine is not None and spec.engine.max_num_tokens is not None:
        parts.append(f"max_num_tokens {spec.engine.max_num_tokens:,} a step (token_budget_cap)")
    how = parts[0] if len(parts) == 1 else f"min({', '.join(parts)})"
    return f", engine cap {how} = {cap:,.0f}"


def _moe_lines(
    arch: ModelArch, s: ServingFigures, terms: StepTerms, release: str | None = None
) -> list[str]:
    """Derivation lines for an MoE step's two fitted terms (none for a dense model), or its
    measured module; with a named TensorRT-LLM `release` no table covers, a line saying so."""
    if arch.moe is None:
        return []
    if terms.moe_kernels is not None:
        return [
            f"MoE module = {arch.moe_layers} MoE layers x TensorRT-LLM {terms.moe_kernels}'s fused "
            f"MoE module as measured on the hottest EP rank (planner/data/moe_kernels.csv, "
            f"interpolated over the tokens routed a step) = {terms.moe_module_s * 1e3:.2f} ms "
            "(in place of the expert GEMMs' roofline, the MoE layer latency and the routed-token "
            "cost; the all-to-all goes at the link rate)"
        ]
    bw = s.moe_token_bandwidth_bytes_per_s
    per_token = moe_token_bytes(arch)
    none = (
        [
            f"engine.tensorrt_llm_version {release}: no measured MoE module table covers this "
            "release, accelerator, precision, MoE shape and EP size (planner/data/moe_kernels.csv): "
            "the parametric terms below, as without the release"
        ]
        if release is not None
        else []
    )
    return none + [
        f"MoE layer latency = {arch.moe_layers} MoE layers x {s.moe_layer_latency_s * 1e6:.0f} us "
        f"= {terms.moe_layer_s * 1e3:.2f} ms (fitted: router, top-k, permutation, handshakes)",
        f"MoE routed tokens = {arch.moe_layers} MoE layers x the hottest rank's tokens x "
        f"{arch.moe.active_experts} experts x {arch.hidden} x 3 B ({per_token:,.0f} B a token) / "
        + (f"{bw / 1e9:g} GB/s" if bw is not None else "(no catalog figure: 0)")
        + f" = {terms.moe_token_s * 1e3:.2f} ms (a fitted per-token cost of the MoE layer, on "
        "every MoE layout; not the all-to-all, which goes at the link rate)",
    ]
