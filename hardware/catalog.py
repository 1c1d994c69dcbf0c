"""Load the shipped catalog (hardware/data/*.yaml), overlay users' files, check references."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from fleetcore.errors import ConfigError, Problem
from fleetcore.yamlio import Doc, load_yaml, merge, parse_yaml, read_text, validate
from hardware.schema import Accelerator, CatalogData, Cpu, ModelArch, Sourced, System

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Catalog:
    """The validated catalog, with the derived per-system figures every report uses."""

    data: CatalogData
    doc: Doc

    @property
    def accelerators(self) -> dict[str, Accelerator]:
        return self.data.accelerators

    @property
    def cpus(self) -> dict[str, Cpu]:
        return self.data.cpus

    @property
    def systems(self) -> dict[str, System]:
        return self.data.systems

    @property
    def models(self) -> dict[str, ModelArch]:
        return self.data.models

    def system(self, name: str) -> System:
        return self.data.systems[name]

    def accelerator_of(self, system: str) -> Accelerator | None:
        sys_ = self.data.systems[system]
        return self.data.accelerators[sys_.accelerator] if sys_.accelerator else None

    def system_cores(self, system: str) -> int:
        """Physical CPU cores in one unit: cpus x cores per CPU."""
        sys_ = self.data.systems[system]
        return sys_.cpus * self.data.cpus[sys_.cpu].cores

    def isa(self, system: str) -> str:
        """The instruction set of a unit's CPUs (x86_64, arm64)."""
        return self.data.cpus[self.data.systems[system].cpu].isa

    def spare_cores(self, system: str) -> float:
        """Host cores left for verifier sandboxes after the per-accelerator reservation."""
        sys_ = self.data.systems[system]
        return max(
            0.0,
            self.system_cores(system)
            - sys_.host_cores_reserved_per_accelerator * sys_.accelerators,
        )

    def spare_host_memory(self, system: str) -> float:
        """Host memory lent to sandboxes with the spare cores (bytes): host_memory x spare cores
        / cores (the memory goes with the cores); 0 when the catalog gives no host_memory."""
        memory = self.data.systems[system].host_memory_bytes
        cores = self.system_cores(system)
        if memory is None or cores == 0:
            return 0.0
        return memory * self.spare_cores(system) / cores

    def peak_flops(self, system: str, precision: str) -> float:
        """Dense peak FLOP/s of one unit at a precision; 0.0 if unsupported or CPU-only."""
        acc = self.accelerator_of(system)
        if acc is None or precision not in acc.peak_flops:
            return 0.0
        return acc.peak_flops[precision] * self.data.systems[system].accelerators

    def hbm_bytes(self, system: str) -> float:
        acc = self.accelerator_of(system)
        return 0.0 if acc is None else acc.hbm_bytes * self.data.systems[system].accelerators

    def hbm_bandwidth_bytes_per_s(self, system: str) -> float:
        acc = self.accelerator_of(system)
        return (
            0.0
            if acc is None
            else acc.hbm_bandwidth_bytes_per_s * self.data.systems[system].accelerators
        )


# shipped_files() by the data folder and its modification time (adding or removing a file
# changes it): the catalog is looked up at every point of a sweep, and the glob cost ~0.1 ms.
_SHIPPED_FILES: dict[tuple[str, int], list[Path]] = {}


def shipped_files() -> list[Path]:
    stamp = (str(DATA_DIR), DATA_DIR.stat().st_mtime_ns)
    files = _SHIPPED_FILES.get(stamp)
    if files is None:
        _SHIPPED_FILES.clear()
        files = _SHIPPED_FILES[stamp] = sorted(DATA_DIR.glob("*.yaml"))
    return list(files)


# Per-process caches (a sweep or a sensitivity run loads the catalog once per point). A shipped
# file is keyed by its path, modification time and size; a user's file by its path and text
# (read every time, so an edit is always seen); the validated Catalog by the keys of all its
# files. Errors are never cached. The Catalog returned is shared: treat it as read-only.
_SHIPPED_DOCS: dict[tuple[str, int, int], Doc] = {}
_CATALOGS: dict[tuple[object, ...], Catalog] = {}
MAX_CACHED_CATALOGS = 16  # distinct overlays (a sensitivity run writes one per figure and end)


