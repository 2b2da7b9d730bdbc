"""Figures and the permutation explorer, on tiny inputs and a few short MP4s written here."""

from __future__ import annotations

import math
from pathlib import Path

import av
import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vcop_lab import viz, widgets
from vcop_lab.data import sampling
from vcop_lab.data.manifest import VideoRecord, load_manifest, write_manifest

matplotlib.use("Agg")  # headless; the figures are built without pyplot anyway

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
H, W = 64, 86
CROP = 56
SQUARE = 8


def _square_x(t: int) -> int:
    """Left edge of the moving square in frame t: one pixel per frame, inside the crop."""
    return (W - CROP) // 2 + t


def _write_video(path, num_frames: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "10"}
        for t in range(num_frames):
            img = np.full((H, W, 3), 30, np.uint8)
            x = _square_x(t)
            img[H // 2 - SQUARE // 2:H // 2 + SQUARE // 2, x:x + SQUARE] = 230
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three videos (40, 36 and 10 frames) and their manifest."""
    root = tmp_path_factory.mktemp("viz_data")
    (root / "videos").mkdir()
    specs = [("run", 0, 40), ("jump", 1, 36), ("run", 0, 10)]
    records = []
    for i, (label, index, n) in enumerate(specs):
        rel = f"videos/{label}_{i}.mp4"
        _write_video(root / rel, n)
        records.append(VideoRecord(rel, label, index, "test", n, 25.0, W, H))
    write_manifest(records, root / "manifest.csv")
    return load_manifest(root), root


def _clip(t: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, t, 20, 24, generator=torch.Generator().manual_seed(seed))


def _image_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images]


def _saved(fig: Figure, path) -> None:
    out = viz.save(fig, path)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


# ---------------------------------------------------------------------------- viz

def test_clip_frames_layouts():
    float_clip = _clip(5)
    uint8_clip = (float_clip.permute(1, 2, 3, 0) * 255).round().to(torch.uint8)
    a, b = viz.clip_frames(float_clip), viz.clip_frames(uint8_clip)
    assert a.shape == b.shape == (5, 20, 24, 3)
    assert np.abs(a - b).max() <= 1 / 255 + 1e-6
    assert viz.thumbnail(float_clip).shape == (20, 24, 3)
    np.testing.assert_allclose(viz.thumbnail(float_clip), a[2])
    assert viz.thumbnail(np.zeros((3, 10, 12))).shape == (10, 12, 3)
    with pytest.raises(ValueError):
        viz.clip_frames(torch.zeros(2, 5, 8, 8))


def test_clip_strip(tmp_path):
    clips = [_clip(8, s) for s in range(3)]
    fig = viz.clip_strip(clips, titles=["a", "b", "c"], frames_per_clip=4, title="strip")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12 and len(_image_axes(fig)) == 12
    assert [fig.axes[4 * r].get_ylabel() for r in range(3)] == ["a", "b", "c"]
    # The last frame of each clip is shown in the last column.
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), viz.clip_frames(clips[0])[7])
    _saved(fig, tmp_path / "strip.png")


def test_shuffle_figure(tmp_path):
    clips = [torch.full((3, 4, 10, 10), v) for v in (0.1, 0.5, 0.9)]
    order = (2, 0, 1)
    fig = viz.shuffle_figure(clips, order, "run", "run_0.mp4")
    assert len(_image_axes(fig)) == 6
    label = list(sampling.permutations_for(3)).index(order)
    assert f"class {label} of 6" in fig._suptitle.get_text()
    # Bottom row position p shows clip order[p] (each montage has one constant value).
    for p in range(3):
        shown = fig.axes[3 + p].images[0].get_array()
        assert float(shown[0, 0, 0]) == pytest.approx(float(clips[order[p]][0, 0, 0, 0]))
    with pytest.raises(ValueError):
        viz.shuffle_figure(clips, (0, 0, 1), "run", "x")
    _saved(fig, tmp_path / "shuffle.png")


def test_training_curves(tmp_path):
    def history(rate):
        return [{"epoch": e, "train_loss": 2 - rate * e, "train_acc": 0.1 + rate * e,
                 "val_loss": 2.1 - rate * e, "val_acc": 0.1 + rate * e / 2} for e in range(6)]

    fig = viz.training_curves({"curriculum tl=4": history(0.1), "scratch tl=4": history(0.01)},
                              chance=1 / 24)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 4 and len(acc_ax.lines) == 5
    chance = [line for line in acc_ax.lines if line.get_label() == "chance"]
    assert len(chance) == 1 and chance[0].get_linestyle() == "--"
    assert chance[0].get_ydata()[0] == pytest.approx(1 / 24)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "chance" in legend and "scratch tl=4 (val)" in legend
    _saved(fig, tmp_path / "curves.png")


def test_per_class_bar_ranks(tmp_path):
    acc = {"a": 0.2, "b": 0.9, "c": 0.5, "d": 0.05}
    fig = viz.per_class_bar(acc, chance=1 / 6, title="order accuracy")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == sorted(acc.values(), reverse=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "c", "a", "d"]
    assert any(line.get_label() == "chance" for line in ax.lines)
    _saved(fig, tmp_path / "per_class.png")


@pytest.mark.parametrize("tl", [3, 5])
def test_permutation_confusion(tmp_path, tl):
    perms = sampling.permutations_for(tl)
    k = len(perms)
    m = np.random.default_rng(0).integers(0, 5, (k, k)) + np.eye(k, dtype=int) * 10
    fig = viz.permutation_confusion(m, perms)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    if k <= 24:
        assert labels == ["".join(str(i + 1) for i in p) for p in perms]
    else:
        assert labels == []
    # Rows are normalised: the heatmap shows fractions.
    values = np.asarray(ax.collections[0].get_array()).reshape(k, k)
    np.testing.assert_allclose(values.sum(axis=1), 1.0)
    _saved(fig, tmp_path / f"perm_confusion_{tl}.png")


def test_grouped_bars_and_topk_and_freeze(tmp_path):
    table = {"conv1": {"random": 0.1, "pretrained": 0.2}, "conv2": {"random": 0.12},
             "conv3": {"random": 0.11, "pretrained": 0.25}}
    fig = viz.grouped_bars(table, "top-1", "layer-wise retrieval", chance=0.05)
    ax = fig.axes[0]
    assert len(ax.patches) == 5  # the missing cell leaves a gap
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"random", "pretrained", "chance"}
    _saved(fig, tmp_path / "grouped.png")
    counts = {3: 9, 0: 12, 1: 10}  # one row: plain bars, columns on the x axis in given order
    fig = viz.grouped_bars({"drawn": counts}, "tuples", "order labels drawn")
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [9, 12, 10]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "0", "1"]
    assert ax.get_xlabel() == "drawn" and ax.get_legend() is None

    fig = viz.topk_table_plot({"random": {1: 0.1, 5: 0.2, 10: 0.3},
                               "vcop": {1: 0.15, 5: 0.3, 10: 0.4, 20: 0.5}})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and list(ax.lines[1].get_xdata()) == [1, 5, 10, 20]
    assert ax.get_xscale() == "log"
    _saved(fig, tmp_path / "topk.png")

    fig = viz.freeze_sweep({"none": 0.6, "conv1": 0.65, "conv2": 0.62}, baseline=0.55)
    ax = fig.axes[0]
    assert list(ax.lines[0].get_ydata()) == [0.6, 0.65, 0.62]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "conv1", "conv2"]
    assert len(ax.lines) == 2 and len(ax.texts) == 3
    _saved(fig, tmp_path / "freeze.png")


def test_retrieval_grid_marks_correct_neighbours(tmp_path):
    queries = [_clip(4, s) for s in range(2)]
    neighbours = [[_clip(4, 10 + 3 * r + c) for c in range(3)] for r in range(2)]
    labels = ["run", "jump"]
    neighbour_labels = [["run", "jump", "run"], ["swim", "jump", "jump"]]
    fig = viz.retrieval_grid(queries, neighbours, labels, neighbour_labels)
    assert len(fig.axes) == 8 and len(_image_axes(fig)) == 8
    colors = {}
    for ax in fig.axes:
        title = ax.get_title()
        if not title.startswith("query"):
            colors[title] = matplotlib.colors.to_hex(ax.spines["left"].get_edgecolor())
    green, red = viz.CORRECT, viz.WRONG
    assert sorted(colors.values()) == sorted([green, red, green, red, green, green])
    assert colors["top 2\njump"] == red and colors["1: swim"] == red
    _saved(fig, tmp_path / "retrieval.png")


def test_confusion_matrix(tmp_path):
    m = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig = viz.confusion_matrix(m, ["a", "b", "c"])
    ax = fig.axes[0]
    values = np.asarray(ax.collections[0].get_array()).reshape(3, 3)
    np.testing.assert_allclose(values[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(values[2], 0.0)  # an empty row stays zero, not NaN
    assert "70.0%" in ax.get_title()  # 7 of 10 on the diagonal
    raw = viz.confusion_matrix(m, ["a", "b", "c"], normalize=False)
    assert np.asarray(raw.axes[0].collections[0].get_array()).max() == 5
    _saved(fig, tmp_path / "confusion.png")


def test_attention_plot(tmp_path):
    thumbs = [_clip(2, s) for s in range(5)]
    weights = torch.tensor([0.1, 0.5, 0.2, 0.1, 0.1])
    fig = viz.attention_plot(thumbs, weights, "what is the person doing?", "running", "jumping")
    assert len(_image_axes(fig)) == 5 and len(fig.axes) == 6
    bars = fig.axes[-1].patches
    assert [round(p.get_height(), 3) for p in bars] == [0.1, 0.5, 0.2, 0.1, 0.1]
    assert bars[1].get_facecolor() != bars[0].get_facecolor()  # the strongest clip stands out
    with pytest.raises(ValueError):
        viz.attention_plot(thumbs, weights[:3], "q", "a", "b")
    _saved(fig, tmp_path / "attention.png")


# ---------------------------------------------------------------------------- explorer

def _centroid_x(clip: torch.Tensor) -> float:
    """Horizontal centre of the bright square in the first frame of a (3, T, H, W) clip."""
    bright = clip[:, 0].mean(0) > 0.5
    return float(bright.nonzero()[:, 1].float().mean())


def test_explorer_state_decodes_the_centred_tuple(data):
    records, root = data
    cl, it, tl, perm_index = 4, 2, 3, 3
    state = widgets.permutation_explorer_state(records, root, 0, cl, it, tl, perm_index)
    assert state["valid"], state["message"]
    span = cl * tl + it * (tl - 1)
    start = (40 - span) // 2
    assert state["span"] == span and state["start"] == start
    assert state["frame_indices"][1][0] == start + cl + it
    assert state["order"] == sampling.permutations_for(3)[perm_index] == (1, 2, 0)
    assert state["label"] == perm_index and state["class_name"] == "run"
    assert all(c.shape == (3, cl, CROP, CROP) for c in state["ordered"])
    # Frames are the tuple's: the square's position tells the frame index (1 px per frame).
    offset = (W - CROP) // 2
    for c, clip in enumerate(state["ordered"]):
        expected = _square_x(state["frame_indices"][c][0]) - offset + (SQUARE - 1) / 2
        assert _centroid_x(clip) == pytest.approx(expected, abs=1.0)
    # Shuffled position p holds ordered clip order[p].
    for p, j in enumerate(state["order"]):
        assert torch.equal(state["shuffled"][p], state["ordered"][j])
    assert [_centroid_x(c) for c in state["shuffled"]] != [_centroid_x(c)
                                                           for c in state["ordered"]]
    fig = widgets.render_permutation(state)
    assert len(_image_axes(fig)) == 6
    assert "class 3 of 6" in fig._suptitle.get_text()


def test_explorer_state_too_short_or_impossible(data):
    records, root = data
    state = widgets.permutation_explorer_state(records, root, 2, 16, 8, 3, 0)
    assert not state["valid"] and state["ordered"] == [] and state["shuffled"] == []
    assert "10 frames" in state["message"] and "64" in state["message"]
    fig = widgets.render_permutation(state)
    assert not _image_axes(fig) and state["message"] in fig.axes[0].texts[0].get_text()
    bad_perm = widgets.permutation_explorer_state(records, root, 0, 4, 2, 3, 6)
    assert not bad_perm["valid"] and "0 to 5" in bad_perm["message"]
    bad_tl = widgets.permutation_explorer_state(records, root, 0, 4, 2, 6, 0)
    assert not bad_tl["valid"] and "tuple length" in bad_tl["message"]


def test_show_permutation_figure_default_fits(data, tmp_path):
    records, root = data
    assert widgets.default_choices(records[2]) == {"cl": 2, "it": 1, "tl": 3, "perm_index": 3}
    fig = widgets.show_permutation_figure(records, root, video=2)
    assert len(_image_axes(fig)) == 6
    _saved(fig, tmp_path / "explorer.png")


def test_explorer_widget_headless(data):
    pytest.importorskip("ipywidgets")
    records, root = data
    box = widgets.permutation_explorer(records, root)
    c = box.controls
    assert box.last["state"]["valid"] and box.last["renders"] == 1
    assert c["perm_index"].max == 5 and len(c["video"].options) == 3

    c["cl"].value, c["it"].value = 4, 1
    c["tl"].value = 5
    assert c["perm_index"].max == math.factorial(5) - 1
    renders = box.last["renders"]
    c["perm_index"].value = 100
    assert box.last["renders"] == renders + 1
    assert box.last["state"]["order"] == sampling.permutations_for(5)[100]
    assert box.last["figure"] is not None

    renders = box.last["renders"]
    c["tl"].value = 2  # lowers the max, clamps the value, renders once
    assert c["perm_index"].max == 1 and c["perm_index"].value == 1
    assert box.last["renders"] == renders + 1
    assert box.last["state"]["order"] == (1, 0) and len(box.last["state"]["shuffled"]) == 2

    c["video"].value = 2
    c["cl"].value = 16  # too long for a 10-frame video: a message, no figure, no error
    assert not box.last["state"]["valid"] and box.last["figure"] is None
    assert "10 frames" in box.last["state"]["message"]


def test_explorer_on_real_videos():
    """A UCF101 AVI at the paper's 16-8-3, and an HMDB51 clip of 48 frames that is too short."""
    if not REALDATA.is_dir():
        pytest.skip(f"real test videos not found at {REALDATA}")
    soccer = VideoRecord("videos/ucf101/v_SoccerJuggling_g23_c01.avi", "SoccerJuggling", 0,
                         "test", 240, 29.97, 320, 240)
    truman = VideoRecord("videos/hmdb51/TrumanShow_wave_f_nm_np1_fr_med_26.avi", "wave", 1,
                         "test", 48, 30.0, 320, 240)
    records = [soccer, truman]
    state = widgets.permutation_explorer_state(records, REALDATA, 0, 16, 8, 3, 5)
    assert state["valid"], state["message"]
    assert state["start"] == (240 - 64) // 2 and state["order"] == (2, 1, 0)
    assert [c.shape for c in state["ordered"]] == [(3, 16, CROP, CROP)] * 3
    assert torch.equal(state["shuffled"][0], state["ordered"][2])
    # Real motion: the clips of a tuple differ from one another.
    assert not torch.equal(state["ordered"][0], state["ordered"][1])
    short = widgets.permutation_explorer_state(records, REALDATA, 1, 16, 8, 3, 0)
    assert not short["valid"] and "48 frames" in short["message"]
    assert widgets.default_choices(truman) == {"cl": 8, "it": 4, "tl": 3, "perm_index": 3}
