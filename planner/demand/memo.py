"""Keys for the per-process caches of the serving physics (decode layout/batch search, prefill
rate, server utilisation).

A sweep point re-rates the same model on the same systems with the same request shape; only
what it sweeps (e.g. requests_per_day) changes, and that enters after the rates. The expensive
pure functions are therefore memoised (functools.lru_cache, bounded) on exactly their
arguments. Catalog entries (pydantic models with dict fields) are not hashable, so they are
passed wrapped in `Keyed`: equal and hashed by their full content (type and
model_dump_json()), so two catalogs with the same figures share entries and any changed figure
(a user's catalog file, a sensitivity overlay) misses. A content fingerprint is computed once per
object (memo by id, holding the object so the id cannot be reused while it is remembered):
catalog entries are read-only once loaded (frozen models; the loaded Catalog is shared, see
hardware/catalog.py), and a changed catalog is a new Catalog of new entries.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields
from typing import Generic, TypeVar

from pydantic import BaseModel

from planner.demand.common import Hardware

T = TypeVar("T")

# Serving physics results kept per process (each a few kB): enough for every (model, system,
# request shape) of a large scenario, bounded for long sensitivity runs.
PHYSICS_CACHE_SIZE = 1024
FINGERPRINTS_KEPT = 256
_FINGERPRINTS: OrderedDict[int, tuple[BaseModel, str]] = OrderedDict()


def fingerprint(entry: BaseModel) -> str:
    """The entry's full content as text: its type and model_dump_json() (every field)."""
    known = _FINGERPRINTS.get(id(entry))
    if known is not None and known[0] is entry:
        return known[1]
    text = f"{type(entry).__module__}.{type(entry).__qualname__}:{entry.model_dump_json()}"
    _FINGERPRINTS[id(entry)] = (entry, text)
    while len(_FINGERPRINTS) > FINGERPRINTS_KEPT:
        _FINGERPRINTS.popitem(last=False)  # the oldest (recomputed if seen again)
    return text


def forget_fingerprints() -> None:
    _FINGERPRINTS.clear()


class Keyed(Generic[T]):
    """`value` as a cache key: equal and hashed by `key` (a hashable description of its whole
    content), so a memoised function can take it and read the value."""

    __slots__ = ("value", "key", "_hash")

    def __init__(self, value: T, key: object):
        self.value = value
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyed) and self._hash == other._hash and self.key == other.key

    def __repr__(self) -> str:
        return f"Keyed({self.value!r})"


def keyed_model(entry: BaseModel) -> Keyed[BaseModel]:
    """A catalog entry (model architecture, system, accelerator) keyed by its content."""
    return Keyed(entry, fingerprint(entry))


def keyed_hardware(hw: Hardware) -> Keyed[Hardware]:
    """A system's Hardware keyed by every field: its name, the content of its system and
    accelerator entries, and its scalars (with their types)."""
    key = tuple(
        fingerprint(v) if isinstance(v, BaseModel) else (type(v).__name__, v)
        for v in (getattr(hw, f.name) for f in fields(hw))
    )
    return Keyed(hw, key)
