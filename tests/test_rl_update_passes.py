"""The RL update's forward-only log-prob pass (planner/demand/training.py step_time
forward_only) against the training step of the same layout, and RLSpec.trainer's checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.training import (
    FORWARD_COMM_SHARE,
    Layout,
    RunFigures,
    model_figures,
    step_time,
    train_figures,
)
from planner.kinds.rl import RLSpec

CATALOG = load_catalog()


def _step(layout: Layout, forward_only: bool, recompute: float | None = 0.0):  # type: ignore[no-untyped-def]
    hw = hardware(CATALOG, "hgx-h100")
    assert hw is not None
    f = train_figures(hw, "bf16")
    assert f is not None
    mf = model_figures(CATALOG.models["llama-3.1-8b"], 4096)
    run = RunFigures(4096, 64 * 4096, 16.0, 2.0)
    rc = None if forward_only else recompute
    return step_time(layout, mf, f, run, rc, forward_only=forward_only)


def test_forward_is_a_third_of_the_compute_and_half_the_traffic() -> None:
    """TP2 x PP2 x DP2: GEMM, attention and memory-bound time x 1/3 of a step without
    recomputation, TP and PP sends x 1/2, no DP synchronisation or optimizer; bubble
    (PP-1) x the forward micro-batch."""
    lay = Layout(tp=2, pp=2, dp=2, micro_batch=1)
    train, fwd = _step(lay, False), _step(lay, True)
    assert train.recompute == 0.0
    for term in ("gemm_s", "attention_s", "memory_s"):
        assert getattr(fwd, term) == pytest.approx(getattr(train, term) / 3, rel=1e-12)
    assert FORWARD_COMM_SHARE == 0.5
    assert fwd.tp_s == pytest.approx(train.tp_s / 2, rel=1e-12) and train.tp_s > 0
    assert fwd.pp_s == pytest.approx(train.pp_s / 2, rel=1e-12) and train.pp_s > 0
    assert fwd.dp_s == fwd.dp_exposed_s == fwd.optimizer_s == 0.0 and train.dp_s > 0
    assert fwd.micro_batches == train.micro_batches == 32
    assert fwd.bubble_s == pytest.approx(fwd.micro_batch_s)
    assert fwd.step_s == pytest.approx((32 + 1) * fwd.micro_batch_s)
    # recomputation does not apply to a forward pass; it does to the step (+1 forward: 8N)
    full = _step(lay, False, recompute=1.0)
    assert full.gemm_s == pytest.approx(train.gemm_s * 4 / 3, rel=1e-12)
    assert fwd.model_flops_per_token == pytest.approx(train.model_flops_per_token / 3)


def test_trainer_recompute_needs_a_layout() -> None:
    base = {
        "policy": "llama-3.1-8b",
        "problems": 64,
        "samples_per_problem": 32,
        "prompt_tokens": 127,
        "completion_tokens": 1019,
        "kept_fraction": 1.0,
        "samples_per_update": 2048,
        "deadline": "1 day",
    }
    with pytest.raises(ValidationError, match="trainer.recompute needs trainer.layout"):
        RLSpec.model_validate({**base, "trainer": {"recompute": 1.0}})
    spec = RLSpec.model_validate(
        {**base, "trainer": {"layout": {"pp": 2}, "recompute": 1.0, "batch_samples": 512}}
    )
    assert spec.trainer is not None and spec.trainer.layout is not None
    assert spec.trainer.layout.pp == 2
