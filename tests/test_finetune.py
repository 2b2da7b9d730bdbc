"""Action recognition fine-tuning: metrics, checkpoint checks, freezing, label fraction,
resume, and clip- versus video-level test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vcop_lab import cli
from vcop_lab.checkpoint import (
    backbone_from,
    checkpoint_hash,
    load_backbone_weights,
    load_checkpoint,
    load_order_init,
    order_model_from,
    save_checkpoint,
)
from vcop_lab.data.datasets import EvalClipDataset
from vcop_lab.data.manifest import VideoRecord, load_manifest, write_manifest
from vcop_lab.data.transforms import to_network_input
from vcop_lab.errors import CheckpointError, SettingsError
from vcop_lab.evaluate.action import action_report, clip_logits
from vcop_lab.finetune import (
    compare_inits,
    finetune,
    finetune_settings,
    freeze_sweep,
    label_subset,
)
from vcop_lab.models import STAGES, VCOPN, ActionClassifier, build_backbone
from vcop_lab.profiles import SMOKE
from vcop_lab.train import make_loader

FRAMES, HEIGHT, WIDTH = 24, 64, 86
FAST = dict(profile="smoke", device="cpu", num_workers=0, progress=False)


def _write_video(path: Path, direction: int, offset: int) -> None:
    """A bright square sliding left (-1) or right (+1) over a dark background."""
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for t in range(FRAMES):
            img = np.full((HEIGHT, WIDTH, 3), 20, np.uint8)
            x = (offset + direction * 2 * t) % (WIDTH - 16)
            img[24:40, x:x + 16] = (230, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two classes (left, right): 5 training and 2 test videos each, plus a manifest."""
    root = tmp_path_factory.mktemp("motion")
    records = []
    for label, (name, direction) in enumerate((("left", -1), ("right", 1))):
        (root / name).mkdir()
        for i in range(7):
            rel = f"{name}/{name}_{i}.mp4"
            _write_video(root / rel, direction, offset=9 * i)
            split = "train" if i < 5 else "test"
            records.append(VideoRecord(rel, name, label, split, FRAMES, 25.0, WIDTH, HEIGHT))
    write_manifest(records, root / "manifest.csv")
    return root


def _order_checkpoint(path: Path, arch: str = "r3d", width: float = SMOKE.width) -> Path:
    """A VCOPN state dict saved in the pretraining checkpoint format."""
    torch.manual_seed(1)
    model = VCOPN(build_backbone(arch, width), tl=3)
    meta = {"kind": "order", "arch": arch, "width": width, "setting": SMOKE.setting, "tl": 3}
    save_checkpoint({"model": model.state_dict(), "meta": meta, "epoch": 0}, path)
    return path


@pytest.fixture(scope="module")
def order_ckpt(data, tmp_path_factory) -> Path:
    """An order checkpoint from one smoke epoch of pretraining on the fixture videos."""
    from vcop_lab.pretrain import pretrain
    out = tmp_path_factory.mktemp("pretrain")
    pretrain(data, out, profile="smoke", epochs=1, device="cpu", num_workers=0, progress=False)
    return out / "best.pt"


def _backbone_state(path: Path) -> dict[str, torch.Tensor]:
    return {k[len("backbone."):]: v for k, v in load_checkpoint(path)["model"].items()
            if k.startswith("backbone.")}


def test_cli_writes_metrics_with_both_accuracies(data, order_ckpt, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["finetune", "--data", str(data), "--checkpoint", str(order_ckpt),
                     "--profile", "smoke", "--freeze-through", "conv1", "--epochs", "1",
                     "--device", "cpu", "--workers", "0", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "clip level" in printed and "video level" in printed
    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_clip_acc", "test_video_acc"):
        assert 0.0 <= m[key] <= 1.0
    assert m["arch"] == "r3d" and m["width"] == SMOKE.width and m["profile"] == "smoke"
    assert m["init"] == "order" and m["checkpoint"] == str(order_ckpt)
    assert m["checkpoint_hash"] == checkpoint_hash(order_ckpt)
    assert m["freeze"] == "conv1" and m["frozen_stages"] == ["conv1"]
    assert m["label_fraction"] == 1.0 and m["seed"] == 0 and m["epochs_run"] == 1
    assert m["clips_per_video"] == SMOKE.eval_clips and m["cl"] == 4
    assert m["test_videos"] == 4 and m["val_videos"] == 2 and m["train_videos"] == 8
    assert np.array(m["video_confusion"]).sum() == 4
    assert set(m["per_class_video_acc"]) == {"left", "right"}
    assert m["train_minutes"] >= 0 and (out / "best.pt").exists()


def test_checkpoint_of_another_arch_or_width_is_refused(tmp_path):
    c3d = _order_checkpoint(tmp_path / "c3d.pt", arch="c3d")
    with pytest.raises(CheckpointError, match="c3d") as err:
        load_backbone_weights(build_backbone("r3d", SMOKE.width), c3d)
    assert str(c3d) in str(err.value) and "--arch c3d" in str(err.value)
    wide = _order_checkpoint(tmp_path / "wide.pt", width=0.25)
    with pytest.raises(CheckpointError) as err:
        load_backbone_weights(build_backbone("r3d", SMOKE.width), wide)
    assert str(wide) in str(err.value)
    # no meta to tell: the shapes are checked
    bare = tmp_path / "bare.pt"
    save_checkpoint({"model": load_checkpoint(wide)["model"]}, bare)
    with pytest.raises(CheckpointError, match="does not fit") as err:
        load_backbone_weights(build_backbone("r3d", SMOKE.width), bare)
    assert str(bare) in str(err.value)


def _r21d_checkpoint(path: Path, shortcut: str, record: bool = True) -> Path:
    """An R(2+1)D order checkpoint with ``shortcut``; ``record=False`` writes the meta of a
    checkpoint from before the shortcut was recorded."""
    torch.manual_seed(1)
    model = VCOPN(build_backbone("r21d", SMOKE.width, shortcut=shortcut), tl=3)
    meta = {"kind": "order", "arch": "r21d", "width": SMOKE.width, "setting": SMOKE.setting,
            "tl": 3}
    if record:
        meta["shortcut"] = shortcut
    save_checkpoint({"model": model.state_dict(), "meta": meta, "epoch": 0}, path)
    return path


def test_checkpoint_of_another_r21d_shortcut_is_refused(tmp_path):
    factorised = _r21d_checkpoint(tmp_path / "factorised.pt", "factorised")
    with pytest.raises(CheckpointError, match="holds shortcut factorised, this run asks for "
                                              "shortcut projection") as err:
        load_backbone_weights(build_backbone("r21d", SMOKE.width), factorised)
    assert str(factorised) in str(err.value) and "r21d_shortcut=factorised" in str(err.value)
    with pytest.raises(CheckpointError, match="shortcut"):
        load_order_init(VCOPN(build_backbone("r21d", SMOKE.width), 4), factorised)
    backbone, meta = backbone_from(factorised, "r21d", SMOKE.width, shortcut="factorised")
    assert meta["shortcut"] == backbone.shortcut == "factorised"
    model, _ = order_model_from(factorised)  # built with the checkpoint's shortcut
    assert model.backbone.shortcut == "factorised"
    # a checkpoint that does not record it holds the projection, the only one before
    old = _r21d_checkpoint(tmp_path / "old.pt", "projection", record=False)
    with pytest.raises(CheckpointError, match="holds shortcut projection"):
        backbone_from(old, "r21d", SMOKE.width, shortcut="factorised")
    assert backbone_from(old, "r21d", SMOKE.width)[0].shortcut == "projection"


def test_settings_record_the_shortcut_and_a_random_init(data):
    factorised = SMOKE.with_overrides(r21d_shortcut="factorised", init="reference")
    base = finetune_settings(data, "random", SMOKE, "r21d")
    ref = finetune_settings(data, "random", factorised, "r21d")
    assert (base["shortcut"], base["init_scheme"]) == ("projection", "kaiming")
    assert (ref["shortcut"], ref["init_scheme"]) == ("factorised", "reference")
    assert finetune_settings(data, "random", factorised, "r3d")["shortcut"] is None


def test_load_backbone_copies_weights_and_random_loads_nothing(tmp_path):
    ckpt = _order_checkpoint(tmp_path / "order.pt")
    torch.manual_seed(7)
    fresh = build_backbone("r3d", SMOKE.width)
    rand, meta = backbone_from("random", "r3d", SMOKE.width, seed=7)
    assert meta is None  # random loads nothing: the same weights as a fresh seeded build
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in rand.state_dict().items())
    backbone, meta = backbone_from(ckpt, "r3d", SMOKE.width)
    assert meta["kind"] == "order"
    saved = _backbone_state(ckpt)
    assert all(torch.equal(saved[k], v) for k, v in backbone.state_dict().items())


def test_freeze_through_conv2_keeps_shallow_stages_fixed(data, tmp_path):
    ckpt = _order_checkpoint(tmp_path / "order.pt")
    out = tmp_path / "frozen"
    finetune(data, out, checkpoint=ckpt, freeze="conv2", epochs=1, **FAST)
    start, end = _backbone_state(ckpt), _backbone_state(out / "last.pt")
    for stage in STAGES:
        keys = [k for k in start if k.startswith(stage + ".") and start[k].is_floating_point()]
        same = all(torch.equal(start[k], end[k]) for k in keys)
        if stage in ("conv1", "conv2"):
            assert same, f"{stage} changed although frozen (weights or BN statistics)"
        else:
            assert not same, f"{stage} did not train"
    m = json.loads((out / "metrics.json").read_text())
    total = sum(p.numel() for p in ActionClassifier(build_backbone("r3d", SMOKE.width), 2)
                .parameters())
    assert 0 < m["trainable_params"] < total


def test_label_fraction_keeps_a_stratified_count():
    records = [VideoRecord(f"c{c}/{i}.mp4", f"c{c}", c, "train", 30, 25.0, 8, 8)
               for c, n in enumerate((10, 3, 1)) for i in range(n)]
    kept = label_subset(records, 0.3, seed=0)
    counts = [sum(r.label_index == c for r in kept) for c in range(3)]
    assert counts == [3, 1, 1]  # round(0.3 * n), at least one per class
    assert kept == [r for r in records if r in kept]  # manifest order
    assert label_subset(records, 0.3, seed=0) == kept
    assert {r.path for r in label_subset(records, 0.3, seed=1)} != {r.path for r in kept}
    assert label_subset(records, 1.0) == records
    with pytest.raises(SettingsError):
        label_subset(records, 0.0)


def test_label_fraction_in_a_run(data, tmp_path):
    m = finetune(data, tmp_path / "few", label_fraction=0.5, epochs=1, **FAST)
    # 5 training videos per class, 1 held out for validation: round(0.5 * 4) = 2 per class
    assert m["train_videos_before_fraction"] == 8 and m["train_videos"] == 4
    assert m["init"] == "random" and m["checkpoint_hash"] is None


def test_resume_matches_an_uninterrupted_run(data, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    a = finetune(data, whole, epochs=2, **FAST)
    finetune(data, split, epochs=1, **FAST)
    first_epoch = json.loads((split / "history.json").read_text())[0]
    b = finetune(data, split, epochs=2, resume=True, **FAST)
    # it continued rather than started over: epoch 1's record (with its timing) is kept
    assert json.loads((split / "history.json").read_text())[0] == first_epoch
    sa = load_checkpoint(whole / "last.pt")["model"]
    sb = load_checkpoint(split / "last.pt")["model"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["epochs_run"] == b["epochs_run"] == 2
    assert a["test_video_acc"] == b["test_video_acc"]
    with pytest.raises(SettingsError, match="other settings"):
        finetune(data, split, epochs=3, resume=True, freeze="conv3", **FAST)


def test_video_accuracy_averages_clip_logits():
    # video 0: two of three clips say class 0, but the mean logit says class 1 (correct)
    logits = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 5.0]],
                           [[0.0, 1.0], [2.0, 0.0], [2.0, 0.0]]])
    labels = torch.tensor([1, 0])
    r = action_report(logits, labels, ["a", "b"])
    assert r["clip_acc"] == pytest.approx(3 / 6)
    assert r["video_acc"] == 1.0
    assert r["confusion"] == [[1, 0], [0, 1]]
    assert r["video_pred"] == [1, 0]


def test_test_scores_match_a_manual_computation(data):
    records = [r for r in load_manifest(data) if r.split == "test"]
    torch.manual_seed(0)
    model = ActionClassifier(build_backbone("r3d", SMOKE.width), 2)
    model.eval()
    ds = EvalClipDataset(records, data, cl=4, num_clips=3, resize=SMOKE.resize, crop=SMOKE.crop)
    loader = make_loader(ds, 3, None, 0, torch.device("cpu"))
    scores = clip_logits(model, loader, torch.device("cpu"))
    assert scores["logits"].shape == (len(records), 3, 2)
    report = action_report(scores["logits"], scores["labels"], ["left", "right"])
    video_ok, clip_ok = [], []
    with torch.no_grad():
        for i in range(len(ds)):
            clips, label, _ = ds[i]
            out = model(to_network_input(clips))     # (3 clips, 2 classes)
            clip_ok += (out.argmax(1) == label).tolist()
            video_ok.append(int(out.mean(0).argmax()) == label)
    assert report["clip_acc"] == pytest.approx(np.mean(clip_ok))
    assert report["video_acc"] == pytest.approx(np.mean(video_ok))


def test_sweeps_reuse_finished_runs(data, tmp_path):
    ckpt = _order_checkpoint(tmp_path / "order.pt")
    kw = dict(epochs=1, **FAST)
    first = freeze_sweep(data, tmp_path / "runs", ckpt, stages=("none", "conv5"), **kw)
    assert set(first) == {"none", "conv5"}
    assert first["conv5"]["trainable_params"] < first["none"]["trainable_params"]
    stamp = (first["none"].dir / "metrics.json").stat().st_mtime_ns
    again = freeze_sweep(data, tmp_path / "runs", ckpt, stages=("none",), **kw)
    assert again["none"] == first["none"] and again["none"].reused
    assert (first["none"].dir / "metrics.json").stat().st_mtime_ns == stamp
    # other settings get another folder: the finished run is never touched
    fewer = freeze_sweep(data, tmp_path / "runs", ckpt, stages=("none",), label_fraction=0.5,
                         **kw)
    assert fewer["none"].dir != first["none"].dir and not fewer["none"].reused
    assert (first["none"].dir / "metrics.json").stat().st_mtime_ns == stamp

    # one seed and a frozen backbone keep the comparison short; the comparison's
    # order-initialised run is the sweep's run of the same settings (trained once)
    res = compare_inits(data, tmp_path / "runs", ckpt, seeds=(0,), freeze="conv5", **kw)
    assert res["random"]["runs"][0]["init"] == "random"
    assert res["order"]["runs"][0]["checkpoint_hash"] == checkpoint_hash(ckpt)
    assert res["order"]["runs"][0].dir == first["conv5"].dir and res["order"]["runs"][0].reused
    for init in ("random", "order"):
        assert res[init]["mean_test_video_acc"] == res[init]["runs"][0]["test_video_acc"]
    assert res["order"]["seeds"] == [0]


def test_a_profile_that_leaves_the_workers_to_the_machine_gets_its_default(monkeypatch):
    from vcop_lab import runtime

    ds = torch.utils.data.TensorDataset(torch.zeros(4, 1))
    for cores, workers in ((2, 0), (1, 0), (4, 2), (16, 4)):
        monkeypatch.setattr(runtime.os, "cpu_count", lambda n=cores: n)
        assert runtime.default_workers() == workers
        assert make_loader(ds, 2, None, None, torch.device("cpu")).num_workers == workers
    assert make_loader(ds, 2, None, 3, torch.device("cpu")).num_workers == 3  # as asked
    with pytest.raises(SettingsError):
        make_loader(ds, 2, None, -1, torch.device("cpu"))
