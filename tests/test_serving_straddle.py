"""Serving layouts whose stage or TP group would straddle a scale-up domain (session 30): the
layout search lays an instance's stages and TP groups over consecutive ranks, so in an instance
of whole domains a stage or group no larger than a domain crosses a domain boundary unless its
span divides the domain (training.in_one_domain). The serving physics charges a stage's EP
all-to-all and a TP group's all-reduce at the scale-up rate whenever they fit a domain's size,
so such layouts are not tried."""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.inference import layouts
from planner.demand.serving_physics import model_load
from planner.demand.training import in_one_domain

CATALOG = load_catalog()


def _crosses(start: int, span: int, domain: int) -> bool:
    """Whether ranks start .. start + span - 1 lie in two domains of `domain` ranks."""
    return start // domain != (start + span - 1) // domain


@pytest.mark.parametrize(
    ("system", "model", "units"),
    [
        ("gb200-nvl72", "deepseek-r1", 2),
        ("hgx-h100", "deepseek-r1", 3),
        ("hgx-h100", "llama-3.1-70b", 3),
    ],
)
def test_no_layout_tried_has_a_stage_or_tp_group_across_a_domain(
    system: str, model: str, units: int
) -> None:
    """Counting the boundary crossings of every stage and TP group of every layout tried: none
    fits a domain's size and crosses one. The rule removes what it should: on 2 NVL72 racks a
    DeepSeek-R1 stage of 48 (PP3) or 16 (PP9); on 3 HGX H100 servers (24 GPUs) TP6 and TP3 of
    a PP2 stage of 12 (TP4, TP2 and TP1 stay)."""
    hw = hardware(CATALOG, system)
    assert hw is not None
    arch = CATALOG.models[model]
    load = model_load(arch, "fp8", "fp8", 1000, 1000, 1)
    domain = hw.system.scale_up_domain
    tried = layouts(arch, hw, load, units)
    assert tried
    for lay in tried:
        a, g = lay.accelerators, lay.stage_accelerators
        if a <= hw.accelerators:
            continue  # packed instances_per_unit a unit, each inside it
        for start in range(0, a, g):
            assert not (g <= domain and _crosses(start, g, domain)), (lay, start)
        for start in range(0, a, lay.tp):
            assert not (lay.tp <= domain and _crosses(start, lay.tp, domain)), (lay, start)
    stages = {(lay.accelerators, lay.pp) for lay in tried}
    tps = {(lay.accelerators, lay.pp, lay.tp) for lay in tried}
    if system == "gb200-nvl72":
        assert (144, 2) in stages and (144, 4) in stages  # 72 and 36 divide a rack
        assert (144, 3) not in stages and (144, 9) not in stages
        assert not in_one_domain(48, 144, 72) and not in_one_domain(16, 144, 72)
    elif arch.moe is not None:
        assert {(24, 2, t) for t in (1, 2, 4)} <= tps
        assert (24, 2, 6) not in tps and (24, 2, 3) not in tps
