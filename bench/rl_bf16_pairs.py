"""The Blackwell (B200-die) BF16 training fraction: the fraction each piece of evidence implies on
the current step model, and the paired fit on NeMo-RL's dense GB200 update passes. Since session
s33 the catalog figure (b200/gb200 training.gemm_efficiency.bf16, 0.48) is fitted on the two
Megatron-Bridge GB200 BF16 rows (bench/refit_gemm_efficiency.py); these pairs are its held-out
checks, read as a lower bound (see its source).

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

On the per-linear step model (session s32 pergemm; H100 BF16 0.58 fitted, the B200 die's 0.58 its
estimate) measured / planner is 1.07 and 1.20 on H100 and 1.51 and 1.77 on GB200. The paired fit
takes what NeMo-RL adds beyond the step model as common to the twins (one recipe, one table) and
asks which B200-die BF16 fraction makes each GB200 row read what its H100 twin reads:

    e* = argmin_e  sum over pairs of (ln(planner_gb200(e) / measured_gb200)
                                      - ln(planner_h100 / measured_h100))^2

grid 0.30-0.70 in 0.01 steps (b200 and gb200 moved together: the same die). The table of implied
fractions (0.01 grid over 0.30-0.80) adds each row alone, the on-policy pairs (generation in the
step), the Megatron-Bridge 25.11 GB200 BF16 MoE rows (planner/calibration/training.yaml
mbridge2511-*-bf16-gb200-*: another framework, no RL host work), DeepSeek-V3's BF16 row read to
its FP8 twin of the same table and system, and for contrast the GB300 BF16 MoE rows with the
B300 die's fraction moved (the same 2.5 PFLOP/s dense BF16 peak).

Host work the pairing cannot separate: NeMo-RL's host work runs on Grace (Neoverse V2) on GB200
and on x86 on H100, and NVIDIA-NeMo/RL's published performance pages (v0.4-v0.6) give step times
only, no per-stage split. Two bounds are printed: (1) the per-micro-batch host cost that would
explain each row's whole excess (a Grace/x86 ratio of it would have to be ~3x on the Llama pair
and ~11x on the Qwen pair: no one ratio); (2) Transformer Engine's ~100 us BF16 Linear dispatch
on Grace (NVIDIA/TransformerEngine issue #2053) against the smallest linear's GPU time per
micro-batch. Any Grace host cost above x86's makes the GB200 rows slower than their GEMMs, so the
paired fraction is a lower bound of the GPU's, not its value.

    PYTHONPATH=$PWD python bench/rl_bf16_pairs.py [overlay.yaml ...]   (~2-3 minutes)

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
FORMER = 0.58  # the unfitted estimate before session s33 (H100's fitted fraction since s32 pergemm)


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


def catalog_at(
    e: float, tmp: Path, overlays: tuple[Path, ...] = (), die: tuple[str, ...] = DIE
) -> Catalog:
    """The catalog (with any overlays) with one die's BF16 training fraction set to e (the B200
    die's unless another die's entries are given)."""
    extra = tmp / f"bf16-{'-'.join(die)}-{e:.4f}.yaml"
    extra.write_text(
        "accelerators:\n"
        + "".join(
            f"  {acc}:\n    training:\n      gemm_efficiency: {{{PRECISION}: {e:.4f}}}\n"
            for acc in die
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


TABLE_GRID = [i / 100 for i in range(30, 81)]
B300_DIE = ("gb300", "b300")  # Blackwell Ultra: the same BF16 dense peak, its own fractions
# The same table's FP8 run of DeepSeek-V3 on GB200 (PP8 EP32, the BF16 run PP4 EP64): the same
# framework, host (Grace) and MoE terms, its FP8 fraction fitted elsewhere (MLPerf 405B)
MOE_FP8_TWIN = (
    "mbridge2511-deepseek-v3-bf16-gb200-256gpu",
    "mbridge2511-deepseek-v3-fp8-gb200-256gpu",
)
MOE_CONTRAST = (
    "mbridge2511-qwen3-235b-a22b-bf16-gb300-256gpu",
    "mbridge2511-deepseek-v3-bf16-gb300-256gpu",
)
# Transformer Engine's BF16 Linear forward costs ~100 us of CPU on Grace (GB200: 99.66 us a call
# against 37.08 us for torch.nn.Linear, hidden 2,048 x 8,192 tokens; NVIDIA/TransformerEngine
# issue #2053, 2025-08): the host dispatch a GEMM must outlast for the CPU to stay ahead.
GRACE_TE_LINEAR_DISPATCH_S = 100e-6


def errors_over(
    ids: tuple[str, ...], tmp: Path, overlays: tuple[Path, ...] = (), die: tuple[str, ...] = DIE
) -> dict[float, dict[str, float]]:
    """ln(planner / measured) of each row at every TABLE_GRID value of the die's BF16 fraction."""
    table: dict[float, dict[str, float]] = {}
    for e in TABLE_GRID:
        cat = catalog_at(e, tmp, overlays, die)
        table[e] = {i: math.log(1 + relative_error(i, cat)) for i in ids}
    return table


