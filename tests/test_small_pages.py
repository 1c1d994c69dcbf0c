"""planner/lp/solve.py `small_pages`: numpy's huge-page advice off while the fast path
(`_solve_fast`) runs, put back as it was after, nested and threaded uses counted; the plan the
same with or without it (the same arrays on other pages: compared here on the forced fast path
of tests/test_fast_bound.py's 4-site fleet)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_fast_bound import fleet

from planner.lp import solve as solve_module
from planner.lp.solve import small_pages

setting = np._core.multiarray._set_madvise_hugepage


def _now() -> bool:
    """numpy's setting as it is (read by setting it back)."""
    was = setting(True)
    setting(was)
    return bool(was)


@pytest.fixture
def huge_pages_on():
    was = setting(True)
    yield
    setting(was)


def test_off_inside_and_put_back_after(huge_pages_on) -> None:
    assert _now() is True
    with small_pages():
        assert _now() is False
        with small_pages():
            assert _now() is False
        assert _now() is False  # the inner one does not put it back
    assert _now() is True


def test_put_back_as_it_was_when_already_off() -> None:
    was = setting(False)
    try:
        with small_pages():
            assert _now() is False
        assert _now() is False
    finally:
        setting(was)


def test_put_back_after_an_exception(huge_pages_on) -> None:
    with pytest.raises(RuntimeError), small_pages():
        raise RuntimeError("inside")
    assert _now() is True


def test_threads_leave_it_as_it_was(huge_pages_on) -> None:
    inside = threading.Barrier(2)
    seen: list[bool] = []

    def work() -> None:
        with small_pages():
            inside.wait()  # both inside at once
            seen.append(_now())
            inside.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [False, False]
    assert _now() is True


def test_without_numpys_setting_nothing_is_done(monkeypatch, huge_pages_on) -> None:
    monkeypatch.delattr(np._core.multiarray, "_set_madvise_hugepage")
    with small_pages():
        pass
    monkeypatch.undo()
    assert _now() is True


def _fast_plan(monkeypatch, pages: bool):  # noqa: ANN001, ANN202
    """The forced fast path's plan on the 4-site fleet, with small_pages as it is or a no-op;
    numpy's setting seen inside _solve_fast."""
    monkeypatch.setattr(solve_module, "FAST_BOUND_COLUMNS", 0)
    if not pages:
        import contextlib

        monkeypatch.setattr(solve_module, "small_pages", contextlib.nullcontext)
    seen: list[bool] = []
    original = solve_module._solve_fast

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(_now())
        return original(*args, **kwargs)

    monkeypatch.setattr(solve_module, "_solve_fast", spy)
    model = fleet(10.0)
    stats = solve_module.solve_model(model, "highs", 0.01, 60.0, "choose", relax_only=False)
    values = [col.varValue for col in model.prob.variables()]
    monkeypatch.undo()
    return stats, values, seen


def test_the_fast_path_runs_on_small_pages_and_plans_the_same(monkeypatch, huge_pages_on) -> None:
    stats, values, seen = _fast_plan(monkeypatch, pages=True)
    assert seen == [False]
    assert _now() is True
    assert stats.proof == "rounded-aggregated"
    base_stats, base_values, base_seen = _fast_plan(monkeypatch, pages=False)
    assert base_seen == [True]
    assert values == base_values
    assert (stats.objective_usd, stats.lower_bound_usd, stats.gap) == (
        base_stats.objective_usd,
        base_stats.lower_bound_usd,
        base_stats.gap,
    )


def test_numpy_1_x_setting_is_found(monkeypatch, huge_pages_on) -> None:
    """review21: on numpy 1.x (pyproject allows 1.26) the switch is numpy.core.multiarray's and
    the numpy module has no `_core` attribute; small_pages turned nothing off there. Here numpy
    1.26's layout is imitated: no np._core, a np.core.multiarray with a recording switch."""
    import types

    calls: list[bool] = []
    state = {"on": True}

    def switch(enabled: bool) -> bool:
        calls.append(enabled)
        was, state["on"] = state["on"], bool(enabled)
        return was

    monkeypatch.delattr(np, "_core")
    monkeypatch.setattr(np, "__version__", "1.26.4")
    fake = types.SimpleNamespace(multiarray=types.SimpleNamespace(_set_madvise_hugepage=switch))
    monkeypatch.setattr(np, "core", fake, raising=False)
    with small_pages():
        assert state["on"] is False
    assert state["on"] is True and calls == [False, True]
    monkeypatch.undo()
    assert _now() is True


def test_numpy_2_does_not_read_the_deprecated_core(monkeypatch, huge_pages_on) -> None:
    """On numpy 2 a missing switch in numpy._core is not looked up in the deprecated numpy.core
    alias: nothing is done."""
    import types

    monkeypatch.delattr(np._core.multiarray, "_set_madvise_hugepage")
    fake = types.SimpleNamespace(
        multiarray=types.SimpleNamespace(_set_madvise_hugepage=lambda _e: pytest.fail("read"))
    )
    monkeypatch.setattr(np, "core", fake, raising=False)
    with small_pages():
        pass
    monkeypatch.undo()
    assert _now() is True
