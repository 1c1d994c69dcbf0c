"""RL checks: measured NeMo-RL GRPO step times (rl.yaml, beside this file) against the planner's
RL composition (planner/demand/rl.py).

A synchronous point is a colocated run: the same GPUs generate, compute logprobs, train and
refit, one after the other, so the planner's step is the sum over its roles of
    work per step / (rate per unit x units),   units = GPUs / accelerators per unit,
with the work per step = per-sample work x rollouts per step and the rates as `rl_rates` gives
them to the LP over the run's own GPUs (the LP: over the run's work-sized accelerators):
generation at the run's own concurrency (planner/demand/rl.py generation_point: the rollouts
spread over the recipe's own vLLM instances on those GPUs (`generator:`: its layout and
gpu_memory_utilization), the batch draining to the longest response), the update's training and log-prob passes with the recipe's `trainer:`
figures; plus the colocated update's refit (over the NIC for the share of the weights outside
a GPU's rack when the recipe's layout spans racks), offload and fixed overhead
(planner/demand/rl.py colocated_update_s, over the run's own GPUs). rl.yaml's header says
how each figure of the run maps onto the RLSpec.

An asynchronous point (`generation_gpus:`, NeMo-RL async GRPO with `max_trajectory_age_steps`
k) generates on its own GPUs while the others train on the previous step's rollouts, the
planner's `colocated: false` with max_staleness_updates k: its step is
    max(generation side, training side) + weight sync,
the generation side the generation and its prefill over the generation GPUs (no drain: the
engine keeps k updates' samples in flight; at least the pace row's floor / k), the training side
the training and log-prob passes over the other GPUs; no colocated refit, offload or overhead,
but the weight sync after every training pass (planner/demand/rl.py pool_sync_s: the whole
model broadcast from the trainer to every generator, W / min(B_bcast, rl.refit_bandwidth) +
rl.sync_overhead), which
both sides wait for (the generators pause for the in-flight update, the trainer for the
broadcast), as the LP's pace and idle share take it (planner/kinds/rl.py).

Diagnostics (printed by `python -m planner.calibration.rl`, not compared): generation at the
recipe's own vLLM instance size and constant batch, and the decode floor of a response running
to the length cap on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardware.catalog import Catalog, load_catalog
from planner.calibration import AccuracyRow, check_layouts
from planner.demand.common import hardware
from planner.demand.inference import layouts, pinned_layout
from planner.demand.rl import (
    colocated_update_s,
    generator_args,
    pool_sync_s,
    rl_rates,
    rl_roles,
    update_floor_s,
)
from planner.demand.serving_physics import kv_replication, model_load, step_terms
from planner.demand.training import dense_fused_problem
from planner.kinds.rl import RLSpec

TABLE = Path(__file__).with_name("rl.yaml")
FAMILY = "rl-checks"
METRIC = "RL step s"


@dataclass(frozen=True)
class RLPoint:
    """One measured RL step and the run that produced it."""

    id: str
    model: str
    system: str
    gpus: int
    precision: str
    prompts_per_step: int
    generations_per_prompt: int
    prompt_tokens: int
    completion_tokens: int
    max_total_sequence_length: int
    generation_instance_gpus: int
    published: float  # seconds per RL step
    tolerance: float  # allowed |relative error|
    source: str
    known_miss: str  # why the planner does not reproduce it ("" otherwise)
    trainer: dict[str, Any] | None = None  # the recipe's training figures (RLSpec.trainer)
    generator: dict[str, Any] | None = None  # the recipe's vLLM figures (RLSpec.generator)
    generation_gpus: int | None = None  # asynchronous: GPUs that only generate (None: colocated)
    max_trajectory_age_steps: int = 1  # asynchronous: updates a rollout may lag

    @property
    def rollouts(self) -> int:
        return self.prompts_per_step * self.generations_per_prompt

    @property
    def asynchronous(self) -> bool:
        return self.generation_gpus is not None

    @property
    def generating_gpus(self) -> int:
        return self.generation_gpus if self.generation_gpus is not None else self.gpus

    @property
    def training_gpus(self) -> int:
        return self.gpus - (self.generation_gpus or 0)

    def spec(self) -> RLSpec:
        """The run as an RLSpec (one step's problems; see rl.yaml for each choice)."""
        return RLSpec.model_validate(
            {
                "kind": "rl",
                "policy": self.model,
                "precision": self.precision,
                "problems": self.prompts_per_step,
                "samples_per_problem": self.generations_per_prompt,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "kept_fraction": 1.0,
                "samples_per_update": self.rollouts,
                "deadline": "1 day",
                "goodput": 1.0,
                "reference": {"model": self.model},
                # the recipe's length cap: the longest response an update may wait for
                "max_completion_tokens": self.max_total_sequence_length - self.prompt_tokens,
                "trainer": self.trainer,
                "generator": self.generator,
                "colocated": not self.asynchronous,
                "max_staleness_updates": self.max_trajectory_age_steps,
            }
        )


def points(path: Path = TABLE) -> list[RLPoint]:
    """The calibration table, its trainer layouts checked as a scenario's (check_layouts) and
    each whole `trainer` as a scenario's RL trainer (RLTrainerSpec: `recompute` from 0 to 1,
    positive batch figures), a bad one a ConfigError naming file, line and field (review21b:
    `recompute: 1.5` raised a bare pydantic ValidationError with no file or line), and a
    dense policy's trainer `fused_grouped_gemm` refused on its line (dense_fused_problem;
    review s33: accepted and silently unused)."""
    check_layouts(path, "points", (("trainer", "layout"),))
    from fleetcore.errors import ConfigError
    from fleetcore.yamlio import load_yaml, validate
    from planner.kinds.rl import RLTrainerSpec

    doc = load_yaml(path)
    problems = []
    catalog: Catalog | None = None
    for i, p in enumerate(doc.data.get("points") or []):
        if isinstance(p, dict) and p.get("trainer") is not None:
            try:
                validate(RLTrainerSpec, doc, ("points", i, "trainer"))
            except ConfigError as exc:
                problems.extend(exc.problems)
            layout = p["trainer"].get("layout") if isinstance(p["trainer"], dict) else None
            if isinstance(layout, dict) and layout.get("fused_grouped_gemm"):
                catalog = catalog or load_catalog()
                arch = catalog.models.get(p.get("model", ""))
                if arch is not None and arch.moe is None:
                    problems.append(
                        doc.problem(
                            ("points", i, "trainer", "layout", "fused_grouped_gemm"),
                            dense_fused_problem(p["model"]),
                        )
                    )
    if problems:
        raise ConfigError(problems)
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        RLPoint(
            id=p["id"],
            model=p["model"],
            system=p["system"],
            gpus=int(p["gpus"]),
            precision=p["precision"],
            prompts_per_step=int(p["prompts_per_step"]),
            generations_per_prompt=int(p["generations_per_prompt"]),
            prompt_tokens=int(p["prompt_tokens"]),
            completion_tokens=int(p["completion_tokens"]),
            max_total_sequence_length=int(p["max_total_sequence_length"]),
            generation_instance_gpus=int(p["generation_instance_gpus"]),
            published=float(p["published"]),
            tolerance=float(p["tolerance"]),
            source=p["source"],
            known_miss=" ".join(str(p.get("known_miss", "")).split()),
            trainer=p.get("trainer"),
            generator=p.get("generator"),
            generation_gpus=p.get("generation_gpus"),
            max_trajectory_age_steps=int(p.get("max_trajectory_age_steps", 1)),
        )
        for p in data["points"]
    ]


