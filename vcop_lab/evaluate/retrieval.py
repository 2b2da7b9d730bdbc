"""The retrieval protocol of the paper's Tables II-IV on data folders (``vcop-lab retrieve``).

Test-split videos query the training split (train and val rows: the whole official training
split) by cosine similarity of frozen-backbone features (:mod:`vcop_lab.evaluate.features`),
searched by :mod:`vcop_lab.evaluate.search`. A query
is correct at k when its class is among the classes of its k nearest neighbours, k in
{1, 5, 10, 20, 50}. Two levels, always named:

- **clip level**: every clip of every test video is a query and every clip of every training
  video a gallery item (V x num_clips of each);
- **video level**: each video is the mean of its clips' features (what the reference script
  calls clip retrieval).

Classes are matched by *name*, so that the same code scores cross-dataset retrieval (e.g.
UCF101 queries against HMDB51), where the label indices of the two datasets differ. Within one
dataset every class is its own partner. Across datasets the classes are matched by
:func:`vcop_lab.data.classes.match_classes`: the same name, the same name ignoring case and
separators (``Fencing`` = ``fencing``), or a pair of the class map
(``data_manifests/ucf101_hmdb51_classes.csv``: ``Biking`` = ``ride_bike``). Only matched
classes take part: a query is scored when its class has a partner in the gallery (the others
are counted in ``num_queries_without_class_in_gallery``; zero within one dataset), gallery
items of classes without a partner among the queries are left out (counted in
``num_gallery_without_class_in_queries``), and a query's class is compared with its
neighbours' through the match. When the gallery has fewer than k rows, top-k is scored over
the whole gallery and ``k_capped_at`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from vcop_lab.checkpoint import RANDOM
from vcop_lab.data.classes import (
    CLASS_MAP_NAME,
    SAME_NAME,
    ClassMatch,
    match_classes,
    no_shared_class_error,
)
from vcop_lab.data.classes import shared_classes as match_manifest_classes
from vcop_lab.data.datasets import display_frames
from vcop_lab.data.manifest import data_root, load_manifest, select_split
from vcop_lab.data.sampling import eval_clip_starts
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.features import LAYERS, FeatureSet, extract_features
from vcop_lab.evaluate.search import TOPK, retrieval_accuracy, topk_neighbours
from vcop_lab.models.backbones import STAGES
from vcop_lab.profiles import Profile, get_profile

LEVELS = {"clip": "clip level", "video": "video level"}
GALLERY_SPLITS = ("train", "val")
QUERY_SPLIT = "test"


# ----------------------------------------------------------------------------- scoring


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise SettingsError(f"unknown retrieval level {level!r}",
                            fix="choose clip (every clip a query) or video (clip mean)")
    return level


def level_features(fs: FeatureSet, level: str) -> tuple[torch.Tensor, torch.Tensor,
                                                        torch.Tensor]:
    """``(features (N, D), labels (N,), video ids (N,))`` of ``fs`` at ``level``."""
    return fs.clip_level() if _check_level(level) == "clip" else fs.video_level()


def _present_names(fs: FeatureSet) -> list[str]:
    """The class names of the videos ``fs`` holds (not every class of its dataset)."""
    return [fs.class_names[int(i)] for i in torch.unique(fs.labels)]


def class_matches(query: FeatureSet, gallery: FeatureSet, class_map=None) -> list[ClassMatch]:
    """The query classes and their gallery partners (``ClassMatch(a=query, b=gallery, how,
    why)``). Sets of one dataset (the same class list) match every class to itself; others
    match the classes of their videos by :func:`~vcop_lab.data.classes.match_classes` with
    ``class_map`` (default: the shipped UCF101-HMDB51 map)."""
    if list(query.class_names) == list(gallery.class_names):
        return [ClassMatch(n, n, SAME_NAME) for n in query.class_names]
    return match_classes(_present_names(query), _present_names(gallery), class_map)


def _shared_ids(query: FeatureSet, gallery: FeatureSet, q_labels, g_labels,
                matches: list[ClassMatch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and gallery labels as indices into ``matches``; -1 for a class without a
    partner."""
    q_of = {m.a: i for i, m in enumerate(matches)}
    g_of = {m.b: i for i, m in enumerate(matches)}
    q_map = torch.tensor([q_of.get(n, -1) for n in query.class_names], dtype=torch.long)
    g_map = torch.tensor([g_of.get(n, -1) for n in gallery.class_names], dtype=torch.long)
    return q_map[q_labels.long()], g_map[g_labels.long()]


