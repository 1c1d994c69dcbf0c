"""The inference (serving) kind: its spec, its demand (planner/demand/inference.py and
serving_physics.py hold the physics) and its own constraint family (prefill at the site of its
decode). Serving adds no LP variables of its own: its roles are steady loads on the shared
`serve` family."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from fleetcore.schema import Name, PositiveInt, Precision, Strict
from planner.demand.scaling import with_models
from planner.demand.types import (
    Caveat,
    PrefillOf,
    Role,
    WorkloadDemand,
    candidate_role,
    growth_integral,
)
from planner.kinds.base import (
    EngineSpec,
    Loc,
    NonNegDuration,
    PositiveCount,
    PositiveDuration,
    PositiveFloat,
)
from planner.lp.constraints import work_pairs
from planner.lp.linear import BINARY
from planner.lp.model import GB, UNSERVED_WEIGHT, Flow, Model, Pairs, Period, Var, active, family
from planner.rows import PeriodRow, ServingRow
from planner.traffic import kv_flows, kv_share_key, several_pairs

if TYPE_CHECKING:
    from hardware.catalog import Catalog
    from planner.kinds.pretrain import PretrainSpec
    from planner.plan import Plan
    from planner.rows import AllocationRow
    from topologies.builder import Topology

NAME = "inference"
# What a plan says of an MoE model's serving rates (Caveat) when its engine names no TensorRT-LLM
# release: the per-routed-token MoE cost is the 2025 fit (hardware/data/accelerators.yaml
# moe_token_bandwidth's source) on every part. Not the newest measured release's table by default
# (session 32, bench/moe_default_release.py): that table is the throughput kernel's and prices a
# 2026 B200 run at a tight TPOT target 2.5x too slow or infeasible, and it covers no Hopper part.
# The figures are recomputed by tests/test_moe_kernels.py (test_the_default_caveats_figures).
MOE_SERVING_CAVEAT = (
    "MoE serving ({}) at the per-routed-token cost fitted on 2025 TensorRT-LLM and SGLang runs: "
    "the engine names no TensorRT-LLM release (engine.tensorrt_llm_version), so 2025 software is "
    "assumed on every part. On Blackwell that prices 2026 TensorRT-LLM's DeepSeek-R1 NVFP4 too "
    "slow (its 93 MLPerf v6.0/v6.1 Offline and Server rows by a mean 51%, up to 2.9x; the "
    "perf-overview B200 DEP4 cell 1.7x); naming the release ('1.2' or later) prices that model "
    "from TensorRT-LLM's measured MoE module instead (those rows: median +7%, 72 of 93 within "
    "15%). It is not the default: the measured module is the throughput kernel's, and at a tight "
    "TPOT target on one 8-GPU server it prices a 2026 B200 run at 125 tok/s/user 2.5x too slow "
    "or infeasible (-2% without it). Hopper has no measured table, and its DeepSeek-R1 FP8 runs "
    "are priced faster than measured (H200 DEP8 +54%, H100 +27%). NeMo-RL's vLLM runs of MoE "
    "models generate in 0.85x to 1.0x the planner's time (measured stage splits; vLLM TP across "
    "servers at a fitted network hop), not from vLLM's MoE kernels: the serving capacity depends "
    "on the engine, its release and how it is driven more than the model says (docs/models.md, "
    "Which release a plan assumes)"
)
# What a serving tier without a TTFT target or a peak leaves out: the decode rate is a full
# batch every step (server utilisation 1), and the load is the day's average. Before session 24
# a plan said neither (frontier-lab's three tiers).
NO_TTFT_CAVEAT = (
    "no time-to-first-token target for {} (ttft_p99 not given): every decode slot is planned "
    "busy all the time, with no queueing for a slot (Poisson arrivals would wait without "
    "bound); give ttft_p99 to size the fleet for the queue (M/D/c, docs/models.md)"
)
AVERAGE_LOAD_CAVEAT = (
    "{} provisioned for the day's average load (peak_to_average 1): a daily peak above it is "
    "not served; give peak_to_average"
)
# The caveat of an MoE workload whose engine names its TensorRT-LLM release
# (engine.tensorrt_llm_version): the measured module where a table covers it
MOE_KERNEL_CAVEAT = (
    "MoE serving ({}) with TensorRT-LLM's measured MoE module where its release, the accelerator, "
    "precision, MoE shape and EP size have a table (planner/data/moe_kernels.csv: aiconfigurator's "
    "DeepSeek-R1 NVFP4 tables of B200, GB200, B300 and GB300, a few power-law routing draws each), "
    "the 2025-fitted per-routed-token cost elsewhere: with it the MLPerf 2026 DeepSeek-R1 Offline "
    "and v6.1 Server runs land within 15%, but Server runs that stop short of their p99 TPOT bound "
    "and GB300's MTP rack are priced up to 1.6x their rate, and the table is the CUTLASS "
    "throughput kernel's: at a tight TPOT target on a small EP group TensorRT-LLM's min-latency "
    "path runs ~2x faster (docs/models.md, Measured MoE module tables)"
)
# The caveat of an MoE workload whose engine names its TensorRT-LLM release on the systems no
# measured table covers (the release, the part, the precision or the MoE shape): the parametric
# terms there, exactly as without the release
MOE_NO_TABLE_CAVEAT = (
    "MoE serving ({}) names its TensorRT-LLM release (engine.tensorrt_llm_version), but no "
    "measured MoE module table covers that release, accelerator, precision and MoE shape "
    "(planner/data/moe_kernels.csv holds DeepSeek-V3/R1's NVFP4 module on B200, GB200, B300 and "
    "GB300, TensorRT-LLM 1.2 and later): the rates there use the per-routed-token cost fitted on "
    "2025 TensorRT-LLM and SGLang runs, as without the release, where NVIDIA's MLPerf v6.0 "
    "DeepSeek-R1 runs on TensorRT-LLM 1.2 ran three of their v5.1 configs, repeated field for "
    "field, 1.5-2.0x faster (GB200 Offline 1.68x, Server 2.01x, GB300 Offline 1.54x: "
    "planner/calibration/serving.yaml mlperf6-* against mlperf51-*; docs/models.md, The "
    "per-routed-token MoE cost on 2026 software)"
)
SECONDS_PER_DAY = 86400.0


def percentile_quantile(text: str) -> float | None:
    """The quantile a percentile names: "p99" -> 0.99, "p99.9" -> 0.999; None unless text is
    p<number> with 50 <= number < 100 and at most one decimal (p50 .. p99.9)."""
    if not text.startswith("p"):
        return None
    digits = text[1:]
    whole, _, frac = digits.partition(".")
    if not whole.isdigit() or len(frac) > 1 or (frac and not frac.isdigit()):
        return None
    if "." in digits and not frac:
        return None
    value = float(digits)
    return round(value / 100.0, 6) if 50.0 <= value < 100.0 else None


def length_percentile_quantile(text: str) -> float | None:
    """The quantile a percentile of a length law names: "p0" -> 0 (the shortest), "p0.5" ->
    0.005, "p100" -> 1 (the longest); None unless text is p<number> with 0 <= number <= 100 and
    at most two decimals."""
    if not text.startswith("p"):
        return None
    whole, dot, frac = text[1:].partition(".")
    if not whole.isdigit() or len(frac) > 2 or (dot and not frac.isdigit()):
        return None
    value = float(text[1:])
    return round(value / 100.0, 6) if 0.0 <= value <= 100.0 else None


class HeadroomSpec(Strict):
    """N+k: the tier keeps serving all of its load after losing k failure domains. rack: a unit
    of the system (an NVL72 rack, an HGX server); k spare units of every pool the tier serves
    from stand by for it. site: the other sites' capacity covers the load of any k lost sites."""

    k: PositiveInt = 1
    domain: Literal["rack", "site"] = "rack"


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
    # What tokens_per_s_per_user bounds: the mean TPOT over requests (default), or a percentile
    # of the requests' TPOTs, "p50" to "p99.9" (MLPerf Inference Server and Interactive bound
    # the p99 of (latency − TTFT) / (output tokens − 1)). With prefill: aggregated, prompt stalls
    # that land on few output tokens make the tail (planner/demand/tpot_tail.py).
    tpot_percentile: str = "mean"
    # Standard deviation of the prompts' lengths, tokens (a dataset's figure). With
    # tpot_percentile and prefill: aggregated each prompt stall is then a gamma of that spread
    # around the mean prompt's (a compound Poisson tail: planner/demand/tpot_tail.py), which
    # widens the TPOT quantile. Default none: every prompt stalls as the mean prompt.
    prompt_tokens_stdev: PositiveFloat | None = None
    # Output tokens at percentiles of the requests, e.g. {p0: 3, p1: 192, p5: 210, p50: 753,
    # p100: 1830} (a dataset's figures; keys p0 to p100). With tpot_percentile and prefill:
    # aggregated the TPOT tail's output lengths follow this law (linear between the points,
    # scaled to mean output_tokens; planner/demand/tpot_tail.py) instead of the geometric of
    # output_tokens: the short requests make the tail. Default none: the geometric.
    output_tokens_percentiles: dict[str, Annotated[float, Field(ge=1)]] | None = None
    # interactive: batches sized for tokens_per_s_per_user; offline: no latency target, batches
    # limited by HBM only (MLPerf Offline, batch jobs).
    mode: Literal["interactive", "offline"] = "interactive"
    # Where prompts are prefilled: on their own instances (disaggregated, the default: DistServe,
    # Zhong et al. 2024; Splitwise; DeepSeek-V3 report section 3.4; the LP rates prefill as its own
    # role), or chunked into the decode steps of the same instance (aggregated: TensorRT-LLM
    # in-flight batching, vLLM chunked prefill), whose prefill chunks then lengthen each TPOT.
    prefill: Literal["disaggregated", "aggregated"] = "disaggregated"
    # Aggregated prefill only: false = each prompt is prefilled whole in one iteration
    # (TensorRT-LLM enable_chunked_context: False), stalling that decode step; on an MoE layout
    # with attention data parallelism its attention and dense layers run on its own attention
    # replica while the others wait at the expert all-to-all. Default true: prompts are chunked
    # over the steps, their work spread over the whole instance.
    chunked_context: bool = True
    # Share of prompt tokens found in a prefix cache (shared system prompts, multi-turn history):
    # they are not prefilled again (their KV is still stored). Default 0: no cache.
    prompt_cache_hit: Annotated[float, Field(ge=0, lt=1)] = 0.0
    # Compile-time prompt lengths of a static-shape serving stack (NxD Inference
    # context_encoding_buckets on Trainium, fixed-shape engines), ascending, in tokens: a prompt
    # is computed at the smallest bucket >= its length, the rest padding (its compute, TP
    # all-reduces and attention context are those of the bucket); a prompt longer than the
    # largest bucket runs as passes of the largest bucket (chunked). It sets the prefill rate,
    # TTFT and the aggregated prefill chunk. Default: none (prompts computed at their length).
    prefill_buckets_tokens: list[PositiveInt] | None = None
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
    # N+k across failure domains: {k: 1, domain: rack} holds one spare unit in every pool the
    # tier serves from; {k: 2, domain: site} survives the loss of any two sites.
    headroom: HeadroomSpec | None = None
    # Prefill may run at another site than its decode (needs prefill: disaggregated): the KV
    # cache of each prompt (requests/s x prompt tokens x KV bytes per token) then crosses the
    # links, priced per TB and within their capacity. With ttft_p99 give kv_hop_budget: the part
    # of the target the hop may take (path latency + one prompt's KV over the narrowest link);
    # the queue is sized for ttft_p99 - kv_hop_budget and only pairs within the budget are used.
    disaggregate_across_sites: bool = False
    kv_hop_budget_s: PositiveDuration | None = Field(None, alias="kv_hop_budget")
    # The serving engine's configured batch limits (TensorRT-LLM max_batch_size / MLPerf
    # gpu_batch_size, vLLM max_num_seqs, SGLang max_running_requests): the decode batch of an
    # instance is at most min(max_sequences, max_sequences_per_accelerator x its chips), and
    # the KV held, the step and the queue's decode slots follow it. None: no cap (the batch is
    # as HBM and the TPOT budget allow).
    engine: EngineSpec | None = None

    @field_validator("tpot_percentile")
    @classmethod
    def _percentile(cls, value: str) -> str:
        if value != "mean" and percentile_quantile(value) is None:
            raise ValueError(
                f"{value!r} is not a TPOT percentile: give mean, or p50 to p99.9 (e.g. p99: "
                "the TPOT of 99% of requests meets tokens_per_s_per_user)"
            )
        return value

    @field_validator("output_tokens_percentiles")
    @classmethod
    def _output_percentiles(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return value
        if not value:
            raise ValueError(
                "give output tokens at one or more percentiles, e.g. {p1: 192, p50: 753, "
                "p100: 1830}, or leave output_tokens_percentiles out (geometric lengths)"
            )
        bad = [k for k in value if length_percentile_quantile(k) is None]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not a percentile of output lengths: give p0 (the shortest) to "
                "p100 (the longest), e.g. p1 or p99.5"
            )
        ordered = sorted(value.items(), key=lambda kv: length_percentile_quantile(kv[0]) or 0.0)
        for (k1, v1), (k2, v2) in itertools.pairwise(ordered):
            if v2 < v1:
                raise ValueError(
                    f"output tokens must not fall as the percentile rises: {k1} {v1:g} > "
                    f"{k2} {v2:g}"
                )
        return value

    @field_validator("prefill_buckets_tokens")
    @classmethod
    def _buckets(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            if not value:
                raise ValueError(
                    "give at least one bucket (prompt lengths in tokens), or leave "
                    "prefill_buckets_tokens out (no buckets)"
                )
            if any(later <= earlier for earlier, later in itertools.pairwise(value)):
                raise ValueError(
                    f"buckets must be strictly ascending, e.g. [2048, 4096, 8192]; got {value}"
                )
        return value

    @model_validator(mode="after")
    def _buckets_and_cache(self) -> InferenceSpec:
        if self.prefill_buckets_tokens is not None and self.prompt_cache_hit > 0:
            raise ValueError(
                "prefill_buckets_tokens with prompt_cache_hit is not modelled (which part of a "
                "prompt a bucket pads when a prefix is cached); give one of the two"
            )
        return self

    @model_validator(mode="after")
    def _headroom(self) -> InferenceSpec:
        if self.survive_site_loss and self.headroom is not None:
            raise ValueError(
                "survive_site_loss is headroom {k: 1, domain: site}: give one of the two"
            )
        return self

    @model_validator(mode="after")
    def _chunked_context(self) -> InferenceSpec:
        if not self.chunked_context and self.prefill != "aggregated":
            raise ValueError(
                "chunked_context: false is for prefill: aggregated (disaggregated prefill runs on "
                "its own instances and stalls no decode step)"
            )
        return self

    @model_validator(mode="after")
    def _across_sites(self) -> InferenceSpec:
        if self.disaggregate_across_sites and self.prefill != "disaggregated":
            raise ValueError(
                "disaggregate_across_sites needs prefill: disaggregated (aggregated prefill runs "
                "inside the decode steps, on the same instance)"
            )
        if self.kv_hop_budget_s is not None and not self.disaggregate_across_sites:
            raise ValueError("kv_hop_budget is for disaggregate_across_sites: true")
        if self.disaggregate_across_sites and self.ttft_p99_s is not None:
            if self.kv_hop_budget_s is None:
                raise ValueError(
                    "with ttft_p99, disaggregate_across_sites needs kv_hop_budget (the part of "
                    "ttft_p99 a hop to another site may take, e.g. 50 ms)"
                )
            if self.kv_hop_budget_s >= self.ttft_p99_s:
                raise ValueError("kv_hop_budget must be less than ttft_p99")
        return self

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
        if self.prompt_tokens_stdev is not None and (
            self.tpot_percentile == "mean" or self.prefill != "aggregated"
        ):
            raise ValueError(
                "prompt_tokens_stdev sets the spread of the prompt stalls in a TPOT percentile: "
                "give tpot_percentile (e.g. p99) and prefill: aggregated, or leave it out"
            )
        if self.output_tokens_percentiles is not None and (
            self.tpot_percentile == "mean" or self.prefill != "aggregated"
        ):
            raise ValueError(
                "output_tokens_percentiles sets the output lengths of a TPOT percentile's tail: "
                "give tpot_percentile (e.g. p99) and prefill: aggregated, or leave it out"
            )
        if self.mode == "offline" and self.tpot_percentile != "mean":
            raise ValueError(
                "tpot_percentile says what tokens_per_s_per_user bounds: not with mode: offline"
            )
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
    def prefill_buckets(self) -> tuple[int, ...] | None:
        """prefill_buckets_tokens as a tuple (hashable: the physics memoises on it); None."""
        return None if self.prefill_buckets_tokens is None else tuple(self.prefill_buckets_tokens)

    @property
    def tpot_quantile(self) -> float | None:
        """The quantile of TPOT over requests the target bounds (p99: 0.99); None: the mean."""
        return None if self.tpot_percentile == "mean" else percentile_quantile(self.tpot_percentile)

    @property
    def prompt_tokens_cv(self) -> float:
        """prompt_tokens_stdev / prompt_tokens, the prompts' coefficient of variation (0 without
        the field: every prompt the mean's)."""
        if self.prompt_tokens_stdev is None:
            return 0.0
        return self.prompt_tokens_stdev / self.prompt_tokens

    @property
    def output_law(self) -> tuple[tuple[float, float], ...] | None:
        """output_tokens_percentiles as (quantile, tokens) pairs by ascending quantile (hashable:
        the physics memoises on it); None without them (geometric output lengths)."""
        if self.output_tokens_percentiles is None:
            return None
        pairs = (
            (length_percentile_quantile(k) or 0.0, float(v))
            for k, v in self.output_tokens_percentiles.items()
        )
        return tuple(sorted(pairs))

    @property
    def engine_caps(self) -> tuple[int | None, int | None]:
        """(max_sequences, max_sequences_per_accelerator) of `engine` (None, None without it)."""
        if self.engine is None:
            return None, None
        return self.engine.max_sequences, self.engine.max_sequences_per_accelerator

    @property
    def engine_graph_sizes(self) -> tuple[int, ...] | None:
        """engine.cuda_graph_batch_sizes ascending, without repeats (None without them)."""
        if self.engine is None or not self.engine.cuda_graph_batch_sizes:
            return None
        return tuple(sorted(set(self.engine.cuda_graph_batch_sizes)))

    @property
    def engine_release(self) -> str | None:
        """engine.tensorrt_llm_version (None without it)."""
        return self.engine.tensorrt_llm_version if self.engine is not None else None

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
    "prefill" (requests/day · prompt · (1 − prompt_cache_hit) · peak_to_average · days served,
    tied to "decode": Role.prefill_of), anywhere, a steady load over [start, horizon]; days
    served are weighted by the load's growth since the launch."""
    from planner.demand.inference import inference_rates
    from planner.demand.kv import kv_sequence_bytes

    if spec.model is None:
        raise ValueError(f"{name}: model_from serving is built by sized_demand")
    days = growth_integral(spec.growth_per_year, 0.0, horizon_s - spec.start_s) / SECONDS_PER_DAY
    # With a hop to another site allowed, the queue is sized for what the hop leaves of the target.
    sized = spec
    if spec.ttft_p99_s is not None and spec.kv_hop_budget_s is not None:
        sized = spec.model_copy(update={"ttft_p99_s": spec.ttft_p99_s - spec.kv_hop_budget_s})
    rates = {s: inference_rates(sized, catalog, s) for s in systems}
    scale = spec.requests_per_day * spec.peak_to_average * days
    kv_per_request = kv_sequence_bytes(catalog.models[spec.model], spec.kv, spec.prompt_tokens)
    return WorkloadDemand(
        name=name,
        kind=NAME,
        steady_load=True,
        survive_site_loss=spec.survive_site_loss or _domain(spec) == "site",
        sites_lost=spec.headroom.k if _domain(spec) == "site" and spec.headroom else 1,
        racks_lost=spec.headroom.k if _domain(spec) == "rack" and spec.headroom else 0,
        kv_hop_budget_s=spec.kv_hop_budget_s,
        prefill_on_decode_pools=spec.prefill == "aggregated",
        growth_per_year=spec.growth_per_year,
        peak_to_average=spec.peak_to_average,
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
                prefill_of=PrefillOf(
                    "decode",
                    kv_bytes=scale * kv_per_request if spec.disaggregate_across_sites else 0.0,
                    kv_bytes_per_request=kv_per_request,
                ),
            ),
        ],
        notes=[
            f"provisioned for peak: x{spec.peak_to_average:g} over {days:g} days"
            + (f"; {spec.votes} votes share each prompt" if spec.votes > 1 else "")
        ],
        caveats=_moe_caveats(name, spec, catalog, systems)
        + _estimated_serving(name, spec.precision, catalog, systems)
        + _load_caveats(name, spec),
    )


