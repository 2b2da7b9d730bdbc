# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Layer-wise retrieval
#
# How much does clip order prediction teach a network about *actions*, without any label? The
# paper answers with nearest-neighbour retrieval on frozen features (its Tables II-IV), and so
# does this notebook.
#
# **Protocol.** Every video gives 10 evenly spaced, centre-cropped clips (the profile's
# `eval_clips`; fewer at the smoke profile). Each clip goes through the frozen backbone and the
# activation of one stage (`conv1` .. `conv5`) is max-pooled to a fixed grid and flattened. The
# clips of the **test** split are the queries, the clips of the **training** split (train and
# val rows) the gallery; neighbours are ranked by cosine similarity. A query is correct at k
# when its class is among the classes of its k nearest neighbours, k in {1, 5, 10, 20, 50}.
#
# Two levels, always named:
#
# - **clip level**: every test clip queries every training clip;
# - **video level**: each video is the mean of its clips' features (what the paper's reference
#   script reports as "clip" retrieval).
#
# **Random against pretrained.** The same architecture, randomly initialised (with the
# notebook's seed), is the floor: random 3D convolutions already keep some appearance and
# motion information, so the question is what the order task adds on top.
#
# Features are cached on disk under a key that hashes the checkpoint's *content*, the
# architecture, width, layer, pooling grid, clips per video, clip size and every video file:
# re-running is cheap, and a retrained checkpoint never reuses stale features.

# %% tags=["parameters"]
PROFILE = None          # smoke (seconds), teaching (minutes on a laptop CPU), paper (GPUs);
#                         None: the lab's ($VCOP_LAB_PROFILE), else teaching
DATASETS = None         # prepared folders by role, e.g. {"main": "data/ucf101-s1", "second":
#                         "data/hmdb51-s1", "qa": "data/anet"}; a role left out: synthetic
DATA_ROOT = None        # where generated (synthetic) data goes (None: data/ of the home)
RUN_ROOT = None         # runs, shared by every notebook and the batch run (None: runs/ of home)
RESULTS = None          # results.json of a batch reproduction (None: record nothing)
DEVICE = "auto"         # auto picks CUDA, then MPS, then the CPU
SEED = 0
ARCHS = None            # None: the profile's backbones (the networks of notebook 02)
LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
LEVELS = ["clip", "video"]  # conv5 (Table II) is compared at both levels
GRID_QUERIES, GRID_K = 4, 5  # the retrieval grid: rows (queries), neighbours per query
MAP_METHOD = "tsne"     # the map of the feature space: "tsne", or "pca" (linear, instant)
MAP_LAYER = None        # the layer mapped, the same for both inits (None: the best layer)

# %%
from pathlib import Path

import pandas as pd
from IPython.display import display

from vcop_lab import notebook, viz
from vcop_lab.data.manifest import load_manifest
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.feature_map import feature_maps
from vcop_lab.evaluate.retrieval import (cross_dataset, grid_inputs, layerwise_table,
                                         retrieval_examples, retrieve, shared_classes,
                                         split_features)
from vcop_lab.evaluate.search import TOPK
from vcop_lab.pretrain import pretrain
from vcop_lab.results import record

# %%
nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, ARCHS, DATASETS)
profile, device, dirs, ARCHS = nb.profile, nb.device, nb.dirs, nb.archs
root = dirs["main"]
num_classes = len({r.label for r in load_manifest(root)})
# every extraction below shares these: the cache, the device, the seed of random inits
common = dict(profile=profile, device=device, seed=SEED,
              cache_dir=nb.run_root / "feature-cache")
print(f"{nb.describe()}\n{profile.eval_clips} clips per video, {num_classes} classes")

# %% [markdown]
# ## The networks
#
# The order-pretrained networks are notebook 02's runs at the profile's setting (trained here
# when notebook 02 has not run), each at its best validation epoch (`best.pt`).

# %%
order = {arch: pretrain(root, runs=nb.run_root, profile=profile, arch=arch, seed=SEED,
                        device=device) for arch in ARCHS}
checkpoints = {arch: {"random": "random", "pretrained": order[arch].checkpoint}
               for arch in ARCHS}
