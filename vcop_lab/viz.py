"""Figures for the notebooks: clip strips, training curves, accuracies, retrieval, attention.

Every function takes plain data (lists, dicts, arrays, tensors), never a model, and returns
a :class:`matplotlib.figure.Figure`; none calls ``plt.show``. Each figure is made by pyplot
(which loads the notebook's display backend) and released from pyplot at once, so a notebook
shows it exactly once, as the value of its cell, and it is freed when nothing refers to it.
One look for all of them is set by :func:`set_style`, which every function applies the first
time it is called.

Images and clips may come in any of the layouts the package produces: a float clip
``(3, T, H, W)`` in [0, 1] (what the networks take), a uint8 clip ``(T, H, W, 3)`` (what
the video readers and the datasets return), or a single image ``(H, W, 3)`` / ``(3, H, W)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from vcop_lab.data.sampling import permutations_for

PALETTE = "colorblind"
MARKERS = ("o", "s", "^", "X", "D", "v", "P", "*", "h", "<", ">", "p")
CORRECT, WRONG, CHANCE = "#2ca02c", "#d62728", "0.35"
_styled = False


def set_style() -> None:
    """Apply the package's look: seaborn "whitegrid" in the "notebook" context, a fixed
    colour-blind-safe palette."""
    global _styled
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100,
                                "axes.titlesize": "medium", "figure.titlesize": "large"})
    _styled = True


def _ensure_style() -> None:
    # Applied once, lazily, so that importing the module changes no global state.
    if not _styled:
        set_style()


def _colors(n: int) -> list:
    return sns.color_palette(PALETTE, max(n, 1))


def _distinct_colors(n: int) -> list:
    # The palette has 10 colours and repeats after them; more categories (14 synthetic
    # classes) need colours that stay distinct, so they are spread around the hue circle.
    return _colors(n) if n <= 10 else sns.color_palette("husl", n)


def _figure(width: float, height: float) -> Figure:
    import matplotlib.pyplot as plt

    _ensure_style()
    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)  # not shown again when the cell ends; the notebook displays the return value
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (100 dpi, tight bounding box); makes the folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------- images, clips

def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _to_unit(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return np.clip(x.astype(np.float32), 0.0, 1.0)


def clip_frames(clip: Any) -> np.ndarray:
    """A clip as float frames ``(T, H, W, 3)`` in [0, 1].

    Accepts float ``(3, T, H, W)`` and uint8 ``(T, H, W, 3)``; when both the first and last
    axes have size 3, uint8 is read as ``(T, H, W, 3)`` and float as ``(3, T, H, W)``.
    """
    x = _as_array(clip)
    if x.ndim != 4:
        raise ValueError(f"a clip must have 4 dimensions, got shape {x.shape}")
    channels_first = x.shape[0] == 3 and (x.shape[-1] != 3 or x.dtype != np.uint8)
    if channels_first:
        x = x.transpose(1, 2, 3, 0)
    elif x.shape[-1] != 3:
        raise ValueError(f"a clip must be (3, T, H, W) or (T, H, W, 3), got shape {x.shape}")
    return _to_unit(x)


def thumbnail(image: Any) -> np.ndarray:
    """An image ``(H, W, 3)`` in [0, 1] from an image ``(H, W, 3)``/``(3, H, W)`` or a clip
    (its middle frame)."""
    x = _as_array(image)
    if x.ndim == 4:
        frames = clip_frames(x)
        return frames[len(frames) // 2]
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    elif x.ndim == 3 and x.shape[-1] != 3 and x.shape[0] == 3:
        x = x.transpose(1, 2, 0)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"an image must be (H, W, 3) or (3, H, W), got shape {x.shape}")
    return _to_unit(x)


def _pick(num: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(num)`` (first and last included)."""
    wanted = max(1, min(wanted, num))
    return np.linspace(0, num - 1, wanted).round().astype(int).tolist()


def _montage(clip: Any, frames: int, gap: int = 2) -> np.ndarray:
    """A few frames of a clip side by side in one image, separated by white gaps."""
    x = clip_frames(clip)
    picked = [x[i] for i in _pick(len(x), frames)]
    white = np.ones((x.shape[1], gap, 3), dtype=np.float32)
    parts: list[np.ndarray] = []
    for k, frame in enumerate(picked):
        parts += [white, frame] if k else [frame]
    return np.concatenate(parts, axis=1)


