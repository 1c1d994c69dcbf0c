"""The plan's tables as typed rows. Field names carry their units (`_usd`, `_w`, `_s`,
`_bytes_per_s`); JSON, CSV and the README's key table are made from these types (a test keeps
the README in step). Each row type's docstring is its README description."""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

# The plan's solver_notes when the whole-unit bound is its best bound (planner/lp/solve.py
# `_with_whole_units`; the report names that proof by the note's opening words).
WHOLE_UNIT_NOTE = (
    "the bound is the LP relaxation with a whole unit in service wherever work must run "
    "({rows} work row(s) no owned unit covers; planner/lp/unitbound.py): {whole:,.2f} US$, "
    "against {bound:,.2f} US$ without"
)


@dataclass(frozen=True)
class SolverRow:
    """solver name, method, gap target, model size, and how the gap was proven: `mip` (the
    solver's branch and bound), `rounded` (a plan rounded from the LP relaxation, its gap proven
    by the relaxation's bound, no MIP search: within the target, or above it where the MIP search
    is not run at that size; `status` says which), `rounded-aggregated` (the same, rounded from
    the LP on the pools the relaxed aggregated LP uses, its gap proven by that LP's bound:
    solver.bound auto; above the target only when the full path that followed found no cheaper
    plan under no higher bound, or had no time left: `solver_notes`),
    `rounded-aggregated-full-bound` (that plan, outside the gap of that bound, kept after the
    full path ran and found no cheaper plan: its gap proven against the full path's bound, the
    higher), `relaxed` (--relax: no whole-unit plan)"""

    name: str
    method: str
    mip_gap_target: float
    variables: int
    constraints: int
    proof: str


@dataclass(frozen=True)
class PeriodRow:
    """the horizon cut at every start and deadline: period index, start_s, end_s"""

    period: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class WorkloadRow:
    """each workload's kind and window (start_s, end_s), and a serving tier's peak_to_average
    (its work is the load provisioned for the peak, its tokens served the work / this; 1 for
    other kinds)"""

    workload: str
    kind: str
    start_s: float
    end_s: float
    peak_to_average: float


@dataclass(frozen=True)
class FleetRow:
    """per site and system, at the pool's peak period (the first with the most units in
    service): units, owned_units (owned from the start), new_units (units - owned_units), split
    by how they are paid for: bought_units (bought during the plan and in service then),
    contracted_units (under term contracts), rented_units (on demand), spot_units
    (preemptible); then max_units, accelerators, cpu_cores, power_w (units x catalog power),
    utilisation (busy unit-seconds / unit-seconds in service)"""

    datacenter: str
    system: str
    units: float
    owned_units: int
    new_units: float
    bought_units: float
    contracted_units: float
    rented_units: float
    spot_units: float
    max_units: int
    accelerators: float
    cpu_cores: float
    power_w: float
    utilisation: float


@dataclass(frozen=True)
class ScheduleRow:
    """per calendar period, site and system: ordered (units ordered at the period's start),
    arriving (units delivered then), owned_units (in service and owned: bought before or
    during the plan), rented_units (on demand this period), contracted_units (under term
    contracts that cover this period), spot_units (preemptible, this period; each does
    spot_goodput of a unit's work), units (all in service), power_w, busy_units (average units
    given to work over the period)"""

    period: int
    start_s: float
    end_s: float
    datacenter: str
    system: str
    ordered: float
    arriving: float
    owned_units: float
    rented_units: float
    contracted_units: float
    spot_units: float
    units: float
    power_w: float
    busy_units: float


@dataclass(frozen=True)
class ContractRow:
    """per term contract signed: datacenter, system, period (the calendar period it starts at
    the start of), contract (its index in the catalog's contracts of the system), term_s (the
    catalog's term), usd_per_hour (the catalog's price per unit-hour), units (signed for)"""

    datacenter: str
    system: str
    period: int
    contract: int
    term_s: float
    usd_per_hour: float
    units: float


@dataclass(frozen=True)
class CashFlowRow:
    """per calendar period: capex_paid_usd (cash for units and CPU-only servers bought, with
    their network and storage, paid at order or delivery: economics.capex_paid_at), then the
    cost charged to the period by component: capital_charge_usd (capital recovered while units
    and CPU-only servers serve, network and storage included), rental_usd, spot_usd,
    contracts_usd, energy_usd, facility_usd, other_opex_usd (maintenance, CPU servers' running
    costs and rent, links, site openings), cost_usd (their sum; the
    periods add up to total_cost_usd), cumulative_cost_usd, cash_out_usd (capex paid + every
    charge but the capital charge), cumulative_cash_usd; the resale received at the horizon's
    end (economics.resale_fraction) is in no period but in its own row (ResaleRow)"""

    period: int
    start_s: float
    end_s: float
    capex_paid_usd: float
    capital_charge_usd: float
    rental_usd: float
    spot_usd: float
    contracts_usd: float
    energy_usd: float
    facility_usd: float
    other_opex_usd: float
    cost_usd: float
    cumulative_cost_usd: float
    cash_out_usd: float
    cumulative_cash_usd: float


