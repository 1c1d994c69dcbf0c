"""RL post-training: per-role work per generated sample, run totals, FLOP shares, rates.

Per generated sample (P = prompt_tokens, C = completion_tokens, n = samples_per_problem,
f = kept_fraction); see docs/models.md:
  generate          C decode tokens (policy)
  generate_prefill  P / n prefill tokens: the prompt prefix is shared by a problem's n samples
FLOPs: a decode token and a log-prob pass's token run every GEMM but the input embedding (a row
lookup) and the output head included (forward_flops_per_token: a log-prob pass needs every
position's logits); a prompt token of the generation prefill runs the head only for the prompt's
last position (prefill_flops_per_token at P tokens); reward passes keep the head on every token.
  reward:<name>     outcome: passes · (P + C); process, per-step passes: steps · P + C·(steps+1)/2
                    (step j re-reads the prompt and the first j/steps of the completion);
                    process, one pass: P + C                              prefill tokens
  reference         f · (P + C) tokens (KL reference, kept samples only), forward-only
  policy_logprobs   f · (P + C) tokens of the policy (its old log-probabilities, recomputed by
                    the training stack before the update; spec policy_logprobs, default on)
  train             6 · N_active(policy) · f · (P + C) [+ 6 · N_active(critic) · f · (P + C)] FLOP
Rates: generation and reward models at serving rates, generation's prefill on the generation
layout (the engine prefills in the steps it decodes in: generation_prefill_rate); train and the
two log-prob passes from the training step model at the update's own batch on the run's
accelerators (update_passes, planner/demand/training.py).
  verifiers         sum(core_seconds_per_sample · applies_to) CPU core-seconds
Totals = per sample x samples, samples = problems · n · epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from hardware.schema import ModelArch
from planner.demand.common import (
    BACKWARD_SHARE_OF_TRAINING,
    CPU_ONLY_REASON,
    TRAINING_FLOPS_PER_PARAM,
    Hardware,
    decode_attention_flops_per_token,
    forward_flops_per_token,
    hardware,
    prefill_flops_per_token,
)
from planner.demand.inference import (
    MAX_UNITS_PER_INSTANCE,
    DecodePoint,
    _hbm_batch,
    decode_point,
    fits_one_sequence,
    layouts,
    pinned_layout,
    prefill_rate,
)
from planner.demand.memo import memoised
from planner.demand.pretrain import (
    _job_accelerators,
    _rate_zero,
    training_layout,
    training_throughput,
)
from planner.demand.serving_physics import Layout as ServingLayout
from planner.demand.serving_physics import (
    ModelLoad,
    StepPhysics,
    group_pieces,
    model_load,
    precision_gap,
    prefill_time,
    sequence_kv_bytes,
    step_terms,
)
from planner.demand.training import (
    Layout,
    RunFigures,
    StepTime,
    in_one_domain,
    model_figures,
    step_time,
    train_figures,
)
from planner.demand.types import Rate
from planner.kinds.base import engine_sequence_cap
from planner.kinds.rl import RewardModelSpec, RLSpec


@dataclass(frozen=True)
class RLRoleWork:
    """One RL role's work per generated sample, and its FLOPs."""

    name: str
    work_unit: Literal["token", "FLOP"]
    per_sample: float  # work units per generated sample
    model: str
    precision: str
    flops_per_sample: float  # FLOP per generated sample
    mean_context: float | None  # attention context used for FLOPs/token (token roles)


def reward_tokens_per_sample(rm: RewardModelSpec, prompt: float, completion: float) -> float:
    """Prefill tokens a reward model reads per sample (see the module docstring)."""
    if rm.kind == "outcome":
        return rm.passes_per_sample * (prompt + completion)
    assert rm.steps_per_sample is not None
    if rm.per_step_passes:
        steps = rm.steps_per_sample
        return steps * prompt + completion * (steps + 1) / 2
    return prompt + completion


def rl_roles(spec: RLSpec, catalog: Catalog) -> list[RLRoleWork]:
    """Per-sample work of every role, in LP work units, with FLOPs per sample."""
    p, c, n, f = (
        spec.prompt_tokens,
        spec.completion_tokens,
        spec.samples_per_problem,
        spec.kept_fraction,
    )
    policy = catalog.models[spec.policy]
    full = p + c
    roles = [
        RLRoleWork(
            "generate",
            "token",
            c,
            spec.policy,
            spec.precision,
            c * forward_flops_per_token(policy, p + c / 2),
            p + c / 2,
        ),
        RLRoleWork(
            "generate_prefill",
            "token",
            p / n,
            spec.policy,
            spec.precision,
            p / n * prefill_flops_per_token(policy, p / 2, p),
            p / 2,
        ),
    ]
    for rm in spec.reward_models:
        tokens = reward_tokens_per_sample(rm, p, c)
        arch = catalog.models[rm.model]
        roles.append(
            RLRoleWork(
                f"reward:{rm.name}",
                "token",
                tokens,
                rm.model,
                rm.precision or spec.precision,
                tokens * forward_flops_per_token(arch, full / 2),
                full / 2,
            )
        )
    if spec.reference is not None:
        arch = catalog.models[spec.reference.model]
        tokens = f * full
        roles.append(
            RLRoleWork(
                "reference",
                "token",
                tokens,
                spec.reference.model,
                spec.precision,
                tokens * forward_flops_per_token(arch, full / 2),
                full / 2,
            )
        )
    if spec.policy_logprobs:
        tokens = f * full
        roles.append(
            RLRoleWork(
                "policy_logprobs",
                "token",
                tokens,
                spec.policy,
                spec.precision,
                tokens * forward_flops_per_token(policy, full / 2),
                full / 2,
            )
        )
    train = TRAINING_FLOPS_PER_PARAM * policy.active * f * full
    if spec.critic is not None:
        train += TRAINING_FLOPS_PER_PARAM * catalog.models[spec.critic.model].active * f * full
    roles.append(RLRoleWork("train", "FLOP", train, spec.policy, spec.precision, train, None))
    return roles


def rl_samples(spec: RLSpec) -> float:
    """Trajectories generated over the run: problems · samples_per_problem · epochs."""
    return spec.problems * spec.samples_per_problem * spec.epochs


def verifier_core_s_per_sample(spec: RLSpec) -> float:
    """CPU core-seconds per generated sample: sum(core_seconds_per_sample · applies_to)."""
    return sum(v.core_seconds_per_sample * v.applies_to for v in spec.verifiers)


