"""A map of the feature space: a seeded 2-D embedding of video-level features, with numbers.

A picture of a few hundred points is easy to over-read, so every map comes with figures
measured where the retrieval happens, in the **original** feature space (cosine), and in
the 2-D map itself (Euclidean):

- **class separation**: the silhouette score of the class labels (-1 .. 1; about 0 when
  the classes overlap, near 1 for tight, separate clusters);
- **k-NN class agreement**: for each video, the fraction of its k nearest other videos
  (leave-one-out) of its class, averaged over the videos; **chance** beside it is the share
  of same-class pairs, what neighbours drawn at random would score;
- **look agreement**: the same with an appearance attribute instead of the class (for the
  synthetic sets: the moving object's shape, its colour, the background colour, read from
  ``ground_truth.jsonl``; the marker is the background when the style does not vary). In
  the synthetic data only motion carries the class, so a space whose neighbours share the
  *look* more than chance and the *class* barely more than chance keeps appearance rather
  than motion;
- **trustworthiness** of the map (:func:`sklearn.manifold.trustworthiness`, 0 .. 1): how
  far the map's neighbourhoods are neighbourhoods of the feature space too (1: no video
  is brought close in the map that is far in the features).

Why t-SNE (scikit-learn's :class:`~sklearn.manifold.TSNE`): it is maintained, takes a
second or two for a few hundred points on a CPU, and is deterministic for a
``random_state`` (with its PCA initialisation). UMAP (umap-learn) is comparable in quality
here but pulls in numba, whose just-in-time compilation costs several seconds on the first
call of every kernel and adds a compiled dependency for a figure. ``method="pca"`` (the
first two principal components) is offered as a linear, instant baseline.

Before t-SNE the features are L2-normalised (so that Euclidean distances rank neighbours
as cosine similarity does, as the retrieval does) and, when they have more than
:data:`PCA_DIMS` dimensions, reduced to that many by PCA (standard practice: it removes
noise and makes t-SNE's neighbour search fast). The perplexity is capped at ``(N - 1) / 3``
for small N (t-SNE needs it well below the number of points).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from vcop_lab.data.synthetic import load_ground_truth
from vcop_lab.errors import ManifestError, SettingsError
from vcop_lab.evaluate.features import FeatureSet
from vcop_lab.evaluate.retrieval import level_features

METHODS = ("tsne", "pca")
PCA_DIMS = 50      # t-SNE runs on at most this many principal components
PERPLEXITY = 30.0  # t-SNE's default, capped for small N (see _perplexity)
K = 5              # neighbours of the k-NN agreement and of trustworthiness
# Appearance attributes of the synthetic ground truth, in order of preference as the marker:
# the first that varies among the videos is drawn (the main style has one style only). The
# background comes first of the rest: it fills most of the frame, and at the teaching profile
# a random network's neighbours share it far above chance (r3d: 0.5-0.6, chance 0.16) while
# the actor's shape stays at chance.
LOOKS = ("style", "background", "shape", "colour")
ROUND = 3          # decimals of the points in results.json


# ----------------------------------------------------------------------------- looks


def look_attributes(fs: FeatureSet) -> dict[str, list[str]] | None:
    """Each video's appearance ``{attribute: [value per video]}`` from the data folder's
    ``ground_truth.jsonl`` (synthetic sets): ``style``, the actor's ``shape`` and
    ``colour``, the ``background`` colour. None when the folder has no ground truth (real
    data) or it lacks one of the videos."""
    try:
        truth = load_ground_truth(fs.root)
    except ManifestError:
        return None
    if not all(p in truth for p in fs.paths):
        return None
    looks: dict[str, list[str]] = {name: [] for name in LOOKS}
    for path in fs.paths:
        t = truth[path]
        actor = next((o for o in t.get("objects", []) if o.get("role") == "actor"), {})
        background = t.get("background")
        values = {"style": t.get("style"), "shape": actor.get("shape"),
                  "colour": actor.get("colour"),
                  "background": (background.get("colour") if isinstance(background, dict)
                                 else background)}
        for name in LOOKS:
            looks[name].append(str(values[name]))
    return looks


def pick_look(looks: Mapping[str, Sequence[str]] | None) -> str | None:
    """The first attribute of :data:`LOOKS` that varies among the videos (None if none)."""
    for name in LOOKS:
        if looks and name in looks and len(set(looks[name])) > 1:
            return name
    return None


# ----------------------------------------------------------------------------- numbers


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def neighbours(x: np.ndarray, k: int, metric: str = "cosine") -> np.ndarray:
    """(N, k) indices of each row's k nearest other rows (leave-one-out), nearest first,
    by cosine similarity or Euclidean distance; ties go to the lower index."""
    if metric == "cosine":
        u = _unit(x)
        dist = -(u @ u.T)
    elif metric == "euclidean":
        sq = (x * x).sum(1)
        dist = sq[:, None] + sq[None, :] - 2 * (x @ x.T)
    else:
        raise SettingsError(f"unknown metric {metric!r}", fix="use cosine or euclidean")
    np.fill_diagonal(dist, np.inf)  # a video is not its own neighbour
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def knn_agreement(x: np.ndarray, labels: Sequence, k: int = K,
                  metric: str = "cosine") -> float | None:
    """Mean fraction of each row's k nearest other rows with its label (None below 2 rows)."""
    lab = np.asarray([str(v) for v in labels])
    k = min(k, len(lab) - 1)
    if k < 1:
        return None
    idx = neighbours(np.asarray(x, dtype=np.float64), k, metric)
    return float((lab[idx] == lab[:, None]).mean())


