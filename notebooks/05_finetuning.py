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
# # 05 · Fine-tuning for action recognition
#
# The real test of a pretext task is what its features are worth for the task one cares about.
# Here the backbone of each order network from notebook 02 initialises an action classifier:
# a new linear layer `feature_dim -> classes` is added and the whole network is fine-tuned on
# the action labels (the paper's Table V). The same network started from **random** weights,
# with the same data, epochs, budget and seeds, is the comparison.
#
# Two styles of the synthetic set stand in for the paper's two datasets:
#
# - the **main style** (UCF101 stand-in), the one the order networks were pretrained on;
# - the **second style** (HMDB51 stand-in), with other looks and partly other classes, **never
#   seen in pretraining**: the same main-style order checkpoint is fine-tuned on it.
#
# Testing follows the paper: several evenly spaced clips per test video. **Clip-level**
# accuracy scores every clip on its own; **video-level** accuracy classifies a video by the
# mean of its clips' logits. The two are reported apart, never mixed.
#
# A finished run (its `metrics.json` exists) is loaded instead of retrained.

# %% tags=["parameters"]
PROFILE = "teaching"    # smoke (seconds), teaching (minutes on a laptop CPU), paper (GPUs)
DATA_ROOT = None        # None: the synthetic set, generated here on first use
RUN_ROOT = "runs/notebooks"  # checkpoints and metrics of the runs
RESULTS = None          # results.json of a batch reproduction (None: record nothing)
DEVICE = "auto"         # auto picks CUDA, then MPS, then the CPU
SEED = 0
ARCHS = ["r3d", "c3d", "r21d"]
SEEDS = [0, 1]           # fine-tuning seeds; the table shows the mean over them
SWEEP_ARCH = "r3d"       # the backbone of the freezing sweep
LABEL_FRACTION = 1.0     # fraction of the training labels used for fine-tuning

# %%
import pandas as pd
from vcop_lab import viz
from vcop_lab.finetune import compare_inits, freeze_sweep, summary_line
from vcop_lab.paths import synthetic_dirs
from vcop_lab.pretrain import pretrain
from vcop_lab.profiles import get_profile
from vcop_lab.results import record
from vcop_lab.runtime import pick_device

profile = get_profile(PROFILE)
device = str(pick_device(DEVICE))
dirs = synthetic_dirs(PROFILE, DATA_ROOT)

# %%
root = dirs["main"]
STYLES = {"main": "main style (UCF101 stand-in)", "second": "second style (HMDB51 stand-in)"}
ORDER = f"order {profile.setting}"
print(f"{profile.name} profile on {device}: up to {profile.ft_epochs} epochs and "
      f"{profile.ft_max_minutes} min per run, {profile.eval_clips} test clips per video, "
      f"{100 * LABEL_FRACTION:g}% of the training labels, seeds {SEEDS}")

# %% [markdown]
# ## The order checkpoints
#
# Each backbone's order network at the profile's setting, from notebook 02 (trained here when
# notebook 02 has not run). Its `best.pt` (lowest validation loss) initialises the fine-tunes.

# %%
order_ckpt = {}
for arch in dict.fromkeys(ARCHS + [SWEEP_ARCH]):
    m = pretrain(root, runs=RUN_ROOT, profile=profile, arch=arch, seed=SEED, device=device)
    order_ckpt[arch] = m.checkpoint
    print(f"{arch} {m['setting']}: test order accuracy {100 * m['test_order_acc']:.1f}% "
          f"(chance {100 * m['chance']:.1f}%)")

# %% [markdown]
# ## Random against order-pretrained (Table V)
#
# For each style and backbone, `compare_inits` fine-tunes from random weights and from the
# order checkpoint, once per seed, each into the folder its settings name under
# `RUN_ROOT/action/`.
# The table is laid out like the paper's Table V: a row per backbone and initialisation, a
# column per dataset, mean **video-level** test accuracy over the seeds in percent, and the
# gain of order pretraining over random initialisation in points.

# %%
runs = {style: {} for style in STYLES}
for style in STYLES:
    for arch in ARCHS:
        runs[style][arch] = compare_inits(dirs[style], RUN_ROOT, order_ckpt[arch],
                                          seeds=tuple(SEEDS), profile=profile, arch=arch,
                                          label_fraction=LABEL_FRACTION, device=device)
        for init in ("random", "order"):
            for metrics in runs[style][arch][init]["runs"].values():
                print(f"{style}: {summary_line(metrics)}")


# %%
def table_v(key: str) -> pd.DataFrame:
    rows = {}
    for arch in ARCHS:
        random_, order = ({s: 100 * runs[s][arch][init][key] for s in STYLES}
                          for init in ("random", "order"))
        rows[arch, "random"], rows[arch, ORDER] = random_, order
        rows[arch, "gain (points)"] = {s: order[s] - random_[s] for s in STYLES}
    any_run = {s: runs[s][ARCHS[0]]["random"]["runs"][SEEDS[0]] for s in STYLES}
    rows["chance", ""] = {s: 100 * any_run[s]["chance"] for s in STYLES}
    table = pd.DataFrame(rows).T.rename(columns=STYLES)
    table.index.names = ["architecture", "initialisation"]
    return table.round(1)


# %%
video_table = table_v("mean_test_video_acc")
video_table.columns.name = "VIDEO-level test accuracy (%)"
print(f"Table V, video level: mean over seeds {SEEDS}, {profile.eval_clips} clips per video "
      "averaged before the argmax")
video_table

# %%
clip_table = table_v("mean_test_clip_acc")
clip_table.columns.name = "CLIP-level test accuracy (%)"
print(f"Table V, clip level: mean over seeds {SEEDS}, every test clip scored on its own")
clip_table

