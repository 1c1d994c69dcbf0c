"""A fleet whose power caps bind at every site in the last quarters still gets a rounded plan
(planner/lp/incumbent.py `_reserve_counts`). bench/bench_lp.py's synthetic fleet, 20 sites x 5
system types x 20 quarters at scale 3 (67,295 columns): rounding down every count that pushes a
cap gives up a unit per order of each system at the site from each period on, and the fleet
left cannot serve the last quarters' work (no plan: before, HiGHS's MIP then ran past its time
limit). Keeping room in the capped rows instead finds a plan within the 1% gap. Since the
session-9 serving physics (DeepSeek-V3 tiers dearer) the room kept runs out in the last quarter
(the LP has no solution past it) and the counts still pushing a cap are then rounded down from
the last LP that had one, the rows' bounds back: that fallback finds this fleet's plan (without
it HiGHS's MIP took 440 s). The test recomputes each site's power in every quarter from the
plan's schedule. The fleet sits at its caps by construction, so any change of a serving rate
moves it: the scenario pins Trainium2's serving step overhead to the 3.25 ms it was sized with
(with the 6.6 ms fitted to AWS Neuron SDK runs in session 9 its LP has no solution within the
caps), its training models' output heads to the layers as sized (`vocab: null` on Llama 3.1 405B
and 70B: with the head on the last pipeline stage and the embedding out of the GEMMs their
training runs ~1% faster and keeping room then found the plan without the fallback; since the
serving models' input embedding is a lookup and a prefill runs the head for its last token only,
Llama 3.1 8B and DeepSeek-V3 too, with DeepSeek-V3's MTP module, and Trainium2's BF16
compute_utilisation at the 0.40 it was sized with: with the change, or at 2.880x, keeping room
found the plan without the fallback) and its RL runs to separate pools (`colocated: false`: a colocated update's refit and
offload pace moved it off the fallback at 2.879x), and since prefill pays its tensor-parallel all-reduces the inference demand is scaled
2.88x (now 2.875x, below), not 3x (2.879x until RL generation was rated at the run's own concurrency: its small RL
runs' instances may not exceed their 8-72 accelerators, 1-3% slower, and at 2.879x keeping room
then found the plan without the fallback; at 2.883x the fallback's MIP ran past its limit, at
2.887x the LP has no solution within the caps), and 2.875x since prefill pays an MoE model's EP
all-to-all (DeepSeek-V3's prefill slower: at 2.88x the fallback's MIP ran past its 300 s limit,
at 2.87x keeping room found the plan without the fallback, at 2.82-2.86x rounding down did), and
2.877x since RL generation's prefill runs on the generating pools at the generation layout's rate
(the `aggregate` rows: at 2.872x and 2.875x keeping room found the plan without the fallback, at
2.878x the MIP ran past 600 s; 2.8765x and 2.877x take the fallback). At 2.877x rounding down
finds no plan, keeping room runs out of room (its LP has no solution), and the fallback finds
the plan: the counts rounded up from the last LP that had one, trimmed a unit at a time until
no cap is past (`_RowCheck.trim`), fixed at once. (Rounding down every count pushing a cap and
re-solving, the fallback before it, found none here: the re-solve filled the caps again; HiGHS's
MIP then ran 277 s under a 100 s time limit.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

import planner
from planner.lp import incumbent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_lp import write_scenario  # noqa: E402


def test_a_power_bound_fleet_gets_a_rounded_plan(tmp_path: Path, monkeypatch) -> None:
    path = write_scenario(tmp_path, 20, 5, 12, 2, "1 quarter", "5 years", scale=2.877)
    sized_with = {
        "accelerators": {
            "trainium2": {
                "serving": {"step_overhead": "3.25 ms", "compute_utilisation": {"bf16": 0.40}}
            }
        },
        # the training models without their vocabulary: the output head spread over the layers;
        # the serving models' too (the input embedding then counted as a GEMM and read every
        # decode step, the output head run for every prompt token, as sized; DeepSeek-V3's MTP
        # module needs a vocabulary and goes with it: no tier here drafts)
        "models": {
            "llama-3.1-405b": {"vocab": None},
            "llama-3.1-70b": {"vocab": None},
            "llama-3.1-8b": {"vocab": None},
            "deepseek-v3": {"vocab": None, "mtp_layers": 0},
        },
    }
    (tmp_path / "trn2-sized.yaml").write_text(yaml.safe_dump(sized_with))
    doc = yaml.safe_load(path.read_text())
    doc["catalog"] = ["trn2-sized.yaml"]
    for spec in doc["workloads"].values():
        if spec["kind"] == "rl":
            spec["colocated"] = False  # as sized: no pace from a colocated update's refit
    path.write_text(yaml.safe_dump(doc))
    dives: list[tuple[bool, bool]] = []
    dive = incumbent._dive

    def recording(model, *args, reserve=False, **options):
        values = dive(model, *args, reserve=reserve, **options)
        dives.append((reserve, values is not None))
        return values

    monkeypatch.setattr(incumbent, "_dive", recording)
    rounded_down: list[bool] = []
    round_counts = incumbent._round_counts

    def rounding_down(*args, **options):
        rounded_down.append(bool(dives))  # after the first dive: the reserve dive's fallback
        return round_counts(*args, **options)

    monkeypatch.setattr(incumbent, "_round_counts", rounding_down)
    trimmed: list[bool] = []
    trim = incumbent._RowCheck.trim

    def trimming(self, *args):
        fixes = trim(self, *args)
        trimmed.append(fixes is not None)
        return fixes

    monkeypatch.setattr(incumbent._RowCheck, "trim", trimming)
    scenario = planner.load_scenario(path)
    plan = planner.solve(scenario)
    # Rounding down found no plan; keeping room ran out of room and the trimmed counts, fixed
    # at once, gave the plan within the gap (no MIP search ran, no count was rounded down).
    assert dives == [(False, False), (True, True)]
    assert trimmed == [True]
    assert rounded_down and True not in rounded_down  # in the first dive only
    assert plan.solver.proof == "rounded"
    assert plan.gap is not None and 0 < plan.gap <= scenario.data.solver.mip_gap
    caps_met = 0
    for site in scenario.topology.datacenters():
        dc = scenario.topology.site(site)
        for t in sorted({row.period for row in plan.schedule}):
            rows = [r for r in plan.schedule if r.datacenter == site and r.period == t]
            cpus = [r for r in plan.cpu_schedule if r.datacenter == site and r.period == t]
            assert all(r.units == round(r.units) for r in rows + cpus)  # whole units
            it_w = sum(r.units * scenario.catalog.system(r.system).power_w for r in rows)
            it_w += sum(r.units * scenario.catalog.system(r.system).power_w for r in cpus)
            cap_w = dc.power_cap_between(rows[0].start_s, rows[0].end_s)
            assert it_w * dc.pue <= cap_w * (1 + 1e-9)
            caps_met += it_w * dc.pue > cap_w * 0.99
    assert caps_met >= 20  # the caps bind (within 1%) in at least 20 site-quarters


def _two_row_model(solved: bool):
    """A HiGHS model of two columns x0, x1 and two rows: x0 + 2 x1 <= 10 (a cap) and
    x0 - x1 >= -1, held as the planner's Model holds it (model.prob.solverModel); HiGHS keeps
    the matrix by rows until it solves, by columns after."""
    import types

    import highspy
    import numpy as np

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.addVars(2, np.zeros(2), np.full(2, 100.0))
    highs.addRows(
        2,
        np.array([-highspy.kHighsInf, -1.0]),
        np.array([10.0, highspy.kHighsInf]),
        4,
        np.array([0, 2]),
        np.array([0, 1, 0, 1]),
        np.array([1.0, 2.0, 1.0, -1.0]),
    )
    if solved:
        highs.run()
    return types.SimpleNamespace(prob=types.SimpleNamespace(solverModel=highs))


@pytest.mark.parametrize("solved", [False, True])
def test_room_is_kept_for_what_rounding_pushes_past_a_bound(solved: bool) -> None:
    model = _two_row_model(solved)
    rows = incumbent._RowCheck(model)
    # LP values x = (3.5, 3.25): the cap row at exactly 10. Rounding x1 up to 4 pushes it 1.5
    # past; rounding x0 down to 3 would push the second row below -1 (3 - 4 = -1: within).
    assert rows.past([3.5, 3.25], {1: 4.0}) == {0: pytest.approx(1.5)}
    assert rows.past([3.5, 3.25], {0: 2.0, 1: 4.0}) == {1: pytest.approx(-1.0)}
    # An LP value already past the cap (by the solver's tolerance) counts from where it is.
    assert rows.past([3.5, 3.2500025], {1: 3.2500025}) == {}
    assert rows.past([3.5, 3.2500025], {0: 4.0}) == {0: pytest.approx(0.5)}
    # Keeping room lowers the upper bound (or raises the lower one) in HiGHS; zero puts it back.
    rows.tighten(model, {0: 1.5, 1: -1.0})
    lp = model.prob.solverModel.getLp()
    assert list(lp.row_upper_)[0] == 8.5 and list(lp.row_lower_)[1] == 0.0
    rows.tighten(model, {0: 0.0, 1: 0.0})
    lp = model.prob.solverModel.getLp()
    assert list(lp.row_upper_)[0] == 10.0 and list(lp.row_lower_)[1] == -1.0


def test_trimming_takes_units_off_where_they_relieve_most_per_unit_given_up() -> None:
    rows = incumbent._RowCheck(_two_row_model(solved=True))
    # Both rounded up: the cap row at 4 + 2 x 4 = 12, 2 past. A unit off x1 relieves 2 and gives
    # up 0.25 of the LP's units (3.25 -> 3), a unit off x0 relieves 1 for 0.5: x1 goes.
    assert rows.trim([3.5, 3.25], {0: 4.0, 1: 4.0}) == {0: 4.0, 1: 3.0}
    # x1 at 5 pushes the second row to 3.5 - 5 = -1.5 (below -1) and the cap to 13.5: two units
    # off x1 clear both.
    assert rows.trim([3.5, 3.25], {1: 5.0}) == {1: 3.0}
    # A row past only through a column the LP re-solves (x1 continuous, not rounded) is left to
    # it: x0 at 3 puts the second row at 3 - 4.5 = -1.5, and no count can lift it.
    assert rows.trim([3.5, 4.5], {0: 3.0}) == {0: 3.0}
