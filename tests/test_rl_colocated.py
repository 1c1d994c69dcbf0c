"""A colocated RL update's own costs (planner/demand/rl.py colocated_update_s), recomputed by
hand from catalog figures: refit = BF16 weights / (link one way x link utilisation), offload =
2 x (weights + gradients / m + Adam state / n) / offload bandwidth per accelerator, plus the
fixed update overhead; a run
on separate pools (colocated: false) pays none of it, in the estimate or in the LP."""

from __future__ import annotations

import math

import pytest

from hardware.catalog import load_catalog
from planner.demand.common import hardware
from planner.demand.rl import colocated_update_s, pool_sync_s, rl_rates, update_floor_s
from planner.kinds.rl import RLSpec, RLTrainerSpec, demand

CATALOG = load_catalog()


def _spec(policy: str, colocated: bool = True) -> RLSpec:
    return RLSpec.model_validate(
        {
            "policy": policy,
            "problems": 1000,
            "samples_per_problem": 16,
            "prompt_tokens": 100,
            "completion_tokens": 700,
            "kept_fraction": 1.0,
            "samples_per_update": 512,
            "deadline": "30 days",
            "max_completion_tokens": 1400,
            "colocated": colocated,
        }
    )


def test_deepseek_v3_on_h100_refits_over_the_nic() -> None:
    h100 = CATALOG.accelerators["h100-sxm"]
    assert h100.rl is not None and h100.serving is not None
    params = 671e9
    # 671e9 x 16 B of training state > 8 x 80 GB: the model spans servers, refit over IB
    nic = h100.scale_out_bandwidth_bytes_per_s  # 400 Gb/s = 50 GB/s
    assert nic == pytest.approx(50e9)
    # m: the fewest H100s whose usable HBM holds 671e9 x 16 B; weights + gradients (2 x 2 B)
    # split over m, Adam state (12 B) over the run's 256
    m = math.ceil(params * 16 / (80e9 * hardware(CATALOG, "hgx-h100").hbm_usable_fraction))
    # the weights spread over m GPUs on ceil(m / 8) servers: all but 1/that crosses the NIC
    crossing = 1 - 1 / math.ceil(m / 8)
    refit = crossing * params * 2 / (nic * h100.serving.link_bandwidth_utilisation)
    per_gpu = params * 4 / m + params * 12 / 256
    offload = 2 * per_gpu / h100.rl.offload_bandwidth_bytes_per_s
    co = colocated_update_s(_spec("deepseek-v3"), CATALOG, "hgx-h100", accelerators=256)
    assert co is not None and co.refit_link == "scale-out" and co.model_parallel == m > 8
    assert co.refit_crossing_share == pytest.approx(crossing) and co.refit_span == m
    assert co.refit_s == pytest.approx(refit, rel=1e-12)  # 33.9 s (the whole model: 35.8 s)
    assert co.refit_s == pytest.approx(35.79 * crossing, abs=0.01)
    assert co.offload_bytes_per_accelerator == pytest.approx(per_gpu, rel=1e-12)
    assert co.offload_s == pytest.approx(offload, rel=1e-12)  # 24.7 s at 4 GB/s
    assert co.overhead_s == h100.rl.update_overhead_s == 10.0
    assert co.total_s == pytest.approx(refit + offload + 10.0)


def test_deepseek_v3_on_gb200_refits_over_the_nic_for_the_racks_its_layout_spans() -> None:
    """671e9 x 16 B fits one NVL72 rack's usable HBM (m <= 72): without a layout the refit is
    over NVLink; the recipe's PP8 x EP16 layout spreads the weights over 128 GPUs on 2 racks,
    so half the weights cross the 400 Gb/s NIC while the local half comes over NVLink 5."""
    gb200 = CATALOG.accelerators["gb200"]
    assert gb200.serving is not None
    u = gb200.serving.link_bandwidth_utilisation
    spec = _spec("deepseek-v3")
    bare = colocated_update_s(spec, CATALOG, "gb200-nvl72", accelerators=128)
    assert bare is not None and bare.refit_link == "scale-up" and bare.model_parallel <= 72
    assert bare.refit_s == pytest.approx(671e9 * 2 / (900e9 * u))  # 2.0 s
    laid = spec.model_copy(
        update={"trainer": RLTrainerSpec.model_validate({"layout": {"pp": 8, "ep": 16}})}
    )
    co = colocated_update_s(laid, CATALOG, "gb200-nvl72", accelerators=128)
    assert co is not None and co.refit_link == "scale-out" and co.refit_span == 128
    assert co.refit_crossing_share == 0.5
    nic = gb200.scale_out_bandwidth_bytes_per_s
    assert co.refit_s == pytest.approx(max(0.5 * 671e9 * 2 / nic, 0.5 * 671e9 * 2 / 900e9) / u)
    assert co.refit_s == pytest.approx(17.89, abs=0.01)
    assert co.offload_s == bare.offload_s


