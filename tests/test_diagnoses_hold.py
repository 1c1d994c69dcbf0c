"""Diagnoses that hold (issue 16): an infeasible scenario's diagnosis names the limit that is
actually short, with an amount on whole units, and applying the change it suggests (through
--set) gives a scenario that plans."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from test_lp import (
    _multi_site_case,
    by_name,
    inference,
    rl_workload,
    site,
    unit_need,
    write_scenario,
)

import cli
import planner
from fleetcore.errors import InfeasibleError


def _diagnosis(path: Path, sets: list[str] | None = None) -> list[str]:
    with pytest.raises(InfeasibleError) as info:
        planner.solve(planner.load_scenario(path, sets=sets or []))
    assert info.value.diagnosis
    return info.value.diagnosis


def _suggested_sets(lines: list[str]) -> list[str]:
    """The `--set PATH=VALUE` each diagnosis line suggests, as a shell would pass it."""
    out = []
    for line in lines:
        for match in re.finditer(r"--set ('[^']*'|\S+?)\)", line):
            out.extend(shlex.split(match.group(1)))
    return out


def _plans(path: Path, sets: list[str]) -> None:
    plan = planner.solve(planner.load_scenario(path, sets=sets))
    assert plan.checks


def test_a_max_units_shortage_is_named_in_whole_units_and_the_fix_plans(tmp_path: Path) -> None:
    """A site allowed 1 unit that needs about 1,100: a weighted phase 1 would rather leave the
    work undone ("x% of the work cannot be done"); the diagnosis names max_units, by the whole
    units the work needs, and the suggested max_units plans."""
    path = write_scenario(
        tmp_path, {"a": site({"hgx-h100": {"max_units": 1}})}, {"chat": inference("10B")}
    )
    demand = by_name(planner.load_scenario(path))["chat"]
    need = sum(unit_need(demand, r, "hgx-h100") for r in demand.roles)
    assert need > 1000  # past the weight that made undone work the cheaper slack
    lines = _diagnosis(path)
    assert not any("cannot be done" in line for line in lines), lines
    (line,) = [line for line in lines if "max_units" in line]
    more = int(re.search(r"needs ([\d,]+) more hgx-h100 units", line).group(1).replace(",", ""))
    assert need - 1 <= more <= need + 1  # whole units for the need (one pool, one period)
    sets = _suggested_sets(lines)
    assert sets == [f"topology_changes.datacenters.a.systems.hgx-h100.max_units={1 + more}"]
    _plans(path, sets)


def test_an_integer_max_units_shortage_is_whole_and_the_fix_plans(tmp_path: Path) -> None:
    """A 70B pretraining job needs a pool that holds its state (2 H100 servers); each site may
    hold 1. The LP relaxation splits the job; only whole units show the shortage: 1 unit."""
    pt = {
        "kind": "pretrain",
        "model": "llama-3.1-70b",
        "tokens": "1B",
        "deadline": "300 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 1}}), "b": site({"hgx-h100": {"max_units": 1}})},
        {"pt": pt},
    )
    lines = _diagnosis(path)
    assert any("needs 1 more hgx-h100 units than max_units allows" in line for line in lines)
    _plans(path, _suggested_sets(lines))


def test_a_power_shortfall_is_on_whole_units_and_the_fix_plans(tmp_path: Path) -> None:
    """A 7-ish-unit job may not split; each site's 45 kW holds 4 H100 servers (10.2 kW). The
    shortfall is whole servers' power, so the suggested cap plans."""
    path = _multi_site_case(tmp_path, "400 Gbps", False)
    lines = _diagnosis(path)
    (line,) = [line for line in lines if "power" in line]
    kw = float(re.search(r"by ([\d.]+) kW", line).group(1))
    per_unit_kw = planner.load_scenario(path).catalog.system("hgx-h100").power_w / 1e3
    assert (45 + kw) / per_unit_kw == pytest.approx(round((45 + kw) / per_unit_kw), abs=1e-3)
    sets = _suggested_sets(lines)
    assert len(sets) == 1 and sets[0].endswith(" kW") and ".power_cap=" in sets[0]
    _plans(path, sets)


def test_a_link_shortfall_is_named_and_the_fix_plans(tmp_path: Path) -> None:
    """The job must split over two sites (4 units of power each) and its gradients need a
    little more than the link carries: the link is the cheapest limit to raise, and the
    capacity the diagnosis suggests plans."""
    probe = planner.load_scenario(_multi_site_case(tmp_path, "400 Gbps", True))
    demand = by_name(probe)["pt"]
    params = probe.catalog.models["llama-3.1-8b"].params
    need_gbps = 2 * params * 2 * (1e12 / 4e6) / demand.window_s * 8 / 1e9  # bf16, 2 x per sync
    path = _multi_site_case(tmp_path, f"{0.9 * need_gbps:.4f} Gbps", True)
    lines = _diagnosis(path)
    (line,) = [line for line in lines if "link a--b" in line]
    gbps = float(re.search(r"raise its capacity to ([\d.]+) Gbps", line).group(1))
    assert need_gbps <= gbps <= need_gbps * 1.001
    link = (
        f"topology_changes.links=[{{a: a, b: b, capacity: {gbps} Gbps, latency: 5 ms, "
        "cost_usd_per_tb: 0.0}]"
    )
    _plans(path, [link])


