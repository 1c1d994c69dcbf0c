"""Consistency rules over the whole shipped catalog (session catreview).

Each rule holds for every entry, old and new, and would catch an arithmetic slip in a new one:
system power below its accelerators' board power, a term contract dearer than on demand, spot
dearer than on demand, FP16 and BF16 peaks that differ, a scale-up domain wider than the unit,
and a range bound that does not follow from its own stated arithmetic (hgx-b300 capex).
"""

from __future__ import annotations

import pytest

from hardware.catalog import load_catalog
from planner.sensitivity import estimates

CATALOG = load_catalog()
ACCELERATED = {n: s for n, s in CATALOG.systems.items() if s.accelerator}
RANGES = {e.path: e for e in estimates(CATALOG)}


@pytest.mark.parametrize("name", sorted(ACCELERATED))
def test_system_power_covers_its_accelerators(name: str) -> None:
    """A unit's nameplate power exceeds its accelerators x board power (the host draws on top);
    the range's low end covers the accelerators at their own low end."""
    sys_ = ACCELERATED[name]
    acc = CATALOG.accelerators[sys_.accelerator]
    gpus_w = sys_.accelerators * acc.power_w
    assert sys_.power_w > gpus_w, (name, sys_.power_w, gpus_w)
    low = RANGES.get(f"systems.{name}.power")
    if low is not None:
        acc_range = RANGES.get(f"accelerators.{sys_.accelerator}.power")
        acc_low = acc_range.low if acc_range is not None else acc.power_w
        assert low.low > sys_.accelerators * acc_low, (name, low.low)


def test_power_rule_by_hand() -> None:
    """The rule on the new entries, by hand: W per GPU x 8 against the unit's kW."""
    for name, gpu_w, unit_kw in [
        ("hgx-h200", 700, 10.2),
        ("hgx-b300", 1100, 14.0),
        ("mi300x-platform", 750, 10.5),
        ("mi325x-platform", 1000, 12.5),
        ("mi355x-platform", 1400, 14.5),
        ("mi350x-platform", 1000, 12.5),
        ("rtx-pro-server", 600, 7.5),
    ]:
        assert CATALOG.systems[name].power_w == pytest.approx(unit_kw * 1000)
        assert 8 * gpu_w < unit_kw * 1000, name


@pytest.mark.parametrize("name", sorted(CATALOG.systems))
def test_contracts_and_spot_cost_less_than_on_demand(name: str) -> None:
    """A longer term costs less a unit-hour than a shorter one, and every term and spot less
    than on demand (all per unit-hour, not per accelerator)."""
    sys_ = CATALOG.systems[name]
    prices = [c.usd_per_hour for c in sorted(sys_.contracts, key=lambda c: c.term_s)]
    assert all(a > b for a, b in zip(prices, prices[1:], strict=False)), (name, prices)
    assert all(p < sys_.rental_usd_per_hour for p in prices), name
    if sys_.spot_usd_per_hour is not None:
        assert sys_.spot_usd_per_hour < sys_.rental_usd_per_hour, name


@pytest.mark.parametrize("name", sorted(CATALOG.accelerators))
def test_fp16_and_bf16_peaks_are_equal(name: str) -> None:
    peaks = CATALOG.accelerators[name].peak_flops
    if "bf16" in peaks and "fp16" in peaks:
        assert peaks["bf16"] == peaks["fp16"], name


@pytest.mark.parametrize("name", sorted(ACCELERATED))
def test_scale_up_domain_fits_the_unit(name: str) -> None:
    sys_ = ACCELERATED[name]
    assert 0 < sys_.scale_up_domain <= sys_.accelerators, name
    assert sys_.accelerators % sys_.scale_up_domain == 0, name


def test_hgx_b300_capex_low_end_follows_its_arithmetic() -> None:
    """hgx-b300's capex range low end: hgx-b200's low end + 8 x ($53k - $50k), rounded up to
    $10k (its source); it read 450000, which that arithmetic does not give."""
    b200_low = RANGES["systems.hgx-b200.capex_usd"].low
    assert b200_low == 400_000
    by_hand = b200_low + 8 * (53_000 - 50_000)
    assert by_hand == 424_000
    assert RANGES["systems.hgx-b300.capex_usd"].low == pytest.approx(-(-by_hand // 10_000) * 10_000)


@pytest.mark.parametrize("name", ["mi300x", "mi325x", "mi355x", "mi350x"])
def test_amd_scale_up_is_both_directions_summed_as_nvlink(name: str) -> None:
    """7 links x the per-link bidirectional rate: the same convention as h100-sxm's 900 GB/s
    (NVLink 4, 450 GB/s each way), which the planner halves for one direction."""
    per_link = {"mi300x": 128e9, "mi325x": 128e9, "mi355x": 153.6e9, "mi350x": 153.6e9}[name]
    assert CATALOG.accelerators[name].scale_up_bandwidth_bytes_per_s == pytest.approx(7 * per_link)
    assert CATALOG.accelerators["h100-sxm"].scale_up_bandwidth_bytes_per_s == pytest.approx(
        18 * 50e9
    )
    source = CATALOG.data.accelerators[name]
    text = str(source.sources.get("scale_up_bandwidth", "")) if source.sources else ""
    assert "both directions" in text.lower(), name