@dataclass(frozen=True)
class AfterHorizonRow:
    """per month after the horizon with a contract payment due (economics.after_horizon ends:
    every payment of a term is charged, those past the horizon too), billed monthly from the
    horizon's end: month (1: the first month after it), start_s and end_s (from the horizon
    start; a month = a year / 12), contracts_usd (face value: units x usd_per_hour x the hours
    of their terms in the month), cumulative_cost_usd and cumulative_cash_usd (the cash flow's,
    carried on past its last period; the last row's cumulative cost is the plan's nominal
    cost), discount_weight (1 / (1 + r)^(mid-month years) with economics.discount_rate r, else
    1) and present_value_usd (discount_weight x contracts_usd)"""

    month: int
    start_s: float
    end_s: float
    contracts_usd: float
    cumulative_cost_usd: float
    cumulative_cash_usd: float
    discount_weight: float
    present_value_usd: float


@dataclass(frozen=True)
class ResaleRow:
    """the resale received at the horizon's end (economics.after_horizon ends with
    economics.resale_fraction f), one row at H: at_s (= H, seconds from the horizon start),
    resale_usd (received: sum over bought units and CPU-only servers still in their life at H
    of f x capex x remaining life at H / lifetime), cost_usd (= -resale_usd, a credit),
    cumulative_cost_usd and cumulative_cash_usd (the cash flow's, carried on past its last
    period), discount_weight (1 / (1 + r)^(H / year) with economics.discount_rate r, else 1)
    and present_value_usd (discount_weight x cost_usd)"""

    at_s: float
    resale_usd: float
    cost_usd: float
    cumulative_cost_usd: float
    cumulative_cash_usd: float
    discount_weight: float
    present_value_usd: float


@dataclass(frozen=True)
class PresentValueRow:
    """per calendar period, only with economics.discount_rate: discount_rate (a year),
    mid_years (the period's middle from the horizon start, years), discount_weight (1 / (1 +
    discount_rate)^mid_years), cost_usd (the cash flow's nominal cost of the period),
    present_value_usd (discount_weight x cost_usd; with one fleet for the horizon under
    economics.after_horizon ends, its purchases weighed at their own instants k x lifetime
    instead of the period's middle; the periods, with the present values of the
    resale at the horizon's end (ResaleRow) and the payments after the horizon
    (AfterHorizonRow, economics.after_horizon ends), add up to
    total_cost_usd, what the LP minimised)"""

    period: int
    start_s: float
    end_s: float
    discount_rate: float
    mid_years: float
    discount_weight: float
    cost_usd: float
    present_value_usd: float


@dataclass(frozen=True)
class SiteOpeningRow:
    """per candidate site: opened (whether the plan opens it), opened_period (the calendar
    period it is opened at the start of), ready_period (the first period it holds units:
    lead_time later), opening_cost_usd (charged when opened)"""

    datacenter: str
    opened: bool
    opened_period: int | None
    ready_period: int | None
    opening_cost_usd: float


# Cost components -> the CashFlowRow column they are charged in (any other: other_opex_usd).
CASH_COLUMNS = {
    "capex": "capital_charge_usd",
    "network_storage": "capital_charge_usd",
    # bought units sold at the horizon's end (economics.resale_fraction): a negative capital
    # charge (in the cash flow's own row at the horizon's end, ResaleRow)
    "resale": "capital_charge_usd",
    # CPU-only servers' capital recovery (cost_by_period's part of their cpu_servers term)
    "cpu_capital": "capital_charge_usd",
    "rental": "rental_usd",
    "spot": "spot_usd",
    "contracts": "contracts_usd",
    "energy": "energy_usd",
    "facility": "facility_usd",
}


@dataclass(frozen=True)
class CpuScheduleRow:
    """CPU-only servers per calendar period and site: ordered (at the period's start), arriving,
    owned_units (in service and owned: from the start or bought), rented_units (on demand this
    period), units (all in service), cpu_cores, power_w"""

    period: int
    start_s: float
    end_s: float
    datacenter: str
    system: str
    ordered: float
    arriving: float
    owned_units: float
    rented_units: float
    units: float
    cpu_cores: float
    power_w: float


