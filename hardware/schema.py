"""Typed catalog entries: accelerators, CPUs, systems (the unit bought or rented), model
architectures. YAML keys are unit-free (`power: 700 W`); attributes carry SI units (`power_w`).

Every entry names a `source:` for its figures; `sources:` may name a different source for a
single figure (`sources: {power: "MLPerf v4.1 measured average"}`). `ranges:` gives a low/high
range for a figure (keyed like `sources:`, dotted for nested figures, values written like the
figure: `ranges: {capex_usd: {low: 250000, high: 400000, source: "..."}, power: {low: 9 kW,
high: 11 kW, source: "..."}}`); every figure whose source says "estimate" carries one, and
`planner sensitivity` re-solves at each end.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fleetcore.schema import (
    BYTES_PER_VALUE,
    Date,
    Fraction,
    Name,
    NonNegInt,
    PositiveInt,
    Precision,
    Strict,
    Usd,
    _at_most,
)
from fleetcore.units import Bandwidth, Bytes, Count, Duration, Flops, Power

PositiveFlops = Annotated[Flops, Field(gt=0)]
PositiveBytes = Annotated[Bytes, Field(gt=0)]
PositiveBandwidth = Annotated[Bandwidth, Field(gt=0)]
# A part or unit past 1 GW, or a lifetime under a day or past a century, is a figure in the
# wrong unit: an error on its catalog line (it reached the solver as "a cost coefficient of
# 4.3e+32" on the scenario's line 1).
MAX_POWER_W = 1e9
PositivePower = Annotated[Power, Field(gt=0), _at_most(MAX_POWER_W, "W")]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def _lifetime(value: float) -> float:
    if not 86400.0 <= value <= 100 * 365.25 * 86400:
        raise ValueError(
            f"a lifetime of {value / 86400:.3g} days: give one from 1 day to 100 years "
            "(check the unit)"
        )
    return value


Lifetime = Annotated[Duration, AfterValidator(_lifetime)]
PositiveCount = Annotated[Count, Field(gt=0)]
Source = Annotated[str, Field(min_length=3)]
HalfWidth = Annotated[float, Field(gt=0)]


def _number_or_mapping(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "number"


# One number for every precision or a mapping per precision (gemm_half_width); the discriminator
# keeps a bad value's message to the form it was written in.
HalfWidthFigure = Annotated[
    Annotated[HalfWidth, Tag("number")] | Annotated[dict[Precision, HalfWidth], Tag("mapping")],
    Discriminator(_number_or_mapping),
]


class FigureRange(Strict):
    """The plausible low and high ends of one figure, written like the figure ('9 kW', 250000),
    and where that range comes from."""

    low: Any
    high: Any
    source: Source


class Sourced(Strict):
    source: Source
    sources: dict[str, Source] = Field(default_factory=dict)
    ranges: dict[str, FigureRange] = Field(default_factory=dict)

    def figure(self, key: str) -> tuple[Any, Any]:
        """(annotation, value) of a figure by its dotted YAML key (`capex_usd`,
        `training.comm_overlap`, `training.gemm_efficiency.bf16`). Raises KeyError."""
        return _figure(self, key.split("."))

    def range_of(self, key: str) -> tuple[float, float, float]:
        """(low, default, high) of a figure with a range, in SI units (parsed like the figure)."""
        annotation, value = self.figure(key)
        rng = self.ranges[key]
        adapter = _adapter(annotation)
        return (
            float(adapter.validate_python(rng.low)),
            float(value),
            float(adapter.validate_python(rng.high)),
        )

    def source_of(self, figure: str) -> str:
        """The source of one figure (by YAML key, dotted for nested ones such as
        `reliability.restart` or `peak_flops.bf16`): the most specific entry of `sources`,
        else the entry's `source`."""
        return self.source_chain(figure)[0][1]

    def source_chain(self, figure: str) -> list[tuple[tuple[str, ...], str]]:
        """Every source that may answer for one figure, as (YAML location under this entry,
        text), the one `source_of` quotes first: `sources` by the most specific key, then a
        nested block's own chain (`training:`, `reliability:`), then the entry's `source`.
        hardware/catalog.py walks it to find the source written in the file that set the
        figure (a catalog overlay)."""
        parts = figure.split(".")
        out: list[tuple[tuple[str, ...], str]] = []
        for i in range(len(parts), 0, -1):
            key = ".".join(parts[:i])
            if key in self.sources:
                out.append((("sources", key), self.sources[key]))
        # A nested block with sources of its own (`training:`, `reliability:`) answers for its
        # figures.
        fields: dict[str, Any] = getattr(type(self), "model_fields", {})
        for name, info in fields.items():
            if parts[0] in (name, info.alias) and len(parts) > 1:
                block = getattr(self, name, None)
                if isinstance(block, Sourced):
                    inner = block.source_chain(".".join(parts[1:]))
                    out += [((parts[0], *loc), text) for loc, text in inner]
                    break
        # last, the entry's own `source` (after a nested block's, which always has one)
        return [*out, (("source",), self.source)]

    @model_validator(mode="after")
    def _sources_name_figures(self) -> Sourced:
        for key in self.sources:
            if not _names_a_figure(type(self), key.split(".")):
                raise ValueError(f"sources names {key!r}, which is not a figure of this entry")
        return self

    @model_validator(mode="after")
    def _ranges_hold_their_figures(self) -> Sourced:
        """Each range names a numeric figure, its ends parse like the figure, and low <= high.
        (low <= default <= high is checked in hardware/catalog.py where the range and the
        figure come from the same file: a user's price overlay may move a default outside the
        shipped range.)"""
        for key in self.ranges:
            if not _names_a_figure(type(self), key.split(".")):
                raise ValueError(f"ranges names {key!r}, which is not a figure of this entry")
            try:
                _, value = self.figure(key)
            except KeyError:
                continue  # a block an overlay removed (training: null): nothing to check
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"ranges names {key!r}, which is not a number set in this entry")
            try:
                low, default, high = self.range_of(key)
            except ValidationError as exc:
                detail = "; ".join(e["msg"] for e in exc.errors())
                raise ValueError(
                    f"ranges.{key}: low/high must be written like the figure: {detail}"
                ) from None
            if not low <= high:
                raise ValueError(f"ranges.{key}: need low <= high, got {low:g} > {high:g}")
        return self


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per figure type, made on first use: making one builds a pydantic schema
    (~0.3 ms), and loading the catalog checks ~230 ranges twice."""
    adapter = _ADAPTERS.get(annotation)
    if adapter is None:
        adapter = _ADAPTERS[annotation] = TypeAdapter(annotation)
    return adapter


def _figure(entry: BaseModel, parts: list[str]) -> tuple[Any, Any]:
    """(annotation, value) of the dotted figure `parts` under `entry` (by YAML key)."""
    fields = {f.alias or name: (name, f) for name, f in type(entry).model_fields.items()}
    if parts[0] not in fields or parts[0] in ("source", "sources", "ranges"):
        raise KeyError(".".join(parts))
    name, info = fields[parts[0]]
    value = getattr(entry, name)
    if len(parts) == 1:
        # pydantic keeps Annotated metadata (units, bounds) apart from the bare annotation.
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        return annotation, value
    if isinstance(value, BaseModel):
        return _figure(value, parts[1:])
    if isinstance(value, dict) and len(parts) == 2 and parts[1] in value:
        mapping = info.annotation
        # A figure written as a number or a per-precision mapping (gemm_half_width): the
        # mapping's arm of the union.
        for arm in get_args(mapping):
            base = get_args(arm)[0] if get_origin(arm) is Annotated else arm
            if get_origin(base) is dict:
                mapping = base
        args: tuple[Any, ...] = getattr(mapping, "__args__", ())
        return (args[-1] if len(args) == 2 else Any), value[parts[1]]
    raise KeyError(".".join(parts))


def _names_a_figure(model: type[BaseModel], parts: list[str]) -> bool:
    """True if the dotted key names a field (by YAML key) of the model, or of a nested model;
    a dict-valued figure (peak_flops) accepts any sub-key."""
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    head = fields.get(parts[0])
    if head is None or parts[0] in ("source", "sources", "ranges"):
        return False
    if len(parts) == 1:
        return True
    nested = head.annotation
    for candidate in getattr(nested, "__args__", (nested,)):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return _names_a_figure(candidate, parts[1:])
    return getattr(nested, "__origin__", None) is dict or "dict" in str(nested)


class AcceleratorTraining(Sourced):
    """How fast an accelerator runs training kernels (read by planner/demand/training.py).

    GEMM time = FLOPs / (peak(p) · gemm_efficiency[p] · shape), shape =
    M/(M + gemm_half_tokens) · K/(K + gemm_half_width[p]) with M the tokens in the GEMM and K the
    per-accelerator weight width (hidden / TP). gemm_half_width is one number for every
    precision or a mapping per precision (then it names every precision of gemm_efficiency):
    measured GEMMs at FP8/FP4 need a wider K than at BF16 to reach their large-GEMM rate.
    Attention (flash attention, forward + backward)
    runs at attention_efficiency of the BF16 peak; memory-bound work (norms, activations,
    residuals, optimizer) at memory_bandwidth_utilisation of the HBM bandwidth; collectives at
    collective_efficiency of the link bandwidth (per direction). expert_gemm_fraction: an MoE
    model's routed-expert grouped GEMMs at this share of a dense GEMM of their shape, per
    precision (a precision of gemm_efficiency; one not listed runs at the dense rate, 1); a
    fitted figure, its source naming the rows. calibration_limit: what the
    measured runs say against these figures, in words, where they disagree; every plan that
    trains on a system with this accelerator states it (planner/kinds/pretrain.py, rl.py)."""

    gemm_efficiency: dict[Precision, Fraction] = Field(min_length=1)
    gemm_half_tokens: Annotated[float, Field(gt=0)]
    gemm_half_width: HalfWidthFigure
    attention_efficiency: Fraction
    memory_bandwidth_utilisation: Fraction
    collective_efficiency: Fraction
    # The routed experts' grouped GEMMs' rate over a dense GEMM of their shape, per precision
    # (a precision not listed: 1); a fitted figure (its source names the rows)
    expert_gemm_fraction: dict[Precision, Fraction] = Field(default_factory=dict)
    calibration_limit: str | None = None

    @field_validator("gemm_half_width")
    @classmethod
    def _half_width_for_every_precision(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict):
            missing = sorted(set(info.data.get("gemm_efficiency", {})) - set(value))
            if missing:
                raise ValueError(
                    f"no value for {', '.join(missing)} (a precision of gemm_efficiency): give "
                    "one for every precision, or one number for all"
                )
        return value

    @field_validator("expert_gemm_fraction")
    @classmethod
    def _expert_fraction_of_a_trained_precision(cls, value: Any, info: ValidationInfo) -> Any:
        # review s32: a fraction at a precision the accelerator is not rated to train at was
        # accepted and never applied (train_figures rates only gemm_efficiency's precisions)
        trained = info.data.get("gemm_efficiency")
        unused = sorted(set(value) - set(trained)) if trained is not None else []
        if trained is not None and unused:
            raise ValueError(
                f"{', '.join(unused)} is not a precision of gemm_efficiency "
                f"({', '.join(sorted(trained))}): its expert_gemm_fraction would never apply"
            )
        return value

    def half_width(self, precision: str) -> float:
        """gemm_half_width at one precision (the number itself when not given per precision)."""
        w = self.gemm_half_width
        return float(w[precision]) if isinstance(w, dict) else float(w)  # type: ignore[index]


class ServingFigures(Strict):
    """Serving (decode/prefill) figures of one accelerator; the serving model reads these.

    compute_utilisation: share of dense peak reached by large GEMMs, per precision (a precision
      missing here falls back to the next wider one listed, at its utilisation x its peak);
    hbm_bandwidth_utilisation: share of peak HBM bandwidth that streaming weights and KV reach;
    gemm_half_tokens: tokens per GEMM at which its efficiency is half of its large-batch value,
      efficiency(n) = n / (n + gemm_half_tokens);
    scale_up_latency / scale_out_latency: one hop of a collective over NVLink-class fabric or
      over the scale-out NIC; bandwidth utilisation of both fabrics;
    scale_out_allreduce_latency: one network hop of a tensor-parallel all-reduce whose group
      spans scale-up domains (a pinned layout, e.g. vLLM TP32 over four 8-GPU servers), as the
      inference engine pays it (NCCL from inside the decode step's CUDA graph: proxy thread,
      network round trip and flush, not the wire alone); scale_out_latency when not given;
    step_overhead: fixed time per decode step (scheduler, sampling, launches, host sync);
    runtime_reserve: HBM per accelerator kept for activations, workspace, CUDA context;
    moe_layer_latency: fixed time per MoE layer per step (router, top-k, token permutation and
      its undo, the dispatch/combine handshakes), 0 if not given;
    moe_token_bandwidth: the per-token cost of an MoE layer beyond its GEMMs, its fixed latency
      and its all-to-all, as bytes/s of routed activations (k · hidden · 3 B per token: FP8 in,
      BF16 out) one accelerator gets through at decode, on every layout that runs routed experts
      (expert-parallel or not); a fitted figure; 0 cost if not given. The all-to-all itself goes
      at the link's one-way bandwidth x link_bandwidth_utilisation;
    calibration_limit: a known limit of the runs these figures are fitted to, in words; every
      plan that serves on a system with this accelerator states it (planner/kinds/inference.py).
    """

    compute_utilisation: dict[Precision, Fraction] = Field(min_length=1)
    hbm_bandwidth_utilisation: Fraction
    gemm_half_tokens: Annotated[float, Field(ge=0)]
    scale_up_latency_s: Annotated[Duration, Field(ge=0)] = Field(alias="scale_up_latency")
    scale_out_latency_s: Annotated[Duration, Field(ge=0)] = Field(alias="scale_out_latency")
    scale_out_allreduce_latency_s: Annotated[Duration, Field(ge=0)] | None = Field(
        default=None, alias="scale_out_allreduce_latency"
    )
    link_bandwidth_utilisation: Fraction
    step_overhead_s: Annotated[Duration, Field(ge=0)] = Field(alias="step_overhead")
    runtime_reserve_bytes: Annotated[Bytes, Field(ge=0)] = Field(alias="runtime_reserve")
    moe_layer_latency_s: Annotated[Duration, Field(ge=0)] = Field(
        default=0.0, alias="moe_layer_latency"
    )
    moe_token_bandwidth_bytes_per_s: PositiveBandwidth | None = Field(
        default=None, alias="moe_token_bandwidth"
    )
    calibration_limit: str | None = None


class AcceleratorRL(Strict):
    """What an RL update costs beyond its roles' work: a colocated run's (read by
    planner/demand/rl.py colocated_update_s) and a separate-pool run's weight sync (pool_sync_s:
    refit_bandwidth, sync_overhead).

    host_link_bandwidth: the accelerator's link to host memory, one direction (PCIe Gen5 x16,
      NVLink-C2C), the ceiling of any offload;
    offload_bandwidth: the rate an RL stack actually moves training state to and from host
      memory per accelerator (pageable copies of many tensors; at most host_link_bandwidth);
    update_overhead: fixed seconds per update of a colocated run (inference engine sleep and
      wake, process groups torn down and rebuilt, orchestration), not scaling with model size;
    refit_bandwidth: the rate a separate-pool run's weight sync moves the BF16 model end to end
      when no link binds (the trainer's per-tensor export, packing, the broadcast and vLLM's
      load_weights, pipelined: planner/demand/rl.py pool_sync_s);
    sync_overhead: fixed seconds per weight sync of a separate-pool run (no sleep/wake: the
      engines stay resident), the control path left when the model is small.
    """

    host_link_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="host_link_bandwidth")
    offload_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="offload_bandwidth")
    update_overhead_s: Annotated[Duration, Field(ge=0)] = Field(alias="update_overhead")
    refit_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="refit_bandwidth")
    sync_overhead_s: Annotated[Duration, Field(ge=0)] = Field(alias="sync_overhead")


class Accelerator(Sourced):
    vendor: str
    # Dense peak FLOP/s per precision (no sparsity). A precision not listed is unsupported.
    peak_flops: dict[Precision, PositiveFlops] = Field(min_length=1)
    hbm_bytes: PositiveBytes = Field(alias="hbm")
    hbm_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="hbm_bandwidth")
    scale_up_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="scale_up_bandwidth")
    scale_out_bandwidth_bytes_per_s: PositiveBandwidth = Field(alias="scale_out_bandwidth")
    power_w: PositivePower = Field(alias="power")
    # The engine clock this part sustains under dense matrix load at its board power, as a share
    # of the clock its efficiency figures hold: 1 for a part whose figures are fitted on its own
    # runs (the fit absorbs its own sustained clock); below 1 for a part that takes a sibling's
    # figures (the same die) at a lower board power, whose power-limited clock falls further
    # than its spec peaks say. Scales the compute terms of serving and training (peak_flops x
    # this x the efficiency); HBM, links and fixed costs do not move. MFU stays on peak_flops.
    # None (unset): 1.
    sustained_clock_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    # Training kernel efficiencies; None = the accelerator has no training model (rate 0).
    training: AcceleratorTraining | None = None
    # Serving figures (decode/prefill rates need them; without them serving rates are 0 with a
    # reason, so a new accelerator can be added for training alone).
    serving: ServingFigures | None = None
    # Colocated RL figures; None = a colocated RL update's refit and offload are not modelled.
    rl: AcceleratorRL | None = None

    @property
    def clock_fraction(self) -> float:
        """sustained_clock_fraction, 1 when unset."""
        return 1.0 if self.sustained_clock_fraction is None else self.sustained_clock_fraction


class Cpu(Sourced):
    vendor: str
    cores: PositiveInt
    # Instruction set: a verifier sandbox built for one runs only on cores of that ISA.
    isa: Literal["x86_64", "arm64"]


class SystemTraining(Sourced):
    """Training software figures of a system (read by planner/demand/training.py)."""

    # Share of tensor/context/expert-parallel collectives and pipeline sends hidden behind
    # compute (communication-GEMM overlap); the rest adds to the step time.
    comm_overlap: Annotated[float, Field(ge=0, le=1)]


class Reliability(Sourced):
    """Failure physics of a system (read by planner/demand/goodput.py)."""

    # Unexpected job interruptions per accelerator-hour (hardware and software faults).
    failures_per_accelerator_hour: Annotated[float, Field(ge=0)]
    # Planned interruptions (maintenance, upgrades) per accelerator-hour: a restart, no lost work.
    planned_interruptions_per_accelerator_hour: Annotated[float, Field(ge=0)]
    # Accelerators taken out of service by one failure (the server or rack that is swapped out).
    failure_domain: PositiveInt
    # Detect, reschedule onto spares, reload the checkpoint and warm up.
    restart_s: PositiveDuration = Field(alias="restart")
    # Time a failed domain is out of service before it is repaired or replaced.
    repair_s: PositiveDuration = Field(alias="repair")
    # Checkpoint write bandwidth available per accelerator (storage bandwidth / accelerators).
    checkpoint_bandwidth_bytes_per_s: PositiveBandwidth = Field(
        alias="checkpoint_bandwidth_per_accelerator"
    )


class Contract(Strict):
    """A reserved-capacity term: `term` long from its start, at usd_per_hour per unit."""

    term_s: PositiveDuration = Field(alias="term")
    usd_per_hour: Annotated[float, Field(gt=0)]


class System(Sourced):
    """The unit bought or rented: a server, a rack, or a CPU-only server (accelerators: 0)."""

    description: str
    accelerator: Name | None = None
    accelerators: NonNegInt
    cpu: Name
    cpus: PositiveInt
    # Accelerators joined by the fast scale-up fabric (NVLink, NeuronLink): the largest
    # tensor-parallel group that stays on it.
    scale_up_domain: NonNegInt
    power_w: PositivePower = Field(alias="power")
    capex_usd: Usd
    lifetime_s: Lifetime = Field(alias="lifetime")
    rental_usd_per_hour: Usd
    # Ownership costs beyond the capex; None: not charged, and the plan's report says so.
    # From order to delivery (units ordered in a period serve from the first period after it).
    lead_time_s: Annotated[Duration, Field(ge=0)] | None = Field(None, alias="lead_time")
    # Scale-out network and storage bought with each unit, as a share of its capex.
    network_storage_capex_fraction: Annotated[float, Field(ge=0, le=10)] | None = None
    # Maintenance and support per year in service, as a share of capex.
    maintenance_fraction_per_year: Fraction | None = None
    # Share of nameplate power an owned, powered unit draws while idle.
    idle_power_fraction: Fraction | None = None
    # Term contracts (reserved capacity) offered for this system: committed for the whole term
    # at a price per unit-hour that includes energy and facility.
    contracts: list[Contract] = Field(default_factory=list)
    # First date units can be delivered, rented or contracted (a generation not yet shipping).
    available_from: Date | None = None
    # Spot (preemptible) capacity: a price per unit-hour (energy included) and the share of a
    # spot unit's time that does useful work once preemptions, restarts and lost progress are
    # taken off (spot_goodput). Usable for training and RL, never for serving (SLOs). Both or
    # neither; None: no spot offer.
    spot_usd_per_hour: Annotated[float, Field(gt=0), _at_most(1e12, "US$")] | None = None
    spot_goodput: Annotated[float, Field(gt=0, le=1)] | None = None
    # Units the vendor can deliver per year (all sites together), spread evenly over the
    # periods: floor(supply_per_year x period / year) per period; None: no limit (a scenario's
    # economics.supply overrides it).
    supply_per_year: NonNegInt | None = None
    # Host cores kept for the framework, data loading and NCCL per accelerator; the rest can
    # run verifier sandboxes.
    host_cores_reserved_per_accelerator: Annotated[float, Field(ge=0)]
    # Host DRAM of one unit; sandboxes get the share of it their cores are of the unit's cores
    # (None: not given, the unit lends no memory to sandboxes that state theirs).
    host_memory_bytes: PositiveBytes | None = Field(None, alias="host_memory")
    # Share of HBM usable for weights + KV (the rest: activations, fragmentation, runtime).
    hbm_usable_fraction: Fraction | None = None
    training: SystemTraining | None = None
    reliability: Reliability | None = None

    @model_validator(mode="after")
    def _spot_price_and_goodput_together(self) -> System:
        if (self.spot_usd_per_hour is None) != (self.spot_goodput is None):
            raise ValueError(
                "spot_usd_per_hour and spot_goodput go together: give both (a spot offer) "
                "or neither"
            )
        return self

    @model_validator(mode="after")
    def _accelerated_or_cpu_only(self) -> System:
        if self.accelerators == 0:
            if self.accelerator is not None:
                raise ValueError("a CPU-only system (accelerators: 0) has no accelerator")
            if self.scale_up_domain != 0:
                raise ValueError("a CPU-only system has scale_up_domain: 0")
            return self
        missing = [
            key
            for key, value in (
                ("accelerator", self.accelerator),
                ("hbm_usable_fraction", self.hbm_usable_fraction),
            )
            if value is None
        ]
        if missing:
            raise ValueError(f"a system with accelerators needs {', '.join(missing)}")
        if not 1 <= self.scale_up_domain <= self.accelerators:
            raise ValueError(
                f"scale_up_domain must be between 1 and accelerators ({self.accelerators})"
            )
        return self


class MLADims(Strict):
    """Multi-head latent attention dims (DeepSeek-V2/V3): per head, the query/key dim is
    qk_nope_head_dim + qk_rope_head_dim, the value dim v_head_dim; the KV cache stores one latent
    of kv_lora_rank elements plus one shared rope key of qk_rope_head_dim per token per layer."""

    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt
    kv_lora_rank: PositiveInt
    # The query's low-rank compression (DeepSeek-V3 config.json q_lora_rank: hidden -> 1,536 ->
    # heads x qk head dim); None: the query is projected from the hidden state directly. The
    # training step model reads it for the MLA up-projections' recomputation (mla_up_proj).
    q_lora_rank: PositiveInt | None = None


class MoEDims(Strict):
    """Mixture-of-experts shape: `experts` routed experts per MoE layer, `active_experts` routed
    per token, `shared_experts` always active, each a gated FFN of width `expert_ffn`
    (3 · hidden · expert_ffn parameters); the first `dense_layers` layers have a dense FFN.
    `max_nodes_per_token`: node-limited routing, each token's routed experts lie on at most
    this many nodes (scale-up domains) and its dispatch crosses scale-out once per target node,
    then is forwarded to the experts over scale-up (DeepSeek-V3: 4); None: routing is not
    node-limited, balanced over the experts, and a token crosses once per distinct node its k
    copies land on. Read by the training step model (its all-to-all is hierarchical, forwarding
    over NVLink as DeepEP's normal kernels and HybridEP do); serving's decode
    all-to-all sends every routed copy directly (DeepEP's low-latency kernels), so the serving
    model does not read it."""

    experts: PositiveInt
    active_experts: PositiveInt
    shared_experts: NonNegInt = 0
    expert_ffn: PositiveInt
    dense_layers: NonNegInt = 0
    max_nodes_per_token: PositiveInt | None = None


class SlidingWindow(Strict):
    """Banded (sliding-window) attention: `layers` of the model's layers attend only to the last
    `tokens` tokens (gpt-oss: 18 of 36 layers, 128 tokens); the other layers attend to the whole
    context. A banded layer keeps min(context, tokens) tokens of KV per sequence and its QK^T and
    AV run over min(context, tokens) keys (planner/demand/common.py, kv.py)."""

    tokens: PositiveInt
    layers: PositiveInt


class Checkpoint(Strict):
    """The bytes a published checkpoint of one precision really loads (some layers stay wider),
    and, for an MoE checkpoint whose routed experts alone are at that precision, the precision of
    everything else (attention, dense layers, shared experts, embeddings)."""

    weights_bytes: PositiveBytes = Field(alias="weights")
    # Precision of every weight but the routed experts, for bytes and GEMM rate alike (None: the
    # checkpoint's own precision). MoE models only.
    dense_precision: Precision | None = None
    source: Source


class ModelArch(Sourced):
    """A transformer's shape. Dense models omit active_params (all parameters are active)."""

    description: str
    params: PositiveCount
    active_params: PositiveCount | None = None
    layers: PositiveInt
    hidden: PositiveInt
    heads: PositiveInt
    kv_heads: PositiveInt | None = None
    # Width of one attention head where it is not hidden / heads (Qwen3-32B: 64 heads of 128 on a
    # 5,120-wide residual stream); KV bytes and attention FLOPs use it.
    head_size: PositiveInt | None = None
    attention: Literal["gqa", "mla"] = "gqa"
    # MLA stores one compressed latent (plus its rope key) per token per layer, in elements.
    kv_latent_dim: PositiveInt | None = None
    mla: MLADims | None = None
    moe: MoEDims | None = None
    # Banded attention: some layers attend to a window of recent tokens only (None: every layer
    # attends to the whole context).
    sliding_window: SlidingWindow | None = None
    # Vocabulary of an untied input embedding and output head (vocab x hidden parameters each,
    # both counted in params and active_params). The training step model then keeps the
    # embedding out of the GEMM work (a lookup) and puts the output head's GEMM and the loss on
    # the last pipeline stage; None: both are spread over the layers as active parameters.
    vocab: PositiveInt | None = None
    # Width of the dense FFN (config.json intermediate_size): every layer's FFN in a dense model,
    # the `moe.dense_layers` layers' in a MoE model; ffn_gated: the FFN is gated (SwiGLU: gate
    # and up of `ffn` each, down back to hidden, 3 · hidden · ffn parameters), else up and down
    # (2 · hidden · ffn). The training step model rates each dense linear at its own shape
    # (planner/demand/training.py dense_linears); None: the width is derived from the layers'
    # parameters (training.dense_linears says how). Both or neither.
    ffn: PositiveInt | None = None
    ffn_gated: bool | None = None
    # Multi-token prediction modules its pretraining trains beside the main head (DeepSeek-V3:
    # 1): each one transformer layer (a MoE layer in a MoE model), a 2·hidden x hidden
    # projection and one more pass of the shared output head and loss, on the last pipeline
    # stage; not counted in params (DeepSeek-V3's 671B excludes its 14B MTP module).
    mtp_layers: NonNegInt = 0
    # The longest sequence (prompt + output tokens) the model attends over, its context window
    # (config.json max_position_embeddings); None: not given, and no sequence is checked.
    context_tokens: PositiveInt | None = None
    # Weight bytes of published checkpoints per precision, where they differ from params x bytes.
    checkpoints: dict[Precision, Checkpoint] = Field(default_factory=dict)

    @field_validator("sliding_window")
    @classmethod
    def _window_layers(
        cls, value: SlidingWindow | None, info: ValidationInfo
    ) -> SlidingWindow | None:
        layers = info.data.get("layers")
        if value is not None and layers is not None and value.layers >= layers:
            raise ValueError(
                f"sliding_window.layers ({value.layers}) must be fewer than the model's layers "
                f"({layers}): a model whose every layer is banded has no full-context layer"
            )
        return value

    @model_validator(mode="after")
    def _attention_fields(self) -> ModelArch:
        if self.attention == "gqa":
            if self.kv_heads is None:
                raise ValueError("a GQA model needs kv_heads")
            if self.kv_latent_dim is not None:
                raise ValueError("kv_latent_dim is for attention: mla")
            if self.head_size is None and self.hidden % self.heads:
                raise ValueError("hidden must be a multiple of heads (or give head_size)")
        elif self.kv_latent_dim is None:
            raise ValueError("an MLA model needs kv_latent_dim (elements per token per layer)")
        if (self.ffn is None) != (self.ffn_gated is None):
            raise ValueError(
                "ffn and ffn_gated go together: the dense FFN's width (config.json "
                "intermediate_size) and whether it is gated (SwiGLU: gate_proj, up_proj, down_proj)"
            )
        if self.ffn is not None and self.moe is not None and not self.moe.dense_layers:
            raise ValueError(
                "ffn is the dense FFN's width, and this MoE model has no dense layers "
                "(moe.dense_layers 0): its FFN width is moe.expert_ffn"
            )
        if self.ffn is not None and self.moe is None:
            mlp = self.layers * (3 if self.ffn_gated else 2) * self.hidden * self.ffn
            if mlp >= self.params:
                raise ValueError(
                    f"the dense FFNs (layers x {3 if self.ffn_gated else 2} x hidden x ffn = "
                    f"{mlp / 1e9:.3g}B parameters) exceed params ({self.params / 1e9:.3g}B): "
                    "check ffn (config.json intermediate_size) and ffn_gated"
                )
        if self.mtp_layers and self.vocab is None:
            raise ValueError("mtp_layers needs vocab (each MTP module runs the output head)")
        if self.vocab is not None and 2 * self.vocab * self.hidden >= self.active:
            raise ValueError(
                "vocab x hidden x 2 (the untied embedding and output head) must be fewer than "
                "the active parameters"
            )
        if self.active_params is not None and self.active_params > self.params:
            raise ValueError("active_params cannot exceed params")
        if self.mla is not None:
            if self.attention != "mla":
                raise ValueError("mla dims are for attention: mla")
            if self.kv_latent_dim != self.mla.kv_lora_rank + self.mla.qk_rope_head_dim:
                raise ValueError("kv_latent_dim must equal mla.kv_lora_rank + mla.qk_rope_head_dim")
        if self.moe is not None:
            if self.moe.active_experts > self.moe.experts:
                raise ValueError("moe.active_experts cannot exceed moe.experts")
            if self.moe.dense_layers >= self.layers:
                raise ValueError("moe.dense_layers must be fewer than layers")
            if self.routed_expert_params >= self.params:
                raise ValueError("the routed experts (moe dims) exceed params")
        for precision, ckpt in self.checkpoints.items():
            if ckpt.dense_precision is None or ckpt.dense_precision == precision:
                continue
            if self.moe is None:
                raise ValueError(
                    f"checkpoints.{precision}.dense_precision is for MoE models (it sets the "
                    "precision of everything but the routed experts)"
                )
            dense = (self.params - self.routed_expert_params) * BYTES_PER_VALUE[
                ckpt.dense_precision
            ]
            if dense >= ckpt.weights_bytes:
                raise ValueError(
                    f"checkpoints.{precision}: the non-routed weights at "
                    f"{ckpt.dense_precision} ({dense / 1e9:.3g} GB) leave nothing of "
                    f"{ckpt.weights_bytes / 1e9:.3g} GB for the routed experts"
                )
        return self

    @property
    def moe_layers(self) -> int:
        return 0 if self.moe is None else self.layers - self.moe.dense_layers

    @property
    def expert_params(self) -> float:
        """Parameters of one routed expert: 3 · hidden · expert_ffn (gate, up, down)."""
        return 0.0 if self.moe is None else 3.0 * self.hidden * self.moe.expert_ffn

    @property
    def routed_expert_params(self) -> float:
        """All routed experts of all MoE layers: moe_layers · experts · expert_params."""
        return 0.0 if self.moe is None else self.moe_layers * self.moe.experts * self.expert_params

    @property
    def active(self) -> float:
        """Parameters active per token (all of them for a dense model)."""
        return self.active_params if self.active_params is not None else self.params

    @property
    def head_dim(self) -> int:
        """Width of one attention head: head_size where given, else hidden / heads."""
        return self.head_size if self.head_size is not None else self.hidden // self.heads

    @property
    def full_layers(self) -> int:
        """Layers attending to the whole context: layers - sliding_window.layers."""
        return self.layers - (self.sliding_window.layers if self.sliding_window else 0)

    def attended_layer_tokens(self, context: float) -> float:
        """Sum over layers of the tokens one token attends to (and a sequence of `context`
        tokens keeps in KV): full_layers · context + banded layers · min(context, window)."""
        w = self.sliding_window
        if w is None:
            return self.layers * context
        return self.full_layers * context + w.layers * min(context, float(w.tokens))

    def causal_attended_layer_tokens(self, sequence: float) -> float:
        """attended_layer_tokens averaged over the positions of a causal sequence of `sequence`
        tokens (training, prefill): full layers S/2; a banded layer of window W the mean of
        min(t, W) over t in [0, S]: S/2 when S <= W, else W - W^2 / (2S)."""
        w = self.sliding_window
        if w is None:
            return self.layers * sequence / 2
        W = float(w.tokens)
        banded = sequence / 2 if sequence <= W else W - W * W / (2 * sequence)
        return self.full_layers * sequence / 2 + w.layers * banded

    @property
    def kv_elements_per_token(self) -> int:
        """K and V elements stored per token over all layers (GQA: 2·layers·head_dim·kv_heads;
        MLA: layers·kv_latent_dim)."""
        if self.attention == "mla":
            assert self.kv_latent_dim is not None
            return self.layers * self.kv_latent_dim
        assert self.kv_heads is not None
        return 2 * self.layers * self.head_dim * self.kv_heads


class ScalingLaw(Sourced):
    """A fitted loss model L(N, D) = E + A / N^alpha + B / D^beta (N parameters, D training
    tokens, L in nats per token): planner/demand/scaling.py."""

    description: str
    E: Annotated[float, Field(gt=0)]
    A: Annotated[float, Field(gt=0)]
    B: Annotated[float, Field(gt=0)]
    alpha: Annotated[float, Field(gt=0)]
    beta: Annotated[float, Field(gt=0)]


class CatalogData(Strict):
    accelerators: dict[Name, Accelerator] = Field(default_factory=dict)
    cpus: dict[Name, Cpu] = Field(default_factory=dict)
    systems: dict[Name, System] = Field(default_factory=dict)
    models: dict[Name, ModelArch] = Field(default_factory=dict)
    scaling_laws: dict[Name, ScalingLaw] = Field(default_factory=dict)
