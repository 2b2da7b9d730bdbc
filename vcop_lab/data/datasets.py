"""PyTorch datasets over a manifest: order tuples, evaluation clips, labelled clips.

Randomness is a pure function of (seed, epoch, index) — the sampler hands out
``epoch * len(dataset) + index`` — so results do not depend on the number of DataLoader
workers, and a resumed run draws exactly the tuples the interrupted one would have.
Videos are opened lazily inside each worker (decoders must not be shared across forks), and
only the frames a tuple needs are decoded, in one call per tuple.

Clips come out as the decoder gave them, uint8 and channels last (``cl, crop, crop, 3``):
:func:`~vcop_lab.data.transforms.to_network_input` turns a batch into the networks' float
input on the device (see :mod:`vcop_lab.data.transforms` for why there).

A video that fails to decode while a run reads it (a file truncated after it was checked)
never ends the epoch: the item is taken from the next video instead, the failure is counted
and, when :meth:`log_bad_videos` named a file, written there (one JSON line per failure,
from whichever worker met it), and the video is not tried again in that process.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vcop_lab.data import sampling
from vcop_lab.data.manifest import VideoRecord
from vcop_lab.data.transforms import crop_box, crop_clip, resize_frames
from vcop_lab.data.video import read_frames
from vcop_lab.errors import VideoError


def display_frames(path: str | Path, indices, resize: tuple[int, int], crop: int | None = None,
                   num_frames: int | None = None, backend: str = "auto") -> torch.Tensor:
    """Frames of a video as the networks see them (and as notebooks show them): only those
    frames decoded, resized to ``resize`` and, with ``crop``, centre-cropped. uint8
    ``(T, H, W, 3)``. ``num_frames`` is the manifest's count of decodable frames."""
    frames = read_frames(path, np.asarray(indices).ravel().tolist(), backend=backend,
                         size=tuple(resize), num_frames=num_frames)
    frames = resize_frames(frames, tuple(resize))
    if crop is None:
        return frames
    top, left = crop_box(frames.shape[1], frames.shape[2], crop, None)
    return frames[:, top:top + crop, left:left + crop]


def _usable(records: list[VideoRecord], needed: int, what: str) -> tuple[list, list]:
    keep = [r for r in records if r.num_frames >= needed]
    skipped = [r.path for r in records if r.num_frames < needed]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} of {len(records)} videos shorter than "
                      f"{needed} frames ({what}), e.g. {skipped[0]}", stacklevel=3)
    return keep, skipped


class _VideoDataset(Dataset):
    def __init__(self, records, root, resize, crop, train, backend, seed):
        self.root = Path(root)
        self.resize = tuple(resize)
        self.crop = crop
        self.train = train
        self.backend = backend
        self.seed = seed
        self.records: list[VideoRecord] = records

    def __len__(self) -> int:
        return len(self.records)

    def log_bad_videos(self, path: str | Path | None) -> None:
        """Append each video that fails to decode to ``path`` (JSON lines)."""
        self.bad_log = None if path is None else str(path)

    # Whether another video may stand in for one that fails (not where every video must be
    # scored exactly once, as in testing and feature extraction).
    substitute = True

    def __getitem__(self, index: int):
        if not self.substitute:
            return self._item(index)
        epoch, i = divmod(int(index), len(self.records))
        bad = self.__dict__.setdefault("_bad", set())
        for step in range(len(self.records)):
            j = (i + step) % len(self.records)
            if j in bad:
                continue
            try:
                return self._item(epoch * len(self.records) + j)
            except VideoError as err:  # skipped and counted; the next video stands in
                bad.add(j)
                self._report_bad(self.records[j], err)
        raise VideoError("no video of this set decodes", self.root,
                         "check the videos (vcop-lab inspect) or re-run `vcop-lab prepare`")

    def _report_bad(self, rec: VideoRecord, err: VideoError) -> None:
        warnings.warn(f"skipped a video that does not decode: {err}", stacklevel=3)
        log = getattr(self, "bad_log", None)
        if log:
            line = json.dumps({"path": rec.path, "reason": err.what, "pid": os.getpid()})
            with open(log, "a", encoding="utf-8") as f:  # one short write: atomic in append
                f.write(line + "\n")

    def _split_index(self, index: int) -> tuple[int, np.random.Generator | None]:
        epoch, i = divmod(int(index), len(self.records))
        rng = np.random.default_rng([self.seed, epoch, i]) if self.train else None
        return i, rng

    def _frames(self, rec: VideoRecord, indices) -> torch.Tensor:
        return display_frames(rec.full_path(self.root), indices, self.resize,
                              num_frames=rec.num_frames, backend=self.backend)


