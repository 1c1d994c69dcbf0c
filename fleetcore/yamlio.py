"""YAML loading that remembers where every value came from, and turns validation errors into
`file:line: path.to.field: message` problems.

Validation is pydantic's; this module only keeps the (file, line) of each path so that its
errors, and our cross-reference checks, can point at the line a user has to edit.

It is also where untrusted input meets the machine: files are read only if regular and at most
MAX_FILE_BYTES; the data is built from parser events without recursion, at most MAX_DEPTH
levels deep and MAX_VALUES values with aliases expanded; plain scalars are typed by this
project's rules (plain_scalar), not YAML 1.1's. The README's "Input rules" say the same.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fleetcore.errors import ConfigError, Problem
from fleetcore.schema import Name

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Doc:
    """Plain data from YAML plus the (file, line) of every mapping key and list item."""

    data: Any
    file: str
    lines: dict[Loc, tuple[str, int | None]] = field(default_factory=dict)

    def where(self, loc: Loc) -> tuple[str, int | None, str]:
        """(file, line, dotted path) for a location, matching as much of it as the data has.

        Locations from pydantic may contain parts the data does not (a union's tag); those are
        skipped so the path a user sees is the one in their file.
        """
        matched: list[str | int] = []
        best = (self.file, self.lines.get((), (self.file, None))[1])
        node = self.data
        for part in loc:
            key: str | int | None = None
            if (
                isinstance(node, dict)
                and part in node
                or isinstance(node, list)
                and isinstance(part, int)
                and 0 <= part < len(node)
            ):
                key = part
            if key is None:
                continue
            matched.append(key)
            node = node[key]
            if tuple(matched) in self.lines:
                best = self.lines[tuple(matched)]
        return best[0], best[1], format_path(tuple(matched) if matched else loc)

    def problem(self, loc: Loc, message: str) -> Problem:
        file, line, path = self.where(loc)
        return Problem(file, line, path, message)


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---- Limits: what one input file may cost (documented in the README, "Input files") --------
# A file larger than this is refused before it is read (shipped files are a few kB).
MAX_FILE_BYTES = 10_000_000
# Mappings and lists nested deeper than this are refused (shipped files nest 6 levels).
MAX_DEPTH = 50
# Values (scalars, mappings, lists) one file may hold, each use of an alias counting as a copy
# of its anchor: a 10-line "billion laughs" bomb stops here instead of growing to gigabytes.
MAX_VALUES = 100_000
# Larger whole numbers are refused rather than turned into floats later.
MAX_INT = 2**63 - 1


def read_text(path: str | Path) -> str:
    """The text of an input file: a regular UTF-8 file of at most MAX_FILE_BYTES.

    Devices (/dev/zero, /dev/urandom), FIFOs, sockets and directories are refused without
    reading from them (a FIFO is opened non-blocking, so a missing writer cannot hang us).
    """
    file = str(path)

    def fail(message: str) -> ConfigError:
        return ConfigError([Problem(file, None, "", message)])

    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as exc:
        raise fail(f"cannot read file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise fail("is a directory, not a YAML file")
        if not stat.S_ISREG(info.st_mode):
            raise fail("not a regular file (a device, FIFO or socket): give a YAML file")
        too_large = (
            f"file is too large ({{:,}} bytes; input files are limited to {MAX_FILE_BYTES:,} bytes)"
        )
        if info.st_size > MAX_FILE_BYTES:
            raise fail(too_large.format(info.st_size))
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            # Read what fstat says is there (plus one byte, to see a file that grew), then up to
            # the limit: read(MAX_FILE_BYTES + 1) alone allocated a 10 MB buffer for every file
            # (80 us a read; a sweep reads the scenario and its topology at every point).
            data = handle.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += handle.read(MAX_FILE_BYTES + 1 - len(data))
        if len(data) > MAX_FILE_BYTES:
            raise fail(too_large.format(len(data)))
    except OSError as exc:
        raise fail(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"cannot read file: not UTF-8 text (byte {exc.start + 1})") from None


def load_yaml(path: str | Path) -> Doc:
    """Read a YAML file into a Doc. Raises ConfigError for a missing, unreadable, oversized,
    empty or malformed file (see read_text and parse_yaml)."""
    return parse_yaml(read_text(path), str(path))


# Parsed files, by (file name, text): a sweep reads the same scenario and topology for every
# point. The text is always read again (read_text), so an edited file is parsed again; callers
# get a copy (data deep-copied), never the cached Doc. Failures are not cached.
_PARSED: dict[tuple[str, str], Doc] = {}
MAX_PARSED_CACHED = 64
MAX_PARSED_CACHED_BYTES = 1_000_000  # larger texts are parsed every time, never kept


def parse_yaml(text: str, file: str) -> Doc:
    """Parse YAML text whose top level is a mapping, by this project's rules (plain_scalar) and
    within the limits above. Raises ConfigError with file:line."""
    key = (file, text)
    cached = _PARSED.get(key)
    if cached is None:
        cached = _parse_yaml(text, file)
        if len(text) <= MAX_PARSED_CACHED_BYTES:
            if len(_PARSED) >= MAX_PARSED_CACHED:
                del _PARSED[next(iter(_PARSED))]  # the oldest
            _PARSED[key] = cached
    return Doc(copy_tree(cached.data), cached.file, dict(cached.lines))


def _parse_yaml(text: str, file: str) -> Doc:
    doc = Doc(data=None, file=file)
    problems: list[Problem] = []
    found = _parse(text, file, doc, problems)
    if problems:
        raise ConfigError(problems)
    if not found:
        raise ConfigError([Problem(file, 1, "", "file is empty")])
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(file, 1, "", "expected a mapping of keys to values at the top")])
    return doc


def parse_value(text: str) -> Any:
    """One value written on the command line (`--set path=VALUE`), read by the same rules and
    limits as a file. Raises ValueError with a message naming what is wrong."""
    doc = Doc(data=None, file="<value>")
    problems: list[Problem] = []
    try:
        _parse(text, doc.file, doc, problems)
    except ConfigError as exc:
        problems = exc.problems
    if problems:
        message = problems[0].message.replace("YAML syntax error: ", "")
        raise ValueError(f"cannot read the value as YAML: {message}")
    return doc.data


def _parse(text: str, file: str, doc: Doc, problems: list[Problem]) -> bool:
    """Fill doc from text; False when the text holds no document. libyaml's event parser when
    present (the same events and lines, about 20x faster); on a syntax error the pure-Python
    parser re-reads small texts for its clearer messages (they name the character, e.g. a tab)."""
    fast = getattr(yaml, "CSafeLoader", None)
    try:
        return _Builder(file, doc, problems).run(yaml.parse(text, Loader=fast or yaml.SafeLoader))
    except yaml.YAMLError as exc:
        first = exc
    if fast is not None and len(text) <= 1_000_000:
        doc.lines.clear()
        del problems[:]
        try:
            return _Builder(file, doc, problems).run(yaml.parse(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            first = exc
    raise ConfigError([_syntax_problem(first, file, text)]) from None


def _syntax_problem(exc: yaml.YAMLError, file: str, text: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        # A control character (NUL, ...): the reader gives its offset, not a line.
        at = text.count("\n", 0, exc.position) + 1
        reason = f"character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"
        return Problem(file, at, "", f"YAML syntax error: {reason}")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc)
    if "'\\t'" in reason or "tab character" in reason:
        reason += " (indent with spaces, not tabs)"
    # An unclosed bracket or quote is only noticed lines later: say where it was opened.
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line + 1 != line:
        reason += f" ({context} from line {start.line + 1})"
    return Problem(file, line, "", f"YAML syntax error: {reason}")


# ---- Scalars: this project's rules, not YAML 1.1's -------------------------------------------
# Plain (unquoted) scalars are null, a boolean, a decimal number or text. Numbers are decimal
# digits with an optional sign, fraction and exponent (500, -2, 0.5, 1.5e9, 1e-3), `_` only
# between groups of three digits (1_000_000). What YAML 1.1 would read as a number in any other
# way (octal 0500, base-60 1:40, 0x1f, 0b101, 1_0, .inf, .nan) is an error naming the value;
# quote it to mean text. Counts with suffixes and quantities with units ('15T', '700 W') are
# text here and read by fleetcore.units.

STR_TAG = "tag:yaml.org,2002:str"
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {
    **dict.fromkeys(["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"], True),
    **dict.fromkeys(["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"], False),
}
_INT_PART = r"(?:0|[1-9][0-9]{0,2}(?:_[0-9]{3})+|[1-9][0-9]*)"
_INT_RE = re.compile(rf"[-+]?{_INT_PART}")
_NUMBER_RE = re.compile(rf"[-+]?(?:{_INT_PART}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_YAML11 = yaml.SafeLoader("")
_YAML11_NUMBER = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def plain_scalar(text: str) -> Any:
    """The value of an unquoted, untagged scalar. Raises ValueError naming the value when YAML 1.1
    would have read it as a number that these rules do not (see above)."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if _INT_RE.fullmatch(text):
        digits = text.lstrip("+-").replace("_", "")
        if len(digits) > 19 or int(digits) > MAX_INT:
            raise ValueError(
                f"{text} is too large for a whole number; write a count this large as 1e20"
            )
        return int(text.replace("_", ""))
    if _NUMBER_RE.fullmatch(text):
        value = float(text.replace("_", ""))
        if not math.isfinite(value):
            raise ValueError(f"{text} is too large for a number")
        return value
    if _YAML11.resolve(yaml.ScalarNode, text, (True, False)) in _YAML11_NUMBER:
        try:
            old: Any = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError):  # pragma: no cover - the resolver said a number
            old = "?"
        return _not_a_number(text, old)
    return text


