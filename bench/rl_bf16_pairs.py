"""The Blackwell BF16 training fraction as NeMo-RL's dense GB200 update passes imply it, each
against its H100 twin (analysis and a re-runnable fit; the catalog figure is not changed here).

The rl-checks rows (planner/calibration/rl.yaml) include four dense, BF16, 1-step off-policy
(asynchronous) NeMo-RL v0.5 runs whose planner step is its training side (the log-prob passes
and the training passes on the GPUs that do not generate; generation is shorter, the weight sync
under a second), so they price the update passes alone, each on a stated Megatron layout:

  * Llama 3.1 8B: TP1 PP1, full activation recompute, 4,096-token packed micro-batches
    (train_micro_batch_size 1), 8,192-token log-prob micro-batches, 4 optimizer steps
    (train_global_batch_size 512 of 2,048 rollouts); H100 on 8 of 16 GPUs, GB200 on 4 of 8;
  * Qwen3-32B: 4,096-token packed micro-batches, no recompute, 16,384-token log-prob
    micro-batches, 4 optimizer steps; H100 TP4 SP PP4 on 32 of 64 GPUs, GB200 TP2 SP PP1 on 16
    of 32.

Measured / planner on those rows is 1.11 and 1.18 on H100 (whose BF16 fraction, 0.610, is
fitted on the Llama 3 paper's 405B MFUs) and 1.57 and 1.80 on GB200 (whose BF16 fraction is H100's,
an unfitted estimate). The planner's update on each row is its step model at the recipe's layout
(bubble, recompute, packing, optimizer steps are in it), so what NeMo-RL adds beyond the step
model (per-micro-batch Python and data movement, the loss's FP32 logits, cache flushes) shows as
the H100 twin's 1.11-1.18. The paired fit takes that as common to the twins (the same recipe and
software, one table) and asks which B200-die BF16 fraction makes each GB200 row read what its H100
twin reads:

    e* = argmin_e  sum over pairs of (ln(planner_gb200(e) / measured_gb200)
                                      - ln(planner_h100 / measured_h100))^2

grid 0.30-0.70 in 0.01 steps (b200 and gb200 moved together: the same die). Held-out checks: the
Megatron-Bridge 25.11 GB200 BF16 MoE rows (planner/calibration/training.yaml
mbridge2511-*-bf16-gb200-*, a different framework), the dense on-policy GB200 rows (generation
in the step) against their H100 twins, and every other GB200 rl-checks row.

What the pairing does not separate (why the result is reported, not adopted, in session s32):
NeMo-RL's per-step host work runs on Grace (Neoverse V2) on GB200 and on x86 on H100, and the
GB200 rows train on half the H100 rows' GPUs (twice the micro-batches a GPU), so a per-micro-batch
host cost would be charged to the GEMM fraction here; the rows give no stage split.

    PYTHONPATH=$PWD python bench/rl_bf16_pairs.py [overlay.yaml ...]

Re-run it after any change to the training step model (planner/demand/training.py: the GEMM
term, DP placement), as bench/refit_gemm_efficiency.py is re-run.
"""

from __future__ import annotations

import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration import training
from planner.calibration.rl import GENERATION_SIDE, WEIGHT_SYNC, RLPoint, points, stage_seconds
from planner.calibration.rl import step_s as rl_step_s
from planner.demand.inference import clear_physics_caches

DIE = ("b200", "gb200")  # the B200 die: both take one BF16 training fraction
PRECISION = "bf16"
GRID = [i / 100 for i in range(30, 71)]
FORMER = 0.61  # the unfitted figure before session s32 (H100's fitted fraction)


@dataclass(frozen=True)
class Pair:
    """A GB200 rl-checks row and its H100 twin (same model and recipe family, one table)."""

    gb200: str
    h100: str
    fit: bool  # a fit point (asynchronous, training-side bound) or a check (on-policy)


PAIRS = (
    Pair(
        "nemo-rl-0.5-gb200-llama3.1-8b-8gpu-1off", "nemo-rl-0.5-h100-llama3.1-8b-16gpu-1off", True
    ),
    Pair("nemo-rl-0.5-gb200-qwen3-32b-32gpu-1off", "nemo-rl-0.5-h100-qwen3-32b-64gpu-1off", True),
    Pair("nemo-rl-0.5-gb200-llama3.1-8b-8gpu", "nemo-rl-0.5-h100-llama3.1-8b-16gpu", False),
    Pair("nemo-rl-0.5-gb200-qwen3-32b-16gpu", "nemo-rl-0.5-h100-qwen3-32b-32gpu", False),
)
MOE_CHECKS = (
    "mbridge2511-qwen3-235b-a22b-bf16-gb200-256gpu",
    "mbridge2511-deepseek-v3-bf16-gb200-256gpu",
)

POINTS = {p.id: p for p in points()}
RUNS = {r["id"]: r for r in training.runs()}


def catalog_at(e: float, tmp: Path, overlays: tuple[Path, ...] = ()) -> Catalog:
    """The catalog (with any overlays) with the B200 die's BF16 training fraction set to e."""
    extra = tmp / f"bf16-{e:.4f}.yaml"
    extra.write_text(
        "accelerators:\n"
        + "".join(
            f"  {acc}:\n    training:\n      gemm_efficiency: {{{PRECISION}: {e:.4f}}}\n"
            for acc in DIE
        )
    )
    clear_physics_caches()
    return load_catalog([*overlays, extra])


