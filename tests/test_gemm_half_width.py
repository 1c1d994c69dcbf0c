"""The training catalog's per-precision GEMM half-width (accelerators.<name>.training.
gemm_half_width): derived from measured GEMM tables (bench/data/gemm_half_width_tables.yaml,
procedure in bench/gemm_half_width.py and the catalog's source text), and what the step model
does with it (hand-computed here from the formulas in docs/models.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    ModelFigures,
    RunFigures,
    expert_width_shape,
    step_time,
    train_figures,
)

CATALOG = load_catalog()
TABLES = yaml.safe_load(
    (Path(__file__).parents[1] / "bench" / "data" / "gemm_half_width_tables.yaml").read_text(
        encoding="utf-8"
    )
)


def fitted_half_width(k: list[int], tflops: list[float]) -> float:
    """T = T_inf K/(K + W) <=> 1/T = 1/T_inf + (W/T_inf)/K: W = slope / intercept of the
    straight line through (1/K, 1/T) (numpy's least squares here; the bench script has its own)."""
    slope, intercept = np.polyfit(1 / np.array(k, float), 1 / np.array(tflops, float), 1)
    return float(slope / intercept)


# accelerator -> the aiconfigurator systems with its die (B200 and GB200: one B200 GPU; GB300:
# the B300 die, its b300_sxm table beside gb300's)
DIES = {
    "h100-sxm": ("h100_sxm",),
    "b200": ("b200_sxm", "gb200"),
    "gb200": ("b200_sxm", "gb200"),
    "gb300": ("b300_sxm", "gb300"),
}


@pytest.mark.parametrize("acc", sorted(DIES))
def test_catalog_half_width_is_the_tables_fit(acc: str) -> None:
    tr = CATALOG.accelerators[acc].training
    assert tr is not None and isinstance(tr.gemm_half_width, dict)
    k = TABLES["k"]
    for dtype, prec in (("bfloat16", "bf16"), ("fp8", "fp8"), ("nvfp4", "fp4")):
        systems = DIES[acc]
        if any(dtype not in TABLES["aiconfigurator"][s] for s in systems):
            assert prec not in tr.gemm_half_width  # H100: no FP4 table, no FP4 figure
            continue
        # per system: the mean over its two M tables (8,192 and 16,384 tokens); per die: the mean
        # over its systems; rounded to 10
        per_system = [
            np.mean([fitted_half_width(k, t) for t in TABLES["aiconfigurator"][s][dtype].values()])
            for s in systems
        ]
        assert tr.half_width(prec) == round(float(np.mean(per_system)), -1), (acc, prec)
    # FP16 runs on the BF16 tensor-core rate and takes its half-width
    assert tr.half_width("fp16") == tr.half_width("bf16")


def test_half_widths_by_hand() -> None:
    # The numbers behind the catalog, checked against a hand fit of two points: H100 FP8 at
    # M = 16,384 (T = 1,096.4 at K = 2,048 and 519.4 at 256, N = 8,192): two points of
    # T = T_inf K/(K + W) give W = K1 K2 (T2 - T1) / (K2 T1 - K1 T2) ~ 350-400 (the six-point
    # fit 381), three times BF16's ~130 on the same GPU.
    h100 = TABLES["aiconfigurator"]["h100_sxm"]
    t1, t2 = h100["fp8"][16384][0], h100["fp8"][16384][3]
    k1, k2 = 256, 2048
    w = k1 * k2 * (t2 - t1) / (k2 * t1 - k1 * t2)
    assert 330 < w < 420
    assert fitted_half_width(TABLES["k"], h100["fp8"][16384]) == pytest.approx(381, abs=1)
    assert fitted_half_width(TABLES["k"], h100["bfloat16"][16384]) == pytest.approx(129, abs=1)
    # The catalog: FP8 about 3-4x BF16 on every die, FP4 wider still; the B200 die's figures
    # shared by b200 and gb200; Trainium2 and Rubin keep the one-number estimate 128.
    for acc in DIES:
        tr = CATALOG.accelerators[acc].training
        assert tr is not None
        assert 3 < tr.half_width("fp8") / tr.half_width("bf16") < 5
    b200, gb200 = CATALOG.accelerators["b200"].training, CATALOG.accelerators["gb200"].training
    assert b200 is not None and gb200 is not None
    assert b200.gemm_half_width == gb200.gemm_half_width
    assert b200.half_width("fp4") > b200.half_width("fp8")
    for acc in ("trainium2", "rubin", "trainium3"):
        tr = CATALOG.accelerators[acc].training
        assert tr is not None and tr.gemm_half_width == 128 and tr.half_width("fp8") == 128
    # The cross-check table (XLA, M = N = 4,096): H100 BF16 halves near K ~290, where
    # aiconfigurator's H100 BF16 at that M also gives ~283 (the half-width grows as M shrinks)
    xla = TABLES["xla"]["sm_90"]["bf16"]
    assert fitted_half_width(TABLES["k"][: len(xla)], xla) == pytest.approx(288, abs=2)


def test_train_figures_take_the_runs_precision() -> None:
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f8, f16 = train_figures(hw, "fp8"), train_figures(hw, "bf16")
    assert f8 is not None and f16 is not None
    assert (f8.gemm_half_width, f16.gemm_half_width) == (450, 140)
    # the output head runs in BF16 in an FP8 run: its GEMMs take BF16's half-width
    assert f8.head_gemm_half_width == f16.head_gemm_half_width == 140


def test_shape_terms_by_hand() -> None:
    # Qwen3-30B-A3B's experts (768 wide, gated: fc1 2 x 768, fc2 768) at TP1 on GB200 in FP8,
    # W = 560: 3 / (2 (1,536 + 560)/1,536 + (768 + 560)/768) = 0.6729; at BF16's 140: 0.8916 (at
    # the former one-number 128: 0.900).
    hw = hardware(CATALOG, "gb200-nvl72")
    assert hw is not None
    f8, f16 = train_figures(hw, "fp8"), train_figures(hw, "bf16")
    assert f8 is not None and f16 is not None
    mf = ModelFigures(
        params=30e9, active=3e9, layers=48, hidden=2048, heads=32, kv_dim=512,
        attention_fwd_per_token_causal=0.0, experts=128, experts_per_token=8, expert_ffn=768,
    )  # fmt: skip
    w8 = 3 / (2 * (1536 + 560) / 1536 + (768 + 560) / 768)
    w16 = 3 / (2 * (1536 + 140) / 1536 + (768 + 140) / 768)
    assert expert_width_shape(mf, 1, f8) == pytest.approx(w8, rel=1e-12)
    assert expert_width_shape(mf, 1, f16) == pytest.approx(w16, rel=1e-12)
    assert w8 == pytest.approx(0.6729, abs=1e-4) and w16 == pytest.approx(0.8916, abs=1e-4)


def test_layer_and_head_gemms_by_hand() -> None:
    # A dense 8-layer model (hidden 1,024, 1,000-word vocabulary) at TP1, PP2 (the last stage
    # holds 4 layers and the head), 1,000 tokens a micro-batch, on round figures: layers at the
    # run's half-width 450, the BF16 head at 140, gemm_half_tokens 250.
    # Layers: 6 x (1e9 - 2 x 1,024,000)/8 x 4 x 1,000 FLOP at 1e15 x 0.5 x shape(450);
    # head: 6 x 1,000 x 1,024 x 1,000 FLOP at 1e15 x 0.25 x shape(140),
    # shape(W) = 1,000/(1,000 + 250) x 1,024/(1,024 + W).
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    base = train_figures(hw, "fp8")
    assert base is not None
    f = replace(
        base,
        peak_flops=1e15,
        peak_bf16_flops=1e15,
        gemm_efficiency=0.5,
        head_gemm_efficiency=0.25,
        gemm_half_tokens=250.0,
        gemm_half_width=450.0,
        head_gemm_half_width=140.0,
    )
    mf = ModelFigures(
        params=1e9, active=1e9, layers=8, hidden=1024, heads=8, kv_dim=256,
        attention_fwd_per_token_causal=0.0, vocab=1000,
    )  # fmt: skip
    st = step_time(Layout(pp=2), mf, f, RunFigures(1000, 8000.0, 16.0, 2.0), 0.0)

    def shape(w: float) -> float:
        return 1000 / (1000 + 250) * 1024 / (1024 + w)

    assert st.last_stage
    assert st.gemm_s == pytest.approx(
        6 * (1e9 - 2 * 1000 * 1024) / 8 * 4 * 1000 / (0.5e15 * shape(450)), rel=1e-9
    )
    assert st.head_s == pytest.approx(6 * 1000 * 1024 * 1000 / (0.25e15 * shape(140)), rel=1e-9)
    # one half-width for both (the head's 0: the layers'): the head at shape(450)
    one = step_time(
        Layout(pp=2),
        mf,
        replace(f, head_gemm_half_width=0.0),
        RunFigures(1000, 8000.0, 16.0, 2.0),
        0.0,
    )
    assert one.head_s == pytest.approx(6 * 1000 * 1024 * 1000 / (0.25e15 * shape(450)), rel=1e-9)


def test_overlay_sets_one_precision_and_ranges_name_it(tmp_path: Path) -> None:
    # A price overlay may set one precision's half-width (merged into the catalog's mapping) or
    # one number for all; the shipped ranges are per precision.
    one = tmp_path / "one.yaml"
    one.write_text("accelerators:\n  h100-sxm:\n    training:\n      gemm_half_width: {fp8: 300}\n")
    tr = load_catalog([one]).accelerators["h100-sxm"].training
    assert tr is not None and (tr.half_width("fp8"), tr.half_width("bf16")) == (300, 140)
    flat = tmp_path / "flat.yaml"
    flat.write_text("accelerators:\n  trainium2:\n    training:\n      gemm_half_width: 200\n")
    tr2 = load_catalog([flat]).accelerators["trainium2"].training
    assert tr2 is not None and tr2.half_width("fp8") == tr2.half_width("bf16") == 200
    h100 = CATALOG.accelerators["h100-sxm"]
    assert h100.range_of("training.gemm_half_width.fp8") == (380, 450, 520)
    assert "aiconfigurator" in h100.source_of("training.gemm_half_width")
