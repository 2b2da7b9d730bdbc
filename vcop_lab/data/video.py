"""Reading frames from video files with decord or PyAV, exactly and without decoding more
than needed.

Frames are numbered in decode order, starting at 0: frame ``i`` is the ``i``-th frame that a
plain decode from the start of the file outputs. A frame index is valid only if that frame
actually decodes: container headers are not trusted (HMDB51 AVIs claim one frame more than
they hold) and frame timestamps are never sorted (B-frame AVIs have non-monotonic ones).

How a read stays exact while it seeks:

* A read that starts at the beginning of the file decodes forward without seeking; that is
  the ground truth. While doing so it records the video's *frame index*: the timestamp
  (pts) of every frame it decodes, a CRC-32 of the frame's decoded pixels (before any
  conversion), and the timestamp and file position of every keyframe packet. The index
  grows with each such read and knows the frame count once a read reaches the end (a probe
  indexes the whole video). It is kept in memory per process (least recently used first
  out), keyed by the path, size and modification time of the file; DataLoader workers
  inherit what the main process had indexed when they started, and index the rest
  themselves.
* A later read whose frames all lie in the indexed part seeks to the last keyframe at or
  before its first frame (or, if that is the first frame of the file, opens it afresh) and
  decodes forward from there, skipping the non-reference frames (B-frames, which no other
  frame is decoded from) of packets whose frame it does not need. A frame that comes out is
  identified by its pts, which works only where every indexed frame has a pts and no two
  share one (otherwise that video is always read from the start), and a requested frame is
  kept only if its pixels have the CRC recorded for that index. When a requested frame does
  not come out or does not match (leading B-frames of an open GOP, a decoder that numbers
  frames differently after a seek, a seek that lands elsewhere, a packet whose timestamp is
  not its frame's), the read is redone from the start and the cause is not tried again for
  this video: first the skipping, then that keyframe. So every frame returned is, up to a
  CRC collision between two frames with the same timestamp, the frame that the decode from
  the start gives at that index.
* decord reads the same way with its own decoder: ``next()`` from the start is the ground
  truth and records a CRC of every RGB frame (per output size), and random access
  (``get_batch``) is used only within the indexed part and kept only if every frame it
  returns has the recorded CRC; at the first mismatch the video is read with ``next()``
  from then on. This is needed: ``get_batch`` sorts packet timestamps, and returned frame 4
  for frame 24 of a B-frame HMDB51 AVI; ``skip_frames`` returned frame 68 for frame 73 of
  another; on an open-GOP H.264 MP4 frames after a keyframe come out damaged; decord's
  header count is one too high on HMDB51. (decord's FFmpeg is not PyAV's: on some XviD
  frames the two differ by one grey level in a few pixels, so each backend is checked
  against itself.)

Frames are converted to RGB (and resized) by FFmpeg's scaler in one thread, with a scaler
kept per thread so that its set-up is not paid for every frame. Frame counts always come
from a full PyAV decode, also under decord.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import av.error
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from vcop_lab.errors import SettingsError, VcopError, VideoError

BACKENDS = ("decord", "pyav")  # in order of preference

_DAMAGED_FIX = "re-download the file or re-encode it with ffmpeg, or drop it from the manifest"
_RANGE_FIX = (
    "pass frame indices from 0 to the frame count minus one; if the file changed, rebuild "
    "the manifest so that its frame counts are right"
)
_DECODE_ERRORS = (av.error.FFmpegError, OSError)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found out about a video.

    ``num_frames`` is the number of frames that actually decode; ``width`` and ``height`` are
    those of the decoded frames; ``backend`` is the backend that reads the file.
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    backend: str


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


def available_backends() -> list[str]:
    """The backends that work here, in order of preference: decord (if it imports), PyAV."""
    return [name for name in BACKENDS if name != "decord" or _decord() is not None]


def _is_gif(path: Path) -> bool:
    if path.suffix.lower() == ".gif":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(6) in (b"GIF87a", b"GIF89a")
    except OSError:
        return False


def choose_backend(path: str | Path, backend: str = "auto") -> str:
    """The backend that reads ``path``.

    ``"auto"`` picks decord where it imports and the file is not a GIF (decord cannot read
    GIF), and PyAV otherwise. Asking for a backend that is not available raises
    :class:`SettingsError`.
    """
    path = Path(path)
    if backend == "auto":
        return "decord" if _decord() is not None and not _is_gif(path) else "pyav"
    if backend not in BACKENDS:
        raise SettingsError(
            f"unknown video backend {backend!r}",
            fix=f"use one of: auto, {', '.join(BACKENDS)}",
        )
    if backend == "decord":
        if _decord() is None:
            raise SettingsError(
                "the video backend 'decord' is not installed or does not import here",
                fix="use backend 'auto' or 'pyav', or install decord (it has no wheels for "
                "macOS on ARM)",
            )
        if _is_gif(path):
            raise SettingsError(
                "decord cannot read GIF files",
                path=path,
                fix="use backend 'auto' or 'pyav' for GIF files",
            )
    return backend


def _require_file(path: Path) -> os.stat_result:
    if not path.exists():
        raise VideoError(
            "video file not found",
            path=path,
            fix="check the path and the video root, or rebuild the manifest",
        )
    if path.is_dir():
        raise VideoError("is a folder, not a video file", path=path, fix="pass a video file")
    stat = path.stat()
    if stat.st_size == 0:
        raise VideoError("is empty (0 bytes)", path=path, fix=_DAMAGED_FIX)
    return stat


def _reason(error: BaseException) -> str:
    """A short description of a decoder exception, without the path it repeats."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.splitlines()[0].strip()


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