def _not_a_number(text: str, old: Any) -> Any:
    if ":" in text:
        how = "base-60 numbers are not read"
    elif text.lstrip("+-").startswith(("0x", "0b")):
        how = "hexadecimal and binary numbers are not read"
    elif isinstance(old, float) and not math.isfinite(old):
        how = "numbers must be finite"
    elif "_" in text:
        how = "'_' only separates groups of three digits (1_000_000)"
    else:
        how = "a number does not start with 0"
    raise ValueError(
        f"{text!r} is not a number here ({how}; YAML 1.1 would silently read {old!r}): write it "
        f"in plain decimal digits, or quote it if it is text"
    )


def _tagged_scalar(tag: str | None, text: str) -> Any:
    """A quoted scalar (text) or one with an explicit tag (`!!str 0500`, `!!float 1`): only
    YAML's plain types."""
    if tag in (None, "!", STR_TAG):
        return text
    value = plain_scalar(text)
    ok = {
        "tag:yaml.org,2002:null": value is None,
        "tag:yaml.org,2002:bool": isinstance(value, bool),
        "tag:yaml.org,2002:int": isinstance(value, int) and not isinstance(value, bool),
        "tag:yaml.org,2002:float": isinstance(value, (int, float)) and not isinstance(value, bool),
    }
    if tag not in ok:
        raise ValueError(f"unsupported YAML tag {tag!r} (plain values, mappings and lists only)")
    if not ok[tag]:
        raise ValueError(f"{text!r} is not a {tag.rsplit(':', 1)[-1]}")
    return float(value) if tag.endswith("float") else value