def _load_caveats(name: str, spec: InferenceSpec) -> list[Caveat]:
    """NO_TTFT_CAVEAT without ttft_p99, AVERAGE_LOAD_CAVEAT at peak_to_average 1."""
    out = [] if spec.ttft_p99_s is not None else [Caveat(NO_TTFT_CAVEAT, name)]
    return out + ([Caveat(AVERAGE_LOAD_CAVEAT, name)] if spec.peak_to_average == 1 else [])


def _moe_caveats(
    name: str, spec: InferenceSpec, catalog: Catalog, systems: list[str]
) -> list[Caveat]:
    """What a plan says of an MoE workload's serving rates: the 2025 fit without a named
    TensorRT-LLM release; with one, the measured module on the systems a table covers
    (moe_kernels.covers) and, on the others, that none does (the parametric terms, unchanged)."""
    from planner.demand.common import hardware
    from planner.demand.moe_kernels import covers

    arch = catalog.models[spec.model] if spec.model is not None else None
    label = f"{name} ({spec.model})"
    if arch is None or arch.moe is None:
        return []
    release = spec.engine_release
    if release is None:
        return [Caveat(MOE_SERVING_CAVEAT, label)]
    covered: list[str] = []
    uncovered: list[str] = []
    for s in systems:
        hw = hardware(catalog, s)
        if hw is None:
            continue
        part = hw.system.accelerator or ""
        (covered if covers(part, release, spec.precision, arch) else uncovered).append(s)
    if not covered and not uncovered:
        return [Caveat(MOE_KERNEL_CAVEAT, label)]
    out = [Caveat(MOE_KERNEL_CAVEAT, label, tuple(covered))] if covered else []
    return out + ([Caveat(MOE_NO_TABLE_CAVEAT, label, tuple(uncovered))] if uncovered else [])


