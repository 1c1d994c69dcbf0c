"""Serving: batch, step time, $/M tokens, fitting, self-consistency, catalog-driven efficiencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.catalog import load_catalog
from planner.demand import estimate_inference
from planner.kinds import demand_for
from planner.kinds.inference import InferenceSpec

CATALOG = load_catalog()
DAY = 86400.0
GB = 1e9


def spec(**kw: object) -> InferenceSpec:
    data = dict(
        kind="inference",
        model="llama-3.1-405b",
        precision="fp8",
        kv_precision="bf16",
        requests_per_day="1M",
        prompt_tokens=1000,
        output_tokens=775,
        tokens_per_s_per_user=30,
    )
    data.update(kw)
    return InferenceSpec.model_validate(data)


def test_long_reasoning_output_cuts_batch_and_raises_cost() -> None:
    # Source report: a 7,661-token reasoning answer vs a 775-token chat answer cuts the feasible
    # batch ~5x at 30 tok/s/user for 405B FP8 (FP16 KV) on 8xH100. Require >= 3x.
    # The source report's setup is one 8xH100 server: pin the instance to one unit (by default
    # the chooser may also span servers, which gives the long answers more KV room).
    one = dict(max_units_per_instance=1)
    chat = estimate_inference(spec(output_tokens=775), CATALOG, "hgx-h100", **one)  # type: ignore[arg-type]
    reasoning = estimate_inference(spec(output_tokens=7661), CATALOG, "hgx-h100", **one)  # type: ignore[arg-type]
    assert chat.feasible and reasoning.feasible
    assert chat.max_batch / reasoning.max_batch >= 3  # type: ignore[operator]
    # Decode cost per output token rises >= 3x. With the prompt's prefill share included
    # (1,000-token prompt: prefill is ~40% of a chat answer's cost), the rise is smaller: >= 2.5x.
    assert reasoning.usd_per_million_decode_tokens / chat.usd_per_million_decode_tokens >= 3  # type: ignore[operator]
    assert reasoning.usd_per_million_tokens / chat.usd_per_million_tokens >= 2.5  # type: ignore[operator]
    # With a short prompt the total cost rises >= 3x too.
    short_chat = estimate_inference(
        spec(output_tokens=775, prompt_tokens=200), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    short_reason = estimate_inference(
        spec(output_tokens=7661, prompt_tokens=200), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    assert short_reason.usd_per_million_tokens / short_chat.usd_per_million_tokens >= 3  # type: ignore[operator]


def test_decode_numbers_recomputed_by_hand() -> None:
    # 405B FP8 (Meta's checkpoint: 496 GB), BF16 KV, 1,000 + 7,661 tokens, 30 tok/s/user on one
    # 8xH100 (TP8), disaggregated prefill: every term of the step by hand from the catalog.
    acc = CATALOG.accelerators["h100-sxm"]
    sv = acc.serving
    est = estimate_inference(
        spec(output_tokens=7661), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    assert est.feasible and est.tensor_parallel == 8 and est.pipeline_parallel == 1
    kv = 516_096.0
    w = 496e9
    free = 8 * (80e9 - sv.runtime_reserve_bytes) - w
    b_hbm = free / ((1000 + 7661) * kv)
    assert est.weight_bytes == w
    assert est.max_batch_hbm == pytest.approx(b_hbm, rel=1e-9)
    batch = est.max_batch
    assert batch is not None and batch <= b_hbm
    ctx = 1000 + 7661 / 2
    # The untied input embedding (128,256 x 16,384 = 2.1013B parameters) is a row lookup: no
    # GEMM, and a step reads only its tokens' rows (held at the checkpoint's 496/405 B a param).
    emb = 128256 * 16384
    emb_bytes = emb * 496e9 / 405e9
    flops = 2 * (405e9 - emb) + 4 * 128 * 126 * 128 * ctx
    assert est.flops_per_decode_token == pytest.approx(flops)
    rate_fp8 = 1979e12 * sv.compute_utilisation["fp8"]
    rate_bf16 = 989e12 * sv.compute_utilisation["bf16"]  # attention at the BF16 KV precision
    eff = batch / (batch + sv.gemm_half_tokens)
    gemm_c = batch * (2 * (405e9 - emb) / eff) / (8 * rate_fp8)
    attention_c = batch * (4 * 128 * 126 * 128 * ctx) / (8 * rate_bf16)
    compute = gemm_c + attention_c
    hbm = 3.35e12 * sv.hbm_bandwidth_utilisation
    weights_m, kv_m = (w - emb_bytes) / 8 / hbm, batch * ctx * kv / 8 / hbm
    memory = weights_m + kv_m
    # 2 all-reduces per layer of batch x hidden x 2 B over 8 GPUs: 2·log2(8) hops + ring volume
    ar_bytes = batch * 16384 * 2
    allreduce = 2 * 3 * sv.scale_up_latency_s + 2 * 7 / 8 * ar_bytes / (
        900e9 * sv.link_bandwidth_utilisation
    )
    # The kernels run in sequence: attention (KV read vs its FLOPs), then the GEMMs (weights vs
    # theirs); a compute-bound phase does not hide a memory-bound one.
    roofline = max(attention_c, kv_m) + max(gemm_c, weights_m)
    assert roofline >= max(compute, memory)
    step = roofline + 2 * 126 * allreduce + sv.step_overhead_s
    terms = est.step_terms_s
    assert terms["roofline"] == pytest.approx(roofline, rel=1e-9)
    assert terms["compute"] == pytest.approx(compute, rel=1e-9)
    assert terms["memory"] == pytest.approx(memory, rel=1e-9)
    assert terms["tp_allreduce"] == pytest.approx(2 * 126 * allreduce, rel=1e-9)
    assert terms["prefill_chunk"] == 0.0  # disaggregated prefill
    assert est.step_time_s == pytest.approx(step, rel=1e-9)
    assert est.step_time_s <= 1 / 30
    assert est.tokens_per_s_per_system == pytest.approx(batch / step, rel=1e-9)
    # One more sequence would miss the budget or not fit.
    assert batch + 1 > b_hbm or est.max_batch_latency == batch
    # Prefill on the same TP8 instance: a prompt token's FLOPs at mean context 500 over the 8
    # GPUs (its attention at the BF16 KV precision's rate, as the decode step's), plus its share
    # of the 2 x 126 all-reduces: 2·7/8 x 16,384 x 2 B over the scale-up bandwidth (the
    # bandwidth part of the all-reduce above, per token; one TP group). No embedding GEMM, and
    # the output head for the prompt's last token only: 2·(N − 2·V·h) + 2·V·h / 1,000.
    prefill_gemm = 2 * (405e9 - 2 * emb) + 2 * emb / 1000
    prefill_compute = prefill_gemm / (8 * rate_fp8) + 4 * 128 * 126 * 128 * 500 / (8 * rate_bf16)
    prefill_ar = 2 * 126 * 2 * 7 / 8 * 16384 * 2 / (900e9 * sv.link_bandwidth_utilisation)
    prefill = 1 / (prefill_compute + prefill_ar)
    assert est.prefill_tokens_per_s_per_system == pytest.approx(prefill, rel=1e-9)
    assert est.ttft_s == pytest.approx(1000 / prefill, rel=1e-9)
    usd_s = CATALOG.system("hgx-h100").rental_usd_per_hour / 3600
    assert est.usd_per_million_tokens == pytest.approx(
        1e6 * usd_s * (step / batch + (1000 / 7661) / prefill), rel=1e-9
    )
    text = "\n".join(est.derivation)
    for word in ("compute", "memory", "TP all-reduce", "overhead", "runtime reserve"):
        assert word in text
    # The prefill line shows both terms with their numbers.
    line = next(x for x in est.derivation if x.startswith("prefill per prompt token"))
    assert f"= {prefill_compute * 1e6:.3g} us + TP8 all-reduce 252 x 2(8-1)/8 x 16384" in line
    assert f"= {prefill_ar * 1e6:.3g} us" in line


def test_405b_bf16_does_not_fit_one_hgx_h100_and_says_what_does() -> None:
    s = spec(precision="bf16", kv_precision=None)
    one = estimate_inference(s, CATALOG, "hgx-h100", max_units_per_instance=1)
    assert not one.feasible and not one.fits_one_unit
    assert "fp8" in one.reason and "2 units" in one.reason
    # By default an instance may span units: BF16 on two servers (16 GPUs, 1/2 instance/unit). At
    # 30 tok/s/user it cannot keep up: with TP8 x PP2 each GPU still streams 1/8 of the 810 GB per
    # step (every stage reads its weights once per micro-batch), ~38 ms. At 15 tok/s/user it can.
    slow = estimate_inference(s, CATALOG, "hgx-h100")
    assert not slow.feasible and "unreachable" in slow.reason and "PP2" in slow.reason
    two = estimate_inference(
        spec(precision="bf16", kv_precision=None, tokens_per_s_per_user=15), CATALOG, "hgx-h100"
    )
    assert two.feasible and not two.fits_one_unit
    # The best spanning layout (highest tok/s per unit) among 2, 3 and 4 servers.
    assert two.instance_accelerators in (16, 24, 32) and two.pipeline_parallel == (
        two.instance_accelerators // 8  # type: ignore[operator]
    )
    assert two.instances_per_unit == pytest.approx(8 / two.instance_accelerators)  # type: ignore[operator]
    assert any("fp8" in n for n in two.notes)
    # FP8 fits one server.
    fp8 = estimate_inference(spec(), CATALOG, "hgx-h100")
    assert fp8.fits_one_unit and fp8.instance_accelerators == 8


def test_self_consistency_votes() -> None:
    k = 5
    one = spec(model="llama-3.1-70b", precision="bf16", kv_precision=None)
    five = spec(model="llama-3.1-70b", precision="bf16", kv_precision=None, votes=k)
    horizon = 30 * DAY
    d1 = demand_for("a", one, CATALOG, ["hgx-h100"], horizon)
    d5 = demand_for("b", five, CATALOG, ["hgx-h100"], horizon)
    dec1, pre1 = d1.roles
    dec5, pre5 = d5.roles
    assert dec1.name == "decode" and pre1.name == "prefill"
    assert dec5.amount == pytest.approx(k * dec1.amount)
    assert pre5.amount == pytest.approx(pre1.amount)  # the prompt is prefilled once per request
    assert dec1.amount == pytest.approx(1e6 * 775 * 30)
    est = estimate_inference(five, CATALOG, "hgx-h100")
    assert est.kv_bytes_per_group == (1000 + k * 775) * 327_680
    # Shared prefix: per-sequence KV = (prompt/k + output) x kv, so more sequences fit.
    inst_free = est.instance_accelerators * 80e9 * 0.9 - 140e9  # type: ignore[operator]
    assert est.max_batch_hbm == pytest.approx(inst_free / ((1000 / k + 775) * 327_680), rel=1e-9)


def test_peak_to_average_and_horizon() -> None:
    s = spec(peak_to_average=2.0, requests_per_day="10M")
    d = demand_for("x", s, CATALOG, ["hgx-h100"], 7 * DAY)
    assert d.window_s == 7 * DAY
    assert d.roles[0].amount == pytest.approx(10e6 * 775 * 2 * 7)
    assert d.roles[1].amount == pytest.approx(10e6 * 1000 * 2 * 7)
    assert all(r.placement == "anywhere" for r in d.roles)


def test_cpu_only_and_unsupported_precision_rates() -> None:
    d = demand_for("x", spec(precision="fp4"), CATALOG, ["cpu-server", "hgx-h100", "hgx-b200"], DAY)
    dec = d.roles[0]
    assert dec.rates["cpu-server"].per_unit_s == 0
    assert dec.rates["cpu-server"].reason == "CPU-only system has no accelerators"
    assert dec.rates["hgx-h100"].per_unit_s == 0 and "fp4" in dec.rates["hgx-h100"].reason
    assert dec.rates["hgx-b200"].per_unit_s > 0
    assert "batch" in dec.rates["hgx-b200"].reason


def test_unreachable_interactivity_is_explained() -> None:
    est = estimate_inference(
        spec(tokens_per_s_per_user=500), CATALOG, "hgx-h100", max_units_per_instance=1
    )
    assert not est.feasible and "unreachable" in est.reason


def _overlay(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "overlay.yaml"
    p.write_text(text)
    return p


def test_serving_figures_come_from_the_catalog(tmp_path: Path) -> None:
    # Halve the HBM bandwidth utilisation: the memory term of the same batch doubles (offline
    # mode: batch set by HBM alone). Halve the FP8 and BF16 compute utilisations (FP8 weights,
    # the prompt's attention at the BF16 KV precision): prefill's compute time per token
    # doubles, its TP all-reduces stay.
    base = load_catalog()
    sv = base.accelerators["h100-sxm"].serving
    assert sv is not None
    half = load_catalog(
        [
            _overlay(
                tmp_path,
                f"""
