"""Would the layout search pick FSDP? (session s21 fsdp: a scan, not the search).

The layout search leaves `fsdp` off (step_times_vector has no FSDP terms). This scan asks what
it would change: for each shipped scenario's pretraining workloads and every system with
training figures, the search's choice at its job size (pretrain_throughput) against the fastest
fitting candidate of the same size fully sharded (every candidate_layouts layout with fsdp =
DP·CP, evaluated one by one by step_time). Prints both and the FSDP layout's tokens/s over the
chosen one's.

    PYTHONPATH=$PWD python bench/fsdp_search_scan.py
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleetcore.schema import BYTES_PER_VALUE
from planner.demand.common import hardware
from planner.demand.pretrain import pretrain_throughput
from planner.demand.training import (
    RunFigures,
    candidate_layouts,
    model_figures,
    step_time,
    train_figures,
)
from planner.kinds.pretrain import PretrainSpec
from planner.scenario import load_scenario

SCENARIOS = ["frontier-lab.yaml", "frontier-3y.yaml", "rl-verifiers.yaml"]


def main() -> None:
    root = Path(__file__).resolve().parent.parent / "planner" / "scenarios"
    for file in SCENARIOS:
        scenario = load_scenario(root / file)
        catalog = scenario.catalog
        systems = [
            s
            for s in catalog.systems
            if (hw := hardware(catalog, s)) is not None and hw.system.training
        ]
        for name, spec in scenario.data.workloads.items():
            if not isinstance(spec, PretrainSpec) or spec.layout is not None:
                continue
            for system in systems:
                tt = pretrain_throughput(spec, catalog, system)
                if tt.step is None:
                    continue
                hw = hardware(catalog, system)
                assert hw is not None
                f = train_figures(hw, spec.precision)
                assert f is not None
                arch = catalog.models[spec.model_name]
                seq = spec.sequence_length
                mf = model_figures(arch, seq)
                run = RunFigures(
                    seq,
                    float(spec.global_batch_tokens),
                    spec.bytes_per_param,
                    BYTES_PER_VALUE[spec.gradient_precision],
                )
                g = tt.step.layout.accelerators
                best = None
                for lay in candidate_layouts(g, mf, f, run):
                    if lay.dp * lay.cp < 2:
                        continue
                    st = step_time(replace(lay, fsdp=lay.dp * lay.cp), mf, f, run)
                    if st.fits and (best is None or st.tokens_per_s > best.tokens_per_s):
                        best = st
                gain = best.tokens_per_s / tt.step.tokens_per_s - 1 if best else float("nan")
                print(
                    f"{file:18s} {name:14s} {system:16s} {g:>7,}  {tt.step.layout!s:44s} "
                    f"| {best.layout if best else '-'!s:52s} {gain:+.1%}"
                )


if __name__ == "__main__":
    main()
