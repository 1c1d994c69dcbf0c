"""gpt-oss-20b in the catalog and the MLPerf Training v6.0 gpt_oss_20b checks
(planner/calibration/training.yaml, ids mlperf60-gpt-oss-20b-*; docs/models.md, MLPerf Training
v6.0 checks). Figures recomputed by hand from the sources the catalog and the rows quote."""

from __future__ import annotations

from statistics import median
from typing import Any

import pytest

from hardware.catalog import load_catalog
from planner.calibration import training

CATALOG = load_catalog()
RUNS = {r["id"]: r for r in training.runs() if r["id"].startswith("mlperf60-gpt-oss-20b-")}

H = 2880
VOCAB_O200K = 201088  # openai/gpt-oss-20b config.json
VOCAB_LLAMA3 = 128256  # the MLPerf reference's output layer (the Llama 3.1 tokenizer)
ROUTED = 24 * 32 * 3 * H * H  # layers x experts x (gate, up, down) x hidden x expert_ffn


def test_gpt_oss_20b_figures_follow_the_model_card() -> None:
    m = CATALOG.models["gpt-oss-20b"]
    assert (m.layers, m.hidden, m.heads, m.kv_heads, m.vocab) == (24, H, 64, 8, VOCAB_O200K)
    assert m.moe is not None and (m.moe.experts, m.moe.active_experts, m.moe.expert_ffn) == (
        32,
        4,
        H,
    )
    assert m.sliding_window is not None
    assert (m.sliding_window.tokens, m.sliding_window.layers) == (128, 12)
    # the card's Table 1: 20.91B total, 3.61B active (unembedding counted, input embedding not)
    assert m.params == pytest.approx(20.91e9, rel=0.005)
    assert m.active == pytest.approx(3.61e9 + VOCAB_O200K * H, rel=0.005)
    # the routed experts from the shapes (19.11B) match what the planner infers from N and N_a
    inferred = (m.params - m.active) / (1 - 4 / 32)
    assert inferred == pytest.approx(ROUTED, rel=0.005)
    # MXFP4 checkpoint: routed at 4.25 bits, the rest BF16 = 13.75 GB (the card: 12.8 GiB)
    by_hand = ROUTED * 4.25 / 8 + (20.91e9 - ROUTED) * 2
    assert by_hand == pytest.approx(12.8 * 2**30, rel=0.01)
    assert m.checkpoints["fp4"].weights_bytes == pytest.approx(by_hand, rel=0.005)


def test_mlperf_variant_is_gpt_oss_20b_with_the_llama_vocabulary() -> None:
    base, ml = CATALOG.models["gpt-oss-20b"], CATALOG.models["gpt-oss-20b-mlperf"]
    dropped = 2 * (VOCAB_O200K - VOCAB_LLAMA3) * H  # embedding + output head
    assert ml.vocab == VOCAB_LLAMA3
    assert ml.params == pytest.approx(base.params - dropped, rel=0.002)
    assert ml.params == pytest.approx(20_495_244_864, rel=0.002)  # the logs' TP1 PP1 rank
    assert ml.active == pytest.approx(base.active - dropped, rel=0.002)
    for f in ("layers", "hidden", "heads", "kv_heads", "moe", "sliding_window"):
        assert getattr(ml, f) == getattr(base, f), f