def _image_axis(ax, image: np.ndarray, title: str | None = None, color=None,
                width: float = 3.0) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize="small")
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(width)


def clip_strip(clips: Sequence[Any], titles: Sequence[str] | None = None,
               frames_per_clip: int = 4, title: str | None = None) -> Figure:
    """Clips as rows of ``frames_per_clip`` evenly spaced frames (first frame on the left).

    ``clips`` are float ``(3, T, H, W)`` in [0, 1] or uint8 ``(T, H, W, 3)``; ``titles``
    label the rows. One axes per shown frame.
    """
    if not clips:
        raise ValueError("clip_strip needs at least one clip")
    frames = [clip_frames(c) for c in clips]
    cols = max(len(_pick(len(f), frames_per_clip)) for f in frames)
    fig = _figure(1.6 * cols + 0.6, 1.5 * len(frames) + (0.4 if title else 0))
    axes = fig.subplots(len(frames), cols, squeeze=False)
    for r, clip in enumerate(frames):
        picked = _pick(len(clip), frames_per_clip)
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(picked):
                ax.set_axis_off()
                continue
            _image_axis(ax, clip[picked[c]], f"frame {picked[c]}" if r == 0 else None)
        if titles is not None and r < len(titles):
            axes[r, 0].set_ylabel(titles[r], fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def shuffle_figure(ordered_clips: Sequence[Any], order: Sequence[int], class_name: str,
                   video_name: str, frames_per_clip: int = 3) -> Figure:
    """A tuple in chronological order (top row) and shuffled by ``order`` (bottom row).

    Position ``p`` of the shuffled row shows clip ``order[p]``, as the datasets build it;
    each clip keeps its colour in both rows. The title names the permutation and its class
    index, its position among the tl! permutations in lexicographic order.
    """
    order = tuple(int(i) for i in order)
    tl = len(ordered_clips)
    if sorted(order) != list(range(tl)):
        raise ValueError(f"order {order} is not a permutation of {tl} clips")
    label = permutations_for(tl).index(order)
    colors = _colors(tl)
    montages = [_montage(c, frames_per_clip) for c in ordered_clips]
    panel = 2.6  # inches per clip; the height follows the montages' aspect (no empty band)
    aspect = montages[0].shape[0] / montages[0].shape[1]
    fig = _figure(panel * tl + 0.4, 2 * panel * aspect + 1.5)
    axes = fig.subplots(2, tl, squeeze=False)
    for p in range(tl):
        _image_axis(axes[0, p], montages[p], f"clip {p + 1}", colors[p])
        j = order[p]
        _image_axis(axes[1, p], montages[j], f"position {p + 1}: clip {j + 1}", colors[j])
    axes[0, 0].set_ylabel("ordered")
    axes[1, 0].set_ylabel("shuffled")
    shown = "(" + ", ".join(str(j + 1) for j in order) + ")"
    fig.suptitle(f"{class_name} - {video_name}\norder {shown} = class {label} "
                 f"of {math.factorial(tl)}")
    return fig


def _order_label(order: Sequence[int]) -> str:
    return "".join(str(int(i) + 1) for i in order)


def _probability_axes(ax, probs: Any, truth: int, pred: int, chance: bool = True) -> None:
    """Bars of a probability over the tl! orders on ``ax``: the true order in the correct
    colour, the model's choice (when it is wrong) in the wrong one, a dashed chance line."""
    p = _as_array(probs).astype(float).ravel()
    perms = permutations_for(int(round(_tl_of(len(p)))))
    base = _colors(1)[0]
    colors = [CORRECT if k == truth else WRONG if k == pred else base for k in range(len(p))]
    bars = ax.bar(range(len(p)), p, color=colors)
    bars[pred].set_edgecolor("black")
    bars[pred].set_linewidth(1.5)
    if len(p) <= 24:
        ax.set_xticks(range(len(p)), [_order_label(o) for o in perms], rotation=90,
                      fontsize="x-small")
    ax.set_xlim(-0.6, len(p) - 0.4)
    ax.grid(axis="x", visible=False)
    handles = [Patch(color=CORRECT, label=f"true order {_order_label(perms[truth])}")]
    if pred != truth:
        handles.append(Patch(color=WRONG, label=f"model's choice {_order_label(perms[pred])}"))
    else:
        handles[0].set_label(handles[0].get_label() + " = model's choice")
    if chance:
        handles.append(ax.axhline(1.0 / len(p), color=CHANCE, ls="--", lw=1.2,
                                  label="chance"))
    # outside the axes: a confident model's bar reaches the top
    ax.figure.legend(handles=handles, fontsize="small", loc="outside lower center", ncols=3)
    ax.set(ylabel="model's probability", xlabel="order (place in time of clip A, B, ...)",
           ylim=(0, 1))


def _tl_of(num_orders: int) -> int:
    for tl in range(2, 6):
        if math.factorial(tl) == num_orders:
            return tl
    raise ValueError(f"{num_orders} is not the number of orders of 2 to 5 clips")


def order_probability_bar(probs: Any, truth: int, pred: int | None = None,
                          title: str | None = None) -> Figure:
    """The order network's probability for each of the tl! orders of one shuffled tuple:
    the true order highlighted, the model's choice (``pred``, default the most probable)
    outlined and, when wrong, in the wrong colour; the dashed line is chance (1/tl!).
    Orders are named by the place in time of each shown clip (e.g. "231": clip A is 2nd)."""
    p = _as_array(probs).astype(float).ravel()
    pred = int(np.argmax(p)) if pred is None else int(pred)
    fig = _figure(max(5.0, 0.25 * len(p) + 2.0), 3.4)
    ax = fig.subplots()
    _probability_axes(ax, p, int(truth), pred)
    ax.set_title(title or f"the model's answer over all {len(p)} orders")
    return fig


def order_game_figure(shuffled_clips: Sequence[Any], probs: Any, truth: int,
                      class_name: str, video_name: str, frames_per_clip: int = 3,
                      reveal: bool = True) -> Figure:
    """A round of the order game: the shuffled clips as shown (A, B, C, ...) and, with
    ``reveal``, the model's probability over every order (:func:`order_probability_bar`'s
    bars) with the true order named in the title."""
    tl = len(shuffled_clips)
    montages = [_montage(c, frames_per_clip) for c in shuffled_clips]
    panel = 2.6
    aspect = montages[0].shape[0] / montages[0].shape[1]
    fig = _figure(panel * tl + 0.4, panel * aspect + (3.4 if reveal else 0.0) + 1.0)
    grid = fig.add_gridspec(2 if reveal else 1, tl,
                            height_ratios=[panel * aspect, 3.0] if reveal else None)
    for p in range(tl):
        _image_axis(fig.add_subplot(grid[0, p]), montages[p], f"clip {chr(65 + p)}")
    title = f"{class_name} - {video_name}: which clip comes first?"
    if reveal:
        p = _as_array(probs).astype(float).ravel()
        order = permutations_for(tl)[int(truth)]
        first = sorted(range(tl), key=lambda k: order[k])
        _probability_axes(fig.add_subplot(grid[1, :]), p, int(truth), int(np.argmax(p)))
        title += (f"\ntrue order {', '.join(chr(65 + k) for k in first)}; the model gives it "
                  f"{p[int(truth)]:.0%} (chance {1 / len(p):.0%})")
    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------- training

def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                    chance: float | None = None) -> Figure:
    """Loss and accuracy per epoch, one colour per run (the paper's Fig. 4).

    ``histories`` maps a run name (e.g. "curriculum tl=4") to its per-epoch records with keys
    ``epoch, train_loss, train_acc, val_loss, val_acc``. Validation is drawn solid with
    markers, training dotted; a missing or None value is skipped. ``chance`` adds a dashed
    line labelled "chance" to the accuracy panel. The legend sits below both panels.
    """
    fig = _figure(11, 4)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for color, (name, history) in zip(_colors(len(histories)), histories.items()):
        for ax, key in ((loss_ax, "loss"), (acc_ax, "acc")):
            for split, style in (("train", dict(ls=":", lw=1.5)),
                                 ("val", dict(ls="-", lw=2, marker="o", ms=3))):
                points = [(h["epoch"], h[f"{split}_{key}"]) for h in history
                          if h.get(f"{split}_{key}") is not None]
                if points:
                    x, y = zip(*points)
                    ax.plot(x, y, color=color, label=f"{name} ({split})", **style)
    if chance is not None:
        acc_ax.axhline(chance, color=CHANCE, ls="--", lw=1.2, label="chance")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    # One legend for both panels, below them, so that it never hides a curve.
    handles, labels = acc_ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize="small",
                   ncols=min(len(handles), 5))
    return fig


