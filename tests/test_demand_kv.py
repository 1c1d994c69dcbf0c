"""KV-cache and weight bytes against published figures (REFERENCE.md / the o1 tokenomics report)."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand import estimate_kv, kv_bytes_per_token, kv_cache_bytes, weight_bytes

CATALOG = load_catalog()
GB = 1e9


def test_kv_bytes_per_token_published_values_exact() -> None:
    # Llama 3.1 405B: 2 (K,V) x 126 layers x 128 head_dim x 8 kv heads x 2 B = 516,096 B.
    assert kv_bytes_per_token(CATALOG.models["llama-3.1-405b"], "bf16") == 2 * 126 * 128 * 8 * 2
    assert kv_bytes_per_token(CATALOG.models["llama-3.1-405b"], "fp16") == 516_096
    # Llama 3.1 70B: 2 x 80 x 128 x 8 x 2 = 327,680 B.
    assert kv_bytes_per_token(CATALOG.models["llama-3.1-70b"], "bf16") == 327_680


def test_405b_batch_32_at_39k_tokens_fills_8xh100() -> None:
    # Source report: batch 32 x 39k tokens of FP16 KV fill 8 x 80 GB = 640 GB. Tolerance 1%.
    total = kv_cache_bytes(CATALOG.models["llama-3.1-405b"], 32, 39_000, "fp16")
    assert total == pytest.approx(8 * 80 * GB, rel=0.01)


def test_405gb_fp8_weights_leave_14k_to_16k_tokens_at_batch_32() -> None:
    # Source report: 405 GB of FP8 weights on 640 GB (it counts all HBM: usable fraction 1.0),
    # FP16 KV: ~16k tokens per sequence fit at batch 32. Accept 14k-16k.
    est = estimate_kv(CATALOG, "llama-3.1-405b", 32, 16_000, "fp16", "fp8", "hgx-h100", 1.0)
    assert est.weight_bytes == 405 * GB
    assert est.hbm_usable_bytes == 640 * GB
    expected = (640 - 405) * GB / (32 * 516_096)
    assert est.max_tokens_per_sequence == pytest.approx(expected, rel=1e-12)
    assert 14_000 <= est.max_tokens_per_sequence <= 16_000  # type: ignore[operator]


def test_mla_kv_per_token_deepseek_v3() -> None:
    # MLA: 61 layers x (512 latent + 64 rope key) elements x bytes.
    model = CATALOG.models["deepseek-v3"]
    assert kv_bytes_per_token(model, "bf16") == 61 * 576 * 2
    assert kv_bytes_per_token(model, "fp8") == 61 * 576


def test_moe_weight_bytes_use_total_params() -> None:
    # All 671B parameters are stored, not the 37B active ones.
    assert weight_bytes(CATALOG.models["deepseek-v3"], "fp8") == 671e9


def test_kv_cpu_only_system_has_no_room() -> None:
    est = estimate_kv(CATALOG, "llama-3.1-8b", 1, 1000, system="cpu-server")
    assert est.fits is False
