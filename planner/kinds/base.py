"""What every workload kind's spec shares: field types with units, the training-state and
trajectory constants, the start/deadline rule.

YAML keys are unit-free where a unit is written in the value (`deadline: 90 days`); attributes
carry SI units (`deadline_s`). Counts accept SI suffixes ('15T' tokens, '10M' problems).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from fleetcore.schema import PositiveInt, Strict
from fleetcore.units import Bytes, Count, Duration
from planner.demand.moe_kernels import RELEASE_PATTERN

if TYPE_CHECKING:
    from hardware.catalog import Catalog

Loc = tuple[str | int, ...]

# A count past 1e18 (tokens, requests a day, problems) is no workload: at 1e300 tokens the
# FLOPs overflow to inf and the job search met NaN; `planner estimate` takes the same bound.
MAX_COUNT = 1e18

# How far the rate at the job a plan runs a training run on (pretraining, the RL trainer) may
# lie below the rate the plan used before the plan is re-solved at it (and how far above before
# the plan is called conservative).
# The layout search's rate per unit moves in steps with the job's size: one unit more that the
# layout cannot use idles it, -1/(N+1) of the rate of an N-unit job; measured on the shipped
# runs (frontier-3y, frontier-lab, every system), one unit more costs 0.00-1.03% and one unit
# less up to 3.2% (GB200 NVL72: 128 racks rate 7.652e16 FLOP/s per unit, 129 0.78% less, 131
# 2.3% less, 127 3.2% less). At 0.5% a squeeze by one idle unit is re-solved on a job of up to
# ~200 units and left (its work short by under 0.5%) on larger ones, whose one-unit steps are
# 0.0-0.5% (H100, B200, Trainium jobs of 600-12,000 units); it is a sixth of the step model's
# tightest calibration band (tolerance_rel 0.03, planner/calibration/training.yaml), which a
# finer tolerance would only chase with re-solves.
RERATE_TOL = 0.005
# At most this many solves of one plan (the first, then re-solves at each placed job's rate):
# a run whose placed job's rate keeps falling (each re-rating places it on more units whose
# layout idles more) is stated as not converged, with both rates, instead of looped on.
RERATE_SOLVES = 4

# Relative slack below which a role's work over its window, in units, is taken as whole: a
# need of 3 x (1 + 1e-12) from rounding is 3 units, not 4.
WHOLE_SLACK = 1e-9

# Times an RL run's job is grown to the units its train work needs in its window at the job's
# own rate (planner/kinds/rl.py rated_on): each round rates a larger job, whose rate per unit
# may be lower (fewer micro-batches a rank, a longer idle share) or higher (a layout that idles
# less: the 8B of tests/test_held.py rates 3.0% higher on 32 H100s than on 24).
SIZING_ROUNDS = 8


def window_units(unit_s: float, window_s: float) -> int:
    """The fewest whole units that do `unit_s` unit-seconds of work in `window_s` seconds,
    ceil(unit_s / window_s x (1 - WHOLE_SLACK)) (unit_s: amount / rate per unit): the size of a
    training run's rated job (planner/kinds/rl.py rated_on), the hold of a run held where its
    rated job cannot do its work (planner/kinds/pretrain.py held_to_rated, within_window) and
    the verifier's recomputation of that hold (planner/verify.py placed_rate)."""
    return math.ceil(unit_s / window_s * (1 - WHOLE_SLACK))


def _count_at_most(value: float) -> float:
    if value > MAX_COUNT:
        raise ValueError(
            f"{value:g} is more than any workload counts (at most {MAX_COUNT:g}); check the "
            "figure's unit"
        )
    return value