def _names_of(fs: FeatureSet, labels: torch.Tensor) -> list[str]:
    return sorted({fs.class_names[int(i)] for i in torch.unique(labels)})


def score_retrieval(query: FeatureSet, gallery: FeatureSet, level: str = "clip",
                    ks: Sequence[int] = TOPK, device: str | torch.device | None = None,
                    progress: bool = False, class_map=None) -> dict:
    """Top-k retrieval accuracy (percent) of ``query`` against ``gallery`` at ``level``.

    Classes match as :func:`class_matches` says (``class_map``: a class map CSV or its
    pairs, default the shipped one); only matched classes take part, the others are left
    out and counted.
    Returns ``{"level": "clip level" | "video level", "top1": %, ..., "shared_classes"
    (``rise`` or ``Biking = ride_bike``, sorted), "class_matches" ([{"a": query class, "b":
    gallery class, "how", "why"}]), "num_queries" (scored), "num_queries_total",
    "num_queries_without_class_in_gallery", "classes_missing_from_gallery", "num_gallery"
    (searched), "num_gallery_total", "num_gallery_without_class_in_queries",
    "gallery_classes_left_out", "k_capped_at"}``.
    """
    q_feats, q_labels, _ = level_features(query, level)
    g_feats, g_labels, _ = level_features(gallery, level)
    matches = class_matches(query, gallery, class_map)
    q_ids, g_ids = _shared_ids(query, gallery, q_labels, g_labels, matches)
    in_gallery = g_ids >= 0
    scored = torch.isin(q_ids, torch.unique(g_ids[in_gallery]))
    num_scored = int(scored.sum())
    if num_scored == 0:
        raise no_shared_class_error(query.root, gallery.root, class_map=class_map)
    shared = sorted({int(i) for i in q_ids[scored]})
    result: dict = {"level": LEVELS[level]}
    acc = retrieval_accuracy(q_feats[scored], q_ids[scored], g_feats[in_gallery],
                             g_ids[in_gallery], ks, allow_small_gallery=True, device=device,
                             progress=progress)
    result.update({f"top{k}": acc[f"top{k}"] for k in ks})
    result.update({
        "shared_classes": sorted(matches[i].label for i in shared),
        "class_matches": [matches[i].as_dict() for i in shared],
        "num_queries": num_scored, "num_queries_total": int(q_labels.numel()),
        "num_queries_without_class_in_gallery": int(q_labels.numel()) - num_scored,
        "classes_missing_from_gallery": _names_of(query, q_labels[~scored]),
        "num_gallery": acc["num_gallery"], "num_gallery_total": int(g_labels.numel()),
        "num_gallery_without_class_in_queries": int((~in_gallery).sum()),
        "gallery_classes_left_out": _names_of(gallery, g_labels[~in_gallery]),
        "k_capped_at": acc["num_gallery"] if acc["num_gallery"] < max(ks) else None,
    })
    return result


# ----------------------------------------------------------------------------- features


def _gallery_records(data: Path):
    records = load_manifest(data)
    return [r for r in records if r.split in GALLERY_SPLITS]


def split_features(data: str | Path, checkpoint, arch: str | None, profile, layers,
                   query_data: str | Path | None = None, **kw
                   ) -> tuple[dict[str, FeatureSet], dict[str, FeatureSet]]:
    """``(query, gallery)`` features ``{layer: FeatureSet}``: the test split of
    ``query_data`` (default ``data``) and the training split of ``data``.

    ``kw`` goes to :func:`~vcop_lab.features.extract_features` (``cache_dir``, ``device``,
    ``seed``, ``num_clips``, ``batch_size``, ``num_workers``, ``progress``).
    """
    data = Path(data)
    qdata = Path(query_data) if query_data is not None else data
    common = dict(checkpoint=checkpoint, arch=arch, profile=profile, layers=list(layers), **kw)
    gallery = extract_features(data, _gallery_records(data), **common)
    query = extract_features(qdata, select_split(load_manifest(qdata), QUERY_SPLIT), **common)
    return query, gallery