def verifier_core_s_by_isa(spec: RLSpec) -> dict[str, float]:
    """The same, by the ISA the sandboxes need (only ISAs with some work)."""
    out: dict[str, float] = {}
    for v in spec.verifiers:
        out[v.isa] = out.get(v.isa, 0.0) + v.core_seconds_per_sample * v.applies_to
    return {isa: c for isa, c in sorted(out.items()) if c > 0}


def verifier_byte_s_by_isa(spec: RLSpec) -> dict[str, float]:
    """Sandbox memory held per sample (byte-seconds) by ISA: core_s_per_sample x applies_to x
    memory_per_sandbox / cores_per_sandbox, over the verifiers that state their memory."""
    out: dict[str, float] = {}
    for v in spec.verifiers:
        if v.memory_per_sandbox_bytes is None:
            continue
        held = v.core_seconds_per_sample * v.applies_to * v.memory_per_sandbox_bytes
        out[v.isa] = out.get(v.isa, 0.0) + held / v.cores_per_sandbox
    return {isa: b for isa, b in sorted(out.items()) if b > 0}


@dataclass(frozen=True)
class UpdatePass:
    """One pass of an RL update on the trainer's layout (training_rate's step physics at the
    update's own batch): the training step(s), or a forward-only log-prob pass."""

    rate: Rate  # per unit: FLOP/s (train, work FLOP per trained token) or tokens/s (forward)
    seconds: float | None  # per update, all optimizer steps (None: no layout)
    steps: int  # optimizer steps per update (1 for a forward pass)
    step: StepTime | None  # one step (or the forward pass) of the chosen layout
    accelerators: int  # the job's accelerators, idle ones included
    goodput: float


def _update_tokens(spec: RLSpec) -> tuple[float, int]:
    """(kept tokens per update f · samples_per_update · (P + C), optimizer steps per update
    ceil(f · samples_per_update / trainer.batch_samples), 1 without batch_samples)."""
    kept = spec.samples_per_update * spec.kept_fraction
    tokens = kept * (spec.prompt_tokens + spec.completion_tokens)
    batch = spec.trainer.batch_samples if spec.trainer is not None else None
    steps = max(1, math.ceil(kept / batch - 1e-9)) if batch is not None else 1
    return tokens, steps


def update_passes(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    accelerators: float | None = None,
) -> dict[str, UpdatePass]:
    """The update's training pass ("train") and forward-only log-prob passes (by model) on
    `system`, from the training step model at the update's own batch (planner/demand/training.py):

      B      = f · samples_per_update · (P + C) tokens per update, in k = ceil(f ·
               samples_per_update / trainer.batch_samples) optimizer steps (1 without) of B / k;
      train  = k x step(B / k): (m + (PP-1)/v) · t_mb + exposed DP + t_optimizer, the fastest
               layout of the job that fits (or trainer.layout with trainer.recompute), sequences
               of P + C tokens (or trainer.micro_batch_tokens, packed); rate per unit
               = acc/unit x W x B / (train x G) x goodput, W = train FLOP per trained token;
      forward = (m + (PP-1)/v) · t_fwd over B on the same layout (the policy's; another model
               its own fastest), no backward, recomputation, DP synchronisation or optimizer
               (step_time forward_only), micro-batches of trainer.logprob_micro_batch_tokens;
               rate per unit = acc/unit x B / (forward x G) x goodput (tokens/s).

    G = `accelerators` rounded up to whole accelerators (the run's: a measured run's GPUs, or
    the LP's work-sized n, planner/kinds/rl.py), else the fewest whole units holding the
    training state, doubled until a layout fits (as training_rate). Goodput: spec.goodput, else
    derived from the job's size (planner/demand/goodput.py)."""
    hw = hardware(catalog, system)
    roles = {r.name: r for r in rl_roles(spec, catalog)}
    policy = catalog.models[spec.policy]
    seq = spec.prompt_tokens + spec.completion_tokens
    tokens, steps = _update_tokens(spec)
    tr = spec.trainer
    packed = tr.micro_batch_tokens if tr is not None and tr.micro_batch_tokens else None
    fwd_packed = tr.logprob_micro_batch_tokens if tr is not None else None
    pinned = None
    if tr is not None and tr.layout is not None:
        pinned = training_layout(tr.layout, 1)
    recompute = tr.recompute if tr is not None else None
    models = {spec.policy: policy}
    for name in ("reference", "policy_logprobs"):
        if name in roles:
            models[roles[name].model] = catalog.models[roles[name].model]
    out: dict[str, UpdatePass] = {}
    for model, arch in models.items():
        is_policy = model == spec.policy
        work = roles["train"].per_sample / (spec.kept_fraction * seq) if is_policy else None
        train = _train_pass(
            spec,
            hw,
            arch,
            accelerators,
            tokens,
            steps if is_policy else 1,
            packed or seq,
            pinned if is_policy else None,
            recompute if is_policy else None,
            work or TRAINING_FLOPS_PER_PARAM * arch.active,
        )
        if is_policy:
            out["train"] = train
        out[f"forward:{model}"] = _forward_pass(
            hw,
            arch,
            spec.precision,
            train,
            tokens,
            fwd_packed or packed or seq,
            seq,
            fwd_packed is not None,
            spec.bytes_per_param,
        )
    return out


def _train_pass(
    spec: RLSpec,
    hw: Hardware | None,
    arch: ModelArch,
    accelerators: float | None,
    tokens: float,
    steps: int,
    sequence: int,
    pinned: Layout | None,
    recompute: float | None,
    work: float,
) -> UpdatePass:
    """update_passes' training pass (see there)."""
    why = _rate_zero(hw, spec.precision)
    if why is not None:
        return UpdatePass(Rate(0.0, why), None, steps, None, 0, 1.0)
    assert hw is not None
    given = accelerators is not None
    g = (
        math.ceil(accelerators - 1e-9)
        if accelerators is not None
        else _job_accelerators(hw, arch, spec.bytes_per_param * arch.params)
    )
    batch = max(float(sequence), tokens / steps)
    for _ in range(8):
        tt = training_throughput(
            hw,
            arch,
            spec.precision,
            sequence_tokens=sequence,
            global_batch_tokens=batch,
            bytes_per_param=spec.bytes_per_param,
            gradient_precision="bf16",
            work_flops_per_token=work,
            accelerators=g,
            goodput=spec.goodput,
            pinned=pinned,
            recompute=recompute,
            attention_tokens=spec.prompt_tokens + spec.completion_tokens,
            mtp=False,  # the policy update trains the next-token head only
        )
        if tt.step is not None or given:
            break
        g *= 2
    st = tt.step
    if st is None:
        return UpdatePass(Rate(0.0, tt.reason), None, steps, None, tt.accelerators, 1.0)
    seconds = steps * st.step_s
    rate = hw.accelerators * work * tokens / (seconds * tt.accelerators) * tt.goodput_value
    reason = (
        f"{tt.reason}; the update's {tokens:,.0f} tokens in {steps} optimizer step"
        f"{'s' if steps > 1 else ''} of {st.batch_tokens:,.0f} x {st.step_s:.4g} s = "
        f"{seconds:.4g} s (bubble {st.bubble_share:.1%}, exposed DP {st.dp_exposed_s:.3g} s, "
        f"optimizer {st.optimizer_s:.3g} s a step"
        + (f", recompute {st.recompute:.0%}" if st.recompute else "")
        + ")"
    )
    return UpdatePass(Rate(rate, reason), seconds, steps, st, tt.accelerators, tt.goodput_value)


