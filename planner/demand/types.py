"""The contract between the demand models and the LP: work items, per-system rates, and the
per-sample coupling of RL roles. Plain data; nothing here knows PuLP or YAML.

Units: work is counted in `work_unit` ("token" or "FLOP"); rates are work units per second per
system unit (one server, one rack); windows are seconds; bytes are bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Placement = Literal["anywhere", "with_generation", "trainer", "single_site"]
SECONDS_PER_YEAR = 365 * 86400.0


def growth_integral(growth_per_year: float, a_s: float, b_s: float) -> float:
    """integral_a^b g^(t / year) dt = year / ln g · (g^(b/year) - g^(a/year))   (seconds)"""
    if growth_per_year == 1.0:
        return b_s - a_s
    k = math.log(growth_per_year) / SECONDS_PER_YEAR
    return (math.exp(k * b_s) - math.exp(k * a_s)) / k


@dataclass(frozen=True)
class Rate:
    """How fast one unit of a system does a role's work, and why.

    `per_unit_s` is 0.0 when the role cannot run there; `reason` then says why (model does not
    fit, precision unsupported, interactivity target unreachable). Otherwise `reason` is a short
    derivation a user can check ("batch 52 x 30 tok/s, 2 instances of 4 GPUs").
    """

    per_unit_s: float
    reason: str
    # A known limit of the calibration behind this rate on this system (a plan states it under
    # Left out, for the systems the workload runs on): "" none. Not part of the rate's identity.
    caveat: str = field(default="", compare=False, repr=False)
    # Training roles: the job (accelerators) the rate was derived for, the layout search's
    # (pretraining: the job its window needs, or the job the plan placed it on once re-rated,
    # planner/kinds/pretrain.py placed_jobs); 0: not a training job's rate. Not its identity.
    job_accelerators: int = field(default=0, compare=False, repr=False)

    @property
    def feasible(self) -> bool:
        return self.per_unit_s > 0


def candidate_role(role: str, label: str) -> str:
    """The name of candidate `label`'s copy of a role of a model_from tier: "<role>@<label>"."""
    return f"{role}@{label}"


def base_role(role: str) -> str:
    """The role a model_from tier's candidate role is a copy of ("decode@20tpp" -> "decode");
    other names unchanged (for readers of a plan, which carries role names only)."""
    return role.partition("@")[0]


@dataclass(frozen=True)
class PrefillOf:
    """What ties a prefill role to the decode role whose requests' prompts it prefills (a
    serving tier's prefill to its decode, a model_from tier's prefill@c to its decode@c, RL's
    generate_prefill to generate).

    decode: that decode role's name.
    kv_bytes: the KV cache of all of its prompts over the window (requests x prompt tokens x KV
      bytes per token, as provisioned) when the prefill may run at another site than the decode
      (disaggregate_across_sites); 0: it may not.
    kv_bytes_per_request: one prompt's KV cache (the hop a request's KV takes between sites).
    """

    decode: str
    kv_bytes: float = 0.0
    kv_bytes_per_request: float = 0.0


@dataclass(frozen=True)
class Role:
    """One work item: a workload's role (pretrain; generate, reward, ..., train; decode, prefill).

    amount: total work over the workload's window, in work_unit.
    per_sample: for RL roles, work units per generated sample (so the LP can tie each role to the
      samples generated at a site); None for other workloads.
    placement: where its work may run --
      "anywhere": any site, split freely (inference);
      "with_generation": at the site that generated the samples (RL reward/reference passes);
      "trainer": at the RL workload's single trainer site;
      "single_site": the whole role on one site (pretraining without cross-site sync).
    """

    name: str
    work_unit: Literal["token", "FLOP"]
    amount: float
    rates: dict[str, Rate]
    placement: Placement = "anywhere"
    per_sample: float | None = None
    # Training roles: units a job must hold on a system while it runs (its model state must be
    # resident: bytes_per_param x params over the usable HBM). Missing system: no minimum.
    min_units: dict[str, int] = field(default_factory=dict)
    # A training job held to its rated job (planner/api.py _solve_rerated; pretraining, the RL
    # trainer), or to the more units its work needs in its window where the job's cannot do it
    # (planner/kinds/pretrain.py held_to_rated): at most these units of a system, summed over
    # sites, in any LP period it runs. Missing system: no cap.
    max_units: dict[str, int] = field(default_factory=dict)
    # Model sizing (planner/kinds/pretrain.py): (sizing workload, candidate) when this role is
    # one candidate model's work, done only if the plan chooses that candidate; None otherwise.
    choice: tuple[str, str] | None = None
    # A prefill role: the decode role it prefills for (the LP keeps the two together: colocate,
    # aggregate, and with disaggregate_across_sites prices the KV cache that crosses sites).
    prefill_of: PrefillOf | None = None


