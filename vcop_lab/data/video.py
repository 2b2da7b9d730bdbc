"""Reading frames from video files with decord or PyAV.

Frames are numbered in decode order, starting at 0, and a frame index is valid only if that
frame actually decodes: container headers are not trusted (HMDB51 AVIs claim one frame more
than they hold) and frame timestamps are never sorted (B-frame AVIs have non-monotonic ones).

Both backends read a request by decoding forward from the start of the file and keeping the
frames asked for; neither ever seeks inside a video. decord's random access was tried and
rejected: on the B-frame MPEG-4 Part 2 AVIs of UCF101 and HMDB51, ``get_batch`` returned
frame 4 for frame 24 of an HMDB51 clip (its seek lands on the wrong keyframe), and
``skip_frames`` returned frame 68 for frame 73 near the end of another. Wrong frames would
silently corrupt the order labels, so decord is driven by ``next()`` alone, which matches a
plain PyAV decode frame for frame. Decoding a prefix costs little on the short clips of these
datasets, and a reusable :class:`VideoReader` keeps decoding forward across calls, so clips
requested in increasing order cost one pass over the video.

Frame counts always come from a full PyAV decode, also under decord: decord counts packets,
which is one too many on packed-bitstream AVIs, and it fills the gap by repeating a frame.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import av.error
import numpy as np
import torch

from vcop_lab.errors import SettingsError, VcopError, VideoError

BACKENDS = ("decord", "pyav")  # in order of preference

_DAMAGED_FIX = "re-download the file or re-encode it with ffmpeg, or drop it from the manifest"
_RANGE_FIX = (
    "pass frame indices from 0 to the frame count minus one; if the file changed, rebuild "
    "the manifest so that its frame counts are right"
)


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


def _require_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(
            "video file not found",
            path=path,
            fix="check the path and the video root, or rebuild the manifest",
        )
    if path.is_dir():
        raise VideoError("is a folder, not a video file", path=path, fix="pass a video file")
    if path.stat().st_size == 0:
        raise VideoError("is empty (0 bytes)", path=path, fix=_DAMAGED_FIX)


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


def _count_pyav(path: Path, threads: int = 1) -> tuple[int, float, int, int]:
    """Decode the whole video with PyAV: (frame count, fps, width, height)."""
    container, stream = _open_pyav(path, threads)
    count, width, height = 0, 0, 0
    try:
        for frame in container.decode(stream):
            if count == 0:
                width, height = frame.width, frame.height
            count += 1
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(
            f"decoding failed after {count} frames ({_reason(error)})",
            path=path,
            fix=_DAMAGED_FIX,
        ) from error
    finally:
        container.close()
    if count == 0:
        raise VideoError("no frame decodes", path=path, fix=_DAMAGED_FIX)
    return count, _fps(stream), width, height


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
    for a UCF101 clip). Under decord the file is also opened with decord, and the count is
    capped at decord's own count, so that every counted frame can be read with either
    backend. Raises :class:`VideoError` if the file is missing, cannot be opened or decodes
    no frame.
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


class VideoReader:
    """Lazily opened, reusable reader for one file.

    Nothing is opened until the first :meth:`get`, so that each DataLoader worker opens its
    own decoder: create readers inside the worker (e.g. in ``__getitem__``), never in a
    Dataset constructor shared across forked workers. A reader that finds itself in another
    process than the one that opened it, or that is pickled, opens the file again.

    Frames are decoded forward from the start of the file, never by seeking (see the module
    docstring); a request that starts after the last frame read continues from there, an
    earlier one starts again from the beginning.

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
        self._frames: Iterator[Any] | None = None  # PyAV's frame iterator
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
        # decord repeats a frame past the real end of some AVIs: check against the true count.
        count = self.num_frames if self.backend == "decord" else self._num_frames
        if count is not None and needed[-1] >= count:
            raise self._range_error(needed[-1], count)
        if self._handle is not None and (needed[0] < self._pos or self._pid != os.getpid()):
            self.close()
        if self.backend == "decord":
            frames = self._decord_frames(needed)
        else:
            frames = self._pyav_frames(needed)
        return torch.from_numpy(np.stack([frames[i] for i in wanted]))

    def _range_error(self, index: int, count: int) -> VideoError:
        return VideoError(
            f"frame index {index} is out of range: the video has {count} decodable frames",
            path=self.path,
            fix=_RANGE_FIX,
        )

    def _pyav_frames(self, needed: list[int]) -> dict[int, np.ndarray]:
        if self._handle is None:
            self._handle, stream = _open_pyav(self.path, self.threads)
            self._frames = self._handle.decode(stream)
        out: dict[int, np.ndarray] = {}
        targets = iter(needed)
        target = next(targets)
        try:
            for frame in self._frames:
                index, self._pos = self._pos, self._pos + 1
                if index == target:
                    out[index] = self._to_array(frame)
                    target = next(targets, None)
                    if target is None:
                        return out  # the iterator stays open for a later request
        except (av.error.FFmpegError, OSError) as error:
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
        if self.size is None:
            return frame.to_ndarray(format="rgb24")
        height, width = self.size
        # Bilinear matches decord's scaler to within about one grey level.
        return frame.to_ndarray(
            format="rgb24", width=width, height=height, interpolation="BILINEAR"
        )

    def _decord_frames(self, needed: list[int]) -> dict[int, np.ndarray]:
        if self._handle is None:
            self._handle = _open_decord(self.path, self.size, self.threads)
        reader = self._handle
        out: dict[int, np.ndarray] = {}
        try:
            for index in needed:
                # Only next(): decord's get_batch, seek and skip_frames return wrong frames
                # on some AVIs (see the module docstring).
                while self._pos < index:
                    reader.next()
                    self._pos += 1
                out[index] = reader.next().asnumpy()
                self._pos += 1
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
        state.update(_handle=None, _frames=None, _pos=0)
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
    The video is decoded from its start up to the largest index (a prefix, never a seek).
    An index below 0 or at or beyond the decodable count raises :class:`VideoError`.
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