def _settings(fs: FeatureSet, data, query_data, prof: Profile) -> dict:
    m = fs.meta
    return {
        "arch": m["arch"], "width": m["width"], "layer": m["layer"],
        "feature_dim": m["feature_dim"], "pooling": m["pool"], "pooling_grid": m["grid"],
        "effective_pooling_grid": m["effective_grid"], "clips_per_video": m["num_clips"],
        "clip_length": m["cl"], "resize": m["resize"], "crop": m["crop"],
        "checkpoint": m["checkpoint"], "checkpoint_hash": m["checkpoint_hash"],
        "random_init_seed": m["seed"], "profile": prof.name,
        "gallery_data": str(data), "gallery_splits": list(GALLERY_SPLITS),
        "query_data": str(query_data if query_data is not None else data),
        "query_split": QUERY_SPLIT, "cross_dataset": query_data is not None,
    }


def retrieve(data: str | Path, checkpoint: str | Path = RANDOM, arch: str | None = None,
             profile: str | Profile = "teaching", layer: str = "conv5", level: str = "clip",
             query_data: str | Path | None = None, ks: Sequence[int] = TOPK,
             class_map: str | Path | None = None, **kw) -> dict:
    """One retrieval experiment: extract (or reuse cached) features, search, score.

    ``data``'s training split is the gallery; the test split of ``query_data`` (default:
    ``data``) queries it. ``class_map``: the class map CSV across datasets (default: the
    shipped UCF101-HMDB51 one). ``kw`` goes to :func:`~vcop_lab.features.extract_features`
    (``cache_dir``, ``device``, ``seed``, ``progress`` ...). Returns the scores of
    :func:`score_retrieval` with ``"settings"``, a ``"title"`` naming the level, and
    ``"minutes"``.
    """
    t0 = time.perf_counter()
    _check_level(level)
    prof = get_profile(profile)
    if query_data is not None:  # before any feature is extracted: no shared class, one error
        shared_classes(query_data, data, class_map)
    query, gallery = split_features(data, checkpoint, arch, prof, [layer], query_data, **kw)
    result = score_retrieval(query[layer], gallery[layer], level, ks,
                             device=kw.get("device"), class_map=class_map)
    settings = _settings(gallery[layer], data, query_data, prof)
    if query_data is not None:
        settings["class_map"] = str(class_map) if class_map is not None else CLASS_MAP_NAME
    what = "cross-dataset " if query_data is not None else ""
    result["title"] = (f"{what}{LEVELS[level]} retrieval, {settings['arch']} {layer} "
                       f"({'random init' if settings['checkpoint'] == RANDOM else 'checkpoint'})")
    result["settings"] = settings
    result["feature_cache"] = {"query": query[layer].meta.get("cache"),
                               "gallery": gallery[layer].meta.get("cache")}
    result["minutes"] = (time.perf_counter() - t0) / 60
    return result


def shared_classes(query_data: str | Path, gallery_data: str | Path,
                   class_map: str | Path | None = None) -> list[ClassMatch]:
    """The classes of ``query_data``'s test split that ``gallery_data``'s training split has
    (``ClassMatch(a=query class, b=gallery class, how, why)``, see
    :func:`vcop_lab.data.classes.shared_classes`); one :class:`SettingsError` when none."""
    return match_manifest_classes(query_data, gallery_data, (QUERY_SPLIT,), GALLERY_SPLITS,
                                  class_map)


def cross_dataset(query_data: str | Path, gallery_data: str | Path,
                  checkpoint: str | Path = RANDOM, arch: str | None = None,
                  profile: str | Profile = "teaching", layer: str = "conv5",
                  level: str = "clip", class_map: str | Path | None = None, **kw) -> dict:
    """Cross-dataset retrieval: ``query_data``'s test split against ``gallery_data``'s
    training split (e.g. UCF101 queries, HMDB51 gallery); one direction per call.

    Classes match by name ignoring case and separators, or through ``class_map`` (default:
    ``data_manifests/ucf101_hmdb51_classes.csv``), and only matched classes take part. The
    result says which classes are shared (``shared_classes``, e.g. ``["Biking = ride_bike",
    "Fencing = fencing"]``; ``class_matches`` says how each matched), how many queries are
    scored (``num_queries`` of ``num_queries_total``; the others are counted in
    ``num_queries_without_class_in_gallery``, their classes listed in
    ``classes_missing_from_gallery``) and how many gallery items are searched
    (``num_gallery`` of ``num_gallery_total``; ``gallery_classes_left_out``). A query is
    correct at k when one of its k neighbours is of its class's partner. Raises one
    :class:`SettingsError` (before extracting features) when no class is shared.
    """
    return retrieve(gallery_data, checkpoint, arch, profile, layer, level,
                    query_data=query_data, class_map=class_map, **kw)