for arch, m in order.items():
    print(f"{arch} {m['setting']}: test order accuracy {100 * m['test_order_acc']:.1f}% "
          f"(chance {100 * m['chance']:.1f}%)")

# %% [markdown]
# ## Which layer retrieves best? (Table IV)
#
# All layers of one network are extracted in a single pass over the videos, then each layer
# is scored at **clip level** (and, from the same cached features, at video level, the level
# of the paper's tables). Accuracy is in percent.

# %%
layerwise = {arch: layerwise_table(root, checkpoints[arch], arch, layers=LAYERS, level="clip",
                                   **common) for arch in ARCHS}
by_video = {arch: layerwise_table(root, checkpoints[arch], arch, layers=LAYERS, level="video",
                                  **common) for arch in ARCHS}
table_iv = pd.DataFrame({(arch, init): {(layer, f"top-{k}"): row[layer][f"top{k}"]
                                        for layer in LAYERS for k in (1, 5)}
                         for arch, lw in layerwise.items()
                         for init, row in lw["table"].items()}).T
lw = layerwise[ARCHS[0]]
print(f"clip level: {lw['num_queries']} query clips, {lw['num_gallery']} gallery clips; "
      "feature size per layer: " + ", ".join(f"{k} {v}" for k, v in lw["feature_dims"].items()))
table_iv.rename_axis(["network", "init"]).round(1)

# %%
best_layer = {arch: lw["best_layer"]["pretrained"]["layer"] for arch, lw in layerwise.items()}
for arch, lw in layerwise.items():
    pre, rnd = lw["best_layer"]["pretrained"], lw["best_layer"]["random"]
    print(f"{arch}: the best layer of the order-pretrained network is {pre['layer']} "
          f"(top-1 {pre['top1']:.1f}%); random initialisation peaks at {rnd['layer']} "
          f"(top-1 {rnd['top1']:.1f}%)")

# %%
for arch, lw in layerwise.items():
    bars = {layer: {init: row[layer]["top1"] for init, row in lw["table"].items()}
            for layer in LAYERS}
    display(viz.grouped_bars(bars, ylabel="clip-level top-1 (%)", chance=100 / num_classes,
                             title=f"{arch}: retrieval per layer, random vs order-pretrained"))

# %% [markdown]
# In the paper (16-8-3 on UCF101) the middle layers win: conv2 or conv3 for all three
# networks, not conv5. The deepest stage specialises in the pretext task (telling clip orders
# apart); the middle stages keep more general motion and appearance patterns. With small
# networks and little training the ranking of the layers can differ; the table above is what
# *this* run measured.
#
# ## Clip level against video level (Table II)
#
# The paper's Table II uses conv5 features. Both initialisations are scored there at both
# levels, over every k. At video level there are fewer gallery items, so when the gallery
# has fewer than 50 items, top-50 is scored over the whole gallery (`k capped at`).

# %%
levels = {(arch, init, level): retrieve(root, ckpt, arch, layer="conv5", level=level, **common)
          for arch in ARCHS for init, ckpt in checkpoints[arch].items() for level in LEVELS}
level_table = pd.DataFrame({(arch, "conv5", init, r["level"]): {
    **{f"top-{k}": r[f"top{k}"] for k in TOPK}, "queries": r["num_queries"],
    "gallery": r["num_gallery"], "k capped at": r["k_capped_at"]}
    for (arch, init, _), r in levels.items()}).T.astype({"queries": int, "gallery": int})
level_table.rename_axis(["network", "layer", "init", "level"]).round(1)

# %%
for arch in ARCHS:
    curves = {f"{init}, {levels[arch, init, lev]['level']}":
              {k: levels[arch, init, lev][f"top{k}"] for k in TOPK}
              for init in checkpoints[arch] for lev in LEVELS}
    display(viz.topk_table_plot(curves, title=f"{arch} conv5: top-k accuracy"))

# %% [markdown]
# ## Across datasets
#
# The second synthetic style stands in for HMDB51: other looks, partly other classes, and the
# networks never saw it during pretraining. Test clips of one style query the training clips
# of the other (clip level, best layer). Classes match by **name**, ignoring case and
# separators (`Fencing` = `fencing`), or through the shipped map of UCF101 and HMDB51 classes
# that are the same action under other names (`Biking` = `ride_bike`,
# `data_manifests/ucf101_hmdb51_classes.csv`). Only matched classes take part: only queries
# whose class the gallery has can ever be right, so only they are scored, and the others are
# counted.