def _shipped_doc(path: Path) -> tuple[tuple[str, int, int], Doc]:
    info = path.stat()
    key = (str(path), info.st_mtime_ns, info.st_size)
    doc = _SHIPPED_DOCS.get(key)
    if doc is None:
        doc = _SHIPPED_DOCS[key] = load_yaml(path)
    return key, doc


def load_catalog(extra_files: Iterable[str | Path] = ()) -> Catalog:
    """Shipped catalog plus user files by path, later files deep-merged over earlier ones.

    A user file may add entries or override single figures of shipped ones
    (`systems: {hgx-h100: {capex_usd: 250000}}`).
    """
    keys: list[object] = []
    docs: list[Doc] = []
    for shipped in shipped_files():
        key, part = _shipped_doc(shipped)
        keys.append(key)
        docs.append(part)
    problems: list[Problem] = []
    texts: list[tuple[str, str | ConfigError]] = []
    for extra in extra_files:
        try:
            texts.append((str(extra), read_text(extra)))
        except ConfigError as exc:
            texts.append((str(extra), exc))
    if all(isinstance(text, str) for _, text in texts):
        cached = _CATALOGS.get((*keys, *texts))
        if cached is not None:
            return cached
    for file, text in texts:
        try:
            if isinstance(text, ConfigError):
                raise text
            docs.append(parse_yaml(text, file))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    catalog = _catalog_from(docs)
    if len(_CATALOGS) >= MAX_CACHED_CATALOGS:
        del _CATALOGS[next(iter(_CATALOGS))]  # the oldest
    _CATALOGS[(*keys, *texts)] = catalog
    return catalog


def _catalog_from(docs: list[Doc]) -> Catalog:
    """Merge the files' docs in order, validate, check cross-references."""
    doc = docs[0]
    for part in docs[1:]:
        doc = merge(doc, part)
    data = validate(CatalogData, doc)
    restated = _overlaid_sources(data, doc, docs, _in_two_files(docs))
    if restated:
        for (kind, name, figure), (text, where) in restated.items():
            doc.data[kind][name].setdefault("sources", {})[figure] = text
            doc.lines.setdefault((kind, name, "sources"), where)
            doc.lines[(kind, name, "sources", figure)] = where
        data = validate(CatalogData, doc)
    problems = [p for rule in CROSS_REFERENCE_RULES for p in rule(data, doc)]
    if problems:
        raise ConfigError(problems)
    return Catalog(data=data, doc=doc)


# How a figure's source begins when a catalog overlay set the figure (_overlaid_sources), and
# what follows where the overlay gives the figure no source of its own.
OVERLAY_SOURCE = "catalog overlay "
UNSOURCED = "no source given there; it replaces the figure whose source was: "


def overlay_source_head(source: str) -> str:
    """A figure's source as a rate's reason quotes it: a catalog overlay's file, line and its
    own text (without the replaced figure's source, UNSOURCED); otherwise the head before the
    first colon ("fitted (session s31 moe)")."""
    if source.startswith(OVERLAY_SOURCE):
        return source.split("; it replaces ")[0]
    return source.split(":")[0]


def _in_two_files(docs: list[Doc]) -> set[tuple[str, str]]:
    """The (kind, entry) pairs written in more than one of the files: the only entries a later
    file can have changed (the shipped files write disjoint entries)."""
    seen: set[tuple[str, str]] = set()
    twice: set[tuple[str, str]] = set()
    for part in docs:
        data = part.data if isinstance(part.data, dict) else {}
        mine = {
            (kind, name)
            for kind, entries in data.items()
            if isinstance(entries, dict)
            for name in entries
        }
        twice |= seen & mine
        seen |= mine
    return twice