def _pinned_deepseek(pp: int, ep: int) -> tuple[RLSpec, float, float]:
    """DeepSeek-V3 with a pinned PP x EP trainer layout, GB200's link utilisation and NIC bytes/s."""
    gb200 = CATALOG.accelerators["gb200"]
    assert gb200.serving is not None
    laid = _spec("deepseek-v3").model_copy(
        update={"trainer": RLTrainerSpec.model_validate({"layout": {"pp": pp, "ep": ep}})}
    )
    u = gb200.serving.link_bandwidth_utilisation
    return laid, u, gb200.scale_out_bandwidth_bytes_per_s


def test_a_pinned_trainer_group_that_straddles_racks_refits_half_over_the_nic() -> None:
    """A pinned PP4 x EP16 trainer (64 ranks) on 8 whole NVL72 racks (576 GPUs) runs its groups
    over consecutive ranks, so a 64-rank group straddles two racks (training.in_one_domain):
    the one at ranks 64-127 is 8 + 56, and a rank of the 8 receives 56/64 = 7/8 of the weights
    over its NIC (session 31; 1/2 before, as if 32 + 32), a rank of the 56 56/64 over NVLink.
    On 512 GPUs (8 racks of 64, the published runs' placement) the group is inside a rack:
    NVLink."""
    laid, u, nic = _pinned_deepseek(4, 16)
    inside = colocated_update_s(laid, CATALOG, "gb200-nvl72", accelerators=512)
    assert inside is not None and inside.refit_link == "scale-up" and inside.refit_span == 64
    assert inside.refit_s == pytest.approx(671e9 * 2 / (900e9 * u))
    across = colocated_update_s(laid, CATALOG, "gb200-nvl72", accelerators=576)
    assert across is not None and across.refit_link == "scale-out"
    assert across.refit_crossing_share == 7 / 8
    assert across.refit_s == pytest.approx(
        max(7 / 8 * 671e9 * 2 / nic, 56 / 64 * 671e9 * 2 / 900e9) / u
    )
    # no layout: m, the fewest GPUs holding the state, is sized to the rack: NVLink
    bare = colocated_update_s(_spec("deepseek-v3"), CATALOG, "gb200-nvl72", accelerators=576)
    assert bare is not None and bare.refit_link == "scale-up"


def test_a_pinned_trainer_group_over_three_racks_refits_two_thirds_over_the_nic() -> None:
    """A pinned PP4 x EP32 trainer (128 ranks) on 16 whole NVL72 racks (1,152 GPUs): the group
    of ranks 128-255 touches racks 1, 2 and 3, and the one at ranks 640-767 is 8 + 72 + 48 (at
    offset 64 of rack 8): a rank of the 8 receives 120/128 of the weights over its NIC
    (session 31; 2/3 before, R = 3 racks taken as even thirds). On 1,024 GPUs (not whole racks:
    the published placement) the groups sit 64 + 64: 1/2."""
    laid, u, nic = _pinned_deepseek(4, 32)
    whole = colocated_update_s(laid, CATALOG, "gb200-nvl72", accelerators=1152)
    assert whole is not None and whole.refit_link == "scale-out" and whole.refit_span == 128
    assert whole.refit_crossing_share == pytest.approx(120 / 128)
    assert whole.refit_s == pytest.approx(120 / 128 * 671e9 * 2 / nic / u)
    placed = colocated_update_s(laid, CATALOG, "gb200-nvl72", accelerators=1024)
    assert placed is not None and placed.refit_crossing_share == 0.5


def test_llama_8b_on_gb200_refits_over_nvlink_and_c2c_does_not_bind() -> None:
    gb200 = CATALOG.accelerators["gb200"]
    assert gb200.rl is not None and gb200.serving is not None
    co = colocated_update_s(_spec("llama-3.1-8b"), CATALOG, "gb200-nvl72", accelerators=8)
    assert co is not None and co.refit_link == "scale-up"
    one_way = gb200.scale_up_bandwidth_bytes_per_s / 2  # 1.8 TB/s -> 900 GB/s each way
    assert co.refit_s == pytest.approx(
        8e9 * 2 / (one_way * gb200.serving.link_bandwidth_utilisation)
    )
    # the offload goes at the stack's 4 GB/s, far below NVLink-C2C's 450 GB/s each way; one
    # GB200 holds the whole 128 GB state (m = 1): every GPU moves all weights and gradients
    assert gb200.rl.host_link_bandwidth_bytes_per_s == pytest.approx(450e9)
    assert co.model_parallel == 1
    assert co.offload_s == pytest.approx(2 * (8e9 * 4 + 8e9 * 12 / 8) / 4e9)