PositiveCount = Annotated[Count, Field(gt=0), AfterValidator(_count_at_most)]
PositiveDuration = Annotated[Duration, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveBytes = Annotated[Bytes, Field(gt=0)]
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


class EngineLayoutSpec(Strict):
    """One inference-engine instance as vLLM lays it out: tensor_parallel_size `tp`,
    pipeline_parallel_size `pp`, expert_parallel_size `ep` (vLLM's EP = DP x TP: `ep` > 1 spreads
    an MoE model's experts over `ep` chips a stage with ep / tp data-parallel attention groups;
    `ep` 1 shards every expert over the TP group). An instance holds pp x max(tp, ep) chips.
    TensorRT-LLM's "TP8 with attention DP, EP8" is tp 1, ep 8 here (eight attention replicas of
    one GPU each, the experts over all eight)."""

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    ep: PositiveInt = 1

    @model_validator(mode="after")
    def _ep_multiple_of_tp(self) -> EngineLayoutSpec:
        if self.ep > 1 and self.ep % self.tp:
            raise ValueError(
                f"ep ({self.ep}) must be a multiple of tp ({self.tp}): vLLM's expert parallel "
                "size is data-parallel attention groups x tp"
            )
        return self

    @property
    def stage_accelerators(self) -> int:
        return max(self.tp, self.ep)

    @property
    def accelerators(self) -> int:
        return self.pp * self.stage_accelerators

    @property
    def pinned(self) -> tuple[int, int, int]:
        """(tp, pp, ep): the arguments of planner/demand/inference.py pinned_layout."""
        return self.tp, self.pp, self.ep


class EngineSpec(Strict):
    """The serving engine as its configuration states it (all optional): inference workloads'
    `engine:` and the RL run's `generator:` read the same fields.

    layout: the engine's instance layout, the only one rated (None: the planner's fastest).
    memory_utilization: share of each accelerator's HBM the engine may fill with weights,
    activations and KV (vLLM gpu_memory_utilization; None: the HBM less the catalog's runtime
    reserve). max_sequences, max_sequences_per_accelerator: the batch cap; the decode batch of an
    instance of `a` accelerators is at most min(max_sequences, max_sequences_per_accelerator · a)
    (sequence_cap), and everything that follows from the batch follows the capped one: the KV
    held, the step time, the M/D/c decode slots. cuda_graph_batch_sizes: the decode batch sizes
    the engine captures as CUDA graphs and pads a step up to (TensorRT-LLM cuda_graph_config
    batch_sizes with enable_padding: true; MLPerf configs' cuda_graph_batch_sizes with
    cuda_graph_padding_enabled), per attention-DP rank (per instance without attention DP, per
    pipeline micro-batch): a step whose busiest rank holds b sequences computes its GEMMs,
    all-to-all and routed tokens for the smallest size >= b on every rank (the KV read and
    attention for its own sequences); above the largest size it runs at b. None (the default):
    no padding, TensorRT-LLM's default (DecodeCudaGraphConfig.enable_padding false). Inference
    workloads only (the RL generator rejects it). max_num_tokens: the tokens one step computes at
    most (TensorRT-LLM max_num_tokens; vLLM max_num_batched_tokens), per attention-DP rank (per
    instance without attention DP, per pipeline micro-batch): a step's decode tokens D plus the
    prompt chunk it prefills. It caps the batch so that B · (1 + draft tokens + the prompt tokens
    a step prefills per sequence) fits (aggregated serving; decode tokens alone without it). With
    chunked context a prompt is prefilled as ceil(P / (M − D)) chunks over consecutive steps: the
    mean step carries the same prefill work and a request waits for the same prefill, so the TPOT
    and its quantile do not change (docs/models.md, Token budget: an engine simulation). None
    (the default): no budget. Inference workloads only (the RL generator rejects it).
    tensorrt_llm_version: the TensorRT-LLM release the engine runs (major.minor[.patch][rcN]:
    "1.2", "1.3.0rc10"; a branch such as feat/1.2-mlpinf is its release, 1.2). Where
    planner/data/moe_kernels.csv has a measured MoE module table for that release (the same
    major.minor, else the next minor's earliest), the accelerator, the checkpoint's precision,
    the model's MoE shape and the layout's EP size, the decode step's MoE module time is that
    table's, interpolated over the tokens routed a step (planner/demand/moe_kernels.py), in
    place of the expert GEMMs' roofline, moe_layer_latency and moe_token_bandwidth; elsewhere,
    or None (the default), the parametric terms, bit for bit (a plan naming a release states,
    system by system, whether a table prices its MoE module). Inference workloads only (the RL
    generator rejects it)."""

    # The engine's instance layout; None = the planner's fastest decode layout.
    layout: EngineLayoutSpec | None = None
    # Share of each accelerator's HBM the engine may fill with weights, activations and KV
    # cache (vLLM gpu_memory_utilization); None = the HBM less the catalog's runtime reserve.
    memory_utilization: Annotated[float, Field(gt=0, le=1)] | None = None
    # Sequences one instance decodes at once at most: vLLM max_num_seqs, SGLang
    # max_running_requests, TensorRT-LLM max_batch_size without attention DP. Applied to the
    # instance the planner chooses unless `layout` pins it.
    max_sequences: PositiveInt | None = None
    # Sequences each accelerator of an instance holds at most: MLPerf gpu_batch_size,
    # TensorRT-LLM max_batch_size with attention DP over TP1 attention ranks (per rank = per
    # GPU). The cap scales with the instance.
    max_sequences_per_accelerator: PositiveInt | None = None
    # Decode batch sizes the engine captures as CUDA graphs and pads a step's batch up to
    # (TensorRT-LLM cuda_graph_config batch_sizes with enable_padding, MLPerf's
    # cuda_graph_batch_sizes with cuda_graph_padding_enabled), per attention-DP rank (per
    # instance without attention DP): a step of b sequences a rank computes the smallest size
    # >= b; above the largest size it runs at b. None: no padding.
    cuda_graph_batch_sizes: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    # Tokens one step computes at most (TensorRT-LLM max_num_tokens, vLLM
    # max_num_batched_tokens), per attention-DP rank (per instance without attention DP, per
    # pipeline micro-batch): decode tokens + the prompt chunk. None: no budget.
    max_num_tokens: PositiveInt | None = None
    # The TensorRT-LLM release the engine runs ("1.2", "1.3.0rc10"): the decode step's MoE module
    # comes from a measured table where one covers it (planner/demand/moe_kernels.py). None: the
    # parametric MoE terms.
    tensorrt_llm_version: Annotated[str, Field(pattern=RELEASE_PATTERN)] | None = None

    @field_validator("tensorrt_llm_version", mode="before")
    @classmethod
    def _release_text(cls, value: object) -> object:
        """A release is text: an unquoted YAML 1.2 is a number (and 1.10 would read as 1.1)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(
                f"write the release quoted ('{value}', '1.3.0rc10'): YAML reads an unquoted "
                "release as a number (1.10 as 1.1)"
            )
        if isinstance(value, str) and re.match(RELEASE_PATTERN, value) is None:
            raise ValueError(
                f"{value!r} is not a TensorRT-LLM release: major.minor[.patch][rcN] such as "
                "'1.2' or '1.3.0rc10' (a branch such as feat/1.2-mlpinf is its release, '1.2')"
            )
        return value

    def sequence_cap(self, accelerators: int) -> float:
        """The largest decode batch an instance of `accelerators` chips may run:
        min(max_sequences, max_sequences_per_accelerator · accelerators); inf without a cap."""
        return engine_sequence_cap(
            self.max_sequences, self.max_sequences_per_accelerator, accelerators
        )


def engine_sequence_cap(
    max_sequences: int | None, max_sequences_per_accelerator: int | None, accelerators: int
) -> float:
    """min(max_sequences, max_sequences_per_accelerator · accelerators), inf where None: the
    engine's cap on an instance's decode batch (EngineSpec)."""
    cap = math.inf
    if max_sequences is not None:
        cap = float(max_sequences)
    if max_sequences_per_accelerator is not None:
        cap = min(cap, float(max_sequences_per_accelerator * accelerators))
    return cap


def engine_layout_problems(
    loc: Loc,
    label: str,
    engine: EngineSpec,
    model: str,
    precision: str,
    kv_precision: str,
    prompt_tokens: float,
    output_tokens: float,
    share: int,
    catalog: Catalog,
    systems: list[str],
) -> list[tuple[Loc, str]]:
    """An engine's pinned layout (`engine.layout`, tp 1 when only memory_utilization is given)
    that holds `model`'s weights and one sequence a stage on none of the scenario's accelerator
    systems, as [(loc of the field + layout or memory_utilization, message naming each system's
    reason)]; [] when it fits one of them (the others then serve nothing of it: rate 0 there,
    with the reason) or the model is not in the catalog (reported as an unknown model)."""
    from planner.demand.common import hardware
    from planner.demand.inference import fits_one_sequence, pinned_layout
    from planner.demand.serving_physics import model_load

    if model not in catalog.models:
        return []
    arch = catalog.models[model]
    load = model_load(arch, precision, kv_precision, prompt_tokens, output_tokens, share)
    lay_spec = engine.layout or EngineLayoutSpec()
    why: list[str] = []
    for system in systems:
        hw = hardware(catalog, system)
        if hw is None:
            continue
        lay = pinned_layout(arch, hw, load, *lay_spec.pinned, engine.memory_utilization)
        if isinstance(lay, str):
            why.append(f"{system}: {lay}")
        elif not fits_one_sequence(load, lay):
            why.append(
                f"{system}: its {lay.accelerators} accelerators have "
                f"{lay.usable_bytes / 1e9:,.0f} GB usable for {precision} weights of "
                f"{lay.weights_bytes / 1e9:,.0f} GB and one sequence a stage"
            )
        else:
            return []
    if not why:
        return []
    where = "layout" if engine.layout is not None else "memory_utilization"
    shape = f"tp {lay_spec.tp} x pp {lay_spec.pp} x ep {lay_spec.ep}"
    message = (
        f"{label} {shape} ({lay_spec.accelerators} accelerators an instance) cannot hold "
        f"{model} on any system of the scenario: " + "; ".join(why)
    )
    return [((*loc, where), message)]


def start_before_deadline(start_s: float, deadline_s: float) -> None:
    if start_s >= deadline_s:
        raise ValueError(
            f"start ({start_s / 86400:g} days) must come before the deadline "
            f"({deadline_s / 86400:g} days); both count from the start of the horizon"
        )