def training_side_s(point: RLPoint, catalog: Catalog) -> float:
    """The planner's update passes (log-prob and training roles) of one step, seconds."""
    stages = stage_seconds(point, catalog)
    return sum(v for k, v in stages.items() if k not in (*GENERATION_SIDE, WEIGHT_SYNC))


def log_error(point_id: str, catalog: Catalog) -> float:
    """ln(planner step / measured step) of one rl-checks row."""
    point = POINTS[point_id]
    return math.log(rl_step_s(point, stage_seconds(point, catalog)) / point.published)


def paired_residual(pair: Pair, gb200_catalog: Catalog, h100_catalog: Catalog) -> float:
    """The GB200 row's log error minus its H100 twin's (0: the twins read alike)."""
    return log_error(pair.gb200, gb200_catalog) - log_error(pair.h100, h100_catalog)


def fit(tmp: Path, overlays: tuple[Path, ...] = (), pairs: tuple[Pair, ...] | None = None) -> float:
    """The grid value of the B200 die's BF16 fraction minimising the fit pairs' squared paired
    residuals (the H100 twins at the shipped catalog with the same overlays)."""
    chosen = pairs if pairs is not None else tuple(p for p in PAIRS if p.fit)
    clear_physics_caches()
    base = load_catalog(list(overlays))
    h100 = {p.h100: log_error(p.h100, base) for p in chosen}

    def score(e: float) -> float:
        cat = catalog_at(e, tmp, overlays)
        return sum((log_error(p.gb200, cat) - h100[p.h100]) ** 2 for p in chosen)

    return min(GRID, key=score)


def microbatches_per_rank(point: RLPoint) -> float:
    """Micro-batches one data-parallel rank runs per step, at perfect packing (a lower bound): the
    step's tokens over the recipe's packed training micro-batch, plus the two log-prob passes
    (previous policy, reference) over the log-prob micro-batch, over the DP ranks."""
    trainer = point.trainer or {}
    layout = trainer["layout"]
    dp = point.training_gpus / (layout.get("tp", 1) * layout.get("pp", 1))
    tokens = point.rollouts * (point.prompt_tokens + point.completion_tokens)
    train = tokens / trainer["micro_batch_tokens"]
    logprob = 2 * tokens / trainer["logprob_micro_batch_tokens"]
    return (train + logprob) / dp


def host_cost_per_microbatch_s(point_id: str, catalog: Catalog) -> float:
    """The fixed cost a micro-batch would carry if the whole excess of the measured step over
    the planner's were a per-micro-batch host cost (seconds)."""
    point = POINTS[point_id]
    excess = point.published - rl_step_s(point, stage_seconds(point, catalog))
    return excess / microbatches_per_rank(point)


def relative_error(point_id: str, catalog: Catalog) -> float:
    """planner / measured - 1 of an rl-checks row or a training calibration row."""
    if point_id in POINTS:
        return math.exp(log_error(point_id, catalog)) - 1
    run = RUNS[point_id]
    return training.predict(run, catalog) / run["published"] - 1


def main(argv: list[str]) -> None:
    overlays = tuple(Path(a) for a in argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = catalog_at(FORMER, tmp, overlays)
        print(f"at the former {FORMER}: pair (GB200 / H100 twin), measured / planner step")
        for p in PAIRS:
            role = "fit  " if p.fit else "check"
            g, h = POINTS[p.gb200], POINTS[p.h100]
            gs = math.exp(log_error(p.gb200, base))
            hs = math.exp(log_error(p.h100, base))
            side = (
                f" (training side {training_side_s(g, base):.1f} / {training_side_s(h, base):.1f} s)"
                if p.fit
                else ""
            )
            print(f"  {role} {g.id:42s} {1 / gs:.2f}  {h.id:42s} {1 / hs:.2f}{side}")
        print("a per-micro-batch host cost, if it were the whole excess (perfect packing):")
        for p in PAIRS:
            if p.fit:
                print(
                    "  "
                    + "  ".join(
                        f"{i}: {microbatches_per_rank(POINTS[i]):.0f} micro-batches a rank, "
                        f"{1000 * host_cost_per_microbatch_s(i, base):.0f} ms each"
                        for i in (p.gb200, p.h100)
                    )
                )
        best = fit(tmp, overlays)
        alone = [fit(tmp, overlays, (p,)) for p in PAIRS if p.fit]
        print(
            f"{'/'.join(DIE)} gemm_efficiency.{PRECISION}: {best:.2f} (paired least squares on the "
            f"log error; each fit pair alone: {', '.join(f'{a:.2f}' for a in alone)})"
        )
        cat = catalog_at(best, tmp, overlays)
        ids = (
            [p.gb200 for p in PAIRS]
            + [*MOE_CHECKS]
            + [q for q in POINTS if "gb200" in q and q not in {p.gb200 for p in PAIRS}]
        )
        print(f"row                                            at {FORMER}  at fit")
        for i in ids:
            print(f"  {i:46s} {relative_error(i, base):+6.1%}  {relative_error(i, cat):+6.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
