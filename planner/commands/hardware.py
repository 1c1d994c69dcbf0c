"""`planner hardware`: the catalog of accelerators, CPUs, systems and model architectures."""

from __future__ import annotations

import difflib
import json
from typing import Any

import click
from pydantic import BaseModel

from fleetcore.errors import ConfigError, Problem
from fleetcore.tables import table
from fleetcore.units import format_si
from hardware.catalog import Catalog, load_catalog
from hardware.schema import Sourced
from planner.commands.options import catalog_option, json_option
from topologies.summary import system_figures

SECTIONS = ("accelerators", "cpus", "systems", "models")


@click.group("hardware")
def command() -> None:
    """Browse the hardware catalog: accelerators, CPUs, systems, model architectures.

    \b
    Examples:
      planner hardware list
      planner hardware show gb200-nvl72
      planner hardware show hgx-h100 --catalog my-prices.yaml
    """


@command.command("list")
@catalog_option
@json_option
def list_(catalog_files: tuple[str, ...], as_json: bool) -> None:
    """List every catalog entry with its key figures.

    \b
    Examples:
      planner hardware list
      planner hardware list --json
      planner hardware list --catalog my-catalog.yaml
    """
    catalog = load_catalog(catalog_files)
    if as_json:
        out: dict[str, Any] = {
            section: {name: _dump(entry) for name, entry in getattr(catalog, section).items()}
            for section in SECTIONS
        }
        for name in catalog.systems:
            out["systems"][name]["derived"] = system_figures(catalog, name)
        click.echo(json.dumps(out, indent=2, default=_plain))
        return
    click.echo(_list_text(catalog))


@command.command("show")
@click.argument("name")
@catalog_option
@json_option
def show(name: str, catalog_files: tuple[str, ...], as_json: bool) -> None:
    """Show every figure of one catalog entry with its source.

    NAME is an accelerator, CPU, system or model name (see `planner hardware list`).

    \b
    Examples:
      planner hardware show h100-sxm
      planner hardware show trn2-server --json
    """
    catalog = load_catalog(catalog_files)
    section, entry = find_entry(catalog, name)
    rows = figures(entry)
    derived = system_figures(catalog, name) if section == "systems" else None
    if as_json:
        out: dict[str, Any] = {
            "name": name,
            "section": section,
            "figures": [
                {"key": k, "value": v, "si": si, "source": s, "range": _range_si(entry, k)}
                for k, v, si, s in rows
            ],
        }
        if derived is not None:
            out["derived"] = derived
        click.echo(json.dumps(out, indent=2, default=_plain))
        return
    click.echo(f"{section[:-1]} {name}")
    # A figure without a source of its own inherits the entry's: printed once, above, rather
    # than repeated on every such row (the JSON keeps each figure's full source).
    click.echo(f"source (figures marked *): {entry.source}")
    click.echo(
        table(
            ["figure", "value", "range (low - high)", "source"],
            [[k, v, _range_text(entry, k), "*" if s == entry.source else s] for k, v, _, s in rows],
        )
    )
    if derived is not None:
        click.echo("\nDerived (from the figures above)")
        click.echo(table(["figure", "value"], [[k, _derived(k, v)] for k, v in derived.items()]))


def find_entry(catalog: Catalog, name: str) -> tuple[str, Sourced]:
    """(section, entry) for a catalog name; ConfigError with close matches if unknown."""
    for section in SECTIONS:
        entries = getattr(catalog, section)
        if name in entries:
            return section, entries[name]
    known = [n for section in SECTIONS for n in getattr(catalog, section)]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        [
            Problem(
                "<command line>",
                None,
                "NAME",
                f"no catalog entry named {name!r}{hint} (see `planner hardware list`)",
            )
        ]
    )


def figures(entry: Sourced) -> list[tuple[str, str, Any, str]]:
    """(YAML key, value in friendly units, SI value, source) for every figure of an entry."""
    rows: list[tuple[str, str, Any, str]] = []
    _walk(entry, entry, "", rows)
    return rows


def _walk(
    entry: Sourced, model: BaseModel, prefix: str, rows: list[tuple[str, str, Any, str]]
) -> None:
    for attr, field in type(model).model_fields.items():
        if attr in ("source", "sources", "ranges"):
            continue
        key = prefix + (field.alias or attr)
        value = getattr(model, attr)
        if isinstance(value, BaseModel):
            _walk(entry, value, key + ".", rows)
        elif isinstance(value, dict):
            for sub, v in value.items():
                rows.append((f"{key}.{sub}", _friendly(attr, v), v, _source(entry, f"{key}.{sub}")))
        else:
            rows.append((key, _friendly(attr, value), value, _source(entry, key)))


def _range_text(entry: Sourced, key: str) -> str:
    """The figure's `ranges:` entry in the value column's units ('8.5 kW - 12 kW', '136.875
    days - 228.125 days', '$150,000 - $450,000'), or ''. As written it mixed units with the
    value's (a lead time in days, its range in seconds) and printed float noise
    (0.11249999999999999)."""
    if key not in entry.ranges:
        return ""
    low, _, high = entry.range_of(key)
    attr = _attr_of(entry, key)
    return f"{_friendly(attr, _plain_number(low))} - {_friendly(attr, _plain_number(high))}"


def _plain_number(value: float) -> float:
    """A float rid of binary noise (0.11249999999999999 -> 0.1125) for printing."""
    return float(f"{value:.12g}")