def test_gpt_oss_20b_published_figures_are_the_logged_block_means() -> None:
    cases = {
        "gb300-8gpu": 24 * 8192 / ((0.49352 + 0.49348) / 2),
        "gb300-hpe-16gpu": 32 * 8192 / ((0.35323 + 0.35346) / 2),
        "gb300-hpe-32gpu": 64 * 8192 / median([0.35169, 0.35152, 0.35174]),
        "gb300-72gpu": 36 * 8192 / median([0.16036, 0.16064, 0.15957]),
        "gb300-lambda-72gpu": 36 * 8192 / median([0.16116, 0.15970, 0.16152, 0.16191]),
        "gb300-512gpu": 64 * 8192 / median([0.08963, 0.09206, 0.08968, 0.08969, 0.09193]),
        "gb200-8gpu": 16 * 8192 / 0.43752,
        "gb200-72gpu": 36 * 8192 / median([0.16629, 0.16640, 0.16517]),
        "b300-cisco-8gpu": 24 * 8192 / ((0.56152 + 0.56149) / 2),
        # partner runs of the recipe (session train60p), each on a row's layout above
        "b300-asus-8gpu": 24 * 8192 / median([0.56121, 0.56170, 0.56161]),
        "b300-inventec-8gpu": 24 * 8192 / median([0.56385, 0.56416, 0.56401]),
        "gb300-hpe-8gpu": 24 * 8192 / ((0.49071 + 0.49070) / 2),
        "gb300-hpe-72gpu": 36 * 8192 / median([0.15820, 0.15955, 0.15967]),
    }
    assert set(RUNS) == {f"mlperf60-gpt-oss-20b-mxfp8-{k}" for k in cases}
    for key, value in cases.items():
        run = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{key}"]
        assert run["published"] == pytest.approx(value, rel=2e-4), key
        assert run["model"] == "gpt-oss-20b-mlperf" and run["sequence_length"] == 8192
        lay = run["layout"]
        gpus = lay["tp"] * lay.get("cp", 1) * lay["dp"]
        # one micro-batch a step: GBS = DP x micro-batch (the logs' gradient_accumulation 1)
        assert run["global_batch_tokens"] == lay["dp"] * lay["micro_batch"] * 8192, key
        assert str(gpus) + "gpu" in key, key


def _unpadded(run: dict[str, Any]) -> dict[str, Any]:
    """The row without its expert_capacity_factor (the model before session trainstep: the
    expert GEMMs over the routed copies)."""
    lay = {k: v for k, v in run["layout"].items() if k != "expert_capacity_factor"}
    return {**run, "layout": lay}


def _gap(run: dict[str, Any]) -> float:
    measured = run["global_batch_tokens"] / run["published"]
    model = run["global_batch_tokens"] / training.predict(run, CATALOG)
    return float(measured - model)


def test_without_the_padded_buffer_every_row_misses_by_a_per_step_cost() -> None:
    """Before session trainstep every row was a known miss, high: the measured step exceeds the
    model's by 63-121 ms whatever the tokens a GPU (1,024-24,576) and layout (docs/models.md)."""
    gaps = {k: _gap(_unpadded(r)) for k, r in RUNS.items()}
    assert all(0.06 < g < 0.125 for g in gaps.values()), gaps
    gb300 = [g for k, g in gaps.items() if "gb300" in k]
    assert max(gb300) - min(gb300) < 0.025


def test_the_padded_expert_gemms_close_the_gap() -> None:
    """Each run's config sets MOE_EXPERT_RANK_CAPACITY_FACTOR (1.5 on the 8-GPU EP1 runs, the
    config_common_cg.sh default 2 where a config sets none, 5 at CP2 EP4, 7 at TP2 CP4 EP8) and
    runs without paged stashing: the expert GEMMs run over C x the mean routed
    copies at that M's shape. 11 of 13 rows fall within their 15%; the 512-GPU row stays high
    (+20%, 15 ms short of 63), GB200's 72-GPU row (factor assumed) goes low (-22%)."""
    err = {
        k[len("mlperf60-gpt-oss-20b-mxfp8-") :]: training.predict(r, CATALOG) / r["published"] - 1
        for k, r in RUNS.items()
    }
    for key, run in RUNS.items():
        assert run["layout"]["expert_capacity_factor"] >= 1.5, key
        assert bool(run.get("known_miss")) == (
            not training.within(run, training.predict(run, CATALOG))
        ), key
    assert sum(abs(e) <= 0.15 for e in err.values()) == 11, err
    assert err["gb300-512gpu"] == pytest.approx(0.201, abs=0.005)
    assert err["gb200-72gpu"] == pytest.approx(-0.220, abs=0.005)
    assert err["gb300-8gpu"] == pytest.approx(0.020, abs=0.005)
    # -7.6% before session s20 scale put the experts' optimizer state on their own DP·CP/EP shard
    assert err["gb300-72gpu"] == pytest.approx(-0.082, abs=0.005)


