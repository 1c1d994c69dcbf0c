"""The output-length law of the TPOT tail (output_tokens_percentiles, planner/demand/tpot_tail.py):
each figure against a computation by hand from the law's definition (a CDF linear between the
given percentiles, scaled to the mean output_tokens, length n holding F(n + 1/2) − F(n − 1/2),
conditioned on n >= 2)."""

from __future__ import annotations

import math

import pytest
import yaml

from hardware.catalog import load_catalog
from planner.calibration.serving import TABLE, points
from planner.demand.inference import estimate_inference
from planner.demand.tpot_tail import output_lengths, stall_quantile_s
from planner.kinds.inference import InferenceSpec, length_percentile_quantile

CATALOG = load_catalog()


def test_length_percentile_names() -> None:
    assert length_percentile_quantile("p0") == 0.0
    assert length_percentile_quantile("p0.5") == 0.005
    assert length_percentile_quantile("p0.25") == 0.0025
    assert length_percentile_quantile("p100") == 1.0
    for bad in ("p", "p101", "p0.125", "p1.", "50", "q5", "p-1", "p1e1"):
        assert length_percentile_quantile(bad) is None, bad


def test_percentile_law_by_hand() -> None:
    # {p0: 2, p50: 4, p100: 10}: mean 0.5 (2 + 4)/2 + 0.5 (4 + 10)/2 = 5, so at mean 5 unscaled:
    # F(2.5) = 0.125, F(3.5) = 0.375, F(4.5) = 0.5 + 0.5 x 0.5/6 = 0.541667, F(1.5) = 0.
    law = ((0.0, 2.0), (0.5, 4.0), (1.0, 10.0))
    lengths, weights = output_lengths(5.0, law)
    assert list(lengths[:3]) == [2, 3, 4]
    assert weights[0] == pytest.approx(0.125, rel=1e-9)
    assert weights[1] == pytest.approx(0.25, rel=1e-9)
    assert weights[2] == pytest.approx(0.5 + 0.25 / 6 - 0.375, rel=1e-9)
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)
    mean = sum(n * w for n, w in zip(lengths, weights, strict=True))
    assert mean == pytest.approx(5.0, rel=0.01)  # rounding to whole tokens, not the scale
    # At mean 10 every length doubles: (4, 0), (8, 0.5), (20, 1); n = 4 holds F(4.5) = 0.5 x 0.5/4.
    lengths, weights = output_lengths(10.0, law)
    assert lengths[0] == 4 and weights[0] == pytest.approx(0.0625, rel=1e-9)


def test_open_ends_by_hand() -> None:
    # {p50: 4} alone: from 1 token at p0 to 4 at p50, the other half all at 4 tokens; mean
    # 0.5 x 2.5 + 0.5 x 4 = 3.25. F(1.5) = 1/12, F(2.5) = 1/4, F(3.5) = 5/12, F(4.5) = 1:
    # n = 2, 3, 4 hold 1/6, 1/6, 7/12 of the 11/12 at n >= 2.
    lengths, weights = output_lengths(3.25, ((0.5, 4.0),))
    assert list(lengths) == [2, 3, 4]
    assert weights == pytest.approx([2 / 11, 2 / 11, 7 / 11], rel=1e-9)


def test_one_length_tail_is_the_poisson_quantile_by_hand() -> None:
    # Every request 11 tokens ({p0: 11, p100: 11}): 10 intervals, 0.05 prompts a step of 20 ms
    # each, K ~ Poisson(0.5). P(K >= 3) = 1 − e^-0.5 (1 + 0.5 + 0.125) = 1.44% >= 1%,
    # P(K >= 4) = 0.18%: the p99 is 3 stalls over 10 intervals, 6 ms; P(K >= 2) = 9.0% >= 5%:
    # the p95 is 4 ms. The geometric of the same mean 11 puts 2-token requests (one interval) in
    # the tail: a larger p99.
    law = ((0.0, 11.0), (1.0, 11.0))
    p_ge3 = 1 - math.exp(-0.5) * (1 + 0.5 + 0.125)
    assert p_ge3 == pytest.approx(0.0144, abs=1e-4)
    assert stall_quantile_s(0.99, 0.05, 0.020, 11.0, 1.0, 0.0, law) == pytest.approx(0.006)
    assert stall_quantile_s(0.95, 0.05, 0.020, 11.0, 1.0, 0.0, law) == pytest.approx(0.004)
    assert stall_quantile_s(0.99, 0.05, 0.020, 11.0) > 0.006


def test_the_mean_stall_is_the_law_free_chunk() -> None:
    # E[K s / (n − 1)] = r s / t for every n, so any law keeps the mean: check it on the weights.
    law = ((0.0, 3.0), (0.01, 150.0), (0.5, 700.0), (1.0, 1800.0))
    lengths, weights = output_lengths(653.0, law)
    rate, stall = 0.02, 0.5
    mean = sum(w * rate * (n - 1) * stall / (n - 1) for n, w in zip(lengths, weights, strict=True))
    assert mean == pytest.approx(rate * stall, rel=1e-12)


