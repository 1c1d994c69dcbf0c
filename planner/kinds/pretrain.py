"""The pretraining kind: its spec, its demand (planner/demand/pretrain.py, training.py,
goodput.py hold the physics), its own LP variables and constraint families, in one place."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from fleetcore.schema import (
    BYTES_PER_VALUE,
    Fraction,
    Name,
    NonNegInt,
    PositiveInt,
    Precision,
    Strict,
)
from planner.demand.scaling import (
    Candidate,
    candidates,
    loss,
    scaling_law,
    with_models,
)
from planner.demand.types import (
    Caveat,
    Placement,
    PretrainCoupling,
    Rate,
    Role,
    WorkloadDemand,
    candidate_role,
)
from planner.kinds.base import (
    MIXED_PRECISION_ADAM_BYTES_PER_PARAM,
    RERATE_TOL,
    Loc,
    NonNegDuration,
    PositiveCount,
    PositiveDuration,
    PositiveFloat,
    start_before_deadline,
    window_units,
)
from planner.lp.constraints import tie, work_pairs
from planner.lp.linear import BINARY, Col
from planner.lp.model import GB, UNSERVED_WEIGHT, Flow, Model, active, family
from planner.lp.variables import declare_running, declare_system_choice
from planner.rows import JobRow, PretrainJobRow, SizingRow

# The kind's JobRow subclass job_row fills (PretrainJobRow, RLJobRow).
J = TypeVar("J", bound=JobRow)

if TYPE_CHECKING:
    from hardware.catalog import Catalog
    from hardware.schema import ModelArch, ScalingLaw
    from planner.plan import Plan
    from planner.scenario import Scenario

NAME = "pretrain"


class LayoutSpec(Strict):
    """A pinned parallel layout: TP x PP x DP x CP (x EP for MoE experts), `vp` virtual pipeline
    stages (interleaving), `micro_batch` sequences per micro-batch. `dp` None = as many data-
    parallel ranks as the job's accelerators allow. `ep` must divide tp x dp x cp (Megatron-LM
    puts each expert-parallel group within one pipeline stage's ranks) and the model's routed
    experts: checked here when dp is given, else on the job's size (the layout is infeasible
    there, with the reason). `tp_comm_overlap`: the recipe overlaps the
    tensor-parallel collectives with the GEMMs (Megatron-LM / Transformer Engine
    `tp_comm_overlap: true`, userbuffers), so the step exposes only the TP time the GEMMs cannot
    hide, max(0, TP - GEMM) per micro-batch; false (default) = the system's `comm_overlap`
    share hidden, as for the other collectives. `ep_comm_overlap`: the recipe overlaps the
    expert-parallel all-to-all of one micro-batch with another's computation (Megatron-LM
    `--overlap-moe-expert-parallel-comm`, Megatron-Bridge `moe_a2a_overlap`, DeepSeek-V3
    DualPipe), so the step exposes max(0, EP - compute) per micro-batch; false (default) = the
    all-to-all fully exposed (the expert GEMMs wait for the dispatch). `embedding_loss_in_pp_split`:
    the recipe counts the input embedding and the loss as one layer each when it splits the
    layers over the pipeline stages (Megatron-LM `account_for_embedding_in_pipeline_split` and
    `account_for_loss_in_pipeline_split`; the MLPerf NeMo configs' `ASYM_PP_EMBED` and
    `ASYM_PP_LOSS`), so the first stage holds one decoder layer fewer beside the embedding (and
    fewer activations in flight) and the last one fewer beside the loss and output head; needs
    pp > 1; false (default) = the layers split evenly, the remainder on the last stage.
    `expert_capacity_factor`: the recipe gives HybridEP a static receive buffer of this many
    times the mean routed tokens a rank receives (Megatron-LM `moe_expert_rank_capacity_factor`,
    set for full-iteration CUDA graphs; the MLPerf v6.0 gpt_oss_20b configs'
    `MOE_EXPERT_RANK_CAPACITY_FACTOR`) without paged stashing, and the expert GEMMs run over the
    whole buffer, padding included (docs/models.md, padded expert buffer); 0 (default) = over
    the routed tokens; at least 1 when set (a smaller buffer drops routed tokens); MoE models
    only (no effect on a dense model). `expert_tp`: the routed experts' tensor-parallel size
    (Megatron-Core `expert_tensor_parallel_size`; NeMo-RL `megatron_cfg.expert_tensor_parallel_size`,
    the MLPerf NeMo configs' `EXPERT_TENSOR_PARALLEL`): each expert's weights split over
    expert_tp ranks and the experts over ep groups of them, so a rank holds
    N_experts/(expert_tp x pp x ep) expert parameters, runs the expert GEMMs at FFN width
    expert_ffn/expert_tp, and the expert-parallel group spans expert_tp x ep ranks (docs/models.md,
    expert tensor parallelism); 0 (default) = tp (Megatron-Core's default when unset); must
    divide tp, and expert_tp x ep must divide tp x dp x cp; MoE models only (no effect on a dense
    model). `fused_grouped_gemm`: the expert GEMMs run one fused grouped-GEMM kernel at the dense
    GEMM rate of their shape (DeepSeek's DeepGEMM, as in the DeepSeek-V3 report's runs); false
    (default) = at the accelerator's catalog `expert_gemm_fraction` of it (fitted to
    Megatron-Core / Transformer Engine grouped GEMMs; docs/models.md, grouped expert GEMMs);
    MoE models only (refused on a dense model, which has no expert GEMMs).
    `recompute_modules`: selective recomputation (Megatron-Core
    `recompute_granularity: selective` with `recompute_modules`; the MLPerf NeMo configs'
    `RECOMPUTE_MODULES`): each named module's forward runs again in the backward and its saved
    activations are dropped for its input (docs/models.md, selective recomputation): core_attn
    (the core attention), mlp (the dense MLP: dense-FFN layers only, as Megatron-Core skips MoE
    layers), moe (the whole MoE layer, all-to-all included), moe_act (the routed experts'
    activation function), shared_experts, mla_up_proj (the MLA up-projections and RoPE; MLA
    models only), layernorm (the two norms); [] (default) = none; layers the memory check
    recomputes fully do not also recompute modules; moe not with ep_comm_overlap (Megatron-Bridge
    refuses it); not with fsdp at vp > 1 (Megatron-Core's combined 1F1B refuses an
    interleaved EP overlap under Megatron-FSDP). `fsdp`: the recipe shards the weights, gradients and optimizer state over the
    data-parallel group (ZeRO-3 / FSDP: PyTorch FSDP2 `fully_shard` as in torchtitan, Megatron-FSDP
    `use_megatron_fsdp` with `optim_grads_params`, AXLearn's fsdp mesh axis): each layer's weights
    are all-gathered before its forward and again before its backward and its gradients
    reduce-scattered, every micro-batch, prefetched one layer ahead, so the step exposes what a
    layer's compute cannot hide, and each accelerator holds 1/fsdp of the weights, gradients and
    optimizer state plus two gathered layers (docs/models.md, FSDP; on a MoE model the routed
    experts' share over their own data-parallel group, the tp x dp x cp/(expert_tp x ep) ranks
    holding the same expert shard). The value is the sharding group's size (Megatron-Bridge's FSDP
    column, AXLearn's fsdp mesh axis): dp x cp = fully sharded; a divisor of dp x cp below it =
    hybrid sharding (HSDP: the groups' replicas all-reduce their gradient shards once a step; dense
    models only); at least 2, dividing dp x cp; 0 (default) = the distributed optimizer (ZeRO-1)."""

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt | None = None
    cp: PositiveInt = 1
    ep: PositiveInt = 1
    vp: PositiveInt = 1
    micro_batch: PositiveInt = 1
    tp_comm_overlap: bool = False
    ep_comm_overlap: bool = False
    embedding_loss_in_pp_split: bool = False
    expert_capacity_factor: Annotated[float, Field(ge=0.0)] = 0.0
    expert_tp: NonNegInt = 0
    fused_grouped_gemm: bool = False
    recompute_modules: list[
        Literal["core_attn", "mlp", "moe", "moe_act", "shared_experts", "mla_up_proj", "layernorm"]
    ] = Field(default_factory=list)
    fsdp: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _overlap_needs_tp(self) -> LayoutSpec:
        if len(set(self.recompute_modules)) != len(self.recompute_modules):
            raise ValueError(
                f"recompute_modules {self.recompute_modules} names a module twice (each "
                "module's forward is recomputed once)"
            )
        if "moe" in self.recompute_modules and self.ep_comm_overlap:
            raise ValueError(
                "recompute_modules moe cannot run with ep_comm_overlap: Megatron-Bridge refuses "
                "it (disable moe in recompute_modules when enabling "
                "overlap_moe_expert_parallel_comm)"
            )
        if 0.0 < self.expert_capacity_factor < 1.0:
            raise ValueError(
                "expert_capacity_factor must be 0 (off) or at least 1: the buffer holds that "
                "many times the mean routed tokens a rank receives, and below 1 it would drop "
                "routed tokens"
            )
        if self.expert_tp and self.tp % self.expert_tp:
            raise ValueError(
                f"expert_tp {self.expert_tp} must divide tp {self.tp}: each expert "
                "tensor-parallel group lies inside one tensor-parallel group (0 = tp)"
            )
        if (
            self.expert_tp
            and self.dp is not None
            and (self.tp * self.dp * self.cp) % (self.expert_tp * self.ep)
        ):
            raise ValueError(
                f"expert_tp x ep = {self.expert_tp * self.ep} must divide tp x dp x cp = "
                f"{self.tp * self.dp * self.cp} (Megatron-Core: the world divisible by expert "
                "tp x ep x pp)"
            )
        if self.tp_comm_overlap and self.tp == 1:
            raise ValueError(
                "tp_comm_overlap needs tp > 1: it overlaps the tensor-parallel collectives, "
                "and tp 1 has none"
            )
        if self.dp is not None and (self.tp * self.dp * self.cp) % self.ep:
            raise ValueError(
                f"ep {self.ep} must divide tp x dp x cp = {self.tp * self.dp * self.cp}: each "
                "expert-parallel group lies within one pipeline stage's ranks (Megatron-LM: "
                "tp x dp x cp divisible by expert tp x ep)"
            )
        if self.ep_comm_overlap and self.ep == 1:
            raise ValueError(
                "ep_comm_overlap needs ep > 1: it overlaps the expert-parallel all-to-all, "
                "and ep 1 has none"
            )
        if self.fsdp and self.ep_comm_overlap and self.vp > 1:
            raise ValueError(
                "ep_comm_overlap with fsdp cannot run interleaved (vp > 1): Megatron-Core "
                "asserts that EP overlap 1F1B with FSDP is not supported for interleaved "
                "pipeline parallelism (combined_1f1b.py); use vp 1 or leave one of them off"
            )
        if self.fsdp == 1:
            raise ValueError(
                "fsdp must be 0 (off) or the sharding group's size, at least 2: a group of one "
                "rank shards nothing"
            )
        if self.fsdp and self.dp is not None and (self.dp * self.cp) % self.fsdp:
            raise ValueError(
                f"fsdp {self.fsdp} must divide dp x cp = {self.dp * self.cp}: the weights are "
                "sharded over that many of the data-parallel ranks"
            )
        if self.embedding_loss_in_pp_split and self.pp == 1:
            raise ValueError(
                "embedding_loss_in_pp_split needs pp > 1: it places the embedding and the loss "
                "in the pipeline split, and pp 1 has one stage"
            )
        return self


class VotesEntry(Strict):
    """Test-time compute as a substitute (a user input, not a fit): a model whose loss is
    `loss_above` nats/token above the target reaches the target's quality when each request is
    answered with `votes` self-consistency votes (decode x votes, the prompt prefilled once)."""

    loss_above: PositiveFloat
    votes: Annotated[int, Field(ge=2)]


class SizingTarget(Strict):
    """The quality a sized model must reach: a loss (nats/token under the scaling law), or the
    loss of catalog model `like` trained on `tokens` tokens."""

    loss: PositiveFloat | None = None
    like: Name | None = None
    tokens: PositiveCount | None = None
    # Test-time compute substitutes (user input from your own evaluations, not a fit): each entry
    # adds every candidate again at loss target + loss_above, served with `votes` votes per
    # request by the inference workloads with model_from (docs/models.md).
    votes: list[VotesEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _loss_xor_like(self) -> SizingTarget:
        if (self.loss is None) == (self.like is None):
            raise ValueError("give loss, or like (a catalog model) with tokens")
        if (self.like is None) != (self.tokens is None):
            raise ValueError(
                "like and tokens go together: the quality of <like> trained on <tokens>"
            )
        if len({v.votes for v in self.votes}) != len(self.votes):
            raise ValueError("votes: each number of votes once")
        return self


class PretrainSpec(Strict):
    """One pretraining run: 6·N_active·D FLOPs by a deadline. Model sizing: instead of `model`
    and `tokens`, a `target` quality and `candidates` on its iso-loss curve; the plan chooses
    one (planner/demand/scaling.py, docs/models.md)."""

    kind: Literal["pretrain"] = "pretrain"
    model: Name | None = None
    # Model sizing: the quality to reach, the candidates (tokens per parameter, or catalog model
    # names), the model whose shape generated candidates copy (default: target.like), the law.
    target: SizingTarget | None = None
    candidates: list[PositiveFloat | Name] | None = Field(None, min_length=1)
    shape_from: Name | None = None
    scaling_law: Name | None = None
    tokens: PositiveCount | None = None
    # Alternative to `tokens`: D = tokens_per_param x total params (Chinchilla optimum ~20).
    tokens_per_param: PositiveFloat | None = None
    precision: Precision = "bf16"
    deadline_s: PositiveDuration = Field(alias="deadline")
    # Days from the start of the horizon before the work may begin (e.g. RL after pretraining);
    # the deadline is counted from the start of the horizon too.
    start_s: NonNegDuration = Field(0.0, alias="start")
    # Begin only once this workload (a pretraining or RL run) has done all its work: the plan
    # chooses when, at a period boundary (economics.period sets how fine), not a fixed date.
    after: Name | None = None
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

    @field_validator("global_batch_tokens")
    @classmethod
    def _one_sequence_at_least(cls, value: float, info: ValidationInfo) -> float:
        sequence = info.data.get("sequence_length")
        if sequence is not None and value < sequence:
            raise ValueError(
                f"{value:g} tokens is less than one sequence (sequence_length {sequence}): "
                "an optimizer step trains at least one whole sequence"
            )
        return value

    @model_validator(mode="after")
    def _tokens_xor_ratio(self) -> PretrainSpec:
        start_before_deadline(self.start_s, self.deadline_s)
        # a fully sharded layout with allow_multi_site: multi_site_layout_problems (on the
        # layout.fsdp line, which a model validator cannot point at)
        if self.target is not None:
            _check_sizing(self)
            return self
        if self.model is None:
            raise ValueError(
                "give model (with tokens or tokens_per_param), or target and candidates"
            )
        if self.candidates is not None or self.shape_from is not None:
            raise ValueError("candidates and shape_from size a model: they need target")
        if (self.tokens is None) == (self.tokens_per_param is None):
            raise ValueError("give exactly one of tokens and tokens_per_param")
        return self

    @property
    def model_name(self) -> str:
        """The catalog model trained (a sizing spec has none until a candidate is chosen)."""
        if self.model is None:
            raise ValueError("a sizing pretraining trains one model per candidate: no model")
        return self.model

    @property
    def sizing(self) -> bool:
        """Whether the plan chooses the model (target + candidates)."""
        return self.target is not None

    @property
    def shape_base(self) -> str | None:
        return self.shape_from or (self.target.like if self.target is not None else None)


def _check_sizing(spec: PretrainSpec) -> None:
    given = [k for k in ("model", "tokens", "tokens_per_param", "layout") if getattr(spec, k)]
    if given:
        raise ValueError(f"target sizes the model: leave out {', '.join(given)}")
    if spec.candidates is None:
        raise ValueError(
            "target needs candidates: tokens per parameter (e.g. [20, 100, 1000]) "
            "or catalog model names"
        )
    if spec.allow_multi_site:
        raise ValueError("model sizing keeps pretraining on one site: allow_multi_site: false")
    if any(not isinstance(c, str) for c in spec.candidates) and spec.shape_base is None:
        raise ValueError("tokens-per-parameter candidates need shape_from (or target.like)")


def model_refs(spec: PretrainSpec) -> list[tuple[Loc, str]]:
    """Where the spec names a catalog model."""
    if spec.target is None:
        assert spec.model is not None
        return [(("model",), spec.model)]
    refs: list[tuple[Loc, str]] = []
    if spec.target.like is not None:
        refs.append((("target", "like"), spec.target.like))
    if spec.shape_from is not None:
        refs.append((("shape_from",), spec.shape_from))
    for i, c in enumerate(spec.candidates or []):
        if isinstance(c, str):
            refs.append((("candidates", i), c))
    return refs


def demand(
    name: str,
    spec: PretrainSpec,
    catalog: Catalog,
    systems: list[str],
    horizon_s: float,
    rating_start_s: float | None = None,
) -> WorkloadDemand:
    """One FLOP role "pretrain", window [start, deadline], placement single_site (anywhere when
    allow_multi_site); min_units: the units that hold its training state on each system. Model
    sizing: one role "pretrain@<candidate>" per candidate, each done only if chosen.
    rating_start_s: with `after: v`, v's deadline (kinds.demands_for): the rate is that of the
    job the window from then to the deadline needs, when it lies after `start` and before the
    deadline (the LP runs the workload only once v is done; review21b: rated on the whole
    start-to-deadline window, a run after another was rated at a job a fraction of the one the
    plan gives it: on two 405B runs, the second after the first, 648 accelerators rated, 4,022
    planned). The LP's window is still [start, deadline]."""
    from planner.demand.pretrain import pretrain_tokens

    rated_from = None
    if rating_start_s is not None and spec.start_s < rating_start_s < spec.deadline_s:
        rated_from = rating_start_s
        spec_for_rate = spec.model_copy(update={"start_s": rating_start_s})
    else:
        spec_for_rate = spec
    if spec.sizing:
        cands, generated = sizing_candidates(name, spec, catalog)
        catalog = with_models(catalog, generated)
        specs = [candidate_spec(spec_for_rate, c) for c in cands]
        roles = [
            _role(
                candidate_role("pretrain", c.label),
                s,
                catalog,
                systems,
                (name, c.label),
                None if rated_from is None else candidate_spec(spec, c),
            )
            for c, s in zip(cands, specs, strict=True)
        ]
        notes = [
            f"candidate {c.label}: {c.params:.4g} params x {c.tokens:.4g} tokens "
            f"({c.tokens_per_param:.4g} tokens/param), loss {c.loss:.4f}"
            for c in cands
        ]
    else:
        specs = [spec_for_rate]
        roles = [
            _role(
                "pretrain",
                spec_for_rate,
                catalog,
                systems,
                None,
                None if rated_from is None else spec,
            )
        ]
        assert spec.model is not None
        arch = catalog.models[spec.model]
        notes = [f"6 x {arch.active:.4g} active params x {pretrain_tokens(spec, arch):.4g} tokens"]
    if rated_from is not None:
        notes.append(
            f"rated at the job its window from {spec.after}'s deadline (day "
            f"{rated_from / 86400:g}) to its own (day {spec.deadline_s / 86400:g}) needs: it runs "
            f"only once {spec.after} is done"
        )
    arch = catalog.models[specs[0].model or ""]
    return WorkloadDemand(
        name=name,
        kind=NAME,
        after=spec.after,
        start_s=spec.start_s,
        window_s=spec.deadline_s - spec.start_s,
        roles=roles,
        pretrain=PretrainCoupling(
            gradient_bytes_per_sync=arch.params * BYTES_PER_VALUE[spec.gradient_precision],
            # Steps of the asked batch: a layout that rounds the batch up to whole micro-batches
            # (planner/demand/training.py) makes up to a few % fewer, so the traffic is an upper
            # bound by that much (the layout is per system; this coupling is per workload).
            syncs=pretrain_tokens(specs[0], arch) / spec.global_batch_tokens,
            allow_multi_site=spec.allow_multi_site,
        ),
        notes=notes,
        caveats=_moe_training(name, specs, catalog, systems)
        + _estimated_training(name, spec.precision, catalog, systems)
        + _rate_caveats(name, roles),
    )


def _rate_caveats(name: str, roles: list[Role]) -> list[Caveat]:
    """Each role's rates' own caveats (Rate.caveat: e.g. an FSDP group wider than any
    calibrated one, training.fsdp_caveat), on the systems whose rate carries it."""
    out = []
    for role in roles:
        for sys_, rate in role.rates.items():
            if rate.caveat and rate.feasible:
                out.append(
                    Caveat(rate.caveat.removeprefix("caveat: ") + ": {}", name, (sys_,), role.name)
                )
    return out


def layout_model_problems(workloads: dict[str, object], catalog: Catalog) -> list[tuple[Loc, str]]:
    """Pinned training layouts (a pretraining's `layout`, an RL run's `trainer.layout`) that the
    workload's model cannot build, as (loc, message) on the layout's line: an EP not dividing
    the routed experts, a hybrid FSDP group on a MoE model (training.expert_parallel_problem,
    fsdp_problem; the others need dp, checked only when it is given); on its field's line, a
    dense model's fused_grouped_gemm (it has no expert GEMMs to fuse). Review21b: these were a
    plan's infeasibility diagnosis (exit 2, "can run on no system here"), not an input error
    on the line that causes them, while the model-free layout checks (fsdp dividing dp x cp)
    were."""
    from planner.demand.training import (
        Layout,
        dense_fused_problem,
        expert_parallel_problem,
        fsdp_problem,
    )
    from planner.kinds.rl import RLSpec

    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        lay: LayoutSpec | None = None
        model: str | None = None
        loc: Loc = ("workloads", name, "layout")
        if isinstance(spec, PretrainSpec) and not spec.sizing:
            lay, model = spec.layout, spec.model
        elif isinstance(spec, RLSpec) and spec.trainer is not None:
            lay, model = spec.trainer.layout, spec.policy
            loc = ("workloads", name, "trainer", "layout")
        if lay is None or model is None or model not in catalog.models:
            continue
        moe = catalog.models[model].moe
        experts = moe.experts if moe else 0
        if not experts:
            if lay.fused_grouped_gemm:
                # review s32: accepted and silently unused (a dense model has no expert GEMMs)
                out.append(((*loc, "fused_grouped_gemm"), dense_fused_problem(model)))
            continue
        layout = Layout(
            tp=lay.tp,
            pp=lay.pp,
            dp=lay.dp if lay.dp is not None else lay.ep,
            cp=lay.cp,
            ep=lay.ep,
            expert_tp=lay.expert_tp,
            fsdp=lay.fsdp if lay.dp is not None else 0,
        )
        why = ""
        if lay.ep > 1 and experts % lay.ep:
            why = f"EP {lay.ep} must divide the model's ({model}) {experts} routed experts"
        elif lay.dp is not None:
            why = expert_parallel_problem(layout, experts) or fsdp_problem(layout, experts)
        if why:
            out.append((loc, why))
    return out


def multi_site_layout_problems(
    workloads: dict[str, object], where: Callable[[Loc], str] | None = None
) -> list[tuple[Loc, str]]:
    """Pretraining runs that may span sites (allow_multi_site) with a pinned fully sharded
    layout (fsdp = dp x cp, dp given), as (loc, message) on the layout's `fsdp` field: the shard
    group would stretch over the sites, its per-layer gathers and reduce-scatters over the
    inter-site links (training.multi_site_fsdp_problem refuses the layout at any size; this
    names the field where dp is pinned, so the size is known before the run is rated).
    `where(loc)`: how the message names the allow_multi_site line (file:line)."""
    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        if not isinstance(spec, PretrainSpec) or not spec.allow_multi_site:
            continue
        lay = spec.layout
        if lay is None or not lay.fsdp or lay.dp is None or lay.fsdp != lay.dp * lay.cp:
            continue
        flag: Loc = ("workloads", name, "allow_multi_site")
        at = f" ({where(flag)})" if where is not None else ""
        out.append(
            (
                ("workloads", name, "layout", "fsdp"),
                f"layout fsdp {lay.fsdp} shards over every dp x cp rank, and allow_multi_site"
                f"{at} lets the job span sites: its per-layer gathers and reduce-scatters would "
                "cross the inter-site links (3 parameter volumes a micro-batch against data "
                "parallelism's 2 a step); pin a hybrid group, fsdp dividing dp x cp and below "
                "it (the shard group inside a site, its replicas across sites), or leave "
                "allow_multi_site off",
            )
        )
    return out


def _moe_training(
    name: str, specs: list[PretrainSpec], catalog: Catalog, systems: list[str]
) -> list[Caveat]:
    """The caveat of pretraining an MoE model (any sizing candidate's), whose measured steps at
    scale are longer than the step model's (MOE_TRAINING_CAVEAT), and on the systems whose
    accelerator has no fitted expert-GEMM fraction at the run's precision where a calibration
    row measures the miss (moe_unfitted_expert_gemms: BF16 on H100)."""
    from planner.demand.common import MOE_TRAINING_CAVEAT, moe_unfitted_expert_gemms

    moe = [s.model for s in specs if s.model and catalog.models[s.model].moe is not None]
    if not moe:
        return []
    label = f"{name} ({moe[0]})"
    unfitted = moe_unfitted_expert_gemms(catalog, systems, specs[0].precision)
    return [Caveat(MOE_TRAINING_CAVEAT, label)] + [
        Caveat(text, label, named) for text, named in unfitted
    ]


def _estimated_training(
    name: str, precision: str, catalog: Catalog, systems: list[str]
) -> list[Caveat]:
    """The caveats of training on systems whose training efficiency is an estimate, or whose
    accelerator's training figures state a calibration_limit (Caveat)."""
    from planner.demand.common import (
        ESTIMATED_TRAINING_CAVEAT,
        calibration_limits,
        estimated_systems,
    )

    estimated = estimated_systems(catalog, systems, "training", "gemm_efficiency", precision)
    out = [Caveat(ESTIMATED_TRAINING_CAVEAT, name, estimated)] if estimated else []
    limits = calibration_limits(catalog, systems, "training")
    return out + [Caveat(text, name, named) for text, named in limits]


def _role(
    role: str,
    spec: PretrainSpec,
    catalog: Catalog,
    systems: list[str],
    choice: tuple[str, str] | None,
    whole: PretrainSpec | None = None,
) -> Role:
    """The FLOP role of one model (the spec's, or a sizing candidate's). `whole`: the same run
    on its whole start-to-deadline window, its rate taken on a system where no job meets the
    narrower window `spec` has (`after:`; the LP may end the predecessor early)."""
    from planner.demand.common import hardware
    from planner.demand.pretrain import min_units_for_state, pretrain_flops

    assert spec.model is not None
    arch = catalog.models[spec.model]
    dense, attention = pretrain_flops(spec, arch)
    placement: Placement = "anywhere" if spec.allow_multi_site else "single_site"
    state_bytes = spec.bytes_per_param * arch.params
    min_units = {}
    for s in systems:
        hw = hardware(catalog, s)
        if hw is not None:
            min_units[s] = min_units_for_state(state_bytes, hw)
    return Role(
        name=role,
        work_unit="FLOP",
        amount=dense + attention,
        rates={s: _rate(spec, whole, catalog, s) for s in systems},
        placement=placement,
        min_units=min_units,
        choice=choice,
    )


def _rate(spec: PretrainSpec, whole: PretrainSpec | None, catalog: Catalog, system: str) -> Rate:
    """pretrain_rate on `spec`'s window; where no job meets it, on `whole`'s (if given)."""
    from planner.demand.pretrain import pretrain_rate

    rate = pretrain_rate(spec, catalog, system)
    if rate.feasible or whole is None:
        return rate
    wide = pretrain_rate(whole, catalog, system)
    if not wide.feasible:
        return rate
    days = (spec.deadline_s - spec.start_s) / 86400
    return Rate(
        wide.per_unit_s,
        f"{wide.reason}; rated on its whole window: no job finishes in the {days:g}-day window after "
        f"{spec.after}'s deadline",
        wide.caveat,
        wide.job_accelerators,
    )


# -- re-rating at the job the plan places the run on ----------------------------------------
# (RERATE_TOL, RERATE_SOLVES: planner/kinds/base.py, shared with the RL trainer's re-rating)


def role_spec(
    workload: str, role: Role, workloads: Mapping[str, object], catalog: Catalog
) -> tuple[PretrainSpec, Catalog]:
    """The plain pretraining run one role trains (the spec's, or its sizing candidate's, with
    the catalog holding the candidate's generated model)."""
    spec = workloads[workload]
    assert isinstance(spec, PretrainSpec)
    if role.choice is None:
        return spec, catalog
    cands, generated = sizing_candidates(workload, spec, catalog)
    cand = next(c for c in cands if c.label == role.choice[1])
    return candidate_spec(spec, cand), with_models(catalog, generated)


# Units above a whole number by less than this are the solver's noise, not another unit (the
# verifier's whole-unit tolerance, planner/verify.py WHOLE_TOL).
PLACED_WHOLE_TOL = 1e-5


def period_jobs(
    units: dict[int, float], in_service: dict[int, float], rate_job_units: int
) -> dict[int, int]:
    """The whole units of the job that runs a pretraining in each LP period it has units: an
    allocation is the period's average units, which a job of n whole units delivers run for that
    share of the period; so the job the rate was derived for (rate_job_units) where the pool
    holds that many units in service (run part of the period; role_units), else the most whole
    units in service, at least ceil(u_p), the fewest that deliver the average."""
    out = {}
    for p, u in sorted(units.items()):
        if u <= PLACED_WHOLE_TOL:
            continue
        need = math.ceil(u - PLACED_WHOLE_TOL)
        held = math.floor(in_service.get(p, 0.0) + PLACED_WHOLE_TOL)
        out[p] = max(need, min(rate_job_units, held))
    return out


def binding_job(rates: dict[int, float], jobs: dict[int, int]) -> int:
    """The LP period whose job rates lowest (ties: the larger job, then the earlier period): the
    job the plan's rate must hold for."""
    return min(jobs, key=lambda p: (rates[jobs[p]], -jobs[p], p))


def _rate_at(spec: PretrainSpec, catalog: Catalog, system: str, accelerators: int) -> float:
    """A pretraining's rate per unit of `system` at a job of `accelerators` (the layout search:
    planner/demand/pretrain.py pretrain_rate_at)."""
    from planner.demand.pretrain import pretrain_rate_at

    return pretrain_rate_at(spec, catalog, system, accelerators).per_unit_s


def job_row(
    row_type: type[J],
    demand: WorkloadDemand,
    role: Role,
    system: str,
    jobs: dict[int, int],
    before: Rate,
    rate_at: Callable[[int], float],
    solve: tuple[int, bool],
    per_unit: int,
) -> J:
    """The JobRow of a run placed on `jobs` (per LP period, whole units of `system`): each job's
    rate (the rate used where the job is the rate's own, else rate_at(accelerators)), the
    lowest-rated period's job (binding_job) and the status (job_status; held_status where
    Role.max_units holds it); `before` the pre-solve rating, `solve` (solves so far, last)."""
    used = role.rates[system]
    rates = {
        n: used.per_unit_s if n * per_unit == used.job_accelerators else rate_at(n * per_unit)
        for n in sorted(set(jobs.values()))
    }
    placed = jobs[binding_job(rates, jobs)]
    solves, last = solve
    status = job_status(
        placed * per_unit, used.job_accelerators, rates[placed], used.per_unit_s, last
    )
    return row_type(
        workload=demand.name,
        role=role.name,
        system=system,
        rated_accelerators=before.job_accelerators,
        rated_rate_per_unit_s=before.per_unit_s,
        rate_job_accelerators=used.job_accelerators,
        rate_per_unit_s=used.per_unit_s,
        placed_units=placed,
        placed_accelerators=placed * per_unit,
        placed_rate_per_unit_s=rates[placed],
        solves=solves,
        status=held_status(
            status,
            role.max_units.get(system),  # None: not held
            math.ceil(used.job_accelerators / per_unit),
        ),
    )


def job_status(placed: int, rate_job: int, placed_rate: float, used: float, last: bool) -> str:
    """`as rated`, `consistent`, `conservative`, `optimistic` (re-solve) or, on the last solve,
    `not converged`: PretrainJobRow.status from the binding period's job (placed, accelerators),
    the job the rate used was derived for, and the two rates."""
    if placed_rate > used * (1 + RERATE_TOL):
        return "conservative"
    if placed_rate >= used * (1 - RERATE_TOL):
        return "as rated" if placed == rate_job else "consistent"
    return "not converged" if last else "optimistic"


HELD = "held to its rated job"
# A run held at more units than its rated job's: the fewest whole units that do its work in its
# window at the rate held, where the rated job's cannot (held_to_rated's within_window).
HELD_WINDOW = "held to the units its window needs"


def held_status(status: str, cap: int | None, job_units: int) -> str:
    """The status of a run whose placed job's rate holds (`as rated`, `consistent`,
    `conservative`) where it is held (Role.max_units on its system, `cap`; None: not held):
    `held to its rated job` at a cap of its rated job's `job_units`, `held to the units its
    window needs` at a cap raised above them (planner/api.py _held); `status` otherwise."""
    if cap is None or status not in ("as rated", "consistent", "conservative"):
        return status
    return HELD if cap <= job_units else HELD_WINDOW


def held_note(cap: int, job_units: int, need_units: float) -> str:
    """The words put before a held rate's reason (held_to_rated): at most the rated job's
    `job_units` units, or the `cap` above them its work in its window needs (`need_units`,
    the unit-windows of work at the rate held)."""
    if cap <= job_units:
        return (
            f"held to at most the {cap:,} units of the job it is rated for (a plan that ran it "
            "on more was re-rated lower): "
        )
    return (
        f"held to at most {cap:,} units (a plan that ran it on more was re-rated lower), the "
        f"fewest that do its work in its window at this rate ({need_units:.4g}; the "
        f"{job_units:,} of the job it is rated for cannot): "
    )


def in_service(plan: Plan) -> dict[tuple[str, str, int], float]:
    """Units in service per (datacenter, system, LP period), from the plan's schedule (an LP
    period lies in the calendar period it starts in)."""
    calendar = sorted({(r.start_s, r.period) for r in plan.schedule})
    held = {(r.datacenter, r.system, r.period): r.units for r in plan.schedule}
    out = {}
    for period in plan.periods:
        t = max((t for start, t in calendar if start <= period.start_s + 1e-6), default=None)
        if t is None:
            continue
        for (d, s, u), units in held.items():
            if u == t:
                out[(d, s, period.period)] = units
    return out


def role_units(
    plan: Plan, held: dict[tuple[str, str, int], float]
) -> dict[tuple[str, str], dict[str, tuple[dict[int, float], dict[int, float]]]]:
    """Per (workload, role) and system: its units per LP period (summed over its sites) and the
    units in service then at the sites it runs at. Work sharing the pool time-shares it as the
    LP's allocations do (a job of n units for u/n of the period leaves the other work
    in service - u units on average, what the pool's capacity row gives it)."""
    out: dict[tuple[str, str], dict[str, tuple[dict[int, float], dict[int, float]]]] = {}
    sites: dict[tuple[str, str, str], set[str]] = {}
    for a in plan.allocations:
        units, _ = out.setdefault((a.workload, a.role), {}).setdefault(a.system, ({}, {}))
        units[a.period] = units.get(a.period, 0.0) + a.units
        sites.setdefault((a.workload, a.role, a.system), set()).add(a.datacenter)
    for (w, r, s), where in sites.items():
        units, pools = out[(w, r)][s]
        for p in units:
            pools[p] = sum(held.get((d, s, p), 0.0) for d in sorted(where))
    return out


def placed_jobs(
    plan: Plan,
    scenario: object,
    demands: list[WorkloadDemand],
    rated: list[WorkloadDemand],
    solves: int,
    last: bool,
) -> list[JobRow]:
    """One row per pretraining role the plan runs (a whole-unit plan: one system type): the job
    it runs on in each period (period_jobs), rated by the same layout search (pretrain_rate_at),
    the lowest of them (binding_job: placed_units, placed_accelerators, placed_rate_per_unit_s),
    the rate the plan used and the job it was derived for, the pre-solve rating (`rated`: the
    first solve's demands), and the status (job_status; `optimistic` on a solve that is not
    the last: re-solve at the placed job's rate)."""
    catalog = scenario.catalog  # type: ignore[attr-defined]
    workloads = dict(scenario.data.workloads)  # type: ignore[attr-defined]
    first = {(d.name, r.name): r for d in rated for r in d.roles}
    by_role = role_units(plan, in_service(plan))
    out: list[JobRow] = []
    for demand in demands:
        if demand.kind != NAME:
            continue
        for role in demand.roles:
            systems = by_role.get((demand.name, role.name), {})
            if len(systems) != 1:
                continue  # not run (a candidate not chosen), or fractional across systems
            ((system, (units, pools)),) = systems.items()
            per_unit = catalog.system(system).accelerators
            used = role.rates[system]
            jobs = period_jobs(units, pools, math.ceil(used.job_accelerators / per_unit))
            if not jobs:
                continue
            spec, cat = role_spec(demand.name, role, workloads, catalog)
            out.append(
                job_row(
                    PretrainJobRow,
                    demand,
                    role,
                    system,
                    jobs,
                    first[(demand.name, role.name)].rates[system],
                    functools.partial(_rate_at, spec, cat, system),
                    (solves, last),
                    per_unit,
                )
            )
    return out


def rerated(
    demands: list[WorkloadDemand], jobs: list[JobRow], scenario: object, plan: Plan
) -> list[WorkloadDemand]:
    """The demands for the next solve, each `optimistic` job's role changed on its system: where
    the binding period's job is smaller than the one its rate was derived for because a pool it
    runs on had fewer units in service than that job in a period it runs, the rate stays and
    the role's min_units there become the rate's job, so the plan holds that job's units while
    it runs (a smaller job can rate lower: the bisection's job is the smallest that meets the
    window at its own rate, and a unit less idles accelerators in its layout); otherwise
    (squeezed onto more units) the rate becomes the placed job's (pretrain_rate_at). Either
    way the rate's reason says so."""
    from planner.demand.pretrain import pretrain_rate_at

    catalog = scenario.catalog  # type: ignore[attr-defined]
    workloads = dict(scenario.data.workloads)  # type: ignore[attr-defined]
    todo = {(j.workload, j.role): j for j in jobs if j.status == "optimistic"}
    held = in_service(plan)
    short: set[tuple[str, str]] = set()
    for a in plan.allocations:
        job = todo.get((a.workload, a.role))
        if job is not None and job.placed_accelerators < job.rate_job_accelerators:
            units = held.get((a.datacenter, a.system, a.period), 0.0)
            per_unit = catalog.system(a.system).accelerators
            if units * per_unit < job.rate_job_accelerators - PLACED_WHOLE_TOL:
                short.add((a.workload, a.role))
    out = []
    for demand in demands:
        roles = []
        for role in demand.roles:
            job = todo.get((demand.name, role.name))
            if job is not None and (demand.name, role.name) not in short:
                spec, cat = role_spec(demand.name, role, workloads, catalog)
                rate = pretrain_rate_at(spec, cat, job.system, job.placed_accelerators)
                note = (
                    f"re-rated at the job the plan placed it on ({job.placed_units:,} units, "
                    f"{job.placed_accelerators:,} accelerators; the rate it was placed at, "
                    f"{job.rate_per_unit_s:.4g}/s, is that of {job.rate_job_accelerators:,}): "
                )
                new = Rate(rate.per_unit_s, note + rate.reason, rate.caveat, rate.job_accelerators)
                role = replace(role, rates={**role.rates, job.system: new})
            elif job is not None:
                used = role.rates[job.system]
                per_unit = catalog.system(job.system).accelerators
                held = math.ceil(used.job_accelerators / per_unit)
                note = (
                    f"held on the {held:,} units of the job it is rated for while it runs (a "
                    f"plan that held {job.placed_units:,} ran it at {job.placed_rate_per_unit_s:.4g}"
                    "/s): "
                )
                kept = Rate(used.per_unit_s, note + used.reason, used.caveat, used.job_accelerators)
                role = replace(
                    role,
                    rates={**role.rates, job.system: kept},
                    min_units={**role.min_units, job.system: held},
                )
            roles.append(role)
        out.append(replace(demand, roles=roles) if roles != demand.roles else demand)
    return out


def held_to_rated(
    rated: list[WorkloadDemand],
    squeezed: set[tuple[str, str, str]],
    scenario: object,
    within_window: bool = False,
) -> list[WorkloadDemand]:
    """The pre-solve demands with each (workload, role, system) in `squeezed` held to at most
    the units of the job its rate was derived for on that system (Role.max_units, LP row
    `ratedjob`), its rate's reason saying so (held_note before the rated reason): the
    alternative planner/api.py _solve_rerated weighs against the plan that squeezed the run
    onto more units and was re-rated lower.

    within_window: each cap raised, where it is fewer, to window_units(amount / rate per unit,
    window), the fewest whole units that do the role's work in its window on that system alone
    at the rate held (a cap of fewer leaves the work undone there: the LP's units per period
    times rate times period length, summed over the window, is at most cap x rate x window);
    planner/api.py _held asks for it when the hold at the rated job left no plan."""
    catalog = scenario.catalog  # type: ignore[attr-defined]
    out = []
    for demand in rated:
        roles = []
        for role in demand.roles:
            caps = {s: 0 for w, r, s in squeezed if (w, r) == (demand.name, role.name)}
            if caps:
                rates = dict(role.rates)
                for s in sorted(caps):
                    used = role.rates[s]
                    job = math.ceil(used.job_accelerators / catalog.system(s).accelerators)
                    caps[s] = job
                    need = 0.0
                    if within_window and used.feasible and demand.window_s > 0:
                        unit_s = role.amount / used.per_unit_s
                        need = unit_s / demand.window_s
                        caps[s] = max(job, window_units(unit_s, demand.window_s))
                    note = held_note(caps[s], job, need)
                    rates[s] = Rate(
                        used.per_unit_s, note + used.reason, used.caveat, used.job_accelerators
                    )
                role = replace(role, rates=rates, max_units={**role.max_units, **caps})
            roles.append(role)
        out.append(replace(demand, roles=roles) if roles != demand.roles else demand)
    return out


def rerate_notes(jobs: list[JobRow]) -> list[str]:
    """The plan's left_out lines: each run whose placed job's rate is still below the rate used
    after the last solve, with both figures."""
    return [
        f"{j.workload}/{j.role} on {j.system}: not re-rated to a fixed point in {j.solves} "
        f"solves: the plan runs it on {j.placed_accelerators:,} accelerators "
        f"({j.placed_units:,} units), whose rate is {j.placed_rate_per_unit_s:.4g} FLOP/s per "
        f"unit, {1 - j.placed_rate_per_unit_s / j.rate_per_unit_s:.1%} below the "
        f"{j.rate_per_unit_s:.4g} it used (the rate of {j.rate_job_accelerators:,} "
        f"accelerators): its work is short by up to that share"
        for j in jobs
        if j.status == "not converged"
    ]


def split_group_notes(plan: Plan, scenario: object) -> list[str]:
    """The plan's left_out lines on multi-site runs (allow_multi_site) with a pinned hybrid FSDP
    group that the plan's split over sites cannot hold whole inside each site. The shard group
    is `fsdp` DP x CP ranks at each tensor and pipeline position, G = tp x pp x fsdp
    accelerators (one copy of the weights, sharded); the step model and the inter-site traffic
    assume every group inside a site, its replicas across sites (multi_site_fsdp_problem), but
    the LP splits a run's units over sites freely. Per LP period, the site d it runs at holds at
    most floor(units in service at d x accelerators a unit / G) whole groups; where their sum is
    below the groups its average units need, ceil(sum_d allocation_d x accelerators a unit / G),
    the rest straddle sites (their per-layer gathers and reduce-scatters over the inter-site
    links, which the rate does not price): stated with the figures."""
    catalog = scenario.catalog  # type: ignore[attr-defined]
    workloads = dict(scenario.data.workloads)  # type: ignore[attr-defined]
    held = in_service(plan)
    runs: dict[tuple[str, str, str, int], dict[str, float]] = {}
    for a in plan.allocations:
        spec = workloads.get(a.workload)
        if not isinstance(spec, PretrainSpec) or not spec.allow_multi_site:
            continue
        lay = spec.layout
        if lay is None or not lay.fsdp:
            continue
        sites = runs.setdefault((a.workload, a.role, a.system, a.period), {})
        sites[a.datacenter] = sites.get(a.datacenter, 0.0) + a.units
    out = []
    for (workload, role, system, period), sites in sorted(runs.items()):
        lay = workloads[workload].layout
        per_unit = catalog.system(system).accelerators
        group = lay.tp * lay.pp * lay.fsdp
        used = {d: u for d, u in sorted(sites.items()) if u > PLACED_WHOLE_TOL}
        if len(used) < 2:
            continue  # on one site: every group inside it
        need = math.ceil(sum(used.values()) * per_unit / group - PLACED_WHOLE_TOL)
        units = {d: math.floor(held.get((d, system, period), 0.0) + PLACED_WHOLE_TOL) for d in used}
        whole = {d: units[d] * per_unit // group for d in used}
        if sum(whole.values()) >= need:
            continue
        group_units = group / per_unit
        where = ", ".join(
            f"{d} {used[d]:,.2f} ({units[d]:,} in service, {whole[d]:,} whole groups)" for d in used
        )
        out.append(
            f"{workload}/{role} on {system}, LP period {period}: its hybrid FSDP group (fsdp "
            f"{lay.fsdp} DP x CP ranks at TP{lay.tp} x PP{lay.pp}: {group:,} accelerators, "
            f"{group_units:,.4g} units) does not fit whole in each site's share of the run: "
            f"its units on average at {where}; {sum(whole.values()):,} whole groups against "
            f"the {need:,} its {sum(used.values()):,.2f} units need, so a group spans sites, its "
            "per-layer gathers and reduce-scatters over the inter-site links, which its rate "
            "and the inter-site traffic do not price (the LP splits a run's units over sites "
            "without holding whole groups a site)"
        )
    return out


def attach_jobs(plan: Plan, scenario: object, rows: list[JobRow]) -> None:
    """plan.pretrain_jobs and their left_out lines (rerate_notes, split_group_notes)."""
    plan.pretrain_jobs = [r for r in rows if isinstance(r, PretrainJobRow)]
    plan.left_out = plan.left_out + rerate_notes(rows) + split_group_notes(plan, scenario)


def job_line(j: JobRow) -> str:
    """One run's rated, rate and placed jobs as the report prints them."""
    delta = j.placed_rate_per_unit_s / j.rate_per_unit_s - 1 if j.rate_per_unit_s else 0.0
    return (
        f"  {j.workload}/{j.role} on {j.system}: rated {j.rated_accelerators:,} "
        f"accelerators at {j.rated_rate_per_unit_s:.4g} FLOP/s per unit; rate used "
        f"{j.rate_per_unit_s:.4g} (a job of {j.rate_job_accelerators:,}); placed on "
        f"{j.placed_accelerators:,} ({j.placed_units:,} units), rated there "
        f"{j.placed_rate_per_unit_s:.4g} ({delta:+.2%}): {j.status}"
        + (f", after {j.solves} solves" if j.solves > 1 else "")
    )


def job_lines(plan: Plan) -> list[str]:
    """The report's lines on each pretraining run's rated, rate and placed jobs."""
    if not plan.pretrain_jobs:
        return []
    out = ["", "Pretraining jobs (rated before the solve; placed by the plan; rate used)"]
    return out + [job_line(j) for j in plan.pretrain_jobs]


# -- model sizing (planner/demand/scaling.py holds the loss model) --------------------------


def target_loss(spec: PretrainSpec, law: ScalingLaw, catalog: Catalog) -> float:
    """The target's loss: given, or L(N_like, tokens) of the catalog model `like`."""
    assert spec.target is not None
    if spec.target.loss is not None:
        return spec.target.loss
    assert spec.target.like is not None and spec.target.tokens is not None
    return loss(law, float(catalog.models[spec.target.like].params), spec.target.tokens)


def sizing_candidates(
    name: str, spec: PretrainSpec, catalog: Catalog
) -> tuple[list[Candidate], dict[str, ModelArch]]:
    """The candidates of a sizing workload on its target's iso-loss curve, and the generated
    architectures (named <workload>-<r>tpp) they need in the catalog; with target.votes, every
    candidate again on the curve of loss target + loss_above, served with that many votes
    (labelled <r>tpp-<k>v)."""
    assert spec.target is not None
    law = scaling_law(catalog, spec.scaling_law)
    target = target_loss(spec, law, catalog)
    levels = [(0.0, 1)] + [(v.loss_above, v.votes) for v in spec.target.votes]
    out: list[Candidate] = []
    generated: dict[str, ModelArch] = {}
    for above, votes in levels:
        cands, models = candidates(
            law, target + above, list(spec.candidates or []), catalog, spec.shape_base or "",
            name, votes=votes,
        )  # fmt: skip
        out += cands
        generated.update(models)
    return out, generated


def candidate_spec(spec: PretrainSpec, cand: Candidate) -> PretrainSpec:
    """The plain pretraining run of one candidate: its model trained on its tokens."""
    update = {"model": cand.model, "tokens": cand.tokens, "target": None, "candidates": None}
    return spec.model_copy(update=update)


# -- its part of the LP ---------------------------------------------------------------------


def declare(model: Model, demand: WorkloadDemand) -> None:
    """y[w,d] site binaries, x[w,s] system choice, on[...] where the job's state needs a minimum
    of units, and a gradient flow for every reachable pair of sites when it may span sites."""
    for d in model.sites:
        model.site[(demand.name, d)] = model.new_var("y", 0, 1, BINARY)
    declare_system_choice(model, demand)
    declare_running(model, demand)
    for role in demand.roles:
        if role.choice is not None:
            model.candidate[role.choice] = model.new_var("k", 0, 1, BINARY)
    assert demand.pretrain is not None
    if not demand.pretrain.allow_multi_site:
        return
    topo = model.scenario.topology
    sites = model.sites
    for i, a in enumerate(sites):
        for b in sites[i + 1 :]:
            path = topo.path(a, b)
            if path is not None:
                var = model.new_var("f", 0)
                model.flows.append(Flow("gradients", demand.name, a, b, path, var))


def _mine(model: Model) -> list[WorkloadDemand]:
    return [d for d in model.demands if d.kind == NAME]


@family("onesite", "workload", kind="pretrain")
def add_onesite(model: Model) -> None:
    """sum_d y[w,d] = 1   (pretraining without allow_multi_site stays on one site)"""
    for demand in _mine(model):
        assert demand.pretrain is not None
        if not demand.pretrain.allow_multi_site:
            pairs = [(model.site[(demand.name, d)], 1.0) for d in model.sites]
            model.row("onesite", (demand.name,), pairs, "==", 1.0)


@family("site", "workload:role:datacenter:system:period", kind="pretrain")
def add_site(model: Model) -> None:
    """u[w,r,d,s,p] <= max_units[d,s] · y[w,d]   (pretraining runs only where it is hosted)"""
    for demand in _mine(model):
        tie(model, "site", demand, demand.roles, lambda d, s, w=demand.name: model.site[(w, d)])


@family("gradsync", "workload:datacenter:datacenter", kind="pretrain")
def add_gradsync(model: Model) -> None:
    """f_grad[a,b] >= 2 · G · syncs / T_w / 1e9 · (y[w,a] + y[w,b] - 1)   (GB/s; multi-site
    pretraining: every pair of hosting sites is charged twice the gradient bytes G per sync,
    what a ring all-reduce moves per link: a conservative bound; under FSDP the same, the job's
    FSDP group hybrid with its replicas across sites, training.multi_site_fsdp_problem)"""
    for flow in model.flows:
        if flow.kind != "gradients":
            continue
        demand = next(d for d in model.demands if d.name == flow.workload)
        assert demand.pretrain is not None
        rate = 2 * demand.pretrain.gradient_bytes_per_sync * demand.pretrain.syncs
        rate_gbs = rate / demand.window_s / GB
        ya, yb = model.site[(flow.workload, flow.src)], model.site[(flow.workload, flow.dst)]
        pairs = [(flow.var, 1.0), (ya, -rate_gbs), (yb, -rate_gbs)]
        model.row("gradsync", (flow.workload, flow.src, flow.dst), pairs, ">=", -rate_gbs)


@family("gradreach", "workload:datacenter:datacenter", kind="pretrain")
def add_gradreach(model: Model) -> None:
    """y[w,a] + y[w,b] <= 1 when no path joins a and b   (multi-site pretraining)"""
    topo = model.scenario.topology
    for demand in _mine(model):
        assert demand.pretrain is not None
        if not demand.pretrain.allow_multi_site:
            continue
        sites = model.sites
        for i, a in enumerate(sites):
            for b in sites[i + 1 :]:
                if topo.path(a, b) is None:
                    y = [(model.site[(demand.name, a)], 1.0), (model.site[(demand.name, b)], 1.0)]
                    model.row("gradreach", (demand.name, a, b), y, "<=", 1.0)


# -- model sizing: one candidate chosen, its pretraining and serving done -------------------


def _candidate_roles(model: Model) -> list[tuple[WorkloadDemand, Role]]:
    """Every role that is one sizing candidate's work (pretraining, or serving model_from)."""
    return [(d, r) for d in model.demands for r in d.roles if r.choice is not None]


def _explain_candidate(model: Model, entity: tuple[str, ...], value: float) -> str:
    return (
        f"{':'.join(entity)}: {value:.1%} of the chosen candidate's work cannot be done "
        "(its model does not fit or its deadline is too close on the fleet allowed)"
    )


@family("pick", "workload", kind=NAME)
def add_pick(model: Model) -> None:
    """sum_c k[w,c] = 1   (model sizing: the plan trains exactly one candidate c of w)"""
    by_workload: dict[str, list[tuple[Col, float]]] = {}
    for (w, _), var in model.candidate.items():
        by_workload.setdefault(w, []).append((var, 1.0))
    for w, pairs in by_workload.items():
        model.row("pick", (w,), pairs, "==", 1.0)


@family(
    "sizework",
    "workload:role",
    slack_unit="fraction of the work",
    explain=_explain_candidate,
    kind=NAME,
)
def add_sizework(model: Model) -> None:
    """sum_{d,s,p} u[w,r,d,s,p] · rate[r,s] · len_p / amount_r >= k[w,c]   (r = pretrain@c: a
    candidate's pretraining is all done by the deadline if the plan chooses it)"""
    for demand, role in _candidate_roles(model):
        if demand.steady_load or role.amount <= 0 or role.choice is None:
            continue
        pairs = work_pairs(model, demand, role, set(model.sites), role.amount)
        k = model.candidate[role.choice]
        entity = (demand.name, role.name)
        model.row("sizework", entity, pairs + [(k, -1.0)], ">=", 0.0, UNSERVED_WEIGHT)


@family(
    "sizeserve",
    "workload:role:period",
    slack_unit="fraction of the work",
    explain=_explain_candidate,
    kind=NAME,
)
def add_sizeserve(model: Model) -> None:
    """sum_{d,s} u[w,r,d,s,p] · rate[r,s] · len_p / (amount_r · share_p) >= k[v,c] in every
    period p of the window   (r = decode@c or prefill@c of a serving load w with model_from: v:
    the load of candidate c is served if the plan trains c)"""
    for demand, role in _candidate_roles(model):
        if not demand.steady_load or role.amount <= 0 or role.choice is None:
            continue
        k = model.candidate[role.choice]
        for period in model.periods:
            if not active(period, demand):
                continue
            share = role.amount * demand.load_between(period.start_s, period.end_s)
            pairs = work_pairs(model, demand, role, set(model.sites), share, period)
            entity = (demand.name, role.name, f"p{period.index}")
            model.row("sizeserve", entity, pairs + [(k, -1.0)], ">=", 0.0, UNSERVED_WEIGHT)


@family("sizetie", "workload:role:datacenter:system:period", kind=NAME)
def add_sizetie(model: Model) -> None:
    """u[w,r,d,s,p] <= M[r,d,s,p] · k[v,c], M = min(max_units, amount / (rate · len_p))   (a
    candidate's pretraining and serving get units only if the plan chooses it)"""
    for demand, role in _candidate_roles(model):
        if role.choice is None:
            continue
        k = model.candidate[role.choice]
        tie(model, "sizetie", demand, [role], lambda d, s, k=k: k)


def sizing_problems(workloads: dict[str, object], catalog: Catalog) -> list[tuple[Loc, str]]:
    """Problems with model sizing across workloads, as (loc from the scenario root, message):
    model_from names a pretraining with target; nothing runs `after` a sizing workload (it has
    one work item per candidate: not modelled yet); the law is known and the candidates exist."""
    out: list[tuple[Loc, str]] = []
    sized = {n for n, s in workloads.items() if isinstance(s, PretrainSpec) and s.sizing}
    for name, spec in workloads.items():
        source = getattr(spec, "model_from", None)
        if source is not None and source not in sized:
            known = ", ".join(sorted(sized)) or "none in this scenario"
            msg = f"model_from: {source!r} is not a pretraining workload with target: ({known})"
            out.append((("workloads", name, "model_from"), msg))
        after = getattr(spec, "after", None)
        if after in sized:
            msg = f"after: {after!r} sizes its model (one work item per candidate); use start:"
            out.append((("workloads", name, "after"), msg))
    for name in sorted(sized):
        spec = workloads[name]
        assert isinstance(spec, PretrainSpec)
        if any(m not in catalog.models for _, m in model_refs(spec)):
            continue  # reported as an unknown model
        try:
            sizing_candidates(name, spec, catalog)
        except (KeyError, ValueError) as exc:
            out.append((("workloads", name, "target"), str(exc).strip("'\"")))
    return out


# -- model sizing in the plan: rows and report lines ------------------------------------------


# The basis of the sizing cost figures, stated in the report and carried in the JSON rows.
# Before session 24 both priced a bought unit at r = 0, PUE 1.0 and no facility charge,
# whatever the scenario said (docs/models.md: 32% under at 10% and $150/kW-month).
EST_BASIS = (
    "an estimate: each role's work at its cheapest system and site's unit-hour price, paid "
    "the cheapest way the pricing allows as `--explain` prices it (a bought unit as the "
    "objective charges it: capital recovery at economics.cost_of_capital with its "
    "network/storage share, maintenance, the site's facility charge and energy at the "
    "site's $/kWh and PUE; rented; under mixed pricing also contracts, and spot for "
    "training), before fleet sharing and whole units"
)
PLAN_BASIS = (
    "the plan's busy unit-time (idle left out) at each site's unit-hour price as the cost "
    "curve's, not the plan's own charges"
)


def _ends_basis(plan: Plan) -> str:
    """What EST_BASIS's bought and contract prices are under economics.after_horizon ends
    (planner/explain.py options); empty otherwise."""
    if plan.economics.get("after_horizon") != "ends":
        return ""
    return (
        "; economics.after_horizon ends: a bought unit's whole capex with its network/storage "
        "share over the days one ordered at the horizon's start serves inside it, plus its "
        "running costs, and a contract's whole term over the days it is held inside the "
        "horizon (each price's days in its basis)"
    )


def _unit_price(scenario: Scenario, system: str, d: str, serving: bool) -> tuple[float, str]:
    """US$ per unit-hour of `system` at site d, the cheapest way the pricing allows
    (planner/explain.py options: bought as the objective charges it, rented, contracts, spot
    per useful hour), and how it is paid for."""
    from planner.explain import options

    best = min(options(scenario, system, d, serving), key=lambda p: p.usd_per_s)
    return best.usd_per_s * 3600.0, best.paid_as


def _price_text(scenario: Scenario, system: str, d: str, serving: bool) -> str:
    usd_h, kind = _unit_price(scenario, system, d, serving)
    return f"{system} at {d} ${usd_h:,.2f}/unit-hour ({kind})"


def _cheapest(role: Role, scenario: Scenario, serving: bool) -> tuple[float, str] | None:
    """A role's work at its cheapest system and site: min_{s,d} amount / rate[s] · $/unit-s at
    d, with the system, site and price it used (None: it runs nowhere)."""
    topo = scenario.topology
    costs = [
        (
            role.amount / rate.per_unit_s * _unit_price(scenario, s, d, serving)[0] / 3600.0,
            f"{role.name}: {_price_text(scenario, s, d, serving)}",
        )
        for s, rate in role.rates.items()
        if rate.feasible
        for d in topo.datacenters()
        if s in topo.site(d).systems
    ]
    return min(costs) if costs else None


def _est(roles: list[Role], scenario: Scenario, serving: bool) -> tuple[float | None, str | None]:
    """The estimate over roles (None if one runs nowhere) and its basis: each role's system,
    site and unit-hour price."""
    best = [_cheapest(r, scenario, serving) for r in roles]
    if any(b is None for b in best):
        return None, None
    return sum(b[0] for b in best if b), "; ".join(b[1] for b in best if b)


def _total(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _busy_usd(model: Model, roles: list[tuple[WorkloadDemand, Role]], serving: bool) -> float:
    """sum u[w,r,d,s,p] · len_p · $/unit-s of s at d over the roles: the plan's unit-time given
    to them at the unit price (idle capacity left out)."""
    from planner.readplan import value_of

    names = {(d.name, r.name) for d, r in roles}
    return sum(
        value_of(var)
        * model.periods[p].length_s
        * _unit_price(model.scenario, s, d, serving)[0]
        / 3600.0
        for (w, r, d, s, p), var in model.u.items()
        if (w, r) in names
    )


def _cost_fields(
    model: Model, mine: list[tuple[WorkloadDemand, Role]], chosen: bool
) -> dict[str, object]:
    """SizingRow's cost figures and their bases for one candidate's roles."""
    from planner.readplan import value_of

    scenario = model.scenario
    training = [(d, r) for d, r in mine if not d.steady_load]
    serving = [(d, r) for d, r in mine if d.steady_load]
    est_pre, pre_basis = _est([r for _, r in training], scenario, False)
    est_srv, srv_basis = _est([r for _, r in serving], scenario, True)
    names = {(d.name, r.name): d.steady_load for d, r in mine}
    used = sorted(
        {
            (s, dc, names[(w, r)])
            for (w, r, dc, s, _), v in model.u.items()
            if (w, r) in names and value_of(v) > 1e-9
        }
    )
    return {
        "est_pretrain_cost_usd": est_pre,
        "est_serve_cost_usd": est_srv,
        "plan_pretrain_cost_usd": _busy_usd(model, training, False) if chosen else None,
        "plan_serve_cost_usd": _busy_usd(model, serving, True) if chosen else None,
        "est_pretrain_basis": pre_basis,
        "est_serve_basis": srv_basis,
        "plan_cost_basis": (
            "; ".join(dict.fromkeys(_price_text(scenario, s, dc, sv) for s, dc, sv in used))
            if chosen
            else None
        ),
    }


def sizing_rows(model: Model) -> list[SizingRow] | None:
    """One SizingRow per candidate of every sizing workload (None: the scenario sizes no model).
    chosen: k[w,c] > 0.5."""
    from planner.demand.scaling import compute_optimal_for_loss, near
    from planner.readplan import value_of

    scenario = model.scenario
    rows: list[SizingRow] = []
    for (w, label), k in model.candidate.items():
        spec = scenario.data.workloads[w]
        assert isinstance(spec, PretrainSpec)
        cands, generated = sizing_candidates(w, spec, scenario.catalog)
        catalog = with_models(scenario.catalog, generated)
        cand = next(c for c in cands if c.label == label)
        law = scaling_law(catalog, spec.scaling_law)
        # the Chinchilla point of the target's own curve (test-time substitutes are off it)
        own = [c for c in cands if c.votes == 1]
        n_opt, d_opt = compute_optimal_for_loss(law, own[0].loss)
        optimal = own[near(d_opt / n_opt, [c.tokens_per_param for c in own])].label
        mine = [(d, r) for d in model.demands for r in d.roles if r.choice == (w, label)]
        serving = [(d, r) for d, r in mine if d.steady_load]
        served = sum(r.amount for _, r in serving)
        chosen = value_of(k) > 0.5
        rows.append(
            SizingRow(
                workload=w,
                candidate=label,
                model=cand.model,
                params=cand.params,
                tokens=cand.tokens,
                tokens_per_param=cand.tokens_per_param,
                loss=cand.loss,
                votes=cand.votes,
                pretrain_flops=cand.pretrain_flops,
                served_tokens=served,
                serve_flops=cand.serve_flops(served),
                chosen=chosen,
                compute_optimal=label == optimal,
                **_cost_fields(model, mine, chosen),  # type: ignore[arg-type]
            )
        )
    return rows or None


def report_lines(plan: Plan) -> list[str]:
    """The pretraining kind's report lines: each run's jobs (job_lines), then model sizing."""
    return job_lines(plan) + sizing_report(plan)


def sizing_report(plan: Plan) -> list[str]:
    """The chosen (N, D), tokens/param, pretraining vs lifetime-serving cost split, and the
    curve of estimated total cost against tokens/param (Chinchilla point and chosen marked),
    each cost figure with its basis."""
    out: list[str] = []
    for w in sorted({r.workload for r in plan.sizing or []}):
        rows = sorted(
            (r for r in plan.sizing or [] if r.workload == w),
            key=lambda r: (r.votes, r.tokens_per_param),
        )
        target = min(r.loss for r in rows)
        out += ["", f"Model sizing ({w}): loss {target:.4f} nats/token on its iso-loss curve"]
        chosen = next((r for r in rows if r.chosen), None)
        if chosen is not None:
            out += _chosen_lines(chosen)
        out.append(f"  cost curve, {EST_BASIS}{_ends_basis(plan)}:")
        out.append("  tokens/param votes    params    tokens  pretrain $   serving $     total $")
        for r in rows:
            mark = " chosen" if r.chosen else ""
            mark += " Chinchilla" if r.compute_optimal else ""
            total = _total([r.est_pretrain_cost_usd, r.est_serve_cost_usd])
            out.append(
                f"  {r.tokens_per_param:>12,.0f} {r.votes:>5} {r.params:>9.4g} {r.tokens:>9.4g} "
                f"{_usd(r.est_pretrain_cost_usd)} {_usd(r.est_serve_cost_usd)} {_usd(total)}{mark}"
            )
        out.append(
            "  (Chinchilla: the candidate nearest the least-FLOP point of the target's curve; "
            "each row's systems and prices are in the JSON's est_*_basis)"
        )
    return out


def _chosen_lines(chosen: SizingRow) -> list[str]:
    out = [
        f"  chosen {chosen.candidate}: N = {chosen.params:.4g} params, D = "
        f"{chosen.tokens:.4g} tokens ({chosen.tokens_per_param:,.0f} tokens/param)"
        + (
            f", loss {chosen.loss:.4f} served with {chosen.votes} votes (target.votes)"
            if chosen.votes > 1
            else ""
        )
    ]
    pre = chosen.plan_pretrain_cost_usd or 0.0
    srv = chosen.plan_serve_cost_usd or 0.0
    if pre + srv > 0:
        out.append(
            f"  split, {PLAN_BASIS}, at {chosen.plan_cost_basis}: pretraining ${pre:,.0f} "
            f"({pre / (pre + srv):.0%}), lifetime serving ${srv:,.0f} ({srv / (pre + srv):.0%}) "
            f"of {chosen.served_tokens:.4g} tokens"
        )
    return out


def _usd(value: float | None) -> str:
    return f"{'-':>11}" if value is None else f"{value:>11.4g}"