# ---------------------------------------------------------------------------- accuracies

def per_class_bar(per_class: Mapping[str, float], chance: float | None,
                  title: str = "order accuracy per class") -> Figure:
    """Classes ranked by accuracy, best first (the paper's Fig. 5), with a chance line."""
    ranked = sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))
    names = [str(k) for k, _ in ranked]
    fig = _figure(max(5.0, 0.22 * len(ranked) + 1.5), 4.2)
    ax = fig.subplots()
    ax.bar(range(len(ranked)), [v for _, v in ranked], color=_colors(1)[0])
    ax.set_xticks(range(len(ranked)), names, rotation=90, fontsize="x-small")
    ax.set_xlim(-0.6, len(ranked) - 0.4)
    ax.grid(axis="x", visible=False)
    if chance is not None:
        ax.axhline(chance, color=CHANCE, ls="--", lw=1.2, label="chance")
        ax.legend(fontsize="small")
    ax.set(ylabel="accuracy", title=title)
    return fig


def grouped_bars(table: Mapping[str, Mapping[str, float]], ylabel: str, title: str,
                 chance: float | None = None) -> Figure:
    """Bars grouped by row, one colour per column (e.g. frames vs clips per class, or random
    vs pretrained per layer). Missing cells leave a gap. A table of one row is drawn as plain
    bars, one per column, with the row's name on the x axis (e.g. counts per order label).
    The legend is left out beyond 12 columns."""
    rows = [str(r) for r in table]
    cells = [{str(c): v for c, v in values.items()} for values in table.values()]
    cols: list[str] = []
    for lookup in cells:
        cols += [c for c in lookup if c not in cols]
    ax: Any
    if len(rows) == 1:
        fig = _figure(max(5.0, 0.3 * len(cols) + 2), 4.2)
        ax = fig.subplots()
        present = [c for c in cols if cells[0][c] is not None]
        ax.bar(range(len(present)), [cells[0][c] for c in present], color=_colors(1)[0])
        ax.set_xticks(range(len(present)), present, rotation=90 if len(present) > 12 else 0,
                      fontsize="small")
        ax.set_xlabel(rows[0])
    else:
        fig = _figure(max(5.0, 0.35 * len(rows) * max(len(cols), 1) + 2), 4.2)
        ax = fig.subplots()
        width = 0.8 / max(len(cols), 1)
        for k, (col, color) in enumerate(zip(cols, _colors(len(cols)))):
            xs = [i - 0.4 + width * (k + 0.5) for i, lookup in enumerate(cells)
                  if lookup.get(col) is not None]
            ys = [lookup[col] for lookup in cells if lookup.get(col) is not None]
            ax.bar(xs, ys, width=width, color=color, label=col)
        ax.set_xticks(range(len(rows)), rows, rotation=45 if len(rows) > 6 else 0,
                      ha="right" if len(rows) > 6 else "center")
    ax.grid(axis="x", visible=False)
    if chance is not None:
        ax.axhline(chance, color=CHANCE, ls="--", lw=1.2, label="chance")
    ax.set(ylabel=ylabel, title=title)
    if ax.get_legend_handles_labels()[0] and (len(rows) == 1 or len(cols) <= 12):
        ax.legend(fontsize="small")
    return fig


