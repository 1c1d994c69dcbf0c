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
        # more partner runs (session train60more): the block means after the first block
        "b200-dell-ep2-8gpu": 16 * 8192 / ((0.45316 + 0.45301) / 2),
        "b200-lambda-8gpu": 16 * 8192 / ((0.45334 + 0.45309) / 2),
        "b300-dell-ep2-8gpu": 24 * 8192 / ((0.56719 + 0.56709) / 2),
        "b300-dell-8gpu": 24 * 8192 / ((0.55663 + 0.55673) / 2),
        "b300-hpe-8gpu": 24 * 8192 / ((0.57117 + 0.57118) / 2),
        "gb300-dell-ep2-8gpu": 24 * 8192 / ((0.49785 + 0.49802) / 2),
        "gb300-dell-4gpu": 16 * 8192 / ((1778646466742 - 1778645928549) / 1000 / 768),
        "gb300-dell-64gpu": 32 * 8192 / ((0.17601 + 0.17730) / 2),
        "b300-nebius-8gpu": 24 * 8192 / ((0.55272 + 0.55257) / 2),
        "b300-nebius-64gpu": 32 * 8192 / ((0.18050 + 0.18182) / 2),
        "gb300-nebius-8gpu": 24 * 8192 / 0.49700,
        "gb300-nebius-72gpu": 36 * 8192 / ((0.16145 + 0.16001) / 2),
        "b200-supermicro-8gpu": 16 * 8192 / ((0.46048 + 0.46000) / 2),
        "b300-supermicro-222gs-8gpu": 24 * 8192 / ((0.56069 + 0.56072) / 2),
        "b300-supermicro-422gs-8gpu": 24 * 8192 / ((0.55775 + 0.55762) / 2),
        "b300-supermicro-4126gs-8gpu": 24 * 8192 / ((0.55837 + 0.55845) / 2),
        "gb300-supermicro-72gpu": 36 * 8192 / ((0.16126 + 0.15996) / 2),
        "b300-giga-8gpu": 24 * 8192 / ((0.56273 + 0.56345) / 2),
        "gb300-giga-72gpu": 36 * 8192 / ((0.16040 + 0.15903) / 2),
    }
    assert set(RUNS) == {f"mlperf60-gpt-oss-20b-mxfp8-{k}" for k in cases}
    for key, value in cases.items():
        run = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{key}"]
        assert run["published"] == pytest.approx(value, rel=2e-4), key
        assert run["model"] == "gpt-oss-20b-mlperf" and run["sequence_length"] == 8192
        lay = run["layout"]
        gpus = lay["tp"] * lay.get("cp", 1) * lay["dp"]
        # one micro-batch a step: GBS = DP x micro-batch (the logs' gradient_accumulation 1),
        # but Dell's 4-GPU run (gradient_accumulation_steps 2 in its log)
        steps = 2 if key == "gb300-dell-4gpu" else 1
        assert run["global_batch_tokens"] == steps * lay["dp"] * lay["micro_batch"] * 8192, key
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
    """Before session trainstep (the expert GEMMs over the routed copies) every one-micro-batch
    row but one was a known miss, high; the measured step exceeds that model's by 47-127 ms
    whatever the tokens a GPU (1,024-24,576) and layout (docs/models.md; 47 ms on Nebius's 64
    B300, whose DP exchange across InfiniBand the model exposes in part). The one in its band is
    Dell's EP2 run on 8 GB300 (session train60more): the model exposes an EP2 all-to-all (38 ms)
    the run does not pay, and its gap is 52 ms (53 before session s32 pergemm). Dell's 4-GB300
    run, two micro-batches a step, is short by 91 ms (60 and 107 ms before session s20 scale's
    experts' optimizer shard, 93 ms before session s32 pergemm): +14.9% since pergemm, inside
    its 15% by 0.1 point where it missed at +15.3%, so two rows are in band without the buffer,
    both Dell's unpadded EP2 configs (no expert_capacity_factor: the row is its own unpadded
    model). Session s32 pergemm's per-linear shape and refitted FP8 fractions (GB300/B300 0.70
    -> 0.69, B200/GB200 0.507 -> 0.478) lengthen the model's steps, so every gap shrinks by the
    step's growth: 1.5-1.6 ms on 8 B300 / GB300 EP1 (442.9 -> 444.5, 412.2 -> 413.7 ms), 0.5 ms
    on 72 GB300, 10.5 ms on 8 B200 (350.0 -> 360.5 ms), 0 on the 512-GPU and 64-B300 rows."""
    gaps = {k: _gap(_unpadded(r)) for k, r in RUNS.items()}
    in_band = {
        "mlperf60-gpt-oss-20b-mxfp8-gb300-dell-ep2-8gpu",
        "mlperf60-gpt-oss-20b-mxfp8-gb300-dell-4gpu",
    }
    for key, run in RUNS.items():
        flat = _unpadded(run)
        assert training.within(flat, training.predict(flat, CATALOG)) == (key in in_band), key
    assert all("expert_capacity_factor" not in RUNS[k]["layout"] for k in in_band)
    assert gaps["mlperf60-gpt-oss-20b-mxfp8-gb300-dell-ep2-8gpu"] == pytest.approx(
        0.0517, abs=0.0005
    )
    dell4 = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-dell-4gpu"]
    assert training.predict(dell4, CATALOG) / dell4["published"] - 1 == pytest.approx(
        0.149, abs=0.001
    )
    misses = {k: g for k, g in gaps.items() if k not in in_band}
    assert all(0.046 < g < 0.13 for g in misses.values()), misses
    assert min(misses.values()) == pytest.approx(0.0472, abs=0.0005)  # Nebius 64 B300
    nvlink = {k: g for k, g in misses.items() if "b300-nebius-64gpu" not in k}
    # NVIDIA 512 GB300, at its config's expert TP 1 since session etp (63.1 ms at expert TP 2)
    assert min(nvlink.values()) == pytest.approx(0.0601, abs=0.0005)
    # HPE 8 B300 (128.3 ms before session s32 pergemm)
    assert max(misses.values()) == pytest.approx(0.1267, abs=0.0005)
    gb300 = [g for k, g in misses.items() if "gb300" in k]
    # the 512-GB300 row 60 ms at its expert TP 1 (session etp; 63 ms at expert TP 2)
    assert min(gb300) > 0.059 and max(gb300) < 0.098  # Dell's 64 GPUs the largest, 96 ms


