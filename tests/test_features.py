"""Tests of feature extraction: every video kept, pooled sizes, the on-disk cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vcop_lab.checkpoint import save_checkpoint
from vcop_lab.data import datasets
from vcop_lab.data.datasets import EvalClipDataset
from vcop_lab.data.manifest import load_manifest, select_split
from vcop_lab.data.sampling import parse_setting
from vcop_lab.data.transforms import to_network_input
from vcop_lab.errors import CheckpointError, SettingsError
from vcop_lab.evaluate.features import (
    FEATURES_NAME,
    LAYERS,
    POOL_GRIDS,
    cache_key,
    cache_settings,
    extract_features,
    feature_layout,
    pool_stage,
    reference_pool,
)
from vcop_lab.models.backbones import STAGES, build_backbone
from vcop_lab.profiles import SMOKE

ARCH = SMOKE.arch
REAL_READ = datasets.read_frames


def make_checkpoint(path: Path, seed: int, arch: str = ARCH, width: float = SMOKE.width) -> Path:
    """An order-checkpoint-shaped file with a backbone drawn with ``seed``."""
    torch.manual_seed(seed)
    backbone = build_backbone(arch, width)
    model = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    meta = {"kind": "order", "arch": arch, "width": width}
    return save_checkpoint({"model": model, "meta": meta}, path)


class ReadCounter:
    """Stands in for ``read_frames`` in the datasets module; counts the videos decoded."""

    def __init__(self, real, fail: bool = False):
        self.real, self.fail, self.calls = real, fail, 0

    def __call__(self, *args, **kw):
        if self.fail:
            raise AssertionError("a cache hit must not decode any video")
        self.calls += 1
        return self.real(*args, **kw)


@pytest.fixture()
def reads(monkeypatch):
    counter = ReadCounter(REAL_READ)
    monkeypatch.setattr(datasets, "read_frames", counter)
    return counter


@pytest.fixture(scope="module")
def main_dir(synth_smoke) -> Path:
    return synth_smoke["main"]


@pytest.fixture(scope="module")
def test_records(main_dir):
    return select_split(load_manifest(main_dir), "test")


def test_pooling_grids_give_9216_values_at_full_size():
    # The paper's 512x2x3x3 conv5 feature, and about as many values at every stage.
    for arch in POOL_GRIDS:
        layout = feature_layout(arch, "paper", layers=STAGES)
        assert layout["conv5"]["activation"] == [512, 2, 7, 7]
        assert layout["conv5"]["effective_grid"] == [2, 3, 3]
        for stage in STAGES:
            assert layout[stage]["dim"] == 9216, (arch, stage, layout[stage])


def test_grids_are_capped_at_small_sizes():
    layout = feature_layout(ARCH, "smoke")
    for stage in STAGES:
        shape, grid, eff = (layout[stage][k] for k in ("activation", "grid", "effective_grid"))
        assert eff == [min(g, s) for g, s in zip(grid, shape[1:])]
        assert layout[stage]["dim"] == shape[0] * eff[0] * eff[1] * eff[2]
    assert layout["global"]["dim"] == build_backbone(ARCH, SMOKE.width).feature_dim


def test_every_video_kept_and_layers_in_one_pass(main_dir, test_records, reads):
    batch = 5
    assert len(test_records) % batch != 0  # a last, smaller batch must not be dropped
    out = extract_features(main_dir, "test", "random", profile="smoke", layers=LAYERS,
                           batch_size=batch, num_workers=0, progress=False)
    assert reads.calls == len(test_records)  # six layers, one decoding pass
    layout = feature_layout(ARCH, "smoke")
    for layer, fs in out.items():
        assert fs.features.shape == (len(test_records), SMOKE.eval_clips, layout[layer]["dim"])
        assert fs.features.dtype == torch.float32
        assert fs.paths == [r.path for r in test_records]
        assert fs.labels.tolist() == [r.label_index for r in test_records]
        assert fs.clip_level()[0].shape[0] == len(test_records) * SMOKE.eval_clips
        assert fs.meta["cache"] == "off"
        assert bool(torch.isfinite(fs.features).all())
    # "global" is the backbone's own output on the same clips (random init, seed 0), computed
    # on the device the extraction used (the default: a GPU where there is one).
    device = torch.device(out["global"].meta["device"])
    torch.manual_seed(0)
    backbone = build_backbone(ARCH, SMOKE.width).eval().to(device)
    cl = parse_setting(SMOKE.setting).cl
    ds = EvalClipDataset(test_records, main_dir, cl, SMOKE.eval_clips, SMOKE.resize, SMOKE.crop)
    last = len(test_records) - 1  # from the last, partial batch
    with torch.no_grad():
        want, stages = backbone(to_network_input(ds[last][0], device), return_stages=True)
    torch.testing.assert_close(out["global"].features[last], want.cpu(), rtol=1e-3, atol=1e-4)
    # conv5 is max-pooled with windows covering the whole activation: same maximum per clip.
    torch.testing.assert_close(out["conv5"].features[last].amax(1),
                               stages["conv5"].amax((1, 2, 3, 4)).cpu(), rtol=1e-3, atol=1e-4)


def test_cache_hit_miss_and_invalidation(main_dir, test_records, tmp_path, monkeypatch):
    records = test_records[:5]
    ckpt = make_checkpoint(tmp_path / "best.pt", seed=1)
    cache = tmp_path / "cache"
    kw = dict(profile="smoke", cache_dir=cache, batch_size=2, num_workers=0, progress=False)

    counter = ReadCounter(REAL_READ)
    monkeypatch.setattr(datasets, "read_frames", counter)
    first = extract_features(main_dir, records, ckpt, **kw)
    assert first.meta["cache"] == "miss" and counter.calls == len(records)
    assert len(list(cache.rglob(FEATURES_NAME))) == 1 and not list(cache.rglob(".*tmp*"))
    values = first.features.clone()

    # Identical call: a hit, nothing decoded.
    monkeypatch.setattr(datasets, "read_frames", ReadCounter(None, fail=True))
    again = extract_features(main_dir, records, ckpt, **kw)
    assert again.meta["cache"] == "hit"
    assert torch.equal(again.features, values) and again.paths == first.paths

    # Same path, new content: recomputed, different features, a new cache entry.
    make_checkpoint(ckpt, seed=2)
    counter = ReadCounter(REAL_READ)
    monkeypatch.setattr(datasets, "read_frames", counter)
    changed = extract_features(main_dir, records, ckpt, **kw)
    assert changed.meta["cache"] == "miss" and counter.calls == len(records)
    assert changed.meta["checkpoint_hash"] != first.meta["checkpoint_hash"]
    assert not torch.allclose(changed.features, values)

    # Another setting: another entry (layer, clips per video).
    other_layer = extract_features(main_dir, records, ckpt, layer="conv4", **kw)
    fewer_clips = extract_features(main_dir, records, ckpt, num_clips=2, **kw)
    assert other_layer.meta["cache"] == fewer_clips.meta["cache"] == "miss"
    assert fewer_clips.features.shape[1] == 2
    assert len(list(cache.rglob(FEATURES_NAME))) == 4
    assert len({fs.meta["cache_file"] for fs in (first, changed, other_layer, fewer_clips)}) == 4

    # Cached features are copy-on-write: editing them never changes the file.
    hit = extract_features(main_dir, records, ckpt, layer="conv4", **kw)
    assert hit.meta["cache"] == "hit"
    hit.features.zero_()
    assert extract_features(main_dir, records, ckpt, layer="conv4", **kw).features.abs().sum() > 0


def test_random_init_against_checkpoint(main_dir, test_records, tmp_path):
    records = test_records[:3]
    ckpt = make_checkpoint(tmp_path / "best.pt", seed=5)
    kw = dict(profile="smoke", layer="conv3", num_clips=2, num_workers=0, progress=False)
    rand0 = extract_features(main_dir, records, "random", seed=0, **kw)
    again = extract_features(main_dir, records, "random", seed=0, **kw)
    rand1 = extract_features(main_dir, records, "random", seed=1, **kw)
    trained = extract_features(main_dir, records, ckpt, **kw)
    assert torch.equal(rand0.features, again.features)  # a seeded random init is reproducible
    assert not torch.allclose(rand0.features, rand1.features)
    assert not torch.allclose(rand0.features, trained.features)
    assert rand0.meta["checkpoint_hash"] == "random" and trained.meta["seed"] is None


def test_cache_key_covers_seed_and_data(main_dir, test_records, tmp_path):
    from vcop_lab.profiles import get_profile

    prof = get_profile("smoke")
    ident = {"checkpoint_hash": "random", "seed": 0}
    base = cache_settings(main_dir, test_records[:2], ident, ARCH, prof, "conv5", 4)
    variants = [
        cache_settings(main_dir, test_records[:2], {**ident, "seed": 1}, ARCH, prof, "conv5", 4),
        cache_settings(main_dir, test_records[1:3], ident, ARCH, prof, "conv5", 4),
        cache_settings(main_dir, test_records[:2], ident, "c3d", prof, "conv5", 4),
        cache_settings(main_dir, test_records[:2], ident, ARCH, prof.with_overrides(crop=24),
                       "conv5", 4),
    ]
    keys = {cache_key(base)} | {cache_key(v) for v in variants}
    assert len(keys) == 5


def test_broken_cache_entry_is_recomputed(main_dir, test_records, tmp_path):
    records = test_records[:2]
    kw = dict(profile="smoke", num_clips=2, cache_dir=tmp_path, num_workers=0, progress=False)
    first = extract_features(main_dir, records, "random", **kw)
    meta_file = Path(first.meta["cache_file"]).parent / "metrics.json"  # written last
    meta_file.write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable feature cache"):
        second = extract_features(main_dir, records, "random", **kw)
    assert second.meta["cache"] == "miss"
    assert json.loads(meta_file.read_text())["shape"] == list(first.features.shape)
    assert np.allclose(second.features.numpy(), first.features.numpy())


def test_checkpoint_errors(main_dir, test_records, tmp_path):
    records = test_records[:1]
    kw = dict(profile="smoke", num_workers=0, progress=False)
    with pytest.raises(CheckpointError, match="not found"):
        extract_features(main_dir, records, tmp_path / "missing.pt", **kw)
    other = make_checkpoint(tmp_path / "c3d.pt", seed=0, arch="c3d")
    with pytest.raises(CheckpointError, match="c3d"):
        extract_features(main_dir, records, other, arch=ARCH, **kw)
    with pytest.raises(SettingsError, match="layer"):
        extract_features(main_dir, records, "random", layer="conv6", **kw)


def test_by_path_for_videoqa(main_dir, test_records):
    fs = extract_features(main_dir, test_records[:2], "random", profile="smoke", layer="global",
                          num_clips=SMOKE.qa_clips, num_workers=0, progress=False)
    table = fs.by_path()
    assert list(table) == [r.path for r in test_records[:2]]
    assert table[test_records[1].path].shape == (SMOKE.qa_clips, fs.dim)
    assert fs.dim == build_backbone(ARCH, SMOKE.width).feature_dim


def test_videos_outside_the_manifest_folder(main_dir, test_records, tmp_path):
    # A prepared folder holds the manifest; data_root.txt names where the videos are.
    from vcop_lab.data.manifest import ROOT_NAME, write_manifest
    from vcop_lab.evaluate.retrieval import clip_thumbnail

    write_manifest(test_records[:2], tmp_path / "manifest.csv")
    (tmp_path / ROOT_NAME).write_text(str(main_dir))
    kw = dict(profile="smoke", num_clips=2, num_workers=0, progress=False)
    here = extract_features(tmp_path, "test", "random", **kw)
    there = extract_features(main_dir, test_records[:2], "random", **kw)
    assert torch.equal(here.features, there.features)
    assert clip_thumbnail(here, 1).shape == (SMOKE.crop, SMOKE.crop, 3)


# ----------------------------------------------------------------------------- reference pool


def test_reference_pool_is_maxpool_122_with_floor_rounding():
    act = torch.randn(2, 512, 2, 7, 7, generator=torch.Generator().manual_seed(0))
    out = reference_pool(act)
    assert out.shape == (2, 512, 2, 3, 3)  # 9216 values per clip
    for i in range(3):  # windows [0,2), [2,4), [4,6) in each spatial axis
        for j in range(3):
            window = act[..., 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            assert torch.equal(out[..., i, j], window.amax((-2, -1)))
    assert torch.equal(out, torch.nn.MaxPool3d((1, 2, 2))(act))
    # the last row and column never count
    edge = act.clone()
    edge[..., 6, :] = edge[..., :, 6] = 1e9
    assert torch.equal(reference_pool(edge), out)
    flat = pool_stage(act, POOL_GRIDS["r3d"]["conv5"], "reference")
    assert flat.shape == (2, 9216) and torch.equal(flat, out.flatten(1))
    # adaptive pooling to the same 2x3x3 grid uses other, overlapping windows that do
    # cover the last row and column
    adaptive = pool_stage(act, POOL_GRIDS["r3d"]["conv5"])
    assert adaptive.shape == flat.shape and not torch.equal(adaptive, flat)
    assert bool((pool_stage(edge, POOL_GRIDS["r3d"]["conv5"]) == 1e9).any())


def test_reference_pool_layout_at_full_and_small_sizes():
    for arch in POOL_GRIDS:
        ref = feature_layout(arch, "paper", layers=STAGES)  # the paper profile's choice
        ada = feature_layout(arch, "paper", layers=STAGES, pool="adaptive")
        assert ref["conv5"]["pool"] == "reference" and ada["conv5"]["pool"] == "adaptive"
        assert ref["conv5"]["dim"] == ada["conv5"]["dim"] == 9216
        assert all(ref[s] == ada[s] for s in STAGES[:-1])  # only conv5 changes
    small = feature_layout("r3d", "teaching", layers=["conv5"], pool="reference")["conv5"]
    assert small["activation"] == [128, 1, 4, 4] and small["effective_grid"] == [1, 2, 2]
    assert small["dim"] == 512


def test_pool_choices_get_separate_cache_entries(main_dir, test_records, tmp_path):
    records = test_records[:3]
    kw = dict(profile="smoke", num_clips=2, cache_dir=tmp_path, num_workers=0, progress=False)
    adaptive = extract_features(main_dir, records, "random", pool="adaptive", **kw)
    reference = extract_features(main_dir, records, "random", pool="reference", **kw)
    assert adaptive.meta["cache"] == reference.meta["cache"] == "miss"
    assert adaptive.meta["cache_file"] != reference.meta["cache_file"]
    assert (adaptive.meta["pool"], reference.meta["pool"]) == ("adaptive", "reference")
    # smoke conv5 is 1x2x2: adaptive keeps the four cells, the reference pool their maximum
    n, clips, dim = adaptive.features.shape
    assert reference.dim * 4 == dim
    torch.testing.assert_close(reference.features,
                               adaptive.features.reshape(n, clips, -1, 4).amax(-1))
    # the profile's choice is the default, and each entry is found again
    ref_profile = SMOKE.with_overrides(retrieval_pool="reference")
    again = extract_features(main_dir, records, "random", **{**kw, "profile": ref_profile})
    assert again.meta["cache"] == "hit" and again.meta["cache_file"] == reference.meta["cache_file"]
    assert extract_features(main_dir, records, "random", **kw).meta["cache"] == "hit"
    # the other layers are pooled adaptively whatever the choice: one entry
    conv4 = extract_features(main_dir, records, "random", layer="conv4", pool="adaptive", **kw)
    assert extract_features(main_dir, records, "random", layer="conv4", pool="reference",
                            **kw).meta["cache_file"] == conv4.meta["cache_file"]
    ident = {"checkpoint_hash": "random", "seed": 0}
    keys = {pool: cache_key(cache_settings(main_dir, records, ident, ARCH, SMOKE, "conv5", 2,
                                           pool)) for pool in ("adaptive", "reference")}
    assert keys["adaptive"] != keys["reference"]
    with pytest.raises(SettingsError, match="adaptive, reference"):
        extract_features(main_dir, records, "random", pool="average", **kw)