# %%
viz.grouped_bars({f"{arch}\n{style}": {"random": video_table.loc[(arch, "random"), label],
                                        ORDER: video_table.loc[(arch, ORDER), label]}
                  for style, label in STYLES.items() for arch in ARCHS},
                 ylabel="video-level test accuracy (%)",
                 title=f"Random against order-pretrained ({profile.name} profile, "
                       f"mean of {len(SEEDS)} seeds)")

# %%
gains = {s: {a: round(100 * (runs[s][a]["order"]["mean_test_video_acc"]
                             - runs[s][a]["random"]["mean_test_video_acc"]), 2) for a in ARCHS}
         for s in STYLES}
per_seed = {s: {a: {i: {k: runs[s][a][i][k] for k in ("test_video_acc", "test_clip_acc")}
                    for i in ("random", "order")} for a in ARCHS} for s in STYLES}
for s, label in STYLES.items():
    print(f"{label}, video level, order minus random over seeds {SEEDS}: " + ", ".join(
        f"{a} {gains[s][a]:+.1f} points (per seed: random "
        f"{[round(100 * v, 1) for v in per_seed[s][a]['random']['test_video_acc']]}, order "
        f"{[round(100 * v, 1) for v in per_seed[s][a]['order']['test_video_acc']]})"
        for a in ARCHS))

# %% [markdown]
# How to read it: a positive gain on the main style says that the order task taught the
# backbone something about motion that the labels alone did not teach in the same budget. The
# second style is the harder test: its videos and some of its classes were never seen in
# pretraining, so a gain there is a gain of *transferable* features. With two seeds the
# spread between seeds (recorded below) tells how much of a gain is noise. At the smoke profile
# the runs are far too short for any of this to mean something; use the teaching profile.

# %% [markdown]
# ## Hierarchical fine-tuning (Fig. 10)
#
# How much of the pretrained network should be fine-tuned? The sweep freezes the stages conv1 up
# to and including `conv k` (their weights and batch-norm statistics stay as pretrained) and
# fine-tunes the rest, from the same order checkpoint on the main style, for k = none, 1, ...,
# 5. `none` is the same full fine-tune as in the table (the same run, not trained again). The
# dashed line is the random-init network fine-tuned in full (mean over the seeds). In the
# paper, freezing conv1 alone beats fine-tuning everything: the first layer's low-level filters
# are already good, and freezing them regularises.

# %%
sweep = freeze_sweep(root, RUN_ROOT, order_ckpt[SWEEP_ARCH],
                     profile=profile, arch=SWEEP_ARCH, seed=SEED,
                     label_fraction=LABEL_FRACTION, device=device)
sweep_acc = {stage: m["test_video_acc"] for stage, m in sweep.items()}
sweep_minutes = sum(m["wall_minutes"] for m in sweep.values())
rows = {stage: {"video-level acc (%)": 100 * m["test_video_acc"],
                "clip-level acc (%)": 100 * m["test_clip_acc"],
                "trainable params": m["trainable_params"], "epochs": m["epochs_run"],
                "minutes": m["wall_minutes"]} for stage, m in sweep.items()}
pd.DataFrame.from_dict(rows, orient="index").rename_axis("frozen up to").round(2)

# %%
main_random = runs["main"].get(SWEEP_ARCH, {}).get("random")
baseline = main_random["mean_test_video_acc"] if main_random else None
print(f"the sweep's {len(sweep)} fine-tunes took {sweep_minutes:.1f} minutes in all "
      f"(training and testing, on {sweep[next(iter(sweep))]['device']})")
viz.freeze_sweep(sweep_acc, baseline=baseline, baseline_label="random init, full fine-tune",
                 title=f"{SWEEP_ARCH} from {ORDER}: video-level test accuracy by frozen depth")

# %% [markdown]
# ## Where the best network still errs
#
# The video-level confusion matrix of the best main-style run (rows: true class, columns:
# prediction, each row normalised). Time-reversed classes (fall / rise, rotate_cw /
# rotate_ccw) can only be told apart by the direction of motion: confusions between them say
# that the network has not learnt it.

# %%
candidates = [(m["test_video_acc"], arch, init, seed)
              for arch, result in runs["main"].items() for init in ("order", "random")
              for seed, m in result[init]["runs"].items()]
acc, arch, init, seed = max(candidates, key=lambda c: c[0])  # ties: the first, order-init
best = runs["main"][arch][init]["runs"][seed]
viz.confusion_matrix(best["video_confusion"], best["classes"],
                     title=f"{arch}, init {init}, seed {seed}: video-level accuracy "
                           f"{100 * acc:.1f}% (main style)")

# %%
recorded = record(RESULTS, "05_finetuning", {
    "setting": profile.setting, "seeds": SEEDS, "label_fraction": LABEL_FRACTION,
    "table_video_acc": {s: {" ".join(k).strip(): v for k, v in video_table[label].items()}
                        for s, label in STYLES.items()},
    "table_clip_acc": {s: {" ".join(k).strip(): v for k, v in clip_table[label].items()}
                       for s, label in STYLES.items()},
    "per_seed": per_seed,
    "gain_video_points": gains,
    "order_beats_random_by_5_points": {s: {a: bool(g >= 5) for a, g in d.items()}
                                       for s, d in gains.items()},
    "freeze_sweep": {"arch": SWEEP_ARCH, "seed": SEED, "test_video_acc": sweep_acc,
                     "random_baseline": baseline,
                     "minutes": sweep_minutes},
    "best_run": {"arch": arch, "init": init, "seed": seed, "test_video_acc": acc}})
