"""Atomic writes: a file is either its old complete self or the complete new one.

Every writer of the toolkit goes through :func:`atomic_path`: write to a hidden temporary
file beside the target (``.NAME.tmpPID``, or ``.STEM.tmpPID.SUFFIX`` where a library picks
the format by the suffix), flush it to disk, then rename it over the target. A crash leaves
at most a temporary file, which :func:`remove_stale_temps` deletes on the next start once the
process that wrote it is gone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vcop_lab.errors import SettingsError

_TEMP = re.compile(r"^\..+\.tmp(\d+)(\.[^.]+)?$")


def temp_path(path: str | Path, keep_suffix: bool = False) -> Path:
    """The hidden temporary name this process writes ``path`` under."""
    path = Path(path)
    if keep_suffix and path.suffix:
        return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


@contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False, fsync: bool = True
                ) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on success it replaces
    ``path`` in one rename, on an exception it is removed and ``path`` is left as it was.

    ``keep_suffix`` keeps the file's suffix at the end of the temporary name, for writers
    that choose a format by it (``.npy``, ``.mp4``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, keep_suffix)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data, indent: int | None = 1) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (values JSON cannot hold become strings)."""
    return write_text_atomic(path, json.dumps(data, indent=indent, default=str) + "\n")


def check_writable(path: str | Path, folder: bool = False) -> Path:
    """Make sure ``path`` (a file, or with ``folder`` a folder) can be written, before any work
    is done for it: its folder is created, and a file is not a folder (nor the reverse).
    Raises :class:`~vcop_lab.errors.SettingsError` naming the path and the fix."""
    path = Path(path)
    where = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise SettingsError("is a file, not a folder", path, "choose a folder path for --out")
    if not folder and path.is_dir():
        raise SettingsError("is a folder, not a file", path,
                            "give the path of a file to write, e.g. results.json")
    try:
        where.mkdir(parents=True, exist_ok=True)
        probe = where / f".write-test.tmp{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"cannot be written ({exc.strerror or exc})", where,
                            "choose a folder you can write to (--out)") from None
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Delete the temporary files of writers that died (killed mid-write) in ``folder``.

    A temporary file of a process that is still running is kept: it may be writing it now.
    Returns the files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"):
        m = _TEMP.match(path.name)
        if m and path.is_file() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