def knn_chance(labels: Sequence) -> float | None:
    """The share of same-label pairs among all pairs of distinct rows: the k-NN agreement
    of neighbours drawn at random (None below 2 rows)."""
    n = len(labels)
    if n < 2:
        return None
    counts = np.array(list(Counter(str(v) for v in labels).values()), dtype=np.float64)
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def silhouette(x: np.ndarray, labels: Sequence, metric: str = "cosine") -> float | None:
    """The silhouette score of ``labels`` (-1 .. 1); None unless there are 2 .. N-1 labels."""
    from sklearn.metrics import silhouette_score

    lab = [str(v) for v in labels]
    if not 2 <= len(set(lab)) <= len(lab) - 1:
        return None
    return float(silhouette_score(np.asarray(x, dtype=np.float64), lab, metric=metric))


def trust(x: np.ndarray, points: np.ndarray, k: int = K) -> float | None:
    """Trustworthiness of the map ``points`` of ``x`` (cosine in the features), 0 .. 1, at
    k capped below N / 2 (what scikit-learn requires); None below 4 videos."""
    from sklearn.manifold import trustworthiness

    n = len(x)
    k = min(k, (n - 1) // 2)
    if k < 1:
        return None
    return float(trustworthiness(np.asarray(x, dtype=np.float64), points, n_neighbors=k,
                                 metric="cosine"))


# ----------------------------------------------------------------------------- embedding


def _perplexity(n: int) -> float:
    # t-SNE needs the perplexity (an effective number of neighbours) well below N.
    return float(max(1.0, min(PERPLEXITY, (n - 1) / 3)))


def embed(x: np.ndarray, method: str = "tsne", seed: int = 0) -> tuple[np.ndarray, dict]:
    """The (N, 2) map of features ``x`` (N, D) and the parameters it was made with.

    ``tsne``: L2-normalised, reduced by PCA to at most :data:`PCA_DIMS` dimensions, then
    t-SNE (PCA initialisation, ``random_state=seed``, perplexity capped for small N);
    ``pca``: the first two principal components of the L2-normalised features. The same
    ``x`` and ``seed`` give the same map.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in METHODS:
        raise SettingsError(f"unknown map method {method!r}", fix=f"use one of {METHODS}")
    x = _unit(np.asarray(x, dtype=np.float64))
    n, d = x.shape
    if n < 2:
        raise SettingsError(f"a map needs at least 2 videos, got {n}",
                            fix="use a data set with more test videos")
    if method == "pca" or n < 3:  # t-SNE cannot place fewer than 3 points
        pts = PCA(n_components=min(2, d, n), random_state=seed).fit_transform(x)
        pts = np.pad(pts, ((0, 0), (0, 2 - pts.shape[1])))  # 1-D features: a flat map
        return pts, {"method": "pca", "seed": seed,
                     **({"note": f"pca: {n} videos are too few for t-SNE"}
                        if method != "pca" else {})}
    dims = min(PCA_DIMS, n, d)
    if d > PCA_DIMS:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    params = {"method": "tsne", "pca_dims": dims if d > PCA_DIMS else None,
              "perplexity": _perplexity(n), "init": "pca", "learning_rate": "auto",
              "max_iter": 1000, "seed": seed}
    tsne = TSNE(n_components=2, perplexity=params["perplexity"], init="pca",
                learning_rate="auto", max_iter=1000, random_state=seed)
    with warnings.catch_warnings():  # sklearn's notes on future defaults, not about this map
        warnings.simplefilter("ignore", FutureWarning)
        pts = tsne.fit_transform(x)
    return pts, params


def feature_map(fs: FeatureSet, method: str = "tsne", seed: int = 0, k: int = K,
                look: str | None = "auto", looks: Mapping[str, Sequence[str]] | None = None
                ) -> tuple[dict, dict]:
    """The map of one split's video-level features and its numbers.

    ``look``: the appearance attribute that marks the points and whose k-NN agreement is
    reported (``"auto"``: :func:`pick_look`; None: none). ``looks`` overrides the ground
    truth (``{attribute: [value per video]}``, see :func:`look_attributes`). Returns
    ``(entry, parameters)``: ``entry`` holds ``points`` (rounded), ``labels`` (class
    names), ``markers`` (look values or None), ``videos`` (paths), ``silhouette_feature``,
    ``silhouette_map``, ``knn_class_agreement`` (features) and ``knn_class_agreement_map``,
    ``knn_chance``, ``knn_look_agreement``, ``knn_look_chance``, ``silhouette_look_feature``,
    ``knn_look_agreement_by`` (every attribute that varies: agreement and chance), and
    ``trustworthiness``.
    """
    feats, _, _ = level_features(fs, "video")
    x = feats.detach().cpu().double().numpy()
    labels = fs.label_names()
    looks = look_attributes(fs) if looks is None else looks
    if look == "auto":
        look = pick_look(looks)
    if look is not None and (not looks or look not in looks):
        raise SettingsError(f"no look attribute {look!r} for these videos",
                            fix=f"use one of {', '.join(looks or {}) or 'none'}, or None")
    points, params = embed(x, method, seed)
    markers = list(looks[look]) if look is not None and looks else None
    by = {name: {"agreement": knn_agreement(x, vals, k), "chance": knn_chance(vals)}
          for name, vals in (looks or {}).items() if len(set(vals)) > 1}
    entry = {
        "points": np.round(points, ROUND).tolist(), "labels": labels, "markers": markers,
        "videos": list(fs.paths),
        "silhouette_feature": silhouette(x, labels, "cosine"),
        "silhouette_map": silhouette(points, labels, "euclidean"),
        "knn_class_agreement": knn_agreement(x, labels, k),
        "knn_class_agreement_map": knn_agreement(points, labels, k, "euclidean"),
        "knn_chance": knn_chance(labels),
        "knn_look_agreement": knn_agreement(x, markers, k) if markers else None,
        "knn_look_chance": knn_chance(markers) if markers else None,
        "silhouette_look_feature": silhouette(x, markers, "cosine") if markers else None,
        "knn_look_agreement_by": by,
        "trustworthiness": trust(x, points, k),
    }
    params.update({"k": min(k, len(labels) - 1), "look": look, "level": "video",
                   "layer": fs.meta.get("layer"), "videos": len(labels)})
    return entry, params


def feature_maps(sets: Mapping[str, FeatureSet], method: str = "tsne", seed: int = 0,
                 k: int = K, look: str | None = "auto") -> dict:
    """Maps of several initialisations' features of the same videos (e.g. ``{"random":
    fs, "pretrained": fs}``), one look attribute for all. Returns, ready for results.json,
    ``{"method", "parameters", "look", "maps": {init: entry}}`` (entries: see
    :func:`feature_map`)."""
    if not sets:
        raise SettingsError("no feature set to map", fix="pass {init: FeatureSet}")
    first = next(iter(sets.values()))
    looks = look_attributes(first)
    if look == "auto":
        look = pick_look(looks)
    maps, params = {}, {}
    for init, fs in sets.items():
        if list(fs.paths) != list(first.paths):
            raise SettingsError(f"{init}: the feature sets hold different videos",
                                fix="map the same split of the same data for every init")
        maps[init], params = feature_map(fs, method, seed, k, look, looks)
    return {"method": method, "parameters": params, "look": look, "maps": maps}


__all__ = [
    "LOOKS",
    "METHODS",
    "embed",
    "feature_map",
    "feature_maps",
    "knn_agreement",
    "knn_chance",
    "look_attributes",
    "neighbours",
    "pick_look",
    "silhouette",
    "trust",
]