def _forward_pass(
    hw: Hardware | None,
    arch: ModelArch,
    precision: str,
    train: UpdatePass,
    tokens: float,
    sequence: int,
    sample_tokens: int,
    own_micro_batch: bool,
    bytes_per_param: float,
) -> UpdatePass:
    """update_passes' forward-only log-prob pass over the update's tokens on the training
    pass's layout (see there); own_micro_batch: one packed sequence of `sequence` tokens a
    micro-batch (trainer.logprob_micro_batch_tokens), else the training micro-batch."""
    if train.step is None or hw is None:
        return UpdatePass(train.rate, None, 1, None, train.accelerators, train.goodput)
    f = train_figures(hw, precision)
    assert f is not None
    lay = train.step.layout
    if own_micro_batch:
        lay = replace(lay, micro_batch=1)  # one packed sequence of `sequence` tokens
    run = RunFigures(
        sequence, max(float(sequence), tokens), bytes_per_param, BYTES_PER_VALUE["bf16"]
    )
    st = step_time(lay, model_figures(arch, sample_tokens, mtp=False), f, run, forward_only=True)
    rate = hw.accelerators * tokens / (st.step_s * train.accelerators) * train.goodput
    reason = (
        f"forward-only on the trainer's {lay} ({train.accelerators:,} accelerators): "
        f"{tokens:,.0f} tokens in {st.micro_batches:g} micro-batches x "
        f"{st.micro_batch_s * 1e3:.4g} ms + bubble {st.bubble_s:.3g} s = {st.step_s:.4g} s "
        f"(MFU {st.mfu:.1%}), goodput {train.goodput:.3g}"
    )
    return UpdatePass(Rate(rate, reason), st.step_s, 1, st, train.accelerators, train.goodput)


# -- generation at the run's own concurrency ------------------------------------------------

# Midpoint-rule segments over a drain (the response-length axis): the batch B·S(k) and the
# context P + k are smooth and the step nearly affine in both: 128 segments are within 0.002% of
# the token-by-token sum on the Llama H100 check (tests/test_calibration_rl.py; 64 were within
# 0.001% at the mean context, 0.02% at the drain's own).
DRAIN_SEGMENTS = 128


def length_shape(mean: float, cap: float) -> float:
    """x = λ·cap of the completion-length distribution of a drain: the maximum-entropy
    distribution on [0, cap] with the given mean (Jaynes 1957: given only a mean and a bounded
    support, density ∝ exp(−λk)), so nothing beyond the two figures a recipe states (the mean
    completion and the length cap) is assumed. mean / cap = 1/x − 1/(e^x − 1), decreasing in x
    (1/2 at x = 0, the uniform; x < 0 when the mean is above half the cap)."""
    target = min(max(mean / cap, 1e-6), 1 - 1e-6)

    def share(x: float) -> float:
        return 0.5 - x / 12 if abs(x) < 1e-6 else 1 / x - 1 / math.expm1(x)

    lo, hi = -600.0, 600.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) > target else (lo, mid)
    return (lo + hi) / 2


def length_survival(u: float, x: float) -> float:
    """S(u), the share of responses longer than u x cap: (e^(−xu) − e^(−x)) / (1 − e^(−x))
    (1 − u at x = 0)."""
    if abs(x) < 1e-9:
        return min(1.0, max(0.0, 1.0 - u))
    return min(1.0, max(0.0, (math.exp(-x * u) - math.exp(-x)) / -math.expm1(-x)))


def length_quantile(s: float, x: float) -> float:
    """u with S(u) = s: −ln(e^(−x) + s (1 − e^(−x))) / x (1 − s at x = 0)."""
    if abs(x) < 1e-9:
        return 1.0 - s
    return -math.log(math.exp(-x) + s * -math.expm1(-x)) / x


@dataclass(frozen=True)
class GenerationPoint:
    """Generation at the run's own concurrency on one layout (see `generation_point`)."""

    rate: Rate  # decode tokens/s per unit
    saturated_per_unit_s: float  # the HBM batch's rate, decode_point's (throughput mode)
    layout: ServingLayout | None = None
    instances: float = 0.0  # generating instances over the run's accelerators
    in_flight: float = 0.0  # samples in flight per instance
    batch: float = 0.0  # sequences decoding at once per instance: min(in flight, HBM batch)
    hbm_batch: float = 0.0
    full_s: float = 0.0  # per instance: the phase at the full batch (queued samples)
    drain_s: float = 0.0  # per instance: the last batch draining, to the longest response
    drain_tokens: float = 0.0  # the longest response the drain waits for


def drain_step(
    hw: Hardware,
    load: ModelLoad,
    lay: ServingLayout,
    batch: float,
    position: float,
    prompt: tuple[float, int] | None,
) -> float:
    """The decode step of a drain's `batch` sequences (at least one a stage) once each has
    generated `position` tokens: the responses of a drain start together, so the ones still
    decoding at position k each read a context of P/share + k tokens of KV (sequence_kv_bytes)
    and attend over P + k (decode_attention_flops_per_token), not the load's mean P/share +
    C/2 and P + C/2: the long responses the drain waits for read more KV than the mean. The
    stored KV, the weights and every other term are the load's. prompt None: the load's mean
    context."""
    b = max(lay.pp, math.ceil(batch - 1e-9))
    if prompt is None:
        return StepPhysics(hw, load, lay).terms(b, False).step_s
    p, share = prompt
    arch = load.arch
    at = replace(
        load,
        kv_read_per_sequence=sequence_kv_bytes(arch, load.kv_bytes_per_token, p, position, share),
        flops_attention=decode_attention_flops_per_token(arch, p + position),
    )
    return StepPhysics(hw, at, lay).terms(b, False).step_s


