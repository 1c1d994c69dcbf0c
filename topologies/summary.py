"""What a topology holds, per datacenter and system type, in SI units (keys name their units),
and a readable text rendering in friendly units (PFLOPS, TB, MW, Gbps).

Totals are "at max_units": what the site could hold if filled, before the power cap. The
facility power of that build (IT x PUE) is shown next to the cap so a reader sees which binds.
"""

from __future__ import annotations

from math import gcd
from typing import Any

from fleetcore.tables import table
from hardware.catalog import Catalog
from topologies.builder import Topology
from topologies.schema import SiteSystem

PRECISIONS = ("fp4", "fp8", "bf16", "fp16", "fp32")


def socket_ratio(accelerators: int, cpus: int) -> str | None:
    """Accelerators : CPU sockets reduced by their gcd ('4:1' for 8:2); None for CPU-only."""
    if accelerators == 0:
        return None
    g = gcd(accelerators, cpus)
    return f"{accelerators // g}:{cpus // g}"


def system_figures(catalog: Catalog, system: str) -> dict[str, Any]:
    """Per-unit figures of one catalog system (SI units)."""
    sys_ = catalog.system(system)
    acc = catalog.accelerator_of(system)
    cores = catalog.system_cores(system)
    peak = (
        {p: catalog.peak_flops(system, p) for p in PRECISIONS if p in acc.peak_flops}
        if acc is not None
        else {}
    )
    return {
        "accelerator": sys_.accelerator,
        "accelerators_per_unit": sys_.accelerators,
        "cpu": sys_.cpu,
        "cpus_per_unit": sys_.cpus,
        "cpu_cores_per_unit": cores,
        "spare_cpu_cores_per_unit": catalog.spare_cores(system),
        "cores_per_accelerator": cores / sys_.accelerators if sys_.accelerators else None,
        "cpu_to_accelerator_socket_ratio": socket_ratio(sys_.accelerators, sys_.cpus),
        "scale_up_domain": sys_.scale_up_domain,
        "peak_flops_per_unit": peak,
        "hbm_bytes_per_unit": catalog.hbm_bytes(system),
        "hbm_bandwidth_bytes_per_s_per_unit": catalog.hbm_bandwidth_bytes_per_s(system),
        "power_w_per_unit": sys_.power_w,
    }


def _pool(catalog: Catalog, system: str, site: SiteSystem, pue: float) -> dict[str, Any]:
    fig = system_figures(catalog, system)
    n = site.max_units
    fig = {
        "system": system,
        "max_units": n,
        "owned": site.owned,
        **fig,
        "total_at_max_units": {
            "units": n,
            "accelerators": n * fig["accelerators_per_unit"],
            "cpu_cores": n * fig["cpu_cores_per_unit"],
            "peak_flops": {p: n * v for p, v in fig["peak_flops_per_unit"].items()},
            "hbm_bytes": n * fig["hbm_bytes_per_unit"],
            "it_power_w": n * fig["power_w_per_unit"],
            "facility_power_w": n * fig["power_w_per_unit"] * pue,
        },
        "owned_facility_power_w": site.owned * fig["power_w_per_unit"] * pue,
    }
    return fig


def summarize(topology: Topology, catalog: Catalog) -> dict[str, Any]:
    """JSON-ready summary of a topology with stable keys and SI units in the key names."""
    dcs: dict[str, Any] = {}
    for name in topology.datacenters():
        dc = topology.site(name)
        systems = {s: _pool(catalog, s, site, dc.pue) for s, site in dc.systems.items()}
        cpu = (
            _pool(catalog, dc.cpu_servers.system, dc.cpu_servers, dc.pue)
            if dc.cpu_servers is not None
            else None
        )
        pools = [*systems.values(), *([cpu] if cpu else [])]
        facility = sum(p["total_at_max_units"]["facility_power_w"] for p in pools)
        owned = sum(p["owned_facility_power_w"] for p in pools)
        dcs[name] = {
            "description": dc.description,
            "power_cap_w": dc.power_cap_w,
            "pue": dc.pue,
            "electricity_usd_per_kwh": dc.electricity_usd_per_kwh,
            "systems": systems,
            "cpu_servers": cpu,
            "facility_power_w_at_max_units": facility,
            "owned_facility_power_w": owned,
            # True when filling every pool would exceed the cap: the cap, not space, binds.
            "power_cap_binds_at_max_units": facility > dc.power_cap_w,
            "accelerators_at_max_units": sum(
                p["total_at_max_units"]["accelerators"] for p in systems.values()
            ),
            "cpu_cores_at_max_units": sum(p["total_at_max_units"]["cpu_cores"] for p in pools),
        }
    links = [
        {
            "id": link.id,
            "a": link.a,
            "b": link.b,
            "capacity_bytes_per_s": link.capacity_bytes_per_s,
            "capacity_gbps": link.capacity_bytes_per_s * 8 / 1e9,
            "latency_s": link.latency_s,
            "cost_usd_per_tb": link.cost_usd_per_tb,
        }
        for link in topology.links()
    ]
    return {
        "name": topology.name,
        "description": topology.data.description,
        "source": topology.data.source,
        "file": topology.file,
        "datacenters": dcs,
        "links": links,
        "connected": topology.connected,
        "components": topology.components(),
        "system_names": topology.system_names(),
    }


