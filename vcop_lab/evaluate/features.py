"""Clip features of a frozen backbone for retrieval and VideoQA, cached on disk.

Every video of the given records gets ``num_clips`` evenly spaced, centre-cropped clips
(:class:`~vcop_lab.data.datasets.EvalClipDataset`; no video is ever dropped, the last batch
may be smaller). Each clip goes through the backbone and one or more *layers* are kept:

- ``conv1`` .. ``conv5``: the stage's output activation, max-pooled adaptively to the grid of
  :data:`POOL_GRIDS` and flattened (channels first) to one vector per clip;
- ``global``: the ``feature_dim``-d global average pool (512 at full width), the backbone's
  own output, used by VideoQA.

Pooling grids. The grids are chosen so that ``channels x t x h x w`` is exactly 9216 for every
stage of every architecture at full width and the paper's 16x112x112 clips (conv5: 512x2x3x3,
as the paper's Table II feature; the stages: see :data:`POOL_GRIDS`). A grid never exceeds
the activation: each of its sizes is capped at the activation's size (adaptive pooling would
otherwise repeat values), so at reduced width and clip size the features are simply smaller.
Adaptive pooling of conv5's 7x7 to 3x3 uses windows [0,3), [2,5), [4,7) that cover every
position; the reference code's fixed (1,2,2) max-pool gives the same 3x3 grid but drops the
last row and column. ``pool="reference"`` (the paper profile's ``retrieval_pool``) pools
conv5 that way instead (:func:`reference_pool`; the other layers stay adaptive: the
reference script pools only conv5). :func:`feature_layout` reports the exact grid and size
for a profile; with adaptive pooling, for R3D and R(2+1)D they are:

======  ===================  ======================  =====================
stage   full (w=1, 16x112)   teaching (w=.25, 8x56)  smoke (w=.125, 4x28)
======  ===================  ======================  =====================
conv1   64x4x6x6 = 9216      16x4x6x6 = 2304         8x4x6x6 = 1152
conv2   64x4x6x6 = 9216      16x4x6x6 = 2304         8x4x6x6 = 1152
conv3   128x2x6x6 = 9216     32x2x6x6 = 2304         16x2x6x6 = 1152
conv4   256x4x3x3 = 9216     64x2x3x3 = 1152         32x1x3x3 = 288
conv5   512x2x3x3 = 9216     128x1x3x3 = 1152        64x1x2x2 = 256
global  512                  128                     64
======  ===================  ======================  =====================

and for C3D (channels 64, 128, 256, 512, 512; grids conv1 (4,6,6), conv2 (2,6,6), conv3
(4,3,3), conv4 and conv5 (2,3,3)): 9216 values per stage at full size; at the teaching size
2304, 2304, 2304, 2304 and 1152 (conv5 128x1x3x3). The reference pool gives the same
512x2x3x3 = 9216 at full size, and 128x1x2x2 = 512 from the teaching size's 1x4x4 conv5.

Cache. With ``cache_dir`` every layer's features are an entry of the run contract
(:mod:`vcop_lab.runs`): a folder ``cache_dir/features/<name>-<digest>`` holding
``features.npy`` (float32, ``(videos, num_clips, dim)``), ``run.json`` (the settings) and
``metrics.json`` (labels, paths, shape). The settings hold *everything* the features depend
on: the checkpoint's content hash (or ``random``, the seed and the initialisation),
architecture, R(2+1)D shortcut, width, layer, pooling (adaptive or reference) and grid,
clips per video, clip length, resize, crop, the data folder, the manifest's content hash,
and every record (split, label, frame count) with its video file's size and modification
time. A changed checkpoint, setting or video therefore
never reuses old features. Every file is written to a temporary name and renamed, and
``metrics.json`` comes last, so a crash never leaves an entry that looks finished; an entry
that cannot be read is computed again. Features are float32 on disk (float16
would halve the size, but risks overflow and changes the rankings slightly) and are loaded
memory-mapped copy-on-write: a UCF101 split-1 conv5 clip-level gallery (3.5 GB) is read from
disk as the search needs it, and writing to the tensor never changes the file.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
import zlib
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vcop_lab import runs
from vcop_lab.atomic import atomic_path
from vcop_lab.checkpoint import RANDOM, backbone_from, checkpoint_hash, is_random
from vcop_lab.data.check import check_videos
from vcop_lab.data.datasets import EvalClipDataset
from vcop_lab.data.manifest import (
    MANIFEST_NAME,
    VideoRecord,
    class_names,
    data_root,
    load_manifest,
    select_split,
)
from vcop_lab.data.sampling import parse_setting
from vcop_lab.errors import SettingsError, VideoError
from vcop_lab.evaluate.inference import for_each_batch
from vcop_lab.evaluate.search import video_level
from vcop_lab.models.backbones import ARCHS, STAGES, build_backbone, shortcut_of
from vcop_lab.profiles import Profile, get_profile
from vcop_lab.runtime import pick_device
from vcop_lab.train import close_loader, eval_loader

# Bump when the extraction itself changes (pooling, clip sampling), so old caches are unused.
FEATURE_VERSION = 2
FEATURES_NAME = "features.npy"
GLOBAL = "global"
LAYERS = STAGES + (GLOBAL,)
TARGET_VALUES = 9216  # 512 x 2 x 3 x 3, the paper's conv5 feature
POOLS = ("adaptive", "reference")  # how conv5 is pooled (see reference_pool)
REFERENCE_POOLED = ("conv5",)      # the layers the reference pool applies to

_RESNET_GRIDS = {"conv1": (4, 6, 6), "conv2": (4, 6, 6), "conv3": (2, 6, 6),
                 "conv4": (4, 3, 3), "conv5": (2, 3, 3)}
# (t, h, w) max-pooling grid per architecture and stage: channels x t x h x w = 9216 at full
# width (C3D channels 64/128/256/512/512, the ResNets 64/64/128/256/512).
POOL_GRIDS: dict[str, dict[str, tuple[int, int, int]]] = {
    "c3d": {"conv1": (4, 6, 6), "conv2": (2, 6, 6), "conv3": (4, 3, 3),
            "conv4": (2, 3, 3), "conv5": (2, 3, 3)},
    "r3d": dict(_RESNET_GRIDS),
    "r21d": dict(_RESNET_GRIDS),
}
# Clips per forward pass: bounds the stage activations held at once (conv1 of 40 full-size
# C3D clips is 2 GB of float32).
MAX_CLIPS_PER_FORWARD = 40


@dataclass
class FeatureSet:
    """Features of every video of one split, with what is needed to score and show them.

    Attributes:
        features: (V, num_clips, D) float32, one row per clip of each video (memory-mapped
            when it comes from the cache).
        labels: (V,) class index of each video.
        paths: the videos' manifest paths (relative to ``root``).
        video_ids: (V,) each video's position in the records it was extracted from.
        class_names: class index -> name for the dataset's labels.
        num_frames: each video's frame count (to locate its clips again for thumbnails).
        root: the data folder (holding the manifest; videos are under ``data_root(root)``).
        meta: every setting of the extraction (arch, width, layer, grid, checkpoint hash ...).
    """

    features: Tensor
    labels: Tensor
    paths: list[str]
    video_ids: Tensor
    class_names: list[str]
    num_frames: list[int]
    root: Path
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_clips(self) -> int:
        return int(self.features.shape[1])

    @property
    def dim(self) -> int:
        return int(self.features.shape[2])

    def clip_level(self) -> tuple[Tensor, Tensor, Tensor]:
        """(V*num_clips, D) clip features, their labels and their videos' ids."""
        n = self.num_clips
        return (self.features.reshape(-1, self.dim), self.labels.repeat_interleave(n),
                self.video_ids.repeat_interleave(n))

    def video_level(self) -> tuple[Tensor, Tensor, Tensor]:
        """(V, D) video features, the mean of each video's clip features, with labels and ids."""
        feats, _ = video_level(self.features.reshape(-1, self.dim),
                               torch.arange(len(self)).repeat_interleave(self.num_clips))
        return feats, self.labels, self.video_ids

    def label_names(self, labels: Tensor | None = None) -> list[str]:
        """Class names of ``labels`` (default: every video's)."""
        labels = self.labels if labels is None else labels
        return [self.class_names[int(i)] for i in labels]

    def by_path(self) -> dict[str, Tensor]:
        """``{manifest path: (num_clips, D) features}``, as VideoQA takes them."""
        return {p: self.features[i] for i, p in enumerate(self.paths)}


