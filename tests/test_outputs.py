"""Outputs written whole or not at all, and write errors as one line with exit 1 (issue 16):
--out, --html, --plot, sweep outputs, a full disk, a folder that is not there, standard output
closed or full."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_site import write_site

import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_site(tmp_path)


def _one_line_error(err: str, *words: str) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], err


def _run(args: list[str], stdout=subprocess.PIPE, preexec_fn=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=300,
        check=False,
        preexec_fn=preexec_fn,
    )


def test_out_that_is_a_file_is_one_line_and_exit_1(scenario: Path, capsys) -> None:
    """--out names a path whose parent is a file: the folder cannot be created."""
    target = scenario.parent / "scenario.yaml" / "results"
    code = cli.main(["plan", str(scenario), "-q", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 1, err
    _one_line_error(err, str(target))


def test_html_in_a_missing_folder_is_one_line_and_leaves_nothing(scenario: Path, capsys) -> None:
    target = scenario.parent / "missing" / "plan.html"
    code = cli.main(["plan", str(scenario), "-q", "--html", str(target)])
    err = capsys.readouterr().err
    assert code == 1, err
    _one_line_error(err, str(target), "No such file or directory")
    assert not target.parent.exists()


def _limit_file_size() -> None:
    """The child may write files of at most 2 kB (EFBIG past it, instead of SIGXFSZ): a disk
    that fills in the middle of plan.json."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))


def test_a_write_that_fails_midway_keeps_the_old_file_whole(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    old = '{"old": "plan"}\n'
    (out / "plan.json").write_text(old, encoding="utf-8")
    run = _run(["plan", str(scenario), "-q", "--out", str(out)], preexec_fn=_limit_file_size)
    assert run.returncode == 1, run.stderr
    _one_line_error(run.stderr, "plan.json")
    assert (out / "plan.json").read_text(encoding="utf-8") == old
    assert sorted(p.name for p in out.iterdir()) == ["plan.json"]  # no temporary file left


def test_outputs_are_whole_and_complete(scenario: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    html = tmp_path / "plan.html"
    assert cli.main(["plan", str(scenario), "-q", "--out", str(out), "--html", str(html)]) == 0
    capsys.readouterr()
    assert (out / "plan.json").read_text(encoding="utf-8").endswith("}\n")
    assert html.read_text(encoding="utf-8").endswith("</html>\n")
    assert not [p for p in tmp_path.rglob("*.tmp")]
    mode = (out / "plan.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # the permissions of a plainly written file


def test_sweep_plot_in_a_missing_folder_is_one_line_and_exit_1(scenario: Path, capsys) -> None:
    target = scenario.parent / "missing" / "cost.png"
    args = ["sweep", str(scenario), "--set", "economics.pricing=amortised", "--no-cache"]
    code = cli.main([*args, "--plot", str(target)])
    err = capsys.readouterr().err
    assert code == 1, err
    _one_line_error(err, str(target))


def test_sweep_out_that_cannot_be_a_folder_is_one_line_and_exit_1(scenario: Path, capsys) -> None:
    target = scenario / "results"  # under a file
    args = ["sweep", str(scenario), "--set", "economics.pricing=amortised"]
    for cache in ([], ["--no-cache"]):  # the cache lives under --out too
        code = cli.main([*args, *cache, "--out", str(target)])
        err = capsys.readouterr().err
        assert code == 1, err
        _one_line_error(err, str(target))


def test_stdout_closed_by_the_reader_is_one_line_and_exit_1() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "hardware", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away (`planner ... | head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, err
    _one_line_error(err, "standard output", "closed")


def test_stdout_not_open_is_one_line_and_exit_1(scenario: Path) -> None:
    run = _run(["plan", str(scenario), "--json"], preexec_fn=lambda: os.close(1))
    assert run.returncode == 1, run.stderr
    _one_line_error(run.stderr, "standard output is closed")


def test_stdout_on_a_full_disk_is_one_line_and_exit_1(scenario: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        run = _run(["plan", str(scenario), "--json"], stdout=full)
    assert run.returncode == 1, run.stderr
    _one_line_error(run.stderr, "No space left on device")
