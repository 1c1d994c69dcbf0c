"""The engine's per-step token budget (EngineSpec.max_num_tokens): the batch cap it sets
(serving_physics.token_budget_cap), and why it leaves the p99 TPOT tail alone (an engine
simulation of chunked prefill, bench/token_budget_sim.py).

Numbers: MLPerf Inference v5.1 B200 Llama 3.1 405B Interactive (closed/NVIDIA/configs/
B200-SXM-180GBx8/Interactive/llama3_1-405b.py @965182b0: TP4, runtime max_num_tokens 1,536,
enable_chunked_context True; 9,429-token mean prompts, stdev 4,066.9; 653 output tokens)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import gamma

from hardware.catalog import load_catalog
from planner.calibration.serving import points
from planner.demand.common import hardware
from planner.demand.inference import pinned_layout
from planner.demand.serving_physics import StepPhysics, model_load, token_budget_cap
from planner.demand.tpot_tail import stall_quantile_s

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


def test_token_budget_cap_by_hand() -> None:
    # B · (1 + P/O) <= M · pp · d: TP4 (pp 1, d 1), M 1,536, 9,429 / 653 prompt tokens an output
    # token: 1,536 / (1 + 14.439) = 99.49 sequences; decode only (disaggregated): 1,536.
    step, lay = _point_physics("mlperf51-b200-llama31-405b-interactive", BUDGET)
    assert token_budget_cap(step.load, lay, True) == pytest.approx(1536 / (1 + 9429 / 653))
    assert token_budget_cap(step.load, lay, False) == pytest.approx(1536.0)
    none, _ = _point_physics("mlperf51-b200-llama31-405b-interactive", None)
    assert token_budget_cap(none.load, lay, True) == math.inf


def test_budget_moves_no_step_term_and_no_tail() -> None:
    # Below its cap the budget changes nothing of a step: the same prefill work a step, and the
    # same p99 tail (a request waits for the same prefill, its chunks on consecutive steps).
    for point, budget, batch in (
        ("mlperf51-b200-llama31-405b-interactive", BUDGET, 23),
        ("mlperf51-b200-dsr1-server", 3456, 1200),
    ):
        with_budget, _ = _point_physics(point, budget)
        without, _ = _point_physics(point, None)
        a, b = with_budget.terms(batch, True), without.terms(batch, True)
        assert (a.step_s, a.chunk_s, a.tpot_tail_s) == (b.step_s, b.chunk_s, b.tpot_tail_s)
    step, lay = _point_physics("mlperf51-b200-dsr1-server", 3456)
    # per attention-DP rank: 8 budgets a step on TP1 x 8 ranks, 804 / 3,748 prompt tokens a step
    assert token_budget_cap(step.load, lay, True) == pytest.approx(
        3456 * 8 / (1 + 804 / 3748), rel=1e-3
    )


def _sim():
    path = Path(__file__).resolve().parent.parent / "bench" / "token_budget_sim.py"
    spec = importlib.util.spec_from_file_location("token_budget_sim", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_engine_simulation_chunks_do_not_narrow_the_tail() -> None:
    # Fixed-seed engine simulation (bench/token_budget_sim.py: Poisson prompts at r = 23 / 653 a
    # step, gamma lengths, 1,513 prompt tokens a step first come first served, geometric
    # outputs) at the B200 405B Interactive run's batch, prefill 74.6 us a token: the p99 − mean
    # of the per-request TPOT excess with the budget is within 25% of the whole-prompt law
    # (tpot_tail, the model) and of the same simulation without a budget, and far from a law
    # that counts each chunk as an independent Poisson stall (rate r · N, s_p / N each, N =
    # E[ceil(P / 1,513)] over the prompts by sampling), which is why the model keeps the tail.
    sim = _sim()
    tau, batch, out = 74.6e-6, 23, 653.0
    chunked = sim.simulate(batch, BUDGET, tau, out, 1_500_000, 11)
    whole = sim.simulate(batch, 10**9, tau, out, 1_500_000, 11)
    rate, s_p = batch / out, P * tau
    # the mean excess is the prefill work a step either way: r · s_p (24.8 ms)
    assert chunked.mean() == pytest.approx(rate * s_p, rel=0.05)
    assert whole.mean() == pytest.approx(rate * s_p, rel=0.05)
    tail_chunked = float(np.quantile(chunked, 0.99) - chunked.mean())
    tail_whole = float(np.quantile(whole, 0.99) - whole.mean())
    law = stall_quantile_s(0.99, rate, s_p, out, 1.0, SD / P) - rate * s_p
    assert tail_chunked == pytest.approx(law, rel=0.25)
    assert tail_whole == pytest.approx(law, rel=0.15)
    rng = np.random.default_rng(3)
    k = (P / SD) ** 2
    n_chunks = float(np.maximum(1, np.ceil(rng.gamma(k, P / k, 200_000) / (BUDGET - batch))).mean())
    chunk_poisson = stall_quantile_s(0.99, rate * n_chunks, s_p / n_chunks, out) - rate * s_p
    assert chunk_poisson < 0.5 * tail_chunked


def test_engine_simulation_with_the_dataset_lengths_matches_the_law() -> None:
    # The same engine with the 405B dataset's output lengths (output_tokens_percentiles of the
    # calibration point, scaled to 653): the tail with the 1,536-token budget (17.9 ms over 3M
    # steps; 1.5M here) and without it sit within 10% of the whole-prompt law with that law
    # (18.2 ms), less than half the geometric's (38.7).
    from planner.calibration.serving import points

    sim = _sim()
    lengths = next(
        p for p in points() if p.id == "mlperf51-b200-llama31-405b-interactive"
    ).spec.output_law
    assert lengths is not None
    tau, batch, out = 74.6e-6, 23, 653.0
    rate, s_p = batch / out, P * tau
    law = stall_quantile_s(0.99, rate, s_p, out, 1.0, SD / P, lengths) - rate * s_p
    geometric = stall_quantile_s(0.99, rate, s_p, out, 1.0, SD / P) - rate * s_p
    assert law < 0.5 * geometric
    for budget in (BUDGET, 10**9):
        y = sim.simulate(batch, budget, tau, out, 1_500_000, 11, lengths)
        assert y.mean() == pytest.approx(rate * s_p, rel=0.05)
        assert float(np.quantile(y, 0.99) - y.mean()) == pytest.approx(law, rel=0.10)
    # the draws follow the law: mean 653, none below 2 tokens, 0.3% at <= 20
    n = sim.output_draws(np.random.default_rng(5), out, 400_000, lengths)
    assert n.mean() == pytest.approx(out, rel=0.01)
    assert n.min() >= 2 and 0.002 < (n <= 20).mean() < 0.0045


def test_gamma_law_used_by_the_sampling_test_is_the_prompts() -> None:
    # guard: the gamma of mean 9,429 and cv 0.431 the tests sample is the one chunk_law
    # integrates (its mean and stdev)
    c = SD / P
    k = 1 / c**2
    assert gamma.mean(k, scale=P / k) == pytest.approx(P)
    assert gamma.std(k, scale=P / k) == pytest.approx(SD)