def topk_table_plot(results: Mapping[str, Mapping[int, float]],
                    title: str = "retrieval accuracy at k") -> Figure:
    """Top-k accuracy against k (log axis), one line per method (retrieval)."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    ks: set[int] = set()
    for color, (name, by_k) in zip(_colors(len(results)), results.items()):
        pairs = sorted((int(k), v) for k, v in by_k.items())
        ks.update(k for k, _ in pairs)
        ax.plot([k for k, _ in pairs], [v for _, v in pairs], marker="o", color=color,
                label=name)
    ax.set_xscale("log")
    ax.set_xticks(sorted(ks), [str(k) for k in sorted(ks)])
    ax.minorticks_off()
    ax.set(xlabel="k", ylabel="top-k accuracy", title=title)
    ax.legend(fontsize="small")
    return fig


def freeze_sweep(results: Mapping[str, float], baseline: float | None = None,
                 baseline_label: str = "baseline",
                 title: str = "hierarchical fine-tuning") -> Figure:
    """Accuracy against the deepest frozen stage (the paper's Fig. 10), in the given order,
    each point labelled with its value; ``baseline`` is drawn dashed."""
    stages = [str(s) for s in results]
    values = list(results.values())
    fig = _figure(max(5.0, 0.9 * len(stages) + 1.5), 4)
    ax = fig.subplots()
    ax.plot(range(len(stages)), values, marker="o", lw=2, color=_colors(1)[0],
            label="fine-tuned")
    for i, v in enumerate(values):
        ax.annotate(f"{v:.3g}", (i, v), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize="small")
    if baseline is not None:
        ax.axhline(baseline, color=CHANCE, ls="--", lw=1.2, label=baseline_label)
    ax.set_xticks(range(len(stages)), stages)
    ax.set(xlabel="frozen up to", ylabel="accuracy", title=title)
    ax.margins(y=0.15)
    ax.legend(fontsize="small")
    return fig


def _heatmap(ax, matrix: np.ndarray, labels: Sequence[str] | None, cbar_label: str) -> None:
    show = labels is not None
    sns.heatmap(matrix, ax=ax, cmap="viridis", square=True, vmin=0,
                xticklabels=list(labels) if show else False,
                yticklabels=list(labels) if show else False,
                cbar_kws={"label": cbar_label, "shrink": 0.8})
    ax.set(xlabel="predicted", ylabel="true")
    if show:
        ax.tick_params(axis="x", labelrotation=90, labelsize="x-small")
        ax.tick_params(axis="y", labelrotation=0, labelsize="x-small")


def _normalized(matrix: Any, normalize: bool) -> np.ndarray:
    m = _as_array(matrix).astype(float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {m.shape}")
    if normalize:
        totals = m.sum(axis=1, keepdims=True)
        m = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    return m


def permutation_confusion(matrix: Any, perms: Sequence[Sequence[int]],
                          normalize: bool = True) -> Figure:
    """Confusion between permutations (rows true, columns predicted). Ticks name each order
    as 1-based clip numbers (e.g. "231") for up to 24 classes; 120 classes get none."""
    m = _normalized(matrix, normalize)
    if len(perms) != len(m):
        raise ValueError(f"{len(perms)} permutations for a {len(m)}x{len(m)} matrix")
    labels = ["".join(str(i + 1) for i in p) for p in perms] if len(perms) <= 24 else None
    fig = _figure(6.5, 5.5)
    ax = fig.subplots()
    _heatmap(ax, m, labels, "fraction of row" if normalize else "count")
    accuracy = np.trace(_as_array(matrix)) / max(float(np.sum(_as_array(matrix))), 1e-12)
    ax.set_title(f"order confusion ({len(m)} permutations, accuracy {accuracy:.1%})")
    return fig


def confusion_matrix(matrix: Any, class_names: Sequence[str], normalize: bool = True,
                     title: str | None = None) -> Figure:
    """Class confusion (rows true, columns predicted), row-normalised by default; class names
    on the ticks for up to 40 classes."""
    m = _normalized(matrix, normalize)
    if len(class_names) != len(m):
        raise ValueError(f"{len(class_names)} class names for a {len(m)}x{len(m)} matrix")
    labels = [str(c) for c in class_names] if len(class_names) <= 40 else None
    side = min(12.0, max(5.0, 0.3 * len(m) + 3))
    fig = _figure(side + 1, side)
    ax = fig.subplots()
    _heatmap(ax, m, labels, "fraction of row" if normalize else "count")
    accuracy = np.trace(_as_array(matrix)) / max(float(np.sum(_as_array(matrix))), 1e-12)
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.1%})")
    return fig


# ---------------------------------------------------------------------------- saliency

def saliency_overlay(clips: Sequence[Any], maps: Mapping[str, Sequence[Any]],
                     masks: Sequence[Any] | None = None, frames_per_clip: int = 2,
                     title: str | None = None) -> Figure:
    """Saliency heat maps over the frames they explain: a row per network (the keys of
    ``maps``, which label the rows), a column per shown frame, ``frames_per_clip`` evenly
    spaced frames of each clip, clip after clip.

    ``clips`` are the tuple's clips (float ``(3, T, H, W)`` or uint8 ``(T, H, W, 3)``);
    ``maps[name][c]`` is clip ``c``'s map ``(T, H, W)`` in [0, 1]; with ``masks`` (one
    ``(T, H, W)`` per clip) the object's outline is drawn on every frame.
    """
    if not clips or not maps:
        raise ValueError("saliency_overlay needs at least one clip and one network")
    frames = [clip_frames(c) for c in clips]
    picked = [_pick(len(f), frames_per_clip) for f in frames]
    columns = [(c, t) for c, ts in enumerate(picked) for t in ts]
    fig = _figure(1.5 * len(columns) + 1.2, 1.55 * len(maps) + (0.5 if title else 0.2))
    axes = fig.subplots(len(maps), len(columns), squeeze=False)
    shown = None
    for r, (name, per_clip) in enumerate(maps.items()):
        if len(per_clip) != len(frames):
            raise ValueError(f"{name}: {len(per_clip)} maps for {len(frames)} clips")
        for k, (c, t) in enumerate(columns):
            ax = axes[r, k]
            _image_axis(ax, frames[c][t], f"clip {c + 1}, frame {t + 1}" if r == 0 else None)
            heat = _as_array(per_clip[c])[t].astype(np.float32)
            shown = ax.imshow(heat, cmap="inferno", vmin=0.0, vmax=1.0, alpha=0.55,
                              interpolation="bilinear")
            if masks is not None:
                outline = _as_array(masks[c])[t].astype(np.float32)
                if outline.max() > 0:
                    ax.contour(outline, levels=[0.5], colors="cyan", linewidths=1.0)
        axes[r, 0].set_ylabel(name, fontsize="small")
    fig.colorbar(shown, ax=axes, shrink=0.8, label="saliency (Grad-CAM)")
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------- retrieval, QA

def retrieval_grid(query_thumbs: Sequence[Any], neighbour_thumbs: Sequence[Sequence[Any]],
                   query_labels: Sequence[Any], neighbour_labels: Sequence[Sequence[Any]],
                   ) -> Figure:
    """Queries (rows, left) and their nearest neighbours (columns, nearest first), each with
    its class; a neighbour of the query's class has a green frame, any other a red one (the
    paper's Figs. 8 and 9). Thumbnails are images or clips (their middle frame is shown)."""
    n = len(query_thumbs)
    if not (len(neighbour_thumbs) == len(query_labels) == len(neighbour_labels) == n):
        raise ValueError("retrieval_grid needs one neighbour list and one label per query")
    k = max((len(row) for row in neighbour_thumbs), default=0)
    fig = _figure(1.7 * (k + 1) + 0.5, 1.9 * n + 0.3)
    # A narrow empty column separates the query from its neighbours.
    grid = fig.add_gridspec(n, k + 2, width_ratios=[1, 0.15] + [1] * k)
    for r in range(n):
        ax = fig.add_subplot(grid[r, 0])
        _image_axis(ax, thumbnail(query_thumbs[r]), f"query: {query_labels[r]}", "0.2")
        for c in range(len(neighbour_thumbs[r])):
            label = neighbour_labels[r][c]
            color = CORRECT if label == query_labels[r] else WRONG
            ax = fig.add_subplot(grid[r, c + 2])
            head = f"{c + 1}: {label}" if r else f"top {c + 1}\n{label}"
            _image_axis(ax, thumbnail(neighbour_thumbs[r][c]), head, color, width=4)
    fig.legend(handles=[Patch(color=CORRECT, label="same class"),
                        Patch(color=WRONG, label="other class")],
                loc="outside lower center", ncols=2, fontsize="small")
    return fig


