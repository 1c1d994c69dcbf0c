"""Session 34 review: last session's review findings, each fixed with a test that fails before
the fix.

1. The catalog ranges whose figure's source states a published range use it, not the generic
   +-25% (rubin peak BF16/FP16, vera-rubin capex, power and lead time, gb300 rental, trn3 power,
   capex and lead time, trn2 lead time).
2. An overlay that replaces an entry's whole `source:` is quoted only for the figures it set;
   the others keep the source they had.
3. The calibration tables refuse `fused_grouped_gemm` on a dense model's row (training.yaml,
   and rl.yaml's trainer layout) on its file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetcore.errors import ConfigError
from planner.calibration import rl as crl
from planner.calibration import training as ct


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _refused(table: Path, old: str, new: str, load: Any, tmp_path: Path) -> tuple[str, int]:
    """The table with `old` replaced by `new`, written to tmp_path and loaded: the ConfigError's
    message and the changed line's number."""
    src = table.read_text(encoding="utf-8")
    assert src.count(old) == 1
    text = src.replace(old, new)
    path = tmp_path / table.name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load(path)
    return str(exc.value), _line_of(text, new)


# -- 3. fused_grouped_gemm on a dense calibration row -----------------------------------------

DENSE_ROW_LAYOUT = "    layout: {tp: 1, pp: 1, dp: 8, micro_batch: 2, fsdp: 8}\n"  # llama-3.1-8b


def test_training_table_refuses_fused_grouped_gemm_on_a_dense_row(tmp_path: Path) -> None:
    """Before: ct.runs() accepted the flag on the torchtitan Llama 3.1 8B row (a dense model)
    and predict() priced the row as if it were not there. Now: a ConfigError on the flag's
    file, line and field, with the scenario's message."""
    bad = DENSE_ROW_LAYOUT.replace("fsdp: 8}", "fsdp: 8, fused_grouped_gemm: true}")
    message, line = _refused(ct.TABLE, DENSE_ROW_LAYOUT, bad, ct.runs, tmp_path)
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
    old = "      layout: {tp: 1, pp: 2, micro_batch: 1}"
    new = "      layout: {tp: 1, pp: 2, micro_batch: 1, fused_grouped_gemm: true}"
    message, line = _refused(crl.TABLE, old, new, crl.points, tmp_path)
    assert f"rl.yaml:{line}:" in message
    assert "trainer.layout.fused_grouped_gemm" in message
    assert "llama-3.1-8b is a dense model" in message


# -- 2. an overlay's whole-entry source is quoted only for the figures it set -----------------


