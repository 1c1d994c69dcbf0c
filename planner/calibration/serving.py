"""Serving calibration: the measured runs in serving.yaml against `estimate_inference`.

The compared figure is output tokens/s per accelerator, prefill included (the accelerators also
prefill each request's prompt): 1 / (1/decode + (prompt/output)/prefill) per unit / accelerators.
Fixed-batch latency runs (`batch:` and `accelerators:` given, `counts: per-user`) compare tokens/s
per user instead: 1 / TPOT of the planner's decode step at that batch on the measured instance
(`accelerators` chips, one pipeline stage), the step `estimate_inference` would run there.
Prefill runs with `accelerators` given (`counts: prefill`) are rated on the measured instance
the same way: prompt tokens/s per chip of its prefill (serving_physics.prefill_time: compute,
the TP all-reduces over all its chips and an MoE model's EP terms).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardware.catalog import Catalog, load_catalog
from hardware.schema import ModelArch
from planner.calibration import AccuracyRow
from planner.demand.common import Hardware, hardware
from planner.demand.inference import (
    InferenceEstimate,
    estimate_inference,
    layouts,
    pinned_layout,
    serving_load,
)
from planner.demand.serving_physics import (
    Layout,
    ModelLoad,
    StepPhysics,
    StepTerms,
    model_load,
    padded_prompt_tokens,
    prefill_time,
    step_terms,
)
from planner.kinds.base import EngineSpec
from planner.kinds.inference import InferenceSpec

TABLE = Path(__file__).with_name("serving.yaml")


@dataclass(frozen=True)
class ServingPoint:
    """One measured run and the spec that describes it."""

    id: str
    family: str
    system: str
    spec: InferenceSpec
    published: float
    counts: str  # "output", "total" (input + output) tokens, "prefill" (prompt tokens prefilled)
    # or "per-user" (output tokens/s per user of a fixed-batch run)
    max_units_per_instance: int
    tolerance: float
    source: str
    assumed: str
    known_miss: str  # why the planner does not reproduce it, if it does not ("" otherwise)
    fit: str = ""  # the catalog figure fitted to this point ("" if it is a check)
    batch: int | None = None  # a fixed-batch run: the sequences decoded together
    # a fixed-batch or prefill run: the chips of the measured instance (TP over all, one stage)
    accelerators: int | None = None
    # an MLPerf Server/Interactive run (`mlperf_run: {queries, accelerators}`): the queries its
    # loadgen issued (min_query_count, the log's "Test Parameters Used") and the measured system's
    # accelerators; its figure is then the run's (run_factor), not the steady rate's
    run_queries: int | None = None
    run_accelerators: int | None = None


# Parsed tables by (path, size, modification time): the table is ~15,000 lines (~1.5 s with
# PyYAML's pure-Python loader), read by the accuracy table, the tests and the bench scripts many
# times a process. The points are frozen dataclasses; each call returns a new list of them.
_PARSED: dict[tuple[str, int, int], tuple[ServingPoint, ...]] = {}


def points(path: Path = TABLE) -> list[ServingPoint]:
    """The calibration table, each point's workload as an InferenceSpec (parsed once a process
    per version of the file)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED[key] = tuple(_parse(path))
    return list(parsed)


def _parse(path: Path) -> list[ServingPoint]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser, same constructors
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    out = []
    for p in data["points"]:
        spec_data = {
            k: p[k]
            for k in (
                "model",
                "precision",
                "kv_precision",
                "prompt_tokens",
                "output_tokens",
                "mode",
                "tokens_per_s_per_user",
                "tpot_percentile",
                "prompt_tokens_stdev",
                "output_tokens_percentiles",
                "ttft_p99",
                "prefill",
                "chunked_context",
                "draft_tokens",
                "draft_acceptance",
                "prefill_buckets_tokens",
                "engine",
            )
            if k in p
        }
        spec = InferenceSpec.model_validate({"requests_per_day": "1M", **spec_data})
        out.append(
            ServingPoint(
                id=p["id"],
                family=p["family"],
                system=p["system"],
                spec=spec,
                published=float(p["published"]),
                counts=str(p.get("counts", "output")),
                max_units_per_instance=int(p.get("max_units_per_instance", 4)),
                tolerance=float(p["tolerance"]),
                source=p["source"],
                assumed=str(p.get("assumed", "")),
                known_miss=str(p.get("known_miss", "")),
                fit=str(p.get("fit", "")),
                batch=int(p["batch"]) if "batch" in p else None,
                accelerators=int(p["accelerators"]) if "accelerators" in p else None,
                run_queries=int(p["mlperf_run"]["queries"]) if "mlperf_run" in p else None,
                run_accelerators=(
                    int(p["mlperf_run"]["accelerators"]) if "mlperf_run" in p else None
                ),
            )
        )
    return out


