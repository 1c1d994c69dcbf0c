"""Inputs that cannot hurt the machine, paths that mean what they say, numbers read one way.

Regression tests for issue 16 (items 3 and 6 and the input failures it lists): YAML alias
bombs, recursive aliases, deep nesting, oversized files, devices and FIFOs as input paths,
YAML 1.1 numbers (`1,5M`, `1:40`, `0500`), duplicate keys; --topology and --set paths relative
to the working directory, presets never shadowed by a stray file; `estimate` numbers that are
negative or overflow; the --gap target in the plan. Every error exits 1 with
`file:line: path: message` and no traceback; the hostile inputs end (a 30 s guard catches a
hang) within bounded memory. Their time against the issue's 2 s bar is measured, not asserted
(machines here are shared): `python bench/bench_hostile.py`.

Like tests/test_bad_input.py, a `# <-` marker ends the line an error must name.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import cli
from fleetcore import yamlio
from fleetcore.units import parse_count, parse_quantity
from planner.scenario import load_scenario

MARK = "# <-"

SCENARIO = textwrap.dedent(
    """\
    description: "tiny scenario for input-safety tests"
    topology: topo.yaml
    economics:
      horizon: 365 days
      pricing: amortised
    workloads:
      chat:
        kind: inference
        model: llama-3.1-8b
        precision: fp8
        requests_per_day: 1M
        prompt_tokens: 1000
        output_tokens: 500
        tokens_per_s_per_user: 30
    """
)

TOPOLOGY = textwrap.dedent(
    """\
    name: {name}
    description: "one site"
    source: "illustrative; input-safety tests"
    datacenters:
      dc-a:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {{max_units: 50}}
    """
)

# Nine levels of nine aliases each: 9**9 (387 million) strings once expanded.
BOMB = textwrap.dedent(
    """\
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    """
)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid scenario and topology in tmp_path, which is also the working directory."""
    (tmp_path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "topo.yaml").write_text(TOPOLOGY.format(name="tiny"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def within_2s() -> Iterator[None]:
    """Fail (instead of hanging) when the test takes more than 30 s: a FIFO opened for reading
    blocks until a writer comes; /dev/zero never ends. (The name keeps the issue's 2 s bar in
    view; the time itself is measured in bench/bench_hostile.py, not asserted on a shared
    machine.)"""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("took more than 30 s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def marked_line(text: str) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if MARK in line]
    assert len(lines) == 1, "mark exactly one line"
    return lines[0]


def assert_reported(err: str, file: str, line: int | None, path: str, message: str) -> None:
    where = re.escape(file) + (f":{line}:" if line is not None else ":")
    field = f" {re.escape(path)}:" if path else ""
    pattern = rf"(^|[/\\]){where}{field} .*{re.escape(message)}"
    assert re.search(pattern, err, re.MULTILINE), f"expected {pattern!r} in:\n{err}"


def mark(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, f"{new}  {MARK}")


# ---- YAML that would exhaust memory, recurse or never end -------------------------------------


def bomb_in(site: Path, where: str) -> tuple[list[str], str]:
    """The bomb appended to the scenario, the topology or a --catalog overlay; (args, file)."""
    if where == "catalog":
        (site / "bomb.yaml").write_text(BOMB, encoding="utf-8")
        return ["estimate", "kv", "--model", "llama-3.1-8b", "--tokens", "1K", "--batch", "1",
                "--catalog", "bomb.yaml"], "bomb.yaml"  # fmt: skip
    name = {"scenario": "scenario.yaml", "topology": "topo.yaml"}[where]
    path = site / name
    path.write_text(path.read_text(encoding="utf-8") + BOMB, encoding="utf-8")
    return ["validate", "scenario.yaml"], name


@pytest.mark.parametrize("where", ["scenario", "topology", "catalog"])
def test_alias_bomb_is_refused_quickly_naming_file_and_line(
    site: Path, capsys: pytest.CaptureFixture[str], within_2s: None, where: str
) -> None:
    args, file = bomb_in(site, where)
    tracemalloc.start()
    try:
        code, _, err = run(capsys, *args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 1, err
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"
    # The alias use that passes the limit: the 6th line of the bomb (9**5 values by then).
    line = len((site / file).read_text(encoding="utf-8").splitlines()) - 3
    assert_reported(err, file, line, "", f"more than {yamlio.MAX_VALUES:,} values")


CHILD = """
import resource, sys, time
import cli
worst = 0.0
for path in sys.argv[1:]:
    started = time.perf_counter()
    code = cli.main(["validate", path])
    worst = max(worst, time.perf_counter() - started)
    assert code == 1, (path, code)
# The peak of this process's own memory (ru_maxrss would include the parent's before exec).
try:
    status = open("/proc/self/status").read().splitlines()
    peak_kb = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(worst, peak_kb)
"""


def test_hostile_inputs_end_within_200mb_in_one_process(site: Path) -> None:
    # The bar for the whole process (libyaml's memory included, which tracemalloc does
    # not see): a 10-line alias bomb, /dev/zero, a FIFO and a 1 GB file.
    (site / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    os.mkfifo(site / "pipe.yaml")
    with open(site / "big.yaml", "wb") as handle:
        handle.truncate(2**30)
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parent)}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "bomb.yaml", "/dev/zero", "pipe.yaml", "big.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    _, max_rss_kb = result.stdout.split()
    assert int(max_rss_kb) < 200_000


def test_aliases_within_the_limit_still_work(tmp_path: Path) -> None:
    text = "base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: [*b, *b]\n"
    doc = yamlio.parse_yaml(text, "f.yaml")
    assert doc.data["one"] == doc.data["two"][1] == {"x": 1, "y": [1, 2]}
    doc.data["one"]["x"] = 5  # copies, not shared objects
    assert doc.data["base"]["x"] == 1
    # Values inside an alias keep the lines of their anchor; the alias itself its own line.
    assert doc.where(("two", 1, "y"))[1] == 1
    assert doc.where(("one",))[1] == 2


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]  # <-\n", "a: 1\nb: &b\n  c: &c\n    d: *b  # <-\n"],
    ids=["list", "mapping"],
)
def test_recursive_alias_is_an_error_not_a_recursion_error(
    site: Path, capsys: pytest.CaptureFixture[str], within_2s: None, text: str
) -> None:
    (site / "scenario.yaml").write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", "scenario.yaml")
    assert code == 1, err
    assert_reported(err, "scenario.yaml", marked_line(text), "", "recursive alias")


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_an_error_not_a_recursion_error(
    site: Path, capsys: pytest.CaptureFixture[str], within_2s: None, style: str
) -> None:
    levels = 5000 if style == "flow" else 600
    if style == "flow":
        text = "description: x\nnest: " + "[" * levels + "]" * levels + "\n"
        line = 2
    else:
        text = "description: x\nnest:\n" + "".join(
            f"{'  ' * (i + 1)}k{i}:\n" for i in range(levels)
        )
        line = 2 + yamlio.MAX_DEPTH  # the mapping that opens level MAX_DEPTH + 1
    (site / "scenario.yaml").write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", "scenario.yaml")
    assert code == 1, err
    assert_reported(err, "scenario.yaml", line, "", f"nested deeper than {yamlio.MAX_DEPTH}")


def test_a_deep_set_path_is_an_error_not_a_recursion_error(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = "topology_changes." + ".".join(["a"] * 3000) + "=1"
    code, _, err = run(capsys, "validate", "scenario.yaml", "--set", item)
    assert code == 1, err
    assert f"more than {yamlio.MAX_DEPTH} fields" in err


def test_nesting_through_aliases_counts_too(tmp_path: Path) -> None:
    deep = "[" * 30 + "]" * 30
    text = f"a: &a {deep}\nb: &b [[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]\n"
    with pytest.raises(yamlio.ConfigError, match="nested deeper than 50 levels"):
        yamlio.parse_yaml(text, "f.yaml")


def test_oversized_file_is_refused_without_reading_it(
    site: Path, capsys: pytest.CaptureFixture[str], within_2s: None
) -> None:
    # A sparse 1 GB file: no disk space used, and nothing of it may be read.
    with open(site / "big.yaml", "wb") as handle:
        handle.truncate(2**30)
    code, _, err = run(capsys, "validate", "big.yaml")
    assert code == 1, err
    assert_reported(err, "big.yaml", None, "", "file is too large (1,073,741,824 bytes")


def test_a_file_just_under_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    text = "a: 1\n"
    path.write_text(text + "#" * (yamlio.MAX_FILE_BYTES - len(text) - 1) + "\n")
    assert yamlio.load_yaml(path).data == {"a": 1}
    path.write_text(text + "#" * (yamlio.MAX_FILE_BYTES - len(text)) + "\n")
    with pytest.raises(yamlio.ConfigError, match="too large"):
        yamlio.load_yaml(path)


def test_merging_a_large_overlay_is_linear(tmp_path: Path) -> None:
    # A catalog overlay of many entries within the limits (here 3,000 over 3,000) used to take
    # seconds to merge: every key rescanned every line of the document.
    # Measured as a ratio in one run (10x the entries must cost well under 100x: quadratic
    # would be ~100x), not a wall-clock limit.
    def docs(n: int) -> tuple[yamlio.Doc, yamlio.Doc]:
        base = yamlio.parse_yaml(
            "models:\n" + "".join(f"  a{i}: {{x: 1, y: [1, 2]}}\n" for i in range(n)), "base.yaml"
        )
        overlay = yamlio.parse_yaml(
            "models:\n" + "".join(f"  b{i}: {{x: 2, y: [3]}}\n" for i in range(n)), "over.yaml"
        )
        return base, overlay

    def seconds(n: int) -> float:
        base, overlay = docs(n)
        # the cycle collector's passes grow with the live objects (superlinear, and the
        # noise this ratio flaked on under load): off while timing the merge itself
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            yamlio.merge(base, overlay)
            return time.perf_counter() - started
        finally:
            gc.enable()

    small = min(seconds(300) for _ in range(5))
    large = min(seconds(3000) for _ in range(3))
    assert large / small < 40, f"10x the entries took {large / small:.0f}x as long"
    merged = yamlio.merge(*docs(3000))
    assert len(merged.data["models"]) == 6000
    assert merged.where(("models", "b2999", "y", 0))[:2] == ("over.yaml", 3001)
    assert merged.where(("models", "a0", "x"))[:2] == ("base.yaml", 2)


def device_or_fifo(site: Path, kind: str) -> str:
    if kind == "fifo":
        os.mkfifo(site / "pipe.yaml")
        return str(site / "pipe.yaml")
    return f"/dev/{kind}"


@pytest.mark.parametrize("kind", ["zero", "urandom", "fifo"])
@pytest.mark.parametrize("role", ["scenario", "topology-option", "topology-field", "catalog"])
def test_devices_and_fifos_are_refused_without_reading(
    site: Path, capsys: pytest.CaptureFixture[str], within_2s: None, kind: str, role: str
) -> None:
    path = device_or_fifo(site, kind)
    if role == "scenario":
        args, file = ["validate", path], path
    elif role == "topology-option":
        args, file = ["validate", "scenario.yaml", "--topology", path], "<--topology>"
    elif role == "topology-field":
        text = mark(SCENARIO, "topology: topo.yaml", f"topology: {path}")
        (site / "scenario.yaml").write_text(text, encoding="utf-8")
        # A file named in the scenario is the scenario line's error.
        args, file = ["validate", "scenario.yaml"], f"scenario.yaml:{marked_line(text)}"
    else:
        args = ["estimate", "kv", "--model", "llama-3.1-8b", "--tokens", "1K", "--batch", "1"]
        args, file = [*args, "--catalog", path], path
    code, _, err = run(capsys, *args)
    assert code == 1, err
    assert "not a regular file" in err, err
    assert re.search(rf"(^|[/\\]){re.escape(file)}:", err, re.MULTILINE), err


def test_a_directory_is_refused(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "dir.yaml").mkdir()
    code, _, err = run(capsys, "validate", "scenario.yaml", "--topology", "dir.yaml")
    assert code == 1, err
    assert "is a directory" in err


def test_binary_and_control_characters_are_errors_with_a_line(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "latin1.yaml").write_bytes(b"description: caf\xe9\n")
    code, _, err = run(capsys, "validate", "latin1.yaml")
    assert code == 1, err
    assert_reported(err, "latin1.yaml", None, "", "not UTF-8 text (byte 17)")
    (site / "nul.yaml").write_bytes(b"description: x\ntopology: a\x00b\n")
    code, _, err = run(capsys, "validate", "nul.yaml")
    assert code == 1, err
    assert_reported(err, "nul.yaml", 2, "", "character #x0000 is not allowed")


# Fragments a hurried edit or a hostile file might insert.
FRAGMENTS = [
    "&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\t", "'", '"', "!!int ", "!!str ", "? ",
    "<<: ", "---\n", "0500", "1:40", "1,5M", ".inf", "~", "\n  ", "1e308", "-1", "&b [*a, *a]",
    "*b", "99999999999999999999", "\x00", "|\n", "!!python/object:os.system ",
]  # fmt: skip


def mutations(seed: int, count: int) -> Iterator[tuple[str, str]]:
    """(file name, mutated text) of the shipped scenario and topology, reproducibly."""
    rng = random.Random(seed)
    root = Path(cli.__file__).parent
    bases = {
        "scenario.yaml": (root / "planner/scenarios/frontier-lab.yaml").read_text(),
        "topo.yaml": (root / "topologies/presets/multi-dc.yaml").read_text(),
    }
    for _ in range(count):
        name = rng.choice(sorted(bases))
        text = bases[name]
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.6:
                text = text[:at] + rng.choice(FRAGMENTS) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 12) :]
        yield name, text