def layerwise_table(data: str | Path, checkpoints: Mapping[str, str | Path],
                    arch: str | None = None, profile: str | Profile = "teaching",
                    layers: Sequence[str] = STAGES, level: str = "clip",
                    ks: Sequence[int] = TOPK, **kw) -> dict:
    """Top-k retrieval accuracy per initialisation and layer (the paper's Table IV).

    ``checkpoints`` maps a row name to a checkpoint or ``"random"``, e.g.
    ``{"random": "random", "VCOP": "runs/r3d/best.pt"}``. All layers of one initialisation
    are extracted in one pass over the videos. Returns ``{"level": "clip level" | ...,
    "table": {name: {layer: {"top1": %, ...}}}, "best_layer": {name: {"layer", "top1"}},
    "feature_dims": {layer: D}, "pooling_grids": {layer: effective grid}, "num_queries",
    "num_gallery", "minutes"}``; the best layer is the one with the highest top-1.
    """
    t0 = time.perf_counter()
    _check_level(level)
    for layer in layers:
        if layer not in LAYERS:
            raise SettingsError(f"unknown feature layer {layer!r}",
                                fix=f"choose from {', '.join(LAYERS)}")
    table: dict[str, dict[str, dict]] = {}
    dims: dict[str, int] = {}
    grids: dict[str, list | None] = {}
    counts: dict = {}
    for name, ckpt in checkpoints.items():
        query, gallery = split_features(data, ckpt, arch, profile, layers, **kw)
        table[name] = {}
        for layer in layers:
            scores = score_retrieval(query[layer], gallery[layer], level, ks,
                                     device=kw.get("device"))
            table[name][layer] = {f"top{k}": scores[f"top{k}"] for k in ks}
            dims[layer] = gallery[layer].dim
            grids[layer] = gallery[layer].meta["effective_grid"]
            counts = {"num_queries": scores["num_queries"], "num_gallery": scores["num_gallery"]}
    best = {}
    for name, row in table.items():
        layer = max(row, key=lambda lay, r=row: r[lay][f"top{ks[0]}"])
        best[name] = {"layer": layer, f"top{ks[0]}": row[layer][f"top{ks[0]}"]}
    return {"level": LEVELS[level], "table": table, "best_layer": best, "feature_dims": dims,
            "pooling_grids": grids, **counts,
            "checkpoints": {k: str(v) for k, v in checkpoints.items()},
            "minutes": (time.perf_counter() - t0) / 60}


# ----------------------------------------------------------------------------- examples