def predict(point: ServingPoint, catalog: Catalog) -> InferenceEstimate:
    return estimate_inference(
        point.spec, catalog, point.system, max_units_per_instance=point.max_units_per_instance
    )


def run_layout(point: ServingPoint, catalog: Catalog) -> tuple[Hardware, Layout] | None:
    """The measured instance of a point that names its `accelerators`: that many chips,
    tensor-parallel over all of them (the widest TP the catalog has for that size), one
    pipeline stage; None if the catalog has no such layout."""
    spec = point.spec
    hw = hardware(catalog, point.system)
    if hw is None or spec.model is None or point.accelerators is None:
        return None
    arch = catalog.models[spec.model]
    load = _load(point, catalog)
    sized = [
        x
        for x in layouts(arch, hw, load, point.max_units_per_instance)
        if x.accelerators == point.accelerators and x.pp == 1
    ]
    if not sized:
        return None
    return hw, max(sized, key=lambda x: x.tp)


def _load(point: ServingPoint, catalog: Catalog) -> ModelLoad:
    spec = point.spec
    assert spec.model is not None
    return model_load(
        catalog.models[spec.model],
        spec.precision,
        spec.kv_precision or spec.precision,
        spec.prompt_tokens,
        spec.output_tokens,
        spec.votes,
        spec.draft_tokens,
        spec.draft_acceptance,
        prefill_buckets=spec.prefill_buckets,
    )


def pinned_step(
    point_id: str,
    catalog: Catalog,
    tp: int,
    pp: int,
    ep: int,
    batch: int,
    parametric: bool = False,
) -> tuple[ModelArch, ModelLoad, StepTerms]:
    """The decode step (chunked prefill in it) of a serving point's spec at a batch and a
    TP x PP x EP layout of its own, for the scripts that compare a run's measured step with the
    planner's at the run's batch (bench/step_at_run_batch.py, bench/moe_kernel_bottom_up.py,
    bench/dense_decode_bottom_up.py): the model, its load and the step's terms. parametric: the
    point's parametric MoE terms even where it names a TensorRT-LLM release (parametric_moe)."""
    point = next(p for p in points() if p.id == point_id)
    if parametric:
        point = parametric_moe(point)
    spec = point.spec
    arch = catalog.models[spec.model_name]
    hw = hardware(catalog, point.system)
    assert hw is not None, point_id
    load = serving_load(spec, arch)
    lay = pinned_layout(arch, hw, load, tp, pp, ep)
    assert not isinstance(lay, str), lay
    return arch, load, StepPhysics(hw, load, lay).terms(batch, True)


def per_user_value(point: ServingPoint, catalog: Catalog) -> float:
    """A fixed-batch run in the planner's terms: output tokens/s per user = tokens per step /
    TPOT of the decode step of `point.batch` sequences on the measured instance (run_layout; no
    prefill chunk: the runs prefill between steps); 0 if the catalog has no such layout."""
    run = run_layout(point, catalog)
    if run is None or point.batch is None:
        return 0.0
    hw, lay = run
    return 1.0 / step_terms(hw, _load(point, catalog), lay, point.batch, False).tpot_s


def prefill_run_value(point: ServingPoint, catalog: Catalog) -> float:
    """A prefill run on a named instance in the planner's terms: prompt tokens/s per chip =
    1 / prefill_time(P'/2, padding P'/P).per_token_s / accelerators on the measured instance
    (run_layout: compute plus the TP all-reduces over all its chips; P' = the prompt padded to
    the run's compile-time bucket, P without `prefill_buckets_tokens`); 0 if the catalog has no
    such layout."""
    run = run_layout(point, catalog)
    if run is None:
        return 0.0
    hw, lay = run
    spec = point.spec
    assert spec.model is not None
    arch = catalog.models[spec.model]
    padded = padded_prompt_tokens(spec.prompt_tokens, spec.prefill_buckets)
    t = prefill_time(
        hw,
        arch,
        spec.precision,
        lay,
        padded / 2,
        padded,
        padded / spec.prompt_tokens,
        spec.kv_precision or spec.precision,
    )
    return t.tokens_per_s / lay.accelerators


def parametric_moe(point: ServingPoint) -> ServingPoint:
    """The point without its engine's TensorRT-LLM release (engine.tensorrt_llm_version): its
    decode step with the parametric MoE terms (the expert GEMMs' roofline, moe_layer_latency,
    moe_token_bandwidth) instead of the measured MoE module table, what the analyses of those
    fitted terms (bench/moe_release_fit.py, bench/moe_batch_cost_fit.py,
    bench/moe_kernel_bottom_up.py) evaluate; the point itself when it names no release."""
    engine = point.spec.engine
    if engine is None or engine.tensorrt_llm_version is None:
        return point
    spec = point.spec.model_copy(
        update={"engine": engine.model_copy(update={"tensorrt_llm_version": None})}
    )
    return dataclasses.replace(point, spec=spec)