def _overlay(tmp_path: Path, text: str, name: str = "overlay.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _figures(entry: object) -> list[str]:
    from hardware.catalog import _numeric_figures
    from hardware.schema import Sourced

    assert isinstance(entry, Sourced)
    return _numeric_figures(entry)


def test_an_overlays_entry_source_is_quoted_only_for_the_figure_it_sets(tmp_path: Path) -> None:
    """The overlay sets hgx-h100's capex and writes `source:` for the entry. Before: every
    figure of the unit whose source was the entry's own (accelerators, CPUs, power, ...) quoted
    "my lab's HGX H100 quote", a source for a number it never gave. Now capex quotes the
    overlay (file, line, text) and every other figure keeps exactly the shipped source."""
    from hardware.catalog import OVERLAY_SOURCE, estimates, load_catalog

    text = 'systems:\n  hgx-h100:\n    source: "my lab\'s HGX H100 quote"\n    capex_usd: 260000\n'
    path = _overlay(tmp_path, text)
    unit = load_catalog([path]).systems["hgx-h100"]
    shipped = load_catalog().systems["hgx-h100"]
    line = _line_of(text, "capex_usd")
    assert unit.source_of("capex_usd") == (
        f"{OVERLAY_SOURCE}{path}, line {line}: my lab's HGX H100 quote"
    )
    others = [f for f in _figures(unit) if f != "capex_usd"]
    assert {"accelerators", "cpus", "power", "scale_up_domain"} <= set(others)
    for figure in others:
        assert unit.source_of(figure) == shipped.source_of(figure), figure
    # the shipped estimates the overlay did not touch are still estimates (sensitivity's list)
    paths = {e.path for e in estimates(load_catalog([path]))}
    shipped_paths = {e.path for e in estimates(load_catalog())}
    kept = {p for p in shipped_paths if p.startswith("systems.hgx-h100.")}
    assert len(kept) > 3
    assert kept - {"systems.hgx-h100.capex_usd"} <= paths


def test_an_overlays_block_source_is_quoted_only_for_the_figure_it_sets(tmp_path: Path) -> None:
    """The same for a nested block's source: an overlay writing `training: {source: ...,
    gemm_half_tokens: 300}` on rubin (whose training figures all quote the block's source)
    quotes its text for gemm_half_tokens alone; the block's other figures keep their shipped
    sources (before: "our GEMM sweep" for Blackwell's fitted fractions)."""
    from hardware.catalog import load_catalog

    text = (
        "accelerators:\n  rubin:\n    training:\n"
        '      source: "our GEMM sweep"\n      gemm_half_tokens: 300\n'
    )
    path = _overlay(tmp_path, text)
    acc = load_catalog([path]).accelerators["rubin"]
    shipped = load_catalog().accelerators["rubin"]
    # written with the figure in the same file: quoted as written, as a shipped file's is
    assert acc.source_of("training.gemm_half_tokens") == "our GEMM sweep"
    training = [f for f in _figures(acc) if f.startswith("training.")]
    assert len(training) > 3
    for figure in _figures(acc):
        if figure != "training.gemm_half_tokens":
            assert acc.source_of(figure) == shipped.source_of(figure), figure


def test_an_overlay_writing_only_an_entry_source_changes_no_quoted_source(
    tmp_path: Path,
) -> None:
    """An overlay that writes only `source:` for an entry sets no figure, so no figure quotes
    it (a correction of one figure's source is written in `sources:`, test_review33)."""
    from hardware.catalog import load_catalog

    path = _overlay(tmp_path, 'systems:\n  gb300-nvl72:\n    source: "a vendor deck"\n')
    unit = load_catalog([path]).systems["gb300-nvl72"]
    shipped = load_catalog().systems["gb300-nvl72"]
    for figure in _figures(unit):
        assert unit.source_of(figure) == shipped.source_of(figure), figure


# -- 1. a figure whose source states a range uses it ------------------------------------------

GENERIC_RANGE = "+-25% around the default (no published spread"
QUARTER_S = 0.25 * 365 * 86400  # fleetcore.units: a quarter is a quarter of a 365-day year


def _span(source: str, pattern: str) -> tuple[float, float]:
    """The two numbers of the span `pattern` (a regex with two groups) in a source text."""
    import re

    match = re.search(pattern, source)
    assert match is not None, (pattern, source)
    return float(match.group(1)), float(match.group(2))


# figure: (a regex of the span its source states, the factor to SI units (or to the unit's
# price: x 72 GPUs), the kind of check: "both" ends from the source; "high" only (the low end
# is explained in the range's own source))
STATED = {
    "accelerators.rubin.peak_flops.bf16": (r"range ([\d.]+)-([\d.]+) PF", 1e15, "both"),
    "systems.gb300-nvl72.rental_usd_per_hour": (r"range \$([\d.]+)-\$([\d.]+)/GPU-h", 72, "both"),
    "systems.vera-rubin-nvl144.capex_usd": (r"range \$([\d.]+)M-\$([\d.]+)M", 1e6, "both"),
    "systems.vera-rubin-nvl144.lead_time": (r"range (\d+)-(\d+)\)", QUARTER_S, "both"),
    "systems.vera-rubin-nvl144.power": (r"([\d.]+)-([\d.]+) kW per rack", 1e3, "both"),
    "systems.trn3-ultraserver.capex_usd": (r"range \$([\d.]+)M-\$([\d.]+)M", 1e6, "both"),
    "systems.trn3-ultraserver.lead_time": (r"(\d+)-(\d+) quarters", QUARTER_S, "both"),
    "systems.trn3-ultraserver.power": (r"range ([\d.]+)-([\d.]+) kW", 1e3, "high"),
    "systems.trn2-server.lead_time": (r"(\d+)-(\d+) quarters", QUARTER_S, "both"),
}
# figures whose source is another figure's ("estimate, as bf16", "as trn2-server"): same range
SAME_AS = {
    "accelerators.rubin.peak_flops.fp16": "accelerators.rubin.peak_flops.bf16",
    "systems.trn2-ultraserver.lead_time": "systems.trn2-server.lead_time",
}


def test_ranges_stated_by_their_figures_sources_are_used() -> None:
    """Before: each of these ranges was the generic +-25% "no published spread" although the
    figure's own source states a span (rubin BF16 6.25-8.35 PF, gb300 rental $10.5-$14/GPU-h,
    vera-rubin capex $4M-$7.8M, power 190-230 kW, lead time 2-4 quarters, trn3 capex
    $2.5M-$4.5M, lead time 2-4 quarters, trn2 2-4 quarters). Now the range's ends are the span
    recomputed here from the source text; trn3's power takes the stated 200 kW high, its stated
    100 kW low being below its own chips' draw (144 x 750 W = 108 kW: test_catalog_rules), the
    low its range's source derives (124 kW) instead."""
    from hardware.catalog import estimates, load_catalog

    catalog = load_catalog()
    found = {e.path: e for e in estimates(catalog)}
    for path, (pattern, factor, ends) in STATED.items():
        est = found[path]
        low, high = _span(est.source, pattern)
        assert est.low is not None and est.high is not None and est.range_source
        assert GENERIC_RANGE not in est.range_source, path
        assert est.high == pytest.approx(high * factor), path
        if ends == "both":
            assert est.low == pytest.approx(low * factor), path
        else:
            assert est.low > low * factor, path
        assert est.low <= est.default <= est.high, path
    # the rubin BF16 span's high end is half of the FP8 figure, as its source says
    rubin = catalog.accelerators["rubin"]
    assert found["accelerators.rubin.peak_flops.bf16"].high == pytest.approx(
        rubin.peak_flops["fp8"] / 2
    )
    assert found["systems.trn3-ultraserver.power"].low == pytest.approx(144 * 750 + 16_000)
    for path, same in SAME_AS.items():
        assert (found[path].low, found[path].high) == (found[same].low, found[same].high), path


def test_no_generic_range_where_the_figures_source_speaks_of_a_range() -> None:
    """Every estimate whose range is the generic +-25% ("no published spread") has a source
    that states no range: a source with the word "range" in it gives one, and the range must
    be it (before: nine figures, the ones above)."""
    from hardware.catalog import estimates, load_catalog

    generic = [
        e.path
        for e in estimates(load_catalog())
        if e.range_source and GENERIC_RANGE in e.range_source and "range" in e.source.lower()
    ]
    assert generic == []