def test_the_padded_expert_gemms_close_the_gap() -> None:
    """Each run's config sets MOE_EXPERT_RANK_CAPACITY_FACTOR (1.5 on the 8-GPU EP1 runs, the
    config_common_cg.sh default 2 where a config sets none, 5 at CP2 EP4, 7 at TP2 CP4 EP8) and
    runs without paged stashing: the expert GEMMs run over C x the mean routed
    copies at that M's shape. 11 of 13 rows fall within their 15%; the 512-GPU row stays high
    (+20% when found, 15 ms short of 63; +35% at its config's expert TP 1), GB200's 72-GPU row
    (factor assumed) goes low (-22% when found, -26% since session s32 pergemm).
    Session train60more's partner rows: the B200 EP1 configs set 1.2 (Lambda's, Supermicro's:
    +20.0% / +21.8% when found, +16.2% / +18.0% since pergemm, still misses); Dell's EP2 configs
    set none and source no config_common_cg.sh (no padding: B200 +20.0% and B300 +19.0% miss,
    its 8-GB300 run in band at +11.6%, its 4-GB300 run at +14.9% since pergemm, a miss at +15.3%
    before); the other 13 come into band (+2.2% to +8.7% at EP1, -0.1% to -9.6% at CP2 EP4;
    +1.0% to +9.3% and -5.1% to -8.6% before pergemm): 26 of 32 in all (25 before pergemm).
    Pergemm lengthened the model's steps (B200/GB200 FP8 0.507 -> 0.478, GB300/B300 0.70 ->
    0.69, the per-linear shape), so every row's error fell: 0.3-3.8 points.
    Session s34 fit (the B200 die's BF16 fraction 0.58 -> 0.48, its FP8 0.478 -> 0.482) moves
    the B200 and GB200 rows only: on 8 B200 EP1 the BF16 output head and loss 28.8 -> 34.8 ms (x
    0.58/0.48), the padded layer GEMMs 229.1 -> 227.2 ms (x 0.478/0.482), the step 390.0 ->
    394.1 ms, so Lambda's +16.2% -> +15.0% (131,072 / 0.39406 s = 332,620 vs 289,205 tokens/s:
    +15.01%, still out of its 15%, by 0.01 point) and Supermicro's +18.0% -> +16.8%; Dell's EP2
    B200 +20.1% -> +18.7%; GB200's 72-GPU row -26.0% (its step 224.7 ms either way). The same 26
    in band."""
    err = {
        k[len("mlperf60-gpt-oss-20b-mxfp8-") :]: training.predict(r, CATALOG) / r["published"] - 1
        for k, r in RUNS.items()
    }
    unpadded = {k for k, r in RUNS.items() if "expert_capacity_factor" not in r["layout"]}
    assert unpadded == {
        f"mlperf60-gpt-oss-20b-mxfp8-{k}"
        for k in (
            "b200-dell-ep2-8gpu",
            "b300-dell-ep2-8gpu",
            "gb300-dell-ep2-8gpu",
            "gb300-dell-4gpu",
        )
    }
    for key, run in RUNS.items():
        if key not in unpadded:
            factor = run["layout"]["expert_capacity_factor"]
            assert factor >= 1.5 or (factor == 1.2 and "b200" in key), key
        assert bool(run.get("known_miss")) == (
            not training.within(run, training.predict(run, CATALOG))
        ), key
    assert sum(abs(e) <= 0.15 for e in err.values()) == 26, err
    out = {k for k, e in err.items() if abs(e) > 0.15}
    assert out == {
        "gb300-512gpu",
        "gb200-72gpu",
        "b200-lambda-8gpu",
        "b200-supermicro-8gpu",
        "b200-dell-ep2-8gpu",
        "b300-dell-ep2-8gpu",
    }
    # +20.0% / +21.8% before session s32 pergemm (B200 FP8 0.507 -> 0.478), +16.2% / +18.0%
    # before session s34 fit (B200 BF16 0.58 -> 0.48, FP8 0.478 -> 0.482)
    assert (err["b200-lambda-8gpu"], err["b200-supermicro-8gpu"]) == pytest.approx(
        (0.150, 0.168), abs=0.002
    )
    step_lambda = RUNS["mlperf60-gpt-oss-20b-mxfp8-b200-lambda-8gpu"]["global_batch_tokens"] / (
        training.predict(RUNS["mlperf60-gpt-oss-20b-mxfp8-b200-lambda-8gpu"], CATALOG)
    )
    assert step_lambda == pytest.approx(
        0.3900 + 0.0288 * (0.58 / 0.48 - 1) - 0.2291 * (1 - 0.478 / 0.482), abs=2e-4
    )
    assert 0.15 < err["b200-lambda-8gpu"] < 0.151  # out of its band by a hair: a known miss
    assert err["b200-dell-ep2-8gpu"] == pytest.approx(0.187, abs=0.002)  # +20.1% before s34
    assert err["gb300-dell-4gpu"] == pytest.approx(0.149, abs=0.001)  # +15.3% before pergemm
    assert err["gb300-dell-64gpu"] == pytest.approx(-0.001, abs=0.002)  # +1.0% before pergemm
    assert err["b300-nebius-64gpu"] == pytest.approx(-0.061, abs=0.002)  # -5.1% before pergemm
    # +36.3% at its config's expert TP 1 since session etp (+20.1% at expert TP = TP 2); +35.1%
    # since session s32 pergemm
    assert err["gb300-512gpu"] == pytest.approx(0.351, abs=0.005)
    assert err["gb200-72gpu"] == pytest.approx(-0.260, abs=0.005)  # -22.0% before pergemm
    assert err["gb300-8gpu"] == pytest.approx(0.015, abs=0.005)  # +2.0% before pergemm
    # -7.6% before session s20 scale put the experts' optimizer state on their own DP·CP/EP
    # shard, -8.2% before session s32 pergemm
    assert err["gb300-72gpu"] == pytest.approx(-0.092, abs=0.005)


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
    brings the eighteen EP1 rows (100-110 ms of exchange: every GPU holds the whole 20.5B;
    thirteen of them partner runs, sessions train60p and train60more) to -9% to +5%, the four
    EP2 rows (32-47 ms, their exposed all-to-all already in the step) to +1% to +9%, but leaves
    the nine CP/EP4-8 rows within an NVL72 domain (29-33 ms) at +33% to +70%, twice their band
    or more; Nebius's 64 B300 (TP1 CP2 EP4, the exchange across InfiniBand, 132 ms) goes to -17%
    (after session s20 scale's experts' optimizer shard). Figures since session s32 pergemm,
    whose longer steps (B200/GB200 FP8 0.507 -> 0.478, GB300/B300 0.70 -> 0.69) moved them by
    up to 3 points: the GB200 72-GPU row +35.7% -> +32.8%, the lowest of the nine. Session s34
    fit (the B200 die's BF16 0.58 -> 0.48, FP8 0.478 -> 0.482): that row's step without its
    padding 92.6 -> 93.6 ms (the BF16 output head and loss 6.84 x 0.58/0.48 = 8.26 ms, the layer
    GEMMs 45.99 x 0.478/0.482 = 45.61 ms), with its whole 32.6 ms exchange 125.2 -> 126.2 ms
    against the measured 166.3 ms: +32.8% -> +31.7%, still above twice its band."""
    groups: dict[int, list[float]] = {1: [], 2: [], 4: []}
    for run in RUNS.values():
        lay = _unpadded(run)["layout"]
        st = training._step(CATALOG, run, lay, 8192, run["global_batch_tokens"])
        measured = run["global_batch_tokens"] / run["published"]
        err = measured / (st.step_s - st.dp_exposed_s + st.dp_s) - 1
        groups[min(run["layout"].get("ep", 1), 4)].append(err)
    assert len(groups[1]) == 18 and all(-0.09 < e < 0.06 for e in groups[1]), groups[1]
    assert len(groups[2]) == 4 and all(0.01 < e < 0.1 for e in groups[2]), groups[2]
    assert len(groups[4]) == 10 and sorted(groups[4])[0] == pytest.approx(-0.168, abs=0.002)
    # GB200 72 GPUs: 0.16629 / (0.09360 + 0.03264) - 1
    assert sorted(groups[4])[1] == pytest.approx(0.16629 / (0.09360 + 0.03264) - 1, abs=0.002)
    assert sorted(groups[4])[1] == pytest.approx(0.317, abs=0.002)
    assert all(2 * 0.15 < e < 0.71 for e in sorted(groups[4])[1:]), groups[4]


def test_partner_runs_match_their_layout_twins_and_miss_alike() -> None:
    """Partner runs of NVIDIA's recipe (session train60p) against the row of the same system and
    layout: the same planner step, a measured bias within 0.6%, and the same per-step gap
    (without the padded buffer, as found then). The gaps since session s32 pergemm: each pair's
    planner step grew by the same amount (the per-linear shape and the refitted FP8 fractions,
    GB300/B300 0.70 -> 0.69: 8 B300 EP1 442.9 -> 444.5 ms, 8 GB300 412.2 -> 413.7 ms, 72 GB300
    79.5 -> 80.0 ms), so both gaps of a pair fell by it and the pair still misses alike."""
    twins = {
        # partner: (twin, measured partner / twin - 1, partner gap s, twin gap s); the gaps
        # before session s32 pergemm: 0.1187 / 0.1186, 0.1211 / 0.1186, 0.0785 / 0.0813,
        # 0.0800 / 0.0809
        "b300-asus-8gpu": ("b300-cisco-8gpu", -0.0002, 0.1171, 0.1170),
        "b300-inventec-8gpu": ("b300-cisco-8gpu", -0.0044, 0.1195, 0.1170),
        "gb300-hpe-8gpu": ("gb300-8gpu", 0.0057, 0.0770, 0.0798),
        # the 72-GPU pair 0.0812 / 0.0820 s before the experts' optimizer shard (session s20 scale)
        "gb300-hpe-72gpu": ("gb300-72gpu", 0.0051, 0.0795, 0.0803),
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


def test_more_partner_runs_against_their_twins() -> None:
    """More partner runs of the recipe (session train60more). Same layout: Dell's and HPE's 8 x
    B300 EP1 against Cisco's (one planner step; measured +0.9% / -1.7% a step, gaps 112 / 127 ms
    against Cisco's 117). Other EP: Dell's EP2 8 x B200 against Lambda's EP1 (the same measured
    step, the model 16.9 ms longer for the EP2 all-to-all and the experts' optimizer on its EP2
    shard). Per GPU: Dell's 64 GB300 against
    NVIDIA's 72 (TP1 CP2 EP4; 10.2% slower a step, gap 96 vs 80 ms).
    Gaps since session s32 pergemm, each less than before by its planner step's growth (8 B300
    EP1 +1.6 ms, 8 GB300 +1.5 ms, 72 GB300 +0.5 ms, 64 GB300 +0.6 ms, 8 B200 EP1 +10.5 ms at
    B200 FP8 0.507 -> 0.478: 350.0 -> 360.5 ms); before: Dell 114, HPE 128, Cisco 119, Dell's
    EP2 B200 17.4 ms longer than Lambda's, Dell 64 / NVIDIA 72 97 / 81 ms. The measured biases
    do not move. Session s34 fit (the B200 die's BF16 0.58 -> 0.48, FP8 0.478 -> 0.482) moves
    the B200 pair alone: the unpadded 8 B200 EP1 step 360.5 -> 364.8 ms (the BF16 output head
    and loss 28.8 x 0.58/0.48 = 34.8 ms, the layer GEMMs 199.6 x 0.478/0.482 = 198.0 ms), so
    Supermicro's gap 99.8 -> 95.4 ms (measured 460.2 ms); Dell's EP2 step 377.4 -> 381.8 ms
    (its head as Lambda's, its GEMMs 191.1 -> 189.6), 17.0 ms longer than Lambda's (16.9
    before)."""
    same = {
        # (twin, measured partner / twin - 1, partner gap s; before session s32 pergemm: 0.1138,
        # 0.1283, 0.1098, 0.0848, 0.0812, 0.1102, 0.1178, 0.1148, 0.1155, 0.0811, 0.1202, 0.0802)
        "b300-dell-8gpu": ("b300-cisco-8gpu", 0.0087, 0.1122),
        "b300-hpe-8gpu": ("b300-cisco-8gpu", -0.0169, 0.1267),
        # Nebius's runs against NVIDIA's and Cisco's of the same layout
        "b300-nebius-8gpu": ("b300-cisco-8gpu", 0.0160, 0.1082),
        "gb300-nebius-8gpu": ("gb300-8gpu", -0.0070, 0.0833),
        "gb300-nebius-72gpu": ("gb300-72gpu", -0.0023, 0.0807),
        # Supermicro's
        # 0.0998 before session s34 fit: 0.46024 - 0.36048 (now - 0.36482)
        "b200-supermicro-8gpu": ("b200-lambda-8gpu", -0.0153, 0.0954),
        "b300-supermicro-222gs-8gpu": ("b300-cisco-8gpu", 0.0014, 0.1162),
        "b300-supermicro-422gs-8gpu": ("b300-cisco-8gpu", 0.0068, 0.1132),
        "b300-supermicro-4126gs-8gpu": ("b300-cisco-8gpu", 0.0056, 0.1139),
        "gb300-supermicro-72gpu": ("gb300-72gpu", -0.0016, 0.0806),
        # GigaComputing's
        "b300-giga-8gpu": ("b300-cisco-8gpu", -0.0028, 0.1186),
        "gb300-giga-72gpu": ("gb300-72gpu", 0.0040, 0.0797),
    }
    for key, (twin_key, bias, gap) in same.items():
        p = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{key}"]
        t = RUNS[f"mlperf60-gpt-oss-20b-mxfp8-{twin_key}"]
        for f in ("system", "precision", "layout", "global_batch_tokens"):
            assert p[f] == t[f], (key, f)
        assert training.predict(p, CATALOG) == pytest.approx(training.predict(t, CATALOG))
        assert p["published"] / t["published"] - 1 == pytest.approx(bias, abs=0.0005), key
        assert _gap(_unpadded(p)) == pytest.approx(gap, abs=0.0005), key
    dell = RUNS["mlperf60-gpt-oss-20b-mxfp8-b200-dell-ep2-8gpu"]
    lam = RUNS["mlperf60-gpt-oss-20b-mxfp8-b200-lambda-8gpu"]
    assert dell["published"] / lam["published"] - 1 == pytest.approx(0.0003, abs=0.0005)
    model_dell = dell["global_batch_tokens"] / training.predict(_unpadded(dell), CATALOG)
    model_lam = lam["global_batch_tokens"] / training.predict(_unpadded(lam), CATALOG)
    assert model_dell - model_lam == pytest.approx(0.0170, abs=0.0005)
    d64 = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-dell-64gpu"]
    n72 = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-72gpu"]
    assert {k: v for k, v in d64["layout"].items() if k != "dp"} == {
        k: v for k, v in n72["layout"].items() if k != "dp"
    }
    steps = [r["global_batch_tokens"] / r["published"] for r in (d64, n72)]
    assert steps[0] / steps[1] - 1 == pytest.approx(0.102, abs=0.001)
    assert (_gap(_unpadded(d64)), _gap(_unpadded(n72))) == pytest.approx(
        (0.0964, 0.0803), abs=0.0005
    )


def test_dell_two_micro_batch_run_pays_more_than_a_fixed_step_cost() -> None:
    """Dell's 4-GB300 run trains two micro-batches of two sequences a step (the only
    accumulating gpt_oss_20b run): 0.7008 s, 1.98x HPE's one-micro-batch step of two sequences a
    GPU (16 GB300, 0.3533 s). HPE's gap (75.6 ms) held fixed a step, with the model's EP2
    micro-batch added twice (19.8 ms over EP1 each), gives 2 x (353.3 - 75.6 + 19.8) + 75.6 =
    0.671 s: ~30 ms of Dell's 91 ms gap grows with the micro-batches. (Before session s32
    pergemm: HPE's gap 76.7 ms, the EP2 extra 19.9 ms, 0.670 s, ~31 ms of a 93 ms gap; the
    longer model micro-batch, 269.3 -> 270.4 ms at HPE's layout and 289.2 -> 290.2 ms at Dell's,
    takes 1.1 ms from HPE's gap and 2.1 ms from Dell's two-micro-batch step.)"""
    dell = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-dell-4gpu"]
    hpe = RUNS["mlperf60-gpt-oss-20b-mxfp8-gb300-hpe-16gpu"]
    sd = training._step(CATALOG, dell, dell["layout"], 8192, dell["global_batch_tokens"])
    flat = _unpadded(hpe)
    sh = training._step(CATALOG, flat, flat["layout"], 8192, hpe["global_batch_tokens"])
    assert sd.micro_batches == 2 and sh.micro_batches == 1
    assert dell["layout"]["micro_batch"] == hpe["layout"]["micro_batch"] == 2
    t_dell = dell["global_batch_tokens"] / dell["published"]
    t_hpe = hpe["global_batch_tokens"] / hpe["published"]
    assert t_dell / t_hpe == pytest.approx(1.983, abs=0.002)
    ep2_extra = sd.micro_batch_s - sh.micro_batch_s
    assert ep2_extra == pytest.approx(0.0198, abs=0.0005)
    fixed = _gap(_unpadded(hpe))
    assert fixed == pytest.approx(0.0756, abs=0.0005)
    by_hand = 2 * (t_hpe - fixed + ep2_extra) + fixed
    assert by_hand == pytest.approx(0.671, abs=0.002)
    assert t_dell - by_hand == pytest.approx(0.030, abs=0.002)
    assert _gap(dell) == pytest.approx(0.0910, abs=0.0005)
