"""The map of the feature space (notebook 04): its numbers mean what they say, on features
whose structure is known, and the embedding is seeded."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vcop_lab import viz
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate import feature_map as fm
from vcop_lab.evaluate.feature_map import (
    embed,
    feature_map,
    feature_maps,
    knn_agreement,
    knn_chance,
    look_attributes,
    pick_look,
)
from vcop_lab.evaluate.features import FeatureSet


def _set(feats, labels, root=Path("."), clips=2) -> FeatureSet:
    # Every video's clips are noisy copies of its video-level feature, so their mean is it.
    feats = np.asarray(feats, dtype=np.float32)
    rng = np.random.default_rng(1)
    clip_feats = feats[:, None, :] + 0.01 * rng.normal(size=(len(feats), clips, feats.shape[1]))
    n_classes = int(max(labels)) + 1
    return FeatureSet(features=torch.tensor(clip_feats, dtype=torch.float32),
                      labels=torch.tensor(labels), paths=[f"v{i}.mp4" for i in range(len(labels))],
                      video_ids=torch.arange(len(labels)),
                      class_names=[f"class{i}" for i in range(n_classes)],
                      num_frames=[16] * len(labels), root=root, meta={"layer": "conv3"})


def _clusters(labels, dim=64, spread=0.05, seed=0):
    """Each label's points around its own random direction."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(labels) + 1, dim))
    return centres[labels] + spread * rng.normal(size=(len(labels), dim))


LABELS = np.repeat(np.arange(4), 15)  # 60 videos, 4 classes


def test_separate_class_clusters_give_silhouette_near_one_and_full_agreement():
    entry, params = feature_map(_set(_clusters(LABELS), LABELS.tolist()), look=None)
    assert entry["silhouette_feature"] > 0.9
    assert entry["knn_class_agreement"] == 1.0
    assert entry["knn_class_agreement_map"] == 1.0
    assert entry["silhouette_map"] > 0.5
    assert entry["knn_chance"] == pytest.approx(4 * 15 * 14 / (60 * 59))
    assert 0.9 < entry["trustworthiness"] <= 1.0
    assert params["method"] == "tsne" and params["k"] == 5 and params["videos"] == 60
    assert entry["markers"] is None and entry["knn_look_agreement"] is None


def test_random_features_agree_with_their_class_about_as_often_as_chance():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(5), 40)
    entry, _ = feature_map(_set(rng.normal(size=(200, 64)), labels.tolist()), look=None)
    assert abs(entry["knn_class_agreement"] - entry["knn_chance"]) < 0.08
    assert abs(entry["silhouette_feature"]) < 0.05
    assert 0.0 <= entry["trustworthiness"] <= 1.0


def test_features_grouped_by_look_not_class_show_it():
    # Four looks, each with every class: the features cluster by look only.
    looks = np.tile(np.arange(4), 15)
    classes = np.repeat(np.arange(4), 15)
    fs = _set(_clusters(looks), classes.tolist())
    shape = [["circle", "square", "cross", "bar"][v] for v in looks]
    entry, params = feature_map(fs, looks={"style": ["main"] * 60, "shape": shape})
    assert params["look"] == "shape"  # the style does not vary: the next attribute marks
    assert entry["markers"] == shape
    assert entry["knn_look_agreement"] == 1.0
    assert entry["knn_class_agreement"] < entry["knn_chance"] + 0.1
    assert entry["silhouette_look_feature"] > 0.9
    assert set(entry["knn_look_agreement_by"]) == {"shape"}
    assert entry["knn_look_chance"] == pytest.approx(entry["knn_chance"])


def test_embedding_is_seeded_and_two_dimensional():
    x = _clusters(LABELS, dim=120)  # above 50 dims: PCA first
    a, params = embed(x, seed=7)
    b, _ = embed(x, seed=7)
    assert a.shape == (60, 2)
    np.testing.assert_array_equal(a, b)
    assert params["pca_dims"] == 50 and params["perplexity"] == pytest.approx(59 / 3)
    pca, _ = embed(x, "pca")
    assert pca.shape == (60, 2)
    with pytest.raises(SettingsError):
        embed(x, "umap")


def test_six_videos_do_not_crash():
    labels = [0, 0, 1, 1, 2, 2]
    entry, params = feature_map(_set(_clusters(labels, dim=8), labels), look=None)
    assert np.asarray(entry["points"]).shape == (6, 2)
    assert params["perplexity"] < 6 / 3
    assert 0.0 <= entry["trustworthiness"] <= 1.0
    assert entry["knn_chance"] == pytest.approx(3 * 2 / 30)


def test_knn_agreement_and_chance_by_hand():
    x = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert knn_agreement(x, ["a", "a", "b", "b"], k=1, metric="euclidean") == 1.0
    assert knn_agreement(x, ["a", "b", "a", "b"], k=1, metric="euclidean") == 0.0
    assert knn_chance(["a", "a", "b", "b"]) == pytest.approx(1 / 3)
    assert knn_chance(["a"]) is None


def test_looks_come_from_the_synthetic_ground_truth(tmp_path):
    labels = [0, 0, 1, 1]
    lines = [{"path": f"v{i}.mp4", "style": "main", "background": {"colour": bg},
              "objects": [{"role": "distractor", "shape": "ring", "colour": "black"},
                          {"role": "actor", "shape": sh, "colour": "red"}]}
             for i, (sh, bg) in enumerate([("circle", "navy"), ("bar", "navy"),
                                           ("circle", "black"), ("bar", "black")])]
    (tmp_path / "ground_truth.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    fs = _set(_clusters(labels, dim=8), labels, root=tmp_path)
    looks = look_attributes(fs)
    assert looks["shape"] == ["circle", "bar", "circle", "bar"]
    assert looks["background"] == ["navy", "navy", "black", "black"]
    assert pick_look(looks) == "background"  # the style does not vary
    assert pick_look({"style": ["main"] * 4, "shape": looks["shape"]}) == "shape"
    assert look_attributes(_set(_clusters(labels, dim=8), labels)) is None  # no ground truth


def test_maps_of_two_inits_share_the_look_and_make_a_figure(monkeypatch):
    looks = np.tile(np.arange(3), 20)
    shape = [["circle", "square", "cross"][v] for v in looks]
    sets = {"random": _set(_clusters(looks), LABELS.tolist()),
            "pretrained": _set(_clusters(LABELS), LABELS.tolist())}
    monkeypatch.setattr(fm, "look_attributes", lambda fs: {"shape": shape})
    out = feature_maps(sets)
    assert out["look"] == "shape" and set(out["maps"]) == {"random", "pretrained"}
    assert out["maps"]["pretrained"]["knn_class_agreement"] == 1.0
    assert out["maps"]["random"]["knn_look_agreement"] == 1.0
    json.dumps(out)  # ready for results.json
    fig = viz.feature_map_plot(out["maps"], look=out["look"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "k-NN shape" in fig.axes[0].get_title()


def test_two_videos_get_a_linear_map_not_an_error():
    from vcop_lab.evaluate.feature_map import embed

    points, params = embed(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "tsne", seed=0)
    assert points.shape == (2, 2) and params["method"] == "pca" and "too few" in params["note"]