# %%
directions = {"main -> second": (dirs["main"], dirs["second"]),
              "second -> main": (dirs["second"], dirs["main"])}
try:
    for q, g in directions.values():
        shared_classes(q, g)  # before any feature is extracted
except SettingsError as err:  # e.g. two small real sets with no action in common
    print(f"no cross-dataset retrieval: {err}")
    directions = {}

# %%
cross = {(arch, init, name): cross_dataset(q, g, ckpt, arch, layer=best_layer[arch],
                                           level="clip", **common)
         for arch in ARCHS for init, ckpt in checkpoints[arch].items()
         for name, (q, g) in directions.items()}
for name in directions:
    r = cross[ARCHS[0], "random", name]
    print(f"{name}: {r['num_queries']} of {r['num_queries_total']} query clips have a class "
          f"the gallery has ({', '.join(r['shared_classes'])}); "
          f"{r['num_queries_without_class_in_gallery']} are left out")

# %%
cross_table = pd.DataFrame({key: {"top-1": r["top1"], "top-5": r["top5"], "queries scored":
                                  r["num_queries"], "gallery clips": r["num_gallery"]}
                            for key, r in cross.items()}).T
if cross:
    display(cross_table.astype({"queries scored": int, "gallery clips": int}).rename_axis(
        ["network", "init", "queries -> gallery"]).round(1))

# %% [markdown]
# ## What the neighbours look like (Figs. 8 and 9)
#
# A few test videos of the main style and their nearest training videos at **video level**,
# from the first network's order-pretrained features at its best layer. Each thumbnail is the
# middle frame of the video's middle clip, as the network saw it (resized, centre-cropped). A
# green frame is a neighbour of the query's class, a red one of another class.

# %%
arch, layer = ARCHS[0], best_layer[ARCHS[0]]
query, gallery = split_features(root, checkpoints[arch]["pretrained"], arch, layers=[layer],
                                **common)
examples = retrieval_examples(query[layer], gallery[layer], n_queries=GRID_QUERIES, k=GRID_K,
                              seed=SEED, level="video", device=device)
grid = viz.retrieval_grid(*grid_inputs(examples))
grid


# %% [markdown]
# How to read it: neighbours that share the query's *look* (colour, shape, background) but not
# its class show features that keep appearance; in the synthetic set only motion carries the
# class, so green neighbours of other looks are what the order task is meant to teach. At the
# smoke profile the runs are too short for any of this to be meaningful; use the teaching
# profile.

# %% [markdown]
# ## A map of the feature space
#
# The grid shows four queries; a map shows every test video at once. Each video's
# video-level feature (the mean of its clips') at one layer, the same for both
# initialisations (the best layer of the first order-pretrained network), is placed in 2-D by
# **t-SNE**, which keeps each video's near neighbours near (distances between far-apart groups
# mean little). Points are coloured by class and marked by a look attribute of the video (in
# the synthetic set: the background colour, since all videos share one style; the table
# below gives the moving object's shape and colour too).
#
# A picture is easy to over-read, so numbers stand beside it, measured in the **features**
# themselves (cosine, as the retrieval) and in the map:
#
# - **silhouette** of the classes: about 0 when they overlap, near 1 for tight, separate
#   clusters;
# - **k-NN class agreement**: the share of each video's 5 nearest other test videos of its
#   class, beside **chance** (the share of same-class pairs: neighbours drawn at random);
# - **k-NN look agreement**: the same with the look (shape, colour, background) instead of
#   the class: a space that groups by look rather than by motion scores high here and near
#   chance for the class;
# - **trustworthiness** (0 .. 1): how far the map's neighbourhoods are true neighbourhoods of
#   the features; near 1, the map can be trusted locally.