def _attr_of(entry: BaseModel, key: str) -> str:
    """The model attribute a dotted YAML key names (`lead_time` -> lead_time_s; a dict
    figure's `peak_flops.bf16` -> peak_flops), which picks the value column's units."""
    model: Any = entry
    attr = key
    for part in key.split("."):
        if not isinstance(model, BaseModel):
            break
        fields = type(model).model_fields
        attr = next((a for a, f in fields.items() if (f.alias or a) == part), part)
        model = getattr(model, attr, None)
    return attr


def _range_si(entry: Sourced, key: str) -> dict[str, Any] | None:
    """The figure's range in SI units with its source, or None."""
    if key not in entry.ranges:
        return None
    low, _, high = entry.range_of(key)
    return {"low": low, "high": high, "source": entry.ranges[key].source}


def _source(entry: Sourced, key: str) -> str:
    """entry.source_of(key), also honouring a source given for a parent key (`peak_flops`)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in entry.sources:
            return entry.source_of(prefix)
    return entry.source_of(key)


def _friendly(attr: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if attr.endswith("_bytes_per_s"):
            return format_si(value, "B/s")
        if attr.endswith("_bytes"):
            return format_si(value, "B")
        if attr.endswith("_w"):
            return format_si(value, "W")
        if attr == "peak_flops":
            return format_si(value, "FLOPS")
        if attr.endswith("_s"):
            return _duration(value)
        if attr.endswith("_usd"):
            return f"${value:,.0f}"
        if attr.endswith("usd_per_hour"):
            return f"${value:,.2f}/h"
        if attr in ("params", "active_params"):
            return f"{value / 1e9:,.1f}B"
        if isinstance(value, float):
            return f"{value:g}"
        return f"{value:,}"
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        # a list of records (a system's term contracts): each in its fields' own units, not
        # the Python repr ("Contract(term_s=31536000.0, usd_per_hour=23.24)")
        return "; ".join(
            ", ".join(
                f"{f.alias or a} {_friendly(a, getattr(v, a))}"
                for a, f in type(v).model_fields.items()
            )
            for v in value
        )
    return str(value)


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return format_si(seconds, "s")


def _derived(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_si(v, 'FLOPS')}" for k, v in value.items()) or "-"
    if isinstance(value, float) and value:
        for marker, unit in (("bytes_per_s", "B/s"), ("bytes", "B"), ("power_w", "W")):
            if marker in key:
                return format_si(value, unit)
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _dump(entry: BaseModel) -> dict[str, Any]:
    return entry.model_dump(mode="json")


def _list_text(catalog: Catalog) -> str:
    out = ["Accelerators (dense peak, per chip)"]
    out.append(
        table(
            [
                "name",
                "vendor",
                "BF16 TFLOPS",
                "FP8 TFLOPS",
                "FP4 TFLOPS",
                "HBM GB",
                "HBM TB/s",
                "W",
            ],
            [
                [
                    name,
                    a.vendor,
                    _tf(a.peak_flops.get("bf16")),
                    _tf(a.peak_flops.get("fp8")),
                    _tf(a.peak_flops.get("fp4")),
                    round(a.hbm_bytes / 1e9, 1),
                    round(a.hbm_bandwidth_bytes_per_s / 1e12, 2),
                    a.power_w,
                ]
                for name, a in catalog.accelerators.items()
            ],
        )
    )
    out.append("\nCPUs")
    out.append(
        table(
            ["name", "vendor", "cores"], [[n, c.vendor, c.cores] for n, c in catalog.cpus.items()]
        )
    )
    out.append("\nSystems (the unit bought or rented)")
    rows = []
    for name, s in catalog.systems.items():
        f = system_figures(catalog, name)
        bf16 = f["peak_flops_per_unit"].get("bf16")
        rows.append(
            [
                name,
                f"{s.accelerators} x {s.accelerator}" if s.accelerator else "-",
                f"{s.cpus} x {s.cpu}",
                f["cpu_cores_per_unit"],
                f["cores_per_accelerator"],
                f["cpu_to_accelerator_socket_ratio"],
                s.scale_up_domain or None,
                round(bf16 / 1e15, 2) if bf16 else None,
                round(s.power_w / 1e3, 2),
                s.capex_usd,
                s.rental_usd_per_hour,
            ]
        )
    out.append(
        table(
            [
                "name",
                "accelerators",
                "CPUs",
                "cores",
                "cores/acc",
                "acc:cpu",
                "scale-up",
                "BF16 PFLOPS",
                "kW",
                "capex $",
                "rent $/h",
            ],
            rows,
        )
    )
    out.append("\nModels")
    out.append(
        table(
            ["name", "params B", "active B", "layers", "hidden", "heads", "attention", "kv heads"],
            [
                [
                    name,
                    round(m.params / 1e9, 1),
                    round(m.active / 1e9, 1),
                    m.layers,
                    m.hidden,
                    m.heads,
                    m.attention,
                    m.kv_heads,
                ]
                for name, m in catalog.models.items()
            ],
        )
    )
    return "\n".join(out)


def _tf(value: float | None) -> float | None:
    return None if value is None else round(value / 1e12, 1)


def _plain(value: object) -> object:
    """JSON for the catalog's structured figures: contracts as their fields (SI), dates ISO."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump()
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        return isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
