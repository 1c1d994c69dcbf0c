"""Where does the layout search pick FSDP? (session s21 fsdp).

Since session s21 every search candidate with DP·CP > 1 has a fully sharded twin (fsdp = DP·CP).
For each shipped scenario's pretraining workloads and every system with training figures, at
the job size the search settles on (pretrain_throughput), the fastest fitting ZeRO-1 candidate
against the fastest fully sharded one (search_all: step_time over every candidate). Prints both
and the FSDP layout's tokens/s over the ZeRO-1 one's (positive: the search now picks FSDP).

    PYTHONPATH=$PWD python bench/fsdp_search_scan.py
"""

from __future__ import annotations

from pathlib import Path

from fleetcore.schema import BYTES_PER_VALUE
from planner.demand.common import hardware
from planner.demand.pretrain import pretrain_throughput
from planner.demand.training import RunFigures, model_figures, search_all, train_figures
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
                every = search_all(g, mf, f, run)
                zero1 = next((st for st in every if not st.layout.fsdp), None)
                best = next((st for st in every if st.layout.fsdp), None)
                if zero1 is None:
                    continue
                gain = best.tokens_per_s / zero1.tokens_per_s - 1 if best else float("nan")
                print(
                    f"{file:18s} {name:14s} {system:16s} {g:>7,}  {zero1.layout!s:44s} "
                    f"| {best.layout if best else '-'!s:52s} {gain:+.1%}"
                )


if __name__ == "__main__":
    main()
