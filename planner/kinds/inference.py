"""The inference (serving) kind: its spec, its demand (planner/demand/inference.py and
serving_physics.py hold the physics) and its own constraint family (prefill at the site of its
decode). Serving adds no LP variables of its own: its roles are steady loads on the shared
`serve` family."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from fleetcore.schema import Name, PositiveInt, Precision, Strict
from planner.demand.scaling import with_models
from planner.demand.types import Role, WorkloadDemand, growth_integral
from planner.kinds.base import (
    Loc,
    NonNegDuration,
    PositiveCount,
    PositiveDuration,
    PositiveFloat,
)
from planner.lp.constraints import work_pairs
from planner.lp.model import UNSERVED_WEIGHT, Model, active, family

if TYPE_CHECKING:
    from hardware.catalog import Catalog
    from planner.kinds.pretrain import PretrainSpec

NAME = "inference"
SECONDS_PER_DAY = 86400.0


class InferenceSpec(Strict):
    """A serving fleet's load: requests per day at an interactivity target, over the horizon."""

    kind: Literal["inference"] = "inference"
    model: Name | None = None
    # Model sizing: serve the model a pretraining workload with `target:` chooses (one load per
    # candidate, served only if it is chosen) instead of a catalog `model`.
    model_from: Name | None = None
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
    # Failure headroom across sites: the tier keeps serving all of its load if any one site is
    # lost (N+1 sites: the other sites' capacity covers it), and so runs on at least two sites.
    survive_site_loss: bool = False

    @model_validator(mode="after")
    def _interactivity(self) -> InferenceSpec:
        if (self.model is None) == (self.model_from is None):
            raise ValueError("give model (a catalog model) or model_from (a sizing pretraining)")
        if self.model_from is not None and self.survive_site_loss:
            raise ValueError("survive_site_loss is not modelled for model_from serving yet")
        if self.mode == "interactive" and self.tokens_per_s_per_user is None:
            raise ValueError("give tokens_per_s_per_user, or mode: offline (no latency target)")
        if self.draft_tokens > 0 and self.draft_acceptance <= 0:
            raise ValueError("draft_tokens needs draft_acceptance (0-1), e.g. 0.85 for MTP")
        if self.mode == "offline" and self.ttft_p99_s is not None:
            raise ValueError("ttft_p99 is a latency target: not with mode: offline")
        return self

    @property
    def model_name(self) -> str:
        """The catalog model served (model_from specs get one per candidate: sized_demand)."""
        if self.model is None:
            raise ValueError("model_from serving has one model per candidate: no model")
        return self.model

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


def model_refs(spec: InferenceSpec) -> list[tuple[Loc, str]]:
    """Where the spec names a catalog model."""
    return [] if spec.model is None else [(("model",), spec.model)]


def demand(
    name: str, spec: InferenceSpec, catalog: Catalog, systems: list[str], horizon_s: float
) -> WorkloadDemand:
    """Token roles "decode" (requests/day · output · votes · peak_to_average · days served) and
    "prefill" (requests/day · prompt · (1 − prompt_cache_hit) · peak_to_average · days served),
    anywhere, a steady load over [start, horizon]; days served are weighted by the load's
    growth since the launch."""
    from planner.demand.inference import inference_rates

    if spec.model is None:
        raise ValueError(f"{name}: model_from serving is built by sized_demand")
    days = growth_integral(spec.growth_per_year, 0.0, horizon_s - spec.start_s) / SECONDS_PER_DAY
    rates = {s: inference_rates(spec, catalog, s) for s in systems}
    scale = spec.requests_per_day * spec.peak_to_average * days
    return WorkloadDemand(
        name=name,
        kind=NAME,
        steady_load=True,
        survive_site_loss=spec.survive_site_loss,
        growth_per_year=spec.growth_per_year,
        start_s=spec.start_s,
        window_s=horizon_s - spec.start_s,
        roles=[
            Role(
                name="decode",
                work_unit="token",
                amount=scale * spec.output_tokens * spec.votes,
                rates={s: r[0] for s, r in rates.items()},
            ),
            Role(
                name="prefill",
                work_unit="token",
                amount=scale * spec.prefilled_prompt_tokens,
                rates={s: r[1] for s, r in rates.items()},
            ),
        ],
        notes=[
            f"provisioned for peak: x{spec.peak_to_average:g} over {days:g} days"
            + (f"; {spec.votes} votes share each prompt" if spec.votes > 1 else "")
        ],
    )