def _generation_on(
    hw: Hardware,
    load: ModelLoad,
    lay: ServingLayout,
    units: float,
    in_flight: float,
    completion: float,
    cap: int | None,
    drains: bool,
    max_sequences: int | None = None,
    max_sequences_per_accelerator: int | None = None,
    prompt: tuple[float, int] | None = None,
) -> GenerationPoint | None:
    """generation_point on one layout (None: it does not hold one sequence a stage); at most
    the engine's cap decoding at once (engine_sequence_cap: max_sequences, e.g. vLLM
    max_num_seqs, and max_sequences_per_accelerator x the layout's chips) when given.
    `prompt` (P, share): the drain's steps at their own context (drain_step), else at the
    load's mean context."""
    hbm = _hbm_batch(load, lay)
    if hbm < lay.pp:
        return None
    step = StepPhysics(hw, load, lay)
    instances = units * lay.instances_per_unit
    queue = in_flight / instances
    batch = min(
        math.floor(hbm),
        queue,
        engine_sequence_cap(max_sequences, max_sequences_per_accelerator, lay.accelerators),
    )

    def step_s(b: float) -> float:
        return step.terms(max(lay.pp, math.ceil(b - 1e-9)), False).step_s

    tokens = queue * completion
    full_s = drain_s = drain_tokens = 0.0
    if drains and cap is not None:
        x = length_shape(completion, cap)
        # the longest of all the responses in flight: S(u_end) = 1 / in_flight
        u_end = length_quantile(1.0 / max(1.0, in_flight), x) if in_flight > 1 else 1.0
        du = u_end / DRAIN_SEGMENTS
        drain_s = (
            cap
            * du
            * sum(
                drain_step(hw, load, lay, batch * length_survival(u, x), cap * u, prompt)
                for u in ((i + 0.5) * du for i in range(DRAIN_SEGMENTS))
            )
        )
        drain_tokens = cap * u_end
        full_s = max(0.0, queue - batch) * completion * step_s(batch) / batch
    else:
        full_s = tokens * step_s(batch) / batch
    per_instance = tokens * load.tokens_per_step / (full_s + drain_s)
    return GenerationPoint(
        Rate(per_instance * lay.instances_per_unit, ""),
        0.0,
        lay,
        instances,
        queue,
        batch,
        hbm,
        full_s,
        drain_s,
        drain_tokens,
    )


@memoised()
def generation_point(
    arch: ModelArch,
    hw: Hardware,
    precision: str,
    prompt_tokens: float,
    completion_tokens: float,
    share: int,
    max_completion_tokens: int | None,
    in_flight: float,
    accelerators: float,
    drains: bool,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
    pinned: tuple[int, int, int] | None = None,
    hbm_usable_fraction: float | None = None,
    max_sequences: int | None = None,
    max_sequences_per_accelerator: int | None = None,
) -> GenerationPoint:
    """Decode tokens/s per unit of `hw` at the run's own concurrency (throughput mode):

      I      = accelerators / acc per unit x instances per unit   generating instances
      Q      = in_flight / I                                      samples per instance
      B      = min(Q, HBM batch)                                  sequences decoding at once
      drains (a colocated run: generation stops for the update, so its last batch drains)
             and a length cap C: the completions follow the maximum-entropy distribution on
             [0, C] with the mean C̄ (length_shape), S(k) the share longer than k;
               full  = (Q − B) · C̄ · step(B) / B       the queued samples at the full batch
               drain = ∫_0^K step_k(max(pp, ⌈B · S(k)⌉)) dk,  K: in_flight · S(K) = 1
                       (the last B responses; every instance waits for the longest of all;
                       step_k: the step with each sequence's KV and attention at P/share + k
                       and P + k, drain_step)
             else    full = Q · C̄ · step(B) / B, drain = 0
      tokens/s per instance = Q · C̄ / (full + drain);  per unit x instances per unit

    over every layout that fits one sequence a stage and no more accelerators than the run's
    (all of them when none does), the best per unit, at most the saturated rate. At Q >> HBM
    batch the full phase
    dominates and the rate is the saturated one (decode_point's); a synchronous step's few
    rollouts per instance decode at a small batch and wait for the longest.

    `pinned` (tp, pp, ep): the engine's own layout (RLSpec.generator, `pinned_layout`) is the
    only one evaluated, its HBM x `hbm_usable_fraction` when given (vLLM
    gpu_memory_utilization), B at most `max_sequences` (vLLM max_num_seqs) and
    `max_sequences_per_accelerator` x its chips (EngineSpec); the rate is then
    that layout's, not capped by the fastest layout's saturated rate (it is reported)."""
    saturated = decode_point(
        arch,
        hw,
        precision,
        precision,
        prompt_tokens,
        completion_tokens,
        share,
        None,
        max_units_per_instance,
    )
    sat = saturated.tokens_per_s_per_unit or 0.0
    if not saturated.feasible:
        return GenerationPoint(Rate(0.0, saturated.reason), sat)
    load = model_load(arch, precision, precision, prompt_tokens, completion_tokens, share)
    units = accelerators / hw.accelerators
    if pinned is not None:
        lay_or_why = pinned_layout(arch, hw, load, *pinned, hbm_usable_fraction)
        if isinstance(lay_or_why, str):
            return GenerationPoint(Rate(0.0, f"generator layout: {lay_or_why}"), sat)
        fitting = [lay_or_why]
    else:
        every = layouts(arch, hw, load, max_units_per_instance, hbm_usable_fraction)
        fitting = [lay for lay in every if lay.accelerators <= accelerators] or every
    best: GenerationPoint | None = None
    for lay in fitting:
        point = _generation_on(
            hw,
            load,
            lay,
            units,
            in_flight,
            completion_tokens,
            max_completion_tokens,
            drains,
            max_sequences,
            max_sequences_per_accelerator,
            (prompt_tokens, share),
        )
        if point is not None and (best is None or point.rate.per_unit_s > best.rate.per_unit_s):
            best = point
    if best is None and pinned is not None:
        lay = fitting[0]
        why = (
            f"generator layout {lay.label()} does not hold the {precision} weights "
            f"({lay.weights_bytes / 1e9:,.1f} GB stored) and one sequence a stage in its "
            f"usable HBM ({lay.usable_bytes / 1e9:,.1f} GB)"
        )
        return GenerationPoint(Rate(0.0, why), sat)
    if best is None:
        return GenerationPoint(saturated_rate_only(saturated), sat)
    assert best.layout is not None
    reason = (
        f"at the run's concurrency: {in_flight:,.0f} samples in flight over "
        f"{best.instances:,.4g} instances of {best.layout.label()} ({accelerators:,.0f} "
        f"accelerators) = {best.in_flight:,.4g} each, batch {best.batch:,.4g} (HBM "
        f"{math.floor(best.hbm_batch):,}): full batch {best.full_s:.4g} s"
        + (
            f" + drain to the longest response ({best.drain_tokens:,.0f} tokens) "
            f"{best.drain_s:.4g} s"
            if best.drain_s
            else ""
        )
        + f" per instance; saturated {sat:,.4g} tok/s/unit ({saturated.reason})"
    )
    if pinned is not None:
        return replace(
            best,
            rate=Rate(best.rate.per_unit_s, "the generator's layout, " + reason),
            saturated_per_unit_s=sat,
        )
    # at most the saturated rate: decode_point prefers the smaller instance within 0.1%
    return replace(
        best, rate=Rate(min(best.rate.per_unit_s, sat), reason), saturated_per_unit_s=sat
    )