# --- the per-video frame index ---------------------------------------------------------------

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
    """What decoding one video from its start has shown (see the module docstring)."""

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
            fix=f"use backend 'pyav', or {_DAMAGED_FIX}",
        ) from error


def probe(path: str | Path, backend: str = "auto", threads: int = 1) -> VideoInfo:
    """Count the frames that decode and read the frame rate and frame size of a video.

    The count comes from decoding the whole video with PyAV (a few hundredths of a second
    for a UCF101 clip), which also completes the video's frame index in this process. Under
    decord the file is also opened with decord, and the count is capped at decord's own
    count, so that every counted frame can be read with either backend. Raises
    :class:`VideoError` if the file is missing, cannot be opened or decodes no frame.
    """
    path = Path(path)
    name = choose_backend(path, backend)
    count, fps, width, height = _count_pyav(path, threads)
    if name == "decord":
        reader = _open_decord(path, None, 1)
        count = min(count, len(reader))
        del reader
    return VideoInfo(str(path), count, fps, width, height, name)


def require_frames(
    info_or_num: VideoInfo | int, needed: int, path: str | Path | None = None
) -> None:
    """Raise :class:`VideoError` if a video has fewer than ``needed`` frames."""
    if isinstance(info_or_num, VideoInfo):
        count, path = info_or_num.num_frames, path or info_or_num.path
    else:
        count = int(info_or_num)
    if count < needed:
        raise VideoError(
            f"has {count} frames, the setting needs {needed}",
            path=path,
            fix="drop it or choose a shorter cl-it-tl",
        )


def _index_list(indices: Iterable[int] | torch.Tensor | np.ndarray) -> list[int]:
    if isinstance(indices, (torch.Tensor, np.ndarray)):
        indices = indices.reshape(-1).tolist()
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("no frame indices given")
    return wanted


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise SettingsError(
            f"frame size {tuple(size)} is not positive", fix="give the size as (height, width)"
        )
    return height, width


