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
# # 02 · Pretraining by clip order prediction
#
# Each backbone (C3D, R3D, R(2+1)D) encodes every clip of a shuffled tuple; the order head
# compares the clip features pairwise and predicts which of the `tl!` orders was applied.
# This notebook trains on the GPU when there is one and otherwise at teaching size on the CPU,
# draws the learning curves, and compares the **task curriculum** (tl=4 warm-started from
# tl=3) with tl=4 trained from scratch on the same data, epochs and seed (the paper's Fig. 4).
#
# A finished run with the same settings is loaded instead of retrained (the run contract of
# `vcop_lab.runs`): re-running is cheap, and the other notebooks reuse these runs.

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
ARCHS = None            # None: the profile's backbones ("all": c3d, r3d and r21d)
CURRICULUM_TLS = [4]    # add 5 to continue the curriculum to tuples of 5 clips
CURRICULUM_EPOCHS = None  # epochs of each curriculum stage (None: the profile's)

# %%
import pandas as pd
from vcop_lab import notebook, viz
from vcop_lab.curriculum import compare_task_curriculum
from vcop_lab.pretrain import pretrain
from vcop_lab.results import record

nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, ARCHS, DATASETS)
profile, device, root = nb.profile, nb.device, nb.dirs["main"]
print(nb.describe())

# %% [markdown]
# ## Train each backbone at the profile's setting
#
# Every run trains a fixed number of epochs (the profile's), so its figures depend on the
# seed and the code, not on how fast the machine is. The epochs run and the throughput are
# recorded in each run's `metrics.json`.

# %%
runs = {arch: pretrain(root, runs=nb.run_root, profile=profile, arch=arch, seed=SEED,
                       device=device) for arch in nb.archs}
table = pd.DataFrame({arch: {"test order acc (%)": 100 * m["test_order_acc"],
                             "chance (%)": 100 * m["chance"], "epochs": m["epochs_run"],
                             "train minutes": m["train_minutes"],
                             "clips / s": m["clips_per_second"]} for arch, m in runs.items()}).T
table.round(1)

# %%
histories = {arch: run.history() for arch, run in runs.items()}
viz.training_curves(histories, chance=runs[nb.archs[0]]["chance"])

# %% [markdown]
# ## Task curriculum against scratch (Fig. 4)
#
# Harder settings (more clips, more orders) are hard to learn from scratch. The curriculum
# initialises the tl=4 network from the tl=3 one: the backbone and the pair layer carry over,
# only the final layer is new. Both arms get the same epochs at tl=4.

# %%
arch = nb.archs[0]
epochs = CURRICULUM_EPOCHS or profile.curriculum_epochs
curriculum = compare_task_curriculum(root, nb.run_root, runs[arch].checkpoint, tls=CURRICULUM_TLS,
                                     profile=profile, arch=arch, seed=SEED, epochs=epochs,
                                     device=device)
pd.DataFrame({f"tl={tl}": {"curriculum (%)": 100 * r["curriculum"]["test_order_acc"],
                           "scratch (%)": 100 * r["scratch"]["test_order_acc"],
                           "chance (%)": 100 * r["scratch"]["chance"],
                           "gain (points)": r["gain_points"]}
              for tl, r in curriculum.items()}).round(1)

# %%
tl = CURRICULUM_TLS[0]
curves = {name: curriculum[tl][name].history() for name in ("curriculum", "scratch")}
viz.training_curves(curves, chance=curriculum[tl]["scratch"]["chance"])

# %% [markdown]
# ## Harder with more clips, at equal training
#
# With more clips per tuple there are more orders to tell apart (tl! of them). At the same
# number of epochs from scratch, the validation order accuracy of the tl=3 run (read from its
# history at that epoch) and of the tl=4 scratch run show how much harder the task gets.

# %%
val_at = {3: runs[arch].history()[epochs - 1]["val_acc"],
          tl: curriculum[tl]["scratch"].history()[epochs - 1]["val_acc"]}
chance_at = {3: runs[arch]["chance"], tl: curriculum[tl]["scratch"]["chance"]}
pd.DataFrame({"val order acc (%)": {f"tl={k}": v for k, v in val_at.items()},  # None:
              "chance (%)": {f"tl={k}": v for k, v in chance_at.items()}},  # no val videos
             dtype=float).mul(100).round(1)

# %%
clock = [r.dir.name for r in [*runs.values(), *(x for c in curriculum.values()
                                                for x in (c["curriculum"], c["scratch"]))]
         if r["stopped_by_budget"]]
record(RESULTS, "02_pretraining", {
    "setting": profile.setting, "stopped_by_clock": clock,
    "order": {a: {k: m[k] for k in ("test_order_acc", "chance", "epochs_run", "test_videos")}
              for a, m in runs.items()},
    "curriculum": {t: {"curriculum": r["curriculum"]["test_order_acc"],
                       "scratch": r["scratch"]["test_order_acc"], "epochs": epochs,
                       "chance": r["scratch"]["chance"], "gain_points": r["gain_points"],
                       **{f"{n}_val_acc": [h["val_acc"] for h in r[n].history()]
                          for n in ("curriculum", "scratch")}} for t, r in curriculum.items()},
    "equal_training": {"epochs": epochs, "val_order_acc": val_at, "chance": chance_at}})
