"""The frame index of a video (pts and pixel CRC of every frame a decode from the start gave,
its keyframes) and this process's cache of indexes, least recently used first out."""

from __future__ import annotations

import os
import threading
import zlib
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

_NO_PTS = -(2**63)  # stands for a frame without a timestamp
_PLANAR_8BIT = frozenset(
    "yuv420p yuvj420p yuv422p yuvj422p yuv444p yuvj444p yuv440p yuvj440p yuv411p yuv410p "
    "gray gbrp".split()
)


def _fingerprint(frame: Any) -> int:
    """CRC-32 of a decoded frame's pixels (its own format, row padding left out)."""
    if frame.format.name in _PLANAR_8BIT:
        crc = 0
        for plane in frame.planes:
            width, height, line = plane.width, plane.height, plane.line_size
            data = np.frombuffer(plane, np.uint8)
            if data.size < line * height:
                break
            if line == width:
                crc = zlib.crc32(data[: width * height], crc)
            else:
                rows = data[: line * height].reshape(height, line)[:, :width]
                crc = zlib.crc32(np.ascontiguousarray(rows), crc)
        else:
            return crc
    return zlib.crc32(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))


class _FrameIndex:
    """What decoding one video from its start has shown (see :mod:`vcop_lab.data.video`)."""

    __slots__ = ("pts", "crc", "keys", "packets", "count", "bad", "skip_ok", "pts_ok",
                 "time_base", "fps", "width", "height")

    def __init__(self) -> None:
        self.pts = array("q")  # pts of frame i, in decode order
        self.crc = array("I")  # CRC-32 of frame i's decoded pixels
        self.keys: list[tuple[int, int | None, int | None]] = []  # keyframe (pts, dts, pos)
        self.packets = 0  # packets a decode from the start has gone through
        self.count: int | None = None  # frames that decode, once a read reached the end
        self.bad: set[int] = set()  # keyframe pts whose seek did not give the indexed frames
        self.skip_ok = True  # skipping unneeded non-reference frames gave the indexed frames
        self.pts_ok = True  # reading by timestamps from the start gave the indexed frames
        self.time_base = 0.0
        self.fps = 0.0
        self.width = self.height = 0

    def pts_map(self) -> dict[int, int] | None:
        """pts -> frame index over the indexed frames; None if a pts is missing or repeated."""
        lookup = dict(zip(self.pts, range(len(self.pts))))
        if not self.pts_ok or len(lookup) != len(self.pts) or _NO_PTS in lookup:
            return None
        return lookup

    def seek_point(
        self, first: int, lookup: dict[int, int]
    ) -> tuple[int, tuple[int, int | None, int | None]] | None:
        """The last usable keyframe whose frame is at or before ``first``: (index, key)."""
        best = None
        for key in self.keys:
            index = lookup.get(key[0])
            if index is not None and index <= first and key[0] not in self.bad:
                if best is None or index > best[0]:
                    best = (index, key)
        return best


class _DecordIndex:
    """What reading one video with decord's ``next()`` from its start has shown, at one size."""

    __slots__ = ("crc", "random_ok")

    def __init__(self) -> None:
        self.crc = array("I")  # CRC-32 of decord's RGB frame i
        self.random_ok = True  # get_batch gave the frames that next() gives


_INDEXES: OrderedDict[tuple, _FrameIndex | _DecordIndex] = OrderedDict()
_INDEX_MAX_FRAMES = 4_000_000  # about 50 MB of index per process
_INDEX_LOCK = threading.Lock()


def _index_for(path: Path, stat: os.stat_result, kind: tuple = ("pyav",)) -> Any:
    """The frame index of ``path`` in this process (a new, empty one if the file changed);
    ``kind`` is ``("pyav",)`` or ``("decord", size)``."""
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, *kind)
    with _INDEX_LOCK:
        index = _INDEXES.get(key)
        if index is not None:
            _INDEXES.move_to_end(key)
            return index
        index = _INDEXES[key] = _FrameIndex() if kind[0] == "pyav" else _DecordIndex()
        if len(_INDEXES) % 64 == 0:  # indexes grow after they are made: count now and then
            total = sum(len(i.crc) for i in _INDEXES.values())
            while total > _INDEX_MAX_FRAMES and len(_INDEXES) > 1:
                total -= len(_INDEXES.popitem(last=False)[1].crc)
        return index


def clear_frame_index_cache() -> None:
    """Forget every frame index of this process (the next read of each video starts over)."""
    with _INDEX_LOCK:
        _INDEXES.clear()
