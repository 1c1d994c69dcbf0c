"""The per-process caches of the serving physics (decode layout/batch search, prefill rate,
server utilisation) and their keys.

A sweep point re-rates the same model on the same systems with the same request shape; only
what it sweeps (e.g. requests_per_day) changes, and that enters after the rates. The expensive
pure functions are therefore `memoised` (functools.lru_cache, bounded) on exactly their
arguments. Catalog entries (pydantic models with dict fields) are not hashable, so they are
keyed as `Keyed`: equal and hashed by their full content (type and model_dump_json()), so two
catalogs with the same figures share entries and any changed figure (a user's catalog file, a
sensitivity overlay) misses. A content fingerprint is computed once per
object (memo by id, holding the object so the id cannot be reused while it is remembered):
catalog entries are read-only once loaded (frozen models; the loaded Catalog is shared, see
hardware/catalog.py), and a changed catalog is a new Catalog of new entries.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel

from planner.demand.common import Hardware

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

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


class Memoised(Generic[P, R]):
    """`fn` memoised per process (see `memoised`); `uncached` is `fn` itself, `cache_info()` and
    `cache_clear()` those of its lru_cache."""

    def __init__(
        self,
        fn: Callable[P, R],
        keys: Mapping[str, Callable[[Any], object]],
        copy: Callable[[R], R],
    ):
        functools.update_wrapper(self, fn)
        self.uncached = fn
        params = inspect.signature(fn).parameters.values()
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        self._names = tuple(p.name for p in params)
        self._defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self._keys = keys
        self._copy = copy
        self._cached = functools.lru_cache(maxsize=PHYSICS_CACHE_SIZE, typed=True)(self._compute)
        self.cache_info = self._cached.cache_info
        self.cache_clear = self._cached.cache_clear

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # Every argument in parameter order, defaults filled in: one key however it is passed.
        rest = self._names[len(args) :]
        missing = [n for n in rest if n not in kwargs and n not in self._defaults]
        if missing:
            raise TypeError(f"{self.uncached.__name__}() missing {', '.join(missing)}")
        values = args + tuple(kwargs.pop(n) if n in kwargs else self._defaults[n] for n in rest)
        if kwargs:
            raise TypeError(f"{self.uncached.__name__}() has no parameter {', '.join(kwargs)}")
        return self._copy(self._cached(*map(self._key, self._names, values)))

    def _key(self, name: str, value: object) -> object:
        if name in self._keys:
            return Keyed(value, self._keys[name](value))
        if isinstance(value, BaseModel):
            return keyed_model(value)
        if isinstance(value, Hardware):
            return keyed_hardware(value)
        return value

    def _compute(self, *keyed: object) -> R:
        call: Callable[..., R] = self.uncached
        return call(*(k.value if isinstance(k, Keyed) else k for k in keyed))


def memoised(
    keys: Mapping[str, Callable[[Any], object]] | None = None,
    copy: Callable[[Any], Any] | None = None,
) -> Callable[[Callable[P, R]], Memoised[P, R]]:
    """Memoise a pure function per process on all its arguments (defaults filled in): a
    BaseModel argument is keyed by its content (`keyed_model`), a Hardware by every field
    (`keyed_hardware`), the parameters named in `keys` by `Keyed(value, keys[name](value))`, any
    other argument as it is (it must be hashable). Results come from a bounded lru_cache
    (PHYSICS_CACHE_SIZE entries) and are shared: `copy` gives each caller its own copy of
    whatever in them is mutable. `f.uncached` is the undecorated function, `f.cache_clear()`
    forgets every entry."""

    def wrap(fn: Callable[P, R]) -> Memoised[P, R]:
        return Memoised(fn, keys or {}, copy or (lambda r: r))

    return wrap