def _point_law(point_id: str) -> tuple[tuple[float, float], ...]:
    point = next(p for p in points() if p.id == point_id)
    law = point.spec.output_law
    assert law is not None
    return law


def test_405b_dataset_law_has_few_short_outputs() -> None:
    # The MLPerf Llama 3.1 405B reference outputs: 0.37% at <= 20 tokens (performance-dashboard
    # summary, in the yaml's text); the law through the yaml's percentiles gives, by hand,
    # F(20) = 0.003 + 0.001 x (20 − 6)/(81 − 6) = 0.32% before scaling to the run's 653 (x0.95);
    # the geometric of 653 puts 1 − (1 − 1/653)^20 = 3.0% there.
    law = _point_law("mlperf51-b200-llama31-405b-interactive")
    assert dict(law)[0.003] == 6 and dict(law)[0.004] == 81
    by_hand = 0.003 + 0.001 * 14 / 75
    assert by_hand == pytest.approx(0.00319, abs=1e-5)
    lengths, weights = output_lengths(653.0, law)
    short = float(weights[lengths <= 20].sum())
    assert 0.0030 < short < 0.0034
    geo_lengths, geo_weights = output_lengths(653.0)
    geo_short = float(geo_weights[geo_lengths <= 20].sum())
    geometric = 1 - (1 - 1 / 653) ** 20
    assert geometric == pytest.approx(0.0302, abs=1e-4)
    # conditioned on n >= 2: P(2 <= n <= 20) / P(n >= 2) = 1 − ρ^19
    assert geo_short == pytest.approx(1 - (1 - 1 / 653) ** 19, rel=1e-9)


def test_calibration_laws_are_their_datasets() -> None:
    # Every point with the field names its dataset summary, and the points of one model share it.
    raw = yaml.safe_load(TABLE.read_text(encoding="utf-8"))["points"]
    by_model: dict[str, set[tuple[tuple[float, float], ...]]] = {}
    for p, spec in ((p, s) for p, s in zip(raw, points(), strict=True)):
        if "output_tokens_percentiles" in p:
            assert spec.spec.output_law is not None
            by_model.setdefault(p["model"], set()).add(spec.spec.output_law)
    assert set(by_model) == {"llama-2-70b", "llama-3.1-405b", "deepseek-r1"}
    assert all(len(laws) == 1 for laws in by_model.values())
    text = TABLE.read_text(encoding="utf-8")
    for summary in ("llama2-70b-99.csv", "llama3-1-405b.csv", "deepseek-r1.csv"):
        assert f"mlperf-data/summaries/{summary} output_length" in text


def test_narrow_law_shrinks_the_tail_and_grows_the_batch() -> None:
    base = {
        "model": "llama-3.1-405b",
        "precision": "fp4",
        "kv_precision": "fp8",
        "requests_per_day": "1M",
        "prompt_tokens": 9429,
        "output_tokens": 653,
        "tokens_per_s_per_user": 12.5,
        "tpot_percentile": "p99",
        "prefill": "aggregated",
    }
    geo = estimate_inference(InferenceSpec.model_validate(base), CATALOG, "hgx-b200")
    law = _point_law("mlperf51-b200-llama31-405b-interactive")
    narrow = estimate_inference(
        InferenceSpec.model_validate(
            {**base, "output_tokens_percentiles": {f"p{q * 100:g}": t for q, t in law}}
        ),
        CATALOG,
        "hgx-b200",
    )
    assert geo.feasible and narrow.feasible
    assert geo.step_terms_s is not None and narrow.step_terms_s is not None
    assert narrow.step_terms_s["tpot_tail"] < 0.7 * geo.step_terms_s["tpot_tail"]
    assert narrow.max_batch > geo.max_batch
    assert (narrow.output_tokens_per_s_per_accelerator or 0) > (
        geo.output_tokens_per_s_per_accelerator or 0
    )


def test_default_is_the_geometric() -> None:
    # Without the field the law is the geometric of the mean (today's behaviour).
    spec = InferenceSpec.model_validate(
        {
            "model": "llama-3.1-8b",
            "requests_per_day": "1M",
            "prompt_tokens": 1000,
            "output_tokens": 500,
            "tokens_per_s_per_user": 30,
            "tpot_percentile": "p99",
            "prefill": "aggregated",
        }
    )
    assert spec.output_law is None
    lengths, weights = output_lengths(500.0, None)
    rho = 1 - 1 / 500
    assert weights[0] == pytest.approx((1 - rho) * rho / rho, rel=1e-9)  # P(2 | n >= 2) = 1 − ρ
