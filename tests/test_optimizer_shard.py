"""The distributed optimizer's shard per accelerator (planner/demand/training.py optimizer_shard):
the dense parameters' state over the DP·CP ranks, the routed experts' over the DP·CP/EP ranks that
hold the same experts (session s20 scale; before, every parameter's state was divided by DP·CP,
the experts' EP times too thin). Recomputed by hand from the catalog's figures."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.calibration import training as ct
from planner.demand.common import hardware
from planner.demand.training import (
    Layout,
    RunFigures,
    best_layout,
    model_figures,
    optimizer_shard,
    step_time,
    train_figures,
)

CATALOG = load_catalog()


def _row(rid: str) -> dict:
    return next(r for r in ct.runs() if r["id"] == rid)


def test_shard_by_hand() -> None:
    """DeepSeek-V3 on GB200, TP2 PP4 EP32: at DP1024 the dense N_d/(2·4) over 1,024 ranks and the
    experts' N_e/(2·4·32) over 1,024/32 = 32; a dense model's shard is P_acc/(DP·CP) as before;
    the arrays path gives the same numbers."""
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    n_e = mf.expert_params
    n_d = mf.params - n_e
    dense, expert = n_d / 8, n_e / (8 * 32)
    assert optimizer_shard(dense, expert, 1024, 32) == pytest.approx(dense / 1024 + expert / 32)
    assert optimizer_shard(dense, expert, 32, 32) == pytest.approx(dense / 32 + expert)
    assert optimizer_shard(1e9, 0.0, 64, 1) == pytest.approx(1e9 / 64)
    arr = optimizer_shard(
        np.array([dense, dense]),
        np.array([expert, expert]),
        np.array([1024.0, 32.0]),
        np.array([32.0, 32.0]),
    )
    assert arr == pytest.approx([dense / 1024 + expert / 32, dense / 32 + expert])


@pytest.mark.parametrize(
    ("rid", "dp"),
    [
        ("mlperf60-deepseek-v3-gb200-256gpu-step", 32),
        ("mlperf60-deepseek-v3-gb200-8192gpu-step", 1024),
    ],
)
def test_step_time_optimizer_and_state_on_the_shard(rid: str, dp: int) -> None:
    """The 256- and 8,192-GPU GB200 rows: optimizer = 2 x 16 B x shard / (HBM x utilisation), the
    experts' part of it 14.6 ms at 256 GPUs (no expert data parallelism: DP·CP/EP = 1) and 0.46 ms
    at 8,192 (32 ranks hold each expert)."""
    r = _row(rid)
    st = ct._step(CATALOG, r, r["layout"], 4096, r["global_batch_tokens"])
    hw = hardware(CATALOG, "gb200-nvl72")
    f = train_figures(hw, "fp8")
    assert f is not None
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    n_e = mf.expert_params
    n_d = mf.params - n_e
    shard = n_d / 8 / dp + n_e / (8 * 32) / (dp / 32)
    bw = f.hbm_bytes_per_s * f.memory_bandwidth_utilisation
    assert st.optimizer_s == pytest.approx(2 * 16 * shard / bw)
    expert_part = 2 * 16 * n_e / (8 * 32) / (dp / 32) / bw
    assert expert_part == pytest.approx(0.0146 if dp == 32 else 0.00046, rel=0.02)


def test_memory_carries_the_experts_state_unsharded_where_ep_is_the_whole_group() -> None:
    """A MoE layout with EP = DP·CP (every rank holds different experts) keeps its experts' whole
    optimizer state: the memory grows by N_e/(TP·PP·EP) x (16 - 2 - 2) B x (1 - 1/(DP·CP)) over a
    layout whose experts were (wrongly) sharded over DP·CP; a dense layout is unchanged."""
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    hw = hardware(CATALOG, "gb200-nvl72")
    f = train_figures(hw, "fp8")
    assert f is not None
    run = RunFigures(4096, 15360 * 4096, 16.0, 2.0, 1.0)
    lay = Layout(tp=2, pp=4, dp=32, ep=32, vp=4, ep_comm_overlap=True)
    st = step_time(lay, mf, f, run, recompute=0.0)
    n_e = mf.expert_params
    p_acc = (mf.params - n_e) / 8 + n_e / (8 * 32)
    shard = (mf.params - n_e) / 8 / 32 + n_e / (8 * 32)
    state = p_acc * (1.0 + 2.0) + shard * (16.0 - 2.0 - 2.0)
    t = 4096
    layers_stage = 16  # ceil(61 / 16) x 4
    held = layers_stage * 4 * (1 + 3 / 16)  # min(m, PP) in flight, interleaved
    acts = held * t * mf.hidden / 2 * f.activation_bytes_per_hidden
    assert st.memory_bytes == pytest.approx(state + acts, rel=1e-9)


@pytest.mark.parametrize(
    ("ep", "dp", "cp", "etp", "ok"),
    [
        (32, 32, 1, 0, True),
        (32, 16, 2, 0, True),
        (64, 32, 1, 1, True),
        (64, 32, 1, 0, False),
        (128, 32, 1, 0, False),
        (32, 24, 1, 0, False),
        (3, 30, 1, 0, False),
    ],
)
def test_a_pinned_ep_that_megatron_cannot_build_is_refused(
    ep: int, dp: int, cp: int, etp: int, ok: bool
) -> None:
    """At TP2: EP64 on DP32 with expert TP 1 spans TP·DP = 64 ranks (the NeMo-RL Qwen3-235B
    trainer's TP4 EP16 on DP4 kind), buildable; without expert_tp it is Megatron-Core's default
    expert TP = TP 2, and 2 x 64 ranks do not fit the stage's 64 (session 32: it had been priced,
    with an expert data-parallel group of no ranks); EP128 has 64 ranks to live on, EP32 does not
    divide TP·DP = 48, EP3 does not divide the 256 routed experts: no Megatron layout, refused
    with the reason (review20b: EP16 on 8 H100s, TP1, was priced)."""
    mf = model_figures(CATALOG.models["deepseek-v3"], 4096)
    hw = hardware(CATALOG, "gb200-nvl72")
    f = train_figures(hw, "fp8")
    run = RunFigures(4096, 15360 * 4096, 16.0, 2.0, 1.0)
    lay = Layout(2, 4, dp, cp, ep, 1, 1, expert_tp=etp)
    choice = best_layout(lay.accelerators, mf, f, run, pinned=lay, recompute=1.0)
    if ok:
        assert "must divide" not in choice.reason
    else:
        assert choice.best is None
        assert f"EP {ep} must divide" in choice.reason
