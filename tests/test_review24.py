"""Session 24's review of what the planner prints for inference fleets and what-ifs: each test
recomputes a printed figure (or feeds a bad input) that was wrong before its fix."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import planner

ROOT = Path(__file__).resolve().parents[1]
SIZING = ROOT / "examples" / "model-sizing.yaml"
YEAR_H = 8760.0


def _crf(rate: float, years: float) -> float:
    return rate / (1 - (1 + rate) ** -years)


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> planner.Plan:
    """examples/model-sizing.yaml at 10% cost of capital, with a $150/kW-month facility charge
    at its one site (PUE 1.2, 8.06 c/kWh in the preset)."""
    tmp = tmp_path_factory.mktemp("sizing")
    topo = yaml.safe_load((ROOT / "topologies" / "presets" / "nvl72-campus.yaml").read_text())
    topo["datacenters"]["campus"]["facility_usd_per_kw_month"] = 150.0
    (tmp / "topo.yaml").write_text(yaml.safe_dump(topo))
    sc = planner.load_scenario(
        SIZING, sets=["economics.cost_of_capital=0.1"], topology=str(tmp / "topo.yaml")
    )
    return planner.solve(sc)


def test_model_sizing_prices_a_bought_unit_as_the_objective_does(sized: planner.Plan) -> None:
    """The sizing report's split and cost curve price a bought gb200-nvl72 unit-hour as the
    objective does: capital at the CRF of 10%, network/storage share, maintenance, facility and
    energy at the site's PUE (before: straight line, PUE 1.0, no facility: $122.51/h)."""
    sc = planner.load_scenario(SIZING)
    site = sc.topology.site("campus")
    spec = sc.catalog.system("gb200-nvl72")
    kw = spec.power_w / 1000
    by_hand = (
        spec.capex_usd * _crf(0.1, 5.0) * (1 + spec.network_storage_capex_fraction) / YEAR_H
        + spec.capex_usd
        * (1 + spec.network_storage_capex_fraction)
        * spec.maintenance_fraction_per_year
        / YEAR_H
        + 150.0 * kw * 12 / YEAR_H
        + kw * site.pue * site.electricity_usd_per_kwh
    )
    (chosen,) = [r for r in sized.sizing or [] if r.chosen]
    busy_h = {"pretrain": 0.0, "chat": 0.0}
    for a in sized.allocations:
        busy_h[a.workload] += a.units * a.period_s / 3600
    assert chosen.plan_pretrain_cost_usd == pytest.approx(busy_h["pretrain"] * by_hand, rel=1e-9)
    assert chosen.plan_serve_cost_usd == pytest.approx(busy_h["chat"] * by_hand, rel=1e-9)
    assert chosen.plan_cost_basis == f"gb200-nvl72 at campus ${by_hand:,.2f}/unit-hour (bought)"
    demands = {d.name: d for d in planner.demands(sc)}
    role = next(r for r in demands["pretrain"].roles if r.name == f"pretrain@{chosen.candidate}")
    est = role.amount / role.rates["gb200-nvl72"].per_unit_s * by_hand / 3600
    assert chosen.est_pretrain_cost_usd == pytest.approx(est, rel=1e-9)