def saturated_rate_only(point: DecodePoint) -> Rate:
    """decode_point's rate (no layout holds a sequence at the run's size)."""
    return Rate(point.tokens_per_s_per_unit or 0.0, point.reason)


def generation_in_flight(spec: RLSpec) -> float:
    """Samples in flight: max(1, max_staleness_updates) x samples_per_update, as the pace row
    counts them (an on-policy run: one update's)."""
    return max(1.0, spec.max_staleness_updates) * spec.samples_per_update


def rl_rates(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
    accelerators: float | None = None,
) -> dict[str, Rate]:
    """Per-role rate per unit of `system` (tokens/s for token roles, FLOP/s for train). The
    training pass and the reference and policy log-prob passes are the update's own passes on
    `accelerators` (update_passes: the run's accelerators; None = the fewest whole units that
    hold the training state); generation, prefill and reward models are serving rates."""
    hw = hardware(catalog, system)
    roles = rl_roles(spec, catalog)
    if hw is None:
        return {r.name: Rate(0.0, CPU_ONLY_REASON) for r in roles}
    p, c = spec.prompt_tokens, spec.completion_tokens
    passes = update_passes(spec, catalog, system, accelerators)
    # generation's concurrency is over the same accelerators as the update's passes
    run_accelerators = float(
        math.ceil(accelerators - 1e-9)
        if accelerators is not None
        else passes["train"].accelerators
        or _job_accelerators(
            hw,
            catalog.models[spec.policy],
            spec.bytes_per_param * catalog.models[spec.policy].params,
        )
    )
    out: dict[str, Rate] = {}
    policy = catalog.models[spec.policy]
    gen_layout: ServingLayout | None = None
    if spec.generation_tokens_per_s_per_sequence is None:
        point = generation_point(
            policy,
            hw,
            spec.precision,
            p,
            c,
            spec.samples_per_problem,
            spec.max_completion_tokens,
            generation_in_flight(spec),
            run_accelerators,
            spec.colocated,
            max_units_per_instance,
            *generator_args(spec),
        )
        out["generate"], gen_layout = point.rate, point.layout
    else:
        fixed = decode_point(
            policy,
            hw,
            spec.precision,
            spec.precision,
            p,
            c,
            spec.samples_per_problem,
            spec.generation_tokens_per_s_per_sequence,
            max_units_per_instance,
        )
        out["generate"] = Rate(fixed.tokens_per_s_per_unit or 0.0, fixed.reason)
        gen_layout = fixed.instance
    out["generate_prefill"] = generation_prefill_rate(
        policy, hw, spec.precision, p, out["generate"], gen_layout, max_units_per_instance
    )
    for role in roles:
        arch = catalog.models[role.model]
        if role.name in ("generate", "generate_prefill"):
            continue
        if role.name == "train":
            out[role.name] = passes["train"].rate
        elif role.name in ("reference", "policy_logprobs"):
            out[role.name] = passes[f"forward:{role.model}"].rate
        else:
            assert role.mean_context is not None
            out[role.name] = prefill_rate(
                arch,
                hw,
                role.precision,
                role.precision,
                p + c,
                role.mean_context,
                max_units_per_instance,
            )
    return out


def generation_prefill_rate(
    arch: ModelArch,
    hw: Hardware,
    precision: str,
    prompt_tokens: float,
    generate: Rate,
    layout: ServingLayout | None,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
) -> Rate:
    """Prompt tokens/s per unit of the rollouts' prefill: the generation engine (vLLM in the
    NeMo-RL and veRL recipes) prefills each prompt in the same engine and steps as it decodes,
    so on the generation layout (the run's generating instance, `generator:`'s when given):
        1 / prefill_time(P/2).per_token_s x instances per unit
    (serving_physics.prefill_time: F(P/2) / (a · compute rate) + the layout's TP all-reduces
    and an MoE model's EP terms per token), as an aggregated serving tier's prefill is rated on
    its decode layout (planner/demand/inference.py inference_rates). 0 where the run cannot
    generate (no engine to prefill in); the smallest instance holding a prompt (prefill_rate)
    only when generation has a rate but no layout (no layout holds a sequence at the run's
    size: the saturated decode rate stands in, planner/demand/rl.py saturated_rate_only)."""
    if not generate.feasible:
        return Rate(0.0, f"no generation engine to prefill in: {generate.reason}")
    if layout is None:
        return prefill_rate(
            arch, hw, precision, precision, prompt_tokens, prompt_tokens / 2, max_units_per_instance
        )
    t = prefill_time(
        hw, arch, precision, layout, prompt_tokens / 2, prompt_tokens, kv_precision=precision
    )
    return Rate(
        t.tokens_per_s * layout.instances_per_unit,
        f"on the generation layout {layout.label()} (prefilled in the engine's steps): "
        f"{t.describe()}",
    )


