"""Output files written whole or not at all (issue 16).

Every file a command writes (plan.json and CSVs under --out, --html, --plot, sweep outputs) goes
to a temporary file in the same folder, then `os.replace` puts it in place: a reader sees the
old file or the new one, never half of one, and a failed write (full disk, a folder that is not
there or not writable) leaves no truncated file behind. A failure is an `OutputError`: one line
naming the path and the reason, exit 1.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fleetcore.errors import PlannerError


class OutputError(PlannerError):
    """An output file or folder cannot be written (exit 1, like other bad input)."""

    exit_code = 1


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_dir(path: str | Path) -> Path:
    """Create an output folder (and its parents); OutputError if it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write to {out}: it exists and is not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create folder {out}: {_reason(exc)}") from None
    return out


def check_writable(path: str | Path | None) -> None:
    """OutputError now, before any work whose result goes to `path`, if it cannot be written
    there: a folder, or its folder missing or not writable (None: no such output)."""
    if path is None:
        return
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise OutputError(f"cannot write {out}: it is a folder")
    if not folder.is_dir():
        raise OutputError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {out}: folder {folder} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """The name of a temporary file (created empty, in `path`'s folder) for a writer that opens
    files by name; it replaces `path` only when the block ends without error, with the
    permissions a plain `open` would give (0666 less the umask)."""
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"cannot write {out}: it is a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {_reason(exc)}") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"cannot write {out}: {_reason(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic(path: str | Path, binary: bool = False) -> Iterator[IO[Any]]:
    """An open file (text UTF-8, or binary) whose content replaces `path` only when the block
    ends without error (see `atomic_path`)."""
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8") as file,
    ):
        yield file
        file.flush()
        os.fsync(file.fileno())


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; OutputError on failure."""
    with atomic(path) as file:
        file.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; OutputError on failure."""
    with atomic(path, binary=True) as file:
        file.write(data)
    return Path(path)
