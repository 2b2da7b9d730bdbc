"""What both backends and the reader check and say alike: that the file is there, a decoder's
complaint in a few words, a frame index out of range."""

from __future__ import annotations

import os
from pathlib import Path

from vcop_lab.errors import VideoError

_DAMAGED_FIX = "re-download the file or re-encode it with ffmpeg, or drop it from the manifest"
_RANGE_FIX = (
    "pass frame indices from 0 to the frame count minus one; if the file changed, rebuild "
    "the manifest so that its frame counts are right"
)


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
    """A short description of a decoder exception, without the path (or the fix) it repeats."""
    text = (getattr(error, "what", None) or getattr(error, "strerror", None) or str(error)
            or type(error).__name__)
    return text.splitlines()[0].strip()


def _range_error(path: Path, index: int, count: int) -> VideoError:
    return VideoError(
        f"frame index {index} is out of range: the video has {count} decodable frames",
        path=path,
        fix=_RANGE_FIX,
    )
