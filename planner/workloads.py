"""Workload specs: what a scenario asks for (pretraining, inference serving, RL post-training).

YAML keys are unit-free where a unit is written in the value (`deadline: 90 days`); attributes
carry SI units (`deadline_s`). Counts accept SI suffixes ('15T' tokens, '10M' problems).
The three kinds are told apart by `kind:`. Model names are checked against the catalog by
`check_workload_refs`, separately, so a scenario loader can attach file:line to each problem.

The formulas that turn these specs into work are in planner/demand/ and docs/models.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from fleetcore.schema import Fraction, Name, PositiveInt, Precision, Strict
from fleetcore.units import Count, Duration

if TYPE_CHECKING:  # pragma: no cover
    from hardware.catalog import Catalog

PositiveCount = Annotated[Count, Field(gt=0)]
PositiveDuration = Annotated[Duration, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
NonNegDuration = Annotated[Duration, Field(ge=0)]

# Mixed-precision Adam: BF16 weights (2 B) + BF16 gradients (2 B) + FP32 master weights, Adam
# first and second moments (3 x 4 B = 12 B) = 16 bytes per parameter (ZeRO paper, Rajbhandari
# et al. 2020, section 3.1: "16 bytes per parameter" for mixed-precision Adam).
MIXED_PRECISION_ADAM_BYTES_PER_PARAM = 16.0

# Bytes moved per trajectory token from a generating site to the trainer: an int32 token id
# (4 B) plus the behaviour policy's FP32 log-probability of that token (4 B), which PPO/GRPO
# importance ratios need. Rewards and masks (a few bytes per sample) are neglected.
TRAJECTORY_BYTES_PER_TOKEN = 8.0


def _start_before_deadline(start_s: float, deadline_s: float) -> None:
    if start_s >= deadline_s:
        raise ValueError(
            f"start ({start_s / 86400:g} days) must come before the deadline "
            f"({deadline_s / 86400:g} days); both count from the start of the horizon"
        )


class LayoutSpec(Strict):
    """A pinned parallel layout: TP x PP x DP x CP (x EP for MoE experts), `vp` virtual pipeline
    stages (interleaving), `micro_batch` sequences per micro-batch. `dp` None = as many data-
    parallel ranks as the job's accelerators allow."""

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt | None = None
    cp: PositiveInt = 1
    ep: PositiveInt = 1
    vp: PositiveInt = 1
    micro_batch: PositiveInt = 1


class PretrainSpec(Strict):
    """One pretraining run: 6·N_active·D FLOPs by a deadline."""

    kind: Literal["pretrain"]
    model: Name
    tokens: PositiveCount | None = None
    # Alternative to `tokens`: D = tokens_per_param x total params (Chinchilla optimum ~20).
    tokens_per_param: PositiveFloat | None = None
    precision: Precision = "bf16"
    deadline_s: PositiveDuration = Field(alias="deadline")
    # Days from the start of the horizon before the work may begin (e.g. RL after pretraining);
    # the deadline is counted from the start of the horizon too.
    start_s: NonNegDuration = Field(0.0, alias="start")
    # Share of wall-clock time spent in useful optimizer steps (failures, restarts, checkpoints
    # take the rest). None = derived from the system's failure physics (planner/demand/goodput.py).
    goodput: Fraction | None = None
    # Count the attention FLOPs 3·4·heads·layers·head_dim·(sequence_length/2) per token in the
    # work (on by default; the published 6ND figures leave it out: set false to compare with
    # them). The step time always includes attention; this only changes what is counted.
    include_attention: bool = True
    sequence_length: PositiveInt = 8192
    bytes_per_param: PositiveFloat = MIXED_PRECISION_ADAM_BYTES_PER_PARAM
    # Tokens per optimizer step; gradient all-reduces (syncs) = tokens / global_batch_tokens.
    global_batch_tokens: PositiveCount
    allow_multi_site: bool = False
    gradient_precision: Precision = "bf16"
    # Pin the parallel layout; None = the fastest layout that fits (planner/demand/training.py).
    layout: LayoutSpec | None = None

    @model_validator(mode="after")
    def _tokens_xor_ratio(self) -> PretrainSpec:
        if (self.tokens is None) == (self.tokens_per_param is None):
            raise ValueError("give exactly one of tokens and tokens_per_param")
        _start_before_deadline(self.start_s, self.deadline_s)
        return self


