"""review21b: adversarial review of the fsdp and hostile merges. Bad `recompute` and FSDP/EP
groups in the calibration tables (training.yaml `recompute`, rl.yaml `trainer.recompute`, a MoE
row's hybrid fsdp) are errors on their file, line and field, not priced or a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcore.errors import ConfigError
from planner.calibration import rl as crl
from planner.calibration import training as ct

FSDP_ROW = "    layout: {tp: 1, pp: 1, dp: 64, micro_batch: 2, fsdp: 64}\n    recompute: 0.0\n"


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("bad", ["abc", "1.5", "-0.5", "true"])
def test_training_table_recompute_checked(tmp_path: Path, bad: str) -> None:
    src = ct.TABLE.read_text(encoding="utf-8")
    assert FSDP_ROW in src
    text = src.replace(FSDP_ROW, FSDP_ROW.replace("recompute: 0.0", f"recompute: {bad}"), 1)
    path = tmp_path / "training.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    line = _line_of(text, f"recompute: {bad}")
    assert f"training.yaml:{line}:" in str(exc.value)
    assert "recompute" in str(exc.value) and "from 0 to 1" in str(exc.value)


def test_training_table_moe_hybrid_fsdp_refused(tmp_path: Path) -> None:
    """A MoE row's hybrid FSDP group (below DP·CP) is not modelled (fsdp_problem): the table
    names the row's layout line; before, step_time priced it unchecked."""
    src = ct.TABLE.read_text(encoding="utf-8")
    old = "layout: {tp: 1, pp: 4, dp: 64, ep: 64, vp: 4, micro_batch: 1, recompute_modules: [mla_up_proj]}"
    assert old in src
    new = old.replace("micro_batch: 1,", "micro_batch: 1, fsdp: 32,")
    text = src.replace(old, new, 1)
    path = tmp_path / "training.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        ct.runs(path)
    assert f"training.yaml:{_line_of(text, new)}:" in str(exc.value)
    assert "hybrid sharding" in str(exc.value)


@pytest.mark.parametrize("bad", ["abc", "1.5", "-0.5"])
def test_rl_table_trainer_recompute_checked(tmp_path: Path, bad: str) -> None:
    src = crl.TABLE.read_text(encoding="utf-8")
    old = "      recompute: 1.0 "
    assert old in src
    text = src.replace(old, f"      recompute: {bad} ", 1)
    path = tmp_path / "rl.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        crl.points(path)
    assert f"rl.yaml:{_line_of(text, f'recompute: {bad} ')}:" in str(exc.value)
    assert "trainer.recompute" in str(exc.value)


def test_shipped_tables_still_load() -> None:
    assert len(ct.runs()) > 100
    assert len(crl.points()) > 10