# ----------------------------------------------------------------------------- pooling


def pool_grid(arch: str, layer: str) -> tuple[int, int, int] | None:
    """The (t, h, w) max-pooling grid of ``layer`` (None for ``global``)."""
    _check_arch_layer(arch, layer)
    return None if layer == GLOBAL else POOL_GRIDS[arch][layer]


def effective_grid(grid: tuple[int, int, int], activation_shape: Sequence[int]
                   ) -> tuple[int, int, int]:
    """``grid`` capped at the activation's (T, H, W): pooling never enlarges a dimension."""
    t, h, w = activation_shape[-3:]
    return (min(grid[0], t), min(grid[1], h), min(grid[2], w))


def _check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise SettingsError(f"unknown retrieval pooling {pool!r}",
                            fix=f"choose one of {', '.join(POOLS)}")
    return pool


def layer_pool(layer: str, pool: str = "adaptive") -> str | None:
    """How ``layer`` is pooled when the extraction asks for ``pool``: ``reference`` applies
    to conv5 only, every other stage is pooled adaptively, ``global`` not at all (None)."""
    _check_pool(pool)
    if layer == GLOBAL:
        return None
    return pool if layer in REFERENCE_POOLED else "adaptive"


def _reference_kernel(activation_shape: Sequence[int]) -> tuple[int, int, int]:
    # (1, 2, 2), narrowed where a side is 1 (a window of 2 would leave nothing there).
    h, w = activation_shape[-2:]
    return (1, min(2, h), min(2, w))