def test_the_cli_prints_the_suggested_change(tmp_path: Path, capsys) -> None:
    path = _multi_site_case(tmp_path, "400 Gbps", False)
    assert cli.main(["plan", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    (fix,) = _suggested_sets(err.splitlines())
    assert cli.main(["plan", str(path), "-q", "--set", fix]) == 0, capsys.readouterr().err


def test_a_cpu_shortfall_is_in_whole_cpu_servers_and_the_fix_plans(tmp_path: Path) -> None:
    """Verifier sandboxes need more cores than 4 Trainium2 hosts and 1 CPU server give: the
    diagnosis names the cores and the CPU servers that cover them, and that count plans."""
    heavy = [{"name": "sandbox", "core_seconds_per_sample": 100, "applies_to": 1.0}]
    path = write_scenario(
        tmp_path,
        {
            "rainier": site(
                {"trn2-server": {"max_units": 4}}, cpu={"system": "cpu-server", "max_units": 1}
            )
        },
        {"rl": rl_workload("llama-3.1-8b", "1M", verifiers=heavy)},
    )
    lines = _diagnosis(path)
    (line,) = [line for line in lines if "cores" in line]
    sets = _suggested_sets([line])
    assert len(sets) == 1 and sets[0].startswith(
        "topology_changes.datacenters.rainier.cpu_servers.max_units="
    )
    _plans(path, _suggested_sets(lines))


def test_a_period_in_a_diagnosis_says_its_days(tmp_path: Path) -> None:
    """Periods count from 0, which a reader of "in period 2" cannot tell: the line gives the
    days the report's tables show. A tier launched on day 182.5 of a year in quarters needs
    more than the site's 45 kW (4 H100 servers) from then on, in periods 2 and 3 only."""
    import yaml

    path = write_scenario(
        tmp_path,
        {"a": {**site({"hgx-h100": {"max_units": 100}}), "power_cap": "45 kW"}},
        {"chat": inference("200M", start="182.5 days")},
    )
    doc = yaml.safe_load(path.read_text())
    doc["economics"]["period"] = "1 quarter"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    lines = [line for line in _diagnosis(path) if "power would exceed" in line]
    assert lines, _diagnosis(path)
    for line in lines:
        period = int(re.search(r"in period (\d+) \(days ([\d.]+)-([\d.]+)\)", line).group(1))
        start, end = (float(v) for v in re.search(r"\(days ([\d.]+)-([\d.]+)\)", line).groups())
        assert period in (2, 3) and (start, end) == (91.25 * period, 91.25 * (period + 1))


def test_work_left_undone_says_its_days_and_an_unreachable_budget_its_size(
    tmp_path: Path,
) -> None:
    """A tier no system serves at 1e9 tokens/s per user: the undone-work line names its days
    ("chat:decode:p0 (days 0-365)"), and the TPOT budget is printed as 1e-06 ms, not 0.0 ms."""
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 100}})},
        {"chat": inference("1M", tokens_per_s_per_user=1e9)},
    )
    lines = _diagnosis(path)
    assert any(line.startswith("chat:decode:p0 (days 0-365): 100.0% of the work") for line in lines)
    assert any("vs the 1e-06 ms budget" in line for line in lines), lines


def test_an_after_run_with_no_period_boundary_says_why() -> None:
    """rl-reasoning `after: pretrain-405b` with both deadlines at day 90 and no period cut in
    between has no period to run in: the diagnosis says so (it said only "100.0% of the work
    cannot be done"), and a later deadline, as it suggests, plans."""
    path = Path(planner.__file__).parent / "scenarios" / "frontier-lab.yaml"
    sets = [
        "workloads.rl-reasoning.after=pretrain-405b",
        "workloads.rl-reasoning.start=0 days",
        "workloads.rl-reasoning.deadline=90 days",
    ]
    lines = _diagnosis(path, sets)
    why = (
        "(it runs after pretrain-405b, from a period boundary once that run's work is all done, "
        "and no boundary falls between pretrain-405b's start, day 0, and its own deadline, day 90"
    )
    assert any(line.startswith("rl-reasoning:") and why in line for line in lines), lines
    _plans(path, [*sets[:2], "workloads.rl-reasoning.deadline=150 days"])


def test_consecutive_periods_short_for_one_reason_are_one_line() -> None:
    """A 90-day horizon in half-day periods printed 360 lines of "chat:decode:pN (days a-b):
    100.0% ..."; consecutive periods of one work item with the same share and reason are one
    line, and a break in either keeps the lines apart."""
    from planner.lp.solve import collapse_periods

    why = " (no unit can be in service from day {a} to {b} where it runs: none owned)"
    lines = [
        f"chat:decode:p{p} (days {a:g}-{a + 0.5:g}): 100.0% of the work cannot be done by its "
        "deadline" + why.format(a=f"{a:g}", b=f"{a + 0.5:g}")
        for p, a in enumerate(x / 2 for x in range(180))
    ]
    lines[100] = lines[100].replace("100.0%", "50.0%")
    out = collapse_periods(["rl:train: 1.0% of the work cannot be done", *lines, "dc: power"])
    assert out == [
        "rl:train: 1.0% of the work cannot be done",
        "chat:decode:p0-p99 (days 0-50): 100.0% of the work cannot be done by its deadline"
        + why.format(a="0", b="50"),
        lines[100],
        "chat:decode:p101-p179 (days 50.5-90): 100.0% of the work cannot be done by its deadline"
        + why.format(a="50.5", b="90"),
        "dc: power",
    ]


def test_rl_samples_short_for_want_of_units_say_why() -> None:
    """rl-verifiers in monthly periods under amortised pricing: nothing owned, every order
    arrives after its 182.5-day lead time. The train and chat lines said why; the samples line
    said only "100.0% of the work cannot be done by its deadline"."""
    path = Path(planner.__file__).parent / "scenarios" / "rl-verifiers.yaml"
    lines = _diagnosis(path, ["economics.period=1 month"])
    (samples,) = [line for line in lines if line.startswith("rl-code:samples:")]
    assert "(no unit can be in service from day 0 to 90 where it runs: none owned" in samples
    assert "lead times trn2-server 182.5 days" in samples
