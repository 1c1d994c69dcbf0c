"""A fleet whose power cap binds still gets a rounded plan (planner/lp/incumbent.py): when
rounding down the counts that push the cap leaves too little to serve the work, room is kept in
the cap (`_reserve_counts`); when that runs out of room too, the counts rounded up from the last
LP that had a solution are trimmed a unit at a time (`_RowCheck.trim`) and fixed at once.

Constructed so that the path is the arithmetic's, not a knife edge of the physics (the test this
replaces sized bench_lp.py's 20-site fleet to sit at its caps, and every serving-rate change
moved it off the path): one site, two systems that run the same 8xH100 server, so every role
runs at the same rate on both, `hgx-h100` (10.2 kW) and a test system `hgx-h100-hot` drawing
twice the power (20.4 kW) for a fifth of the price. The demand is scaled from the relaxation's
own unit count so that the tier needs U = 9.75 servers, and the cap is set to
PUE x (10.2 kW x (U - 0.4) + 20.4 kW x 0.4): the LP then runs as many cheap hot servers as the
cap allows, its vertex nA + nB = U and 10.2 nA + 20.4 nB = cap/PUE, i.e. nA = 9.35, nB = 0.4.
By hand:
- rounding down (the first dive): both counts push the cap when rounded up (10 x 10.2 + 20.4 =
  122.4 kW > 103.53 kW), so both are rounded down to 9 and 0: 9 < 9.75 servers, no plan;
- keeping room (the second dive): the room to the cheapest floors is 3.57 + 8.16 = 11.73 kW,
  less than the 18.87 kW past, so the cap is lowered by 18.87 kW to 84.66 kW, below the
  9.75 x 10.2 = 99.45 kW the cheapest-power fleet needs: no LP; the excess alone is the same;
- trimming: a unit off hgx-h100 (10 -> 9) gives up 0.35 of the LP's units for 10.2 kW
  (0.034 per kW), a unit off the hot one (1 -> 0) 0.4 for 20.4 kW (0.020 per kW): the hot
  one goes, and 10 x 10.2 = 102 kW fits the cap: the plan is 10 hgx-h100 and no hot server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import planner
from planner.lp import incumbent

HOT_KW, COOL_KW, PUE = 20.4, 10.2, 1.2
NEEDED, HOT_LP = 9.75, 0.4  # servers the tier needs; hot servers the LP runs at the cap


def _write(directory: Path, cap_kw: float, requests_per_day: float) -> Path:
    catalog = yaml.safe_load(
        (Path(planner.__file__).parents[1] / "hardware/data/systems.yaml").read_text()
    )
    hot = dict(catalog["systems"]["hgx-h100"])
    hot.update(
        power=f"{HOT_KW} kW",
        capex_usd=60_000,
        description="test: an 8xH100 server drawing twice the power for a fifth of the price",
        source="test",
    )
    hot.pop("sources", None)
    hot.pop("ranges", None)
    (directory / "hot.yaml").write_text(yaml.safe_dump({"systems": {"hgx-h100-hot": hot}}))
    site = {
        "power_cap": f"{cap_kw / 1000:.9f} MW",
        "pue": PUE,
        "electricity_usd_per_kwh": 0.07,
        "systems": {"hgx-h100": {"max_units": 50}, "hgx-h100-hot": {"max_units": 50}},
    }
    topology = {"name": "t", "description": "one capped site", "source": "tests"}
    topology.update(datacenters={"dc-a": site}, links=[])
    (directory / "topo.yaml").write_text(yaml.safe_dump(topology))
    chat = {
        "kind": "inference",
        "model": "llama-3.1-8b",
        "precision": "fp8",
        "requests_per_day": requests_per_day,
        "prompt_tokens": 1000,
        "output_tokens": 500,
        "tokens_per_s_per_user": 30,
    }
    scenario = {
        "topology": "topo.yaml",
        "catalog": ["hot.yaml"],
        "economics": {"horizon": "365 days", "pricing": "amortised"},
        "solver": {"incumbent": True, "mip_gap": 0.2},
        "workloads": {"chat": chat},
    }
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def _units(plan) -> dict[str, float]:
    return {row.system: row.units for row in plan.fleet}


def test_a_power_bound_site_gets_a_rounded_plan(tmp_path: Path, monkeypatch) -> None:
    # Uncapped, the hot server is the cheaper one: the relaxation's unit count at 100M a day
    # scales the demand to NEEDED servers (the rates are linear in the requests).
    probe = planner.solve(planner.load_scenario(_write(tmp_path, 1e6, 100e6)), relax=True)
    assert _units(probe).get("hgx-h100", 0.0) == pytest.approx(0.0, abs=1e-9)
    servers = sum(_units(probe).values())
    cap_kw = PUE * (COOL_KW * (NEEDED - HOT_LP) + HOT_KW * HOT_LP)
    path = _write(tmp_path, cap_kw, 100e6 * NEEDED / servers)
    relaxed = _units(planner.solve(planner.load_scenario(path), relax=True))
    assert relaxed["hgx-h100"] == pytest.approx(NEEDED - HOT_LP, abs=1e-6)  # 9.35
    assert relaxed["hgx-h100-hot"] == pytest.approx(HOT_LP, abs=1e-6)

    dives: list[tuple[bool, bool]] = []
    dive = incumbent._dive

    def recording(model, *args, reserve=False, **options):
        values = dive(model, *args, reserve=reserve, **options)
        dives.append((reserve, values is not None))
        return values

    monkeypatch.setattr(incumbent, "_dive", recording)
    trimmed: list[dict[int, float] | None] = []
    trim = incumbent._RowCheck.trim

    def trimming(self, *args):
        fixes = trim(self, *args)
        trimmed.append(fixes)
        return fixes

    monkeypatch.setattr(incumbent._RowCheck, "trim", trimming)
    scenario = planner.load_scenario(path)
    plan = planner.solve(scenario)
    # Rounding down found no plan; keeping room ran out of room; trimming found the plan.
    assert dives == [(False, False), (True, True)]
    assert len(trimmed) == 1 and trimmed[0] is not None
    assert sorted(trimmed[0].values()) == [0.0, 10.0]  # the counts trimmed: 10 and 0
    assert _units(plan) == {"hgx-h100": 10.0, "hgx-h100-hot": 0.0}
    assert plan.solver.proof == "rounded"
    assert plan.gap is not None and 0 < plan.gap <= 0.2
    # The plan's power, recomputed from its fleet and the catalog, within the cap.
    it_w = sum(row.units * scenario.catalog.system(row.system).power_w for row in plan.fleet)
    assert it_w == pytest.approx(10 * COOL_KW * 1000)
    assert it_w * PUE <= cap_kw * 1000 * (1 + 1e-9)


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
