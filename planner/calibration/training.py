"""Training calibration: the runs of training.yaml (beside this file) against the training model.

Kinds of point:
  mfu          MFU of the pinned layout (model FLOPs 6·N_a + causal attention, over the peak)
  model_tflops model TFLOPS per accelerator of the pinned layout (MFU x peak)
  tokens_per_s tokens/s of the whole job at the pinned layout
  gpu_hours    sum over segments of tokens / (tokens/s per accelerator) / goodput (derived)
  time_ratio   time(base) / time(other), time = tokens trained to the target / tokens/s (each
               side's `tokens`, from its result log; the same on both sides when not given)
               x the side's `release_step_time_factor`: its software release's step time over
               the fitted release's on one identical config (measured; 1 when not given)
  speedup      throughput at `precision` / throughput at `base_precision`, same layout
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetcore.errors import ConfigError, Problem
from fleetcore.schema import BYTES_PER_VALUE
from fleetcore.yamlio import load_yaml
from hardware.catalog import Catalog, load_catalog
from planner.calibration import AccuracyRow, check_layouts
from planner.demand.common import SECONDS_PER_HOUR, hardware
from planner.demand.goodput import derive_goodput
from planner.demand.training import (
    RECOMPUTE_MODULE_NAMES,
    Layout,
    RunFigures,
    StepTime,
    dense_fused_problem,
    expert_parallel_problem,
    fsdp_problem,
    model_figures,
    step_time,
    train_figures,
)

TABLE = Path(__file__).with_name("training.yaml")
FAMILY = "training"
METRIC = {
    "mfu": "MFU",
    "tokens_per_s": "tokens/s (job)",
    "model_tflops": "model TFLOPS/GPU",
    "gpu_hours": "GPU-hours",
    "time_ratio": "time ratio",
    "speedup": "FP8/BF16 speed-up",
}


_LAYOUT_PATHS = (("layout",), ("base", "layout"), ("other", "layout"), ("segments", "layout"))


def runs(path: Path = TABLE) -> list[dict[str, Any]]:
    """The calibration table (plain dicts, as in training.yaml), its layouts checked as a
    scenario's (check_layouts: a bad one names file, line and field), then each run's
    `recompute` (a number from 0 to 1: the share of layers recomputed) and its layouts' FSDP
    and EP groups against the run's model (fsdp_problem, expert_parallel_problem: a hybrid
    FSDP group on a MoE model, an EP not dividing the experts) and a dense model's
    `fused_grouped_gemm` (dense_fused_problem), each problem on its file, line and field
    (review21b: `recompute: 1.5` or `-0.5` was priced, 1.5 as 50% more than full
    recomputation, `abc` a traceback; a MoE row's hybrid fsdp was priced unchecked; review
    s33: a dense row's fused_grouped_gemm was accepted and silently unused, as a scenario's
    had been before review s32)."""
    check_layouts(path, "runs", (("layout",), ("base", "layout"), ("other", "layout")))
    doc = load_yaml(path)
    problems: list[Problem] = []
    catalog: Catalog | None = None
    for i, run in enumerate(doc.data.get("runs") or []):
        if not isinstance(run, dict):
            continue
        if "recompute" in run:
            r = run["recompute"]
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0:
                problems.append(
                    doc.problem(
                        ("runs", i, "recompute"),
                        f"{r!r}: the share of layers recomputed, a number from 0 to 1",
                    )
                )
        for loc in _LAYOUT_PATHS:
            parts: list[tuple[Any, tuple[Any, ...]]] = [(run, ("runs", i))]
            for key in loc:
                nxt: list[tuple[Any, tuple[Any, ...]]] = []
                for part, where in parts:
                    if isinstance(part, dict) and key in part:
                        nxt.append((part[key], (*where, key)))
                    elif isinstance(part, list):
                        for j, item in enumerate(part):
                            if isinstance(item, dict) and key in item:
                                nxt.append((item[key], (*where, j, key)))
                parts = nxt
            for lay, where in parts:
                if not isinstance(lay, dict) or not (
                    lay.get("fsdp") or lay.get("ep", 1) > 1 or lay.get("fused_grouped_gemm")
                ):
                    continue
                catalog = catalog or load_catalog()
                arch = catalog.models.get(run.get("model", ""))
                if arch is None:
                    continue
                experts = arch.moe.experts if arch.moe else 0
                if lay.get("fused_grouped_gemm") and not experts:
                    problems.append(
                        doc.problem(
                            (*where, "fused_grouped_gemm"), dense_fused_problem(run["model"])
                        )
                    )
                    continue
                why = fsdp_problem(_layout(lay), experts) or expert_parallel_problem(
                    _layout(lay), experts
                )
                if why:
                    problems.append(doc.problem(where, why))
    if problems:
        raise ConfigError(problems)
    return list(doc.data["runs"])


def _layout(d: dict[str, Any]) -> Layout:
    modules = tuple(d.get("recompute_modules", ()))
    unknown = sorted(set(modules) - set(RECOMPUTE_MODULE_NAMES))
    if unknown:
        raise ValueError(
            f"layout recompute_modules {unknown} not modelled (modelled: "
            f"{', '.join(RECOMPUTE_MODULE_NAMES)})"
        )
    return Layout(
        tp=d.get("tp", 1),
        pp=d.get("pp", 1),
        dp=d.get("dp", 1),
        cp=d.get("cp", 1),
        ep=d.get("ep", 1),
        vp=d.get("vp", 1),
        micro_batch=d.get("micro_batch", 1),
        tp_comm_overlap=bool(d.get("tp_comm_overlap", False)),
        ep_comm_overlap=bool(d.get("ep_comm_overlap", False)),
        embedding_loss_in_pp_split=bool(d.get("embedding_loss_in_pp_split", False)),
        expert_capacity_factor=float(d.get("expert_capacity_factor", 0.0)),
        expert_tp=int(d.get("expert_tp", 0)),
        fused_grouped_gemm=bool(d.get("fused_grouped_gemm", False)),
        recompute_modules=modules,
        fsdp=int(d.get("fsdp", 0)),
    )


def _step(
    catalog: Catalog,
    run: dict[str, Any],
    layout: dict[str, Any],
    sequence_length: int,
    global_batch_tokens: float,
    precision: str | None = None,
    param_gather: str | None = None,
) -> StepTime:
    hw = hardware(catalog, run["system"])
    assert hw is not None
    f = train_figures(hw, precision or run["precision"])
    assert f is not None, f"no training figures for {run['system']}"
    arch = catalog.models[run["model"]]
    figures = RunFigures(
        sequence_length,
        float(global_batch_tokens),
        float(run.get("bytes_per_param", 16.0)),
        BYTES_PER_VALUE[run.get("gradient_precision", "bf16")],
        BYTES_PER_VALUE[param_gather or run.get("param_gather_precision", "bf16")],
    )
    mf = model_figures(arch, sequence_length, mtp=bool(run.get("mtp", True)))
    # `recompute`: the share of layers the recipe recomputes, when its source states it (a
    # remat policy); absent: the least that fits, as the planner chooses
    recompute = run.get("recompute")
    return step_time(
        _layout(layout), mf, f, figures, None if recompute is None else float(recompute)
    )


def predict(run: dict[str, Any], catalog: Catalog | None = None) -> float:
    """The planner's value of one calibration point (see the module docstring)."""
    catalog = catalog or load_catalog()
    kind = run["kind"]
    seq = int(run.get("sequence_length", 8192))
    if kind in ("mfu", "model_tflops", "tokens_per_s"):
        st = _step(catalog, run, run["layout"], seq, run["global_batch_tokens"])
        if kind == "mfu":
            return st.mfu
        if kind == "tokens_per_s":
            return st.tokens_per_s
        hw = hardware(catalog, run["system"])
        assert hw is not None
        return st.mfu * hw.peak(run["precision"]) / 1e12
    if kind == "speedup":
        fast = _step(catalog, run, run["layout"], seq, run["global_batch_tokens"])
        slow = _step(
            catalog, run, run["layout"], seq, run["global_batch_tokens"], run["base_precision"]
        )
        return fast.tokens_per_s / slow.tokens_per_s
    if kind == "time_ratio":
        times = []
        for side in (run["base"], run["other"]):
            st = _step(
                catalog,
                run,
                side["layout"],
                seq,
                side["global_batch_sequences"] * seq,
                param_gather=side.get("param_gather_precision"),
            )
            assert st.layout.accelerators == side["accelerators"], side
            release = float(side.get("release_step_time_factor", 1.0))
            times.append(float(side.get("tokens", 1.0)) / st.tokens_per_s * release)
        return times[0] / times[1]
    if kind == "gpu_hours":
        hw = hardware(catalog, run["system"])
        assert hw is not None and hw.system.reliability is not None
        arch = catalog.models[run["model"]]
        hours = 0.0
        for seg in run["segments"]:
            st = _step(
                catalog, run, seg["layout"], int(seg["sequence_length"]), run["global_batch_tokens"]
            )
            gp = derive_goodput(
                hw.system.reliability,
                st.layout.accelerators,
                float(run.get("bytes_per_param", 16.0)) * arch.params,
            )
            seconds = float(seg["tokens"]) / st.tokens_per_s / gp.goodput
            hours += seconds * st.layout.accelerators / SECONDS_PER_HOUR
        return hours
    raise ValueError(f"unknown calibration kind {kind!r}")


def tolerance(run: dict[str, Any]) -> str:
    """The point's tolerance, as text."""
    if "tolerance_abs" in run:
        return f"+/-{run['tolerance_abs']:g} absolute"
    return f"+/-{run['tolerance_rel']:.0%}"


def within(run: dict[str, Any], value: float) -> bool:
    """True if `value` is within the point's stated tolerance of the published figure."""
    published = float(run["published"])
    if "tolerance_abs" in run:
        return abs(value - published) <= float(run["tolerance_abs"])
    return abs(value - published) <= float(run["tolerance_rel"]) * abs(published)


def rows() -> list[AccuracyRow]:
    """Published vs planner for every training calibration point."""
    catalog = load_catalog()
    out = []
    for run in runs():
        point = run["id"] + (" (fit)" if run.get("fit") else "")
        out.append(
            AccuracyRow(
                family=FAMILY,
                point=point,
                metric=METRIC[run["kind"]],
                published=float(run["published"]),
                planner=predict(run, catalog),
                source=run["source"],
                known_miss=bool(run.get("known_miss")),
            )
        )
    return out