_LOCAL = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's scaler: reusing it skips FFmpeg's scaler set-up for every frame."""
    reformatter = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    return reformatter


# Frames a seek is worth: below this many frames saved, decoding on is as quick.
_SEEK_COST = 4


class VideoReader:
    """Lazily opened, reusable reader for one file.

    Nothing is opened until the first :meth:`get`, so that each DataLoader worker opens its
    own decoder: create readers inside the worker (e.g. in ``__getitem__``), never in a
    Dataset constructor shared across forked workers. A reader that finds itself in another
    process than the one that opened it, or that is pickled, opens the file again.

    With PyAV a request either continues decoding forward from where the last one stopped,
    seeks to a keyframe (only within the part of the video already indexed, see the module
    docstring), or starts again from the beginning, whichever decodes the fewest frames;
    requests in increasing order thus cost at most one pass over the video. With decord a
    request within the indexed part uses decord's random access (verified), any other goes
    on with ``next()``.

    Args:
        path: the video file.
        backend: ``"auto"``, ``"decord"`` or ``"pyav"`` (see :func:`choose_backend`).
        size: ``(height, width)`` to resize to in the decoder (bilinear), or None.
        num_frames: the known number of decodable frames (from a manifest made by
            :func:`probe`), so that it is not counted again.
        threads: decoder threads; keep 1 inside DataLoader workers, 0 lets FFmpeg choose.
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        size: tuple[int, int] | None = None,
        *,
        num_frames: int | None = None,
        threads: int = 1,
    ):
        self.path = Path(path)
        self.backend = choose_backend(self.path, backend)
        self.size = _check_size(size)
        self.threads = int(threads)
        self._num_frames = None if num_frames is None else int(num_frames)
        self._reset()

    def _reset(self) -> None:
        self._handle: Any = None  # a PyAV container or a decord VideoReader
        self._stream: Any = None  # PyAV's video stream
        self._frames: Iterator[tuple[int | None, Any]] | None = None  # (index, frame) pairs
        self._lookup: dict[int, int] | None = None  # pts -> index while reading by timestamps
        self._want: set[int] = set()  # the frames of the current request
        self._pos = 0  # index of the next frame the decoder yields
        self._pid = os.getpid()

    @property
    def num_frames(self) -> int:
        """The number of frames that decode (counted once, unless given)."""
        if self._num_frames is None:
            self._num_frames = probe(self.path, self.backend, self.threads).num_frames
        return self._num_frames

    def get(self, indices: Iterable[int] | torch.Tensor | np.ndarray) -> torch.Tensor:
        """The frames at ``indices`` (decode order) as a uint8 tensor ``(len, H, W, 3)``.

        Frames come in the order of ``indices``; repeated indices are decoded once. An index
        below 0 or at or beyond the number of decodable frames raises :class:`VideoError`.
        """
        wanted = _index_list(indices)
        needed = sorted(set(wanted))
        if needed[0] < 0:
            raise VideoError(f"frame index {needed[0]} is negative", path=self.path, fix=_RANGE_FIX)
        if self._handle is not None and self._pid != os.getpid():
            self.close()
        stat = _require_file(self.path)
        index = _index_for(self.path, stat)
        # decord repeats a frame past the real end of some AVIs: check against the true count.
        count = index.count
        if count is None:
            count = self.num_frames if self.backend == "decord" else self._num_frames
        if count is not None and needed[-1] >= count:
            raise self._range_error(needed[-1], count)
        if self.backend == "decord":
            frames = self._decord_frames(needed, stat)
        else:
            frames = self._pyav_frames(needed, index)
        return torch.from_numpy(np.stack([frames[i] for i in wanted]))

    def _range_error(self, index: int, count: int) -> VideoError:
        return VideoError(
            f"frame index {index} is out of range: the video has {count} decodable frames",
            path=self.path,
            fix=_RANGE_FIX,
        )

    # --- PyAV ---------------------------------------------------------------------------

    def _pyav_frames(self, needed: list[int], index: _FrameIndex) -> dict[int, np.ndarray]:
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
        costs["start"] = first + (self._handle is not None)  # + opening the file again
        plan = min(costs, key=costs.get)  # on a tie the first in this order
        if lookup is not None:  # the index knows these frames: read by timestamps
            if plan != "continue" or self._lookup is None:
                if plan == "start" or self._handle is None:
                    self.close()
                    self._handle, self._stream = _open_pyav(self.path, self.threads)
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
            self._handle, self._stream = _open_pyav(self.path, self.threads)
            self._frames = _from_start(self._handle, self._stream, index)
        return self._collect_from_start(needed)

    def _by_timestamp(
        self, index: _FrameIndex, key: tuple[int, int | None, int | None] | None
    ) -> Iterator[tuple[int | None, Any]]:
        """(index by pts or None, frame) from keyframe ``key`` (None: the file's start).

        Packets of frames that the current request does not need are decoded with
        non-reference frames skipped (they cannot be needed to decode another frame).
        """
        container, stream = self._handle, self._stream
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
        self._num_frames = self._pos
        self.close()
        raise self._range_error(needed[-1], self._num_frames)

    def _to_array(self, frame: Any) -> np.ndarray:
        height, width = self.size if self.size is not None else (None, None)
        # Bilinear matches decord's scaler to within about one grey level.
        rgb = _reformatter().reformat(
            frame, width=width, height=height, format="rgb24", interpolation="BILINEAR",
            threads=1,
        )
        return rgb.to_ndarray()

    # --- decord -------------------------------------------------------------------------

    def _decord_frames(self, needed: list[int], stat: os.stat_result) -> dict[int, np.ndarray]:
        index = _index_for(self.path, stat, ("decord", self.size))
        try:
            if index.random_ok and needed[-1] < len(index.crc):
                frames = self._decord_batch(needed, index)
                if frames is not None:
                    return frames
            return self._decord_in_order(needed, index)
        except StopIteration:
            count = self._pos
            self.close()
            raise self._range_error(needed[-1], count) from None
        except Exception as error:  # decord's DECORDError and the like
            decoded = self._pos
            self.close()
            raise VideoError(
                f"decord failed after {decoded} frames ({_reason(error)})",
                path=self.path,
                fix=f"use backend 'pyav', or {_DAMAGED_FIX}",
            ) from error

    def _decord_batch(
        self, needed: list[int], index: _DecordIndex
    ) -> dict[int, np.ndarray] | None:
        """decord's random access, kept only if every frame has the CRC that ``next()`` gave;
        otherwise None, and this video is read in order from now on."""
        if self._handle is None:
            self._handle = _open_decord(self.path, self.size, self.threads)
        self._pos = sys.maxsize  # where next() would go on is unknown after get_batch
        try:
            frames = self._handle.get_batch(needed).asnumpy()
        except Exception:
            frames = None
        if frames is not None and all(
            zlib.crc32(frames[k]) == index.crc[i] for k, i in enumerate(needed)
        ):
            return dict(zip(needed, frames))
        index.random_ok = False
        return None

    def _decord_in_order(self, needed: list[int], index: _DecordIndex) -> dict[int, np.ndarray]:
        """decord driven by ``next()`` only, from the start or from where it stopped; frames
        that the index does not hold yet are recorded in it."""
        if self._handle is None or self._pos > needed[0]:
            self.close()
            self._handle = _open_decord(self.path, self.size, self.threads)
        reader, todo = self._handle, set(needed)
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
        """Release the decoder; a later :meth:`get` opens the file again."""
        handle = self._handle
        same_process = self._pid == os.getpid()
        self._reset()
        if handle is not None and same_process and hasattr(handle, "close"):
            handle.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # decoders cannot be pickled: the copy opens its own
        state.update(_handle=None, _stream=None, _frames=None, _lookup=None, _want=set(), _pos=0)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, backend={self.backend!r}, size={self.size})"


