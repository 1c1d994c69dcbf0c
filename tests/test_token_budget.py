"""The engine's per-step token budget (EngineSpec.max_num_tokens): the batch cap it sets and the
chunked prompts the p99 TPOT tail sees (tpot_tail.chunk_law, StepPhysics._tail_s).

Numbers: MLPerf Inference v5.1 B200 Llama 3.1 405B Interactive (closed/NVIDIA/configs/
B200-SXM-180GBx8/Interactive/llama3_1-405b.py @965182b0: TP4, runtime max_num_tokens 1,536,
enable_chunked_context True; 9,429-token mean prompts, stdev 4,066.9; 653 output tokens)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import gamma, poisson

from hardware.catalog import load_catalog
from planner.calibration.serving import points
from planner.demand.common import hardware
from planner.demand.inference import pinned_layout
from planner.demand.serving_physics import StepPhysics, model_load, token_budget_cap
from planner.demand.tpot_tail import chunk_law, stall_quantile_s

CATALOG = load_catalog()
P, SD, OUT = 9429.0, 4066.9, 653.0
BUDGET = 1536


def _point_physics(point_id: str, budget: int | None) -> tuple[StepPhysics, object]:
    p = next(q for q in points() if q.id == point_id)
    s = p.spec
    arch = CATALOG.models[s.model_name]
    hw = hardware(CATALOG, p.system)
    assert hw is not None and s.engine is not None and s.engine.layout is not None
    load = model_load(
        arch,
        s.precision,
        s.kv,
        s.prompt_tokens,
        s.output_tokens,
        s.votes,
        s.draft_tokens,
        s.draft_acceptance,
        s.prompt_cache_hit,
        s.tpot_quantile,
        s.prefill == "aggregated" and not s.chunked_context,
        s.prefill_buckets,
        s.prompt_tokens_cv,
        s.engine_graph_sizes,
        budget,
    )
    lay = pinned_layout(arch, hw, load, *s.engine.layout.pinned, 1)
    assert not isinstance(lay, str)
    return StepPhysics(hw, load, lay), lay


def test_calibration_points_carry_their_config_budget() -> None:
    # Every MLPerf v5.1 NVIDIA point names its config's runtime max_num_tokens (trtllm_runtime_
    # flags, not the engine build's): 405B B200 Offline / Server / Interactive 1,536 / 2,048 /
    # 1,536, GB200 1,536 / 2,048 / 1,024, GB300 1,536 / 1,536; Llama 2 70B 3,584 (Interactive
    # 768); 8B 12,000; DeepSeek-R1 4,608 / 3,456 (GB300 Offline 6,656).
    want = {
        "mlperf51-b200-llama31-405b-offline": 1536,
        "mlperf51-b200-llama31-405b-server": 2048,
        "mlperf51-b200-llama31-405b-interactive": 1536,
        "mlperf51-gb200-llama31-405b-offline": 1536,
        "mlperf51-gb200-llama31-405b-server": 2048,
        "mlperf51-gb200-llama31-405b-interactive": 1024,
        "mlperf51-gb300-llama31-405b-offline": 1536,
        "mlperf51-gb300-llama31-405b-server": 1536,
        "mlperf51-b200-llama2-70b-offline": 3584,
        "mlperf51-b200-llama2-70b-interactive": 768,
        "mlperf51-gb200-llama2-70b-offline": 3584,
        "mlperf51-gb200-llama2-70b-server": 3584,
        "mlperf51-b200-llama31-8b-offline": 12000,
        "mlperf51-b200-llama31-8b-server": 12000,
        "mlperf51-b200-llama31-8b-interactive": 12000,
        "mlperf51-b200-dsr1-offline": 4608,
        "mlperf51-b200-dsr1-server": 3456,
        "mlperf51-gb200-dsr1-offline": 4608,
        "mlperf51-gb200-dsr1-server": 3456,
        "mlperf51-gb300-dsr1-offline": 6656,
        "mlperf51-gb300-dsr1-server": 3456,
    }
    got = {
        p.id: p.spec.engine.max_num_tokens
        for p in points()
        if p.spec.engine is not None and p.id in want
    }
    assert got == want


def test_chunk_law_of_equal_prompts_is_the_ceiling() -> None:
    # No spread: N = ceil(P / C) chunks of P / N. At C = 1,536 - 36 = 1,500: ceil(6.286) = 7
    # chunks of 1,347 tokens; a prompt that fits is one chunk; no budget: the prompt itself.
    n, size, cv = chunk_law(P, 0.0, 1500.0)
    assert (n, size, cv) == (7.0, pytest.approx(9429 / 7), 0.0)
    assert chunk_law(222.0, 0.0, 514.0) == (1.0, 222.0, 0.0)
    assert chunk_law(P, SD / P, math.inf) == (1.0, P, SD / P)


def test_chunk_law_matches_sampled_prompts() -> None:
    # Gamma prompts (mean 9,429, cv 0.431), capacity 1,500: E[N], the mean chunk and its cv
    # against 400,000 sampled prompts split by hand (fixed seed).
    rng = np.random.default_rng(20261127)
    c = SD / P
    k = 1 / c**2
    prompts = rng.gamma(k, P / k, 400_000)
    n = np.maximum(1, np.ceil(prompts / 1500.0))
    chunks = np.repeat(prompts / n, n.astype(int))
    got_n, got_size, got_cv = chunk_law(P, c, 1500.0)
    assert got_n == pytest.approx(n.mean(), rel=0.005)
    assert got_size == pytest.approx(P / n.mean(), rel=0.005)
    assert got_cv == pytest.approx(chunks.std() / chunks.mean(), rel=0.02)
    # the budget, not the prompt, sets a chunk: its spread is far below the prompts'
    assert got_cv < 0.2 < c


def _geometric_lengths(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """n = 2 .. 20,000 with P(n) ∝ (1 − 1/mean)^(n − 1) (geometric on 1, 2, ..., n >= 2)."""
    n = np.arange(2, 20_001, dtype=float)
    w = (1 - 1 / mean) ** (n - 1)
    return n, w / w.sum()


def test_chunked_tail_recomputed_from_its_formula() -> None:
    # Equal prompts (c = 0) so the quantile has a closed form to recompute here without
    # tpot_tail: P(Y > y) = Σ_n P(n) P(Poisson(r·N·(n−1)) > y·(n−1)/s_c) with N = 7 chunks of
    # s_c = s_p / 7; the p99 is the y where that is 0.01 (bisection). r = 0.05 prompts a step,
    # s_p = 0.7 s (9,429 tokens at 74.6 us: the 405B TP4 prefill), O = 653.
    r, s_p, q = 0.05, 0.7, 0.99
    n_chunks, _, _ = chunk_law(P, 0.0, 1500.0)
    s_c = s_p / n_chunks
    lengths, weights = _geometric_lengths(OUT)

    def above(y: float) -> float:
        lam = r * n_chunks * (lengths - 1)
        # K · s_c / (n − 1) > y  <=>  K > y (n − 1) / s_c  <=>  K >= floor(that) + 1
        return float(np.dot(weights, poisson.sf(np.floor(y * (lengths - 1) / s_c), lam)))

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if above(mid) > 1 - q else (lo, mid)
    chunked = stall_quantile_s(q, r * n_chunks, s_c, OUT)
    assert chunked == pytest.approx(hi, rel=0.01)
    # whole prompts (one stall of s_p each: one at n = 10, 0.7 / 9) have the same mean but a
    # wider tail than the chunks' (one of 0.1 at n = 3: 0.05)
    whole = stall_quantile_s(q, r, s_p, OUT)
    assert whole == pytest.approx(0.7 / 9) and chunked == pytest.approx(0.1 / 2)


def test_compound_chunk_tail_against_monte_carlo() -> None:
    # The compound sum with the chunks' spread: 1,000,000 requests sampled (fixed seed): n
    # geometric (mean 653, n >= 2), K ~ Poisson(r · E[N] · (n − 1)) chunks, each a gamma of the
    # mean chunk's prefill and the chunks' cv; the p99 of Σ s_i / (n − 1) within 3%.
    rng = np.random.default_rng(7)
    r, s_p, q = 0.05, 0.7, 0.99
    n_chunks, _, cv = chunk_law(P, SD / P, 1500.0)
    s_c = s_p / n_chunks
    m = 1_000_000
    n = rng.geometric(1 / OUT, 4 * m)
    n = n[n >= 2][:m].astype(float)
    k = rng.poisson(r * n_chunks * (n - 1))
    shape = 1 / cv**2
    total = np.zeros(m)
    hit = k > 0
    total[hit] = rng.gamma(k[hit] * shape, s_c / shape)
    sampled = float(np.quantile(total / (n - 1), q))
    assert stall_quantile_s(q, r * n_chunks, s_c, OUT, 1.0, cv) == pytest.approx(sampled, rel=0.03)


def test_token_budget_cap_by_hand() -> None:
    # B · (1 + P/O) <= M · pp · d: TP4 (pp 1, d 1), M 1,536, 9,429 / 653 prompt tokens an output
    # token: 1,536 / (1 + 14.439) = 99.49 sequences; decode only (disaggregated): 1,536.
    step, lay = _point_physics("mlperf51-b200-llama31-405b-interactive", BUDGET)
    assert token_budget_cap(step.load, lay, True) == pytest.approx(1536 / (1 + 9429 / 653))
    assert token_budget_cap(step.load, lay, False) == pytest.approx(1536.0)
    none, _ = _point_physics("mlperf51-b200-llama31-405b-interactive", None)
    assert token_budget_cap(none.load, lay, True) == math.inf


def test_budget_keeps_the_mean_and_narrows_the_tail() -> None:
    # At the run's own batch (Little's law: 23 a TP4 instance, bench/step_at_run_batch.py) the
    # budget moves no part of the mean TPOT (the same prefill work a step) and the p99's stalls
    # are 1,536 − 23 = 1,513-token-capacity chunks: E[N] = chunk_law(P, c, 1,513), the tail
    # recomputed from stall_quantile_s at r · E[N] stalls of s_p / E[N].
    chunked, _ = _point_physics("mlperf51-b200-llama31-405b-interactive", BUDGET)
    whole, _ = _point_physics("mlperf51-b200-llama31-405b-interactive", None)
    a, b = chunked.terms(23, True), whole.terms(23, True)
    assert a.tpot_s == b.tpot_s and a.step_s == b.step_s and a.chunk_s == b.chunk_s
    load = chunked.load
    n_chunks, _, cv = chunk_law(P, SD / P, 1536 - 23)
    assert a.prompt_chunks == pytest.approx(n_chunks)
    r = 23 * (9429 / 653) / 9429  # prompts a step: B · P/O / P
    s_p = a.chunk_s / r
    expect = stall_quantile_s(0.99, r * n_chunks, s_p / n_chunks, OUT, 1.0, cv) - a.chunk_s
    assert a.tpot_tail_s == pytest.approx(expect, rel=1e-9)
    assert load.token_budget == BUDGET
    # the measured tail there is 15.4 ms (p99 77.7 - mean 62.3); whole prompts give 38.7
    assert 0.010 < a.tpot_tail_s < 0.020 < 0.035 < b.tpot_tail_s


def test_budget_without_chunked_context_splits_nothing() -> None:
    # chunked_context: false (the DeepSeek-R1 v5.1 runs): whole prompts stall one step each;
    # the budget only caps the batch.
    step, lay = _point_physics("mlperf51-b200-dsr1-server", 3456)
    t = step.terms(1200, True)
    assert t.prompt_chunks == 1.0
    none, _ = _point_physics("mlperf51-b200-dsr1-server", None)
    assert t.tpot_tail_s == none.terms(1200, True).tpot_tail_s
    # per attention-DP rank: 8 budgets a step on TP1 x 8 ranks, 804 / 3,748 prompt tokens a step
    assert token_budget_cap(step.load, lay, True) == pytest.approx(
        3456 * 8 / (1 + 804 / 3748), rel=1e-3
    )


def test_gamma_law_used_by_the_sampling_test_is_the_prompts() -> None:
    # guard: the gamma of mean 9,429 and cv 0.431 the tests sample is the one chunk_law
    # integrates (its mean and stdev)
    c = SD / P
    k = 1 / c**2
    assert gamma.mean(k, scale=P / k) == pytest.approx(P)
    assert gamma.std(k, scale=P / k) == pytest.approx(SD)