def clip_thumbnail(fs: FeatureSet, video: int, clip: int | None = None) -> np.ndarray:
    """The middle frame of one clip of a video (default: its middle clip), resized and
    centre-cropped as the network saw it: uint8 (H, W, 3)."""
    m = fs.meta
    clip = fs.num_clips // 2 if clip is None else clip
    starts = eval_clip_starts(fs.num_frames[video], m["cl"], fs.num_clips)
    frames = display_frames(data_root(fs.root) / fs.paths[video], [starts[clip] + m["cl"] // 2],
                            tuple(m["resize"]), m["crop"], num_frames=fs.num_frames[video])
    return frames[0].numpy().copy()


def retrieval_examples(query_set: FeatureSet, gallery_set: FeatureSet, n_queries: int = 4,
                       k: int = 4, seed: int = 0, level: str = "video",
                       shared_only: bool = True, device: str | torch.device | None = None,
                       class_map: str | Path | None = None) -> list[dict]:
    """Random queries and their k nearest gallery items, with thumbnails (Figs. 8 and 9).

    At video level a query is a video (its clips' mean), at clip level the middle clip of a
    video. Returns one dict per query: ``query_path``, ``query_label`` (class name),
    ``query_thumb`` (uint8 HxWx3, middle frame of the middle clip), ``neighbours``: a list of
    ``(path, label, thumbnail, correct)`` tuples nearest first, where ``correct`` means the
    query's class or its partner (:func:`class_matches`, with ``class_map``). Feed them to
    :func:`vcop_lab.viz.retrieval_grid` with :func:`grid_inputs`. With ``shared_only``
    (default) queries are drawn only from classes the gallery has (the others cannot be
    right; this matters across datasets).
    """
    _check_level(level)
    partner = {m.a: m.b for m in class_matches(query_set, gallery_set, class_map)}
    candidates = list(range(len(query_set)))
    if shared_only:
        names = set(_present_names(gallery_set))
        candidates = [v for v in candidates
                      if partner.get(query_set.class_names[int(query_set.labels[v])]) in names]
    if not candidates:
        raise SettingsError("no query video has a class the gallery has",
                            fix="use datasets that share classes, or shared_only=False")
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(candidates, size=min(n_queries, len(candidates)),
                              replace=False).tolist())
    q_feats, _, _ = level_features(query_set, level)
    g_feats, g_labels, g_videos = level_features(gallery_set, level)
    if level == "clip":
        mid = query_set.num_clips // 2
        rows = [v * query_set.num_clips + mid for v in picks]
    else:
        rows = picks
    _, idx = topk_neighbours(q_feats[rows], g_feats, min(k, g_feats.shape[0]), device=device)
    examples = []
    for v, neighbours in zip(picks, idx.cpu().tolist(), strict=True):
        q_name = query_set.class_names[int(query_set.labels[v])]
        items = []
        for row in neighbours:
            video = int(g_videos[row])
            clip = row % gallery_set.num_clips if level == "clip" else None
            name = gallery_set.class_names[int(g_labels[row])]
            items.append((gallery_set.paths[video], name,
                          clip_thumbnail(gallery_set, video, clip), name == partner.get(q_name)))
        examples.append({"query_path": query_set.paths[v], "query_label": q_name,
                         "query_thumb": clip_thumbnail(query_set, v), "neighbours": items})
    return examples


def grid_inputs(examples: Sequence[dict]) -> tuple[list, list, list, list]:
    """``(query_thumbs, neighbour_thumbs, query_labels, neighbour_labels)`` of
    :func:`retrieval_examples`, the arguments of :func:`vcop_lab.viz.retrieval_grid`."""
    return ([e["query_thumb"] for e in examples],
            [[n[2] for n in e["neighbours"]] for e in examples],
            [e["query_label"] for e in examples],
            [[n[1] for n in e["neighbours"]] for e in examples])


# ----------------------------------------------------------------------------- command line


def summary_line(result: dict, ks: Sequence[int] = TOPK) -> str:
    """One line: what was retrieved at which level, the top-k accuracies, and what was
    scored (across datasets: of how many, over how many shared classes)."""
    accs = ", ".join(f"top{k} {result[f'top{k}']:.1f}%" for k in ks if f"top{k}" in result)
    queries = f"{result['num_queries']} queries"
    gallery = f"{result['num_gallery']} gallery items"
    if result.get("settings", {}).get("cross_dataset"):
        queries = (f"{result['num_queries']} of {result['num_queries_total']} queries, "
                   f"{len(result['shared_classes'])} shared classes")
        gallery = f"{result['num_gallery']} of {result['num_gallery_total']} gallery items"
    return f"{result['title']}: {accs} ({queries}, {gallery}, {result['minutes']:.1f} min)"


def default_cache_dir() -> Path:
    """The feature cache of the command line: ``HOME/runs/feature-cache``, the notebooks'."""
    from vcop_lab.paths import default_runs_root
    return default_runs_root() / "feature-cache"


__all__ = [
    "LEVELS",
    "class_matches",
    "clip_thumbnail",
    "cross_dataset",
    "grid_inputs",
    "layerwise_table",
    "level_features",
    "retrieval_examples",
    "retrieve",
    "score_retrieval",
    "shared_classes",
    "split_features",
    "summary_line",
]