accelerators:
  h100-sxm:
    serving:
      hbm_bandwidth_utilisation: {sv.hbm_bandwidth_utilisation / 2}
      compute_utilisation: {{bf16: 0.3, fp16: 0.3, fp8: {sv.compute_utilisation["fp8"] / 2}}}
""",
            )
        ]
    )
    s = spec(output_tokens=7661, mode="offline", tokens_per_s_per_user=None)
    a = estimate_inference(s, base, "hgx-h100")
    b = estimate_inference(s, half, "hgx-h100")
    assert a.max_batch == b.max_batch and a.bound == "memory"
    assert b.step_terms_s["memory"] == pytest.approx(2 * a.step_terms_s["memory"], rel=1e-9)
    assert a.tensor_parallel == b.tensor_parallel == 8
    ar = 2 * 126 * 2 * 7 / 8 * 16384 * 2 / (900e9 * sv.link_bandwidth_utilisation)
    compute_a = 1 / a.prefill_tokens_per_s_per_system - ar  # type: ignore[operator]
    assert compute_a > 0
    assert 1 / b.prefill_tokens_per_s_per_system == pytest.approx(2 * compute_a + ar, rel=1e-9)  # type: ignore[operator]
    # Training rates come from the catalog's `training:` blocks: tests/test_demand_pretrain.py.


def test_runtime_reserve_from_catalog_and_fraction_override(tmp_path: Path) -> None:
    s = spec(output_tokens=7661, tokens_per_s_per_user=1)
    base = estimate_inference(s, CATALOG, "hgx-h100", max_units_per_instance=1)
    over = load_catalog(
        [
            _overlay(
                tmp_path, "accelerators:\n  h100-sxm:\n    serving:\n      runtime_reserve: 16 GB\n"
            )
        ]
    )
    lower = estimate_inference(s, over, "hgx-h100", max_units_per_instance=1)
    kv_seq = (1000 + 7661) * 516_096
    assert base.max_batch_hbm == pytest.approx((8 * (80e9 - 8e9) - 496e9) / kv_seq, rel=1e-9)
    assert lower.max_batch_hbm == pytest.approx((8 * (80e9 - 16e9) - 496e9) / kv_seq, rel=1e-9)
    full = estimate_inference(
        s, CATALOG, "hgx-h100", hbm_usable_fraction=1.0, max_units_per_instance=1
    )
    assert full.max_batch_hbm == pytest.approx((640e9 - 496e9) / kv_seq, rel=1e-9)


def test_moe_decode_flops_use_active_params_and_read_all_weights() -> None:
    s = spec(model="deepseek-v3", precision="fp8", kv_precision=None)
    est = estimate_inference(s, CATALOG, "hgx-b200")
    ctx = 1000 + 775 / 2
    # Absorbed MLA decode: per head and layer 2·(512 + 64) FLOP per context token for the scores
    # and 2·512 for the values: 2 · 128 heads · 61 layers · 1,088 · context. The untied input
    # embedding (129,280 x 7,168) is a lookup, not a GEMM: 2 · (37e9 − 129,280 · 7,168).
    assert est.flops_per_decode_token == pytest.approx(
        2 * (37e9 - 129280 * 7168) + 2 * 128 * 61 * 1088 * ctx
    )
    assert est.weight_bytes == 671e9
    assert est.kv_bytes_per_token == 61 * 576


def test_aggregated_prefill_is_rated_on_the_decode_instances_in_the_lp() -> None:
    """The LP's prefill rate (inference_rates) for prefill: aggregated is the estimate's, on the
    decode layout, with the p99-TTFT utilisation; for disaggregated, the smallest instance's
    (prefill_rate), which for DeepSeek-R1 FP4 on HGX B200 is another, faster rate."""
    from planner.demand.common import hardware
    from planner.demand.inference import clear_physics_caches, inference_rates, prefill_rate

    clear_physics_caches()
    shape = dict(model="deepseek-r1", precision="fp4", kv_precision="fp8", prompt_tokens=922)
    shape |= dict(output_tokens=922, tokens_per_s_per_user=102, ttft_p99="2 s")
    for placed in ("aggregated", "disaggregated"):
        s = spec(**shape, prefill=placed)
        est = estimate_inference(s, CATALOG, "hgx-b200")
        decode, prefill = inference_rates(s, CATALOG, "hgx-b200")
        utilisation = est.server_utilisation
        assert est.feasible and utilisation is not None and 0 < utilisation < 1
        # the estimate's per-unit rates carry the utilisation already
        assert decode.per_unit_s == est.tokens_per_s_per_system
        on_decode = est.prefill_tokens_per_s_per_system
        assert on_decode is not None and on_decode > 0
        own = prefill_rate(
            CATALOG.models["deepseek-r1"], hardware(CATALOG, "hgx-b200"), "fp4", "fp8", 922, 461
        )
        if placed == "aggregated":
            assert prefill.per_unit_s == on_decode
            assert "on the decode instances" in prefill.reason
        else:
            assert prefill.per_unit_s == own.per_unit_s * utilisation
            assert prefill.per_unit_s > 1.1 * on_decode  # the smallest instance's is faster


def test_mtp_drafts_load_the_mtp_module_weights_and_kv() -> None:
    """qa28b (qa27's finding): with speculative decoding on DeepSeek-R1 the drafts are its MTP
    module's, which the engine loads beside the 671B model. By hand from the catalog (61 layers,
    58 MoE, 256 routed experts of 3 x 7,168 x 2,048, vocab 129,280, hidden 7,168): the module
    holds one MoE layer's routed experts, 653.9B / 58 = 11.27B, a layer's share of the rest,
    (671B - 653.9B - 2 x 129,280 x 7,168) / 61 = 0.25B, and its 2 x 7,168^2 projection, 0.10B:
    11.63B parameters, at FP8 1 byte each; its layer's KV makes the KV 62/61 of the main model's.
    Without drafts, or on a model with no MTP module (Llama 3.1 70B), nothing changes."""
    from planner.demand.serving_physics import model_load

    arch = CATALOG.models["deepseek-r1"]
    experts = 256 * 58 * 3 * 7168 * 2048  # routed expert parameters of the 58 MoE layers
    assert arch.routed_expert_params == pytest.approx(experts, rel=1e-12)
    module = experts / 58 + (671e9 - experts - 2 * 129_280 * 7168) / 61 + 2 * 7168**2
    assert module == pytest.approx(11.627e9, rel=1e-4)
    plain = model_load(arch, "fp8", "fp8", 8192, 1024, 1)
    mtp = model_load(arch, "fp8", "fp8", 8192, 1024, 1, draft_tokens=1, acceptance=0.85)
    assert plain.weights_bytes == pytest.approx(671e9, rel=1e-12)
    assert mtp.weights_bytes == pytest.approx(671e9 + module, rel=1e-9)
    assert mtp.kv_stored_per_sequence == pytest.approx(plain.kv_stored_per_sequence * 62 / 61)
    assert mtp.kv_bytes(9216) == pytest.approx(plain.kv_bytes(9216) * 62 / 61)
    # the module's non-expert part (0.35B) is read with the dense weights once a step
    non_expert = (671e9 - experts - 2 * 129_280 * 7168) / 61 + 2 * 7168**2
    assert mtp.dense_bytes - plain.dense_bytes == pytest.approx(non_expert, rel=1e-9)
    llama = CATALOG.models["llama-3.1-70b"]
    a = model_load(llama, "fp8", "fp8", 1000, 775, 1)
    b = model_load(llama, "fp8", "fp8", 1000, 775, 1, draft_tokens=1, acceptance=0.85)
    assert (a.weights_bytes, a.kv_stored_per_sequence) == (
        b.weights_bytes,
        b.kv_stored_per_sequence,
    )