# %%
map_layer = MAP_LAYER or layer
map_sets = {}
for init, ckpt in checkpoints[arch].items():  # the cached test features, no new extraction
    reuse = init == "pretrained" and map_layer == layer  # the grid's features, just above
    map_sets[init] = (query if reuse else split_features(
        root, ckpt, arch, layers=[map_layer], **common)[0])[map_layer]
fmap = feature_maps(map_sets, method=MAP_METHOD, seed=SEED)
print(f"{arch} {map_layer}: {len(map_sets['random'])} test videos, {fmap['method']} "
      f"(perplexity {fmap['parameters'].get('perplexity', '-')}), marked by {fmap['look']}")

# %%
viz.feature_map_plot(fmap["maps"], look=fmap["look"],
                     title=f"{arch} {map_layer}, test videos: random vs order-pretrained")

# %%
look = fmap["look"] or "look"
columns = {"silhouette (features)": "silhouette_feature", "silhouette (map)": "silhouette_map",
           "k-NN class": "knn_class_agreement", "k-NN class (map)": "knn_class_agreement_map",
           "class chance": "knn_chance", f"k-NN {look}": "knn_look_agreement",
           f"{look} chance": "knn_look_chance", "trustworthiness": "trustworthiness"}
display(pd.DataFrame({init: {c: m[key] for c, key in columns.items()}
                      for init, m in fmap["maps"].items()}).T.astype(float).round(2))
by_look = {(init, attr): a for init, m in fmap["maps"].items()
           for attr, a in m["knn_look_agreement_by"].items()}
if by_look:  # every look attribute that varies (none for data without ground truth)
    display(pd.DataFrame(by_look).T.rename_axis(["init", "k-NN agreement by look"])
            .astype(float).round(2))

# %% [markdown]
# How to read it: order pretraining has helped when the pretrained map's class agreement
# rises above chance (and above the random network's) while its look agreement falls towards
# chance. A random network often groups videos by look: its features keep the colours the
# input shows (at the teaching profile, r3d's random neighbours share the background far above
# chance). At the smoke profile the numbers mean little; use the teaching profile.

# %%
def gains(table, layer, k):
    pre, rnd = table["pretrained"], table["random"]
    return {"best_layer": pre[layer][f"top{k}"] - rnd[layer][f"top{k}"],
            "max_over_layers": max(v[f"top{k}"] for v in pre.values())
            - max(v[f"top{k}"] for v in rnd.values())}


gain = {arch: {f"top{k}": gains(lw["table"], best_layer[arch], k) for k in (1, 5)}
        for arch, lw in layerwise.items()}
pd.DataFrame({(arch, k): g for arch, by_k in gain.items() for k, g in by_k.items()}).T.rename(
    columns={"best_layer": "at the best layer", "max_over_layers": "best vs best layer"}
).rename_axis(["network", "pretrained - random (points)"]).round(1)

# %%
first, keys, ks = layerwise[ARCHS[0]], ("top1", "top5"), tuple(f"top{k}" for k in TOPK)
counts = ("num_queries", "num_queries_total", "shared_classes")
cross_record = {a: {i: {name: {k: cross[a, i, name][k] for k in keys + counts}
                        for name in directions} for i in checkpoints[a]} for a in ARCHS}


def per_layer(tables):
    return {a: {i: {layer: {k: s[k] for k in keys} for layer, s in row.items()}
                for i, row in lw["table"].items()} for a, lw in tables.items()}


# %%
recorded = record(RESULTS, "04_layerwise_retrieval", {
    "level": "clip level", "layers": LAYERS, "clips_per_video": profile.eval_clips,
    "num_queries": first["num_queries"], "num_gallery": first["num_gallery"],
    "table": per_layer(layerwise), "table_video": per_layer(by_video), "gain_points": gain,
    "best_layer": {a: {i: b["layer"] for i, b in lw["best_layer"].items()}
                   for a, lw in layerwise.items()},
    "conv5": {a: {i: {levels[a, i, lev]["level"]: {k: levels[a, i, lev][k] for k in ks}
                      for lev in LEVELS} for i in checkpoints[a]} for a in ARCHS},
    "cross_dataset": cross_record if cross else None,
    "feature_map": {"network": arch, "layer": map_layer, **fmap},
    "data": {role: nb.sources[role] for role in ("main", "second")}})