@dataclass(frozen=True)
class CpuServerRow:
    """CPU-only servers per site at their peak over the horizon (the first period with the
    most in service): units, owned_units (owned from the start), new_units (units -
    owned_units), split into bought_units (bought during the plan and in service then) and
    rented_units (on demand), cpu_cores, power_w"""

    datacenter: str
    system: str
    units: float
    owned_units: int
    new_units: float
    bought_units: float
    rented_units: float
    cpu_cores: float
    power_w: float


@dataclass(frozen=True)
class PowerRow:
    """per site: it_power_w, facility_power_w (x PUE), power_cap_w, pue, share_of_cap"""

    datacenter: str
    it_power_w: float
    facility_power_w: float
    power_cap_w: float
    pue: float
    share_of_cap: float


@dataclass(frozen=True)
class AllocationRow:
    """workload, role, datacenter, system, period (period_start_s, period_end_s, period_s),
    units, rate_per_unit_s, work_unit (token or FLOP), work_done, share_of_role,
    rate_derivation (the demand model's derivation of the rate)"""

    workload: str
    role: str
    datacenter: str
    system: str
    period: int
    period_start_s: float
    period_end_s: float
    units: float
    period_s: float
    rate_per_unit_s: float
    work_unit: str
    work_done: float
    share_of_role: float | None
    rate_derivation: str


@dataclass(frozen=True)
class RLRow:
    """per RL workload: trainer_site, samples_by_site, verifier_cores_by_site (the cores the
    sandboxes need there in the LP period they need most: those verify the samples generated
    there in that period), verifier_memory_bytes_by_site (the memory of the sandboxes running at
    once, likewise, for verifiers that state memory_per_sandbox),
    update_interval_s (window / updates), weight_push_s_by_site (one push of fresh weights from
    the trainer to each other generating site, as a burst on its path), push_budget_s (the
    staleness allowed: max_staleness_updates x update_interval_s)"""

    workload: str
    trainer_site: str | list[str]
    samples_by_site: dict[str, float]
    verifier_cores_by_site: dict[str, float]
    verifier_memory_bytes_by_site: dict[str, float]
    update_interval_s: float
    weight_push_s_by_site: dict[str, float]
    push_budget_s: float


@dataclass(frozen=True)
class ServingRow:
    """per serving tier: prefill (where its prompts are prefilled: on their own instances at the
    site of their decode, at other sites for some requests, or chunked into the decode steps),
    prefill_to_decode_units (unit-seconds given to prefill / to decode), kv_shares (per
    "a->b/pN": share of period N's requests prefilled at a and decoded at b; a model_from tier
    with several candidates "decode@c:a->b/pN", per candidate c), kv_flows_bytes_per_s
    (per "a->b": their KV cache, averaged over the window; empty: none crosses sites), kv_hop_s
    (per "a->b" used: path latency + one prompt's KV over the narrowest link, added to TTFT),
    headroom (N+k racks or sites, or none), spare_units (per datacenter/system/pN, the k units
    held for N+k racks)"""

    workload: str
    prefill: str
    prefill_to_decode_units: float
    kv_shares: dict[str, float]
    kv_flows_bytes_per_s: dict[str, float]
    kv_hop_s: dict[str, float]
    headroom: str
    spare_units: dict[str, float]


@dataclass(frozen=True)
class LinkRow:
    """per link: traffic_bytes_per_s (recomputed from the plan), capacity_bytes_per_s, the same
    in Gbps, share_of_capacity"""

    link: str
    a: str
    b: str
    traffic_bytes_per_s: float
    capacity_bytes_per_s: float
    traffic_gbps: float
    capacity_gbps: float
    share_of_capacity: float


# CostRow.attributed_by of an energy row's "(idle)" share (planner/readplan.py attribution).
IDLE_DRAW = "idle draw of owned units not working"


@dataclass(frozen=True)
class CostRow:
    """component (capex, rental, energy, cpu_servers, links), datacenter, system, workload
    ("(idle)" for unused capacity: its share of the ownership charges, and of energy the idle
    draw of owned units not working), cost_usd, attributed_by (with economics.discount_rate
    the unit-seconds it splits by are weighed by their periods' discount weights, as cost_usd
    is a present value)"""

    component: str
    datacenter: str | None
    system: str | None
    workload: str
    cost_usd: float
    attributed_by: str


@dataclass(frozen=True)
class CostTotalRow:
    """Cost summed over the cost terms (CostRow) that share one value of a field, as
    plan.costs(by=...) gives it: by (component, datacenter, system or workload), name (that
    value; "(shared)" for terms without one, "(idle)" for unused capacity), cost_usd."""

    by: str
    name: str
    cost_usd: float