def _overlaid_sources(
    data: CatalogData, doc: Doc, docs: list[Doc], entries_to_check: set[tuple[str, str]]
) -> dict[tuple[str, str, str], tuple[str, tuple[str, int | None]]]:
    """The figures whose merged source is not the one to quote, each with the source to quote
    instead and where it was written: {(kind, entry, figure): (text, (file, line))}.

    - A figure a later file (a user's catalog overlay, a scenario's `catalog:` entry) set
      without restating its source: without this it kept the source of the file it replaced
      (review s32: an overlaid expert_gemm_fraction quoted as "fitted (session s31 moe)" in
      `plan --explain`). The source quoted is the most specific one the overlay itself writes
      for the figure (`sources`, a block's or the entry's `source`), after the overlay's name:
      "catalog overlay FILE, line N: TEXT"; where it writes none, TEXT is UNSOURCED and the
      replaced figure's source, so a figure that was an estimate stays one ("estimate" in its
      source: `planner sensitivity` still re-plans a user's price overlay across the shipped
      range, and the estimate caveats stand) while the text says whose number it is.
    - A figure an earlier file set whose quoted source is an entry's or a block's `source`
      that a later file replaced (an overlay writing `source:` for the one figure it sets): it
      keeps the source it had, the latest text written for it by the figure's file or one
      before it (review s33: an overlay's "my lab's quote" was quoted for the unit's
      accelerators, CPUs and power it never set). A later `sources:` entry naming the figure
      is quoted as written (a correction of that figure's source alone).

    `docs`: the merged files in order (later ones win); only `entries_to_check` (those more
    than one file writes) are read."""
    files = [part.file for part in docs]
    order = {file: i for i, file in enumerate(files)}
    out: dict[tuple[str, str, str], tuple[str, tuple[str, int | None]]] = {}
    for kind in ("accelerators", "cpus", "systems", "models"):
        entries: dict[str, Sourced] = getattr(data, kind)
        for name, entry in entries.items():
            if (kind, name) not in entries_to_check:
                continue
            for figure in _numeric_figures(entry):
                file, line, _ = doc.where((kind, name, *figure.split(".")))
                chain = [
                    (doc.where((kind, name, *loc))[0], text)
                    for loc, text in entry.source_chain(figure)
                ]
                if order.get(chain[0][0], -1) > order.get(file, -1):
                    loc = entry.source_chain(figure)[0][0]
                    if loc[-1] == "source":  # a later file's whole-entry or block source
                        kept = _source_as_of(
                            docs[: order.get(file, -1) + 1], kind, name, entry, figure
                        )
                        if kept is not None:
                            out[(kind, name, figure)] = kept
                    continue
                if order.get(chain[0][0], -1) == order.get(file, -1):
                    continue  # the source quoted was written with the figure
                mine = next((text for f, text in chain if f == file), None)
                text = f"{OVERLAY_SOURCE}{file}, line {line}: " + (
                    mine if mine is not None else UNSOURCED + chain[0][1]
                )
                out[(kind, name, figure)] = (text, (file, line))
    return out


def _source_as_of(
    docs: list[Doc], kind: str, name: str, entry: Sourced, figure: str
) -> tuple[str, tuple[str, int | None]] | None:
    """The source a figure had in the merge of `docs` alone (the files up to the one that set
    it): the first location of its source chain (entry.source_chain: `sources` by the most
    specific key, a block's, the entry's `source`) that one of them writes, its text from the
    last that does, and where; None if none writes one."""
    for loc, _ in entry.source_chain(figure):
        for part in reversed(docs):
            node: object = part.data
            for key in (kind, name, *loc):
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, str):
                file, line, _ = part.where((kind, name, *loc))
                return node, (file, line)
    return None


def _systems_name_known_parts(data: CatalogData, doc: Doc) -> list[Problem]:
    out = []
    for name, sys_ in data.systems.items():
        if sys_.accelerator is not None and sys_.accelerator not in data.accelerators:
            out.append(
                doc.problem(
                    ("systems", name, "accelerator"),
                    f"unknown accelerator {sys_.accelerator!r}; known: {', '.join(sorted(data.accelerators))}",
                )
            )
        if sys_.cpu not in data.cpus:
            out.append(
                doc.problem(
                    ("systems", name, "cpu"),
                    f"unknown cpu {sys_.cpu!r}; known: {', '.join(sorted(data.cpus))}",
                )
            )
    return out