class OrderTupleDataset(_VideoDataset):
    """Shuffled clip tuples for order prediction.

    Training (``train=True``): a uniformly drawn start, a uniformly drawn permutation and a
    random crop. Evaluation: the centred tuple of each video in chronological order with a
    centre crop; the evaluator scores it under every permutation.

    Items: ``(clips (tl, cl, crop, crop, 3) uint8, order label, video index)``; in evaluation
    the label is 0 (identity order). ``crop_per`` is ``"clip"`` (a crop per clip, as the
    reference code) or ``"tuple"`` (one crop for the whole tuple). Either way all frames of
    a clip share one crop. Videos shorter than a tuple are skipped and listed in
    ``self.skipped``.
    """

    def __init__(self, records, root, setting, resize, crop, train=True, backend="auto",
                 seed=0, crop_per="clip"):
        self.setting = sampling.parse_setting(setting)
        if crop_per not in ("clip", "tuple"):
            raise ValueError("crop_per must be 'clip' or 'tuple'")
        keep, self.skipped = _usable(records, self.setting.span, f"tuples of {self.setting}")
        super().__init__(keep, root, resize, crop, train, backend, seed)
        self.crop_per = crop_per
        self.orders = sampling.permutations_for(self.setting.tl)

    def _item(self, index: int):
        i, rng = self._split_index(index)
        rec = self.records[i]
        s = self.setting
        if rng is None:
            start, label = sampling.eval_start(rec.num_frames, s), 0
        else:
            start = sampling.train_start(rec.num_frames, s, rng)
            label = sampling.draw_permutation(s.tl, rng)
        frames = self._frames(rec, sampling.tuple_frame_indices(start, s))
        height, width = frames.shape[1:3]
        box = crop_box(height, width, self.crop, rng)
        clips = []
        for c in range(s.tl):
            if rng is not None and self.crop_per == "clip":
                box = crop_box(height, width, self.crop, rng)
            clips.append(crop_clip(frames[c * s.cl:(c + 1) * s.cl], *box, self.crop))
        order = self.orders[label]
        return torch.stack([clips[j] for j in order]), label, i  # the one copy of the crops


class EvalClipDataset(_VideoDataset):
    """``num_clips`` evenly spaced, centre-cropped clips of every video (retrieval, fine-tune
    testing, VideoQA). Items: ``(clips (num_clips, cl, crop, crop, 3) uint8, label, video
    index)``.
    No video is dropped: one shorter than ``cl`` frames raises instead, and so does one that
    fails to decode (no other video may stand in for it)."""

    substitute = False

    def __init__(self, records, root, cl, num_clips, resize, crop, backend="auto"):
        super().__init__(list(records), root, resize, crop, False, backend, 0)
        self.cl, self.num_clips = cl, num_clips
        short = [r.path for r in self.records if r.num_frames < cl]
        if short:
            from vcop_lab.errors import SettingsError
            raise SettingsError(f"{len(short)} video(s) are shorter than a clip of {cl} frames, "
                                f"e.g. {short[0]}", fix="choose a shorter clip length or "
                                "remove them with `vcop-lab prepare`")

    def _item(self, index: int):
        index = int(index) % len(self.records)
        rec = self.records[index]
        starts = sampling.eval_clip_starts(rec.num_frames, self.cl, self.num_clips)
        indices = np.asarray(starts)[:, None] + np.arange(self.cl)[None, :]
        frames = self._frames(rec, indices)
        box = crop_box(frames.shape[1], frames.shape[2], self.crop, None)
        clips = [crop_clip(frames[k * self.cl:(k + 1) * self.cl], *box, self.crop)
                 for k in range(self.num_clips)]
        return torch.stack(clips), rec.label_index, index


class LabelledClipDataset(_VideoDataset):
    """One random clip per video with its action label, random crop (fine-tuning).
    Items: ``(clip (cl, crop, crop, 3) uint8, label, video index)``."""

    def __init__(self, records, root, cl, resize, crop, train=True, backend="auto", seed=0):
        keep, self.skipped = _usable(records, cl, f"clips of {cl} frames")
        super().__init__(keep, root, resize, crop, train, backend, seed)
        self.cl = cl

    def _item(self, index: int):
        i, rng = self._split_index(index)
        rec = self.records[i]
        last = rec.num_frames - self.cl
        start = int(rng.integers(0, last + 1)) if rng is not None else last // 2
        frames = self._frames(rec, np.arange(start, start + self.cl))
        box = crop_box(frames.shape[1], frames.shape[2], self.crop, rng)
        return crop_clip(frames, *box, self.crop), rec.label_index, i


class EpochSampler(Sampler):
    """Yields ``epoch * n + i`` so that datasets can derive their randomness from
    (seed, epoch, index). Shuffles with a generator seeded by (seed, epoch); shards the
    order across ``world_size`` ranks (padding by repetition, as DistributedSampler)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = -(-self.n // self.world_size)
        order += order[: per_rank * self.world_size - self.n]
        return order[self.rank::self.world_size]

    def __iter__(self):
        return iter([self.epoch * self.n + i for i in self._order()])

    def __len__(self) -> int:
        return -(-self.n // self.world_size)
