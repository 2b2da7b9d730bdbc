# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
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
PROFILE = "teaching"    # smoke (seconds), teaching (minutes on a laptop CPU), paper (GPUs)
DATA_ROOT = None        # None: the synthetic set, generated here on first use
RUN_ROOT = "runs/notebooks"  # checkpoints and metrics of the runs
RESULTS = None          # results.json of a batch reproduction (None: record nothing)
DEVICE = "auto"         # auto picks CUDA, then MPS, then the CPU
SEED = 0
ARCHS = ["r3d", "c3d", "r21d"]
CURRICULUM_ARCH = "r3d"
CURRICULUM_TLS = [4]     # add 5 to continue the curriculum to tl=5
CURRICULUM_EPOCHS = None  # epochs of each curriculum stage (None: a third of the profile's)

# %%
import pandas as pd
from vcop_lab import viz
from vcop_lab.curriculum import compare_task_curriculum
from vcop_lab.paths import synthetic_dirs
from vcop_lab.pretrain import pretrain
from vcop_lab.profiles import get_profile
from vcop_lab.results import record
from vcop_lab.runtime import pick_device

profile = get_profile(PROFILE)
device = pick_device(DEVICE)
root = synthetic_dirs(PROFILE, DATA_ROOT)["main"]
print(f"{profile.name} profile on {device}: setting {profile.setting}, width {profile.width}, "
      f"input {profile.setting.split('-')[0]}x{profile.crop}x{profile.crop}")

# %% [markdown]
# ## Train each backbone at the profile's setting
#
# On a CPU the teaching profile caps each run at a few minutes; the budget, the epochs actually
# run and the throughput are recorded in each run's `metrics.json`.

# %%
runs = {arch: pretrain(root, runs=RUN_ROOT, profile=profile, arch=arch, seed=SEED,
                       device=str(device)) for arch in ARCHS}
table = pd.DataFrame({arch: {"test order acc (%)": 100 * m["test_order_acc"],
                             "chance (%)": 100 * m["chance"], "epochs": m["epochs_run"],
                             "train minutes": m["train_minutes"],
                             "clips / s": m["clips_per_second"]} for arch, m in runs.items()}).T
table.round(1)

# %%
histories = {arch: run.history() for arch, run in runs.items()}
viz.training_curves(histories, chance=runs[ARCHS[0]]["chance"])

# %% [markdown]
# ## Task curriculum against scratch
#
# Harder settings (more clips, more orders) are hard to learn from scratch. The curriculum
# initialises the tl=4 network from the tl=3 one: the backbone and the pair layer carry over,
# only the final layer is new. Both arms get the same epochs at tl=4.

# %%
base = pretrain(root, runs=RUN_ROOT, profile=profile, arch=CURRICULUM_ARCH, seed=SEED,
                device=str(device)).checkpoint
epochs = CURRICULUM_EPOCHS or max(2, profile.epochs // 3)
curriculum = compare_task_curriculum(root, RUN_ROOT, base,
                                     tls=CURRICULUM_TLS, profile=profile, arch=CURRICULUM_ARCH,
                                     seed=SEED, epochs=epochs, device=str(device))
pd.DataFrame({f"tl={tl}": {"curriculum (%)": 100 * r["curriculum"]["test_order_acc"],
                           "scratch (%)": 100 * r["scratch"]["test_order_acc"],
                           "chance (%)": 100 * r["scratch"]["chance"],
                           "gain (points)": r["gain_points"]}
              for tl, r in curriculum.items()}).round(1)

# %%
tl = CURRICULUM_TLS[0]
curves = {name: curriculum[tl][name].history() for name in ("curriculum", "scratch")}
viz.training_curves(curves, chance=curriculum[tl]["scratch"]["chance"])

# %%
record(RESULTS, "02_pretraining", {
    "device": str(device), "setting": profile.setting,
    "test_order_acc": {a: m["test_order_acc"] for a, m in runs.items()},
    "chance": runs[ARCHS[0]]["chance"],
    "train_minutes": {a: m["train_minutes"] for a, m in runs.items()},
    "clips_per_second": {a: m["clips_per_second"] for a, m in runs.items()},
    "curriculum": {tl: {"curriculum": r["curriculum"]["test_order_acc"],
                        "scratch": r["scratch"]["test_order_acc"],
                        "gain_points": r["gain_points"], "epochs": epochs}
                   for tl, r in curriculum.items()}})
