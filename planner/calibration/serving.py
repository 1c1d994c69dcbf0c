"""Serving calibration: the measured runs in serving.yaml against `estimate_inference`.

The compared figure is output tokens/s per accelerator, prefill included (the accelerators also
prefill each request's prompt): 1 / (1/decode + (prompt/output)/prefill) per unit / accelerators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardware.catalog import Catalog, load_catalog
from planner.calibration import AccuracyRow
from planner.demand.inference import InferenceEstimate, estimate_inference
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
    counts: str  # "output", "total" (input + output) tokens, or "prefill" (prompt tokens prefilled)
    max_units_per_instance: int
    tolerance: float
    source: str
    assumed: str
    known_miss: str  # why the planner does not reproduce it, if it does not ("" otherwise)


def points(path: Path = TABLE) -> list[ServingPoint]:
    """The calibration table, each point's workload as an InferenceSpec."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
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
                "ttft_p99",
                "prefill",
                "draft_tokens",
                "draft_acceptance",
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
            )
        )
    return out


def predict(point: ServingPoint, catalog: Catalog) -> InferenceEstimate:
    return estimate_inference(
        point.spec, catalog, point.system, max_units_per_instance=point.max_units_per_instance
    )


def planner_value(point: ServingPoint, est: InferenceEstimate) -> float:
    """The planner's figure in the point's terms: output tokens/s per accelerator, times
    (prompt + output) / output when the source counts input and output tokens; prompt tokens
    prefilled per second per accelerator (the prefill rate alone) for `counts: prefill`; 0 if
    infeasible."""
    if not est.feasible or est.output_tokens_per_s_per_accelerator is None:
        return 0.0
    if point.counts == "prefill":
        per_instance = est.prefill_tokens_per_s_per_instance or 0.0
        return per_instance / (est.instance_accelerators or 1)
    value = est.output_tokens_per_s_per_accelerator
    if point.counts == "total":
        spec = point.spec
        value *= (spec.prompt_tokens + spec.output_tokens) / spec.output_tokens
    return value


def rows(catalog: Catalog | None = None) -> list[AccuracyRow]:
    """Published vs planner tok/s per accelerator for every point (0 if infeasible)."""
    cat = catalog or load_catalog()
    out = []
    for p in points():
        metric = {"total": "total tok/s/GPU", "prefill": "prefill tok/s/GPU"}.get(
            p.counts, "output tok/s/GPU"
        )
        value = planner_value(p, predict(p, cat))
        out.append(
            AccuracyRow(p.family, p.id, metric, p.published, value, p.source, bool(p.known_miss))
        )
    return out
