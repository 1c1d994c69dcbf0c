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
from planner.workloads import InferenceSpec

TABLE = Path(__file__).with_name("serving.yaml")
METRIC = "output tok/s/GPU"


@dataclass(frozen=True)
class ServingPoint:
    """One measured run and the spec that describes it."""

    id: str
    family: str
    system: str
    spec: InferenceSpec
    published: float
    tolerance: float
    source: str
    assumed: str


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
            )
            if k in p
        }
        spec = InferenceSpec.model_validate(
            {"kind": "inference", "requests_per_day": "1M", **spec_data}
        )
        out.append(
            ServingPoint(
                id=p["id"],
                family=p["family"],
                system=p["system"],
                spec=spec,
                published=float(p["published"]),
                tolerance=float(p["tolerance"]),
                source=p["source"],
                assumed=str(p.get("assumed", "")),
            )
        )
    return out


def predict(point: ServingPoint, catalog: Catalog) -> InferenceEstimate:
    return estimate_inference(point.spec, catalog, point.system)


def rows(catalog: Catalog | None = None) -> list[AccuracyRow]:
    """Published vs planner output tok/s per accelerator for every point (0 if infeasible)."""
    cat = catalog or load_catalog()
    out = []
    for p in points():
        est = predict(p, cat)
        value = est.output_tokens_per_s_per_accelerator if est.feasible else 0.0
        out.append(AccuracyRow(p.family, p.id, METRIC, p.published, value or 0.0, p.source))
    return out