def read_frames(
    path: str | Path,
    indices: Iterable[int] | torch.Tensor | np.ndarray,
    backend: str = "auto",
    size: tuple[int, int] | None = None,
    num_frames: int | None = None,
    threads: int = 1,
) -> torch.Tensor:
    """Read the frames at ``indices`` (decode order) as a uint8 tensor ``(len, H, W, 3)``.

    Frames come in the order of ``indices`` (repeats allowed). ``size=(H, W)`` resizes in
    the decoder. ``num_frames`` is the known count of decodable frames (from a manifest),
    which saves decord a counting pass; PyAV finds an index beyond the end while decoding.
    The first read of a video decodes from its start up to the largest index; later reads
    in the same process seek to the nearest keyframe and are verified frame by frame
    against the first (see the module docstring). An index below 0 or at or beyond the
    decodable count raises :class:`VideoError`.
    """
    with VideoReader(path, backend, size, num_frames=num_frames, threads=threads) as reader:
        return reader.get(indices)


def main_inspect(paths: list[str], backend: str = "auto") -> int:
    """Print frames, frame rate, size and backend of each video; 0 if all read, else 1.

    Each readable file gets one line on stdout; each unreadable one gets one line
    ``path: reason`` on stderr.
    """
    failed = 0
    for path in paths:
        try:
            info = probe(path, backend)
        except VcopError as error:
            failed += 1
            line = str(error) if error.path else f"{path}: {error}"
            print(line, file=sys.stderr)
            continue
        print(
            f"{path}  frames={info.num_frames}  fps={info.fps:.2f}  "
            f"{info.width}x{info.height}  backend={info.backend}"
        )
    return 1 if failed else 0
