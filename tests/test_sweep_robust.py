"""A sweep survives a malformed cache entry (recomputed and reported), and an unreachable Ray
cluster is a clear error within a stated time, not a hang (issue 16)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from tiny_site import write_site

import cli
from planner.rayconnect import RAY_CONNECT_TIMEOUT_S, RayUnreachable, connect

SWEEP = ["--set", "economics.pricing=amortised,rental"]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_site(tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: json.dumps({**entry, "outputs": {}}),  # valid JSON, not an entry
        lambda entry: json.dumps({**entry, "plan": "not a plan"}),
        lambda entry: json.dumps([entry]),
        lambda entry: json.dumps(entry)[:40],  # truncated
    ],
    ids=["empty-outputs", "plan-not-a-dict", "a-list", "truncated"],
)
def test_a_malformed_cache_entry_is_recomputed_and_reported(
    scenario: Path, tmp_path: Path, capsys, damage
) -> None:
    out = tmp_path / "results"
    assert cli.main(["sweep", str(scenario), *SWEEP, "--out", str(out)]) == 0
    capsys.readouterr()
    first = (out / "sweep.json").read_text(encoding="utf-8")
    entries = sorted((out / ".cache").glob("*.json"))
    assert len(entries) == 2
    broken = entries[0]
    broken.write_text(damage(json.loads(broken.read_text(encoding="utf-8"))), encoding="utf-8")

    code = cli.main(["sweep", str(scenario), *SWEEP, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert f"malformed cache entry {broken}" in err
    assert "1 solved in this run, 1 reused from the cache" in err
    assert (out / "sweep.json").read_text(encoding="utf-8") == first
    repaired = json.loads(broken.read_text(encoding="utf-8"))
    assert repaired["outputs"]["status"] == "optimal"  # the entry is rewritten whole


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the block ends: nothing listens there


def test_an_unreachable_ray_address_is_a_clear_error(scenario: Path, capsys) -> None:
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_closed_port()}"
    args = ["sweep", str(scenario), *SWEEP, "--executor", "ray", "--ray-address", address]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert f"cannot reach the Ray cluster at {address}" in err
    assert f"waited up to {RAY_CONNECT_TIMEOUT_S:g} s" in err


class _SilentRay:
    """A Ray whose init never returns (a cluster that accepts the connection, then is silent)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def init(self, **_kwargs) -> None:
        self.release.wait()


def test_ray_init_that_never_returns_fails_within_the_timeout() -> None:
    ray = _SilentRay()
    try:
        with pytest.raises(RayUnreachable, match="no answer"):
            connect(ray, {"address": "auto"}, timeout_s=0.2)
    finally:
        ray.release.set()