def _estimated_serving(
    name: str, precision: str, catalog: Catalog, systems: list[str]
) -> list[Caveat]:
    """The caveats of serving on systems whose serving compute_utilisation at the tier's
    precision is an estimate, or whose accelerator's serving figures state a calibration_limit
    (Caveat)."""
    from planner.demand.common import ESTIMATED_SERVING_CAVEAT, estimated_systems, serving_limits

    estimated = estimated_systems(catalog, systems, "serving", "compute_utilisation", precision)
    out = [Caveat(ESTIMATED_SERVING_CAVEAT, name, estimated)] if estimated else []
    return out + [Caveat(text, name, named) for text, named in serving_limits(catalog, systems)]


def sized_demand(
    name: str,
    spec: InferenceSpec,
    source: tuple[str, PretrainSpec],
    catalog: Catalog,
    systems: list[str],
    horizon_s: float,
) -> WorkloadDemand:
    """Serving the model that sizing workload `source` chooses: roles decode@c and prefill@c for
    every candidate c (each as `demand` builds it for c's model, prefill@c tied to decode@c with
    c's KV bytes), tied to c's binary k[v,c]; its caveats are every candidate's (one candidate's
    MoE model or estimated figure is enough for the plan to state it)."""
    from planner.kinds.pretrain import sizing_candidates

    cands, generated = sizing_candidates(source[0], source[1], catalog)
    catalog = with_models(catalog, generated)
    roles: list[Role] = []
    caveats: list[Caveat] = []
    base: WorkloadDemand | None = None
    for c in cands:
        # a test-time substitute candidate (target.votes) multiplies the load's own votes
        one = spec.model_copy(
            update={"model": c.model, "model_from": None, "votes": spec.votes * c.votes}
        )
        base = demand(name, one, catalog, systems, horizon_s)
        choice = (source[0], c.label)
        caveats += [k for k in base.caveats if k not in caveats]
        roles += [
            dataclasses.replace(
                r,
                name=candidate_role(r.name, c.label),
                choice=choice,
                prefill_of=None
                if r.prefill_of is None
                else dataclasses.replace(
                    r.prefill_of, decode=candidate_role(r.prefill_of.decode, c.label)
                ),
            )
            for r in base.roles
        ]
    assert base is not None
    notes = [f"serves the candidate {source[0]} chooses: {', '.join(c.label for c in cands)}"]
    return dataclasses.replace(base, roles=roles, notes=base.notes + notes, caveats=caveats)


