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


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and every model its fields hold, each once."""
    seen: list[type[BaseModel]] = []

    def walk(tp: object) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for info in tp.model_fields.values():
                walk(info.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    walk(model)
    return seen


def field_names(model: type[BaseModel]) -> set[str]:
    """Every key (alias, else name) of the model and of the models its fields hold."""
    return {info.alias or name for m in _models(model) for name, info in m.model_fields.items()}


def _owners(model: type[BaseModel], key: str) -> list[str]:
    """The `kind:` values (a discriminated entry's default tag) of the models holding `key`."""
    kinds: list[str] = []
    for m in _models(model):
        keys = {info.alias or name for name, info in m.model_fields.items()}
        tag = m.model_fields.get("kind")
        if key in keys and tag is not None and isinstance(tag.default, str):
            kinds.append(tag.default)
    return sorted(set(kinds))


def misplaced(key: str, model: type[BaseModel]) -> str:
    """For a key unknown where it stands but known elsewhere in the model: where it belongs
    (a spelling hint would only repeat the key)."""
    kinds = _owners(model, key)
    if kinds:
        return f"; {key!r} is a field of kind: {' or kind: '.join(kinds)}, not of this one"
    return f"; {key!r} is a field of another section, not of this one"


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
            extra = misplaced(key, model) if key in vocabulary else hint(key, vocabulary)
            p = dataclasses.replace(p, message=p.message + extra)
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