def reference_pool(activation: Tensor) -> Tensor:
    """The reference code's conv5 pooling: ``MaxPool3d((1, 2, 2))`` with floor rounding.

    Windows [0,2), [2,4), [4,6) ... in each spatial axis, so an odd last row and column are
    dropped: 512x2x7x7 -> 512x2x3x3 at 16x112x112. Time is kept. Returns (N, C, T, H', W').
    """
    kernel = _reference_kernel(activation.shape)
    return F.max_pool3d(activation, kernel, kernel)


def pooled_grid(grid: tuple[int, int, int], activation_shape: Sequence[int],
                pool: str = "adaptive") -> tuple[int, int, int]:
    """The (t, h, w) grid a stage of ``activation_shape`` is pooled to: ``grid`` capped at
    the activation (adaptive), or what :func:`reference_pool` leaves (reference)."""
    if _check_pool(pool) == "adaptive":
        return effective_grid(grid, activation_shape)
    t, h, w = activation_shape[-3:]
    _, kh, kw = _reference_kernel(activation_shape)
    return (t, h // kh, w // kw)


def pool_stage(activation: Tensor, grid: tuple[int, int, int],
               pool: str = "adaptive") -> Tensor:
    """Max-pool a (N, C, T, H, W) activation and flatten it: adaptively to ``grid`` (capped),
    or with ``pool="reference"`` by :func:`reference_pool` (``grid`` unused)."""
    if _check_pool(pool) == "reference":
        return reference_pool(activation).flatten(1)
    out = F.adaptive_max_pool3d(activation, effective_grid(grid, activation.shape))
    return out.flatten(1)


@torch.no_grad()
def pooled_features(backbone: nn.Module, clips: Tensor, layers: Sequence[str],
                    grids: dict[str, tuple[int, int, int] | None],
                    shapes: dict[str, list[int]] | None = None,
                    pools: dict[str, str | None] | None = None) -> dict[str, Tensor]:
    """Pooled features ``{layer: (N, D)}`` of clips (N, 3, T, H, W).

    Runs the backbone's own forward with ``return_stages=True`` up to the deepest wanted
    stage, so that early layers cost no deep computation, and pools each wanted stage
    (adaptively, or as ``pools`` says: see :func:`layer_pool`). ``global`` is the
    backbone's own output (the mean of conv5 over time and space). ``shapes``, when given,
    receives each pooled stage's activation shape (C, T, H, W).
    """
    deepest = STAGES[max(STAGES.index("conv5" if lay == GLOBAL else lay) for lay in layers)]
    feature, stages = backbone(clips, return_stages=True, until=deepest)
    out: dict[str, Tensor] = {}
    for name in STAGES:
        if name in layers:
            out[name] = pool_stage(stages[name], grids[name],
                                   (pools or {}).get(name) or "adaptive")
            if shapes is not None:
                shapes[name] = [int(s) for s in stages[name].shape[1:]]
    if GLOBAL in layers:
        out[GLOBAL] = feature
    return out


def feature_layout(arch: str | None = None, profile: str | Profile = "teaching",
                   layers: Sequence[str] = LAYERS, pool: str | None = None) -> dict[str, dict]:
    """For each layer: activation shape, pooling, requested and effective grid, and size.

    Computed with one clip of the profile's size (clip length, crop) and width on PyTorch's
    "meta" device (shapes only, no arithmetic), e.g.
    ``feature_layout("r3d", "paper")["conv5"]["dim"] == 9216``. ``pool`` defaults to the
    profile's ``retrieval_pool``; a reference-pooled layer has no requested grid (None).
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    pool = _check_pool(pool or prof.retrieval_pool)
    for layer in layers:
        _check_arch_layer(arch, layer)
    cl = parse_setting(prof.setting).cl
    with torch.device("meta"):
        backbone = build_backbone(arch, prof.width, **prof.backbone_options()).eval()
        with torch.no_grad():
            feature, stages = backbone(torch.zeros(1, 3, cl, prof.crop, prof.crop),
                                       return_stages=True)
    layout = {}
    for layer in layers:
        if layer == GLOBAL:
            layout[layer] = {"activation": [int(feature.shape[1])], "pool": None,
                             "grid": None, "effective_grid": None,
                             "dim": int(feature.shape[1])}
            continue
        shape = [int(s) for s in stages[layer].shape[1:]]
        how = layer_pool(layer, pool)
        grid = _requested_grid(arch, layer, how)
        eff = pooled_grid(POOL_GRIDS[arch][layer], shape, how)
        layout[layer] = {"activation": shape, "pool": how, "grid": grid,
                         "effective_grid": list(eff), "dim": shape[0] * eff[0] * eff[1] * eff[2]}
    return layout


def _requested_grid(arch: str, layer: str, how: str | None) -> list[int] | None:
    """The adaptive grid asked of ``layer``; None for ``global`` and reference pooling."""
    return list(POOL_GRIDS[arch][layer]) if how == "adaptive" else None


def _check_arch_layer(arch: str, layer: str) -> None:
    if arch not in ARCHS:
        raise SettingsError(f"unknown architecture {arch!r}",
                            fix=f"choose one of {', '.join(ARCHS)}")
    if layer not in LAYERS:
        raise SettingsError(f"unknown feature layer {layer!r}",
                            fix=f"choose one of {', '.join(LAYERS)}")


# ----------------------------------------------------------------------------- cache


def _records_digest(video_root: Path, records: Sequence[VideoRecord]) -> str:
    """Hash of every record and its video file's size and modification time."""
    h = hashlib.sha256()
    for rec in records:
        path = rec.full_path(video_root)
        try:
            st = path.stat()
        except OSError:
            raise VideoError("video file not found", path,
                             "check the data folder, or re-run `vcop-lab prepare`") from None
        h.update(json.dumps([rec.path, rec.label, rec.label_index, rec.split, rec.num_frames,
                             st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:24]


def _identity(checkpoint, seed: int) -> dict:
    """What identifies the weights: the checkpoint's content hash, or random and its seed."""
    if is_random(checkpoint):
        return {"checkpoint": RANDOM, "checkpoint_hash": RANDOM, "seed": int(seed)}
    return {"checkpoint": str(Path(checkpoint)), "checkpoint_hash": checkpoint_hash(checkpoint)}


def cache_settings(data_dir: Path, records: Sequence[VideoRecord], identity: dict, arch: str,
                   prof: Profile, layer: str, num_clips: int, pool: str | None = None) -> dict:
    """Everything a layer's features depend on: the settings of its cache entry.

    ``pool`` (default: the profile's ``retrieval_pool``) is recorded as :func:`layer_pool`
    says, so conv5 pooled adaptively and the reference's way never share an entry.
    """
    manifest = data_dir / MANIFEST_NAME
    video_root = data_root(data_dir)
    how = layer_pool(layer, pool or prof.retrieval_pool)
    random_init = identity["checkpoint_hash"] == RANDOM
    return {
        "kind": "features", "version": FEATURE_VERSION, "arch": arch,
        "shortcut": shortcut_of(arch, prof.r21d_shortcut), "width": prof.width,
        "layer": layer, "pool": how, "grid": _requested_grid(arch, layer, how),
        "num_clips": int(num_clips), "cl": parse_setting(prof.setting).cl,
        "resize": list(prof.resize), "crop": prof.crop,
        "checkpoint_hash": identity["checkpoint_hash"], "seed": identity.get("seed"),
        # how a random backbone is drawn (a checkpoint's weights replace it)
        "init_scheme": prof.init if random_init else None,
        "data_dir": str(data_dir.resolve()), "video_root": str(video_root.resolve()),
        "manifest_hash": checkpoint_hash(manifest) if manifest.is_file() else None,
        "splits": sorted({r.split for r in records}),
        "records": _records_digest(video_root, records),
    }


def cache_key(settings: dict) -> str:
    """Hex digest of the settings (sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def _checksum(path: Path) -> str:
    """CRC-32 of a file's bytes (read in blocks; a UCF101 gallery takes seconds)."""
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def _load_entry(entry: Path, settings: dict, root: Path) -> FeatureSet | None:
    """The cached FeatureSet of a finished entry made with ``settings``, else None. An entry
    that is incomplete, empty, truncated, altered (its checksum differs) or of other
    settings is named in a warning and left to be computed again."""
    if runs.read_settings(entry) != settings:
        return None
    info = runs.finished_metrics(entry)
    npy = entry / FEATURES_NAME
    if info is None or not npy.is_file():
        if (entry / runs.METRICS_NAME).exists() or npy.exists():
            warnings.warn(f"ignoring unreadable feature cache {entry}", stacklevel=3)
        return None
    if _checksum(npy) != info.get("checksum"):
        warnings.warn(f"ignoring feature cache {npy}: its bytes are not the ones written "
                      "(damaged or altered); computing it again", stacklevel=3)
        return None
    try:
        feats = np.load(npy, mmap_mode="c")  # copy-on-write: writes never reach the file
    except (OSError, ValueError, EOFError) as exc:
        warnings.warn(f"ignoring unreadable feature cache {npy} ({exc})", stacklevel=3)
        return None
    if list(feats.shape) != info.get("shape"):
        warnings.warn(f"ignoring feature cache {npy}: shape {list(feats.shape)} is not the "
                      f"recorded {info.get('shape')}", stacklevel=3)
        return None
    return FeatureSet(
        features=torch.from_numpy(feats), labels=torch.tensor(info["labels"]),
        paths=info["paths"], video_ids=torch.tensor(info["video_ids"]),
        class_names=info["class_names"], num_frames=info["num_frames"], root=root,
        meta={**info["meta"], "cache": "hit", "cache_file": str(npy)})


# ----------------------------------------------------------------------------- extraction


def extract_features(
    data_dir: str | Path,
    records: Sequence[VideoRecord] | str = "test",
    checkpoint: str | Path = RANDOM,
    arch: str | None = None,
    profile: str | Profile = "teaching",
    layer: str = "conv5",
    *,
    layers: Sequence[str] | None = None,
    num_clips: int | None = None,
    pool: str | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    seed: int = 0,
    progress: bool = True,
    strict: bool = False,
) -> FeatureSet | dict[str, FeatureSet]:
    """Features of every video in ``records`` from a frozen backbone.

    Args:
        data_dir: the data folder holding ``manifest.csv``; video paths are relative to it,
            or to the folder its ``data_root.txt`` names (see
            :func:`~vcop_lab.data.manifest.data_root`).
        records: the videos, or a split name (``"train"``, ``"val"``, ``"test"``) of the
            folder's manifest. Every one is kept: none is dropped.
        checkpoint: an order or fine-tune checkpoint (its ``backbone.*`` weights are used), or
            ``"random"`` for a random initialisation drawn with ``seed``.
        arch: c3d, r3d or r21d (default: the profile's). The width, clip length (the first
            number of the profile's setting), resize and crop come from ``profile``.
        layer: ``conv1`` .. ``conv5`` (pooled, see the module docstring) or ``global``.
        layers: several layers extracted in one pass over the videos (decoding dominates at
            small sizes); then a ``{layer: FeatureSet}`` dict is returned.
        num_clips: clips per video (default: the profile's ``eval_clips``).
        pool: how conv5 is pooled, ``adaptive`` (to the grid of :data:`POOL_GRIDS`) or
            ``reference`` (:func:`reference_pool`); default: the profile's
            ``retrieval_pool``. Part of the cache key.
        cache_dir: folder of the feature cache; None computes without caching.
        device: where the backbone runs (default: CUDA, then MPS, then CPU).
        batch_size: videos per batch (default: the profile's ``ft_batch_size``).
        num_workers: DataLoader workers (default: the profile's).
        seed: seed of a random initialisation (part of the cache key only then).
        progress: show a progress bar.
        strict: stop at a bad video (missing, empty, unreadable) instead of leaving it out
            (:mod:`vcop_lab.data.check`; the meta's ``videos_left_out`` counts them).

    Raises:
        CheckpointError: a missing checkpoint or one of another architecture, width or
            R(2+1)D shortcut.
        SettingsError, VideoError, ManifestError: bad settings, videos or manifest.
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    pool = _check_pool(pool or prof.retrieval_pool)
    wanted = list(dict.fromkeys(layers if layers is not None else [layer]))
    if not wanted:
        raise SettingsError("no feature layer asked for", fix=f"pass one of {', '.join(LAYERS)}")
    for lay in wanted:
        _check_arch_layer(arch, lay)
    num_clips = int(num_clips or prof.eval_clips)
    if num_clips < 1:
        raise SettingsError(f"num_clips must be at least 1, got {num_clips}", fix="pass e.g. 10")
    data_dir = Path(data_dir)
    if data_dir.is_file():  # the manifest itself
        data_dir = data_dir.parent
    all_records = load_manifest(data_dir)
    names = class_names(all_records)
    if isinstance(records, str):
        records = select_split(all_records, records)
    check = check_videos(data_dir, list(records), strict)
    records = check.good
    if progress:
        for line in check.summary_lines(data_dir):
            print(line, flush=True)
    if not records:
        raise SettingsError("no videos to extract features from", data_dir,
                            "check the manifest's splits")
    identity = _identity(checkpoint, seed)
    cl = parse_setting(prof.setting).cl

    # Cache look-up per layer; only the missing layers are computed, in one pass.
    results: dict[str, FeatureSet] = {}
    entries: dict[str, tuple[dict, Path | None]] = {}
    for lay in wanted:
        settings = cache_settings(data_dir, records, identity, arch, prof, lay, num_clips,
                                  pool)
        entry = runs.run_dir(cache_dir, settings) if cache_dir is not None else None
        hit = _load_entry(entry, settings, data_dir) if entry is not None else None
        if hit is not None:
            results[lay] = hit
        else:
            if entry is not None:
                runs.clear_run(entry)  # what was there is computed again, from nothing
            entries[lay] = (settings, entry)

    if entries:
        t0 = time.perf_counter()
        dev = pick_device(device)
        backbone, init_meta = backbone_from(checkpoint, arch, prof.width, seed,
                                            **prof.backbone_options(), cl=cl, crop=prof.crop)
        backbone.to(dev).eval()
        todo = list(entries)
        grids = {lay: pool_grid(arch, lay) for lay in todo}
        pools = {lay: layer_pool(lay, pool) for lay in todo}
        dataset = EvalClipDataset(records, data_root(data_dir), cl, num_clips, prof.resize,
                                  prof.crop)
        computed = _run_extraction(backbone, dataset, todo, grids, pools, entries, dev,
                                   batch_size or prof.ft_batch_size,
                                   prof.num_workers if num_workers is None else num_workers,
                                   progress)
        seconds = time.perf_counter() - t0
        labels = [r.label_index for r in records]
        for lay, (feats, eff_grid) in computed.items():
            settings, entry = entries[lay]
            meta = {**settings, "checkpoint": identity["checkpoint"],
                    "effective_grid": eff_grid, "feature_dim": int(feats.shape[2]),
                    "profile": prof.name, "num_videos": len(records), "device": str(dev),
                    "videos_left_out": check.counts,
                    "extract_seconds": round(seconds, 3),
                    "init_from": None if init_meta is None else
                    {k: init_meta.get(k) for k in ("kind", "arch", "width", "setting", "epoch")}}
            fs = FeatureSet(
                features=torch.from_numpy(np.asarray(feats)) if entry is not None else feats,
                labels=torch.tensor(labels), paths=[r.path for r in records],
                video_ids=torch.arange(len(records)), class_names=names,
                num_frames=[r.num_frames for r in records], root=data_dir,
                meta={**meta, "cache": "off" if entry is None else "miss"})
            if entry is not None:
                info = {"shape": list(feats.shape), "checksum": _checksum(entry / FEATURES_NAME),
                        "labels": labels, "paths": fs.paths,
                        "video_ids": list(range(len(records))), "class_names": names,
                        "num_frames": fs.num_frames, "meta": meta}
                runs.run_or_reuse(entry, settings, lambda _resume, i=info: i,
                                  on_mismatch="replace", progress=False, what="feature cache")
                fs.meta["cache_file"] = str(entry / FEATURES_NAME)
            results[lay] = fs
    ordered = {lay: results[lay] for lay in wanted}
    return ordered if layers is not None else ordered[wanted[0]]


def _run_extraction(backbone, dataset, layers, grids, pools, entries, device, batch_size,
                    num_workers, progress) -> dict[str, tuple[object, list | None]]:
    """One pass over the videos; returns ``{layer: (features, effective grid)}``.

    With a cache the features are written straight into a memory-mapped temporary ``.npy``
    file (no full copy in RAM), moved into the entry's folder only when complete.
    """
    loader = eval_loader(dataset, batch_size, num_workers, device)
    num_videos, num_clips = len(dataset), dataset.num_clips
    outputs: dict[str, object] = {}
    shapes: dict[str, list[int]] = {}
    filled = 0
    stack = ExitStack()  # the temporary files: removed if the extraction is interrupted

    def store(clips, batch):
        nonlocal filled
        n, index = clips.shape[0], batch[2]
        if not torch.equal(index, torch.arange(filled, filled + n)):
            raise AssertionError("the feature loader must visit videos in order")
        flat = clips.flatten(0, 1)  # (n * num_clips, 3, cl, crop, crop)
        parts: dict[str, list[Tensor]] = {lay: [] for lay in layers}
        for start in range(0, flat.shape[0], MAX_CLIPS_PER_FORWARD):
            chunk = flat[start:start + MAX_CLIPS_PER_FORWARD]
            for lay, f in pooled_features(backbone, chunk, layers, grids, shapes,
                                          pools).items():
                parts[lay].append(f.float().cpu())
        for lay in layers:
            f = torch.cat(parts[lay]).reshape(n, num_clips, -1)
            if lay not in outputs:
                shape = (num_videos, num_clips, f.shape[2])
                entry = entries[lay][1]
                if entry is None:
                    outputs[lay] = torch.empty(shape, dtype=torch.float32)
                else:
                    writing = atomic_path(entry / FEATURES_NAME, keep_suffix=True, fsync=False)
                    tmp = stack.enter_context(writing)
                    outputs[lay] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                             shape=shape)
            out = outputs[lay]
            out[filled:filled + n] = f if isinstance(out, Tensor) else f.numpy()
        filled += n

    with stack:
        for_each_batch(backbone, loader, device, store, progress, desc="features")
        close_loader(loader)
        if filled != num_videos:
            raise AssertionError(f"extracted {filled} of {num_videos} videos")
        for out in outputs.values():
            if not isinstance(out, Tensor):
                out.flush()
        outputs = {lay: out if isinstance(out, Tensor) else None for lay, out in outputs.items()}
    result = {}
    for lay in layers:
        eff = (None if grids[lay] is None else
               list(pooled_grid(grids[lay], shapes[lay], pools[lay])))
        out = outputs[lay]
        if out is None:  # now renamed into the entry's folder
            out = np.load(entries[lay][1] / FEATURES_NAME, mmap_mode="c")
        result[lay] = (out, eff)
    return result


__all__ = [
    "GLOBAL",
    "LAYERS",
    "POOLS",
    "POOL_GRIDS",
    "FeatureSet",
    "cache_key",
    "cache_settings",
    "effective_grid",
    "extract_features",
    "feature_layout",
    "layer_pool",
    "pool_grid",
    "pool_stage",
    "pooled_features",
    "pooled_grid",
    "reference_pool",
]