def generator_args(
    spec: RLSpec,
) -> tuple[tuple[int, int, int] | None, float | None, int | None, int | None]:
    """generation_point's (pinned, hbm_usable_fraction, max_sequences,
    max_sequences_per_accelerator) from RLSpec.generator (all None without it: the fastest
    layout, HBM less the runtime reserve, no cap)."""
    gen = spec.generator
    if gen is None:
        return None, None, None, None
    lay = gen.layout
    pinned = (lay.tp, lay.pp, lay.ep) if lay is not None else None
    return pinned, gen.memory_utilization, gen.max_sequences, gen.max_sequences_per_accelerator


def update_floor_s(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    max_units_per_instance: int = MAX_UNITS_PER_INSTANCE,
) -> float | None:
    """Seconds an update's generation lasts at least on `system`: max_completion_tokens x the
    fastest decode step at the smallest batch (one sequence a pipeline stage) over the layouts
    that hold the policy and that sequence, at its mean context P + C_max/2 (the longest sample
    decoding alone once the others are done). None without max_completion_tokens, or when the
    system cannot generate."""
    hw = hardware(catalog, system)
    if spec.max_completion_tokens is None or hw is None:
        return None
    arch = catalog.models[spec.policy]
    if hw.accelerator.serving is None or precision_gap(hw, arch, spec.precision) is not None:
        return None
    load = model_load(
        arch,
        spec.precision,
        spec.precision,
        spec.prompt_tokens,
        spec.max_completion_tokens,
        spec.samples_per_problem,
    )
    pinned, fraction, _, _ = generator_args(spec)
    if pinned is not None:
        lay_or_why = pinned_layout(arch, hw, load, *pinned, fraction)
        candidates = [] if isinstance(lay_or_why, str) else [lay_or_why]
    else:
        candidates = layouts(arch, hw, load, max_units_per_instance, fraction)
    steps = [
        step_terms(hw, load, lay, lay.pp, False).tpot_s
        for lay in candidates
        if fits_one_sequence(load, lay)
    ]
    return spec.max_completion_tokens * min(steps) if steps else None


@dataclass(frozen=True)
class ColocatedUpdate:
    """Seconds a colocated RL update spends beyond its roles' work, on one system (see
    `colocated_update_s`)."""

    refit_s: float  # weight_bytes / (link one way x link_bandwidth_utilisation)
    offload_s: float  # 2 x training-state bytes per accelerator / offload bandwidth
    overhead_s: float  # fixed: engine sleep/wake, process groups, orchestration
    refit_link: Literal["scale-up", "scale-out"]
    model_parallel: int  # m: accelerators one copy of the weights and gradients is split over
    accelerators: float  # n: accelerators the optimizer state is split over
    offload_bytes_per_accelerator: float  # one way
    refit_span: int = 0  # accelerators the weights are gathered from (refit_span)
    refit_crossing_share: float = 0.0  # of the weights over the NIC (colocated_update_s)

    @property
    def total_s(self) -> float:
        return self.refit_s + self.offload_s + self.overhead_s


def colocated_update_s(
    spec: RLSpec, catalog: Catalog, system: str, accelerators: float | None = None
) -> ColocatedUpdate | None:
    """What one update of a colocated run costs beyond its roles' work on `system`:

      refit_s    = W / (B_up · u_link),  W = params x bytes(precision) (the BF16 weights):
                   every accelerator receives the whole model (NeMo-RL v0.5's Megatron refit
                   exports full HF tensors, gathered over TP/EP and broadcast over PP, on every
                   rank and streams them to its colocated vLLM worker), over scale-up (one way:
                   scale_up_bandwidth / 2) when the group the weights are spread over (refit_span:
                   the trainer layout's tp x pp x ep, else m) lies inside one scale-up domain
                   (a pinned trainer layout's: training.in_one_domain over the run's n
                   accelerators; m, no layout: m <= the domain's size); when it
                   spans R = ceil(span / domain) domains, x = 1 - 1/R of the weights crosses
                   the scale-out NIC while the local 1/R comes over scale-up at the same time (a
                   pinned layout's groups over its ranks as placed, serving_physics.group_pieces:
                   x = (span − d)/span for a rank of the fewest, d, in one domain, w/span over
                   scale-up for one of the most, w; 1/2 for 24 + 24, 7/8 for 64 ranks at
                   64-127 of whole racks, 8 + 56):
                   refit_s = max(x · W / B_out, (1 - x) · W / B_up) / u_link (w/span for
                   1 - x on a pinned layout);
                   u_link = serving.link_bandwidth_utilisation;
      offload_s  = 2 · (params · 2 · bytes(precision) / m + params · (bytes_per_param -
                   2 · bytes(precision)) / n) / B_offload: before generation each accelerator
                   moves its weights and gradients (its 1/m shard, replicated over data
                   parallelism) and its 1/n of the optimizer state (distributed optimizer) to host
                   memory, and back before training, all n in parallel at rl.offload_bandwidth
                   (at most rl.host_link_bandwidth);
      overhead_s = rl.update_overhead (engine sleep/wake, process groups, orchestration).

    m = ceil(params x bytes_per_param / usable HBM), the fewest accelerators that hold the
    training state; n = `accelerators` (a measured run's), else m rounded up to whole units
    (the LP does not know a run's size: the slowest offload a run can have). None: not
    colocated, no accelerator, or the accelerator has no `rl` figures."""
    hw = hardware(catalog, system)
    if not spec.colocated or hw is None:
        return None
    acc = hw.accelerator
    if acc.rl is None or acc.serving is None:
        return None
    params = catalog.models[spec.policy].params
    weight_bytes = params * BYTES_PER_VALUE[spec.precision]
    replicated = 2 * BYTES_PER_VALUE[spec.precision]  # weights + gradients, per parameter
    sharded = max(0.0, spec.bytes_per_param - replicated)  # optimizer state, per parameter
    m = math.ceil(params * spec.bytes_per_param / (acc.hbm_bytes * hw.hbm_usable_fraction))
    span = refit_span(spec, m)
    domain = hw.system.scale_up_domain
    up = acc.scale_up_bandwidth_bytes_per_s / 2
    whole_units = math.ceil(m / hw.accelerators) * hw.accelerators
    n = float(accelerators) if accelerators is not None else float(whole_units)
    # a pinned trainer layout's group lies where its ranks do (in_one_domain); m, the fewest
    # that hold the state, is no layout: a group of m <= D can be sized to divide the domain
    pinned = spec.trainer is not None and spec.trainer.layout is not None
    if in_one_domain(span, math.ceil(n - 1e-9), domain) if pinned else span <= domain:
        link, crossing, refit_bytes_s = "scale-up", 0.0, weight_bytes / up
    else:
        # spread evenly over R domains, 1/R of the weights is in each: the rest crosses the
        # scale-out NIC while the local share comes over scale-up, at the same time. A pinned
        # layout's groups lie where its ranks do (group_pieces): a rank of the fewest, d, in
        # its domain receives (span - d)/span over its NIC, one of the most, w, w/span over
        # scale-up (session 31: 1 - 1/R took the pieces even, R the domains the widest group
        # touches: 1/2 for 64 ranks at 64-127 of whole NVL72 racks, 8 + 56, where 7/8 cross)
        ranks = math.ceil(n - 1e-9)
        if pinned:
            fewest, most, _ = group_pieces(span, ranks, domain)
            crossing, local = (span - fewest) / span, most / span
        else:
            crossing = 1.0 - 1.0 / max(2, math.ceil(span / domain))
            local = 1 - crossing
        out = acc.scale_out_bandwidth_bytes_per_s
        link = "scale-out"
        refit_bytes_s = max(crossing * weight_bytes / out, local * weight_bytes / up)
    per_acc = params * replicated / min(m, n) + params * sharded / n
    offload_bw = min(acc.rl.offload_bandwidth_bytes_per_s, acc.rl.host_link_bandwidth_bytes_per_s)
    return ColocatedUpdate(
        refit_s=refit_bytes_s / acc.serving.link_bandwidth_utilisation,
        offload_s=2 * per_acc / offload_bw,
        overhead_s=acc.rl.update_overhead_s,
        refit_link=link,  # type: ignore[arg-type]
        model_parallel=m,
        accelerators=n,
        offload_bytes_per_accelerator=per_acc,
        refit_span=span,
        refit_crossing_share=crossing,
    )