def _map_title(name: str, m: Mapping[str, Any], look: str | None) -> str:
    """A panel's title: the separation figures of :mod:`vcop_lab.evaluate.feature_map`."""
    def num(key: str, fmt: str = ".2f") -> str:
        v = m.get(key)
        return "n/a" if v is None else format(v, fmt)

    lines = [name, f"silhouette {num('silhouette_feature')} (features), "
                   f"{num('silhouette_map')} (map)",
             f"k-NN class {num('knn_class_agreement', '.0%')} "
             f"(chance {num('knn_chance', '.0%')}), trust {num('trustworthiness')}"]
    if look and m.get("knn_look_agreement") is not None:
        lines.append(f"k-NN {look} {num('knn_look_agreement', '.0%')} "
                     f"(chance {num('knn_look_chance', '.0%')})")
    return "\n".join(lines)


def feature_map_plot(maps: Mapping[str, Mapping[str, Any]], look: str | None = None,
                     title: str | None = None) -> Figure:
    """2-D maps of the feature space side by side (e.g. random against order-pretrained):
    one point per video, coloured by class and marked by its look (``look`` names the
    attribute), the separation figures in each panel's title.

    ``maps`` is ``{name: entry}`` with the entries of
    :func:`vcop_lab.evaluate.feature_map.feature_maps` (``points``, ``labels``, ``markers``
    and the figures), as results.json keeps them.
    """
    names = list(maps)
    classes = sorted({str(c) for m in maps.values() for c in m["labels"]})
    looks = sorted({str(v) for m in maps.values() for v in (m.get("markers") or [])})
    color = dict(zip(classes, _distinct_colors(len(classes))))
    marker = {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(looks)}
    fig = _figure(4.6 * max(len(names), 1) + 1.8, 5.2)
    axes = np.atleast_1d(fig.subplots(1, max(len(names), 1), squeeze=False)[0])
    for ax, name in zip(axes, names):
        m = maps[name]
        pts = np.asarray(m["points"], dtype=float).reshape(-1, 2)
        labels = [str(c) for c in m["labels"]]
        marks = [str(v) for v in m.get("markers") or []] or ["" for _ in labels]
        for cls in classes:
            for mk in sorted(set(marks)):
                rows = [i for i, (c, v) in enumerate(zip(labels, marks)) if c == cls and v == mk]
                if rows:
                    ax.scatter(pts[rows, 0], pts[rows, 1], s=28, color=color[cls],
                               marker=marker.get(mk, "o"), edgecolors="0.2", linewidths=0.4)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_map_title(name, m, look), fontsize="small")
    handles = [Line2D([], [], ls="", marker="o", color=color[c], label=c) for c in classes]
    fig.legend(handles=handles, loc="outside right upper", fontsize="x-small", title="class",
               ncols=1 if len(classes) <= 16 else 2)
    if looks:
        fig.legend(handles=[Line2D([], [], ls="", marker=marker[v], color="0.35", label=v)
                            for v in looks], loc="outside lower center", fontsize="x-small",
                   title=look, ncols=min(len(looks), 8))
    if title:
        fig.suptitle(title)
    return fig