def implied(table: dict[float, dict[str, float]], row: str, target: float = 0.0) -> float:
    """The grid value at which a row's log error is nearest target (0: the row alone; its H100
    twin's log error: the pair alone)."""
    return min(table, key=lambda e: abs(table[e][row] - target))


def smallest_linear_gpu_s(point: RLPoint, catalog: Catalog, e: float) -> float:
    """GPU time of the attention output projection (hidden x hidden / TP, the smallest dense
    linear of these models) on one training micro-batch at BF16 peak x e, seconds."""
    model = catalog.models[point.model]
    trainer = point.trainer or {}
    tp = trainer["layout"].get("tp", 1)
    width = model.heads * model.head_size if model.head_size else model.hidden
    flops = 2 * trainer["micro_batch_tokens"] * width * model.hidden / tp
    acc = catalog.systems[point.system].accelerator
    assert acc is not None, point.system
    return flops / (catalog.accelerators[acc].peak_flops["bf16"] * e)


def implied_table(tmp: Path, overlays: tuple[Path, ...] = ()) -> dict[str, float]:
    """Each evidence line's implied B200-die (or, for the GB300 contrast, B300-die) BF16 fraction:
    {row or pair label: fraction}. Pairs are GB200 rows read to their H100 twin's error."""
    clear_physics_caches()
    base = load_catalog(list(overlays))
    twins = {p.h100: log_error(p.h100, base) for p in PAIRS}
    b200 = errors_over((*(p.gb200 for p in PAIRS), *MOE_CHECKS), tmp, overlays)
    b300 = errors_over(MOE_CONTRAST, tmp, overlays, B300_DIE)
    out: dict[str, float] = {}
    for p in PAIRS:
        out[f"pair {p.gb200}"] = implied(b200, p.gb200, twins[p.h100])
        out[f"alone {p.gb200}"] = implied(b200, p.gb200)
    for r in MOE_CHECKS:
        out[f"alone {r}"] = implied(b200, r)
    bf16, fp8 = MOE_FP8_TWIN
    out[f"pair {bf16} (to its FP8 twin)"] = implied(
        b200, bf16, math.log(1 + relative_error(fp8, base))
    )
    for r in MOE_CONTRAST:
        out[f"alone {r}"] = implied(b300, r)
    return out


def main(argv: list[str]) -> None:
    overlays = tuple(Path(a) for a in argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = catalog_at(FORMER, tmp, overlays)
        print(f"at the former estimate {FORMER}: pair (GB200 / H100 twin), measured / planner step")
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
        print("host work: a per-micro-batch cost, if it were the whole excess (perfect packing):")
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
        print(
            "host dispatch: the smallest linear's GPU time a micro-batch against Transformer "
            f"Engine's ~{GRACE_TE_LINEAR_DISPATCH_S * 1e6:.0f} us Grace dispatch (at 0.39 / "
            f"{FORMER})"
        )
        for p in PAIRS:
            if p.fit:
                pt = POINTS[p.gb200]
                lo, hi = (1e6 * smallest_linear_gpu_s(pt, base, e) for e in (0.39, FORMER))
                print(f"  {pt.id:46s} {lo:.0f} / {hi:.0f} us")
        print("implied BF16 fraction (0.01 grid over 0.30-0.80; pair: read to its H100 twin)")
        for label, e in implied_table(tmp, overlays).items():
            edge = "  EDGE" if e in (TABLE_GRID[0], TABLE_GRID[-1]) else ""
            print(f"  {label:58s} {e:.2f}{edge}")
        best = fit(tmp, overlays)
        alone = [fit(tmp, overlays, (p,)) for p in PAIRS if p.fit]
        print(
            f"{'/'.join(DIE)} gemm_efficiency.{PRECISION}: {best:.2f} (paired least squares on the "
            f"log error over the fit pairs; each fit pair alone: "
            f"{', '.join(f'{a:.2f}' for a in alone)})"
        )
        cat = catalog_at(best, tmp, overlays)
        ids = (
            [p.gb200 for p in PAIRS]
            + [*MOE_CHECKS]
            + [q for q in POINTS if "gb200" in q and q not in {p.gb200 for p in PAIRS}]
        )
        print(f"row                                            at {FORMER}  at {best:.2f}")
        for i in ids:
            print(f"  {i:46s} {relative_error(i, base):+6.1%}  {relative_error(i, cat):+6.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
