"""solve.py `_cores_on_no_unit`: sandbox cores left on no unit are repaired when they are real
work (tests/test_rl_tiny_sandboxes.py: 2.3e-5 cores on 9.5e-9 of a rented rack, a rental the
plan charged), not when they are the LP's feasibility tolerance: the 100-site bench fleet's
rounded plan left 3.6e-8 cores at a site whose supply columns were all exactly 0, and the fast
path then handed a 429k-column model to the full path, which found no plan in 300 s (bench_lp
--sites 100 --scale 1.2: a TimeLimitError since session 26's cost changes, 39 s with this)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from planner.lp.solve import _cores_on_no_unit


@dataclass(frozen=True)
class _Var:
    name: str
    val: float

    def value(self) -> float:
        return self.val


@dataclass(frozen=True)
class _Label:
    family: str


class _Row:
    constant = -0.0

    def __init__(self, terms: list[tuple[_Var, float]]) -> None:
        self.terms = terms

    def items(self) -> list[tuple[_Var, float]]:
        return self.terms


class _Model:
    def __init__(self, cores_used: float, rack_rented: float) -> None:
        self.core = _Var("k1", cores_used)
        self.rack = _Var("r1", rack_rented)
        self.cpu_server = _Var("m1", 0.0)
        self.cores = {("rl", "sandbox", "s0", 0): self.core}
        self.constraints = {
            _Label("cpu"): _Row([(self.core, 1.0), (self.rack, -2592.0), (self.cpu_server, -192.0)])
        }


@pytest.mark.parametrize(
    ("cores", "rack", "repaired"),
    [
        (3.6e-8, 0.0, False),  # the 100-site fleet: the LP's tolerance, nothing charged
        (2.3e-5, 0.0, True),  # real sandbox work with no unit under it
        (2.3e-5, 9.5e-9, True),  # test_rl_tiny_sandboxes: a sliver of a rented rack charged
        (0.0, 0.0, False),
    ],
)
def test_sandbox_cores_on_no_unit_are_repaired_when_they_are_work(
    cores: float, rack: float, repaired: bool
) -> None:
    model = _Model(cores, rack)
    found = _cores_on_no_unit(model)  # type: ignore[arg-type]
    assert bool(found) == repaired
    if repaired:
        assert found == [[(model.rack, 1.0), (model.cpu_server, 1.0)]]
