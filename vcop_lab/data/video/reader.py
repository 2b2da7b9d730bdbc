"""What ties the backends together: choosing one, :func:`probe`, :class:`VideoReader` and
:func:`read_frames`, and the ``inspect`` command's printout."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcop_lab.data.video import decord_decode
from vcop_lab.data.video.checks import _RANGE_FIX, _range_error, _require_file
from vcop_lab.data.video.frame_index import _index_for
from vcop_lab.data.video.pyav_decode import PyAVDecoder, _count_pyav, _PastEnd
from vcop_lab.errors import SettingsError, VideoError

# In order of preference. PyAV reads every format here (GIF too), frame-exactly, and measured
# as fast as decord or faster (benchmarks/README.md); decord stays an option.
BACKENDS = ("pyav", "decord")


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


def available_backends() -> list[str]:
    """The backends that work here, in order of preference: PyAV, decord (if it imports)."""
    return [name for name in BACKENDS if name != "decord" or decord_decode._decord() is not None]


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

    ``"auto"`` picks PyAV, the fastest frame-exact reader here (decord must be asked for).
    Asking for a backend that is not available raises :class:`SettingsError`.
    """
    path = Path(path)
    if backend == "auto":
        return "pyav"
    if backend not in BACKENDS:
        raise SettingsError(
            f"unknown video backend {backend!r}",
            fix=f"use one of: auto, {', '.join(BACKENDS)}",
        )
    if backend == "decord":
        if decord_decode._decord() is None:
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
        reader = decord_decode._open_decord(path, None, 1)
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

    With PyAV a request either continues decoding forward from where the last one stopped,
    seeks to a keyframe (only within the part of the video already indexed, see
    :mod:`vcop_lab.data.video`), or starts again from the beginning, whichever decodes the
    fewest frames; requests in increasing order thus cost at most one pass over the video.
    With decord a request within the indexed part uses decord's random access (verified),
    any other goes on with ``next()``.

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
        decoder = decord_decode.DecordDecoder if self.backend == "decord" else PyAVDecoder
        self._decoder = decoder(self.path, self.size, self.threads)  # opens nothing yet
        self._pid = os.getpid()

    @property
    def _handle(self) -> Any:
        """The open PyAV container or decord reader; None until :meth:`get` opens the file."""
        return self._decoder.handle

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
        if self._pid != os.getpid():
            self.close()
        stat = _require_file(self.path)
        index = _index_for(self.path, stat)
        # decord repeats a frame past the real end of some AVIs: check against the true count.
        count = index.count
        if count is None:
            count = self.num_frames if self.backend == "decord" else self._num_frames
        if count is not None and needed[-1] >= count:
            raise _range_error(self.path, needed[-1], count)
        if self.backend == "decord":
            frames = self._decoder.read(needed, stat)
        else:
            try:
                frames = self._decoder.read(needed, index)
            except _PastEnd as end:  # the decoder ran out: now the count is known
                self._num_frames = end.count
                raise _range_error(self.path, needed[-1], end.count) from None
        return torch.from_numpy(np.stack([frames[i] for i in wanted]))

    def close(self) -> None:
        """Release the decoder; a later :meth:`get` opens the file again."""
        decoder = self._decoder
        same_process = self._pid == os.getpid()
        self._reset()
        if same_process:
            decoder.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # decoders cannot be pickled: the copy opens its own
        del state["_decoder"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

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
    against the first (see :mod:`vcop_lab.data.video`). An index below 0 or at or beyond the
    decodable count raises :class:`VideoError`.
    """
    with VideoReader(path, backend, size, num_frames=num_frames, threads=threads) as reader:
        return reader.get(indices)
