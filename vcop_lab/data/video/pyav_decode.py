"""Reading with PyAV: opening a file, decoding it from the start (which records its frame
index), and seeking to a keyframe to read frames by timestamp, checked against that index."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from vcop_lab.data.video.checks import _DAMAGED_FIX, _reason, _require_file
from vcop_lab.data.video.frame_index import _NO_PTS, _fingerprint, _FrameIndex, _index_for
from vcop_lab.errors import VideoError

_DECODE_ERRORS = (av.error.FFmpegError, OSError)


def _open_pyav(path: Path, threads: int) -> tuple[Any, Any]:
    """Open ``path`` with PyAV and return (container, video stream); VideoError if it fails."""
    _require_file(path)
    try:
        # One HMDB51 AVI carries metadata that is not valid UTF-8.
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoError(
            f"cannot be opened as a video ({_reason(error)})", path=path, fix=_DAMAGED_FIX
        ) from error
    if not container.streams.video:
        container.close()
        raise VideoError("has no video stream", path=path, fix="pass a video file")
    stream = container.streams.video[0]
    if threads != 1:
        stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads  # 0: as many as FFmpeg likes
    return container, stream


def _fps(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _from_start(container: Any, stream: Any, index: _FrameIndex) -> Iterator[tuple[int, Any]]:
    """Decode from the start of a freshly opened file, yielding (index, frame) and recording
    every frame and keyframe packet that the index does not hold yet."""
    index.time_base = float(stream.time_base or 0.0)
    index.fps = _fps(stream)
    position = packets = 0
    for packet in container.demux(stream):
        if packets == index.packets:  # a packet no decode from the start got to before
            index.packets += 1
            if packet.is_keyframe and packet.pts is not None:
                index.keys.append((packet.pts, packet.dts, packet.pos))
        packets += 1
        for frame in packet.decode():
            if position == len(index.pts):
                if position == 0:
                    index.width, index.height = frame.width, frame.height
                index.pts.append(_NO_PTS if frame.pts is None else frame.pts)
                index.crc.append(_fingerprint(frame))
            yield position, frame
            position += 1
    index.count = position


class _Unverified(Exception):
    """A read by timestamps did not give the indexed frames; read from the start instead."""


class _PastEnd(Exception):
    """A decode from the start ran out before the last requested frame, after ``count``."""

    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


def _packets_from(
    container: Any, stream: Any, key: tuple[int, int | None, int | None]
) -> Iterator[Any]:
    """Seek to keyframe ``key`` = (pts, dts, file position) and yield packets from there."""
    pts, dts, pos = key
    for target in dict.fromkeys(t for t in (pts, dts) if t is not None):
        # Containers index keyframes by pts (MP4) or by dts (AVI): try pts, then dts.
        container.seek(target, backward=True, any_frame=False, stream=stream)
        stream.codec_context.flush_buffers()
        packets = container.demux(stream)
        first = next(packets, None)
        if first is None:
            raise _Unverified
        if first.pos is not None and pos is not None:
            late = first.pos > pos
        else:
            late = first.dts is not None and dts is not None and first.dts > dts
        if not late:  # at the keyframe, or before it (slower but still right)
            yield first
            yield from packets
            return
    raise _Unverified  # every target landed after the keyframe


def _index_whole_video(path: Path, threads: int = 1) -> _FrameIndex:
    """Decode ``path`` from start to end (no conversion) unless its index is complete."""
    stat = _require_file(path)
    index = _index_for(path, stat)
    if index.count is not None:
        return index
    container, stream = _open_pyav(path, threads)
    try:
        for _ in _from_start(container, stream, index):
            pass
    except _DECODE_ERRORS as error:
        raise VideoError(
            f"decoding failed after {len(index.pts)} frames ({_reason(error)})",
            path=path,
            fix=_DAMAGED_FIX,
        ) from error
    finally:
        container.close()
    if not index.count:
        raise VideoError("no frame decodes", path=path, fix=_DAMAGED_FIX)
    return index


def _count_pyav(path: Path, threads: int = 1) -> tuple[int, float, int, int]:
    """Decode the whole video with PyAV: (frame count, fps, width, height)."""
    index = _index_whole_video(path, threads)
    return index.count, index.fps, index.width, index.height


_LOCAL = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's scaler: reusing it skips FFmpeg's scaler set-up for every frame."""
    reformatter = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    return reformatter


# Frames a seek is worth: below this many frames saved, decoding on is as quick.
_SEEK_COST = 4