@dataclass(frozen=True)
class RLCoupling:
    """What ties an RL workload's roles and sites together in the LP."""

    samples: float  # trajectories generated over the run (problems x samples x epochs)
    kept_fraction: float  # share of samples that survive rejection sampling and are trained on
    verifier_core_s_per_sample: float  # CPU core-seconds, averaged over all samples
    trajectory_bytes_per_kept_sample: float  # sent from the generating site to the trainer
    weight_bytes_per_update: float  # fresh policy weights sent to each generating site
    updates: float  # policy updates over the run
    # Updates a generating site may run behind the trainer: each weight push to it must finish
    # within max_staleness_updates x the time between updates.
    max_staleness_updates: float = 1.0
    # Seconds an update's generation takes at least on each system (max_completion_tokens x the
    # decode step at the smallest batch); empty when the spec gives no max_completion_tokens.
    update_floor_s_by_system: dict[str, float] = field(default_factory=dict)
    generated_tokens_per_update: float = 0.0  # samples_per_update x completion_tokens
    # Seconds a colocated update spends beyond its roles' work on each system (refit, offload,
    # engine sleep/wake: planner/demand/rl.py colocated_update_s); empty when not colocated.
    colocated_update_s_by_system: dict[str, float] = field(default_factory=dict)
    colocated: bool = False  # the spec's `colocated` (generation and training share accelerators)
    # Seconds a separate-pool update's weight sync takes on each system (the trained weights
    # broadcast to every generator, both pools waiting: planner/demand/rl.py pool_sync_s);
    # empty when colocated.
    pool_sync_s_by_system: dict[str, float] = field(default_factory=dict)
    # verifier_core_s_per_sample split by the ISA the sandboxes need (x86_64, arm64).
    verifier_core_s_by_isa: dict[str, float] = field(default_factory=dict)
    # Sandbox memory held per sample, byte-seconds, by ISA: sum over verifiers that state
    # memory_per_sandbox of core_s_per_sample x applies_to x memory_per_sandbox /
    # cores_per_sandbox (a sandbox holds its memory while it runs on its cores).
    verifier_byte_s_by_isa: dict[str, float] = field(default_factory=dict)

    def verifier_memory_bytes(self, isa: str, samples: float, window_s: float) -> float:
        """Sandbox memory the verifiers of `samples` samples hold on `isa` over the window, on
        average: byte_s_per_sample[isa] · samples / window."""
        return self.verifier_byte_s_by_isa.get(isa, 0.0) * samples / window_s

    def verifier_cores(self, isa: str, samples: float, window_s: float) -> float:
        """Cores the verifiers of `samples` samples need on `isa` over the window, on average:
        core_s_per_sample[isa] · samples / window."""
        return self.verifier_core_s_by_isa.get(isa, 0.0) * samples / window_s

    def pace_s_by_system(self) -> dict[str, float]:
        """Seconds an update lasts at least on each system: the update floor (its longest
        sample's decode) + the colocated update's refit, offload and overhead or, with
        separate pools, the weight sync the generators pause for; each 0 where not given; only
        systems with one of them."""
        systems = sorted(
            set(self.update_floor_s_by_system)
            | set(self.colocated_update_s_by_system)
            | set(self.pool_sync_s_by_system)
        )
        return {
            s: self.update_floor_s_by_system.get(s, 0.0)
            + self.colocated_update_s_by_system.get(s, 0.0)
            + self.pool_sync_s_by_system.get(s, 0.0)
            for s in systems
        }

    def push_budget_s(self, window_s: float) -> float:
        """Time a weight push may take: max_staleness_updates x window / updates."""
        return self.max_staleness_updates * window_s / self.updates