def refit_span(spec: RLSpec, model_parallel: int) -> int:
    """Accelerators one copy of the trained weights is spread over, which the refit gathers
    from: the trainer layout's tp x pp x ep when `trainer.layout` is given (data and context
    parallelism replicate the weights), else m, the fewest that hold the training state."""
    tr = spec.trainer
    if tr is not None and tr.layout is not None:
        return tr.layout.tp * tr.layout.pp * tr.layout.ep
    return model_parallel


@dataclass(frozen=True)
class PoolSync:
    """A separate-pool run's weight sync, once per update, on one system (see
    `pool_sync_s`)."""

    bytes_s: float  # W / min(B_bcast, R)
    overhead_s: float  # rl.sync_overhead: the sync's fixed control path
    link: Literal["scale-up", "scale-out"]
    bandwidth_bytes_per_s: float  # B_bcast, link utilisation included
    weight_bytes: float  # W
    refit_bandwidth_bytes_per_s: float = math.inf  # R, rl.refit_bandwidth

    @property
    def bound(self) -> Literal["link", "refit"]:
        """What sets the bytes' rate: the broadcast's link or the refit pipeline's R."""
        return "link" if self.bandwidth_bytes_per_s <= self.refit_bandwidth_bytes_per_s else "refit"

    @property
    def total_s(self) -> float:
        return self.bytes_s + self.overhead_s


def pool_sync_s(
    spec: RLSpec, catalog: Catalog, system: str, accelerators: float | None = None
) -> PoolSync | None:
    """The weight sync of a run whose generation has its own accelerators (`colocated: false`,
    NeMo-RL async GRPO), once per update, on `system`:

      sync_s  = W / min(B_bcast, R) + rl.sync_overhead,   W = params x 2 B (BF16, whatever the
                                                          run's precision: see below);
      B_bcast = B_up · u                              the whole job in one scale-up domain
              = min(D · B_out, B_up) · u              otherwise,
      B_up = scale_up_bandwidth / 2 (one way), B_out = one accelerator's scale-out NIC,
      D = the scale-up domain's accelerators, u = serving.link_bandwidth_utilisation,
      R = rl.refit_bandwidth (the refit pipeline's own rate, fitted on NeMo-RL's measured
      NCCL refits: DeepSeek-V3 14.21 s and Qwen3-235B 5.5 s on H100; 92 GB/s < B_bcast there).

    NeMo-RL v0.6.0 (nemo_rl/algorithms/grpo.py refit_policy_generation, non-colocated branch;
    nemo_rl/utils/packed_tensor.py packed_broadcast_producer) broadcasts every full BF16 tensor
    from training rank 0 to all vLLM ranks over one NCCL group: a pipelined broadcast whose data
    enters each scale-up domain over that domain's D NICs in parallel (NCCL's channels, one a
    NIC) and leaves the source through its one-way scale-up link, so B_bcast is the smaller of
    the two. The trainer's export (per-tensor gathers over PP/EP), the packing and vLLM's
    per-tensor load_weights run pipelined with the broadcast (NeMo-RL PR #1379), at R on the
    measured runs: every byte pays the slower stage, so the bytes go at min(B_bcast, R). The
    fixed part, rl.sync_overhead (0.15 s: small models' whole syncs), is what is left without
    bytes: a separate-pool engine stays resident (no sleep/wake: not rl.update_overhead).
    The async loop (grpo.py async_grpo_train) runs the sync after the training pass, with
    in-flight weight updates the generators pause for it: both pools wait, the step is
    max(generation, training side) + sync_s (planner/calibration/rl.py).

    `accelerators`: the job's (both pools); None: the LP does not know the run's size, so the
    job is taken to span scale-up domains (the slower case). None: colocated (see
    colocated_update_s), no accelerator, or no `rl`/`serving` figures."""
    hw = hardware(catalog, system)
    if spec.colocated or hw is None:
        return None
    acc = hw.accelerator
    if acc.rl is None or acc.serving is None:
        return None
    # BF16 on the wire whatever the run's precision: the trainer exports HF BF16 tensors
    # (megatron_policy_worker._iter_params_with_optional_kv_scales) and an FP8 vLLM casts them
    # on load (vllm_backend.py: "the fp8 load_weights additionally casts bf16 weights into fp8")
    weight_bytes = catalog.models[spec.policy].params * BYTES_PER_VALUE["bf16"]
    up = acc.scale_up_bandwidth_bytes_per_s / 2
    domain = hw.system.scale_up_domain
    u = acc.serving.link_bandwidth_utilisation
    if accelerators is not None and math.ceil(accelerators - 1e-9) <= domain:
        link, bw = "scale-up", up * u
    else:
        link, bw = "scale-out", min(domain * acc.scale_out_bandwidth_bytes_per_s, up) * u
    refit = acc.rl.refit_bandwidth_bytes_per_s
    return PoolSync(
        bytes_s=weight_bytes / min(bw, refit),
        overhead_s=acc.rl.sync_overhead_s,
        link=link,  # type: ignore[arg-type]
        bandwidth_bytes_per_s=bw,
        weight_bytes=weight_bytes,
        refit_bandwidth_bytes_per_s=refit,
    )