def headroom_problems(workloads: dict[str, object], sites: list[str]) -> list[tuple[Loc, str]]:
    """Per inference workload, a site headroom of more sites than the topology has, as (loc
    from the scenario root, message): the LP's lost-site sets (k of the sites) would be none,
    so the tier would be planned with no site headroom at all and reported as N+k (before
    session 24: k 1000 on 3 sites served from one site, "headroom N+1000 sites"). k equal to
    the number of sites is left to the solve, which diagnoses it as infeasible."""
    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        if not isinstance(spec, InferenceSpec) or _domain(spec) != "site":
            continue
        assert spec.headroom is not None
        if spec.headroom.k > len(sites):
            out.append(
                (
                    ("workloads", name, "headroom", "k"),
                    f"{spec.headroom.k} sites lost, but the topology has {len(sites)} "
                    f"({', '.join(sites)}): give k below the number of sites",
                )
            )
    return out


def context_problems(workloads: dict[str, object], catalog: Catalog) -> list[tuple[Loc, str]]:
    """Per inference workload on a catalog model that states its context window
    (context_tokens), a sequence (prompt + output tokens; each vote is one) longer than it, as
    (loc from the scenario root, message). Before session 24 a 1,000 + 200,000-token chat tier
    on llama-3.1-70b (131,072) was planned, its KV cache sized for sequences the model cannot
    attend over."""
    out: list[tuple[Loc, str]] = []
    for name, spec in workloads.items():
        if not isinstance(spec, InferenceSpec) or spec.model not in catalog.models:
            continue
        window = catalog.models[spec.model].context_tokens
        tokens = spec.prompt_tokens + spec.output_tokens
        if window is not None and tokens > window:
            out.append(
                (
                    ("workloads", name, "output_tokens"),
                    f"prompt {spec.prompt_tokens:,} + output {spec.output_tokens:,} = "
                    f"{tokens:,} tokens a sequence, past {spec.model}'s context window of "
                    f"{window:,} (catalog context_tokens)",
                )
            )
    return out


