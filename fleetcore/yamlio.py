"""YAML loading that remembers where every value came from, and turns validation errors into
`file:line: path.to.field: message` problems.

Validation is pydantic's; this module only keeps the (file, line) of each path so that its
errors, and our cross-reference checks, can point at the line a user has to edit.
"""

from __future__ import annotations

import copy
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
    lines: dict[Loc, tuple[str, int]] = field(default_factory=dict)

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


def _construct(node: yaml.Node, file: str, loc: Loc, doc: Doc, problems: list[Problem]) -> Any:
    doc.lines[loc] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
                problems.append(
                    Problem(
                        file, key_node.start_mark.line + 1, format_path(loc), "keys must be names"
                    )
                )
                continue
            key = str(key)
            if key in out:
                problems.append(
                    Problem(
                        file,
                        key_node.start_mark.line + 1,
                        format_path(loc + (key,)),
                        "duplicate key (the first one would be silently overwritten)",
                    )
                )
                continue
            out[key] = _construct(value_node, file, loc + (key,), doc, problems)
            doc.lines[loc + (key,)] = (file, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, file, loc + (i,), doc, problems) for i, item in enumerate(node.value)
        ]
    return _scalar(node)


_LOADER = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    # SafeLoader's constructors give YAML's own typing of scalars (ints, floats, bools, nulls).
    return _LOADER.construct_object(node, deep=True)


def load_yaml(path: str | Path) -> Doc:
    """Read a YAML file into a Doc. Raises ConfigError for a missing, empty or malformed file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, "", f"cannot read file: {exc}")]) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str) -> Doc:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        if "'\\t'" in reason:
            reason += " (indent with spaces, not tabs)"
        # An unclosed bracket or quote is only noticed lines later: say where it was opened.
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and start.line + 1 != line:
            reason += f" ({context} from line {start.line + 1})"
        raise ConfigError([Problem(file, line, "", f"YAML syntax error: {reason}")]) from None
    if root is None:
        raise ConfigError([Problem(file, 1, "", "file is empty")])
    doc = Doc(data=None, file=file)
    problems: list[Problem] = []
    try:
        doc.data = _construct(root, file, (), doc, problems)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(file, line, "", f"YAML error: {reason}")]) from None
    if problems:
        raise ConfigError(problems)
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(file, 1, "", "expected a mapping of keys to values at the top")])
    return doc


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
                current[key] = copy.deepcopy(sub)
                _copy_lines(out, at + (key,), src, src_loc + (key,))
        return
    if not at:
        out.data = copy.deepcopy(value)
    else:
        parent[at[-1]] = copy.deepcopy(value)
    _copy_lines(out, at, src, src_loc)


def _copy_lines(out: Doc, at: Loc, src: Doc, src_loc: Loc) -> None:
    for loc in [k for k in out.lines if k[: len(at)] == at and len(k) > len(at)]:
        del out.lines[loc]
    for loc, where in src.lines.items():
        if loc[: len(src_loc)] == src_loc:
            out.lines[at + loc[len(src_loc) :]] = where


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


_NAME_PATTERN = Name.__metadata__[0].pattern


def _message(err: dict[str, Any]) -> str:
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
        if isinstance(value, str):
            return f"expected {number}, got the text {value!r}"
        if isinstance(value, float):
            return f"expected {number}, got {value:g}"
        return f"expected {number}, got a {'list' if isinstance(value, list) else 'mapping'}"
    if kind == "union_tag_invalid":
        ctx = err["ctx"]
        return f"unknown {ctx['discriminator']} {ctx['tag']!r}; use one of {ctx['expected_tags']}"
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