@dataclass(frozen=True)
class RLRoleEstimate:
    name: str
    work_unit: str
    per_sample: float
    amount: float  # per_sample · samples
    model: str
    flops: float  # over the run
    flop_share: float
    rate_per_unit_s: float | None = None  # with a system
    rate_reason: str | None = None
    unit_seconds: float | None = None  # amount / rate: unit-seconds of `system` needed


@dataclass(frozen=True)
class RLEstimate:
    """The RL run's work by role, its coupling figures and its FLOP balance."""

    policy: str
    samples: float
    kept_samples: float
    updates: float
    roles: list[RLRoleEstimate]
    verifier_core_s_per_sample: float
    verifier_core_seconds: float
    trajectory_bytes_per_kept_sample: float
    weight_bytes_per_update: float
    total_flops: float
    forward_flops: float
    backward_flops: float
    forward_backward_flop_ratio: float
    role_flop_shares: dict[str, float]
    system: str | None = None
    derivation: list[str] = field(default_factory=list)
    # With a system and colocated: the update's refit, offload and overhead (colocated_update_s,
    # over the fewest whole units that hold the training state).
    colocated_update: ColocatedUpdate | None = None


def estimate_rl(spec: RLSpec, catalog: Catalog, system: str | None = None) -> RLEstimate:
    """Run totals. Forward FLOPs = every token role's FLOPs + 1/3 of training (2N of 6N);
    backward FLOPs = 2/3 of training (4N of 6N); ratio = forward / backward."""
    roles = rl_roles(spec, catalog)
    samples = rl_samples(spec)
    total = sum(r.flops_per_sample for r in roles) * samples
    train = sum(r.flops_per_sample for r in roles if r.work_unit == "FLOP") * samples
    backward = BACKWARD_SHARE_OF_TRAINING * train
    forward = total - backward
    rates: dict[str, Rate] = {}
    if system is not None:
        # the rates a plan takes (planner/kinds/rl.py demand): the run sized from its work over
        # its window, and the window's share in its updates' refit and offload; rl_rates alone
        # rated it on the fewest units holding the training state (one generation instance
        # holding every sample in flight), not what the planner prices
        from planner.kinds.rl import demand as planned

        work = planned("estimate", spec, catalog, [system], spec.deadline_s)
        rates = {r.name: r.rates[system] for r in work.roles}
    shares = {r.name: r.flops_per_sample * samples / total for r in roles}
    out_roles = []
    for r in roles:
        rate = rates.get(r.name)
        amount = r.per_sample * samples
        out_roles.append(
            RLRoleEstimate(
                name=r.name,
                work_unit=r.work_unit,
                per_sample=r.per_sample,
                amount=amount,
                model=r.model,
                flops=r.flops_per_sample * samples,
                flop_share=shares[r.name],
                rate_per_unit_s=rate.per_unit_s if rate else None,
                rate_reason=rate.reason if rate else None,
                unit_seconds=amount / rate.per_unit_s if rate and rate.feasible else None,
            )
        )
    vps = verifier_core_s_per_sample(spec)
    full = spec.prompt_tokens + spec.completion_tokens
    policy = catalog.models[spec.policy]
    lines = [
        f"samples = {spec.problems:.4g} problems x {spec.samples_per_problem} x "
        f"{spec.epochs} epochs = {samples:.4g}; kept = x {spec.kept_fraction:g}",
        *(
            f"{r.name}: {r.per_sample:,.4g} {r.work_unit}/sample x samples = {r.amount:.4g}"
            for r in out_roles
        ),
        f"verifiers: {vps:g} core-s/sample x samples = {vps * samples:.4g} core-s",
        f"forward : backward FLOPs = {forward:.4g} : {backward:.4g} = {forward / backward:.2f}",
    ]
    co = None
    if system is not None:
        # the update the rates above take: over the run's own accelerators (the job its
        # training sizes), not the fewest whole units holding the training state; printing
        # the latter (qa28) gave rl-verifiers' run 47.3 s an update on trn2-server beside rates
        # cut by the 21.4 s the plan charges (6,250 updates: 3.8% of the window against 1.7%)
        from planner.kinds.rl import _colocated_at

        train_rate = rates.get("train")
        job = train_rate.job_accelerators if train_rate is not None and train_rate.feasible else 0
        co = (
            _colocated_at(spec, catalog, system, job)
            if job > 0
            else colocated_update_s(spec, catalog, system)
        )
    if co is not None:
        window_s = spec.deadline_s - spec.start_s
        updates = samples / spec.samples_per_update
        lines.append(
            f"colocated update on {system} over {co.accelerators:,.0f} accelerators: refit "
            f"{co.refit_s:.3g} s ({co.refit_link}) + offload {co.offload_s:.3g} s "
            f"({co.offload_bytes_per_accelerator:.3g} B per accelerator, each way: weights + "
            f"gradients over {co.model_parallel} + optimizer state over "
            f"{co.accelerators:,.0f}) + overhead {co.overhead_s:.3g} s = {co.total_s:.3g} s per "
            f"update; {updates:,.4g} updates x {co.total_s:.3g} s / window "
            f"{window_s / 86400:.4g} days = {updates * co.total_s / window_s:.1%} of the window "
            "(each role's rate x 1 - that)"
        )
    return RLEstimate(
        policy=spec.policy,
        samples=samples,
        kept_samples=samples * spec.kept_fraction,
        updates=samples / spec.samples_per_update,
        roles=out_roles,
        verifier_core_s_per_sample=vps,
        verifier_core_seconds=vps * samples,
        trajectory_bytes_per_kept_sample=full * spec.trajectory_bytes_per_token,
        weight_bytes_per_update=policy.params * BYTES_PER_VALUE[spec.precision],
        total_flops=total,
        forward_flops=forward,
        backward_flops=backward,
        forward_backward_flop_ratio=forward / backward,
        role_flop_shares=shares,
        system=system,
        derivation=lines,
        colocated_update=co,
    )