def _domain(spec: InferenceSpec) -> str | None:
    return spec.headroom.domain if spec.headroom is not None else None


# -- its part of the LP ---------------------------------------------------------------------


def kv_hop_s(topo: Topology, kv_bytes_per_request: float, a: str, b: str) -> float | None:
    """Seconds a prompt's KV takes from prefill site a to decode site b, added to its TTFT:
    path latency + kv_bytes_per_request / the narrowest link's capacity. None: no path."""
    path = topo.path(a, b)
    if path is None or a == b:
        return None if path is None else 0.0
    bottleneck = min(topo.link(i).capacity_bytes_per_s for i in path)
    latency = sum(topo.link(i).latency_s for i in path)
    return latency + kv_bytes_per_request / bottleneck


def kv_pairs(model: Model, demand: WorkloadDemand, prefill: Role) -> list[tuple[str, str]]:
    """Ordered site pairs (prefill at a, decode at b) a tier's prefill role may use: joined by a
    path whose hop (with that role's model's KV per prompt) fits the tier's kv_hop_budget (any
    hop without a TTFT target); none unless its prompts may cross sites."""
    tied = prefill.prefill_of
    if tied is None or tied.kv_bytes <= 0:
        return []
    topo = model.scenario.topology
    out = []
    for a in model.sites:
        for b in model.sites:
            hop = kv_hop_s(topo, tied.kv_bytes_per_request, a, b) if a != b else None
            budget = demand.kv_hop_budget_s
            if hop is not None and (budget is None or hop <= budget):
                out.append((a, b))
    return out


def _tier_periods(model: Model) -> Iterator[tuple[WorkloadDemand, Role, Role, Period, float]]:
    """(tier, a decode role, the role that prefills its prompts, an active period, the period's
    share of the load) for every prefill pair (WorkloadDemand.prefill_pairs: a plain tier's
    decode and prefill, a model_from tier's decode@c and prefill@c for every candidate c) of the
    serving tiers with prefill on their own instances (disaggregated). Aggregated tiers' pairs
    are held per pool by the shared `aggregate` family (planner/lp/constraints.py), as RL
    generation's are."""
    for demand in model.demands:
        if demand.kind != NAME or demand.prefill_on_decode_pools:
            continue
        for decode, prefill in demand.prefill_pairs():
            for period in model.periods:
                if active(period, demand):
                    share = demand.load_between(period.start_s, period.end_s)
                    yield demand, decode, prefill, period, share


