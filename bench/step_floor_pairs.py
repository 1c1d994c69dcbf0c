"""A per-step fixed cost in training, identified from same-submitter pairs? (session s20
stepfloor; analysis, a negative result, no model change)

The MLPerf Training v6.0 Llama 3.1 8B NVFP4 runs (NVIDIA's NeMo recipe, TP1, one micro-batch a
step) of one submitter at one and at two sequences a GPU give two equations in two unknowns:
measured step = F + n x s for n = 1, 2 sequences a micro-batch, so the per-sequence cost s =
step(2) - step(1) and the per-step cost F = 2 step(1) - step(2) separate (`pair_lines`). The
step model's line is ~182 ms a sequence and ~9 ms a step on GB300 (~195 and ~3 before the
per-linear GEMM shape of session s32 pergemm; docs/models.md, session
train60more). The candidate: a per-step term F in step_time, fitted per accelerator family at
most, with the family's FP4 gemm_efficiency refitted jointly.

1. *What a refit can reach* (`implied_fraction`). Only the GEMMs carry a fitted figure
   (gemm_efficiency.fp4); the output head (BF16), attention (BF16 rate, attention_efficiency),
   memory-bound passes and the optimizer are not fitted. Split the model's per-sequence slope
   into its FP4 GEMM part G (at the catalog fraction e0) and the rest N: the fraction that makes
   the model's slope equal the measured one is e0 x G / (s - N), and no fraction at or below 1
   (the whole dense FP4 peak after the shape factor) reaches s when s < N + e0 x G.
2. *The joint fit* (`joint_fit`): a per-step term F on every step of a family's parts (all
   precisions: the candidates below are precision-blind), the family's FP4 fraction refitted
   by its catalog procedure (the same fit points, grid 0.30-1.00 in 0.01 steps minimising their
   mean absolute error), then every training row of planner/calibration/training.yaml counted
   in and out of its band. A counterfactual applied around planner.calibration.training._step
   (the StepTime's step, tokens/s and MFU recomputed with F), not a planner change.

Candidate physics, each with its size (the figures in docs/models.md, session stepfloor):
the optimizer's HBM bytes (already in the model: 0.6 ms at DP72, 5.7 ms at DP8), its
multi-tensor launches (tens at 5 us), the gradient-norm / found-inf / loss all-reduces
(small-message NCCL latency, tens of us), the first parameter all-gather bucket and the last
gradient reduce-scatter bucket outside the overlap (768M parameters a bucket in these configs,
1.7-3.4 ms over NVLink): none is near 40-57 ms.

    PYTHONPATH=$PWD python bench/step_floor_pairs.py
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training
from planner.calibration.training import hardware
from planner.demand.inference import clear_physics_caches
from planner.demand.training import StepTime

RUNS = {run["id"]: run for run in training.runs()}
P = "mlperf60-llama31-8b-fp4-"
# (one sequence a GPU, two sequences a GPU), same submitter, same recipe and release
SAME_SUBMITTER_PAIRS: dict[str, tuple[str, str]] = {
    "HPE GB300 72 / 16": (P + "gb300-hpe-72gpu", P + "gb300-hpe-16gpu"),
    "HPE GB300 72 / 32": (P + "gb300-hpe-72gpu", P + "gb300-hpe-32gpu"),
    "Dell GB300 32 / 8": (P + "gb300-dell-32gpu", P + "gb300-dell-8gpu"),
    "Dell GB300 32 / 16": (P + "gb300-dell-32gpu", P + "gb300-dell-16gpu"),
    "Oracle GB300 72 / 8": (P + "gb300-oracle-72gpu", P + "gb300-oracle-8gpu"),
    "Nebius GB300 72 / 8": (P + "gb300-nebius-72gpu", P + "gb300-nebius-8gpu"),
    "Nebius B300 64 / 8": (P + "b300-nebius-64gpu", P + "b300-nebius-8gpu"),
}
# B200 has no same-submitter pair; its two FP4 fit points (Lambda 8 GPUs at two sequences,
# CoreWeave 64 at one) are the nearest
CROSS_SUBMITTER_PAIRS: dict[str, tuple[str, str]] = {
    "CoreWeave 64 / Lambda 8 B200": (P + "b200-64gpu", P + "b200-8gpu"),
}
FAMILIES = {"gb300": ("gb300", "b300"), "b200": ("b200", "gb200")}
FIT_SYSTEM = {"gb300": "gb300-nvl72", "b200": "hgx-b200"}


def measured_step(run: dict[str, Any]) -> float:
    return float(run["global_batch_tokens"]) / float(run["published"])


def model_step(run: dict[str, Any], catalog: Catalog) -> StepTime:
    return training._step(catalog, run, run["layout"], 8192, run["global_batch_tokens"])


def pair_lines(one: str, two: str, catalog: Catalog) -> dict[str, float]:
    """Measured and modelled lines through a pair (s a sequence, F a step), the model's slope
    split into its FP4 GEMMs (G) and the rest (N), and the FP4 fraction the measured slope
    implies (inf when no fraction reaches it)."""
    r1, r2 = RUNS[one], RUNS[two]
    m1, m2 = measured_step(r1), measured_step(r2)
    st1, st2 = model_step(r1, catalog), model_step(r2, catalog)
    hw = hardware(catalog, r1["system"])
    assert hw is not None and hw.accelerator.training is not None
    e0 = hw.accelerator.training.gemm_efficiency["fp4"]
    gemm = st2.gemm_s - st1.gemm_s
    rest = (st2.step_s - st1.step_s) - gemm
    slope = m2 - m1
    implied = e0 * gemm / (slope - rest) if slope > rest else float("inf")
    return {
        "slope": slope,
        "intercept": 2 * m1 - m2,
        "model_slope": st2.step_s - st1.step_s,
        "model_intercept": 2 * st1.step_s - st2.step_s,
        "gemm": gemm,
        "rest": rest,
        "e0": e0,
        "implied": implied,
        "floor_at_one": rest + e0 * gemm,  # the model's slope with its FP4 GEMMs at e = 1
        # what the rest of the slope (head, attention, memory-bound) would have to be with the
        # FP4 GEMMs at the catalog fraction
        "rest_implied": slope - gemm,
    }


def _with_floor(floor: dict[str, float]) -> Callable[..., StepTime]:
    original = training._step

    def step(catalog: Catalog, run: dict[str, Any], *args: Any, **kw: Any) -> StepTime:
        st = original(catalog, run, *args, **kw)
        hw = hardware(catalog, run["system"])
        assert hw is not None
        name = next(n for n, a in catalog.accelerators.items() if a is hw.accelerator)
        f = floor.get(name, 0.0)
        if not f:
            return st
        s = st.step_s + f
        return dataclasses.replace(
            st, step_s=s, tokens_per_s=st.batch_tokens / s, mfu=st.mfu * st.step_s / s
        )

    return step


def _catalog(accs: tuple[str, ...], e: float, tmp: Path) -> Catalog:
    overlay = tmp / f"{'-'.join(accs)}-{e:.3f}.yaml"
    overlay.write_text(
        "accelerators:\n"
        + "".join(f"  {a}:\n    training:\n      gemm_efficiency: {{fp4: {e:.3f}}}\n" for a in accs)
    )
    clear_physics_caches()
    return load_catalog([overlay])


def joint_fit(family: str, floor_s: float, tmp: Path) -> dict[str, Any]:
    """F on the family's parts, its FP4 fraction refitted on its fit points by MAE (grid
    0.30-1.00 in 0.01 steps); every training row's error and band at the refit."""
    accs = FAMILIES[family]
    fit = [
        r
        for r in RUNS.values()
        if r.get("fit") == "gemm_efficiency.fp4" and r["system"] == FIT_SYSTEM[family]
    ]
    original = training._step
    training._step = _with_floor({a: floor_s for a in accs})  # type: ignore[assignment]
    try:

        def mae(e: float) -> float:
            cat = _catalog(accs, e, tmp)
            return sum(abs(training.predict(r, cat) / r["published"] - 1) for r in fit) / len(fit)

        grid = [i / 100 for i in range(30, 101)]
        maes = {e: mae(e) for e in grid}
        best = min(grid, key=lambda e: maes[e])
        cat = _catalog(accs, best, tmp)
        errors, left, came = {}, [], []
        for rid, run in RUNS.items():
            value = training.predict(run, cat)
            errors[rid] = value / run["published"] - 1
            inside = training.within(run, value)
            if inside and run.get("known_miss"):
                came.append(rid)
            if not inside and not run.get("known_miss"):
                left.append(rid)
    finally:
        training._step = original  # type: ignore[assignment]
        clear_physics_caches()
    return {"e": best, "mae": maes[best], "errors": errors, "left": left, "came_in": came}


