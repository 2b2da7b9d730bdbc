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
# # 00 · A tour of the data
#
# This toolkit learns video features by **predicting the order of shuffled clips**. Before any
# training, this notebook looks at the data it learns from:
#
# 1. the **manifest** format every command reads (one row per video);
# 2. the **synthetic motion dataset** the toolkit generates itself, where the action class is
#    carried by *motion only*;
# 3. real video files, read through the same decoders.

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
REAL_CLIPS = None      # a folder of real videos to inspect (optional)

# %%
from collections import Counter

import pandas as pd
from IPython.display import display

from vcop_lab import notebook, viz
from vcop_lab.data.manifest import data_root, load_manifest
from vcop_lab.data.video import probe, read_frames
from vcop_lab.results import record

nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, datasets=DATASETS)
profile, dirs = nb.profile, nb.dirs
pd.DataFrame({"folder": dirs, "holds": nb.sources})

# %% [markdown]
# ## The manifest
#
# Every dataset, synthetic or real, is described by a `manifest.csv`: the path of each video
# relative to the data folder, its label, split, the number of frames that **actually decode**
# (not what the file header claims), its frame rate and size. Loading validates every row and
# reports all bad rows at once.

# %%
records = load_manifest(dirs["main"])
table = pd.DataFrame([r.__dict__ for r in records])
display(table.head())
table.pivot_table(index="label", columns="split", values="path", aggfunc="count")

# %% [markdown]
# ## The synthetic set: motion is the only cue
#
# (With `DATASETS` pointing `main` at prepared real data, the strip below shows its videos.)
#
# Colour, shape, size, background and start position are drawn independently of the class, so
# a single frame cannot tell the class. Most one-way motions speed up, as things that fall, set
# off or spin up do, so the speed of a clip tells its place in time. Two classes are the exact
# **time reversal** of another (rise is fall played backwards, rotate_ccw is rotate_cw
# backwards): they slow down, and only the direction of motion separates them from their
# partner, which a single frame cannot show. Periodic classes (oscillate, orbit) have a
# genuinely ambiguous clip order.

# %%
one_per_class = list({r.label: r for r in records if r.split == "train"}.values())
strips = []
for r in one_per_class:
    step = max(1, r.num_frames // 4)
    frames = list(range(0, r.num_frames, step))[:4]
    strips.append(read_frames(r.full_path(data_root(dirs["main"])), frames))
viz.clip_strip(strips, titles=[r.label for r in one_per_class], frames_per_clip=4,
               title=f"Four frames of one video per class ({nb.sources['main']})")

# %% [markdown]
# Each video comes with its **ground truth** (trajectories, colours, shapes, events), which the
# VideoQA notebook turns into questions and answers.

# %%
from vcop_lab.data.synthetic import load_ground_truth

if nb.is_synthetic("main"):
    example = load_ground_truth(dirs["main"])[one_per_class[0].path]
    display({k: v for k, v in example.items() if k != "objects"}
            | {"objects": len(example["objects"])})
else:
    print("prepared real data has no ground truth: only the synthetic set knows its objects")

# %% [markdown]
# ## The second and qa styles
#
# A second style with partly different classes and different looks stands in for HMDB51 in
# cross-dataset experiments: the networks are never pretrained on it. A third style, **qa**,
# stands in for ActivityNet-QA in notebook 06: new videos of the main classes and look with one
# or two static objects beside the moving one, so that questions can ask where things are
# relative to each other and how many there are.

# %%
second, qa = load_manifest(dirs["second"]), load_manifest(dirs["qa"])
shared = sorted({r.label for r in second} & {r.label for r in records})
print(f"main: {len(records)} videos, {len({r.label for r in records})} classes; "
      f"second: {len(second)} videos, {len({r.label for r in second})} classes; "
      f"shared classes: {shared}")
if nb.is_synthetic("qa"):
    objects = Counter(g["num_objects"] for g in load_ground_truth(dirs["qa"]).values())
    print(f"qa: {len(qa)} videos; objects per video: {dict(sorted(objects.items()))}")
else:
    print(f"qa: {len(qa)} videos ({nb.sources['qa']})")

# %% [markdown]
# ## Real videos
#
# Point `REAL_CLIPS` at a folder of videos (AVI, MP4, MKV, GIF, ...) to see how they decode:
# frame counts are counted by decoding, with PyAV (decord on request, not for GIF). `vcop-lab inspect VIDEO...` does the same from a terminal.

# %%
rows = []
if REAL_CLIPS:
    from pathlib import Path
    for path in sorted(p for p in Path(REAL_CLIPS).rglob("*") if p.is_file()):
        try:
            rows.append(probe(path).__dict__ | {"path": path.name})
        except Exception as exc:  # a tour shows unreadable files instead of stopping
            rows.append({"path": path.name, "error": str(exc)})
pd.DataFrame(rows)

# %%
record(RESULTS, "00_tour", {"main_videos": len(records), "second_videos": len(second),
                            "qa_videos": len(qa),
                            "main_classes": len({r.label for r in records}),
                            "second_classes": len({r.label for r in second}),
                            "real_clips_read": sum("error" not in r for r in rows),
                            "data": nb.sources})