# ---- Building the data from parser events, within the limits ---------------------------------
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_DUPLICATE = "duplicate key (the first one would be silently overwritten)"


@dataclass
class _Open:
    """A mapping or list being built."""

    value: dict[str, Any] | list[Any]
    loc: Loc
    keep: bool  # False inside a skipped entry (a duplicate key or a key that is not a name)
    anchor: str | None
    start_count: int
    first_line: int  # len(_Builder.order) when it opened: its lines are recorded after that
    below: int = 0  # levels of nesting below this one
    key: str | None = None  # mapping: the key whose value comes next (None: expecting a key)
    key_ok: bool = True  # False: that value is read but dropped (the key was refused)
    is_key: bool = False  # a mapping or list written as a key (refused; built, then dropped)


@dataclass
class _Anchor:
    value: Any
    loc: Loc
    lines: tuple[int, int]  # slice of _Builder.order: the locations recorded below it
    count: int
    depth: int


class _Builder:
    """Plain data and lines from YAML events, without recursion and without expanding more than
    MAX_VALUES values: an alias adds its anchor's size before it is copied."""

    def __init__(self, file: str, doc: Doc, problems: list[Problem]):
        self.file, self.doc, self.problems = file, doc, problems
        self.stack: list[_Open] = []
        self.anchors: dict[str, _Anchor] = {}
        self.order: list[Loc] = []  # locations in the order their lines were recorded
        self.count = 0
        self.documents = 0

    def run(self, events: Any) -> bool:
        for event in events:
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise self._fail(
                        line, "expected a single document in the stream, but found another one"
                    )
            elif isinstance(event, yaml.ScalarEvent):
                self._scalar(event, line)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self._start(event, line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self._end()
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event, line)
        return self.documents > 0

    def _fail(self, line: int, message: str, path: str = "") -> ConfigError:
        return ConfigError([Problem(self.file, line, path, message)])

    def _count(self, n: int, line: int) -> None:
        self.count += n
        if self.count > MAX_VALUES:
            raise self._fail(
                line,
                f"more than {MAX_VALUES:,} values, counting each use of an alias as a copy of "
                f"its anchor: too large for an input file",
            )

    def _place(self) -> tuple[Loc, bool, bool]:
        """(location, kept, is_key) of the next value, from its parent's state."""
        if not self.stack:
            return (), True, False
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return parent.loc + (len(parent.value),), parent.keep, False
        if parent.key is None:
            return parent.loc, False, True
        return parent.loc + (parent.key,), parent.keep and parent.key_ok, False

    def _record(self, loc: Loc, line: int) -> None:
        if loc not in self.doc.lines:
            self.order.append(loc)
        self.doc.lines[loc] = (self.file, line)

    def _attach(self, value: Any) -> None:
        """Put a finished value into its parent (or make it the document)."""
        if not self.stack:
            self.doc.data = value
            return
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
        else:
            if parent.key_ok and parent.key is not None:
                parent.value[parent.key] = value
            parent.key = None

    def _key(self, parent: _Open, key: str | None, line: int) -> None:
        """A mapping key was read: check it and wait for its value."""
        assert isinstance(parent.value, dict)
        parent.key, parent.key_ok = key or "", key is not None
        if key is None:
            self.problems.append(
                Problem(self.file, line, format_path(parent.loc), "keys must be names")
            )
        elif key == "<<":
            parent.key_ok = False
            self.problems.append(
                Problem(
                    self.file,
                    line,
                    format_path(parent.loc),
                    "merge keys (<<: *anchor) are not supported: write the fields out",
                )
            )
        elif key in parent.value:
            parent.key_ok = False
            self.problems.append(
                Problem(self.file, line, format_path(parent.loc + (key,)), _DUPLICATE)
            )
        elif parent.keep:
            self._record(parent.loc + (key,), line)

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> None:
        self._count(1, line)
        loc, keep, is_key = self._place()
        plain = event.tag is None and event.implicit[0]
        if is_key:
            # Keys are names: their text as written, but not null, a boolean or a tagged value.
            named = event.value not in _NULLS and event.value not in _BOOLS if plain else True
            key = event.value if named and event.tag in (None, "!", STR_TAG) else None
            self._key(self.stack[-1], key, line)
            return
        try:
            value = plain_scalar(event.value) if plain else _tagged_scalar(event.tag, event.value)
        except ValueError as exc:
            self.problems.append(Problem(self.file, line, format_path(loc), str(exc)))
            value = event.value
        if keep and (not self.stack or isinstance(self.stack[-1].value, list)):
            self._record(loc, line)
        if event.anchor is not None:
            # A scalar has no lines below it to copy.
            self._define(event.anchor, _Anchor(value, loc, (0, 0), 1, 0), line)
        self._attach(value)

    def _start(self, event: yaml.CollectionStartEvent, line: int) -> None:
        self._count(1, line)
        if len(self.stack) >= MAX_DEPTH:
            raise self._fail(line, f"mappings and lists nested deeper than {MAX_DEPTH} levels")
        loc, keep, is_key = self._place()
        if is_key:
            self._key(self.stack[-1], None, line)
            loc, keep = self.stack[-1].loc, False
        elif keep and (not self.stack or isinstance(self.stack[-1].value, list)):
            self._record(loc, line)
        if event.tag not in _COLLECTION_TAGS:
            self.problems.append(
                Problem(
                    self.file,
                    line,
                    format_path(loc),
                    f"unsupported YAML tag {event.tag!r} (plain values, mappings and lists only)",
                )
            )
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(
            _Open(value, loc, keep, event.anchor, self.count - 1, len(self.order), is_key=is_key)
        )

    def _end(self) -> None:
        done = self.stack.pop()
        if done.is_key:
            return
        if self.stack:
            self.stack[-1].below = max(self.stack[-1].below, done.below + 1)
        if done.anchor is not None:
            anchor = _Anchor(
                done.value,
                done.loc,
                (done.first_line, len(self.order)),
                self.count - done.start_count,
                done.below + 1,
            )
            self._define(done.anchor, anchor, 0)
        self._attach(done.value)

    def _define(self, name: str, anchor: _Anchor, line: int) -> None:
        if name in self.anchors:
            self.problems.append(
                Problem(
                    self.file,
                    line or None,
                    format_path(anchor.loc),
                    f"anchor &{name} is defined twice",
                )
            )
        self.anchors[name] = anchor

    def _alias(self, event: yaml.AliasEvent, line: int) -> None:
        name = event.anchor
        loc, keep, is_key = self._place()
        if any(frame.anchor == name for frame in self.stack):
            raise self._fail(
                line, f"recursive alias *{name}: it is used inside its own anchor", format_path(loc)
            )
        if name not in self.anchors:
            raise self._fail(
                line, f"alias *{name} names no anchor defined above it", format_path(loc)
            )
        anchor = self.anchors[name]
        self._count(anchor.count, line)
        if is_key:
            self._key(self.stack[-1], None, line)
            return
        if len(self.stack) + anchor.depth > MAX_DEPTH:
            raise self._fail(
                line,
                f"mappings and lists nested deeper than {MAX_DEPTH} levels (through alias *{name})",
            )
        if self.stack:
            self.stack[-1].below = max(self.stack[-1].below, anchor.depth)
        if keep:
            if isinstance(self.stack[-1].value, list) if self.stack else True:
                self._record(loc, line)
            start, end = anchor.lines
            for old in self.order[start:end]:
                if len(old) > len(anchor.loc):
                    self._record(loc + old[len(anchor.loc) :], self.doc.lines[old][1] or line)
        self._attach(copy.deepcopy(anchor.value))


