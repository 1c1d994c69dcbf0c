"""The pretraining kind: its spec, its demand (planner/demand/pretrain.py, training.py,
goodput.py hold the physics), its own LP variables and constraint families, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pulp
from pydantic import Field, model_validator

from fleetcore.schema import BYTES_PER_VALUE, Fraction, Name, PositiveInt, Precision, Strict
from planner.demand.types import Placement, PretrainCoupling, Role, WorkloadDemand
from planner.kinds.base import (
    MIXED_PRECISION_ADAM_BYTES_PER_PARAM,
    Loc,
    NonNegDuration,
    PositiveCount,
    PositiveDuration,
    PositiveFloat,
    start_before_deadline,
)
from planner.lp.constraints import tie
from planner.lp.model import GB, Flow, Model, family
from planner.lp.variables import declare_running, declare_system_choice

if TYPE_CHECKING:
    from hardware.catalog import Catalog

NAME = "pretrain"


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

    kind: Literal["pretrain"] = "pretrain"
    model: Name
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

    @model_validator(mode="after")
    def _tokens_xor_ratio(self) -> PretrainSpec:
        if (self.tokens is None) == (self.tokens_per_param is None):
            raise ValueError("give exactly one of tokens and tokens_per_param")
        start_before_deadline(self.start_s, self.deadline_s)
        return self


def model_refs(spec: PretrainSpec) -> list[tuple[Loc, str]]:
    """Where the spec names a catalog model."""
    return [(("model",), spec.model)]


def demand(
    name: str, spec: PretrainSpec, catalog: Catalog, systems: list[str], horizon_s: float
) -> WorkloadDemand:
    """One FLOP role "pretrain", window [start, deadline], placement single_site (anywhere when
    allow_multi_site); min_units: the units that hold its training state on each system."""
    from planner.demand.common import hardware
    from planner.demand.pretrain import (
        min_units_for_state,
        pretrain_flops,
        pretrain_rate,
        pretrain_tokens,
    )

    arch = catalog.models[spec.model]
    dense, attention = pretrain_flops(spec, arch)
    placement: Placement = "anywhere" if spec.allow_multi_site else "single_site"
    state_bytes = spec.bytes_per_param * arch.params
    min_units = {}
    for s in systems:
        hw = hardware(catalog, s)
        if hw is not None:
            min_units[s] = min_units_for_state(state_bytes, hw)
    role = Role(
        name="pretrain",
        work_unit="FLOP",
        amount=dense + attention,
        rates={s: pretrain_rate(spec, catalog, s) for s in systems},
        placement=placement,
        min_units=min_units,
    )
    return WorkloadDemand(
        name=name,
        kind=NAME,
        after=spec.after,
        start_s=spec.start_s,
        window_s=spec.deadline_s - spec.start_s,
        roles=[role],
        pretrain=PretrainCoupling(
            gradient_bytes_per_sync=arch.params * BYTES_PER_VALUE[spec.gradient_precision],
            syncs=pretrain_tokens(spec, arch) / spec.global_batch_tokens,
            allow_multi_site=spec.allow_multi_site,
        ),
        notes=[f"6 x {arch.active:.4g} active params x {pretrain_tokens(spec, arch):.4g} tokens"],
    )


# -- its part of the LP ---------------------------------------------------------------------


def declare(model: Model, demand: WorkloadDemand) -> None:
    """y[w,d] site binaries, x[w,s] system choice, on[...] where the job's state needs a minimum
    of units, and a gradient flow for every reachable pair of sites when it may span sites."""
    for d in model.sites:
        model.site[(demand.name, d)] = model.new_var("y", 0, 1, pulp.LpBinary)
    declare_system_choice(model, demand)
    declare_running(model, demand)
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
    what a ring all-reduce moves per link: a conservative bound)"""
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