@dataclass(frozen=True)
class PretrainCoupling:
    """Cross-site data parallelism of a pretraining job."""

    gradient_bytes_per_sync: float  # bytes all-reduced per optimizer step
    syncs: float  # optimizer steps over the run
    allow_multi_site: bool


@dataclass(frozen=True)
class Caveat:
    """A known limit of the calibration behind a workload's rates, which a plan states under
    Left out: `text` with `{}` where the labels of every workload it applies to go (one line
    for all of them), `label` this workload's. With `systems`, only where the plan runs the
    workload (its role `role`, any role when None) on one of them, the label then naming those
    it runs on."""

    text: str
    label: str
    systems: tuple[str, ...] = ()
    role: str | None = None


@dataclass(frozen=True)
class WorkloadDemand:
    """All of one workload's work items, with its time window."""

    name: str
    kind: str  # its kind's name in planner.kinds.KINDS
    window_s: float  # length of the window the work must be done in (s)
    roles: list[Role]
    rl: RLCoupling | None = None
    pretrain: PretrainCoupling | None = None
    notes: list[str] = field(default_factory=list)
    caveats: list[Caveat] = field(default_factory=list)
    # The window is [start_s, start_s + window_s], counted from the start of the horizon.
    start_s: float = 0.0
    # A steady load (serving): each period of the window serves its share of the work, instead
    # of all the work being due by the deadline.
    steady_load: bool = False
    # A steady load that grows by this factor per year (compounding from the window's start).
    growth_per_year: float = 1.0
    # Serving provisioned for its peak: the roles' work is the load x this (>= 1), so the
    # tokens served are the work / this.
    peak_to_average: float = 1.0
    # The workload whose work must all be done before this one's starts (None: none).
    after: str | None = None
    # Serving: keep serving all of the load if any one site is lost (N+1 across sites).
    survive_site_loss: bool = False
    # Serving headroom (N+k): sites whose loss the tier survives (with survive_site_loss), and
    # racks (units of the system) held as spares in every pool the tier serves from.
    sites_lost: int = 1
    racks_lost: int = 0
    # Serving that may prefill at another site than its decode (its prefill roles' PrefillOf
    # carry the KV bytes): the part of the TTFT target the hop may take (None: no target).
    kv_hop_budget_s: float | None = None
    # Prefill in the decode steps (serving with prefill: aggregated; RL generation, whose
    # engine prefills its rollouts' prompts): the decode instances prefill their own prompts, so
    # every pool carries the same share of a decode role's work and of its prefill role's (the
    # LP's `aggregate` rows).
    prefill_on_decode_pools: bool = False

    def prefill_pairs(self) -> list[tuple[Role, Role]]:
        """(decode role, the role that prefills its prompts) for every prefill role tied to a
        decode role (Role.prefill_of), both with work: a serving tier's (decode, prefill), a
        model_from tier's (decode@c, prefill@c) for every candidate c."""
        by_name = {r.name: r for r in self.roles}
        out = []
        for role in self.roles:
            if role.prefill_of is None or role.amount <= 0:
                continue
            decode = by_name[role.prefill_of.decode]
            if decode.amount > 0:
                out.append((decode, role))
        return out

    @property
    def kv_bytes(self) -> float:
        """KV bytes of all the prompts that may cross sites over the window, summed over the
        prefill pairs (a plain tier has one; a model_from tier one per candidate, of which the
        plan serves one)."""
        return sum(p.prefill_of.kv_bytes for _, p in self.prefill_pairs() if p.prefill_of)

    def load_between(self, start_s: float, end_s: float) -> float:
        """Share of a steady load's work that falls in [start_s, end_s] of its window:
        integral of g^((t - start)/year) over the span / over the window (g = growth_per_year;
        g = 1: the span's length / the window's)."""
        if self.growth_per_year == 1.0:
            return (end_s - start_s) / self.window_s
        return growth_integral(
            self.growth_per_year, start_s - self.start_s, end_s - self.start_s
        ) / (growth_integral(self.growth_per_year, 0.0, self.window_s))

    @property
    def end_s(self) -> float:
        return self.start_s + self.window_s