@dataclass(frozen=True)
class BindingRow:
    """resource rows at their limit: constraint (family:entity), family, slack (what is left, in
    the row's unit: cores, MW, GB/s or units, SLACK_UNITS)"""

    constraint: str
    family: str
    slack: float


# The unit of a binding row's slack by resource family (the families' slack_unit,
# planner/lp/constraints.py and procurement.py): the text and HTML reports print it.
SLACK_UNITS = {
    "cpu": "cores",
    "power": "MW",
    "link": "GB/s",
    "avail": "units",
    "supply": "units",
}


# How a price unit key reads in a report: the key's tail, its unit symbol cased ("usd_per_mw"
# printed "per mw", a milliwatt, beside a megawatt's price).
PRICE_UNIT_TEXT = {"usd_per_mw": "MW", "usd_per_gbps": "Gbps"}


def price_unit_text(unit: str) -> str:
    """'MW' for usd_per_mw, 'core' for usd_per_core: what a price is per, as printed."""
    return PRICE_UNIT_TEXT.get(unit, unit.removeprefix("usd_per_"))


@dataclass(frozen=True)
class ShadowPriceRow:
    """LP-relaxation duals: constraint, family, value_usd per unit (usd_per_mw, usd_per_core,
    usd_per_gbps, usd_per_unit) over the horizon"""

    constraint: str
    family: str
    value_usd: float
    unit: str


@dataclass(frozen=True)
class SizingRow:
    """model sizing only (a pretraining with target:), one row per candidate on the iso-loss
    curve: workload, candidate, model, params, tokens, tokens_per_param, loss, pretrain_flops
    (6·N·D), served_tokens (lifetime decode + prefill tokens of the serving loads with
    model_from), serve_flops (2·N·served_tokens), chosen (the plan's), compute_optimal (the
    candidate nearest the curve's least-FLOP point, the Chinchilla point), est_pretrain_cost_usd
    and est_serve_cost_usd (each role's work at its cheapest system's unit-hour price, no
    sharing or whole units: the curve), plan_pretrain_cost_usd and plan_serve_cost_usd (the
    plan's unit-time given to the chosen candidate's pretraining and serving, at the same unit
    prices; idle capacity left out; chosen candidate only), votes (self-consistency votes it is
    served with: > 1 for a test-time substitute candidate, target.votes), est_pretrain_basis /
    est_serve_basis / plan_cost_basis (which system and unit-hour price, rental or amortised,
    each cost figure used)"""

    workload: str
    candidate: str
    model: str
    params: float
    tokens: float
    tokens_per_param: float
    loss: float
    pretrain_flops: float
    served_tokens: float
    serve_flops: float
    chosen: bool
    compute_optimal: bool
    est_pretrain_cost_usd: float | None
    est_serve_cost_usd: float | None
    plan_pretrain_cost_usd: float | None
    plan_serve_cost_usd: float | None
    # Self-consistency votes per request the candidate is served with (1: on the target's own
    # curve; > 1: a test-time substitute at loss target + loss_above, target.votes: an input)
    votes: int = 1
    # The basis of the cost figures: the system and unit-hour price (rental or amortised) each
    # estimated role used, and the systems and prices the plan figures were priced at.
    est_pretrain_basis: str | None = None
    est_serve_basis: str | None = None
    plan_cost_basis: str | None = None


@dataclass(frozen=True)
class JobRow:
    """A training run's rated and placed job (whole-unit plans, one row per run of a kind that
    re-rates at the job the plan places it on: PretrainJobRow, RLJobRow): workload, role,
    system, rated_accelerators and rated_rate_per_unit_s (derived before the solve),
    rate_job_accelerators and rate_per_unit_s (the job the rate the plan used was derived for
    and that rate), placed_units, placed_accelerators and placed_rate_per_unit_s (the job of
    its lowest-rated LP period and the rate there), solves and status (see PretrainJobRow)."""

    workload: str
    role: str
    system: str
    rated_accelerators: int
    rated_rate_per_unit_s: float
    rate_job_accelerators: int
    rate_per_unit_s: float
    placed_units: int
    placed_accelerators: int
    placed_rate_per_unit_s: float
    solves: int
    status: str