RL = str(ROOT / "planner" / "scenarios" / "rl-verifiers.yaml")
SAMPLES = "workloads.rl-code.samples_per_problem"


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (
            "units:h100",
            "<--y>: y: no system 'h100' in the topology of any point; systems: ",
        ),
        ("facility_power_w:dc-nowhere", "no site 'dc-nowhere' in the topology of any point"),
        ("cost_usd:chatbot", "no workload 'chatbot' in any point; workloads: "),
    ],
)
def test_sweep_y_name_is_checked_before_solving(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    y: str,
    message: str,
) -> None:
    """`sweep --y units:NAME` with a NAME no point has was refused only after every point was
    solved (the plot's column check): now the name is checked against the systems, sites and
    workloads of every point's scenario first, naming the known ones, exit 1."""
    import planner.sweeps
    from cli import main

    def no_solve(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a point was solved")

    monkeypatch.setattr(planner.sweeps, "sweep", no_solve)
    png = str(tmp_path / "s.png")
    code = main(["sweep", RL, "--set", f"{SAMPLES}=4,16", "--y", y, "--plot", png])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert message in err, err
    sc = planner.load_scenario(RL)
    if y.startswith("units:"):
        assert ", ".join(sc.topology.system_names()) in err
    # a name the scenario has passes (and reaches the solve)
    with pytest.raises(AssertionError, match="a point was solved"):
        main(["sweep", RL, "--set", f"{SAMPLES}=4", "--y", "cost_usd:rl-code", "--plot", png])


CHAT = """topology: multi-dc
economics:
  horizon: 365 days
  pricing: amortised
workloads:
  chat:
    kind: inference
    model: llama-3.1-70b
    precision: fp8
    requests_per_day: 100M
    prompt_tokens: 1000
    output_tokens: 775
    tokens_per_s_per_user: 30
"""


def test_site_headroom_of_more_sites_than_the_topology_has_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """headroom {k: 4, domain: site} on multi-dc's 3 sites made no lost-site set at all: the
    plan served everything from one site and printed "headroom N+4 sites". Now: file:line of k,
    the sites named, exit 1."""
    from cli import main

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT + "    headroom:\n      domain: site\n      k: 4\n")
    line = len(CHAT.splitlines()) + 3
    assert main(["plan", str(path), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        f"{path}:{line}: workloads.chat.headroom.k: 4 sites lost, but the topology has 3 "
        "(dc-east, dc-central, dc-west): give k below the number of sites"
    ), err


def test_a_whole_number_in_exponent_form_is_told_to_be_written_in_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """output_tokens: 1e6 was refused with "expected a whole number, got 1e+06" (1e6 is whole):
    now the message says to write it in digits, and gives the digits; 1000.5 keeps its message."""
    from cli import main

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT.replace("output_tokens: 775", "output_tokens: 1e6"))
    assert main(["plan", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"{path}:12: workloads.chat.output_tokens: expected a whole number written in digits, "
        "got 1e+06: write 1000000"
    ), err
    path.write_text(CHAT.replace("output_tokens: 775", "output_tokens: 775.5"))
    assert main(["plan", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "workloads.chat.output_tokens: expected a whole number, got 775.5" in err


def test_estimate_inference_names_the_demand_its_units_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`estimate inference` printed "units for the demand 0.4888" with the demand (the
    --requests-per-day and --peak-to-average defaults) nowhere in its output: the row now names
    it and a derivation line gives the formula, which recomputes the figure from the printed
    rates."""
    import json

    from cli import main

    args = ["estimate", "inference", "--model", "llama-3.1-70b", "--system", "hgx-h100"]
    args += ["--precision", "fp8", "--output-tokens", "775", "--votes", "2"]
    args += ["--requests-per-day", "2M", "--peak-to-average", "1.5"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    units = (
        2e6
        * 1.5
        / 86400
        * (775 * 2 / est["tokens_per_s_per_system"] + 1000 / est["prefill_tokens_per_s_per_system"])
    )
    assert est["units_for_demand"] == pytest.approx(units, rel=1e-12)
    row = next(line for line in text.splitlines() if line.startswith("units for"))
    assert row.split() == ["units", "for", "2,000,000", "requests/day", "x", "1.5", "peak"] + [
        f"{units:.4g}"
    ]
    assert (
        "units for the demand = 2,000,000 requests/day x peak/average 1.5 / 86,400 s x (775 "
        f"output x 2 votes / {est['tokens_per_s_per_system']:,.0f} + 1,000 prompt / "
        f"{est['prefill_tokens_per_s_per_system']:,.0f}) = {units:.4g}"
    ) in text


@pytest.mark.parametrize(("resolved_usd", "proven_usd"), [(100.0, 0.0), (90.0, 9.0)])
def test_a_relaxed_limit_never_proves_a_negative_saving(
    resolved_usd: float, proven_usd: float
) -> None:
    """`--value-limits` printed "proven $-0" for every limit that saves nothing (plan lower
    bound - re-solve cost < 0 by the gap): a relaxed limit cannot cost more, so what the bounds
    prove of it is at least 0; a real saving keeps bound - re-solve cost."""
    from types import SimpleNamespace

    from planner.limits import Counterfactual, _row

    plan = SimpleNamespace(total_cost_usd=100.0, lower_bound_usd=99.0)
    cf = Counterfactual("power:d", "limit", "lifted", "1 MW", "2 MW", ())
    result = {"outputs": {"status": "optimal", "total_cost_usd": resolved_usd}, "plan": None}
    row = _row(plan, cf, result)  # type: ignore[arg-type]
    assert row.saving_usd == 100.0 - resolved_usd
    assert row.saving_proven_usd == proven_usd


def test_a_saving_within_the_solvers_rounding_shows_no_value() -> None:
    """At an 8 MW dc-east cap, frontier-lab's --value-limits said "counterfactual re-solves find
    value in" 13 limits whose re-solves cost the plan's own cost: the plan's bound exceeded the
    re-solve cost by 1.49e-8 US$ (summation order). A saving within a millionth of the plan
    cost (or a cent) is 0; a real one is kept."""
    from types import SimpleNamespace

    from planner.limits import Counterfactual, _row

    cost = 123531925.65
    plan = SimpleNamespace(total_cost_usd=cost, lower_bound_usd=cost + 1.49e-8)
    cf = Counterfactual("avail:d:s", "limit", "lifted x2", "1 units", "2 units", ())
    result = {"outputs": {"status": "optimal", "total_cost_usd": cost - 1e-6}, "plan": None}
    row = _row(plan, cf, result)  # type: ignore[arg-type]
    assert (row.saving_usd, row.saving_proven_usd) == (0.0, 0.0)
    result = {"outputs": {"status": "optimal", "total_cost_usd": cost - 500.0}, "plan": None}
    row = _row(plan, cf, result)  # type: ignore[arg-type]
    assert row.saving_proven_usd == pytest.approx(500.0, abs=1e-6)


def test_spare_units_are_placed_in_days_not_period_indexes() -> None:
    """frontier-lab's reasoning tier (N+1 racks) printed "spare units: dc-east/gb200-nvl72 1 in
    p2": the report defines no p2 (its allocations are in days). The spans are now the days of
    the periods the spares are held in, read here from the plan's own rows."""
    from planner.report import format_plan

    plan = planner.solve(planner.load_scenario("frontier-lab"))
    (row,) = [r for r in plan.serving if r.workload == "reasoning"]
    periods = {p.period: p for p in plan.periods}
    (key,) = row.spare_units
    pool, p = key.rsplit("/", 1)
    period = periods[int(p[1:])]
    text = " ".join(format_plan(plan).split())
    expected = (
        f"headroom N+1 racks; spare units: {pool} {row.spare_units[key]:g} on days "
        f"{period.start_s / 86400:g}-{period.end_s / 86400:g}"
    )
    assert expected in text
    assert expected.endswith("dc-east/gb200-nvl72 1 on days 150-365")


def test_sweep_table_says_its_system_columns_are_units() -> None:
    """The sweep table's system columns (57 gb200-nvl72 on frontier-lab) had no unit: a reader
    could not tell racks from GPUs. A footnote says they are units, as the CSV's units:SYSTEM;
    each figure is the point's units:SYSTEM and cores/acc its cores_per_accelerator."""
    from planner.commands.sweep import format_sweep

    sw = planner.sweep("rl-verifiers", {"workloads.rl-code.samples_per_problem": [4]})
    (point,) = sw.points
    text = format_sweep(sw)
    assert "(a system's column: its units at each site's peak period, summed over sites" in text
    lines = text.splitlines()
    row = next(line for line in lines if "optimal" in line)
    for key in [k for k in point if k.startswith("units:")]:
        name = f" {key.split(':', 1)[1]} "
        end = lines[1].index(name) + len(name) - 1
        assert float(row[end - len(name) + 1 : end].strip()) == point[key]


def test_html_binding_limits_give_what_is_left_with_its_unit() -> None:
    """The HTML report's binding table printed frontier-lab's cpu:dc-east slack as a bare
    "18.6" (the text report: "left: 18.6 cores"): now "left" with the family's unit, and every
    family that can bind has one (a test on the LP's families, so a new one cannot go bare)."""
    import re

    from planner.htmlreport import plan_html
    from planner.lp.model import FAMILIES
    from planner.rows import SLACK_UNITS

    plan = planner.solve(planner.load_scenario("frontier-lab"))
    (b,) = [b for b in plan.binding_constraints if b.constraint == "cpu:dc-east"]
    page = plan_html(plan)
    table = page[page.index('<table id="binding">') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[:2] == ["cpu:dc-east", f"{b.slack:,.3g} cores"]
    assert "<th>left</th>" in table or ">left<" in table
    resource = {name for name, fam in FAMILIES.items() if fam.resource}
    assert resource <= set(SLACK_UNITS), resource - set(SLACK_UNITS)
    assert all(SLACK_UNITS[f] == FAMILIES[f].slack_unit for f in resource)


def test_a_tier_without_ttft_or_peak_says_what_that_leaves_out(tmp_path: Path) -> None:
    """A serving tier with no ttft_p99 is planned at a full batch every step (server utilisation
    1: no queueing for a slot) and, at peak_to_average 1, for the day's average load; frontier-
    lab's plan said neither. Now each is a Left out line naming the tiers; a tier that gives
    both is not named (and its queue shrinks the decode rate the plan uses)."""
    from planner.kinds.inference import AVERAGE_LOAD_CAVEAT, NO_TTFT_CAVEAT

    plan = planner.solve(planner.load_scenario("frontier-lab"))
    tiers = "chat, reasoning, reasoning-sc5"
    assert NO_TTFT_CAVEAT.format(tiers) in plan.left_out
    assert AVERAGE_LOAD_CAVEAT.format(tiers) in plan.left_out
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT + "    ttft_p99: 2 s\n    peak_to_average: 1.5\n")
    sc = planner.load_scenario(path)
    given = planner.solve(sc)
    assert not any("chat" in line and "ttft_p99" in line for line in given.left_out)
    assert not any("peak_to_average" in line for line in given.left_out)
    plain = planner.demands(planner.load_scenario("frontier-lab"))
    (decode,) = [r for d in plain if d.name == "chat" for r in d.roles if r.name == "decode"]
    (queued,) = [r for d in planner.demands(sc) for r in d.roles if r.name == "decode"]
    assert queued.rates["hgx-h100"].per_unit_s < decode.rates["hgx-h100"].per_unit_s


@pytest.mark.parametrize(
    ("growth", "ratio"), [(1000.0, 1000 * math.log(1000) / 999), (0.5, 2 * math.log(2))]
)
def test_a_growing_load_says_how_far_its_peak_is_above_the_period_average(
    tmp_path: Path, growth: float, ratio: float
) -> None:
    """The serve rows meet each period's share of a steady load (its average there): with
    growth_per_year 1000 on one 365-day fleet the plan served 4.09e15 decode tokens, the year's
    average, while the load at the year's end is 6.91x that, and said nothing of it. The Left
    out line gives the ratio, peak / average = max(1, y) ln y / (y - 1), y = g^(L / year)."""
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT + f"    growth_per_year: {growth}\n")
    plan = planner.solve(planner.load_scenario(path))
    (line,) = [x for x in plan.left_out if x.startswith("serving loads that grow")]
    assert f"up to {ratio:.3g}x that average for chat " in line
    decode = sum(a.work_done for a in plan.allocations if a.role == "decode")
    year_s = 365 * 86400.0
    average = 100e6 * 775 * (growth - 1) / math.log(growth)  # per day over the year
    assert decode == pytest.approx(average * 365, rel=1e-6)
    end = 100e6 * 775 * growth ** (plan.periods[-1].end_s / year_s)
    assert max(end, 100e6 * 775) / average == pytest.approx(ratio, rel=1e-9)


@pytest.mark.parametrize(
    "extra",
    [
        ["--model", "llama-3.1-70b", "--system", "hgx-h100", "--precision", "fp8"],
        ["--model", "deepseek-r1", "--system", "gb200-nvl72", "--precision", "fp4"]
        + ["--kv-precision", "fp8", "--prefill", "aggregated", "--tpot-percentile", "p99"],
    ],
)
def test_estimate_step_terms_add_up_to_the_step(
    capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    """`estimate inference` listed "step terms compute 17.85 ms, memory 23.64 ms, roofline
    28.19 ms, tp_allreduce 1.63 ms, overhead 3.25 ms" for a 33.07 ms step: the roofline's sides
    beside the terms added. The row is now the sum, each term as printed adding up to the step
    time (to the printed rounding), and what TPOT adds after it."""
    import json
    import re

    from cli import main

    assert main(["estimate", "inference", *extra]) == 0
    text = capsys.readouterr().out
    assert main(["estimate", "inference", *extra, "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    row = next(line for line in text.splitlines() if line.startswith("step terms"))
    step_part = row.split("=")[0]
    step_part = re.sub(r"\([^)]*\)", "", step_part)
    added = [float(x) for x in re.findall(r" ([0-9.]+) ms", step_part)]
    assert sum(added) == pytest.approx(est["step_time_s"] * 1e3, abs=0.01 * len(added))
    assert f"= step {est['step_time_s'] * 1e3:.2f} ms" in row
    terms = est["step_terms_s"]
    roofline_first = f"roofline {terms['roofline'] * 1e3:.2f} ms (compute"
    assert roofline_first in row
    if terms.get("prefill_chunk", 0) > 0:
        assert f"TPOT adds prefill_chunk {terms['prefill_chunk'] * 1e3:.2f} ms" in row


def test_an_unused_limit_that_saves_when_lifted_says_so() -> None:
    """At an 8 MW dc-east cap frontier-lab's plan draws nothing at dc-east (the NVL72 job needs
    9.03 MW), and --value-limits printed power:dc-east "saving $33.96M ... unused in the plan",
    which read as a limit of no consequence. The note now says lifting it lets work in; an
    unused limit that saves nothing keeps the plain note."""
    from planner.limits import format_limit_values
    from planner.rows import LimitValueRow

    plan = planner.solve(planner.load_scenario("frontier-lab"))

    def row(limit: str, saving: float) -> LimitValueRow:
        return LimitValueRow(
            limit, "limit", "lifted", "8.0 MW", "115.9 MW", 1.0, saving, saving, True, "", "optimal"
        )

    plan.limit_values = [row("power:dc-east", 33.96e6), row("power:dc-west", 0.0)]
    out: list[str] = []
    format_limit_values(plan, out)
    text = "\n".join(out)
    east = next(line for line in text.splitlines() if line.strip().startswith("power:dc-east"))
    west = next(line for line in text.splitlines() if line.strip().startswith("power:dc-west"))
    assert east.rstrip().endswith("unused in the plan, yet lifting it lets work in")
    assert west.rstrip().endswith("unused in the plan")


def test_period_indexed_limits_are_given_their_days() -> None:
    """frontier-3y's report named its limits "cpu:dc-east:t2", "power:dc-east:t10": calendar
    period indexes it defines nowhere (its tables are in days). The decision, the binding list
    and the shadow prices now give each its days, read here from the cash flow's periods."""
    import re

    from planner.report import format_plan

    plan = planner.solve(planner.load_scenario("frontier-3y"))
    text = format_plan(plan)
    calendar = {c.period: c for c in plan.cash_flow}
    labels = [b.constraint for b in plan.binding_constraints] + [
        p.constraint for p in plan.shadow_prices
    ]
    indexed = [x for x in labels if re.search(r":t\d+$", x)]
    assert indexed
    flat = " ".join(text.split())
    for label in indexed:
        c = calendar[int(label.rsplit(":t", 1)[1])]
        assert f"{label} (days {c.start_s / 86400:g}-{c.end_s / 86400:g}" in flat, label
    assert not re.search(r":t\d+ [^(]", flat)  # no indexed label left without its days


def test_a_sequence_past_the_model_context_window_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chat tier of 1,000 + 200,000 tokens on llama-3.1-70b (config.json
    max_position_embeddings 131,072) was planned (infeasible only by power, 1.71 GW short), its
    KV cache sized for sequences the model cannot attend over. The catalog now states the
    window (context_tokens, sourced) and a longer sequence is refused at output_tokens' line;
    exactly the window is accepted."""
    from cli import main

    sc = planner.load_scenario(RL)
    window = sc.catalog.models["llama-3.1-70b"].context_tokens
    assert window == 131072
    assert (
        "max_position_embeddings 131072"
        in sc.catalog.models["llama-3.1-70b"].sources["context_tokens"]
    )
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT.replace("output_tokens: 775", f"output_tokens: {window - 999}"))
    assert main(["plan", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"{path}:12: workloads.chat.output_tokens: prompt 1,000 + output 130,073 = 131,073 tokens "
        "a sequence, past llama-3.1-70b's context window of 131,072 (catalog context_tokens)"
    ), err
    path.write_text(CHAT.replace("output_tokens: 775", f"output_tokens: {window - 1000}"))
    planner.load_scenario(path)  # exactly the window: no problem


def test_compare_of_one_topology_says_topology() -> None:
    """`planner compare --topology T` headed its table "on 1 topologies" (text and HTML)."""
    from planner.htmlreport import comparison_html

    cmp = planner.compare("rl-verifiers", ["rainier-campus"])
    assert cmp.format().splitlines()[0] == "Compare rl-verifiers on 1 topology"
    assert "<h1>Compare rl-verifiers on 1 topology</h1>" in comparison_html(cmp)


def test_a_set_on_a_mistyped_workload_names_the_workloads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--set workloads.chatt.output_tokens=5` (a typo of chat) said only "workloads.chatt.kind:
    required field is missing". It now says the workload is unknown, lists the scenario's and
    suggests the close one; a new workload given its kind by --set still loads."""
    from cli import main

    assert main(["plan", "frontier-lab", "--set", "workloads.chatt.output_tokens=5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "<--set workloads.chatt.output_tokens=5>: workloads.chatt: unknown workload 'chatt' (a "
        "new workload needs kind:); known: chat, pretrain-405b, reasoning, reasoning-sc5, "
        "rl-reasoning; did you mean 'chat'?"
    ), err
    new = "workloads.new."
    sets = [
        f"{new}kind=inference",
        f"{new}model=llama-3.1-8b",
        f"{new}requests_per_day=1M",
        f"{new}prompt_tokens=100",
        f"{new}output_tokens=100",
        f"{new}tokens_per_s_per_user=30",
    ]
    sc = planner.load_scenario("frontier-lab", sets=sets)
    assert "new" in sc.data.workloads


def test_estimate_ttft_row_says_which_ttft(capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate inference --ttft-p99 '2 s'` printed "TTFT 0.1802 s": the mean (prefill 68 ms
    + the mean wait), not the p99 the target bounds; without a target the row is the prefill
    alone. The label now says which, and the figure is the derivation's."""
    import json

    from cli import main

    base = ["estimate", "inference", "--model", "llama-3.1-70b", "--system", "hgx-h100"]
    base += ["--precision", "fp8", "--output-tokens", "775"]
    for extra, label in [
        (["--ttft-p99", "2 s"], "TTFT (mean, with the queue)"),
        ([], "TTFT (prefill alone, no queue)"),
    ]:
        assert main([*base, *extra]) == 0
        text = capsys.readouterr().out
        assert main([*base, *extra, "--json"]) == 0
        est = json.loads(capsys.readouterr().out)
        row = next(line for line in text.splitlines() if line.startswith("TTFT"))
        assert row.startswith(label)
        assert float(row.split()[-2]) == pytest.approx(est["ttft_s"], rel=1e-3)


def test_dollars_per_million_tokens_count_tokens_served_not_the_peak_capacity(
    tmp_path: Path,
) -> None:
    """compare's $/M tokens divided the tier's cost by its decode work, which is the load x
    peak_to_average (the capacity provisioned for the peak): a tier provisioned x2 showed half
    its $ per million tokens served. The divisor is now the tokens served, requests/day x
    output x days; the plan's workload rows carry peak_to_average for it."""
    from planner.comparison import plan_metrics

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT + "    peak_to_average: 2\n")
    plan = planner.solve(planner.load_scenario(path))
    (row,) = [w for w in plan.workloads if w.workload == "chat"]
    assert row.peak_to_average == 2.0
    m = plan_metrics(plan)
    served = 100e6 * 775 * 365
    assert m["decode_tokens"]["chat"] == pytest.approx(served, rel=1e-9)
    chat_usd = next(c.cost_usd for c in plan.costs("workload") if c.name == "chat")
    assert m["usd_per_million_tokens"]["chat"] == pytest.approx(chat_usd / served * 1e6)
    assert planner.Plan.from_dict(plan.to_dict()).workloads == plan.workloads
