"""The RL post-training kind: its spec, its demand (planner/demand/rl.py holds the physics),
its own LP variables and constraint families (samples per site, the trainer site, verifiers,
trajectories and weights between sites) and its report lines, in one place."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from fleetcore.schema import Fraction, Name, PositiveInt, Precision, Strict
from fleetcore.units import format_si
from planner.demand.types import Caveat, PrefillOf, Rate, RLCoupling, Role, WorkloadDemand
from planner.kinds.base import (
    MIXED_PRECISION_ADAM_BYTES_PER_PARAM,
    SIZING_ROUNDS,
    TRAJECTORY_BYTES_PER_TOKEN,
    EngineSpec,
    Loc,
    NonNegDuration,
    NonNegFloat,
    PositiveBytes,
    PositiveCount,
    PositiveDuration,
    PositiveFloat,
    engine_layout_problems,
    start_before_deadline,
    window_units,
)
from planner.kinds.pretrain import LayoutSpec
from planner.lp.constraints import (
    GENERATE,
    after_window,
    generated_per_s,
    no_unit_in_time,
    tie,
    work_pairs,
)
from planner.lp.linear import BINARY
from planner.lp.model import GB, UNSERVED_WEIGHT, Flow, Model, Pairs, Period, Var, family
from planner.lp.variables import declare_running, declare_system_choice

if TYPE_CHECKING:
    from hardware.catalog import Catalog
    from planner.demand.rl import ColocatedUpdate
    from planner.plan import Plan
    from planner.rows import AllocationRow, JobRow

NAME = "rl"
# What a plan says of an MoE policy's generation rated by the serving decode model (Caveat).
MOE_GENERATION_CAVEAT = (
    "RL generation of an MoE policy ({}) is rated by the serving decode model, fitted on "
    "TensorRT-LLM and SGLang runs: NeMo-RL's measured stage splits put its vLLM generation of MoE "
    "policies at 0.85x (GB200 Qwen3-30B-A3B, TP1) to 1.0x (H100 DeepSeek-V3, TP32 over four "
    "servers, once its all-reduces' network hop is the one fitted there) the model's time, and "
    "its colocated update (log-prob passes, training, "
    "transitions) at up to 1.7x, for reasons outside the decode kernels (vLLM's measured MoE "
    "kernels cost about what the model charges: bench/rl_stage_split.py, "
    "bench/vllm_moe_bottom_up.py, planner/calibration/rl.yaml, docs/models.md), so the "
    "generating capacity may be short by as much"
)


class RewardModelSpec(Strict):
    """A learned reward model: outcome (scores the final answer) or process (scores each step)."""

    name: Name
    model: Name
    kind: Literal["outcome", "process"]
    precision: Precision | None = None  # None = the RL run's precision
    passes_per_sample: PositiveInt = 1  # outcome RM: forward passes over each sample
    steps_per_sample: PositiveInt | None = None  # process RM: reasoning steps scored (required)
    # Process RM re-reading the prefix at each step (True) or one pass scoring all steps (False).
    per_step_passes: bool = True

    @model_validator(mode="after")
    def _process_needs_steps(self) -> RewardModelSpec:
        if self.kind == "process" and self.steps_per_sample is None:
            raise ValueError("a process reward model needs steps_per_sample")
        if self.kind == "outcome" and self.steps_per_sample is not None:
            raise ValueError("steps_per_sample is for kind: process")
        return self


class ModelRef(Strict):
    model: Name


class VerifierSpec(Strict):
    """A CPU-bound functional verifier (code sandbox, math checker)."""

    name: Name
    core_seconds_per_sample: NonNegFloat
    applies_to: Fraction  # share of samples it checks
    # The ISA its sandbox image is built for: cores of another ISA cannot run it. Code-execution
    # sandboxes are commonly linux/amd64 images; say arm64 for one built for Arm (Grace) hosts.
    isa: Literal["x86_64", "arm64"] = "x86_64"
    # Memory one sandbox holds while it runs (None: not checked), and the cores it runs on: the
    # sandboxes running at once are the verifier's cores / cores_per_sandbox, and their memory
    # must fit the host memory lent with those cores.
    memory_per_sandbox_bytes: PositiveBytes | None = Field(None, alias="memory_per_sandbox")
    cores_per_sandbox: PositiveFloat = 1.0


class RLTrainerSpec(Strict):
    """How an RL update trains, as a recipe states it (all optional): the training step
    (planner/demand/training.py) is taken at the update's own batch with these."""

    # The training layout; None = the fastest that fits on the update's accelerators. dp None =
    # as many data-parallel ranks as those accelerators allow (as a pretraining run's layout).
    layout: LayoutSpec | None = None
    # Share of layers whose activations are recomputed in the backward (activation
    # checkpointing: 1 = every layer, Megatron recompute_granularity full); needs `layout`.
    # 0 = none. None = the least that fits memory.
    recompute: Annotated[float, Field(ge=0, le=1)] | None = None
    # Samples per optimizer step (a recipe's train_global_batch_size): an update of
    # samples_per_update x kept_fraction samples takes ceil(that / batch_samples) optimizer steps,
    # each paying its pipeline bubble, exposed DP synchronisation and optimizer. None = one step.
    batch_samples: PositiveCount | None = None
    # Sequence packing: the tokens of one packed sequence of a training micro-batch (NeMo-RL
    # train_mb_tokens = max_total_sequence_length x train_micro_batch_size); None = one sample
    # of prompt + completion tokens a sequence.
    micro_batch_tokens: PositiveInt | None = None
    # The same for the log-prob (forward-only) passes (NeMo-RL logprob_mb_tokens); None = the
    # training micro-batch.
    logprob_micro_batch_tokens: PositiveInt | None = None

    @model_validator(mode="after")
    def _recompute_needs_layout(self) -> RLTrainerSpec:
        if self.recompute is not None and self.layout is None:
            raise ValueError("trainer.recompute needs trainer.layout (the layout it applies to)")
        return self


