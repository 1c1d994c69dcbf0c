"""What a serving instance's TP or EP group that straddles a scale-up domain is charged
(session 30): an instance of whole 72-GPU racks whose groups do not divide 72 has a group over
two racks (training.in_one_domain; the layout search no longer tries such layouts, a pinned
engine layout or RL generator may still state one), and that group pays the NIC
(serving_physics.group_split); an instance inside one rack is placed whole, the rack's leftover
GPUs idle. Each figure against a hand computation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.inference import instances_per_unit, layouts, pinned_layout
from planner.demand.serving_physics import (
    Layout,
    StepArrays,
    StepPhysics,
    allreduce_hop_out_s,
    allreduce_s,
    ep_bytes_per_token,
    ep_link_s,
    group_pieces,
    group_split,
    model_load,
    pp_cross_hops,
    prefill_time,
    scale_up_one_way,
)

CATALOG = load_catalog()
DSR1 = CATALOG.models["deepseek-r1"]
GB200 = hardware(CATALOG, "gb200-nvl72")
assert GB200 is not None


def test_group_split_by_hand() -> None:
    # PP3 over two racks (144 ranks): stages 0-47, 48-95, 96-143; the middle one is 24 + 24
    assert group_split(48, 144, 72) == (24, 2)
    # TP16 over two racks: ranks 64-79 are 8 in each rack (72 mod 16 = 8)
    assert group_split(16, 144, 72) == (8, 2)
    # EP64 over eight racks: ranks 64-127 are 8 + 56, the smallest side 8
    assert group_split(64, 576, 72) == (8, 2)
    # groups that divide the rack, or an instance inside one rack: inside
    assert group_split(36, 144, 72) == (36, 1)
    assert group_split(16, 16, 72) == (16, 1)
    assert group_split(64, 64, 72) == (64, 1)
    # wider than the domain: as before, D a domain over ceil(span / D) domains
    assert group_split(144, 144, 72) == (72, 2)
    assert group_split(32, 32, 8) == (8, 4)
    # 8-GPU servers: PP4 stages of 6 over three servers straddle (6 + 2 at ranks 6-11)
    assert group_split(6, 24, 8) == (2, 2)
    # wider than a domain, over consecutive ranks of whole domains: PP2 stages of 12 over three
    # 8-GPU servers are 8 + 4 (ranks 0-11) and 4 + 8; EP108 over three racks 72 + 36
    assert group_split(12, 24, 8) == (4, 2)
    assert group_split(108, 216, 72) == (36, 2)
    # an instance that is not whole domains sits as evenly as it can: EP96 on two racks 48 + 48
    assert group_split(96, 96, 72) == (48, 2)


def test_instances_inside_one_rack_are_placed_whole_with_idle_gpus_counted() -> None:
    # 16-, 32-, 64-GPU instances on a 72-GPU rack: floor(72 / a) of them, 8 GPUs idle; none
    # straddles (InferenceX's GB200 decode workers are DEP16/32/48 inside one NVL72 domain)
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    per_unit = {lay.accelerators: lay.instances_per_unit for lay in layouts(DSR1, GB200, load, 1)}
    assert per_unit[16] == 4 and per_unit[32] == 2 and per_unit[64] == 1 and per_unit[72] == 1
    assert per_unit[24] == 3
    assert all(group_split(a, a, 72) == (a, 1) for a in per_unit)


def test_straddling_tp_group_all_reduces_over_the_nic() -> None:
    s = GB200.accelerator.serving
    assert s is not None
    nbytes = 64 * DSR1.hidden * 2.0
    up = GB200.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    out = GB200.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    # TP16 inside a rack (a 16-GPU instance): one level over 16 GPUs
    inside = 2 * 4 * s.scale_up_latency_s + 2 * 15 / 16 * nbytes / up
    assert allreduce_s(GB200, 16, nbytes, 16) == pytest.approx(inside, rel=1e-12)
    # TP16 of a 144-GPU instance: the worst group is 8 + 8 over two racks: within each rack
    # over 8, then across 2 racks each GPU's 1/8 shard over its NIC
    straddling = (
        2 * 3 * s.scale_up_latency_s
        + 2 * 7 / 8 * nbytes / up
        + 2 * 1 * allreduce_hop_out_s(s)
        + 2 * (1 / 2) * nbytes / 8 / out
    )
    assert allreduce_s(GB200, 16, nbytes, 144) == pytest.approx(straddling, rel=1e-12)
    assert straddling > 1.5 * inside  # 26.2 us against 17.3 us for 64 tokens


def _pinned(tp: int, pp: int, ep: int) -> Layout:
    """A stated engine layout (pinned_layout): a = pp · max(tp, ep) GPUs."""
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lay = pinned_layout(DSR1, GB200, load, tp=tp, pp=pp, ep=ep)
    assert isinstance(lay, Layout)
    return lay


def test_straddling_ep_stage_pays_the_nic_in_the_decode_step() -> None:
    # PP3 over two racks: EP48 stages, the middle one 24 + 24 over two racks: a rank of it sends
    # half its rows over the NIC, hops at the scale-out latency (the slowest stage sets the step)
    s = GB200.accelerator.serving
    assert s is not None
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lay = _pinned(1, 3, 48)
    step = StepPhysics(GB200, load, lay)
    mq = 4096.0
    per_chip = mq / 48 * ep_bytes_per_token(DSR1, 48)
    up = scale_up_one_way(GB200)
    out = GB200.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    per_layer = 2 * s.scale_out_latency_s + per_chip / 2 / up + per_chip / 2 / out
    assert step._ep_comm_s(mq, 1.0) == pytest.approx(DSR1.moe_layers * per_layer, rel=1e-12)
    # the same EP48 stage as a 48-GPU instance inside one rack: NVLink only
    inside = StepPhysics(GB200, load, _pinned(1, 1, 48))
    per_layer_inside = 2 * s.scale_up_latency_s + per_chip / up
    assert inside._ep_comm_s(mq, 1.0) == pytest.approx(
        DSR1.moe_layers * per_layer_inside, rel=1e-12
    )
    # PP4 over two racks: EP36 stages, two a rack, inside
    assert StepPhysics(GB200, load, _pinned(1, 4, 36))._ep_comm_s(mq, 1.0) == pytest.approx(
        DSR1.moe_layers * (2 * s.scale_up_latency_s + mq / 36 * ep_bytes_per_token(DSR1, 36) / up),
        rel=1e-12,
    )


def test_straddling_ep_stage_pays_the_nic_in_prefill() -> None:
    s = GB200.accelerator.serving
    assert s is not None
    lay = _pinned(1, 3, 48)
    nbytes = 1e6
    up = scale_up_one_way(GB200)
    out = GB200.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    assert ep_link_s(GB200, 48, nbytes, 144) == pytest.approx(
        (nbytes / 2 / up + nbytes / 2 / out, 2 * s.scale_out_latency_s), rel=1e-12
    )
    assert ep_link_s(GB200, 48, nbytes, 48) == pytest.approx(
        (nbytes / up, 2 * s.scale_up_latency_s), rel=1e-12
    )
    # prefill_time charges the stage's all-to-all through ep_link_s with the instance's ranks
    t = prefill_time(GB200, DSR1, "fp8", lay, 500.0)
    x = t.ep_imbalance
    per_acc = DSR1.moe_layers * x * ep_bytes_per_token(DSR1, 48) / 144
    assert t.ep_comm_s == pytest.approx(per_acc / 2 / up + per_acc / 2 / out, rel=1e-12)
    assert math.isfinite(t.per_token_s)


def test_pinned_tp16_over_two_racks_pays_the_nic_in_decode_and_prefill() -> None:
    # TP16 attention, EP144 over two racks: 9 TP groups, the one at ranks 64-79 is 8 + 8
    s = GB200.accelerator.serving
    assert s is not None
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lay = _pinned(16, 1, 144)
    assert (lay.accelerators, lay.attention_replicas) == (144, 9)
    step = StepPhysics(GB200, load, lay)
    # 576 sequences, one token each: 64 tokens an attention replica all-reduced per TP group
    nbytes = 64 * DSR1.hidden * 2.0
    terms = step.terms(576, False)
    assert terms.tp_comm_s == pytest.approx(
        step.allreduces * allreduce_s(GB200, 16, nbytes, 144), rel=1e-12
    )
    assert terms.tp_comm_s > 1.5 * step.allreduces * allreduce_s(GB200, 16, nbytes, 16)
    # prefill: the bandwidth terms of the same two levels, per token of the instance
    up = GB200.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    out = GB200.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    t = prefill_time(GB200, DSR1, "fp8", lay, 500.0)
    per_token = DSR1.hidden * 2.0 * (2 * 7 / 8 / up + 2 * (1 / 2) / 8 / out) * 16 / 144
    assert t.allreduce_s == pytest.approx(t.allreduces * per_token, rel=1e-12)


def test_straddling_pinned_layouts_on_arrays_equal_the_scalar_step() -> None:
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lays = [_pinned(16, 1, 144), _pinned(1, 3, 48), _pinned(8, 1, 72), _pinned(1, 9, 16)]
    steps = [StepPhysics(GB200, load, lay) for lay in lays]
    arrays = StepArrays(steps)
    rows = np.array([0, 1, 2, 3, 0, 1])
    batch = np.array([576, 300, 1000, 81, 9 * 1024, 3 * 7], dtype=np.int64)
    for chunk in (False, True):
        vector = arrays.tpot_bound_s(rows, batch, chunk).tolist()
        scalar = [
            steps[j].terms(int(b), chunk).tpot_bound_s
            for j, b in zip(rows.tolist(), batch.tolist(), strict=True)
        ]
        assert vector == scalar


def test_a_unit_of_two_domains_packs_instances_inside_each_domain() -> None:
    # a (made-up) unit of two 72-GPU domains: 16-GPU instances 4 a domain, 8 a unit (9 would put
    # the fifth at ranks 64-79, across both domains); 32: 2 a domain; 144: one over both
    two = dataclasses.replace(GB200, system=GB200.system.model_copy(update={"accelerators": 144}))
    assert instances_per_unit(two, 16) == 8 and instances_per_unit(two, 32) == 4
    assert instances_per_unit(two, 24) == 6 and instances_per_unit(two, 144) == 1
    assert instances_per_unit(two, 288) == 0.5
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    per_unit = {lay.accelerators: lay.instances_per_unit for lay in layouts(DSR1, two, load, 1)}
    assert per_unit[16] == 8 and per_unit[64] == 2
    pinned = pinned_layout(DSR1, two, load, tp=1, pp=1, ep=16)
    assert isinstance(pinned, Layout) and pinned.instances_per_unit == 8
    # one domain a unit (every catalog system): floor(U / a), as before
    assert instances_per_unit(GB200, 16) == 4 and instances_per_unit(GB200, 144) == 0.5


def test_a_stage_wider_than_a_server_but_not_whole_servers_pays_its_smaller_side() -> None:
    # DeepSeek-R1 PP2 x EP12 on three HGX H100 servers: stage 1 is ranks 0-11, 8 + 4; a rank of
    # the 4 sends 8 of 12 shares over its NIC (before: (12 - 8) / 12, as if 8 + 8 + ...)
    h100 = hardware(CATALOG, "hgx-h100")
    assert h100 is not None
    s = h100.accelerator.serving
    assert s is not None
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    lay = pinned_layout(DSR1, h100, load, tp=1, pp=2, ep=12)
    assert isinstance(lay, Layout) and lay.accelerators == 24
    mq = 1024.0
    per_chip = mq / 12 * ep_bytes_per_token(DSR1, 12)
    up = scale_up_one_way(h100)
    out = h100.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    per_layer = 2 * s.scale_out_latency_s + per_chip * (4 / 12) / up + per_chip * (8 / 12) / out
    step = StepPhysics(h100, load, lay)
    assert step._ep_comm_s(mq, 1.0) == pytest.approx(DSR1.moe_layers * per_layer, rel=1e-12)
    arrays = StepArrays([step])
    for batch in (2, 512, 4096):
        vector = arrays.tpot_bound_s(np.array([0]), np.array([batch]), False).tolist()
        assert vector == [step.terms(batch, False).tpot_bound_s]


def test_an_uneven_tp_group_rings_over_its_larger_side_and_crosses_with_its_smaller() -> None:
    # TP12 of a 24-GPU instance on HGX H100 servers: ranks 0-11 are 8 + 4. The two-level
    # all-reduce waits for the 8-GPU ring (2·7/8 of the bytes, 3 latency steps each way: the
    # 4-GPU one moves 2·3/4 in 2) and then for a rank of the 4, whose shard is 1/4 of the bytes
    # (a rank of the 8 sends 1/8) over its NIC; before, both levels were charged over the 4
    h100 = hardware(CATALOG, "hgx-h100")
    assert h100 is not None
    s = h100.accelerator.serving
    assert s is not None
    assert group_pieces(12, 24, 8) == (4, 8, 2) and group_split(12, 24, 8) == (4, 2)
    assert group_pieces(16, 144, 72) == (8, 8, 2) and group_pieces(36, 144, 72) == (36, 36, 1)
    nbytes = 64 * 7168 * 2.0
    up = h100.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    out = h100.accelerator.scale_out_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    by_hand = (
        2 * 3 * s.scale_up_latency_s
        + 2 * 7 / 8 * nbytes / up
        + 2 * 1 * allreduce_hop_out_s(s)
        + 2 * (1 / 2) * nbytes / 4 / out
    )
    assert allreduce_s(h100, 12, nbytes, 24) == pytest.approx(by_hand, rel=1e-12)


def test_pipeline_hops_leaving_a_domain_pay_the_nic_counted_by_placement() -> None:
    # PP3 x EP48 over two racks: stage 0 (ranks 0-47) sends rank r to r + 48, and ranks 24-47
    # reach 72-95 in the other rack, so all 3 hops wait for the NIC; before min(pp, units) = 2
    # charged one of them NVLink
    assert pp_cross_hops(3, 144, 72) == 3
    assert pp_cross_hops(4, 144, 72) == 2  # stages 0+1 and 2+3 each share a rack
    assert pp_cross_hops(2, 24, 8) == 2 and pp_cross_hops(4, 32, 8) == 4
    assert pp_cross_hops(8, 16, 8) == 2 and pp_cross_hops(4, 64, 72) == 0
    assert pp_cross_hops(3, 12, 8) == 2  # not whole servers: stages 0, 1 in one, 2 in another
    s = GB200.accelerator.serving
    assert s is not None
    load = model_load(DSR1, "fp8", "fp8", 1000, 1000, 1)
    up = GB200.accelerator.scale_up_bandwidth_bytes_per_s * s.link_bandwidth_utilisation
    mq = 600.0
    hop = mq * DSR1.hidden * 2.0 / 1
    step = StepPhysics(GB200, load, _pinned(1, 3, 48))
    assert step._pp_comm_s(mq) == pytest.approx(
        3 * (s.scale_out_latency_s + hop / step.out_bw), rel=1e-12
    )
    # a (made-up) unit of two 72-GPU domains: PP2 x EP72 is one unit, yet both hops leave a
    # domain; before (units spanned 1) both were charged NVLink
    two = dataclasses.replace(GB200, system=GB200.system.model_copy(update={"accelerators": 144}))
    lay = pinned_layout(DSR1, two, load, tp=1, pp=2, ep=72)
    assert isinstance(lay, Layout) and lay.units_spanned == 1
    step = StepPhysics(two, load, lay)
    assert step._pp_comm_s(mq) == pytest.approx(
        2 * (s.scale_out_latency_s + hop / step.out_bw), rel=1e-12
    )
    assert step._pp_comm_s(mq) > 2 * (s.scale_up_latency_s + hop / up)
    arrays = StepArrays([step])
    for batch in (2, 512, 4096):
        vector = arrays.tpot_bound_s(np.array([0]), np.array([batch]), False).tolist()
        assert vector == [step.terms(batch, False).tpot_bound_s]