class PyAVDecoder:
    """One file's PyAV decoder and where it stands between the requests of a reader.

    Each request continues decoding forward, seeks to a keyframe (only within the indexed
    part of the video) or starts again from the beginning, whichever decodes the fewest
    frames; frames are converted to RGB (resized to ``size``, if given).
    """

    def __init__(self, path: Path, size: tuple[int, int] | None, threads: int):
        self.path, self.size, self.threads = path, size, threads
        self._reset()

    def _reset(self) -> None:
        self.handle: Any = None  # the PyAV container
        self._stream: Any = None  # its video stream
        self._frames: Iterator[tuple[int | None, Any]] | None = None  # (index, frame) pairs
        self._lookup: dict[int, int] | None = None  # pts -> index while reading by timestamps
        self._want: set[int] = set()  # the frames of the current request
        self._pos = 0  # index of the next frame the decoder yields

    def read(self, needed: list[int], index: _FrameIndex) -> dict[int, np.ndarray]:
        """The frames ``needed`` (sorted, no repeats) as RGB arrays; :class:`_PastEnd` if the
        video ends before the last one."""
        first, last = needed[0], needed[-1]
        lookup = index.pts_map() if last < len(index.pts) else None
        costs = {}  # frames to decode before the first requested one, per plan
        if self._frames is not None and self._pos <= first and (
            self._lookup is None or lookup is not None
        ):
            costs["continue"] = first - self._pos
        point = index.seek_point(first, lookup) if lookup is not None else None
        if point is not None and point[0] > 0:
            costs["seek"] = first - point[0] + _SEEK_COST
        costs["start"] = first + (self.handle is not None)  # + opening the file again
        plan = min(costs, key=costs.get)  # on a tie the first in this order
        if lookup is not None:  # the index knows these frames: read by timestamps
            if plan != "continue" or self._lookup is None:
                if plan == "start" or self.handle is None:
                    self.close()
                    self.handle, self._stream = _open_pyav(self.path, self.threads)
                key = point[1] if plan == "seek" else None
                self._frames = self._by_timestamp(index, key)
                self._pos = point[0] if plan == "seek" else 0
            self._lookup, self._want = lookup, set(needed)
            skipping = index.skip_ok
            try:
                return self._collect_by_timestamp(needed, index)
            except (_Unverified, *_DECODE_ERRORS):
                # Learn what went wrong, so that it is not tried again, and start over.
                if skipping:
                    index.skip_ok = False
                elif plan == "seek":
                    index.bad.add(point[1][0])
                else:
                    index.pts_ok = False
                plan = "start"
        if plan == "start" or self._lookup is not None:
            self.close()
            self.handle, self._stream = _open_pyav(self.path, self.threads)
            self._frames = _from_start(self.handle, self._stream, index)
        return self._collect_from_start(needed)

    def _by_timestamp(
        self, index: _FrameIndex, key: tuple[int, int | None, int | None] | None
    ) -> Iterator[tuple[int | None, Any]]:
        """(index by pts or None, frame) from keyframe ``key`` (None: the file's start).

        Packets of frames that the current request does not need are decoded with
        non-reference frames skipped (they cannot be needed to decode another frame).
        """
        container, stream = self.handle, self._stream
        context = stream.codec_context
        if key is None:
            packets = container.demux(stream)
        else:
            packets = _packets_from(container, stream, key)
        skipping = None
        for packet in packets:
            if index.skip_ok:
                position = self._lookup.get(packet.pts)
                skip = position is not None and position not in self._want
                if skip is not skipping:
                    context.skip_frame = "NONREF" if skip else "DEFAULT"
                    skipping = skip
            elif skipping:
                context.skip_frame, skipping = "DEFAULT", False
            for frame in packet.decode():
                yield self._lookup.get(frame.pts), frame

    def _collect_by_timestamp(
        self, needed: list[int], index: _FrameIndex
    ) -> dict[int, np.ndarray]:
        """Frames identified by pts, each checked against the CRC in the index."""
        out: dict[int, np.ndarray] = {}
        todo, last = set(needed), needed[-1]
        for position, frame in self._frames:
            if position is None:
                continue  # a frame that the decode from the start never gave
            self._pos = max(self._pos, position + 1)
            if position in todo:
                if _fingerprint(frame) != index.crc[position]:
                    raise _Unverified
                out[position] = self._to_array(frame)
                todo.discard(position)
                if not todo:
                    return out
            elif position > last:
                raise _Unverified  # a requested frame did not come out
        raise _Unverified

    def _collect_from_start(self, needed: list[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        todo = set(needed)
        try:
            for position, frame in self._frames:
                self._pos = position + 1
                if position in todo:
                    out[position] = self._to_array(frame)
                    todo.discard(position)
                    if not todo:
                        return out  # the decoder stays open for a later request
        except _DECODE_ERRORS as error:
            decoded = self._pos
            self.close()
            raise VideoError(
                f"decoding failed after {decoded} frames ({_reason(error)})",
                path=self.path,
                fix=_DAMAGED_FIX,
            ) from error
        # The decoder ran out before the last requested frame: now the count is known.
        count = self._pos
        self.close()
        raise _PastEnd(count)

    def _to_array(self, frame: Any) -> np.ndarray:
        height, width = self.size if self.size is not None else (None, None)
        # Bilinear matches decord's scaler to within about one grey level.
        rgb = _reformatter().reformat(
            frame, width=width, height=height, format="rgb24", interpolation="BILINEAR",
            threads=1,
        )
        return rgb.to_ndarray()

    def close(self) -> None:
        """Release the decoder; the next :meth:`read` opens the file again."""
        handle = self.handle
        self._reset()
        if handle is not None:
            handle.close()