@family("colocate", "workload:role:datacenter:period", kind=NAME)
def add_colocate(model: Model) -> None:
    """sum_s u[w,r,d,s,p] · rate · len_p / (amount_r · share_p)
    - sum_s u[w,r',d,s,p] · rate · len_p / (amount_r' · share_p)
    = sum_a x[w,r,a,d,p] - sum_b x[w,r,d,b,p]   for every decode role r and the role r' that
    prefills its prompts (decode and prefill; model_from: decode@c and prefill@c for every
    candidate c, a candidate not chosen with no units and no moves: 0 = 0) (a request's
    prefill runs at the site of its decode: each site serves the same share of both, so no KV
    cache crosses between sites; a tier with disaggregate_across_sites may prefill at a and
    decode at b, x the share of the period's requests that do, their KV on the links: kvflow)"""
    # an aggregated tier's `aggregate` rows (planner/lp/constraints.py), one per pool, hold this
    # one. Built per tier, role pair and period as arrays: each term's site, part (decode,
    # prefill, moves) and coefficient, put in row order (site, then part, then the terms' own
    # order) by one stable sort.
    entities: list[tuple[str, ...]] = []
    counts: list[int] = []
    cols: list[Var] = []
    coefs: list[float] = []
    moves_of: dict[tuple[str, str, int], list[tuple[str, str, Var]]] = {}
    for (w, r, a, b, p), var in model.kv_moves.items():
        moves_of.setdefault((w, r, p), []).append((a, b, var))
    sites = model.sites
    number = {d: i for i, d in enumerate(sites)}
    for demand, decode, prefill, period, share in _tier_periods(model):
        w, p = demand.name, period.index
        dec, dec_site, dec_rate = model.role_period_arrays(w, decode, period, number)
        pre, pre_site, pre_rate = model.role_period_arrays(w, prefill, period, number)
        moved: list[Var] = []
        move_site: list[int] = []
        move_coef: list[float] = []
        for a, b, var in moves_of.get((w, decode.name, p), []):
            if a == b:  # into and out of a: one term, -1
                moved.append(var)
                move_site.append(number[a])
                move_coef.append(-1.0)
            else:
                moved += (var, var)
                move_site += (number[a], number[b])
                move_coef += (1.0, -1.0)
        site = np.concatenate((dec_site, pre_site, np.array(move_site, dtype=np.int64)))
        if not len(site):
            continue
        part = np.repeat(np.arange(3), (len(dec), len(pre), len(moved)))
        coef = np.concatenate(
            (
                dec_rate / (decode.amount * share),
                -(pre_rate / (prefill.amount * share)),
                np.array(move_coef, dtype=float),
            )
        )
        order = np.lexsort((part, site))
        held = dec + pre + moved
        cols += map(held.__getitem__, order.tolist())
        coefs += coef[order].tolist()
        per_site = np.bincount(site, minlength=len(sites)).tolist()
        for d, count in zip(sites, per_site, strict=True):
            if count:
                entities.append((w, decode.name, d, f"p{p}"))
                counts.append(count)
    model.rows("colocate", entities, counts, cols, coefs, "==", [0.0] * len(entities))


def _kv_bytes(demand: WorkloadDemand) -> dict[str, float]:
    """KV bytes over the window of each decode role's prompts, by the decode role's name."""
    return {
        d.name: p.prefill_of.kv_bytes for d, p in demand.prefill_pairs() if p.prefill_of is not None
    }


@family("kvflow", "workload:datacenter:datacenter", kind=NAME)
def add_kvflow(model: Model) -> None:
    """f_kv[a,b] >= sum_r sum_p x[w,r,a,b,p] · kv_bytes_r · share_p / T_w / 1e9   (GB/s: the KV
    cache of the prompts prefilled at a for decode at b, kv_bytes_r = requests x prompt tokens
    x KV bytes per token of decode role r's model over the window (model_from: one r per
    candidate), averaged over it like the other flows; priced per TB and within link capacity by
    the links' families)"""
    by_pair: dict[tuple[str, str, str], list[tuple[str, int, Var]]] = {}
    for (w, r, a, b, p), var in model.kv_moves.items():
        by_pair.setdefault((w, a, b), []).append((r, p, var))
    for flow in model.flows:
        if flow.kind != "kv":
            continue
        demand = next(d for d in model.demands if d.name == flow.workload)
        kv = _kv_bytes(demand)
        moves = [
            (var, -kv[r] * demand.load_between(*_span(model, p)) / demand.window_s / GB)
            for r, p, var in by_pair.get((flow.workload, flow.src, flow.dst), [])
        ]
        model.row("kvflow", (flow.workload, flow.src, flow.dst), [(flow.var, 1.0), *moves], ">=", 0)


@family("kvpeak", "link:period", kind=NAME)
def add_kvpeak(model: Model) -> None:
    """sum_{w,r,a,b: l on path(a,b)} x[w,r,a,b,p] · kv_bytes_{w,r} · share_{w,p} / len_p <=
    capacity_bytes_per_s[l]   (GB/s: the KV cache crossing link l in each period p, at that
    period's rate, within the link's capacity; kvflow and link check the average over the
    window with the other flows, which a growing tier's last periods exceed)"""
    topo = model.scenario.topology
    demands = {d.name: d for d in model.demands}
    kv = {w: _kv_bytes(d) for w, d in demands.items()}
    on_link: dict[tuple[str, int], Pairs] = {}
    for (w, r, a, b, p), var in model.kv_moves.items():
        path = topo.path(a, b)
        if path is None:
            continue
        rate = kv_rate(demands[w], kv[w][r], *_span(model, p))
        for link_id in path:
            on_link.setdefault((link_id, p), []).append((var, rate / GB))
    for (link_id, p), pairs in sorted(on_link.items()):
        cap = topo.link(link_id).capacity_bytes_per_s / GB
        model.row("kvpeak", (link_id, f"p{p}"), pairs, "<=", cap)