def sized_demand(
    name: str,
    spec: InferenceSpec,
    source: tuple[str, PretrainSpec],
    catalog: Catalog,
    systems: list[str],
    horizon_s: float,
) -> WorkloadDemand:
    """Serving the model that sizing workload `source` chooses: roles decode@c and prefill@c for
    every candidate c (each as `demand` builds it for c's model), tied to c's binary k[v,c]."""
    from planner.kinds.pretrain import sizing_candidates

    cands, generated = sizing_candidates(source[0], source[1], catalog)
    catalog = with_models(catalog, generated)
    roles: list[Role] = []
    notes: list[str] = []
    base: WorkloadDemand | None = None
    for c in cands:
        # a test-time substitute candidate (target.votes) multiplies the load's own votes
        one = spec.model_copy(
            update={"model": c.model, "model_from": None, "votes": spec.votes * c.votes}
        )
        base = demand(name, one, catalog, systems, horizon_s)
        choice = (source[0], c.label)
        roles += [
            dataclasses.replace(r, name=f"{r.name}@{c.label}", choice=choice) for r in base.roles
        ]
    assert base is not None
    notes = [f"serves the candidate {source[0]} chooses: {', '.join(c.label for c in cands)}"]
    return dataclasses.replace(base, roles=roles, notes=base.notes + notes)


# -- its part of the LP ---------------------------------------------------------------------


@family("colocate", "workload:datacenter:period", kind=NAME)
def add_colocate(model: Model) -> None:
    """sum_s u[w,decode,d,s,p] · rate · len_p / (amount_decode · share_p)
    = sum_s u[w,prefill,d,s,p] · rate · len_p / (amount_prefill · share_p)   (a request's
    prefill runs at the site of its decode: each site serves the same share of both, so no KV
    cache crosses between sites; moving prefill to another site would need a KV flow of
    prompt tokens x KV bytes per token over the links, which is not modelled)"""
    for demand in model.demands:
        if demand.kind != NAME:
            continue
        roles = {r.name: r for r in demand.roles if r.amount > 0}
        if not {"decode", "prefill"} <= set(roles):
            continue
        for period in model.periods:
            if not active(period, demand):
                continue
            share = demand.load_between(period.start_s, period.end_s)
            for d in model.sites:
                dec = work_pairs(
                    model, demand, roles["decode"], {d}, roles["decode"].amount * share, period
                )
                pre = work_pairs(
                    model, demand, roles["prefill"], {d}, roles["prefill"].amount * share, period
                )
                if not dec and not pre:
                    continue
                pairs = dec + [(v, -c) for v, c in pre]
                model.row("colocate", (demand.name, d, f"p{period.index}"), pairs, "==", 0.0)


def _explain_site_loss(model: Model, entity: tuple[str, ...], value: float) -> str:
    w, r, lost, _ = entity
    return (
        f"{w}/{r}: without {lost}, the other sites can serve only {1 - value:.1%} of the load "
        "(survive_site_loss needs them to serve all of it): allow more units elsewhere or add a site"
    )


@family(
    "siteloss",
    "workload:role:datacenter:period",
    kind=NAME,
    slack_unit="fraction of the work",
    explain=_explain_site_loss,
)
def add_site_loss(model: Model) -> None:
    """sum_{d' != d} sum_s u[w,r,d',s,p] · rate · len_p / (amount_r · share_p) >= 1 for every
    site d and period p, for a tier that must survive the loss of a site (N+1 across sites: the
    capacity left at the other sites serves all of its load)"""
    for demand in model.demands:
        if demand.kind != NAME or not demand.survive_site_loss:
            continue
        for role in demand.roles:
            if role.amount <= 0:
                continue
            for period in model.periods:
                if not active(period, demand):
                    continue
                scale = role.amount * demand.load_between(period.start_s, period.end_s)
                for lost in model.sites:
                    others = set(model.sites) - {lost}
                    pairs = work_pairs(model, demand, role, others, scale, period)
                    entity = (demand.name, role.name, lost, f"p{period.index}")
                    model.row("siteloss", entity, pairs, ">=", 1.0, UNSERVED_WEIGHT)