def units(point: RLPoint, catalog: Catalog, gpus: int | None = None) -> float:
    """The run's GPUs (or `gpus` of them) in units of its system (fractional below one unit)."""
    hw = hardware(catalog, point.system)
    assert hw is not None
    return (point.gpus if gpus is None else gpus) / hw.accelerators


GENERATION_SIDE = ("generate", "generate_prefill")
WEIGHT_SYNC = "weight_sync"  # an asynchronous step's sync: both sides wait for it


def stage_seconds(point: RLPoint, catalog: Catalog) -> dict[str, float]:
    """Seconds per step of every planner role (work per step / (rate per unit x units)) and, for
    a colocated run, its refit, offload and overhead; math.inf for a role the system cannot
    run. An asynchronous run's generation roles over its generation GPUs, the rest over the
    others (`step_s` takes the larger side)."""
    spec = point.spec()
    # The update's training and log-prob passes over the run's own GPUs (update_passes), as the
    # LP takes them over the run's work-sized accelerators (planner/kinds/rl.py); generation at
    # the concurrency of the GPUs that generate.
    gen = rl_rates(spec, catalog, point.system, accelerators=point.generating_gpus)
    rates = (
        rl_rates(spec, catalog, point.system, accelerators=point.training_gpus)
        if point.asynchronous
        else gen
    )
    out: dict[str, float] = {}
    for role in rl_roles(spec, catalog):
        side = role.name in GENERATION_SIDE
        rate = (gen if side else rates)[role.name]
        gpus = point.generating_gpus if side else point.training_gpus
        work = role.per_sample * point.rollouts
        out[role.name] = (
            work / (rate.per_unit_s * units(point, catalog, gpus)) if rate.feasible else math.inf
        )
    # The LP's pace row (planner/kinds/rl.py add_pace): an update's generation lasts at least
    # its longest sample's decode, max_completion_tokens x the fastest step at one sequence,
    # shared by the max(1, staleness) updates in flight.
    floor = update_floor_s(spec, catalog, point.system)
    if floor is not None:
        out["generate"] = max(out["generate"], floor / max(1, point.max_trajectory_age_steps))
    if point.asynchronous:
        # The weight sync after each training pass (planner/demand/rl.py pool_sync_s): the
        # whole model broadcast from the trainer to every generator over the job's GPUs.
        sync = pool_sync_s(spec, catalog, point.system, accelerators=point.gpus)
        assert sync is not None, f"{point.id}: {point.system} has no RL figures"
        out[WEIGHT_SYNC] = sync.total_s
        return out
    # The colocated update's own costs (planner/demand/rl.py colocated_update_s), the training
    # state spread over the run's own GPUs.
    co = colocated_update_s(spec, catalog, point.system, accelerators=point.gpus)
    assert co is not None, f"{point.id}: {point.system} has no colocated RL figures"
    out["refit"] = co.refit_s
    out["offload"] = co.offload_s
    out["update_overhead"] = co.overhead_s
    return out