def kv_rate(demand: WorkloadDemand, kv_bytes: float, start_s: float, end_s: float) -> float:
    """Bytes/s of KV cache in [start, end) if all of its prompts crossed: kv_bytes (of one
    prefill pair) · the span's share of the window's load / its length."""
    return kv_bytes * demand.load_between(start_s, end_s) / (end_s - start_s)


def _span(model: Model, p: int) -> tuple[float, float]:
    period = model.periods[p]
    return period.start_s, period.end_s


def _explain_site_loss(model: Model, entity: tuple[str, ...], value: float) -> str:
    w, r, lost, _ = entity
    return (
        f"{w}/{r}: without {lost}, the other sites can serve only {1 - value:.1%} of the load "
        "(its site headroom needs them to serve all of it): allow more units elsewhere or add a "
        "site"
    )


def lost_site_sets(sites: list[str], k: int) -> list[tuple[str, ...]]:
    """Every set of k sites a tier with N+k sites must survive losing."""
    return list(itertools.combinations(sites, k))


@family(
    "siteloss",
    "workload:role:datacenters:period",
    kind=NAME,
    slack_unit="fraction of the work",
    explain=_explain_site_loss,
)
def add_site_loss(model: Model) -> None:
    """sum_{d' not in L} sum_s u[w,r,d',s,p] · rate · len_p / (amount_r · share_p) >= 1 for every
    set L of k sites (k = sites_lost: 1 for survive_site_loss, headroom.k for domain site) and
    period p, for a tier that must survive the loss of k sites (N+k across sites: the capacity
    left at the other sites serves all of its load)"""
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
                for lost in lost_site_sets(model.sites, demand.sites_lost):
                    others = set(model.sites) - set(lost)
                    pairs = work_pairs(model, demand, role, others, scale, period)
                    entity = (demand.name, role.name, "+".join(lost), f"p{period.index}")
                    model.row("siteloss", entity, pairs, ">=", 1.0, UNSERVED_WEIGHT)


def declare(model: Model, demand: WorkloadDemand) -> None:
    """b[w,d,s,p] binary for every pool and period the tier could serve from, when it holds
    N+k spare racks (headroom domain rack); x[w,r,a,b,p] in [0, 1] for every decode role r
    (model_from: one per candidate), period and site pair the tier may prefill r's prompts at a
    and decode them at b, with one KV flow a -> b on their path for the tier."""
    if demand.racks_lost > 0:
        roles = {r.name for r in demand.roles}
        pools = sorted({(d, s, p) for (_, _, d, s, p), _ in model.work_of(demand, roles)})
        for d, s, p in pools:
            model.serves[(demand.name, d, s, p)] = model.new_var("b", 0, 1, BINARY)
    linked: list[tuple[str, str]] = []
    for decode, prefill in demand.prefill_pairs():
        pairs = kv_pairs(model, demand, prefill)
        for a, b in pairs:
            for period in model.periods:
                if active(period, demand):
                    key = (demand.name, decode.name, a, b, period.index)
                    model.kv_moves[key] = model.new_var("x", 0, 1)
        linked += [pair for pair in pairs if pair not in linked]
    topo = model.scenario.topology
    for a, b in linked:
        path = topo.path(a, b)
        assert path is not None
        model.flows.append(Flow("kv", demand.name, a, b, path, model.new_var("f", 0)))


@family("spares", "workload:role:datacenter:system:period", kind=NAME)
def add_spares(model: Model) -> None:
    """u[w,r,d,s,p] <= M[r,d,s,p] · b[w,d,s,p]   (N+k racks: a tier serves from a pool only if
    b = 1, and then the units family holds k spare units of that pool for it, so losing any k of
    the pool's units leaves the units it serves with; M = min(max_units, amount_r · share_p /
    (rate · len_p)), the units that serve all of the period's load from that pool: a plan that
    serves more than the load in a period serves it at no more cost when scaled down to it, so
    the bound cuts off no optimum, and with it the LP relaxation holds b near the share of the
    load the pool serves instead of a small fraction of it)"""
    for demand in model.demands:
        if demand.kind != NAME or demand.racks_lost <= 0:
            continue
        roles = {r.name: r for r in demand.roles}
        for (w, r, d, s, p), var in model.work_of(demand, set(roles)):
            m = period_big_m(model, demand, roles[r], d, s, p)
            b = model.serves[(w, d, s, p)]
            model.row("spares", (w, r, d, s, f"p{p}"), [(var, 1.0), (b, -m)], "<=", 0.0)


@family("servefrom", "workload:period", kind=NAME)
def add_servefrom(model: Model) -> None:
    """sum_{d,s} b[w,d,s,p] >= 1 in every period p of the window, for a tier with N+k racks (it
    serves from at least one pool: implied by serve and spares in a whole-unit plan, so the serve
    rule verifies it; stated so that the LP relaxation holds at least one pool's k spares per
    period and the solver can cut on it). Left out of the elastic model (diagnosis), where the
    load may go unserved."""
    if model.elastic:
        return
    by_period: dict[tuple[str, int], Pairs] = {}
    for (w, _, _, p), b in model.serves.items():
        by_period.setdefault((w, p), []).append((b, 1.0))
    for (w, p), pairs in sorted(by_period.items()):
        model.row("servefrom", (w, f"p{p}"), pairs, ">=", 1.0)


