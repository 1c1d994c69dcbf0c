"""Typed topology files: datacenters (power cap, PUE, electricity price, the systems they can
hold) and the links between them. YAML keys are unit-free (`power_cap: 150 MW`); attributes carry
SI units (`power_cap_w`, `capacity_bytes_per_s`, `latency_s`).

Cross-references to the hardware catalog and between links and datacenters are checked in
topologies/builder.py, one function per rule.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from fleetcore.schema import Name, NonNegInt, Strict, UnitCount, _at_most
from fleetcore.units import Bandwidth, Duration, Power

# Bounds far past any site or link (the largest power plants are a few GW, the fastest links a
# few hundred Tbps), so that a figure in the wrong unit is an error on its own line, not a model
# coefficient past what the solver holds reported on the scenario's `topology:` line.
MAX_POWER_W = 1e15  # 1 PW
MAX_BANDWIDTH_BYTES_PER_S = 1e18  # 8 Eb/s
MAX_USD_PER_KWH = 1e3
MAX_USD_PER_KW_MONTH = 1e6
MAX_USD_PER_TB = 1e6

PositivePower = Annotated[Power, Field(gt=0), _at_most(MAX_POWER_W, "W")]
PositiveBandwidth = Annotated[
    Bandwidth, Field(gt=0), _at_most(MAX_BANDWIDTH_BYTES_PER_S, "bytes/s")
]
NonNegDuration = Annotated[Duration, Field(ge=0)]


class SiteSystem(Strict):
    """How many units of one system a site can hold, and how many it already owns."""

    # Units of this system the site can hold (space, contracts, supply): the LP's upper bound.
    max_units: UnitCount
    # Units already owned: their capex is sunk, they still pay energy.
    owned: NonNegInt = 0

    @model_validator(mode="after")
    def _owned_within_max(self) -> SiteSystem:
        if self.owned > self.max_units:
            raise ValueError(f"owned ({self.owned}) cannot exceed max_units ({self.max_units})")
        return self


class CpuServers(SiteSystem):
    """CPU-only servers of a site (verifier sandboxes); `system` is a CPU-only catalog system."""

    system: Name


class PowerStep(Strict):
    """From `from_s` (counted from the start of the horizon) on, the site's cap is power_cap_w."""

    from_s: NonNegDuration = Field(alias="from")
    power_cap_w: PositivePower = Field(alias="power_cap")


class Candidate(Strict):
    """A site not yet open: the plan may open it at the start of a period for opening_cost_usd
    (build-out, interconnection, fit-out: one payment), and it holds units from lead_time
    later on."""

    opening_cost_usd: Annotated[float, Field(ge=0)]
    lead_time_s: NonNegDuration = Field(alias="lead_time")


class Datacenter(Strict):
    description: str = ""
    # Cap on facility power: IT load x PUE <= power_cap_w (from the start of the horizon).
    power_cap_w: PositivePower = Field(alias="power_cap")
    # Energisation: later caps, each from a date on (a ramp as the site is built out).
    power_ramp: list[PowerStep] = Field(default_factory=list)
    # Colocation / facility cost per kW of IT nameplate of the units in service here, per month
    # (wholesale US ~$120-200/kW-month); None: not charged, and the report says so.
    facility_usd_per_kw_month: Annotated[float, Field(ge=0, le=MAX_USD_PER_KW_MONTH)] | None = None
    pue: Annotated[float, Field(ge=1.0, le=3.0)]
    electricity_usd_per_kwh: Annotated[float, Field(ge=0, le=MAX_USD_PER_KWH)]
    # Accelerated systems placeable here, by catalog name.
    systems: dict[Name, SiteSystem] = Field(default_factory=dict)
    cpu_servers: CpuServers | None = None
    # A candidate site: usable only if the plan opens it (None: open from the start).
    candidate: Candidate | None = None

    @model_validator(mode="after")
    def _has_something(self) -> Datacenter:
        if not self.systems and self.cpu_servers is None:
            raise ValueError("a datacenter needs systems, cpu_servers or both")
        starts = [step.from_s for step in self.power_ramp]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("power_ramp steps must be in increasing order of `from`")
        if self.candidate is not None:
            owned = [n for n, s in self.systems.items() if s.owned] + (
                ["cpu_servers"] if self.cpu_servers is not None and self.cpu_servers.owned else []
            )
            if owned:
                raise ValueError(
                    f"a candidate site owns nothing before it opens: {', '.join(owned)} "
                    "give owned units"
                )
        return self

    def power_cap_between(self, start_s: float, end_s: float) -> float:
        """The lowest cap in force at any time in [start_s, end_s) (W)."""
        caps = [self.power_cap_w] + [
            step.power_cap_w for step in self.power_ramp if step.from_s <= start_s
        ]
        in_force = caps[-1]
        later = [s.power_cap_w for s in self.power_ramp if start_s < s.from_s < end_s]
        return min([in_force, *later])


class Link(Strict):
    """A bidirectional link between two datacenters; capacity is shared by both directions'
    traffic as the LP models it (see planner docs)."""

    name: Name | None = None
    a: Name
    b: Name
    capacity_bytes_per_s: PositiveBandwidth = Field(alias="capacity")
    latency_s: NonNegDuration = Field(alias="latency")
    # US$ per terabyte (1e12 bytes) moved over the link.
    cost_usd_per_tb: Annotated[float, Field(ge=0, le=MAX_USD_PER_TB)]

    @property
    def id(self) -> str:
        """The link's name, or f"{a}--{b}" when it has none."""
        return self.name if self.name is not None else f"{self.a}--{self.b}"


class TopologyData(Strict):
    name: Name
    description: str
    # Where the site figures come from (e.g. "illustrative").
    source: str = Field(min_length=3)
    datacenters: dict[Name, Datacenter] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)