def _reservation_leaves_cores(data: CatalogData, doc: Doc) -> list[Problem]:
    out = []
    for name, sys_ in data.systems.items():
        if sys_.cpu not in data.cpus:
            continue
        cores = sys_.cpus * data.cpus[sys_.cpu].cores
        reserved = sys_.host_cores_reserved_per_accelerator * sys_.accelerators
        if reserved > cores:
            out.append(
                doc.problem(
                    ("systems", name, "host_cores_reserved_per_accelerator"),
                    f"reserves {reserved:g} cores but the system has only {cores}",
                )
            )
    return out


def _ranges_hold_their_defaults(data: CatalogData, doc: Doc) -> list[Problem]:
    """low <= default <= high for every range written in the same file as its figure (an
    overlay that moves only the figure keeps the shipped range: sensitivity still re-solves at
    its ends)."""
    out = []
    for kind in ("accelerators", "cpus", "systems", "models"):
        entries: dict[str, Sourced] = getattr(data, kind)
        for name, entry in entries.items():
            for key in entry.ranges:
                try:
                    low, default, high = entry.range_of(key)
                except (KeyError, TypeError):
                    continue  # a figure an overlay removed
                range_loc = (kind, name, "ranges", key)
                figure_file = doc.where((kind, name, *key.split(".")))[0]
                if figure_file == doc.where(range_loc)[0] and not low <= default <= high:
                    out.append(
                        doc.problem(
                            range_loc,
                            f"need low <= default <= high, got {low:g} <= {default:g} <= {high:g}",
                        )
                    )
    return out


CROSS_REFERENCE_RULES: list[Callable[[CatalogData, Doc], list[Problem]]] = [
    _systems_name_known_parts,
    _reservation_leaves_cores,
    _ranges_hold_their_defaults,
]


def _numeric_figures(entry: BaseModel, prefix: str = "") -> list[str]:
    """Dotted YAML keys of every numeric figure set in an entry (nested blocks and per-precision
    dicts included; `source`, `sources` and `ranges` left out)."""
    out: list[str] = []
    for name, info in type(entry).model_fields.items():
        key = info.alias or name
        if key in ("source", "sources", "ranges"):
            continue
        value = getattr(entry, name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            out.append(prefix + key)
        elif isinstance(value, BaseModel):
            out += _numeric_figures(value, f"{prefix}{key}.")
        elif isinstance(value, dict):
            out += [
                f"{prefix}{key}.{k}"
                for k, v in value.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
    return out


@dataclass(frozen=True)
class Estimate:
    """A catalog figure whose source says "estimate": where it is and its range (None: none
    given). kind: accelerators | cpus | systems | models."""

    kind: str
    entry: str
    figure: str
    source: str
    low: float | None
    default: float
    high: float | None
    range_source: str | None

    @property
    def path(self) -> str:
        """kind.entry.figure, e.g. systems.trn2-server.capex_usd."""
        return f"{self.kind}.{self.entry}.{self.figure}"


def estimates(catalog: Catalog) -> list[Estimate]:
    """Every figure of the catalog whose source (`source_of`) contains "estimate", with its
    range from `ranges:` when one is given."""
    out: list[Estimate] = []
    for kind in ("accelerators", "cpus", "systems", "models"):
        entries: dict[str, Sourced] = getattr(catalog.data, kind)
        for name, entry in entries.items():
            for key in _numeric_figures(entry):
                source = entry.source_of(key)
                if "estimate" not in source.lower():
                    continue
                if key in entry.ranges:
                    low, default, high = entry.range_of(key)
                    rsrc: str | None = entry.ranges[key].source
                else:
                    low, high, rsrc = None, None, None
                    default = float(entry.figure(key)[1])
                out.append(Estimate(kind, name, key, source, low, default, high, rsrc))
    return out
