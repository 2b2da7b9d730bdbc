"""Reading with decord: opening a file, its random access (kept only where it gives the frames
that reading in order gave) and reading in order with ``next()``."""

from __future__ import annotations

import functools
import os
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vcop_lab.data.video.checks import _DAMAGED_FIX, _range_error, _reason, _require_file
from vcop_lab.data.video.frame_index import _DecordIndex, _index_for
from vcop_lab.errors import VideoError


@functools.cache
def _decord() -> ModuleType | None:
    """The decord module, or None where it cannot be imported (no wheels for macOS ARM)."""
    try:
        import decord
    except Exception:  # an ImportError, or an OSError from a broken shared library
        return None
    try:
        decord.logging.set_level(decord.logging.QUIET)  # FFmpeg chatter about damaged frames
    except Exception:
        pass
    return decord


def _open_decord(path: Path, size: tuple[int, int] | None, threads: int) -> Any:
    _require_file(path)
    decord = _decord()
    height, width = size if size is not None else (-1, -1)
    try:
        return decord.VideoReader(
            str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=threads
        )
    except Exception as error:  # decord raises RuntimeError or its own DECORDError
        raise VideoError(
            f"decord cannot open it ({_reason(error)})",
            path=path,
            fix=f"read it with PyAV (backend 'auto'), or {_DAMAGED_FIX}",
        ) from error


class DecordDecoder:
    """One file's decord reader and where ``next()`` stands between the requests of a reader.

    A request within the part of the video already read in order uses decord's random access
    (verified against the CRCs recorded then); any other goes on with ``next()``.
    """

    def __init__(self, path: Path, size: tuple[int, int] | None, threads: int):
        self.path, self.size, self.threads = path, size, threads
        self._reset()

    def _reset(self) -> None:
        self.handle: Any = None  # a decord VideoReader
        self._pos = 0  # index of the frame that next() gives

    def read(self, needed: list[int], stat: os.stat_result) -> dict[int, np.ndarray]:
        """The frames ``needed`` (sorted, no repeats) as RGB arrays."""
        index = _index_for(self.path, stat, ("decord", self.size))
        try:
            if index.random_ok and needed[-1] < len(index.crc):
                frames = self._batch(needed, index)
                if frames is not None:
                    return frames
            return self._in_order(needed, index)
        except StopIteration:
            count = self._pos
            self.close()
            raise _range_error(self.path, needed[-1], count) from None
        except Exception as error:  # decord's DECORDError and the like
            decoded = self._pos
            self.close()
            raise VideoError(
                f"decord failed after {decoded} frames ({_reason(error)})",
                path=self.path,
                fix=f"read it with PyAV (backend 'auto'), or {_DAMAGED_FIX}",
            ) from error

    def _batch(self, needed: list[int], index: _DecordIndex) -> dict[int, np.ndarray] | None:
        """decord's random access, kept only if every frame has the CRC that ``next()`` gave;
        otherwise None, and this video is read in order from now on."""
        if self.handle is None:
            self.handle = _open_decord(self.path, self.size, self.threads)
        self._pos = sys.maxsize  # where next() would go on is unknown after get_batch
        try:
            frames = self.handle.get_batch(needed).asnumpy()
        except Exception:
            frames = None
        if frames is not None and all(
            zlib.crc32(frames[k]) == index.crc[i] for k, i in enumerate(needed)
        ):
            return dict(zip(needed, frames))
        index.random_ok = False
        return None

    def _in_order(self, needed: list[int], index: _DecordIndex) -> dict[int, np.ndarray]:
        """decord driven by ``next()`` only, from the start or from where it stopped; frames
        that the index does not hold yet are recorded in it."""
        if self.handle is None or self._pos > needed[0]:
            self.close()
            self.handle = _open_decord(self.path, self.size, self.threads)
        reader, todo = self.handle, set(needed)
        out: dict[int, np.ndarray] = {}
        while todo:
            frame = reader.next()  # StopIteration past the end: a range error upstream
            position = self._pos
            self._pos += 1
            if position == len(index.crc) or position in todo:
                array_ = frame.asnumpy()
                if position == len(index.crc):
                    index.crc.append(zlib.crc32(array_))
                if position in todo:
                    out[position] = array_
                    todo.discard(position)
        return out

    def close(self) -> None:
        """Release the reader; the next :meth:`read` opens the file again."""
        handle = self.handle
        self._reset()
        if handle is not None and hasattr(handle, "close"):
            handle.close()