class RLSpec(Strict):
    """An RL post-training run: generate, score, filter, train, by a deadline."""

    kind: Literal["rl"] = "rl"
    policy: Name
    precision: Precision = "bf16"
    problems: PositiveCount
    samples_per_problem: PositiveInt
    prompt_tokens: PositiveInt
    completion_tokens: PositiveInt
    kept_fraction: Fraction  # share of samples that survive rejection sampling and are trained on
    epochs: PositiveInt = 1
    # Generated samples per policy update (updates = samples / samples_per_update).
    samples_per_update: Annotated[PositiveCount, Field(ge=1)]
    deadline_s: PositiveDuration = Field(alias="deadline")
    # Days from the start of the horizon before the work may begin (e.g. RL after pretraining);
    # the deadline is counted from the start of the horizon too.
    start_s: NonNegDuration = Field(0.0, alias="start")
    # Begin only once this workload (a pretraining or RL run) has done all its work: the plan
    # chooses when, at a period boundary (economics.period sets how fine), not a fixed date.
    after: Name | None = None
    goodput: Fraction | None = None  # of the trainer; None = derived from failure physics
    bytes_per_param: PositiveFloat = MIXED_PRECISION_ADAM_BYTES_PER_PARAM
    # None = throughput mode: the generation batch is limited by HBM only.
    generation_tokens_per_s_per_sequence: PositiveFloat | None = None
    reward_models: list[RewardModelSpec] = Field(default_factory=list)
    reference: ModelRef | None = None
    critic: ModelRef | None = None
    verifiers: list[VerifierSpec] = Field(default_factory=list)
    trajectory_bytes_per_token: PositiveFloat = TRAJECTORY_BYTES_PER_TOKEN
    # Policy updates a generating site may lag the trainer: each push of fresh weights to it
    # must arrive within this many update intervals. 1 = one-step off-policy, the asynchronous
    # RL convention (AReaL, Fu et al. 2025; veRL's one-step off-policy recipe); 0.5 leaves half
    # an interval of generation on fresh weights.
    max_staleness_updates: PositiveFloat = 1.0
    # The policy's own log-probabilities of each kept sample, recomputed by the training stack
    # before the update (the old-policy term of GRPO/PPO's ratio: NeMo-RL's get_logprobs, veRL's
    # compute_log_prob, OpenRLHF's actor forward): f · (P + C) prefill tokens of the policy.
    # false: the rollout engine's own log-probabilities are used (AReaL's decoupled PPO).
    policy_logprobs: bool = True
    # The longest completion an update may wait for (the generation length cap). A synchronous
    # update cannot finish generating before its longest sample has decoded, alone at the end:
    # an update takes at least max_completion_tokens x the decode step at the smallest batch,
    # which caps generation at samples_per_update x completion_tokens decode tokens per that
    # time (max_staleness_updates of them in flight). None: not checked (the plan says so).
    max_completion_tokens: PositiveInt | None = None
    # Colocated (hybrid engine: the same accelerators generate, score and train, one phase after
    # the other; NeMo-RL's and veRL's default): every update also pays a refit (the trained
    # weights resharded into the inference engine), the training state's offload to host memory
    # and back, and a fixed engine sleep/wake cost (planner/demand/rl.py colocated_update_s).
    # false: separate generation and training pools, which pay none of these but a weight
    # sync per update, the trained weights broadcast to the generators while both pools wait
    # (planner/demand/rl.py pool_sync_s; weights pushed between sites are the `weights` flows).
    colocated: bool = True
    # How the update trains (layout, recomputation, optimizer steps, packing); None = the
    # fastest layout that fits, one optimizer step, one sample a sequence.
    trainer: RLTrainerSpec | None = None
    # How the rollouts are generated (the inference engine's layout, HBM share, sequence cap);
    # None = the fastest decode layout that fits, HBM less the runtime reserve, no cap.
    generator: EngineSpec | None = None

    @field_validator("generator")
    @classmethod
    def _generator_without_graph_padding(cls, gen: EngineSpec | None) -> EngineSpec | None:
        if gen is not None and gen.cuda_graph_batch_sizes is not None:
            raise ValueError(
                "cuda_graph_batch_sizes is not used for RL rollouts (their decode is rated "
                "without CUDA graph padding; it applies to an inference workload's engine: "
                "block); drop it"
            )
        if gen is not None and gen.max_num_tokens is not None:
            raise ValueError(
                "max_num_tokens is not used for RL rollouts (their decode is rated without a "
                "per-step token budget; it applies to an inference workload's engine: block); "
                "drop it"
            )
        if gen is not None and gen.tensorrt_llm_version is not None:
            raise ValueError(
                "tensorrt_llm_version is not used for RL rollouts (their decode is rated with "
                "the parametric MoE terms; it applies to an inference workload's engine: "
                "block); drop it"
            )
        return gen

    @model_validator(mode="after")
    def _unique_names(self) -> RLSpec:
        start_before_deadline(self.start_s, self.deadline_s)
        if self.max_completion_tokens is not None and (
            self.max_completion_tokens < self.completion_tokens
        ):
            raise ValueError(
                f"max_completion_tokens ({self.max_completion_tokens}) is below the mean "
                f"completion_tokens ({self.completion_tokens})"
            )
        if self.generator is not None and self.generation_tokens_per_s_per_sequence is not None:
            raise ValueError(
                "generator: describes a throughput-mode engine; drop "
                "generation_tokens_per_s_per_sequence or the generator block"
            )
        for what, items in (("reward model", self.reward_models), ("verifier", self.verifiers)):
            names = [item.name for item in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")
        return self


def _estimated_training(
    name: str, precision: str, catalog: Catalog, systems: list[str]
) -> list[Caveat]:
    """The caveats of an update trained on systems whose training efficiency is an estimate, or
    whose accelerator's training figures state a calibration_limit."""
    from planner.demand.common import (
        ESTIMATED_TRAINING_CAVEAT,
        calibration_limits,
        estimated_systems,
    )

    estimated = estimated_systems(catalog, systems, "training", "gemm_efficiency", precision)
    out = [Caveat(ESTIMATED_TRAINING_CAVEAT, name, estimated, "train")] if estimated else []
    limits = calibration_limits(catalog, systems, "training")
    return out + [Caveat(text, name, named, "train") for text, named in limits]


def _generation_limits(name: str, catalog: Catalog, systems: list[str]) -> list[Caveat]:
    """The caveats of generating on systems whose accelerator's serving figures state a
    calibration_limit."""
    from planner.demand.common import serving_limits

    return [
        Caveat(text, name, named, "generate") for text, named in serving_limits(catalog, systems)
    ]


def model_refs(spec: RLSpec) -> list[tuple[Loc, str]]:
    """Where the spec names catalog models: policy, reward models, reference, critic."""
    refs: list[tuple[Loc, str]] = [(("policy",), spec.policy)]
    refs += [(("reward_models", i, "model"), rm.model) for i, rm in enumerate(spec.reward_models)]
    if spec.reference is not None:
        refs.append((("reference", "model"), spec.reference.model))
    if spec.critic is not None:
        refs.append((("critic", "model"), spec.critic.model))
    return refs


def context_problems(workloads: dict[str, object], catalog: Catalog) -> list[tuple[Loc, str]]:
    """Per RL workload, a sample (prompt + completion tokens, the longest completion when
    max_completion_tokens is given) longer than the context window (catalog context_tokens) of
    its policy or of a reward model that reads it, as (loc from the scenario root, message).
    Before session 25 no RL sample was checked against the window (only inference tiers were)."""
    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        if not isinstance(spec, RLSpec):
            continue
        longest = spec.max_completion_tokens or spec.completion_tokens
        field = "max_completion_tokens" if spec.max_completion_tokens else "completion_tokens"
        tokens = spec.prompt_tokens + longest
        readers = [("policy", spec.policy)] + [
            (f"reward model {rm.name}", rm.model) for rm in spec.reward_models
        ]
        for role, model in readers:
            window = catalog.models[model].context_tokens if model in catalog.models else None
            if window is not None and tokens > window:
                out.append(
                    (
                        ("workloads", name, field),
                        f"prompt {spec.prompt_tokens:,} + {field} {longest:,} = {tokens:,} "
                        f"tokens a sample, past the {role} {model}'s context window of "
                        f"{window:,} (catalog context_tokens)",
                    )
                )
    return out


def generator_problems(
    workloads: dict[str, object], catalog: Catalog, systems: list[str]
) -> list[tuple[Loc, str]]:
    """Per RL workload, a `generator.layout` (or `generator.memory_utilization`) that holds the
    policy and one sequence a stage on none of the scenario's accelerator systems, and per
    inference workload an `engine.layout` that holds its model and one sequence on none, as (loc
    from the scenario root, message naming each system's reason); nothing when it fits one of
    them (the others then cannot serve it: rate 0 there, with the reason)."""
    from planner.kinds.inference import InferenceSpec

    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        if isinstance(spec, RLSpec):
            out += _generator_problems(name, spec, catalog, systems)
        elif isinstance(spec, InferenceSpec) and spec.engine and spec.engine.layout and spec.model:
            out += engine_layout_problems(
                ("workloads", name, "engine"),
                "engine",
                spec.engine,
                spec.model,
                spec.precision,
                spec.kv,
                spec.prompt_tokens,
                spec.output_tokens,
                spec.votes,
                catalog,
                systems,
            )
    return out


def _generator_problems(
    name: str, spec: RLSpec, catalog: Catalog, systems: list[str]
) -> list[tuple[Loc, str]]:
    gen = spec.generator
    if gen is None or (gen.layout is None and gen.memory_utilization is None):
        return []
    return engine_layout_problems(
        ("workloads", name, "generator"),
        "generator",
        gen,
        spec.policy,
        spec.precision,
        spec.precision,
        spec.prompt_tokens,
        spec.max_completion_tokens or spec.completion_tokens,
        spec.samples_per_problem,
        catalog,
        systems,
    )


def demand(
    name: str, spec: RLSpec, catalog: Catalog, systems: list[str], horizon_s: float
) -> WorkloadDemand:
    """generate, generate_prefill (tied to generate: the engine prefills its rollouts' prompts in
    its steps, so the `aggregate` rows keep it on the generating pools), reward:<name>,
    reference, policy_logprobs (with_generation, tokens) and train
    (trainer, FLOP); per_sample set on every role; window [start, deadline]. No minimum group for
    the trainer: hybrid engines (veRL, OpenRLHF) time-share the trainer's accelerators with
    generation, offloading its state between phases."""
    from planner.demand.rl import (
        estimate_rl,
        pool_sync_s,
        rl_roles,
        rl_samples,
        update_floor_s,
        verifier_byte_s_by_isa,
        verifier_core_s_by_isa,
        verifier_core_s_per_sample,
    )

    samples = rl_samples(spec)
    est = estimate_rl(spec, catalog)
    window_s = spec.deadline_s - spec.start_s
    work = rl_roles(spec, catalog)
    amounts = {r.name: r.per_sample * samples for r in work}
    # The update's training and log-prob passes run on the run's accelerators: sized from the
    # rates at the fewest whole units holding the training state (_run_accelerators), then the
    # rates taken again at that size rounded up to whole units (planner/demand/rl.py
    # update_passes), and the colocated term over the same n.
    per_system: dict[str, dict[str, Rate]] = {}
    colocated: dict[str, float] = {}
    synced: dict[str, float] = {}
    sized: dict[str, int] = {}  # the run's whole accelerators on each system that can run it
    unsized: list[str] = []  # accelerated systems some role of the run cannot run on
    for s in systems:
        per_system[s], co_s = rated_on(spec, catalog, s, amounts, window_s, est.updates)
        if co_s is not None:
            colocated[s] = co_s
        sync = pool_sync_s(spec, catalog, s)
        if sync is not None:
            synced[s] = sync.total_s
        train = per_system[s]["train"]
        if train.job_accelerators > 0:
            sized[s] = train.job_accelerators
        elif not train.feasible and catalog.system(s).accelerators > 0:
            unsized.append(s)
    if sized:
        # A system the run cannot train on still generates for it, its rollouts spread over
        # the run's accelerators as a system that can train sizes them (the fewest of those:
        # the rate stays an upper bound), not over the fewest units that hold the training
        # state there: one 16-chip instance then held all 256K samples of an rl-verifiers
        # update (a 66,620 s batch against a 1,244 s pace), rated 29% above the same
        # generation on the trainer's 1,344 chips (review23).
        run = min(sized.values())
        for s in unsized:
            per_unit = catalog.system(s).accelerators
            whole = math.ceil(run / per_unit - 1e-9) * per_unit
            per_system[s], co_s = rates_at(spec, catalog, s, whole, est.updates, window_s)
            if co_s is not None:
                colocated[s] = co_s
    roles = [
        Role(
            name=r.name,
            work_unit=r.work_unit,
            amount=amounts[r.name],
            rates={s: per_system[s][r.name] for s in systems},
            placement="trainer" if r.name == "train" else "with_generation",
            per_sample=r.per_sample,
            # the generation engine prefills its rollouts' prompts in the steps it decodes in
            prefill_of=PrefillOf("generate") if r.name == "generate_prefill" else None,
        )
        for r in work
    ]
    return WorkloadDemand(
        name=name,
        kind=NAME,
        after=spec.after,
        start_s=spec.start_s,
        window_s=window_s,
        roles=roles,
        # generate_prefill on the pools that generate, in the same shares (`aggregate` rows)
        prefill_on_decode_pools=True,
        rl=RLCoupling(
            samples=samples,
            kept_fraction=spec.kept_fraction,
            verifier_core_s_per_sample=verifier_core_s_per_sample(spec),
            trajectory_bytes_per_kept_sample=est.trajectory_bytes_per_kept_sample,
            weight_bytes_per_update=est.weight_bytes_per_update,
            updates=est.updates,
            max_staleness_updates=spec.max_staleness_updates,
            update_floor_s_by_system={
                s: f for s in systems if (f := update_floor_s(spec, catalog, s)) is not None
            },
            colocated=spec.colocated,
            colocated_update_s_by_system=colocated,
            pool_sync_s_by_system=synced,
            generated_tokens_per_update=spec.samples_per_update * spec.completion_tokens,
            verifier_core_s_by_isa=verifier_core_s_by_isa(spec),
            verifier_byte_s_by_isa=verifier_byte_s_by_isa(spec),
        ),
        notes=[f"forward:backward FLOPs = {est.forward_backward_flop_ratio:.2f}"],
        caveats=(
            [Caveat(MOE_GENERATION_CAVEAT, f"{name} ({spec.policy})")]
            if catalog.models[spec.policy].moe is not None
            and spec.generation_tokens_per_s_per_sequence is None
            else []
        )
        + _moe_trainer(name, spec.policy, catalog, systems, spec.precision)
        + _estimated_training(name, spec.precision, catalog, systems)
        + _generation_limits(name, catalog, systems),
    )


def rated_on(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    amounts: dict[str, float],
    window_s: float,
    updates: float,
) -> tuple[dict[str, Rate], float | None]:
    """(every role's rate per unit of `system` as rated before the solve, the colocated
    update's seconds there or None): rl_rates at the fewest whole units holding the training
    state sizes the run's n (_run_accelerators); the rates and the colocated term are taken
    again at n rounded up to whole units (the update's layout spans whole units, and its
    optimizer state is offloaded from all of them), each rate x (1 - idle share) (_busy): the
    same figures as rates_at at that job. Where the train role's work at that job's own rate
    needs more whole units in the window (window_units(amount / rate, window): n was sized at
    the fewest units' rates, before the idle share), the job grows to them and is rated again,
    up to SIZING_ROUNDS times. The train role's Rate names that job (job_accelerators)."""
    from planner.demand.rl import rl_rates

    first = rl_rates(spec, catalog, system)
    n, co = _run_accelerators(spec, catalog, system, first, amounts, window_s)
    if n is None:
        out = _idle_applied(spec, catalog, system, first, co, updates, window_s)
        return out, None if co is None else co.total_s
    per_unit = catalog.system(system).accelerators
    whole = math.ceil(n / per_unit - 1e-9) * per_unit

    def at(accelerators: int) -> tuple[dict[str, Rate], ColocatedUpdate | None]:
        rates = rl_rates(spec, catalog, system, accelerators=accelerators)
        # the optimizer state is offloaded from every accelerator of the job it runs on
        co = _colocated_at(spec, catalog, system, accelerators)
        return _idle_applied(spec, catalog, system, rates, co, updates, window_s), co

    out, co = at(whole)
    for _ in range(SIZING_ROUNDS):
        # n was taken at the fewest units' rates before the idle share: at this job's own
        # rates the train role's work may need more whole units in the window
        # (tests/test_held.py: 24 H100s rated where their rate needs 3.09 servers), so the job
        # grows to the units that do it (window_units, as the hold and the verifier count it).
        # The train role's alone: a colocated pool's generation rate per unit falls as the job
        # grows (its update's samples spread over more accelerators), so the pool's whole need
        # has no fixed point there (tests/test_rl_order.py's colocated run: 72 accelerators
        # grown to 600,248, where no layout fits)
        if not out["train"].feasible:
            break
        units = window_units(amounts["train"] / out["train"].per_unit_s, window_s)
        if units * per_unit <= whole:
            break
        whole = units * per_unit
        out, co = at(whole)
    if out["train"].feasible:
        out["train"] = replace(out["train"], job_accelerators=whole)
    return out, None if co is None else co.total_s


def _idle_applied(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    rates: dict[str, Rate],
    co: ColocatedUpdate | None,
    updates: float,
    window_s: float,
) -> dict[str, Rate]:
    """Each rate x (1 - idle share), idle share = updates x (the colocated update's seconds
    `co`, or a separate-pool run's weight sync, pool_sync_s) / window (_busy)."""
    from planner.demand.rl import pool_sync_s

    update_s = None if co is None else co.total_s
    # separate pools: the weight sync after each update, which both pools wait for
    sync = pool_sync_s(spec, catalog, system)
    if sync is not None:
        update_s = sync.total_s
    idle = None if update_s is None else updates * update_s / window_s
    return {name: _busy(rate, idle, spec.colocated) for name, rate in rates.items()}


def _colocated_at(
    spec: RLSpec, catalog: Catalog, system: str, accelerators: int
) -> ColocatedUpdate | None:
    """The colocated update over a job of `accelerators` (the optimizer state's offload shared
    by all of them), at least the fewest whole units holding the training state (as
    _run_accelerators)."""
    from planner.demand.rl import colocated_update_s

    fewest = colocated_update_s(spec, catalog, system)
    if fewest is None or accelerators <= fewest.accelerators:
        return fewest
    return colocated_update_s(spec, catalog, system, accelerators=accelerators)


def rates_at(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    accelerators: int,
    updates: float,
    window_s: float,
    train_only: bool = False,
) -> tuple[dict[str, Rate], float | None]:
    """(every role's rate per unit of `system` when the run's job is `accelerators` whole
    accelerators, the colocated update's seconds there or None): rl_rates at that job (the
    update's training and log-prob passes, generation's concurrency), the colocated term over
    the same accelerators (_colocated_at), each x (1 - idle share) (_idle_applied): the
    re-rating of a run at the job a plan places its trainer on (placed_jobs). train_only:
    the train role's alone (update_passes, the same figure)."""
    from planner.demand.rl import rl_rates, update_passes

    if train_only:
        rates = {"train": update_passes(spec, catalog, system, accelerators)["train"].rate}
    else:
        rates = rl_rates(spec, catalog, system, accelerators=accelerators)
    co = _colocated_at(spec, catalog, system, accelerators)
    out = _idle_applied(spec, catalog, system, rates, co, updates, window_s)
    if out["train"].feasible:
        out["train"] = replace(out["train"], job_accelerators=accelerators)
    return out, None if co is None else co.total_s


def _moe_trainer(
    name: str, policy: str, catalog: Catalog, systems: list[str], precision: str
) -> list[Caveat]:
    """The caveats of training an MoE policy (its update's passes: MOE_TRAINING_CAVEAT; on the
    systems whose accelerator has no fitted expert-GEMM fraction at the precision where a
    calibration row measures the miss, moe_unfitted_expert_gemms: BF16 on H100)."""
    from planner.demand.common import MOE_TRAINING_CAVEAT, moe_unfitted_expert_gemms

    if catalog.models[policy].moe is None:
        return []
    label = f"{name} ({policy})"
    unfitted = moe_unfitted_expert_gemms(catalog, systems, precision)
    return [Caveat(MOE_TRAINING_CAVEAT, label, (), "train")] + [
        Caveat(text, label, named, "train") for text, named in unfitted
    ]


def _run_accelerators(
    spec: RLSpec,
    catalog: Catalog,
    system: str,
    rates: dict[str, Rate],
    amounts: dict[str, float],
    window_s: float,
) -> tuple[float | None, ColocatedUpdate | None]:
    """(n, the colocated update over n) on `system`: the run's accelerators as the work sizes
    them, n = sum over roles of amount / rate per unit / window x accelerators per unit (the run
    spread over its window; a run with separate pools: the train role's alone, the trainer's
    pool), at least the fewest whole units that hold the training state (colocated_update_s's
    own n, or training's). The optimizer state's offload is shared by all n. (None, None) for
    a system without accelerators; n None when a role cannot run there (the rates stay at the
    fewest whole units)."""
    from planner.demand.common import hardware
    from planner.demand.pretrain import _job_accelerators
    from planner.demand.rl import colocated_update_s

    hw = hardware(catalog, system)
    if hw is None:
        return None, None
    fewest = colocated_update_s(spec, catalog, system)
    counted = amounts if spec.colocated else {"train": amounts["train"]}
    if not all(rates[name].feasible for name in counted):
        return None, fewest
    least = (
        fewest.accelerators
        if fewest is not None
        else float(
            _job_accelerators(
                hw,
                catalog.models[spec.policy],
                spec.bytes_per_param * catalog.models[spec.policy].params,
            )
        )
    )
    unit_s = sum(amount / rates[name].per_unit_s for name, amount in counted.items())
    n = max(least, unit_s / window_s * hw.accelerators)
    if fewest is None or n <= fewest.accelerators:
        return n, fewest
    return n, colocated_update_s(spec, catalog, system, accelerators=n)


def _busy(rate: Rate, idle_share: float | None, colocated: bool = True) -> Rate:
    """A run's rate per unit when its units wait out each update: a colocated run's in its
    refit, offload and engine overhead (colocated_update_s), a separate-pool run's in its
    weight sync (pool_sync_s, both pools wait); idle_share = updates x that time / window of
    the window does no role's work, so each role's rate is x (1 - idle_share). A lower bound
    on that share: a run the plan finishes before its deadline updates more often. None: no
    such term on the system."""
    if idle_share is None or not rate.feasible:
        return rate
    what, mode = (
        ("updates' refit, offload and engine overhead", "colocated")
        if colocated
        else ("updates' weight sync", "separate pools")
    )
    if idle_share >= 1:
        return Rate(
            0.0,
            f"its {what} take {idle_share:.0%} of the window on this system: no time is left "
            f"for work ({mode})",
        )
    return Rate(
        rate.per_unit_s * (1 - idle_share),
        f"{rate.reason}; x {1 - idle_share:.4g}: {idle_share:.1%} of the window in its {what} "
        f"({mode})",
    )


def report_lines(plan: Plan) -> list[str]:
    """RL placement: trainer site, samples and verifier cores by site; then the trainers' jobs
    (job_lines)."""
    if not plan.rl:
        return job_lines(plan)
    out = ["\nRL placement"]
    for r in plan.rl:
        samples = ", ".join(f"{d} {v:,.3g}" for d, v in r.samples_by_site.items())
        cores = ", ".join(f"{d} {v:,.0f}" for d, v in r.verifier_cores_by_site.items())
        memory = ", ".join(
            f"{d} {format_si(v, 'B')}" for d, v in r.verifier_memory_bytes_by_site.items()
        )
        out.append(
            f"  {r.workload}: trainer at {r.trainer_site}; samples by site: {samples}; "
            f"verifier cores required (busiest period): {cores or 'none'}"
            + (f"; sandbox memory required (busiest period): {memory}" if memory else "")
        )
        pushes = ", ".join(f"{d} {s:,.0f} s" for d, s in r.weight_push_s_by_site.items())
        out.append(
            f"    an update every {r.update_interval_s:,.0f} s; weight pushes (burst): "
            f"{pushes or 'none (generation at the trainer site)'}; allowed "
            f"{r.push_budget_s:,.0f} s"
        )
    return out + job_lines(plan)


# -- re-rating the trainer at the job the plan places it on ---------------------------------


def placed_jobs(
    plan: Plan,
    scenario: Any,
    demands: list[WorkloadDemand],
    rated: list[WorkloadDemand],
    solves: int,
    last: bool,
) -> list[JobRow]:
    """One RLJobRow per RL run whose trainer the plan runs on one system: the run's job in each
    LP period the train role runs (job_units: a colocated run's units on the trainer's pool, every
    role's; a separate-pool run's train role's), as a pretraining's (period_jobs: the rate's job
    where the trainer's pool holds that many units in service, else the units in service, at
    least ceil(u_p)), its rate
    re-derived there (rates_at: the update's passes and the colocated update over those
    accelerators, x (1 - idle share)), the lowest (binding_job), against the rate the plan used
    and the job it names (job_status; held_status where Role.max_units holds it). A run rated
    without a job (no feasible trainer on the system: job_accelerators 0) has no row."""
    from planner.kinds.pretrain import in_service, job_row, period_jobs
    from planner.rows import RLJobRow

    catalog = scenario.catalog
    workloads = dict(scenario.data.workloads)
    first = {(d.name, r.name): r for d in rated for r in d.roles}
    held = in_service(plan)
    out: list[JobRow] = []
    for demand in demands:
        if demand.kind != NAME or demand.rl is None:
            continue
        role = next(r for r in demand.roles if r.placement == "trainer")
        systems = job_units(plan, demand, role, held)
        if len(systems) != 1:
            continue
        ((system, (units, pools)),) = systems.items()
        used = role.rates[system]
        if used.job_accelerators <= 0:
            continue
        per_unit = catalog.system(system).accelerators
        jobs = period_jobs(units, pools, math.ceil(used.job_accelerators / per_unit))
        if not jobs:
            continue
        spec = workloads[demand.name]
        out.append(
            job_row(
                RLJobRow,
                demand,
                role,
                system,
                jobs,
                first[(demand.name, role.name)].rates[system],
                functools.partial(train_rate_at, spec, catalog, system, demand=demand),
                (solves, last),
                per_unit,
            )
        )
    return out


def job_units(
    plan: Plan,
    demand: WorkloadDemand,
    role: Role,
    held: dict[tuple[str, str, int], float],
    every_period: bool = False,
) -> dict[str, tuple[dict[int, float], dict[int, float]]]:
    """Per system the trainer runs on: the units of the run's job per LP period and the units in
    service then at the trainer's sites (`held`: in_service), as role_units gives a role's. A
    separate-pool run's job is its train role's units (its own pool: role_units). A colocated
    run's is every role's units on the trainer's pool (the trainer's system at the trainer's
    sites), summed: its roles take the same accelerators in turn, so u_generate + u_train + ...
    is the job that holds them all (the n rated_on sizes counts every role too). Only the
    periods the train role runs in: the train rate is the update's, and a period the run only
    generates in has no update to rate (every_period: every period the run has units on that
    pool, the cap of row ratedpool)."""
    from planner.kinds.pretrain import PLACED_WHOLE_TOL, role_units

    systems = role_units(plan, held).get((demand.name, role.name), {})
    if demand.rl is None or not demand.rl.colocated or len(systems) != 1:
        return systems
    ((system, (train, _)),) = systems.items()
    mine = [a for a in plan.allocations if a.workload == demand.name and a.system == system]
    sites = {a.datacenter for a in mine if a.role == role.name}
    units: dict[int, float] = {}
    for a in mine:
        if a.datacenter in sites and (every_period or train.get(a.period, 0.0) > PLACED_WHOLE_TOL):
            units[a.period] = units.get(a.period, 0.0) + a.units
    pools = {p: sum(held.get((d, system, p), 0.0) for d in sorted(sites)) for p in units}
    return {system: (units, pools)}


def train_rate_at(
    spec: RLSpec, catalog: Catalog, system: str, accelerators: int, demand: WorkloadDemand
) -> float:
    """The train role's rate per unit (FLOP/s) when the run's job is `accelerators` (rates_at)."""
    assert demand.rl is not None
    rates, _ = rates_at(
        spec, catalog, system, accelerators, demand.rl.updates, demand.window_s, train_only=True
    )
    return rates["train"].per_unit_s


def trainer_rate_at(scenario: Any, demand: WorkloadDemand, system: str, accelerators: int) -> float:
    """The train role's rate per unit (FLOP/s) of RL run `demand` at a job of `accelerators`,
    recomputed from the scenario (train_rate_at; the pre-solve rating's at the job it sized,
    rated_on, is the same figure): what a plan's rl_jobs record states (verifier rule
    placed_rate)."""
    spec = dict(scenario.data.workloads)[demand.name]
    return train_rate_at(spec, scenario.catalog, system, accelerators, demand)


def rerated(
    demands: list[WorkloadDemand], jobs: list[JobRow], scenario: Any, plan: Plan
) -> list[WorkloadDemand]:
    """The demands for the next solve, each `optimistic` run changed on its trainer's system:
    where its placed job is smaller than its rate's job because the trainer's pool had fewer
    units in service in a period it trains, the rates stay and the train role's min_units there
    become the rate's job (LP rows mingroup, running: the plan holds that job's units while it
    trains); otherwise every role's rate there becomes the placed job's (rates_at: the
    update's passes, generation's concurrency and the colocated update over its accelerators)
    and the colocated update's seconds with them (the `pace` rows'). The train rate's reason
    says which."""
    from planner.kinds.pretrain import PLACED_WHOLE_TOL, in_service

    catalog = scenario.catalog
    workloads = dict(scenario.data.workloads)
    todo = {j.workload: j for j in jobs if j.status == "optimistic"}
    held = in_service(plan)
    short: set[str] = set()
    for a in plan.allocations:
        job = todo.get(a.workload)
        if (
            job is None
            or a.role != job.role
            or job.placed_accelerators >= job.rate_job_accelerators
        ):
            continue
        per_unit = catalog.system(a.system).accelerators
        units = held.get((a.datacenter, a.system, a.period), 0.0)
        if units * per_unit < job.rate_job_accelerators - PLACED_WHOLE_TOL:
            short.add(a.workload)
    out = []
    for demand in demands:
        job = todo.get(demand.name)
        if job is None or demand.rl is None:
            out.append(demand)
            continue
        s = job.system
        per_unit = catalog.system(s).accelerators
        if demand.name in short:
            units = math.ceil(job.rate_job_accelerators / per_unit)
            note = (
                f"held on the {units:,} units of the job it is rated for while it trains (a "
                f"plan that held {job.placed_units:,} ran it at "
                f"{job.placed_rate_per_unit_s:.4g}/s): "
            )
            roles = [
                replace(
                    r,
                    rates={**r.rates, s: _noted(r.rates[s], note)},
                    min_units={**r.min_units, s: units},
                )
                if r.name == job.role
                else r
                for r in demand.roles
            ]
            out.append(replace(demand, roles=roles))
            continue
        spec = workloads[demand.name]
        new, co_s = rates_at(
            spec, catalog, s, job.placed_accelerators, demand.rl.updates, demand.window_s
        )
        note = (
            f"re-rated at the job the plan placed its trainer on ({job.placed_units:,} units, "
            f"{job.placed_accelerators:,} accelerators; the train rate it was placed at, "
            f"{job.rate_per_unit_s:.4g}/s, is that of {job.rate_job_accelerators:,}): "
        )
        roles = [
            replace(
                r,
                rates={
                    **r.rates,
                    s: _noted(new[r.name], note) if r.name == job.role else new[r.name],
                },
            )
            for r in demand.roles
        ]
        coupling = demand.rl
        if co_s is not None:
            coupling = replace(
                coupling,
                colocated_update_s_by_system={**coupling.colocated_update_s_by_system, s: co_s},
            )
        out.append(replace(demand, roles=roles, rl=coupling))
    return out


def _noted(rate: Rate, note: str) -> Rate:
    return Rate(rate.per_unit_s, note + rate.reason, rate.caveat, rate.job_accelerators)


def attach_jobs(plan: Plan, scenario: Any, rows: list[JobRow]) -> None:
    """plan.rl_jobs and the left_out lines of runs not re-rated to a fixed point
    (planner/kinds/pretrain.py rerate_notes)."""
    from planner.kinds.pretrain import rerate_notes
    from planner.rows import RLJobRow

    plan.rl_jobs = [r for r in rows if isinstance(r, RLJobRow)]
    plan.left_out = plan.left_out + rerate_notes(rows)


def job_lines(plan: Plan) -> list[str]:
    """The report's lines on each RL run's trainer: rated, rate and placed jobs."""
    from planner.kinds.pretrain import job_line

    if not plan.rl_jobs:
        return []
    out = [
        "",
        "RL trainer jobs (rated before the solve; placed by the plan, a colocated run's every "
        "role's units on the trainer's pool; rate used)",
    ]
    return out + [job_line(j) for j in plan.rl_jobs]


# -- its part of the LP ---------------------------------------------------------------------


def declare(model: Model, demand: WorkloadDemand) -> None:
    """g[w,d], t[w,d], x[w,s] of the trainer, z[w,d] per site, c[w,d,isa,p] per site, ISA of
    its sandboxes and LP period in which the site can generate for w, for every ordered
    reachable pair (a, b) a trajectory flow a -> b and a weight flow a -> b, and the running
    totals h[w,r,p] of the order rows (`declare_so_far`)."""
    name = demand.name
    for d in model.sites:
        model.samples[(name, d)] = model.new_var("g", 0, 1)
    for d in model.sites:
        model.trainer[(name, d)] = model.new_var("y", 0, 1, BINARY)
    declare_system_choice(model, demand)
    # on[w,train,d,s,p] where re-rating held the trainer on its rated job (Role.min_units)
    declare_running(model, demand)
    for d in model.sites:
        model.generates[(name, d)] = model.new_var("z", 0, 1, BINARY)
        # z is only ever an upper bound (rows generates, reach, weightpush) or a cost (weights)
        model.idle_binaries.append((model.generates[(name, d)], [model.samples[(name, d)]]))
        assert demand.rl is not None
        for isa in demand.rl.verifier_core_s_by_isa:
            # c[w,d,isa,p] only where d can generate for w in p: the sandboxes verify the
            # samples of their period (row verifier)
            for period in model.periods:
                if model.u_of_role_at(name, GENERATE, period, d):
                    model.cores[(name, d, isa, period.index)] = model.new_var("k", 0)
    topo = model.scenario.topology
    for a in model.sites:
        for b in model.sites:
            path = topo.path(a, b) if a != b else None
            if path is None:
                continue
            traj = model.new_var("f", 0)
            model.flows.append(Flow("trajectories", name, a, b, path, traj))
            weights = model.new_var("f", 0)
            model.flows.append(Flow("weights", name, a, b, path, weights))
    declare_so_far(model, demand)


def sandbox_peaks(
    demand: WorkloadDemand, allocations: list[AllocationRow]
) -> tuple[dict[str, float], dict[str, float]]:
    """(cores, sandbox memory bytes) each site's sandboxes need in the LP period it needs most,
    over all ISAs: per period, core_s_per_sample[isa] (byte_s_per_sample[isa]) x the samples
    generated there in it / the period's seconds (generated_samples; rows verifier,
    sandboxmem). Sites needing none are left out."""
    assert demand.rl is not None
    rl = demand.rl
    cores: dict[str, float] = {}
    memory: dict[str, float] = {}
    for (d, _), (samples, period_s) in generated_samples(demand, allocations).items():
        c = sum(rl.verifier_cores(isa, samples, period_s) for isa in rl.verifier_core_s_by_isa)
        m = sum(
            rl.verifier_memory_bytes(isa, samples, period_s) for isa in rl.verifier_byte_s_by_isa
        )
        if c > 0:
            cores[d] = max(cores.get(d, 0.0), c)
        if m > 0:
            memory[d] = max(memory.get(d, 0.0), m)
    return cores, memory


def _explain_samples(model: Model, entity: tuple[str, ...], value: float) -> str:
    return (
        f"{entity[0]}:samples: {value:.1%} of the work cannot be done by its deadline"
        # the samples are generated: why no generating unit is in service, as the work rows say
        f"{no_unit_in_time(model, (entity[0], 'generate'))}{after_window(model, entity[0])}"
    )


def _mine(model: Model) -> list[WorkloadDemand]:
    return [d for d in model.demands if d.kind == NAME]


def _kept_gbs(demand: WorkloadDemand) -> float:
    """K = kept_fraction · samples · trajectory_bytes_per_kept_sample / T_w / 1e9   (GB/s)"""
    assert demand.rl is not None
    rl = demand.rl
    return (
        rl.kept_fraction * rl.samples * rl.trajectory_bytes_per_kept_sample / demand.window_s / GB
    )


@family(
    "samples", "workload", slack_unit="fraction of the samples", explain=_explain_samples, kind="rl"
)
def add_samples(model: Model) -> None:
    """sum_d g[w,d] >= 1   (RL: every sample of the run is generated somewhere)"""
    for demand in _mine(model):
        pairs = [(model.samples[(demand.name, d)], 1.0) for d in model.sites]
        model.row("samples", (demand.name,), pairs, ">=", 1.0, UNSERVED_WEIGHT)


@family("pergen", "workload:role:datacenter", kind="rl")
def add_pergen(model: Model) -> None:
    """sum_{s,p} u[w,r,d,s,p] · rate[r,s] · len_p / (per_sample_r · samples_w) >= g[w,d]
    (RL roles placed with generation: generate, generate_prefill, reward:<name>, reference run
    at the site that generated the samples, for all of them)"""
    for demand in _mine(model):
        assert demand.rl is not None
        for role in demand.roles:
            if role.placement != "with_generation" or not role.per_sample:
                continue
            scale = role.per_sample * demand.rl.samples
            for d in model.sites:
                pairs = work_pairs(model, demand, role, {d}, scale)
                g = model.samples[(demand.name, d)]
                model.row("pergen", (demand.name, role.name, d), pairs + [(g, -1.0)], ">=", 0.0)


@family("onetrainer", "workload", kind="rl")
def add_onetrainer(model: Model) -> None:
    """sum_d t[w,d] = 1   (RL: one trainer site)"""
    for demand in _mine(model):
        pairs = [(model.trainer[(demand.name, d)], 1.0) for d in model.sites]
        model.row("onetrainer", (demand.name,), pairs, "==", 1.0)


@family("trainer", "workload:role:datacenter:system:period", kind="rl")
def add_trainer(model: Model) -> None:
    """u[w,train,d,s,p] <= max_units[d,s] · t[w,d]   (the RL trainer runs at its site only)"""
    for demand in _mine(model):
        trainer = [r for r in demand.roles if r.placement == "trainer"]
        tie(model, "trainer", demand, trainer, lambda d, s, w=demand.name: model.trainer[(w, d)])


@family("ratedpool", "workload:datacenter:system:period", kind="rl")
def add_ratedpool(model: Model) -> None:
    """sum_r u[w,r,d,s,p] + (M[w,d,s,p] - max_units[train,s]) · t[w,d] <= M[w,d,s,p] in every
    period p, M = sum_r big_m[r,d,s,p] (the most units the run's roles can use on (d, s)), for
    a colocated RL run whose trainer is held to its rated job on s (Role.max_units)   (its roles
    take the trainer's accelerators in turn, so at the trainer's site (t = 1) the run holds at
    most the rated job's units on s, all its roles together: re-rating's alternative to a plan
    that squeezed the run's pool share past that job, planner/api.py _solve_rerated; elsewhere
    the bound the roles have anyway)"""
    from planner.lp.constraints import big_m

    for demand in _mine(model):
        assert demand.rl is not None
        train = next(r for r in demand.roles if r.placement == "trainer")
        if not demand.rl.colocated or not train.max_units:
            continue
        cells: dict[tuple[str, str, int], Pairs] = {}
        bound: dict[tuple[str, str, int], float] = {}
        for role in demand.roles:
            for d, s, period, var in model.u_of_role(demand.name, role.name, None):
                if s not in train.max_units:
                    continue
                key = (d, s, period.index)
                cells.setdefault(key, []).append((var, 1.0))
                bound[key] = bound.get(key, 0.0) + big_m(model, role, d, s, period.index)
        for (d, s, p), pairs in sorted(cells.items()):
            cap = float(train.max_units[s])
            if bound[(d, s, p)] <= cap:
                continue
            t = model.trainer[(demand.name, d)]
            entity = (demand.name, d, s, f"p{p}")
            room = bound[(d, s, p)]
            model.row("ratedpool", entity, pairs + [(t, room - cap)], "<=", room)


@family("generates", "workload:datacenter", kind="rl")
def add_generates(model: Model) -> None:
    """g[w,d] <= z[w,d]   (z: d generates samples for w, so it needs fresh weights)"""
    for (w, d), z in model.generates.items():
        model.row("generates", (w, d), [(model.samples[(w, d)], 1.0), (z, -1.0)], "<=", 0.0)


@family("verifier", "workload:datacenter:isa:period", kind="rl")
def add_verifier(model: Model) -> None:
    """c[w,d,isa,p] = core_s_per_sample[isa] · sum_s u[w,generate,d,s,p] · rate[generate,s]
    / per_sample_generate in every LP period p   (cores of each ISA the sandboxes need at the
    site and in the period that generated the samples: the samples generated per second there,
    tokens / tokens per sample, each verified at core_s_per_sample; a period in which d
    generates nothing needs no sandbox cores there. An equality: c is the need itself, so the
    cpu row's slack is the cores left over)"""
    for demand in _mine(model):
        assert demand.rl is not None
        generate = next(r for r in demand.roles if r.name == GENERATE)
        for (w, d, isa, p), cores in model.cores.items():
            if w != demand.name:
                continue
            period = model.periods[p]
            core_s = demand.rl.verifier_core_s_by_isa[isa]
            per_s = generated_per_s(model, demand, generate, d, period)
            pairs = [(var, -core_s * c) for var, c in per_s]
            model.row("verifier", (w, d, isa, f"p{p}"), [(cores, 1.0), *pairs], "==", 0.0)


def generated_samples(
    demand: WorkloadDemand, allocations: list[AllocationRow]
) -> dict[tuple[str, int], tuple[float, float]]:
    """Per (site, LP period) the run generates in: (samples generated there in it = the generate
    role's work done / its tokens per sample, the period's seconds), from the plan's records
    (the sandboxes verify the samples of the period they are generated in)."""
    per_sample = next(r for r in demand.roles if r.name == GENERATE).per_sample
    out: dict[tuple[str, int], tuple[float, float]] = {}
    if not per_sample:
        return out
    for a in allocations:
        if a.workload != demand.name or a.role != GENERATE:
            continue
        key = (a.datacenter, a.period)
        held = out.get(key, (0.0, a.period_s))[0]
        out[key] = (held + a.work_done / per_sample, a.period_s)
    return out


def scoring_roles(demand: WorkloadDemand) -> list[Role]:
    """The reward models' roles (reward:<name>): each scores the samples as they are generated."""
    return [r for r in demand.roles if r.name.startswith("reward:") and r.amount > 0]


@family("rlscore", "workload:role:datacenter:period", kind="rl")
def add_rlscore(model: Model) -> None:
    """sum_s u[w,r,d,s,p] · rate[r,s] · len_p / amount_r - sum_s u[w,generate,d,s,p] ·
    rate[generate,s] · len_p / amount_generate >= 0 for every reward model's role r
    (reward:<name>), site d and LP period p in which d can generate for w   (RL: a sample is
    scored at the site and in the period it is generated in, before the update it feeds; row
    pergen ties the totals over the window, this each period's share)"""
    for demand in _mine(model):
        generate = next(r for r in demand.roles if r.name == GENERATE)
        if generate.amount <= 0:
            continue
        for period in model.periods:
            for d in model.sites:
                made = work_pairs(model, demand, generate, {d}, generate.amount, period)
                if not made:
                    continue
                minus = [(var, -c) for var, c in made]
                for role in scoring_roles(demand):
                    scored = work_pairs(model, demand, role, {d}, role.amount, period)
                    entity = (demand.name, role.name, d, f"p{period.index}")
                    model.row("rlscore", entity, scored + minus, ">=", 0.0)


@family("trajdst", "workload:datacenter:datacenter", kind="rl")
def add_trajdst(model: Model) -> None:
    """f_traj[a,b] <= K · t[w,b]   (trajectories go to the trainer only)"""
    for flow in model.flows:
        if flow.kind == "trajectories":
            demand = next(d for d in model.demands if d.name == flow.workload)
            t = model.trainer[(flow.workload, flow.dst)]
            pairs = [(flow.var, 1.0), (t, -_kept_gbs(demand))]
            model.row("trajdst", (flow.workload, flow.src, flow.dst), pairs, "<=", 0.0)


@family("trajsrc", "workload:datacenter", kind="rl")
def add_trajsrc(model: Model) -> None:
    """sum_b f_traj[a,b] >= K · (g[w,a] - t[w,a])   (GB/s: kept trajectories leave every
    generating site that is not the trainer's)"""
    leaving: dict[tuple[str, str], Pairs] = {}  # (workload, src): flows in declaration order
    for f in model.flows:
        if f.kind == "trajectories":
            leaving.setdefault((f.workload, f.src), []).append((f.var, 1.0))
    for demand in _mine(model):
        k_gbs = _kept_gbs(demand)
        for a in model.sites:
            out = leaving.get((demand.name, a), [])
            g, t = model.samples[(demand.name, a)], model.trainer[(demand.name, a)]
            model.row("trajsrc", (demand.name, a), out + [(g, -k_gbs), (t, k_gbs)], ">=", 0.0)


@family("weights", "workload:datacenter:datacenter", kind="rl")
def add_weights(model: Model) -> None:
    """f_w[b,d] >= Wr · (z[w,d] + t[w,b] - 1), Wr = weight_bytes_per_update · updates / T_w / 1e9
    (GB/s: fresh weights from the trainer b to every generating site d)"""
    for flow in model.flows:
        if flow.kind != "weights":
            continue
        demand = next(d for d in model.demands if d.name == flow.workload)
        assert demand.rl is not None
        w_gbs = demand.rl.weight_bytes_per_update * demand.rl.updates / demand.window_s / GB
        z = model.generates[(flow.workload, flow.dst)]
        t = model.trainer[(flow.workload, flow.src)]
        pairs = [(flow.var, 1.0), (z, -w_gbs), (t, -w_gbs)]
        model.row("weights", (flow.workload, flow.src, flow.dst), pairs, ">=", -w_gbs)


@family("reach", "workload:datacenter:datacenter", kind="rl")
def add_reach(model: Model) -> None:
    """z[w,a] + t[w,b] <= 1 when no path joins a and b   (RL: a generating site must reach the
    trainer)"""
    topo = model.scenario.topology
    for demand in _mine(model):
        for a in model.sites:
            for b in model.sites:
                if a != b and topo.path(a, b) is None:
                    z, t = model.generates[(demand.name, a)], model.trainer[(demand.name, b)]
                    model.row("reach", (demand.name, a, b), [(z, 1.0), (t, 1.0)], "<=", 1.0)


def push_s(model_or_topo: Any, demand: WorkloadDemand, trainer: str, site: str) -> float | None:
    """Seconds to push one update's weights from the trainer to a generating site over the
    path between them: bytes / the narrowest link's capacity + the path's latency (the push has
    the links to itself: other flows are averages, this is a burst). None: no path."""
    topo = getattr(model_or_topo, "scenario", None)
    topo = topo.topology if topo is not None else model_or_topo
    if trainer == site:
        return 0.0
    path = topo.path(trainer, site)
    if path is None:
        return None
    assert demand.rl is not None
    bottleneck = min(topo.link(link_id).capacity_bytes_per_s for link_id in path)
    latency = sum(topo.link(link_id).latency_s for link_id in path)
    return demand.rl.weight_bytes_per_update / bottleneck + latency


@family("weightpush", "workload:datacenter:datacenter", kind="rl")
def add_weightpush(model: Model) -> None:
    """z[w,d] + t[w,b] <= 1 when push_s(b -> d) > max_staleness_updates · T_w / updates
    (a site can generate for a trainer only if a weight push reaches it in time: push_s =
    weight_bytes / narrowest link on the path + path latency, a burst, not an average)"""
    for demand in _mine(model):
        assert demand.rl is not None
        budget = demand.rl.push_budget_s(demand.window_s)
        for b in model.sites:
            for d in model.sites:
                took = push_s(model, demand, b, d)
                if b == d or took is None or took <= budget:
                    continue
                z, t = model.generates[(demand.name, d)], model.trainer[(demand.name, b)]
                model.row("weightpush", (demand.name, b, d), [(z, 1.0), (t, 1.0)], "<=", 1.0)


@family("pace", "workload:period", kind="rl")
def add_pace(model: Model) -> None:
    """sum_{d,s} u[w,generate,d,s,p] · rate[generate,s] · pace_s <= max(1, staleness_w) ·
    samples_per_update_w · completion_tokens_w, in every period p, pace_s = floor_s +
    colocated_s, floor_s = max_completion_tokens_w · the decode step at the smallest batch on s
    (an update's generation lasts at least its longest sample's decode; 0 without
    max_completion_tokens), colocated_s = a colocated update's refit + offload + overhead on s
    (planner/demand/rl.py colocated_update_s) or a separate-pool update's weight sync
    (pool_sync_s). RL: an update lasts at
    least pace_s, so generation cannot run faster than one update's tokens per pace_s. The
    colocated seconds bound each update's wall time; the LP does not charge the units idle
    during them (their unit-time is not in the capacity rows)."""
    for demand in _mine(model):
        assert demand.rl is not None
        floors = demand.rl.pace_s_by_system()
        if not floors:
            continue
        role = next(r for r in demand.roles if r.name == "generate")
        bound = max(1.0, demand.rl.max_staleness_updates) * demand.rl.generated_tokens_per_update
        for period in model.periods:
            pairs = [
                (var, role.rates[s].per_unit_s * floors[s])
                for _, s, _, var in model.u_of_role(demand.name, role.name, period)
                if s in floors and role.rates[s].per_unit_s > 0
            ]
            if pairs:
                model.row("pace", (demand.name, f"p{period.index}"), pairs, "<=", bound)


# The update's passes that follow its generation: the trainer's training and the forward-only
# log-prob passes it runs on the kept samples just before (planner/demand/rl.py update_passes).
UPDATE_ROLES = ("policy_logprobs", "reference", "train")


def order_slack(demand: WorkloadDemand) -> float:
    """How far generation may run ahead of an update's passes, as a share of the run:
    max(1, staleness_w) · samples_per_update_w / samples_w = max(1, staleness_w) / updates_w
    (at least the one update being generated when a period ends, at most max_staleness_updates
    updates ahead of the trainer)."""
    assert demand.rl is not None
    return max(1.0, demand.rl.max_staleness_updates) / demand.rl.updates


def order_roles(model: Model, demand: WorkloadDemand) -> tuple[list[Role], list[Period]]:
    """The roles whose running totals the order rows compare (generate first, then the update
    roles with work) and the run's active periods but its last (where the work rows tie every
    total at 1); empty when the run has no generation, no update role or one period."""
    from planner.lp.model import active

    generate = next((r for r in demand.roles if r.name == "generate"), None)
    if generate is None or generate.amount <= 0:
        return [], []
    updates = [r for r in demand.roles if r.name in UPDATE_ROLES and r.amount > 0]
    periods = sorted((p for p in model.periods if active(p, demand)), key=lambda p: p.index)
    if not updates or len(periods) < 2:
        return [], []
    return [generate, *updates], periods[:-1]


def declare_so_far(model: Model, demand: WorkloadDemand) -> None:
    """h[w,r,p] >= 0: the share of role r's amount done by the end of LP period p (rows
    rlsofar), for the roles and periods of `order_roles`."""
    roles, periods = order_roles(model, demand)
    for role in roles:
        for period in periods:
            model.so_far[(demand.name, role.name, period.index)] = model.new_var("h", 0)


@family("rlsofar", "workload:role:period", kind="rl")
def add_rlsofar(model: Model) -> None:
    """h[w,r,p] = h[w,r,p-1] + sum_{d,s} u[w,r,d,s,p] · rate[r,s] · len_p / amount_r   in every
    period p of the window but its last (no h[w,r,p-1] in the first), for r = generate, train,
    policy_logprobs, reference   (RL: the running total of the share of r's work done by the
    end of p, which rows rlorder and rllead compare: a row per period, so their terms grow
    linearly with the periods a run spans, not with their square)"""
    every = set(model.sites)
    for demand in _mine(model):
        roles, periods = order_roles(model, demand)
        for role in roles:
            before: Var | None = None
            for period in periods:
                now = model.so_far[(demand.name, role.name, period.index)]
                pairs = work_pairs(model, demand, role, every, role.amount, period)
                if before is not None:
                    pairs.append((before, 1.0))
                pairs.append((now, -1.0))
                entity = (demand.name, role.name, f"p{period.index}")
                model.row("rlsofar", entity, pairs, "==", 0.0)
                before = now


def _order_pairs(model: Model, demand: WorkloadDemand) -> list[tuple[Role, str, Var, Var]]:
    """Per update role r and period p of `order_roles`: (r, "p<index>", h[w,r,p],
    h[w,generate,p])."""
    roles, periods = order_roles(model, demand)
    so_far, w = model.so_far, demand.name
    return [
        (role, f"p{p.index}", so_far[(w, role.name, p.index)], so_far[(w, "generate", p.index)])
        for role in roles[1:]
        for p in periods
    ]


@family("rlorder", "workload:role:period", kind="rl")
def add_rlorder(model: Model) -> None:
    """h[w,r,p] - h[w,generate,p] <= 0 in every period p of the window but its last, for r =
    train, policy_logprobs, reference, h the running totals of rows rlsofar: sum_{d,s,q<=p}
    u[w,r,d,s,q] · rate[r,s] · len_q / amount_r <= sum_{d,s,q<=p} u[w,generate,d,s,q] ·
    rate[generate,s] · len_q / amount_generate   (RL is on-policy update by update: an update
    trains on samples already generated, so by the end of every period the share of the
    training (and of the log-prob passes it reads) done is at most the share of the tokens
    generated)"""
    for demand in _mine(model):
        for role, period, done, generated in _order_pairs(model, demand):
            pairs = [(done, 1.0), (generated, -1.0)]
            model.row("rlorder", (demand.name, role.name, period), pairs, "<=", 0.0)


@family("rllead", "workload:role:period", kind="rl")
def add_rllead(model: Model) -> None:
    """h[w,generate,p] - h[w,r,p] <= max(1, staleness_w) / updates_w in every period p of the
    window but its last, for r = train, policy_logprobs, reference, h the running totals of
    rows rlsofar   (generation runs at most max(1, max_staleness_updates) updates ahead of the
    update's passes: samples_per_update / samples of the run per update)"""
    for demand in _mine(model):
        slack = order_slack(demand)
        for role, period, done, generated in _order_pairs(model, demand):
            pairs = [(generated, 1.0), (done, -1.0)]
            model.row("rllead", (demand.name, role.name, period), pairs, "<=", slack)