def test_ep1_gb300_runs_give_a_per_token_slope_near_the_model_and_a_step_intercept() -> None:
    """Two GB300 EP1 runs of the same implementation at 3 and 2 sequences a GPU (NVIDIA 8 GPUs,
    HPE 16): measured (0.49350 - 0.353345) s / 8,192 tokens = 17.1 us a token a GPU, the model's
    steps (412.2 and 276.6 ms) 16.6 us (-3%); the measured line's intercept 0.073 s a step, the
    model's 0.005 s."""
    t8, t16 = (0.49352 + 0.49348) / 2, (0.35323 + 0.35346) / 2
    slope = (t8 - t16) / (3 * 8192 - 2 * 8192)
    intercept = t16 - slope * 2 * 8192
    assert slope == pytest.approx(17.1e-6, rel=0.01)
    assert intercept == pytest.approx(0.073, abs=0.002)
    a = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-8gpu"]
    b = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-hpe-16gpu"]
    ma = a["global_batch_tokens"] / training.predict(_unpadded(a), CATALOG)
    mb = b["global_batch_tokens"] / training.predict(_unpadded(b), CATALOG)
    model_slope = (ma - mb) / 8192
    assert model_slope == pytest.approx(16.6e-6, rel=0.01)
    assert model_slope / slope - 1 == pytest.approx(-0.03, abs=0.01)
    assert mb - model_slope * 2 * 8192 == pytest.approx(0.005, abs=0.003)


def test_the_whole_dp_exchange_exposed_does_not_explain_the_gap() -> None:
    """Tried, not adopted (docs/models.md): adding all of the model's DP exchange to the step
    brings the eight EP1 rows (100-110 ms of exchange: every GPU holds the whole 20.5B; three of
    them partner runs, session train60p) to -8% to +4%, but leaves the five CP/EP rows (23-33 ms)
    at +36% to +81% (+37% to +82% before the experts' optimizer shard, session s20 scale)."""
    ep1, other = [], []
    for run in RUNS.values():
        lay = _unpadded(run)["layout"]
        st = training._step(CATALOG, run, lay, 8192, run["global_batch_tokens"])
        measured = run["global_batch_tokens"] / run["published"]
        err = measured / (st.step_s - st.dp_exposed_s + st.dp_s) - 1
        (ep1 if run["layout"].get("ep", 1) == 1 else other).append(err)
    assert len(ep1) == 8 and all(-0.09 < e < 0.045 for e in ep1), ep1
    assert len(other) == 5 and all(0.35 < e < 0.83 for e in other), other


def test_partner_runs_match_their_layout_twins_and_miss_alike() -> None:
    """Partner runs of NVIDIA's recipe (session train60p) against the row of the same system and
    layout: the same planner step, a measured bias within 0.6%, and the same per-step gap
    (without the padded buffer, as found then)."""
    twins = {
        # partner: (twin, measured partner / twin - 1, partner gap s, twin gap s)
        "b300-asus-8gpu": ("b300-cisco-8gpu", -0.0002, 0.1187, 0.1186),
        "b300-inventec-8gpu": ("b300-cisco-8gpu", -0.0044, 0.1211, 0.1186),
        "gb300-hpe-8gpu": ("gb300-8gpu", 0.0057, 0.0785, 0.0813),
        # the 72-GPU pair 0.0812 / 0.0820 s before the experts' optimizer shard (session s20 scale)
        "gb300-hpe-72gpu": ("gb300-72gpu", 0.0051, 0.0800, 0.0809),
    }
    for key, (twin_key, bias, gap_p, gap_t) in twins.items():
        p = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{key}"]
        t = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{twin_key}"]
        for f in ("system", "precision", "layout", "global_batch_tokens"):
            assert p[f] == t[f], (key, f)
        assert "fit" not in p
        assert training.predict(p, CATALOG) == pytest.approx(training.predict(t, CATALOG))
        assert p["published"] / t["published"] - 1 == pytest.approx(bias, abs=0.0005), key
        assert _gap(_unpadded(p)) == pytest.approx(gap_p, abs=0.0005), key
        assert _gap(_unpadded(t)) == pytest.approx(gap_t, abs=0.0005), twin_key
