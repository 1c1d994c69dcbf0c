"""Compile-time prompt buckets (`prefill_buckets_tokens`): a prompt is computed at the smallest
bucket holding it, above the largest in passes of the largest; every prefill figure (the LP's
prefill rate, the estimate's prefill rate and TTFT, the aggregated prefill chunk) pays it, each
checked against a hand computation from the catalog figures."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.inference import estimate_inference, inference_rates, prefill_rate
from planner.demand.serving_physics import (
    StepPhysics,
    model_load,
    padded_prompt_tokens,
    prefill_time,
)
from planner.kinds.inference import InferenceSpec

CATALOG = load_catalog()
L405 = CATALOG.models["llama-3.1-405b"]
TRN2 = hardware(CATALOG, "trn2-server")


def test_padded_prompt_is_the_smallest_bucket_holding_it() -> None:
    buckets = (8192, 12288)
    assert padded_prompt_tokens(10000, buckets) == 12288
    assert padded_prompt_tokens(8192, buckets) == 8192  # a prompt of a bucket's length: no pad
    assert padded_prompt_tokens(100, buckets) == 8192
    # Above the largest bucket: passes of the largest, ceil(30,000 / 12,288) = 3 of them.
    assert padded_prompt_tokens(30000, buckets) == 3 * 12288
    assert padded_prompt_tokens(24576, buckets) == 2 * 12288
    # No buckets: the prompt itself.
    assert padded_prompt_tokens(10000, None) == 10000


def _trn2_405b_token_s(context: float) -> tuple[float, float]:
    """(compute, TP16 all-reduce) seconds of one computed prompt token of Llama 3.1 405B BF16 at
    mean context `context` on one trn2.48xlarge (16 Trainium2, TP16), from catalog figures."""
    sv = CATALOG.accelerators["trainium2"].serving
    assert sv is not None
    # 2 · (405B params − 2 V h) + 2 V h / (2 · context) (no GEMM for the input embedding, V h =
    # 128,256 x 16,384; the output head once per prompt of 2 · context tokens) + causal attention
    # 4 · heads 128 · layers 126 · head_dim 128 · context
    emb = 128256 * 16384
    flops = 2 * (405e9 - 2 * emb) + 2 * emb / (2 * context) + 4 * 128 * 126 * 128 * context
    compute = flops / (16 * 667e12 * sv.compute_utilisation["bf16"])
    # 2 all-reduces per layer of a token's 16,384 x 2 B activations, ring volume 2(16-1)/16,
    # over NeuronLink's 1.28 TB/s x link utilisation
    allreduce = 2 * 126 * 2 * 15 / 16 * 16384 * 2 / (1.28e12 * sv.link_bandwidth_utilisation)
    return compute, allreduce


def test_lp_prefill_rate_pays_the_bucket_by_hand() -> None:
    # A 10,000-token prompt with buckets [8192, 12288] runs in the 12,288 bucket: the chips
    # compute 12,288 tokens at mean context 6,144 for the prompt's 10,000.
    assert TRN2 is not None
    spec = InferenceSpec.model_validate(
        dict(
            model="llama-3.1-405b",
            precision="bf16",
            requests_per_day="1M",
            prompt_tokens=10000,
            output_tokens=1000,
            mode="offline",
            prefill_buckets_tokens=[8192, 12288],
        )
    )
    _, prefill = inference_rates(spec, CATALOG, "trn2-server")
    compute, allreduce = _trn2_405b_token_s(6144)
    padding = 12288 / 10000
    assert prefill.per_unit_s == pytest.approx(1 / (padding * (compute + allreduce)), rel=1e-12)
    assert "x 1.229 padding (prompt to its bucket)" in prefill.reason
    # Against the same prompt without buckets (mean context 5,000): the all-reduces cost exactly
    # 12,288/10,000 as much, the compute 12,288/10,000 x F(6,144)/F(5,000) (the padded tokens
    # also attend over a longer causal context).
    plain = prefill_rate(L405, TRN2, "bf16", "bf16", 10000, 5000)
    c0, a0 = _trn2_405b_token_s(5000)
    assert plain.per_unit_s == pytest.approx(1 / (c0 + a0), rel=1e-12)
    assert allreduce == pytest.approx(a0)
    emb = 128256 * 16384  # a prompt of 2 · ctx: no embedding GEMM, the head once per prompt
    f = lambda ctx: 2 * (405e9 - 2 * emb) + emb / ctx + 4 * 128 * 126 * 128 * ctx  # noqa: E731
    assert padding * compute / c0 == pytest.approx(12288 / 10000 * f(6144) / f(5000), rel=1e-12)


def test_no_buckets_and_a_bucket_of_the_prompt_change_nothing() -> None:
    base = dict(
        model="llama-3.1-405b",
        precision="bf16",
        requests_per_day="1M",
        prompt_tokens=8192,
        output_tokens=1000,
        mode="offline",
    )
    plain = InferenceSpec.model_validate(base)
    exact = InferenceSpec.model_validate({**base, "prefill_buckets_tokens": [4096, 8192]})
    assert plain.prefill_buckets is None
    a = estimate_inference(plain, CATALOG, "trn2-server")
    b = estimate_inference(exact, CATALOG, "trn2-server")
    assert a.feasible and b.feasible
    assert a.ttft_s == b.ttft_s and a.prefill_tokens_per_s_per_instance == (
        b.prefill_tokens_per_s_per_instance
    )
    assert a.output_tokens_per_s_per_accelerator == b.output_tokens_per_s_per_accelerator
    assert inference_rates(plain, CATALOG, "trn2-server") == inference_rates(
        exact, CATALOG, "trn2-server"
    )


def test_ttft_and_estimate_prefill_rate_pay_the_bucket() -> None:
    # The estimate's TTFT (prefill alone, offline) = 10,000 prompt tokens x the padded per-token
    # time on the estimate's own layout; the same prompt without buckets takes its unpadded time.
    assert TRN2 is not None
    base = dict(
        model="llama-3.1-405b",
        precision="bf16",
        requests_per_day="1M",
        prompt_tokens=10000,
        output_tokens=1000,
        mode="offline",
    )
    plain = estimate_inference(InferenceSpec.model_validate(base), CATALOG, "trn2-server")
    padded = estimate_inference(
        InferenceSpec.model_validate({**base, "prefill_buckets_tokens": [8192, 12288]}),
        CATALOG,
        "trn2-server",
    )
    assert plain.feasible and padded.feasible
    a = padded.instance_accelerators
    assert a is not None and a == plain.instance_accelerators
    sv = CATALOG.accelerators["trainium2"].serving
    assert sv is not None
    emb = 128256 * 16384  # a prompt of 2 · ctx: no embedding GEMM, the head once per prompt
    f = lambda ctx: 2 * (405e9 - 2 * emb) + emb / ctx + 4 * 128 * 126 * 128 * ctx  # noqa: E731
    rate = a * 667e12 * sv.compute_utilisation["bf16"]
    # the all-reduce part is the layout's; recover it from the unpadded estimate
    per_token_plain = 1 / plain.prefill_tokens_per_s_per_instance  # type: ignore[operator]
    allreduce = per_token_plain - f(5000) / rate
    per_token = 12288 / 10000 * (f(6144) / rate + allreduce)
    assert padded.prefill_tokens_per_s_per_instance == pytest.approx(1 / per_token, rel=1e-12)
    assert padded.ttft_s == pytest.approx(10000 * per_token, rel=1e-12)
    assert plain.ttft_s == pytest.approx(10000 * per_token_plain, rel=1e-12)


def test_aggregated_chunk_pays_the_bucket() -> None:
    # The prefill chunk each decode step carries is priced with the padded prompt too.
    assert TRN2 is not None
    load = model_load(L405, "bf16", "bf16", 10000, 1000, 1, prefill_buckets=(8192, 12288))
    assert load.prefill_context == 6144 and load.prefill_padding == pytest.approx(1.2288)
    from planner.demand.inference import layouts

    lay = next(x for x in layouts(L405, TRN2, load, 1) if x.accelerators == 16)
    step = StepPhysics(TRN2, load, lay)
    expected = prefill_time(TRN2, L405, "bf16", lay, 6144, 12288, 1.2288)
    assert step.prefill.per_token_s == pytest.approx(expected.per_token_s, rel=1e-12)
    plain = StepPhysics(TRN2, model_load(L405, "bf16", "bf16", 10000, 1000, 1), lay)
    assert step.prefill.per_token_s > 1.2288 * plain.prefill.per_token_s