def with_release(point: ServingPoint, release: str) -> ServingPoint:
    """The point as if its engine named TensorRT-LLM `release` where it names none (a point
    naming a release keeps its own): what a default release would do to the runs whose release
    is not stated (bench/moe_default_release.py)."""
    engine = point.spec.engine
    if engine is not None and engine.tensorrt_llm_version is not None:
        return point
    named = (engine or EngineSpec()).model_copy(update={"tensorrt_llm_version": release})
    return dataclasses.replace(point, spec=point.spec.model_copy(update={"engine": named}))


def point_value(point: ServingPoint, catalog: Catalog, run: bool = True) -> float:
    """The planner's figure for the point in its terms (0 if infeasible); run=False: the steady
    rate of a point that describes its MLPerf run (mlperf_run), without run_factor."""
    if point.counts == "per-user":
        return per_user_value(point, catalog)
    if point.counts == "prefill" and point.accelerators is not None:
        return prefill_run_value(point, catalog)
    return planner_value(point, predict(point, catalog), run)


def planner_value(point: ServingPoint, est: InferenceEstimate, run: bool = True) -> float:
    """The planner's figure in the point's terms: output tokens/s per accelerator, times
    (prompt + output) / output when the source counts input and output tokens; prompt tokens
    prefilled per second per accelerator (the prefill rate alone) for `counts: prefill`; 0 if
    infeasible. A point with `mlperf_run` (run_queries) takes its run's share of the steady rate
    (run_factor) unless run=False."""
    if not est.feasible or est.output_tokens_per_s_per_accelerator is None:
        return 0.0
    if point.counts == "prefill":
        per_instance = est.prefill_tokens_per_s_per_instance or 0.0
        return per_instance / (est.instance_accelerators or 1)
    value = est.output_tokens_per_s_per_accelerator
    if run and point.run_queries is not None:
        value *= run_factor(point, est, value)
    if point.counts == "total":
        spec = point.spec
        value *= (spec.prompt_tokens + spec.output_tokens) / spec.output_tokens
    return value


# MLPerf loadgen's min_duration for the LLM Server / Interactive runs (600,000 ms in every
# DeepSeek-R1 log of MLPerf Inference v6.0, "Test Parameters Used")
MLPERF_MIN_DURATION_S = 600.0


def run_factor(point: ServingPoint, est: InferenceEstimate, value: float) -> float:
    """The share of the planner's steady rate an MLPerf Server / Interactive run reports: T / (T +
    L) (docs/models.md "MLPerf runs are finite"). The loadgen's completed tokens per second is
    token_count / final_query_all_samples_done_time (mlcommons/inference loadgen/results.cc
    @05a9cec3, PerformanceSummary::LogSummary): every token of the run over the time from the
    first query's issue to the completion of the last query issued. Issued at the steady rate
    λ = value · G / O (G the measured system's accelerators) for T = max(Q / λ, min_duration),
    the last query then takes its latency L = TTFT + (O − 1) · TPOT (the mean request's: its
    length is one draw of the law); the run's tokens Q · O = λ · O · T are reported over T + L.
    value: the steady figure (output tokens/s an accelerator). Not counted: the peak in-flight
    count at the end of the issue window, λ · E[min(latency, T)], is below the steady λ · E[L]
    when the longest requests outlive T (~2% at the GB200 v6.0 Server run), which would let λ
    rise that much at the same p99 TPOT bound."""
    spec = point.spec
    assert point.run_queries is not None and point.run_accelerators is not None
    if value <= 0 or est.tpot_s is None:
        return 1.0
    rate = value * point.run_accelerators / spec.output_tokens
    issue_s = max(point.run_queries / rate, MLPERF_MIN_DURATION_S)
    last_s = (est.ttft_s or 0.0) + (spec.output_tokens - 1.0) * est.tpot_s
    return issue_s / (issue_s + last_s)


def rows(catalog: Catalog | None = None) -> list[AccuracyRow]:
    """Published vs planner tok/s per accelerator for every point (0 if infeasible)."""
    cat = catalog or load_catalog()
    out = []
    for p in points():
        metric = {
            "total": "total tok/s/GPU",
            "prefill": "prefill tok/s/GPU",
            "per-user": "tok/s/user",
        }.get(p.counts, "output tok/s/GPU")
        value = point_value(p, cat)
        name = p.id + (" (fit)" if p.fit else "")
        out.append(
            AccuracyRow(p.family, name, metric, p.published, value, p.source, bool(p.known_miss))
        )
    return out