def test_without_a_run_size_the_state_fills_whole_units() -> None:
    # m = 671e9 x 16 B / (80 GB x usable fraction) accelerators, rounded up to whole 8-GPU
    # servers for the optimizer's share
    co = colocated_update_s(_spec("deepseek-v3"), CATALOG, "hgx-h100")
    assert co is not None
    n = math.ceil(co.model_parallel / 8) * 8
    assert co.accelerators == n >= math.ceil(671e9 * 16 / 80e9)
    per_gpu = 671e9 * 4 / co.model_parallel + 671e9 * 12 / n
    assert co.offload_s == pytest.approx(2 * per_gpu / 4e9)


def test_separate_pools_do_not_pay_it_but_the_weight_sync() -> None:
    """Separate pools pay no refit/offload/sleep-wake but the weight sync, the whole BF16 model
    broadcast from the trainer to the generators (planner/demand/rl.py pool_sync_s): by hand
    on HGX H100 (8 GPUs a scale-up domain, one 400 Gb/s NIC each, NVLink 900 GB/s both ways,
    link utilisation 0.75, rl.refit_bandwidth 92 GB/s, rl.sync_overhead 0.15 s), the job
    spanning servers: W / min(min(8 x 50, 450) GB/s x 0.75, 92 GB/s) + 0.15 s; it is in the
    LP's pace."""
    spec = _spec("llama-3.1-8b", colocated=False)
    assert colocated_update_s(spec, CATALOG, "hgx-h100") is None
    d = demand("rl", spec, CATALOG, ["hgx-h100"], 86_400.0 * 30)
    assert d.rl is not None and d.rl.colocated_update_s_by_system == {}
    floor = update_floor_s(spec, CATALOG, "hgx-h100")
    assert floor is not None
    sync = CATALOG.models["llama-3.1-8b"].params * 2 / min(400e9 * 0.75, 92e9) + 0.15
    assert d.rl.pool_sync_s_by_system == {"hgx-h100": pytest.approx(sync)}
    assert d.rl.pace_s_by_system() == {"hgx-h100": pytest.approx(floor + sync)}
    # a job inside one server's NVLink: the broadcast at NVLink's one-way 450 GB/s, still
    # faster than the refit pipeline's 92 GB/s
    inside = pool_sync_s(spec, CATALOG, "hgx-h100", accelerators=8)
    assert inside is not None and inside.link == "scale-up"
    assert inside.total_s == pytest.approx(
        CATALOG.models["llama-3.1-8b"].params * 2 / min(450e9 * 0.75, 92e9) + 0.15
    )
    # colocated runs pay the colocated update instead
    assert pool_sync_s(_spec("llama-3.1-8b"), CATALOG, "hgx-h100") is None


def test_the_lp_pace_includes_the_colocated_update() -> None:
    spec = _spec("llama-3.1-8b")
    d = demand("rl", spec, CATALOG, ["hgx-h100"], 86_400.0 * 30)
    co = colocated_update_s(spec, CATALOG, "hgx-h100")
    floor = update_floor_s(spec, CATALOG, "hgx-h100")
    assert d.rl is not None and co is not None and floor is not None
    assert d.rl.colocated_update_s_by_system == {"hgx-h100": pytest.approx(co.total_s)}
    assert d.rl.pace_s_by_system()["hgx-h100"] == pytest.approx(floor + co.total_s)


