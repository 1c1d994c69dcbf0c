"""Session 34 review, finding 4: serving's TP all-reduce ran at both directions of the catalog's
scale-up figure (H100: 900 GB/s x 0.75) where training runs at one (450 x 0.8); a ring
all-reduce's bus bandwidth is one direction's rate. Both models now read one direction of the
same figure (planner/demand/serving_physics.py allreduce_s, scale_up_one_way; docs/models.md,
"Review s33: the TP all-reduce at one direction's rate")."""

from __future__ import annotations

import pytest

# -- 4. the TP all-reduce's bandwidth: one direction of the catalog figure, in both models -----

# nccl-tests bus bandwidth of a large all-reduce on 8 x H100 (busbw = 2(n-1)/n x S / t, the
# same volume over one direction's rate): ring 365-370 GB/s on 2 to 8 GPUs (NVIDIA/nccl issue
# #1455; "the app-level bandwidth is 370GB/s in each direction", NVIDIA/nccl issue #1442),
# NVLink SHARP ~480 GB/s at 8 GPUs (NVIDIA/nccl-tests issue #212).
H100_RING_BUSBW = 370e9
H100_NVLS_BUSBW = 480e9


def _serving_busbw(system: str, tp: int, nbytes: float = 1e9) -> float:
    """The bus bandwidth allreduce_s implies: its ring volume over its bandwidth time."""
    import math

    from hardware.catalog import load_catalog
    from planner.demand.common import hardware
    from planner.demand.serving_physics import allreduce_s, figures

    hw = hardware(load_catalog(), system)
    assert hw is not None
    latency = 2 * math.ceil(math.log2(tp)) * figures(hw).scale_up_latency_s
    return 2 * (tp - 1) / tp * nbytes / (allreduce_s(hw, tp, nbytes) - latency)


def test_serving_and_training_all_reduce_at_one_direction_of_the_same_figure() -> None:
    """Both models read hgx-h100's scale_up_bandwidth, 900 GB/s, as both directions summed and
    charge a TP all-reduce's ring volume 2(n-1)/n x S at one direction's 450 GB/s times their
    efficiency: training 0.8 (360 GB/s), serving 0.75 (337.5 GB/s), both at or below the
    measured ring bus bandwidth and the NVLS peak. Before (review s33): serving divided by
    900 x 0.75 = 675 GB/s, 1.8x the ring, 1.4x NVLS, twice training's convention."""
    from hardware.catalog import load_catalog
    from planner.demand.common import hardware
    from planner.demand.training import _group_bandwidth, train_figures

    hw = hardware(load_catalog(), "hgx-h100")
    assert hw is not None and hw.accelerator.serving is not None
    assert hw.accelerator.training is not None
    one_way = hw.accelerator.scale_up_bandwidth_bytes_per_s / 2
    assert one_way == pytest.approx(450e9)
    f = train_figures(hw, "bf16")
    assert f is not None
    training = _group_bandwidth(8, 8, f)
    assert training == pytest.approx(one_way * hw.accelerator.training.collective_efficiency)
    serving = _serving_busbw("hgx-h100", 8)
    assert serving == pytest.approx(one_way * hw.accelerator.serving.link_bandwidth_utilisation)
    assert training == pytest.approx(360e9) and serving == pytest.approx(337.5e9)
    for busbw in (training, serving):
        assert busbw <= H100_RING_BUSBW < H100_NVLS_BUSBW


def test_every_systems_serving_all_reduce_runs_at_one_direction() -> None:
    """Every system with a scale-up domain: allreduce_s inside the domain (its implied bus
    bandwidth) and scale_up_one_way (the EP all-to-all's rate) are one figure, half the
    catalog's scale-up bandwidth times link_bandwidth_utilisation (the prefill pass's
    allreduce_bandwidth: tests/test_rtxpro.py)."""
    from hardware.catalog import load_catalog
    from planner.demand.common import hardware
    from planner.demand.serving_physics import scale_up_one_way

    catalog = load_catalog()
    checked = 0
    for name, unit in catalog.systems.items():
        hw = hardware(catalog, name)
        if hw is None or unit.scale_up_domain < 2 or hw.accelerator.serving is None:
            continue
        expected = (
            hw.accelerator.scale_up_bandwidth_bytes_per_s
            / 2
            * hw.accelerator.serving.link_bandwidth_utilisation
        )
        assert scale_up_one_way(hw) == pytest.approx(expected), name
        assert _serving_busbw(name, 2) == pytest.approx(expected, rel=1e-9), name
        checked += 1
    assert checked >= 10
