"""The LP entry point: one workload spec -> its work items (roles) with per-system rates."""

from __future__ import annotations

from fleetcore.schema import BYTES_PER_VALUE
from hardware.catalog import Catalog
from planner.demand.common import SECONDS_PER_DAY, hardware
from planner.demand.inference import inference_rates
from planner.demand.pretrain import (
    min_units_for_state,
    pretrain_flops,
    pretrain_rate,
    pretrain_tokens,
)
from planner.demand.rl import (
    estimate_rl,
    rl_rates,
    rl_roles,
    rl_samples,
    verifier_core_s_per_sample,
)
from planner.demand.types import (
    Placement,
    PretrainCoupling,
    RLCoupling,
    Role,
    WorkloadDemand,
    growth_integral,
)
from planner.workloads import InferenceSpec, PretrainSpec, RLSpec


def demand_for(
    name: str,
    spec: PretrainSpec | InferenceSpec | RLSpec,
    catalog: Catalog,
    systems: list[str],
    horizon_s: float,
) -> WorkloadDemand:
    """A workload's roles, amounts (work units over its window) and rates (work units per second
    per unit) on each of `systems`.

    pretrain: one FLOP role "pretrain", window [start, deadline], placement single_site
      (anywhere when allow_multi_site).
    inference: token roles "decode" (requests/day · output · votes · peak_to_average · days
      served) and "prefill" (requests/day · prompt · (1 − prompt_cache_hit) · peak_to_average ·
      days served), anywhere,
      window [start, horizon].
    rl: generate, generate_prefill, reward:<name>, reference (with_generation, tokens) and train
      (trainer, FLOP); per_sample set on every role; window [start, deadline].
    """
    if isinstance(spec, PretrainSpec):
        arch = catalog.models[spec.model]
        dense, attention = pretrain_flops(spec, arch)
        placement: Placement = "anywhere" if spec.allow_multi_site else "single_site"
        role = Role(
            name="pretrain",
            work_unit="FLOP",
            amount=dense + attention,
            rates={s: pretrain_rate(spec, catalog, s) for s in systems},
            placement=placement,
            min_units=_min_units(spec.bytes_per_param * arch.params, catalog, systems),
        )
        return WorkloadDemand(
            name=name,
            kind="pretrain",
            start_s=spec.start_s,
            window_s=spec.deadline_s - spec.start_s,
            roles=[role],
            pretrain=PretrainCoupling(
                gradient_bytes_per_sync=arch.params * BYTES_PER_VALUE[spec.gradient_precision],
                syncs=pretrain_tokens(spec, arch) / spec.global_batch_tokens,
                allow_multi_site=spec.allow_multi_site,
            ),
            notes=[
                f"6 x {arch.active:.4g} active params x {pretrain_tokens(spec, arch):.4g} tokens"
            ],
        )
    if isinstance(spec, InferenceSpec):
        # Days served, each weighted by the load's growth since the launch.
        days = (
            growth_integral(spec.growth_per_year, 0.0, horizon_s - spec.start_s) / SECONDS_PER_DAY
        )
        rates = {s: inference_rates(spec, catalog, s) for s in systems}
        scale = spec.requests_per_day * spec.peak_to_average * days
        return WorkloadDemand(
            name=name,
            kind="inference",
            steady_load=True,
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
    samples = rl_samples(spec)
    per_system = {s: rl_rates(spec, catalog, s) for s in systems}
    # No minimum group for the RL trainer: hybrid engines (veRL, OpenRLHF) time-share the
    # trainer's accelerators with generation, offloading its state between phases.
    roles = [
        Role(
            name=r.name,
            work_unit=r.work_unit,
            amount=r.per_sample * samples,
            rates={s: per_system[s][r.name] for s in systems},
            placement="trainer" if r.name == "train" else "with_generation",
            per_sample=r.per_sample,
        )
        for r in rl_roles(spec, catalog)
    ]
    est = estimate_rl(spec, catalog)
    return WorkloadDemand(
        name=name,
        kind="rl",
        start_s=spec.start_s,
        window_s=spec.deadline_s - spec.start_s,
        roles=roles,
        rl=RLCoupling(
            samples=samples,
            kept_fraction=spec.kept_fraction,
            verifier_core_s_per_sample=verifier_core_s_per_sample(spec),
            trajectory_bytes_per_kept_sample=est.trajectory_bytes_per_kept_sample,
            weight_bytes_per_update=est.weight_bytes_per_update,
            updates=est.updates,
        ),
        notes=[f"forward:backward FLOPs = {est.forward_backward_flop_ratio:.2f}"],
    )


def _min_units(state_bytes: float, catalog: Catalog, systems: list[str]) -> dict[str, int]:
    """Units of each accelerated system that hold a training job's state (min_units_for_state)."""
    out = {}
    for s in systems:
        hw = hardware(catalog, s)
        if hw is not None:
            out[s] = min_units_for_state(state_bytes, hw)
    return out
