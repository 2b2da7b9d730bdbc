"""Which frames a tuple or an evaluation clip uses, and how a tuple is shuffled.

A setting ``cl-it-tl`` (e.g. ``16-8-3``) means tuples of ``tl`` clips of ``cl`` consecutive
frames, ``it`` frames apart. A tuple spans ``cl*tl + it*(tl-1)`` frames. Its clips, in
chronological order c1..c_tl, are shuffled by a permutation drawn uniformly from all tl!
permutations; the label is that permutation's index in the lexicographic list of
``itertools.permutations(range(tl))``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from vcop_lab.errors import SettingsError

MIN_TL, MAX_TL = 2, 5


@dataclass(frozen=True)
class Setting:
    """Clip length ``cl``, interval ``it`` and tuple length ``tl``."""

    cl: int
    it: int
    tl: int

    @property
    def span(self) -> int:
        """Frames a tuple covers."""
        return tuple_span(self.cl, self.it, self.tl)

    @property
    def num_orders(self) -> int:
        """Number of classes of the order task (tl!)."""
        return math.factorial(self.tl)

    @property
    def chance(self) -> float:
        """Chance-level order accuracy (1/tl!)."""
        return 1.0 / self.num_orders

    def __str__(self) -> str:
        return f"{self.cl}-{self.it}-{self.tl}"


def parse_setting(text: str | Setting) -> Setting:
    """Parse ``"cl-it-tl"``; impossible values raise SettingsError."""
    if isinstance(text, Setting):
        setting = text
    else:
        m = re.fullmatch(r"\s*(\d+)-(\d+)-(\d+)\s*", str(text))
        if not m:
            raise SettingsError(f"setting {text!r} is not of the form CL-IT-TL",
                                fix="write e.g. 16-8-3 (clip length, interval, tuple length)")
        setting = Setting(*(int(g) for g in m.groups()))
    if setting.cl < 1:
        raise SettingsError(f"clip length {setting.cl} in {setting} must be at least 1",
                            fix="use e.g. 16-8-3")
    if not MIN_TL <= setting.tl <= MAX_TL:
        raise SettingsError(f"tuple length {setting.tl} in {setting} is not supported",
                            fix=f"use a tuple length from {MIN_TL} to {MAX_TL}")
    return setting


def tuple_span(cl: int, it: int, tl: int) -> int:
    """Frames covered by a tuple: ``cl*tl + it*(tl-1)`` (16-8-3: 64)."""
    return cl * tl + it * (tl - 1)


@cache
def permutations_for(tl: int) -> tuple[tuple[int, ...], ...]:
    """All tl! orders in lexicographic order; the label of a shuffle is its index here."""
    if not MIN_TL <= tl <= MAX_TL:
        raise SettingsError(f"tuple length {tl} is not supported",
                            fix=f"use a tuple length from {MIN_TL} to {MAX_TL}")
    return tuple(itertools.permutations(range(tl)))


def clip_starts(start: int, setting: Setting) -> list[int]:
    """First frame of each clip of a tuple that starts at ``start``, chronologically."""
    return [start + i * (setting.cl + setting.it) for i in range(setting.tl)]


def tuple_frame_indices(start: int, setting: Setting) -> np.ndarray:
    """Frame indices of a tuple as an array (tl, cl), chronological order."""
    starts = np.asarray(clip_starts(start, setting))
    return starts[:, None] + np.arange(setting.cl)[None, :]


def max_start(num_frames: int, span: int) -> int:
    """Last valid first frame, or -1 when the video is too short (never clip indices)."""
    return num_frames - span


def train_start(num_frames: int, setting: Setting, rng: np.random.Generator) -> int:
    """A start frame drawn uniformly over the valid range (training)."""
    last = max_start(num_frames, setting.span)
    if last < 0:
        raise SettingsError(f"a video of {num_frames} frames is too short for {setting}")
    return int(rng.integers(0, last + 1))


def eval_start(num_frames: int, setting: Setting) -> int:
    """The deterministic start of a video's evaluation tuple: centred in the video."""
    last = max_start(num_frames, setting.span)
    if last < 0:
        raise SettingsError(f"a video of {num_frames} frames is too short for {setting}")
    return last // 2


def draw_permutation(tl: int, rng: np.random.Generator) -> int:
    """A permutation index drawn uniformly over all tl! orders."""
    return int(rng.integers(0, math.factorial(tl)))


def eval_clip_starts(num_frames: int, cl: int, num_clips: int) -> list[int]:
    """First frames of ``num_clips`` clips whose centres are evenly spaced over the video,
    ``linspace(cl/2, n - cl/2, num_clips)`` as in the paper's retrieval protocol."""
    if num_frames < cl:
        raise SettingsError(f"a video of {num_frames} frames is shorter than a clip of {cl}")
    centres = np.linspace(cl / 2, num_frames - cl / 2, num_clips)
    starts = np.floor(centres - cl / 2 + 1e-6).astype(int)
    return np.clip(starts, 0, num_frames - cl).tolist()