def test_mutated_shipped_files_never_crash_the_loader(tmp_path: Path) -> None:
    for name, text in mutations(seed=1, count=500):
        try:
            yamlio.parse_yaml(text, name)
        except yamlio.ConfigError as exc:
            assert all(p.file == name and p.message for p in exc.problems), str(exc)


def test_mutated_shipped_files_exit_0_or_1_with_file_and_line(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_text = (Path(cli.__file__).parent / "planner/scenarios/frontier-lab.yaml").read_text()
    for name, text in mutations(seed=2, count=60):
        (site / "scenario.yaml").write_text(
            scenario_text.replace("topology: multi-dc", "topology: topo.yaml"), encoding="utf-8"
        )
        (site / "topo.yaml").write_text(
            (Path(cli.__file__).parent / "topologies/presets/multi-dc.yaml").read_text()
        )
        if name == "scenario.yaml":
            text = text.replace("topology: multi-dc", "topology: topo.yaml")
        (site / name).write_text(text, encoding="utf-8")
        code, _, err = run(capsys, "validate", "scenario.yaml")
        assert code in (0, 1), err
        if code == 1:
            # Every problem names a file (a line where the file has one).
            for line in err.splitlines()[:-1]:
                assert re.match(r"(scenario\.yaml|topo\.yaml|<--[^>]*>)(:\d+)?: ", line), err


# ---- Numbers by this project's rules, not YAML 1.1's ------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        # A YAML string, read by fleetcore.units: a decimal comma was taken for thousands.
        ("requests_per_day: 1M", "requests_per_day: 1,5M", "requests_per_day", "'1,5M'"),
        # Base 60 (YAML 1.1: 100).
        ("output_tokens: 500", "output_tokens: 1:40", "output_tokens", "'1:40' is not a number"),
        # Octal (YAML 1.1: 320).
        ("prompt_tokens: 1000", "prompt_tokens: 0500", "prompt_tokens", "'0500' is not a number"),
        ("prompt_tokens: 1000", "prompt_tokens: 0x3e8", "prompt_tokens", "'0x3e8' is not a number"),
        ("output_tokens: 500", "output_tokens: 5_00", "output_tokens", "'5_00' is not a number"),
        (
            "tokens_per_s_per_user: 30",
            "tokens_per_s_per_user: .inf",
            "tokens_per_s_per_user",
            "'.inf' is not a number",
        ),  # fmt: skip
        ("requests_per_day: 1M", "requests_per_day: '0500'", "requests_per_day", "'0500'"),
        ("horizon: 365 days", "horizon: 1e308 days", "horizon", "too large"),
    ],
    ids=[
        "comma-1,5M",
        "sexagesimal",
        "octal",
        "hex",
        "underscore",
        "inf",
        "quoted-octal-count",
        "overflowing-quantity",
    ],  # fmt: skip
)
def test_yaml11_numbers_are_errors_naming_the_value(
    site: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, path: str, message: str
) -> None:
    text = mark(SCENARIO, old, new)
    (site / "scenario.yaml").write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", "scenario.yaml")
    assert code == 1, err
    prefix = "economics" if path == "horizon" else "workloads.chat"
    assert_reported(err, "scenario.yaml", marked_line(text), f"{prefix}.{path}", message)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0500", "'0500' is not a number"), ("1:40", "'1:40' is not a number"), ("1,5M", "'1,5M'")],
)
def test_set_values_follow_the_same_rules(
    site: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    item = f"workloads.chat.requests_per_day={value}"
    code, _, err = run(capsys, "validate", "scenario.yaml", "--set", item)
    assert code == 1, err
    assert_reported(err, f"<--set {item}>", None, "workloads.chat.requests_per_day", message)


def test_plain_numbers_still_read(tmp_path: Path) -> None:
    text = (
        "a: 500\nb: -2\nc: 0.5\nd: 1.5e9\ne: 1e-3\nf: 1_000_000\ng: 0\nh: '0500'\ni: !!str 0500\n"
        "j: 15T\nk: true\nl: ~\nm: 2024-01-01\nn: 1,000\n0500: key\n"
    )
    data = yamlio.parse_yaml(text, "f.yaml").data
    assert data == {
        "a": 500, "b": -2, "c": 0.5, "d": 1.5e9, "e": 1e-3, "f": 1_000_000, "g": 0, "h": "0500",
        "i": "0500", "j": "15T", "k": True, "l": None, "m": "2024-01-01", "n": "1,000",
        "0500": "key",
    }  # fmt: skip
    assert isinstance(data["a"], int) and isinstance(data["d"], float)
    assert parse_count("1,000,000") == parse_count("1_000") * 1000 == 1e6
    assert parse_quantity("1,000 W", "power") == 1000.0
    for bad in ("1,5M", "0500", "1,0000", "1_0", "00.5", "1e308T", "\u0661\u0662"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_count(bad)


def test_duplicate_key_names_the_second_line(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SCENARIO.replace(
        "    output_tokens: 500\n", f"    output_tokens: 500\n    output_tokens: 600  {MARK}\n"
    )
    (site / "scenario.yaml").write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", "scenario.yaml")
    assert code == 1, err
    assert_reported(
        err, "scenario.yaml", marked_line(text), "workloads.chat.output_tokens", "duplicate key"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n<<: {b: 2}  # <-\n", "merge keys"),
        ("a: 1\ntrue: 2  # <-\n", "keys must be names"),
        ("a: 1\n? [x, y]  # <-\n: 2\n", "keys must be names"),
        ("a: !!binary aGVsbG8=  # <-\n", "unsupported YAML tag"),
        ("a: !!python/object:os.system {}  # <-\n", "unsupported YAML tag"),
        ("a: *nothing  # <-\n", "alias *nothing names no anchor"),
        ("a: 1\n---  # <-\nb: 2\n", "expected a single document"),
    ],
    ids=[
        "merge-key",
        "bool-key",
        "list-key",
        "binary",
        "python-tag",
        "undefined-alias",
        "two-docs",
    ],
)
def test_other_yaml_features_are_refused_with_a_line(text: str, message: str) -> None:
    with pytest.raises(yamlio.ConfigError) as exc:
        yamlio.parse_yaml(text, "f.yaml")
    assert_reported(str(exc.value), "f.yaml", marked_line(text), "", message)


# ---- Paths and names ---------------------------------------------------------------------------


def test_topology_option_is_relative_to_the_working_directory(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The scenario in sub/; a file of the same name beside it must not be the one loaded.
    (site / "sub").mkdir()
    (site / "sub" / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    (site / "sub" / "topo.yaml").write_text(TOPOLOGY.format(name="beside"), encoding="utf-8")
    (site / "other.yaml").write_text(TOPOLOGY.format(name="cwd"), encoding="utf-8")
    (site / "sub" / "other.yaml").write_text(TOPOLOGY.format(name="wrong"), encoding="utf-8")
    code, out, err = run(capsys, "validate", "sub/scenario.yaml", "--topology", "other.yaml")
    assert code == 0, err
    assert "topology cwd " in out
    # Without the option, the scenario's own `topology: topo.yaml` is beside the scenario.
    code, out, err = run(capsys, "validate", "sub/scenario.yaml")
    assert code == 0, err
    assert "topology beside " in out
    # --set is the command line too.
    code, out, err = run(capsys, "validate", "sub/scenario.yaml", "--set", "topology=other.yaml")
    assert code == 0, err
    assert "topology cwd " in out


def test_catalog_paths_follow_where_they_are_written(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "sub").mkdir()
    text = SCENARIO.replace("topology: topo.yaml\n", "topology: topo.yaml\ncatalog: [cat.yaml]\n")
    (site / "sub" / "scenario.yaml").write_text(text, encoding="utf-8")
    (site / "sub" / "topo.yaml").write_text(TOPOLOGY.format(name="beside"), encoding="utf-8")
    (site / "sub" / "cat.yaml").write_text("systems: {hgx-h100: {capex_usd: 1}}\n")
    (site / "cat.yaml").write_text("systems: {hgx-h100: {capex_usd: 2}}\n")
    scenario = load_scenario("sub/scenario.yaml")
    assert scenario.catalog.systems["hgx-h100"].capex_usd == 1
    scenario = load_scenario("sub/scenario.yaml", sets=["catalog=[cat.yaml]"])
    assert scenario.catalog.systems["hgx-h100"].capex_usd == 2


def test_a_stray_file_never_replaces_a_preset(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "multi-dc").write_text(TOPOLOGY.format(name="stray"), encoding="utf-8")
    code, out, err = run(capsys, "validate", "scenario.yaml", "--topology", "multi-dc")
    assert code == 0, err
    assert "topology multi-dc " in out
    text = SCENARIO.replace("topology: topo.yaml", "topology: multi-dc")
    (site / "scenario.yaml").write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "validate", "scenario.yaml")
    assert code == 0, err
    assert "topology multi-dc " in out
    code, out, err = run(capsys, "topology", "show", "multi-dc", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == "multi-dc"
    # Named as a path, the file is used.
    code, out, err = run(capsys, "validate", "scenario.yaml", "--topology", "./multi-dc")
    assert code == 0, err
    assert "topology stray " in out


def test_a_name_that_is_no_preset_says_how_to_name_a_file(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "mysites").write_text(TOPOLOGY.format(name="mine"), encoding="utf-8")
    code, _, err = run(capsys, "validate", "scenario.yaml", "--topology", "mysites")
    assert code == 1, err
    assert_reported(err, "<--topology>", None, "topology", "neither a topology preset nor a file")
    assert "./mysites" in err


def test_override_keeps_the_topology_option(site: Path) -> None:
    scenario = load_scenario("scenario.yaml", topology="h100-cluster")
    again = scenario.override({"workloads.chat.requests_per_day": "2M"})
    assert again.topology.name == scenario.topology.name == "h100-cluster"


# ---- estimate: negative and overflowing numbers -------------------------------------------------

KV = ["estimate", "kv", "--model", "llama-3.1-8b", "--batch", "2"]
INFERENCE = ["estimate", "inference", "--model", "llama-3.1-8b", "--system", "hgx-h100"]
PRETRAIN = ["estimate", "pretrain", "--model", "llama-3.1-8b", "--system", "hgx-h100",
            "--goodput", "0.9"]  # fmt: skip
RL = ["estimate", "rl", "--policy", "llama-3.1-8b", "--samples-per-problem", "4"]


ESTIMATE_CASES = [
    ([*KV, "--tokens", "-5"], "--tokens", "must be greater than 0, got -5"),
    ([*KV, "--tokens", "1e308"], "--tokens", "must be at most 1e+18"),
    ([*KV, "--tokens", "1K", "--batch", "1" + "0" * 400], "--batch", "must be at most 1e+18"),
    ([*INFERENCE, "--pue", "-5"], "--pue", "must be at least 1, got -5"),
    (
        [*INFERENCE, "--electricity-usd-per-kwh", "-5"],
        "--electricity-usd-per-kwh",
        "must be at least 0",
    ),  # fmt: skip
    ([*INFERENCE, "--requests-per-day", "1e308"], "--requests-per-day", "at most 1e+18"),
    ([*INFERENCE, "--tokens-per-s-per-user", "nan"], "--tokens-per-s-per-user", "finite"),
    ([*INFERENCE, "--tpot-percentile", "p100"], "--tpot-percentile", "not a TPOT percentile"),
    (
        [*INFERENCE, "--max-units-per-instance", "1000"],
        "--max-units-per-instance",
        "must be at most 256",
    ),  # fmt: skip
    ([*PRETRAIN, "--tokens", "1e308"], "--tokens", "must be at most 1e+18"),
    ([*PRETRAIN, "--tokens-per-param", "1e308"], "--tokens-per-param", "at most 1e+18"),
    ([*PRETRAIN, "--tokens", "1T", "--pue", "0.5"], "--pue", "must be at least 1"),
    ([*RL, "--problems", "1e308"], "--problems", "must be at most 1e+18"),
    ([*RL, "--problems", "1M", "--verifier", "v=1e308"], "--verifier", "at most 1e+18"),
]


@pytest.mark.parametrize(
    ("args", "option", "message"),
    ESTIMATE_CASES,
    ids=[f"{a[1]} {a[-2]} {a[-1][:8]}" for a, _, _ in ESTIMATE_CASES],
)
def test_estimate_rejects_negative_and_overflowing_numbers(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str, message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 1, err
    assert_reported(err, "<command line>", None, option, message)


def test_estimate_large_but_finite_inputs_stay_finite(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *PRETRAIN, "--tokens", "1e18", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["flops"] > 0 and result["days"] is not None


# ---- --gap is the gap target the plan reports ---------------------------------------------------


def test_gap_option_is_the_reported_target(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", "scenario.yaml", "--gap", "0.25", "--json")
    assert code == 0, err
    assert json.loads(out)["solver"]["mip_gap_target"] == 0.25
    code, out, err = run(capsys, "plan", "scenario.yaml")
    assert code == 0, err
    assert "gap target 1.00%" in out or "gap target" not in out
