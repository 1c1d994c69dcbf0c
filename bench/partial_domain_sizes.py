"""Whether a job of whole NVL72 racks run on 64 of each rack's 72 GPUs should also be rated at
the rounded-down sizes the layout search tries (session 30; analysis, no model change).

pretrain.training_throughput rates a job of N racks at its full size, at the rounded-down
sizes N // 2^k x 2^k racks (the rest idle), and, at its full size only, on 64 of each rack's
72 GPUs (pretrain._on_part_of_each_domain: power-of-two groups inside a rack). This prints, per
model and rack count, the rate chosen today and the best rate the 64-a-rack option would give
at any rounded-down size; a row marked WIN would be a job the search rates too slow.

    python bench/partial_domain_sizes.py                 # 2-32 racks, DeepSeek-V3 and Qwen3-235B
    python bench/partial_domain_sizes.py --racks 2 12

Each row is a layout search: ~1 s a row on one core.
"""

from __future__ import annotations

import argparse

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.pretrain import (
    IDLE_ROUNDING_STEPS,
    _on_part_of_each_domain,
    training_throughput,
)
from planner.demand.training import RunFigures, model_figures, train_figures

# (model, sequence tokens, sequences a batch): the MLPerf/Megatron-Bridge-style recipes of the
# calibration's GB200 rows at FP8, 10 B of state a parameter
JOBS = (("deepseek-v3", 4096, 15360), ("qwen3-235b-a22b", 4096, 2048))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--racks", type=int, nargs=2, default=(2, 32), metavar=("FIRST", "LAST"))
    args = parser.parse_args()
    catalog = load_catalog()
    hw = hardware(catalog, "gb200-nvl72")
    assert hw is not None
    f = train_figures(hw, "fp8")
    assert f is not None
    unit = hw.accelerators
    print(
        f"{'model':18s} {'racks':>5s} {'rated tok/s':>12s} {'64 a rack, rounded':>19s} {'at':>6s}"
    )
    wins = 0
    for name, seq, sequences in JOBS:
        arch = catalog.models[name]
        mf = model_figures(arch, seq)
        run = RunFigures(seq, sequences * float(seq), 10.0, 2.0)
        for racks in range(args.racks[0], args.racks[1] + 1):
            accelerators = racks * unit
            tt = training_throughput(
                hw,
                arch,
                "fp8",
                sequence_tokens=seq,
                global_batch_tokens=sequences * float(seq),
                bytes_per_param=10.0,
                gradient_precision="bf16",
                work_flops_per_token=1.0,
                accelerators=accelerators,
                goodput=1.0,
            )
            rated = tt.rate_per_unit_s / unit * accelerators  # the job's tokens/s
            best, at = 0.0, 0
            for k in range(1, IDLE_ROUNDING_STEPS + 1):
                used = accelerators // (unit << k) * (unit << k)
                if used <= unit:
                    break
                part = _on_part_of_each_domain(used, mf, f, run)
                if part is not None and part.best is not None and part.best.tokens_per_s > best:
                    best, at = part.best.tokens_per_s, used
            win = best > rated * (1 + 1e-12)
            wins += win
            print(
                f"{name:18s} {racks:5d} {rated:12.4g} {best:19.4g} {at:6d}"
                + ("  WIN" if win else "")
            )
    print(f"rows where a rounded-down size on 64 a rack beats the rate chosen: {wins}")


if __name__ == "__main__":
    main()