def period_big_m(model: Model, demand: WorkloadDemand, role: Role, d: str, s: str, p: int) -> float:
    """The units of (d, s) that serve all of period p's load of role r: min(max_units,
    amount_r · share_p / (rate · len_p)), share_p the period's share of the window's load."""
    period = model.periods[p]
    rate = role.rates[s].per_unit_s
    load = role.amount * demand.load_between(period.start_s, period.end_s)
    cap = float(model.max_units((d, s)))
    if rate > 0 and period.length_s > 0:
        return min(cap, load / (rate * period.length_s))
    return cap


def read_serving(model: Model, allocations: list[AllocationRow]) -> list[ServingRow]:
    """Per serving tier: where prefill runs (at the site of its decode unless it may cross
    sites), the prefill:decode unit-seconds, KV shares, flows and hops, its headroom and the
    spare units it holds."""
    out = []
    spans = {p.index: (p.start_s, p.end_s) for p in model.periods}
    for demand in model.demands:
        if not demand.steady_load:
            continue
        spec = model.scenario.data.workloads[demand.name]
        pairs = demand.prefill_pairs()
        decodes = {d.name for d, _ in pairs}
        prefills = {p.name for _, p in pairs}
        unit_s = {"decode": 0.0, "prefill": 0.0}
        for a in allocations:
            if a.workload == demand.name and a.role in decodes | prefills:
                unit_s["decode" if a.role in decodes else "prefill"] += a.units * a.period_s
        named = several_pairs(demand)
        shares = {
            kv_share_key(a, b, p, r if named else None): float(x.varValue or 0.0)
            for (w, r, a, b, p), x in model.kv_moves.items()
            if w == demand.name and (x.value() or 0.0) > KV_SHARE_ZERO
        }
        flows = kv_flows(demand, shares, spans)
        topo = model.scenario.topology
        # the hop of each site pair used: the longest of the prefill pairs' that move prompts
        per_request = {
            d.name: p.prefill_of.kv_bytes_per_request for d, p in pairs if p.prefill_of is not None
        }
        hops: dict[str, float] = {}
        for (w, r, src, dst, _), x in model.kv_moves.items():
            if w == demand.name and (x.value() or 0.0) > KV_SHARE_ZERO:
                hop = kv_hop_s(topo, per_request[r], src, dst) or 0.0
                hops[f"{src}->{dst}"] = max(hops.get(f"{src}->{dst}", 0.0), hop)
        placed = spec.prefill if isinstance(spec, InferenceSpec) else "disaggregated"
        out.append(
            ServingRow(
                workload=demand.name,
                prefill=_prefill_text(placed, bool(shares)),
                prefill_to_decode_units=unit_s["prefill"] / unit_s["decode"]
                if unit_s["decode"] > 0
                else 0.0,
                kv_shares=shares,
                kv_flows_bytes_per_s={f"{a}->{b}": v for (a, b), v in flows.items()},
                kv_hop_s={f"{a}->{b}": hops.get(f"{a}->{b}", 0.0) for a, b in flows},
                headroom=_headroom_text(demand),
                # k · b: k in an integer plan, a share of k in the LP relaxation
                spare_units={
                    f"{d}/{s}/p{p}": demand.racks_lost * (b.value() or 0.0)
                    for (w, d, s, p), b in model.serves.items()
                    if w == demand.name and (b.value() or 0.0) > KV_SHARE_ZERO
                },
            )
        )
    return out


# Shares of a period's requests below this are solver noise, not requests moved.
KV_SHARE_ZERO = 1e-9


def _prefill_text(placed: str, crosses: bool) -> str:
    if placed != "disaggregated":
        return "in the decode steps"
    return "at other sites for some requests" if crosses else "co-located with its decode"


def _headroom_text(demand: WorkloadDemand) -> str:
    if demand.racks_lost > 0:
        return f"N+{demand.racks_lost} racks"
    if demand.survive_site_loss:
        return f"N+{demand.sites_lost} sites"
    return "none"


def kv_text(row: ServingRow) -> str:
    """The KV flows between sites as the reports print them: Gbps and the hop per pair."""
    flows = [
        f"{pair} {v * 8 / 1e9:,.1f} Gbps (hop {row.kv_hop_s[pair] * 1e3:,.0f} ms)"
        for pair, v in row.kv_flows_bytes_per_s.items()
    ]
    return ", ".join(flows) or "0 Gbps"


def spares_text(row: ServingRow, periods: list[PeriodRow]) -> str:
    """The spare units held for N+k racks, per datacenter/system with the days they are held,
    consecutive periods as one span: "dc-east/gb200-nvl72 1 on days 0-90, 150-365" ("" when
    none). Before session 24 the spans were period indexes ("in p2"), which the report defines
    nowhere (its allocations are in days)."""
    span = {p.period: (p.start_s, p.end_s) for p in periods}
    pools: dict[tuple[str, float], list[int]] = {}
    for key, units in row.spare_units.items():
        pool, p = key.rsplit("/", 1)
        pools.setdefault((pool, units), []).append(int(p[1:]))
    return ", ".join(
        f"{pool} {units:g} on days {_day_ranges(sorted(held), span)}"
        for (pool, units), held in pools.items()
    )


def _day_ranges(held: list[int], span: dict[int, tuple[float, float]]) -> str:
    runs: list[list[int]] = []
    for p in held:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return ", ".join(
        f"{span[r[0]][0] / SECONDS_PER_DAY:g}-{span[r[-1]][1] / SECONDS_PER_DAY:g}" for r in runs
    )


def report_lines(plan: Plan) -> list[str]:
    """Serving placement: prefill with its decode or the KV flows between sites (with the hop
    added to TTFT), the prefill:decode unit ratio, and each tier's failure headroom."""
    if not plan.serving:
        return []
    out = ["\nServing placement"]
    for r in plan.serving:
        spares = spares_text(r, plan.periods)
        out.append(
            f"  {r.workload}: prefill {r.prefill}; prefill:decode units "
            f"{r.prefill_to_decode_units:.2f}; KV between sites: {kv_text(r)}; "
            f"headroom {r.headroom}" + (f"; spare units: {spares}" if spares else "")
        )
    return out