def step_s(point: RLPoint, stages: dict[str, float]) -> float:
    """A colocated step: every stage in turn; an asynchronous one: the slower of its two sides,
    then the weight sync (the generators pause for it, the trainer waits for it)."""
    if not point.asynchronous:
        return sum(stages.values())
    generation = sum(v for k, v in stages.items() if k in GENERATION_SIDE)
    training = sum(v for k, v in stages.items() if k not in (*GENERATION_SIDE, WEIGHT_SYNC))
    return max(generation, training) + stages.get(WEIGHT_SYNC, 0.0)


def predict(point: RLPoint, catalog: Catalog | None = None) -> float:
    """The planner's seconds per RL step (`step_s` of `stage_seconds`)."""
    return step_s(point, stage_seconds(point, catalog or load_catalog()))


def run_concurrency_generation(point: RLPoint, catalog: Catalog) -> dict[str, float]:
    """Diagnostic: generation on the recipe's vLLM instance size at a constant batch. batch = rollouts / vLLM instances of
    the recipe's size, at most what the recipe's own layout's HBM holds; the recipe's own layout
    (`generator:`), else the planner's fastest layout of that size holding the batch; returns the
    batch, step(batch) and step(1) in s, mean response x step(batch) ("generate_s") and the decode
    floor of one response running to the length cap alone, (cap - prompt) x step(1)."""
    arch = catalog.models[point.model]
    hw = hardware(catalog, point.system)
    assert hw is not None
    p, c, share = point.prompt_tokens, point.completion_tokens, point.generations_per_prompt
    load = model_load(arch, point.precision, point.precision, p, c, share)
    a = point.generation_instance_gpus
    batch = math.ceil(point.rollouts / (point.generating_gpus // a))
    pinned, fraction, _, _ = generator_args(point.spec())
    if pinned is not None:
        own = pinned_layout(arch, hw, load, *pinned, fraction)
        assert not isinstance(own, str), f"{point.id}: {own}"
        candidates = [own]
    else:
        candidates = layouts(arch, hw, load, max(1, math.ceil(a / hw.accelerators)))
    best = None
    for lay in candidates:
        fits = lay.free_bytes / (load.kv_stored_per_sequence * kv_replication(arch, lay.tp))
        # The recipe's own layout at the batch its HBM holds when it holds fewer (vLLM then
        # runs the rest as HBM frees); another layout only if it holds the whole batch.
        held = min(batch, math.floor(fits)) if pinned is not None else batch
        if lay.accelerators != a or fits < held or held < 1:
            continue
        step = step_terms(hw, load, lay, held, False).step_s
        if best is None or step < best[1]:
            best = (lay, step, held)
    assert best is not None, f"{point.id}: no layout of {a} GPUs holds {batch} sequences"
    lay, step, batch = best
    single = step_terms(hw, load, lay, 1, False).step_s
    return {
        "batch": float(batch),
        "step_s": step,
        "step_1_s": single,
        "generate_s": c * step,
        "longest_floor_s": (point.max_total_sequence_length - p) * single,
    }


def generation_reason(point: RLPoint, catalog: Catalog) -> str:
    """The generation rate's derivation at the run's concurrency (up to the saturated part)."""
    rates = rl_rates(point.spec(), catalog, point.system, accelerators=point.generating_gpus)
    return rates["generate"].reason.split("; saturated")[0]


def within(point: RLPoint, value: float) -> bool:
    return abs(value - point.published) <= point.tolerance * point.published


def rows(catalog: Catalog | None = None) -> list[AccuracyRow]:
    """Published vs planner seconds per RL step for every point."""
    cat = catalog or load_catalog()
    return [
        AccuracyRow(
            FAMILY, p.id, METRIC, p.published, predict(p, cat), p.source, bool(p.known_miss)
        )
        for p in points()
    ]


def report(catalog: Catalog | None = None) -> str:
    """Per point: the planner's stages, its step vs the published one, and the diagnostics."""
    cat = catalog or load_catalog()
    lines = []
    for p in points():
        stages = stage_seconds(p, cat)
        diag = run_concurrency_generation(p, cat)
        total = step_s(p, stages)
        lines.append(
            f"{p.id}: planner {total:.1f} s vs published {p.published:g} s "
            f"({(total - p.published) / p.published:+.0%})"
        )
        lines.append("  " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
        lines.append("  generate: " + generation_reason(p, cat))
        lines.append(
            f"  diagnostic: the recipe's vLLM instances at a constant batch {diag['batch']:.0f} "
            f"(step {diag['step_s'] * 1e3:.2f} ms) {diag['generate_s']:.1f} s; one response to "
            f"the {p.max_total_sequence_length}-token cap alone (step(1) "
            f"{diag['step_1_s'] * 1e3:.2f} ms) {diag['longest_floor_s']:.1f} s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