def test_colocated_rates_lose_the_windows_share_its_updates_take() -> None:
    window = 86_400.0 * 30
    spec = _spec("deepseek-v3")  # 16,000 samples, 512 an update: 31.25 updates in 30 days
    d = demand("rl", spec, CATALOG, ["hgx-h100"], window)
    bare = rl_rates(spec, CATALOG, "hgx-h100")
    # The run as its work sizes it (unit-seconds over the window x 8 GPUs a server), at least
    # the whole servers that hold the training state.
    unit_s = sum(role.amount / bare[role.name].per_unit_s for role in d.roles)
    fewest = colocated_update_s(spec, CATALOG, "hgx-h100")
    assert fewest is not None
    n = max(unit_s / window * 8, fewest.accelerators)
    co = colocated_update_s(spec, CATALOG, "hgx-h100", accelerators=n)
    assert co is not None and d.rl is not None
    assert d.rl.colocated_update_s_by_system == {"hgx-h100": pytest.approx(co.total_s)}
    idle = 16_000 / 512 * co.total_s / window
    assert 0 < idle < 1
    # the update's train and log-prob passes at that size in whole servers (update_passes)
    at_n = rl_rates(spec, CATALOG, "hgx-h100", accelerators=math.ceil(n / 8) * 8)
    for role in d.roles:
        rate = role.rates["hgx-h100"]
        assert rate.per_unit_s == pytest.approx(at_n[role.name].per_unit_s * (1 - idle))
        assert f"{idle:.1%} of the window" in rate.reason
    # separate pools: the trainer's pool sized by the train role alone; the idle share is the
    # weight sync's, W / min(min(8 x 50, 450) GB/s x 0.75, 92 GB/s) + 0.15 s an update
    # (pool_sync_s)
    sep = _spec("deepseek-v3", colocated=False)
    separate = demand("rl", sep, CATALOG, ["hgx-h100"], window)
    n_train = max(
        16_000 * 6 * 37e9 * 800 / bare["train"].per_unit_s / window * 8, fewest.accelerators
    )
    at_train = rl_rates(sep, CATALOG, "hgx-h100", accelerators=math.ceil(n_train / 8) * 8)
    sync = CATALOG.models["deepseek-v3"].params * 2 / min(400e9 * 0.75, 92e9) + 0.15
    idle_sync = 16_000 / 512 * sync / window
    for role in separate.roles:
        rate = role.rates["hgx-h100"]
        assert rate.per_unit_s == pytest.approx(at_train[role.name].per_unit_s * (1 - idle_sync))
        assert f"{idle_sync:.1%} of the window in its updates' weight sync" in rate.reason


def test_a_larger_run_trains_its_update_on_more_accelerators() -> None:
    """The LP's train rate is the update's pass over the run's work-sized accelerators: a run
    with 10x the samples in the same window spans more GPUs, so its update of 65,536 samples
    spreads thinner (fewer micro-batches a rank) and its rate per unit falls; both match
    rl_rates at the sizing _run_accelerators gives, in whole servers."""
    window = 86_400.0 * 10
    small = _spec("llama-3.1-8b").model_copy(
        update={"problems": 5_000_000, "deadline_s": window, "samples_per_update": 65_536}
    )
    large = small.model_copy(update={"problems": 50_000_000})
    rates = {}
    for name, spec in (("small", small), ("large", large)):
        d = demand("rl", spec, CATALOG, ["hgx-h100"], window)
        bare = rl_rates(spec, CATALOG, "hgx-h100")
        unit_s = sum(role.amount / bare[role.name].per_unit_s for role in d.roles)
        n = max(unit_s / window * 8, 8.0)
        assert d.rl is not None
        # the update's passes and its colocated term on n rounded up to whole 8-GPU servers
        # (session 23 rlrerate: the rate the re-rating recomputes at a whole-unit job)
        whole = math.ceil(n / 8) * 8
        co = colocated_update_s(spec, CATALOG, "hgx-h100", accelerators=whole)
        assert co is not None
        idle = spec.problems * 16 / 65_536 * co.total_s / window
        assert 0 < idle < 1
        at_n = rl_rates(spec, CATALOG, "hgx-h100", accelerators=whole)
        train = next(role for role in d.roles if role.name == "train")
        assert train.rates["hgx-h100"].per_unit_s == pytest.approx(
            at_n["train"].per_unit_s * (1 - idle)
        )
        rates[name] = (n, at_n["train"].per_unit_s)
    assert 8 < rates["small"][0] < rates["large"][0]
    assert rates["large"][1] < rates["small"][1]


def test_updates_that_fill_the_window_leave_no_rate() -> None:
    spec = _spec("deepseek-v3").model_copy(update={"samples_per_update": 8})  # 2,000 updates
    spec = spec.model_copy(update={"deadline_s": 86_400.0})  # in one day
    co = colocated_update_s(spec, CATALOG, "hgx-h100")
    assert co is not None and 2_000 * co.total_s > 86_400.0  # ~70 s each
    d = demand("rl", spec, CATALOG, ["hgx-h100"], 86_400.0)
    for role in d.roles:
        rate = role.rates["hgx-h100"]
        assert rate.per_unit_s == 0.0 and "no time is left for work" in rate.reason