@dataclass(frozen=True)
class PretrainJobRow(JobRow):
    """whole-unit plans with pretraining only, one row per pretraining run (the chosen sizing
    candidate's): workload, role, system it runs on, rated_accelerators and
    rated_rate_per_unit_s (the job its window needs and its rate, derived before the solve),
    rate_job_accelerators (the job the rate the plan used was derived for: the rated job, or the
    placed job of an earlier solve once re-rated), rate_per_unit_s (the rate the plan used,
    FLOP/s per unit: its allocations' rate), placed_units (the whole units of the job it runs
    on in its lowest-rated LP period: the rate's job where its pool holds those units in
    service, else the units in service, at least its units there rounded up), placed_accelerators (those
    units' accelerators), placed_rate_per_unit_s (the layout search's rate at that job), solves
    (how many times the LP was solved: 1 + re-ratings), status (`as rated`: the placed job is
    the rate's job, which runs each period for the share of it the plan gives; `consistent`:
    another job, its rate within RERATE_TOL of the rate used; `conservative`: the placed job's
    rate is higher than the rate used by more than that;
    `held to its rated job`: the plan that held the run to at most its rated job's units, where
    a plan that squeezed it onto more was re-rated lower and cost more, planner/api.py
    _solve_rerated; `held to the units its window needs`: held so, at the more units its work
    needs in its window at the rate held where its rated job's cannot do it (a hold at the
    rated job left no plan; its rate's reason gives the need); `not converged`: lower by more
    than that after the last re-solve, stated in left_out)"""


@dataclass(frozen=True)
class RLJobRow(JobRow):
    """whole-unit plans with RL only, one row per RL run whose trainer the plan runs (role
    `train`, on one system): the PretrainJobRow figures for the trainer's job, in FLOP/s per
    unit of the train role (its rate x (1 - the update's idle share)): rated_accelerators and
    rated_rate_per_unit_s (n, the run's work spread over its window rounded up to whole units,
    and the train rate there, derived before the solve), rate_job_accelerators and
    rate_per_unit_s (the job the rate the plan used was derived for and that rate),
    placed_units, placed_accelerators and placed_rate_per_unit_s (the run's job in its
    lowest-rated LP period, as a pretraining's: a colocated run's units of every role on the
    trainer's pool in the periods it trains, a separate-pool run's train role's; and its rate
    re-derived there: the update's
    passes and the colocated update's offload over those accelerators), solves and status (as
    PretrainJobRow's). A re-rated run's every role is re-rated at the placed job on that system
    (planner/kinds/rl.py rerated)."""


@dataclass(frozen=True)
class LimitValueRow:
    """`planner plan --value-limits` only: one counterfactual re-solve per limit or discrete
    choice: limit (family:entity), kind (limit or choice), step (how it was relaxed or forced),
    limit_before, limit_after, total_cost_usd of the re-solve, saving_usd (plan cost - re-solve
    cost: > 0 the relaxed limit saves that much; < 0 the forced alternative costs that much
    more), saving_proven_usd (the saving the solvers' bounds prove: plan lower bound - re-solve
    cost for a limit, plan cost - re-solve lower bound for a choice), unused (the site or pool
    has no units in the plan), runner_up (where the training jobs run in the re-solve), status"""

    limit: str
    kind: str
    step: str
    limit_before: str
    limit_after: str
    total_cost_usd: float | None
    saving_usd: float | None
    saving_proven_usd: float | None
    unused: bool
    runner_up: str
    status: str


Row = TypeVar("Row")


def row_dict(row: Any) -> dict[str, Any]:
    """A row as a plain dict, fields in declaration order (the CSV column order)."""
    names, values = _fields_of(type(row))
    return dict(zip(names, map(_plain, values(row)), strict=True))


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _fields_of(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A row type's field names in declaration order and a getter of their values (a tuple;
    made once per type: a plan's JSON makes ~5k row dicts at 100k columns)."""
    held = _FIELDS.get(cls)
    if held is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        getter: Callable[[Any], tuple[Any, ...]]
        if len(names) > 1:
            getter = operator.attrgetter(*names)
        else:  # attrgetter of one name gives the value, not a tuple
            getter = lambda row: tuple(getattr(row, name) for name in names)  # noqa: E731
        held = _FIELDS[cls] = (names, getter)
    return held


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def row_from_dict(cls: type[Row], data: dict[str, Any]) -> Row:
    """A row back from its dict (JSON), checking that the keys are exactly the fields."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if set(data) != set(names):
        raise ValueError(f"{cls.__name__}: keys {sorted(data)} are not {sorted(names)}")
    return cls(**data)


def field_types(cls: type) -> list[tuple[str, str]]:
    """(field, type as written) of a row type, for documentation."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        text = hint.__name__ if isinstance(hint, type) else str(hint)
        if isinstance(hint, types.UnionType):
            text = str(hint)
        out.append((f.name, text.replace("typing.", "")))
    return out