# ---- text rendering ---------------------------------------------------------------------------


def _r(value: float, digits: int = 1) -> float:
    return round(value, digits)


def format_summary(summary: dict[str, Any]) -> str:
    """Readable text for a summarize() result."""
    out = [f"Topology {summary['name']}: {summary['description']}"]
    out.append(f"  source: {summary['source']}")
    out.append(f"  file:   {summary['file']}")
    out.append("")
    out.append("Datacenters")
    out.append(
        table(
            [
                "datacenter",
                "cap MW",
                "PUE",
                "$/kWh",
                "MW at max",
                "cap binds",
                "accelerators",
                "CPU cores",
            ],
            [
                [
                    name,
                    _r(dc["power_cap_w"] / 1e6),
                    dc["pue"],
                    dc["electricity_usd_per_kwh"],
                    _r(dc["facility_power_w_at_max_units"] / 1e6),
                    dc["power_cap_binds_at_max_units"],
                    dc["accelerators_at_max_units"],
                    dc["cpu_cores_at_max_units"],
                ]
                for name, dc in summary["datacenters"].items()
            ],
        )
    )
    out.append("  (MW at max: facility power, IT x PUE, if every pool were filled to max_units)")
    out.append("")
    out.append("Systems per datacenter (per unit, then totals at max_units)")
    rows = []
    for name, dc in summary["datacenters"].items():
        pools = [*dc["systems"].values(), *([dc["cpu_servers"]] if dc["cpu_servers"] else [])]
        for p in pools:
            tot = p["total_at_max_units"]
            bf16 = p["peak_flops_per_unit"].get("bf16")
            tot_bf16 = tot["peak_flops"].get("bf16")
            rows.append(
                [
                    name,
                    p["system"],
                    p["max_units"],
                    p["owned"],
                    p["accelerators_per_unit"],
                    p["cpu_cores_per_unit"],
                    p["cores_per_accelerator"],
                    p["cpu_to_accelerator_socket_ratio"],
                    p["scale_up_domain"] or None,
                    _r(bf16 / 1e15, 2) if bf16 else None,
                    _r(p["hbm_bytes_per_unit"] / 1e12, 2) if p["hbm_bytes_per_unit"] else None,
                    _r(p["power_w_per_unit"] / 1e3, 2),
                    tot["accelerators"],
                    _r(tot_bf16 / 1e18, 2) if tot_bf16 else None,
                    _r(tot["facility_power_w"] / 1e6),
                ]
            )
    out.append(
        table(
            [
                "datacenter",
                "system",
                "max",
                "owned",
                "acc",
                "cores",
                "cores/acc",
                "acc:cpu",
                "scale-up",
                "BF16 PFLOPS",
                "HBM TB",
                "kW",
                "acc total",
                "BF16 EFLOPS",
                "MW (xPUE)",
            ],
            rows,
        )
    )
    out.append("")
    if summary["links"]:
        out.append("Links")
        out.append(
            table(
                ["link", "a", "b", "Gbps", "latency ms", "$/TB"],
                [
                    [
                        link["id"],
                        link["a"],
                        link["b"],
                        _r(link["capacity_gbps"]),
                        _r(link["latency_s"] * 1e3, 3),
                        link["cost_usd_per_tb"],
                    ]
                    for link in summary["links"]
                ],
            )
        )
    else:
        out.append("Links: none")
    if summary["connected"]:
        out.append(f"Connected: yes ({len(summary['datacenters'])} datacenter(s))")
    else:
        groups = "; ".join(", ".join(g) for g in summary["components"])
        out.append(
            f"Connected: NO - {len(summary['components'])} pieces that cannot exchange traffic: {groups}"
        )
    return "\n".join(out)