class InferenceSpec(Strict):
    """A serving fleet's load: requests per day at an interactivity target, over the horizon."""

    kind: Literal["inference"]
    model: Name
    precision: Precision = "bf16"  # weights
    kv_precision: Precision | None = None  # KV cache; None = same as the weights
    requests_per_day: PositiveCount
    prompt_tokens: PositiveInt
    output_tokens: PositiveInt
    # Decode speed each user sees, tokens/s: the time per output token (TPOT, the decode step
    # plus the prefill chunk it carries) must stay within 1/tokens_per_s_per_user. Required unless
    # mode: offline.
    tokens_per_s_per_user: PositiveFloat | None = None
    # interactive: batches sized for tokens_per_s_per_user; offline: no latency target, batches
    # limited by HBM only (MLPerf Offline, batch jobs).
    mode: Literal["interactive", "offline"] = "interactive"
    # Where prompts are prefilled: on their own instances (disaggregated, the default: DistServe,
    # Zhong et al. 2024; Splitwise; DeepSeek-V3 report section 3.4; the LP rates prefill as its own
    # role), or chunked into the decode steps of the same instance (aggregated: TensorRT-LLM
    # in-flight batching, vLLM chunked prefill), whose prefill chunks then lengthen each TPOT.
    prefill: Literal["disaggregated", "aggregated"] = "disaggregated"
    # Share of prompt tokens found in a prefix cache (shared system prompts, multi-turn history):
    # they are not prefilled again (their KV is still stored). Default 0: no cache.
    prompt_cache_hit: Annotated[float, Field(ge=0, lt=1)] = 0.0
    # Speculative decoding / multi-token prediction: tokens drafted per sequence per step and the
    # probability each is accepted (DeepSeek-V3 report, section 5.4.3: its MTP module's second
    # token is accepted 85-90% of the time, i.e. draft_tokens 1, draft_acceptance ~0.85).
    draft_tokens: Annotated[int, Field(ge=0)] = 0
    draft_acceptance: Annotated[float, Field(ge=0, le=1)] = 0.0
    # p99 time to first token with Poisson arrivals (MLPerf Server: 2 s for Llama 2 70B). When
    # set, the fleet runs its decode slots at the utilisation an M/D/c queue allows for it.
    ttft_p99_s: PositiveDuration | None = Field(None, alias="ttft_p99")
    # Self-consistency: k decode streams per request sharing one prompt prefix (KV stored once).
    votes: PositiveInt = 1
    # Provision for the peak: demand is multiplied by this (>= 1).
    peak_to_average: Annotated[float, Field(ge=1)] = 1.0
    # requests_per_day is the load at `start`; it grows by this factor per year, compounding
    # (1: flat; 3: threefold a year).
    growth_per_year: PositiveFloat = 1.0
    # Serving begins this long after the start of the horizon (a launch date) and runs to its end.
    start_s: NonNegDuration = Field(0.0, alias="start")

    @model_validator(mode="after")
    def _interactivity(self) -> InferenceSpec:
        if self.mode == "interactive" and self.tokens_per_s_per_user is None:
            raise ValueError("give tokens_per_s_per_user, or mode: offline (no latency target)")
        if self.draft_tokens > 0 and self.draft_acceptance <= 0:
            raise ValueError("draft_tokens needs draft_acceptance (0-1), e.g. 0.85 for MTP")
        if self.mode == "offline" and self.ttft_p99_s is not None:
            raise ValueError("ttft_p99 is a latency target: not with mode: offline")
        return self

    @property
    def kv(self) -> str:
        """The KV-cache precision in effect."""
        return self.kv_precision or self.precision

    @property
    def prefilled_prompt_tokens(self) -> float:
        """Prompt tokens actually prefilled per request: prompt · (1 − prompt_cache_hit)."""
        return self.prompt_tokens * (1.0 - self.prompt_cache_hit)

    @property
    def decode_target(self) -> float | None:
        """Tokens/s per user the batch is sized for; None in offline mode."""
        return None if self.mode == "offline" else self.tokens_per_s_per_user


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


class RLSpec(Strict):
    """An RL post-training run: generate, score, filter, train, by a deadline."""

    kind: Literal["rl"]
    policy: Name
    precision: Precision = "bf16"
    problems: PositiveCount
    samples_per_problem: PositiveInt
    prompt_tokens: PositiveInt
    completion_tokens: PositiveInt
    kept_fraction: Fraction  # share of samples that survive rejection sampling and are trained on
    epochs: PositiveInt = 1
    # Generated samples per policy update (updates = samples / samples_per_update).
    samples_per_update: PositiveCount
    deadline_s: PositiveDuration = Field(alias="deadline")
    # Days from the start of the horizon before the work may begin (e.g. RL after pretraining);
    # the deadline is counted from the start of the horizon too.
    start_s: NonNegDuration = Field(0.0, alias="start")
    goodput: Fraction | None = None  # of the trainer; None = derived from failure physics
    bytes_per_param: PositiveFloat = MIXED_PRECISION_ADAM_BYTES_PER_PARAM
    # None = throughput mode: the generation batch is limited by HBM only.
    generation_tokens_per_s_per_sequence: PositiveFloat | None = None
    reward_models: list[RewardModelSpec] = Field(default_factory=list)
    reference: ModelRef | None = None
    critic: ModelRef | None = None
    verifiers: list[VerifierSpec] = Field(default_factory=list)
    trajectory_bytes_per_token: PositiveFloat = TRAJECTORY_BYTES_PER_TOKEN

    @model_validator(mode="after")
    def _unique_names(self) -> RLSpec:
        _start_before_deadline(self.start_s, self.deadline_s)
        for what, items in (("reward model", self.reward_models), ("verifier", self.verifiers)):
            names = [item.name for item in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")
        return self


Workload = Annotated[PretrainSpec | InferenceSpec | RLSpec, Field(discriminator="kind")]

Loc = tuple[str | int, ...]


def model_refs(spec: PretrainSpec | InferenceSpec | RLSpec) -> list[tuple[Loc, str]]:
    """Every (location in the workload, model name) the spec refers to."""
    if isinstance(spec, (PretrainSpec, InferenceSpec)):
        return [(("model",), spec.model)]
    refs: list[tuple[Loc, str]] = [(("policy",), spec.policy)]
    refs += [(("reward_models", i, "model"), rm.model) for i, rm in enumerate(spec.reward_models)]
    if spec.reference is not None:
        refs.append((("reference", "model"), spec.reference.model))
    if spec.critic is not None:
        refs.append((("critic", "model"), spec.critic.model))
    return refs


def check_workload_refs(
    name: str, spec: PretrainSpec | InferenceSpec | RLSpec, catalog: Catalog
) -> list[tuple[Loc, str]]:
    """Problems with catalog references, as (loc relative to the workload, message).

    `name` is the workload's name, used only in messages.
    """
    known = ", ".join(sorted(catalog.models))
    return [
        (loc, f"workload {name!r}: unknown model {model!r}; known: {known}")
        for loc, model in model_refs(spec)
        if model not in catalog.models
    ]
