""" "Did you mean" for unknown keys and names: the closest known spellings (difflib)."""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Iterable

from pydantic import BaseModel

from fleetcore.errors import Problem

# "unknown model 'llama-3.1-7b'; known: a, b, c" (the messages the cross-reference checks write)
_UNKNOWN_NAME = re.compile(r"unknown [\w ]+? '([^']+)'.*?known[^:]*: (.+)$")
_NO_OVERRIDE = re.compile(r"no override named '([^']+)' \(known: (.*)\)$")
_NO_PRESET = re.compile(
    r"'([^']+)' is neither a topology preset nor a file(?: path)?; presets: ([^(]+?)(?: \(|$)"
)


def close_matches(word: str, known: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(word, sorted(set(known)), n=n, cutoff=0.6)


def hint(word: str, known: Iterable[str]) -> str:
    close = close_matches(word, known)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def field_names(model: type[BaseModel]) -> set[str]:
    """Every key (alias, else name) of the model and of the models its fields hold."""
    seen: set[type] = set()
    names: set[str] = set()

    def walk(tp: object) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.add(tp)
            for name, info in tp.model_fields.items():
                names.add(info.alias or name)
                walk(info.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    walk(model)
    return names


# Fields that name another file or preset, with what to write instead of an inline mapping.
NAMED_FIELDS = {
    "topology": "a topology preset name (planner topology list) or a topology YAML path; "
    "put changes to it under topology_changes",
}


def with_field_hints(problems: list[Problem], model: type[BaseModel]) -> list[Problem]:
    """Unknown-field problems with the closest field names of the model added; a mapping
    where a name belongs (an inline topology) told what to write."""
    vocabulary: set[str] | None = None
    out = []
    for p in problems:
        if p.message == "Input should be a valid string" and p.path in NAMED_FIELDS:
            p = dataclasses.replace(p, message=f"expected {NAMED_FIELDS[p.path]}")
        if p.message.startswith("unknown field") and p.path:
            vocabulary = vocabulary if vocabulary is not None else field_names(model)
            key = p.path.rsplit(".", 1)[-1]
            p = dataclasses.replace(p, message=p.message + hint(key, vocabulary))
        out.append(p)
    return out


def with_name_hint(message: str) -> str:
    """An "unknown X 'name'; known: a, b" message with "did you mean" added (once)."""
    if "did you mean" in message:
        return message
    match = (
        _UNKNOWN_NAME.search(message) or _NO_OVERRIDE.search(message) or _NO_PRESET.search(message)
    )
    if not match:
        return message
    known = [k.strip() for k in match.group(2).split(",")]
    return message + hint(match.group(1), known)