def main() -> None:
    catalog = load_catalog()
    print("pair: measured s a sequence + F a step | model | FP4 GEMM / rest of the model's slope")
    for label, (one, two) in {**SAME_SUBMITTER_PAIRS, **CROSS_SUBMITTER_PAIRS}.items():
        d = pair_lines(one, two, catalog)
        print(
            f"  {label:30s} {d['slope'] * 1e3:6.1f} + {d['intercept'] * 1e3:5.1f} ms | "
            f"{d['model_slope'] * 1e3:6.1f} + {d['model_intercept'] * 1e3:4.1f} ms | "
            f"G {d['gemm'] * 1e3:5.1f} N {d['rest'] * 1e3:5.1f}, slope at e=1 "
            f"{d['floor_at_one'] * 1e3:5.1f} ms, implied e {d['implied']:.2f} (now {d['e0']}), "
            f"or N {d['rest_implied'] * 1e3:5.1f} ms at it"
        )
    with tempfile.TemporaryDirectory() as tmp:
        for family, floors in (("b200", (0.0, 0.038)), ("gb300", (0.0, 0.020, 0.040, 0.050))):
            for f in floors:
                r = joint_fit(family, f, Path(tmp))
                print(
                    f"{family} F {f * 1e3:3.0f} ms: e {r['e']:.2f} (fit MAE {r['mae']:.2%}), "
                    f"{len(r['left'])} passing rows leave, {len(r['came_in'])} known misses come in"
                )
                for rid in r["left"]:
                    print(f"    out: {rid} {r['errors'][rid]:+.1%}")
                for rid in r["came_in"]:
                    print(f"    in:  {rid} {r['errors'][rid]:+.1%}")


if __name__ == "__main__":
    main()
