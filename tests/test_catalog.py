"""The shipped hardware catalog and user overlays."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from fleetcore.errors import ConfigError
from fleetcore.yamlio import load_yaml
from hardware.catalog import load_catalog, shipped_files
from planner.commands.hardware import figures


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.name)
def test_every_shipped_catalog_file_parses(path: Path) -> None:
    doc = load_yaml(path)
    assert isinstance(doc.data, dict) and doc.data


def test_shipped_catalog_loads_with_every_section(catalog) -> None:
    for section in ("accelerators", "cpus", "systems", "models"):
        assert getattr(catalog, section), section


def test_every_system_figure_has_a_source(catalog) -> None:
    for name, system in catalog.systems.items():
        rows = figures(system)
        assert rows, name
        for key, _value, _si, source in rows:
            assert source and len(source) >= 3, (name, key)
        # Every explicit per-figure source names a real figure of the entry.
        keys = {key for key, *_ in rows}
        for key in system.sources:
            assert key in keys, (name, key)


def test_every_entry_has_sources(catalog) -> None:
    for section in ("accelerators", "cpus", "systems", "models"):
        for name, entry in getattr(catalog, section).items():
            assert entry.source.strip(), (section, name)


def test_overlay_overrides_one_figure(tmp_path: Path, catalog) -> None:
    overlay = _write(
        tmp_path,
        "prices.yaml",
        """
        systems:
          hgx-h100:
            capex_usd: 250000
            sources: {capex_usd: "my vendor quote"}
        """,
    )
    mine = load_catalog([overlay])
    assert mine.system("hgx-h100").capex_usd == 250000
    assert mine.system("hgx-h100").source_of("capex_usd") == "my vendor quote"
    # Everything else is untouched.
    assert mine.system("hgx-h100").power_w == catalog.system("hgx-h100").power_w
    assert mine.system("gb200-nvl72").capex_usd == catalog.system("gb200-nvl72").capex_usd


def test_overlay_typo_names_file_line_and_field(tmp_path: Path) -> None:
    overlay = _write(
        tmp_path,
        "typo.yaml",
        """
        systems:
          hgx-h100:
            capex_usdd: 250000
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_catalog([overlay])
    msg = str(exc.value)
    assert f"{overlay}:3:" in msg
    assert "systems.hgx-h100.capex_usdd" in msg
    assert "unknown field" in msg


def test_overlay_typo_through_cli_exit_code(tmp_path: Path, capsys) -> None:
    overlay = _write(tmp_path, "typo.yaml", "systems:\n  hgx-h100:\n    pwoer: 10 kW\n")
    assert cli.main(["hardware", "show", "hgx-h100", "--catalog", str(overlay)]) == 1
    err = capsys.readouterr().err
    assert f"{overlay}:3: systems.hgx-h100.pwoer" in err
    assert "Traceback" not in err


def test_hardware_cli_list_and_show() -> None:
    runner = CliRunner()
    result = runner.invoke(cli.planner, ["hardware", "list"])
    assert result.exit_code == 0, result.output
    for name in ("h100-sxm", "gb200-nvl72", "trn2-server", "llama-3.1-405b", "epyc-9654"):
        assert name in result.output
    result = runner.invoke(cli.planner, ["hardware", "show", "gb200-nvl72"])
    assert result.exit_code == 0, result.output
    assert "power shelves rating" in result.output  # the per-figure source of power
    assert "2:1" in result.output
    # the entry's own source once; figures that only inherit it point at it instead of
    # repeating it (gb200-nvl72's accelerators, cpu and cpus have no source of their own)
    from hardware.catalog import load_catalog as _load

    general = _load().systems["gb200-nvl72"].source
    assert result.output.count(general) == 1
    assert f"source (figures marked *): {general}" in result.output
    assert any(
        line.split()[:1] == ["accelerators"] and line.rstrip().endswith("*")
        for line in result.output.splitlines()
    )
    result = runner.invoke(cli.planner, ["hardware", "list", "--json"])
    assert result.exit_code == 0
    import json

    data = json.loads(result.output)
    assert data["systems"]["trn2-server"]["derived"]["cpu_to_accelerator_socket_ratio"] == "8:1"


def test_hardware_show_unknown_suggests(capsys) -> None:
    assert cli.main(["hardware", "show", "hgx-h10"]) == 1
    err = capsys.readouterr().err
    assert "<command line>: NAME:" in err and "hgx-h100" in err
    assert "Traceback" not in err


def test_sources_must_name_real_figures_and_resolve_most_specific(tmp_path: Path) -> None:
    from fleetcore.errors import ConfigError
    from hardware.catalog import load_catalog

    catalog = load_catalog()
    h100 = catalog.systems["hgx-h100"]
    assert h100.source_of("capex_usd") == h100.sources["capex_usd"]
    # A nested block with sources of its own answers for its figures.
    assert (
        h100.source_of("reliability.failure_domain")
        == (
            h100.reliability.sources["failure_domain"]  # type: ignore[union-attr]
        )
    )
    assert h100.source_of("accelerators") == h100.source
    acc = catalog.accelerators["h100-sxm"]
    assert acc.source_of("peak_flops.bf16") == acc.source  # falls back through peak_flops
    bad = tmp_path / "typo.yaml"
    bad.write_text("systems:\n  hgx-h100:\n    sources: {capex_usdd: typo}\n")
    with pytest.raises(ConfigError) as err:
        load_catalog([bad])
    assert "capex_usdd" in str(err.value) and str(bad) in str(err.value)