_ATOMS = (str, int, float, bool, type(None))


def copy_tree(value: Any) -> Any:
    """copy.deepcopy of parsed data (dicts, lists and scalars), ~3x faster: a sweep copies its
    scenario and topology from the parse cache at every point (`parse_yaml`). Anything else is
    deep-copied as before. Parsed trees share no containers (an alias is copied when parsed),
    so nothing deepcopy's memo would keep shared is lost. merge() keeps deepcopy (a scenario's
    merges are small, and tests/test_input_safety.py times merge's scaling)."""
    kind = type(value)
    if kind is dict:
        return {k: copy_tree(v) for k, v in value.items()}
    if kind is list:
        return [copy_tree(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


def merge(base: Doc, overlay: Doc, at: Loc = ()) -> Doc:
    """Deep-merge overlay's data into a copy of base at `at`; overlay values win.

    Lines of overlaid values point into the overlay's file, so errors in an override or a user
    catalog name the file the user wrote.
    """
    out = Doc(copy.deepcopy(base.data), base.file, dict(base.lines))
    _merge_into(out, at, overlay.data, overlay, ())
    return out


def _merge_into(out: Doc, at: Loc, value: Any, src: Doc, src_loc: Loc) -> None:
    parent: Any = out.data
    for part in at[:-1]:
        parent = parent[part]
    current = (
        parent[at[-1]]
        if at and isinstance(parent, dict) and at[-1] in parent
        else (out.data if not at else None)
    )
    if isinstance(value, dict) and isinstance(current, dict):
        for key, sub in value.items():
            if src_loc + (key,) in src.lines:
                out.lines[at + (key,)] = src.lines[src_loc + (key,)]
            if key in current and isinstance(current[key], dict) and isinstance(sub, dict):
                _merge_into(out, at + (key,), sub, src, src_loc + (key,))
            else:
                old = current.get(key)
                current[key] = copy.deepcopy(sub)
                _copy_lines(out, at + (key,), old, sub, src, src_loc + (key,))
        return
    old = current
    if not at:
        out.data = copy.deepcopy(value)
    else:
        parent[at[-1]] = copy.deepcopy(value)
    _copy_lines(out, at, old, value, src, src_loc)


def _copy_lines(out: Doc, at: Loc, old: Any, new: Any, src: Doc, src_loc: Loc) -> None:
    """The lines below `at` become those of `new` in src: cost in the size of old and new, not
    of the whole document (a catalog overlay of many entries merged key by key)."""
    for rel in _inner_locs(old):
        out.lines.pop(at + rel, None)
    for rel in [(), *_inner_locs(new)]:
        where = src.lines.get(src_loc + rel)
        if where is not None:
            out.lines[at + rel] = where


def _inner_locs(value: Any) -> list[Loc]:
    """Locations of everything inside a value (not the value itself), without recursion."""
    out: list[Loc] = []
    todo: list[tuple[Loc, Any]] = [((), value)]
    while todo:
        loc, node = todo.pop()
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, sub in items:
            out.append(loc + (key,))
            todo.append((loc + (key,), sub))
    return out


def validate(model: type[M], doc: Doc, loc: Loc = (), context: dict[str, Any] | None = None) -> M:
    """Validate doc.data (or the part at `loc`) against a pydantic model; ConfigError with lines."""
    data = doc.data
    for part in loc:
        data = data[part]
    try:
        # Strict: YAML already types its scalars, so `true` is not 1 and '30' is not 30.
        return model.model_validate(data, context=context, strict=True)
    except ValidationError as exc:
        from fleetcore.suggest import with_field_hints

        raise ConfigError(with_field_hints(problems_from(exc, doc, loc), model)) from None


def problems_from(exc: ValidationError, doc: Doc, prefix: Loc = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        kind = err["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            # The error is the tag field's (`kind:`), not the whole entry's.
            loc += (str(err["ctx"]["discriminator"]).strip("'"),)
        if kind in ("missing", "union_tag_not_found"):
            # An absent field has no line of its own: point at the mapping that should hold it,
            # but name the field.
            file, line, path = doc.where(loc[:-1])
            field = f"{path}.{loc[-1]}" if path else str(loc[-1])
            problems.append(Problem(file, line, field, _message(err)))
        else:
            problems.append(doc.problem(loc, _message(err)))
    return problems


_NAME_PATTERN = Name.__metadata__[0].pattern  # type: ignore[attr-defined]


_PERCENT = re.compile(r"[-+]?[0-9_]*\.?[0-9]+\s*%")
_PLAIN_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _choice_hint(word: Any, expected: str) -> str:
    """'; did you mean 'x'?' for a mistyped choice among pydantic's quoted `expected` list,
    matched regardless of case (`FP8` for `fp8`, `amortized` for `amortised`)."""
    choices = re.findall(r"'([^']*)'", expected)
    by_lower = {c.lower(): c for c in choices}
    lower = str(word).lower()
    close = [lower] if lower in by_lower else difflib.get_close_matches(lower, list(by_lower), n=2)
    return f"; did you mean {' or '.join(repr(by_lower[c]) for c in close)}?" if close else ""


def _what(value: Any) -> str:
    if isinstance(value, list):
        return "a list (`- ` lines)"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see the documented fields)"
    if kind in ("missing", "union_tag_not_found"):
        return "required field is missing"
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing"):
        # Validation is strict (yamlio.validate): say what the YAML held instead of a number.
        number = "a whole number" if kind.startswith("int") else "a number"
        value = err.get("input")
        if value is None:
            return f"expected {number}, got an empty value"
        if isinstance(value, bool):
            return f"expected {number}, got {str(value).lower()}"
        if (
            isinstance(value, str)
            and kind.startswith("float")
            and _PERCENT.fullmatch(value.strip())
        ):
            # 150% in YAML is text; the planner's shares and rates are fractions.
            fraction = float(value.strip().rstrip("%").strip().replace("_", "")) / 100
            return f"expected {number}, got the text {value!r}: write a share as a fraction ({fraction:g})"
        if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value.strip()):
            # '30' quoted in YAML, or "0.01" given to the Python API: text, not a number.
            return (
                f"expected {number}, got the text {value!r}: write {value.strip()} without quotes"
            )
        if isinstance(value, str):
            return f"expected {number}, got the text {value!r}"
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e19:
            # 1e6 is read as a float, which a whole-number field takes only in digits (before
            # session 24 it said "expected a whole number, got 1e+06", of a whole number).
            return f"expected a whole number written in digits, got {value:g}: write {value:.0f}"
        if isinstance(value, float):
            return f"expected {number}, got {value:g}"
        return f"expected {number}, got a {'list' if isinstance(value, list) else 'mapping'}"
    if kind == "union_tag_invalid":
        ctx = err["ctx"]
        return (
            f"unknown {ctx['discriminator']} {ctx['tag']!r}; use one of {ctx['expected_tags']}"
            f"{_choice_hint(ctx['tag'], str(ctx['expected_tags']))}"
        )
    if kind == "literal_error" and isinstance(err.get("input"), str):
        return f"{err['msg']}, got {err['input']!r}{_choice_hint(err['input'], err['ctx']['expected'])}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (`key: value` lines), got {_what(err.get('input'))}"
    if kind in _BOUNDS and isinstance(err.get("input"), int | float | str):
        value = err["input"]
        return f"{err['msg']}, got {value if isinstance(value, str) else format(value, 'g')}"
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == _NAME_PATTERN:
        return (
            f"{err['input']!r} is not a valid name: use 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit"
        )
    msg = str(err["msg"])
    # pydantic prefixes messages of our own validators with "Value error, ".
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg
