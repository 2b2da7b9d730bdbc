"""Tests of the retrieval protocols: levels, cross-dataset scoring, Table IV, examples, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vcop_lab import cli
from vcop_lab.checkpoint import save_checkpoint
from vcop_lab.data.manifest import class_names, load_manifest, write_manifest
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.features import FeatureSet, feature_layout
from vcop_lab.evaluate.retrieval import (
    cross_dataset,
    grid_inputs,
    layerwise_table,
    retrieval_examples,
    score_retrieval,
    split_features,
)
from vcop_lab.evaluate.search import TOPK, full_matrix_baseline
from vcop_lab.models.backbones import build_backbone
from vcop_lab.profiles import SMOKE

ARCH = SMOKE.arch
MAIN_CLASSES = ("rise", "fall", "grow", "slide_left")
SECOND_CLASSES = ("rise", "grow", "bounce", "zigzag")  # shares rise and grow with main


def _subset(src: Path, dst: Path, classes) -> Path:
    """A data folder with only ``classes`` of ``src`` (videos copied, label indices kept)."""
    records = [r for r in load_manifest(src) if r.label in classes]
    for rec in records:
        target = rec.full_path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rec.full_path(src), target)
    write_manifest(records, dst / "manifest.csv", classes=class_names(load_manifest(src)))
    return dst


@pytest.fixture(scope="module")
def tiny(synth_smoke, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {"main": _subset(synth_smoke["main"], root / "main", MAIN_CLASSES),
            "second": _subset(synth_smoke["second"], root / "second", SECOND_CLASSES)}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(7)
    backbone = build_backbone(ARCH, SMOKE.width)
    model = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    meta = {"kind": "order", "arch": ARCH, "width": SMOKE.width}
    return save_checkpoint({"model": model, "meta": meta},
                           tmp_path_factory.mktemp("ck") / "best.pt")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def main_sets(tiny, ckpt, cache):
    query, gallery = split_features(tiny["main"], ckpt, ARCH, "smoke", ["conv5"],
                                    cache_dir=cache, num_workers=0, progress=False)
    return query["conv5"], gallery["conv5"]


def _counts(data: Path):
    records = load_manifest(data)
    return (sum(r.split == "test" for r in records),
            sum(r.split in ("train", "val") for r in records))


def test_levels_named_counted_and_monotone(tiny, main_sets):
    query, gallery = main_sets
    n_test, n_train = _counts(tiny["main"])
    assert len(query) == n_test and len(gallery) == n_train  # no video dropped
    clip = score_retrieval(query, gallery, "clip")
    video = score_retrieval(query, gallery, "video")
    assert clip["level"] == "clip level" and video["level"] == "video level"
    assert clip["num_queries"] == n_test * SMOKE.eval_clips
    assert clip["num_gallery"] == n_train * SMOKE.eval_clips
    assert video["num_queries"] == n_test and video["num_gallery"] == n_train
    assert clip != video
    for result in (clip, video):
        accs = [result[f"top{k}"] for k in TOPK]
        assert accs == sorted(accs) and all(0 <= a <= 100 for a in accs)
        assert result["num_queries_without_class_in_gallery"] == 0
        # Fewer gallery rows than 50: top-50 uses the whole gallery, which holds every class.
        assert result["k_capped_at"] == result["num_gallery"] < 50
        assert result["top50"] == 100.0


def test_scores_equal_a_brute_force_count(main_sets):
    query, gallery = main_sets
    q, q_labels, _ = query.clip_level()
    g, g_labels, _ = gallery.clip_level()
    _, idx = full_matrix_baseline(q, g, 20)
    hits = (g_labels[idx] == q_labels[:, None])
    result = score_retrieval(query, gallery, "clip")
    for k in (1, 5, 10, 20):
        assert result[f"top{k}"] == pytest.approx(100 * hits[:, :k].any(1).double().mean().item())


def _fake_set(labels, names, feats) -> FeatureSet:
    feats = torch.as_tensor(feats, dtype=torch.float32)
    return FeatureSet(features=feats, labels=torch.tensor(labels),
                      paths=[f"v{i}.mp4" for i in range(len(labels))],
                      video_ids=torch.arange(len(labels)), class_names=list(names),
                      num_frames=[16] * len(labels), root=Path("."), meta={})


def test_cross_dataset_counts_only_queries_of_shared_classes():
    # Query classes a, b, c; gallery classes b, c, d with other label indices. Each query
    # clip lies on its class's axis, so a shared-class query is always right.
    axis = {"a": 0, "b": 1, "c": 2, "d": 3}

    def clips(cls, n=2):
        f = torch.zeros(n, 4)
        f[:, axis[cls]] = 1.0
        return (f + 0.01 * torch.arange(n)[:, None]).tolist()

    q_names, g_names = ["a", "b", "c"], ["d", "c", "b"]
    query = _fake_set([0, 0, 0, 1, 2], q_names,
                      [clips("a"), clips("a"), clips("a"), clips("b"), clips("c")])
    gallery = _fake_set([0, 1, 2, 2], g_names, [clips("d"), clips("c"), clips("b"), clips("b")])
    video = score_retrieval(query, gallery, "video", ks=(1, 2))
    assert video["num_queries_total"] == 5
    assert video["num_queries"] == 2  # the b and c videos; the three a videos cannot count
    assert video["num_queries_without_class_in_gallery"] == 3
    assert video["classes_missing_from_gallery"] == ["a"]
    assert video["top1"] == 100.0  # matched by name: index 1 is "b" in one set, "c" in the other
    assert video["shared_classes"] == ["b", "c"]
    # Only shared classes take part: the gallery's d video is not searched.
    assert video["num_gallery"] == 3 and video["num_gallery_total"] == 4
    assert video["num_gallery_without_class_in_queries"] == 1
    assert video["gallery_classes_left_out"] == ["d"]
    clip = score_retrieval(query, gallery, "clip", ks=(1,))
    assert clip["num_queries"] == 4 and clip["num_queries_total"] == 10
    assert clip["num_gallery"] == 6 and clip["num_gallery_total"] == 8


def test_cross_dataset_labels_compared_through_the_class_map():
    # UCF101-style queries against an HMDB51-style gallery: no name is shared exactly, Fencing
    # matches ignoring case, Biking only through the shipped class map. Each video lies on its
    # action's axis, so every scored query is right at top-1, and only if the labels are
    # compared through the match (the gallery's label indices are in another order).
    def video(axis, n=4):
        f = torch.zeros(1, n)
        f[0, axis] = 1.0
        return f.tolist()

    query = _fake_set([0, 1, 1, 2], ["ApplyEyeMakeup", "Biking", "Fencing"],
                      [video(0), video(1), video(1), video(2)])
    gallery = _fake_set([0, 1, 2, 2], ["fencing", "ride_bike", "wave"],
                        [video(2), video(1), video(3), video(0)])
    result = score_retrieval(query, gallery, "video", ks=(1,))
    assert result["shared_classes"] == ["Biking = ride_bike", "Fencing = fencing"]
    assert [(m["a"], m["b"], m["how"]) for m in result["class_matches"]] == [
        ("Biking", "ride_bike", "mapped"),
        ("Fencing", "fencing", "same name ignoring case and separators")]
    assert result["top1"] == 100.0
    assert result["num_queries"] == 3 and result["classes_missing_from_gallery"] == [
        "ApplyEyeMakeup"]
    # wave (on the eye make-up axis too) has no partner: left out of the gallery, not a hit.
    assert result["num_gallery"] == 2 and result["gallery_classes_left_out"] == ["wave"]
    # Without the map Biking has no partner and only the Fencing query is scored.
    by_name = score_retrieval(query, gallery, "video", ks=(1,), class_map=[])
    assert by_name["shared_classes"] == ["Fencing = fencing"] and by_name["num_queries"] == 1


def test_cross_dataset_without_a_shared_class_is_one_error(tiny, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    records = [r for r in load_manifest(tiny["main"]) if r.label in ("fall", "slide_left")]
    write_manifest(records, other / "manifest.csv", classes=class_names(load_manifest(
        tiny["main"])))
    with pytest.raises(SettingsError) as err:  # raised before any feature is extracted
        cross_dataset(tiny["second"], other, "random", ARCH, "smoke", level="video",
                      num_workers=0, progress=False)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and "have none in common" in text
    assert str(tiny["second"] / "manifest.csv") in text and str(other / "manifest.csv") in text


def test_cross_dataset_end_to_end(tiny, ckpt, cache):
    result = cross_dataset(tiny["second"], tiny["main"], ckpt, ARCH, "smoke", level="video",
                           cache_dir=cache, num_workers=0, progress=False)
    assert result["shared_classes"] == ["grow", "rise"]
    second = load_manifest(tiny["second"])
    tests = [r for r in second if r.split == "test"]
    assert result["num_queries_total"] == len(tests)
    assert result["num_queries"] == sum(r.label in ("grow", "rise") for r in tests)
    assert result["classes_missing_from_gallery"] == ["bounce", "zigzag"]
    main = [r for r in load_manifest(tiny["main"]) if r.split in ("train", "val")]
    assert result["num_gallery_total"] == len(main)
    assert result["num_gallery"] == sum(r.label in ("grow", "rise") for r in main)
    assert result["gallery_classes_left_out"] == ["fall", "slide_left"]
    assert result["settings"]["cross_dataset"] is True
    assert result["settings"]["class_map"] == "ucf101_hmdb51_classes.csv"
    assert result["title"].startswith("cross-dataset video level")


def test_layerwise_table(tiny, ckpt, cache):
    layers = ("conv1", "conv3", "conv5")
    table = layerwise_table(tiny["main"], {"random": "random", "pretrained": ckpt}, ARCH,
                            "smoke", layers=layers, level="video", cache_dir=cache,
                            num_workers=0, progress=False)
    assert table["level"] == "video level"
    assert set(table["table"]) == {"random", "pretrained"}
    layout = feature_layout(ARCH, "smoke")
    assert table["feature_dims"] == {lay: layout[lay]["dim"] for lay in layers}
    for name, row in table["table"].items():
        assert list(row) == list(layers)
        assert all(set(cell) == {f"top{k}" for k in TOPK} for cell in row.values())
        best = table["best_layer"][name]
        assert best["top1"] == max(cell["top1"] for cell in row.values())
        assert row[best["layer"]]["top1"] == best["top1"]


def test_retrieval_examples(main_sets, tiny):
    query, gallery = main_sets
    examples = retrieval_examples(query, gallery, n_queries=3, k=2, seed=1, level="clip")
    assert len(examples) == 3
    for ex in examples:
        assert ex["query_thumb"].shape == (SMOKE.crop, SMOKE.crop, 3)
        assert ex["query_thumb"].dtype.name == "uint8"
        assert ex["query_label"] in MAIN_CLASSES
        assert len(ex["neighbours"]) == 2
        for path, label, thumb, correct in ex["neighbours"]:
            assert path in gallery.paths and thumb.shape == (SMOKE.crop, SMOKE.crop, 3)
            assert correct == (label == ex["query_label"])
    assert retrieval_examples(query, gallery, n_queries=3, k=2, seed=1,
                              level="clip")[0]["query_path"] == examples[0]["query_path"]
    viz = pytest.importorskip("vcop_lab.viz")
    fig = viz.retrieval_grid(*grid_inputs(examples))
    assert len(fig.axes) >= 3 * 3
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_cli_writes_json(tiny, ckpt, cache, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli.main(["retrieve", "--data", str(tiny["main"]), "--checkpoint", str(ckpt),
                   "--profile", "smoke", "--level", "video", "--cache", str(cache),
                   "--out", str(out)])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "video level" in lines[0]
    result = json.loads(out.read_text())
    n_test, n_train = _counts(tiny["main"])
    assert result["level"] == "video level"
    assert result["num_queries"] == n_test and result["num_gallery"] == n_train
    assert all(0 <= result[f"top{k}"] <= 100 for k in TOPK)
    s = result["settings"]
    assert (s["arch"], s["width"], s["layer"], s["profile"]) == (ARCH, SMOKE.width, "conv5",
                                                                 "smoke")
    assert s["feature_dim"] == feature_layout(ARCH, "smoke")["conv5"]["dim"]
    assert s["pooling_grid"] == [2, 3, 3] and s["effective_pooling_grid"] is not None
    assert s["checkpoint"] == str(ckpt) and len(s["checkpoint_hash"]) == 16
    assert s["gallery_data"] == s["query_data"] == str(tiny["main"])
    assert result["minutes"] >= 0

    rc = cli.main(["retrieve", "--data", str(tiny["main"]), "--checkpoint", "random",
                   "--seed", "3", "--profile", "smoke", "--cache", str(cache),
                   "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["level"] == "clip level"
    assert result["settings"]["checkpoint"] == "random"
    assert result["settings"]["random_init_seed"] == 3


def test_cli_wrong_arch_exits_2(tiny, ckpt, cache, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli.main(["retrieve", "--data", str(tiny["main"]), "--checkpoint", str(ckpt),
                   "--arch", "c3d", "--profile", "smoke", "--cache", str(cache),
                   "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(ckpt) in err[0] and "c3d" in err[0]
    assert not out.exists()