def attention_plot(frames_thumbs: Sequence[Any], weights: Any, question: str,
                   predicted: str, truth: str) -> Figure:
    """A VideoQA example: one thumbnail per clip, the attention weight of each clip as a bar
    beneath it, the question and the answers (green when right, red when wrong) on top."""
    w = _as_array(weights).astype(float).ravel()
    n = len(frames_thumbs)
    if len(w) != n:
        raise ValueError(f"{len(w)} attention weights for {n} clips")
    fig = _figure(max(6.0, 0.95 * n + 0.6), 3.6)
    grid = fig.add_gridspec(2, n, height_ratios=[1, 1.3])
    for i, thumb in enumerate(frames_thumbs):
        _image_axis(fig.add_subplot(grid[0, i]), thumbnail(thumb))
    ax = fig.add_subplot(grid[1, :])
    best = int(np.argmax(w)) if n else -1
    colors = [_colors(2)[1] if i == best else _colors(1)[0] for i in range(n)]
    ax.bar(range(n), w, color=colors, width=0.8)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xticks(range(n), [str(i + 1) for i in range(n)], fontsize="small")
    ax.set(xlabel="clip", ylabel="attention")
    right = str(predicted).strip().lower() == str(truth).strip().lower()
    fig.suptitle(f"Q: {question}", fontsize="medium")
    ax.set_title(f"predicted: {predicted}    truth: {truth}",
                 color=CORRECT if right else WRONG, fontsize="medium")
    return fig
