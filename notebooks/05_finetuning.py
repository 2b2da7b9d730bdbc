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
PROFILE = None          # smoke (seconds), teaching (minutes on a laptop CPU), paper (GPUs);
#                         None: the lab's ($VCOP_LAB_PROFILE), else teaching
DATASETS = None         # prepared folders by role, e.g. {"main": "data/ucf101-s1"}; else: synth
DATA_ROOT = None        # where generated (synthetic) data goes (None: data/ of the home)
RUN_ROOT = None         # runs, shared by every notebook and the batch run (None: runs/ of home)
RESULTS = None          # results.json of a batch reproduction (None: record nothing)
DEVICE = "auto"         # auto picks CUDA, then MPS, then the CPU
SEED = 0
ARCHS = None            # None: the profile's backbones ("all": c3d, r3d and r21d)
SEEDS = None            # fine-tuning seeds (None: the profile's); tables show their mean
LABEL_FRACTIONS = None  # fractions of the training labels (None: the profile's, e.g. 1, 0.1)
SWEEP_ARCH = None       # the backbone of the freezing sweep (None: the first of ARCHS)
SWEEP_LABEL_FRACTION = None  # the sweep's fraction of the labels (None: the profile's)
SALIENCY_STAGE = "conv3"  # the backbone stage Grad-CAM explains (conv1 .. conv5)
SALIENCY_VIDEOS = 24    # test videos the inside-mask fractions average over

# %%
import pandas as pd
from IPython.display import display
from vcop_lab import notebook, viz
from vcop_lab.evaluate import saliency
from vcop_lab.finetune import compare_inits, freeze_sweep, summary_line
from vcop_lab.pretrain import pretrain
from vcop_lab.results import record

nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, ARCHS, DATASETS)
profile, device, dirs, ARCHS = nb.profile, nb.device, nb.dirs, nb.archs
SEEDS = list(SEEDS or profile.seeds)
LABEL_FRACTIONS = list(LABEL_FRACTIONS or profile.label_fractions)
SWEEP_ARCH = SWEEP_ARCH or ARCHS[0]
SWEEP_LABEL_FRACTION = SWEEP_LABEL_FRACTION or profile.sweep_label_fraction

# %%
root = dirs["main"]
STYLES = {"main": "main style (UCF101 stand-in)", "second": "second style (HMDB51 stand-in)"}
ORDER = f"order {profile.setting}"
print(f"{nb.describe()}\n{profile.ft_epochs} epochs per fine-tune, {profile.eval_clips} test "
      f"clips per video, label fractions {LABEL_FRACTIONS}, seeds {SEEDS}")

# %% [markdown]
# ## The order checkpoints
#
# Each backbone's order network at the profile's setting, from notebook 02 (trained here when
# notebook 02 has not run). Its `best.pt` (lowest validation loss) initialises the fine-tunes.

# %%
order_ckpt = {}
for arch in dict.fromkeys(ARCHS + [SWEEP_ARCH]):
    m = pretrain(root, runs=nb.run_root, profile=profile, arch=arch, seed=SEED, device=device)
    order_ckpt[arch] = m.checkpoint
    print(f"{arch} {m['setting']}: test order accuracy {100 * m['test_order_acc']:.1f}% "
          f"(chance {100 * m['chance']:.1f}%)")

# %% [markdown]
# ## Random against order-pretrained (Table V)
#
# For each fraction of the labels, style and backbone, `compare_inits` fine-tunes from random
# weights and from the order checkpoint, once per seed, each into the folder its settings name
# under `RUN_ROOT/action/`. With fewer labels, only the main style is fine-tuned. The tables are laid out like the paper's Table V: a row per
# backbone and initialisation, a column per dataset, mean test accuracy over the seeds in
# percent, and the gain of order pretraining over random initialisation in points.

# %%
at = {f: STYLES if f == max(LABEL_FRACTIONS) else ["main"] for f in LABEL_FRACTIONS}
runs = {f: {s: {a: compare_inits(dirs[s], nb.run_root, order_ckpt[a], seeds=tuple(SEEDS),
                                 profile=profile, arch=a, label_fraction=f, device=device)
                for a in ARCHS} for s in at[f]} for f in LABEL_FRACTIONS}
for f, by_style in runs.items():
    for s, by_arch in by_style.items():
        for a, result in by_arch.items():
            for init in ("random", "order"):
                for metrics in result[init]["runs"].values():
                    print(f"{s}: {summary_line(metrics)}")


# %%
def table_v(fraction: float, key: str) -> pd.DataFrame:
    rows, by_style = {}, runs[fraction]
    for arch in ARCHS:
        random_, order = ({s: 100 * by_style[s][arch][init][key] for s in by_style}
                          for init in ("random", "order"))
        rows[arch, "random"], rows[arch, ORDER] = random_, order
        rows[arch, "gain (points)"] = {s: order[s] - random_[s] for s in by_style}
    any_run = {s: by_style[s][ARCHS[0]]["random"]["runs"][SEEDS[0]] for s in by_style}
    rows["chance", ""] = {s: 100 * any_run[s]["chance"] for s in by_style}
    table = pd.DataFrame(rows).T.rename(columns=STYLES)
    table.index.names = ["architecture", "initialisation"]
    return table.round(1)


# %%
for f in LABEL_FRACTIONS:
    for key, level in (("mean_test_video_acc", "VIDEO"), ("mean_test_clip_acc", "CLIP")):
        table = table_v(f, key)
        table.columns.name = f"{level}-level test accuracy (%), {100 * f:g}% of the labels"
        display(table)
print(f"mean over seeds {SEEDS}; video level averages {profile.eval_clips} clips' logits "
      "before the argmax, clip level scores every test clip on its own")

# %%
video = {f: table_v(f, "mean_test_video_acc") for f in LABEL_FRACTIONS}
viz.grouped_bars({f"{a}, {100 * f:g}% labels\n{s}": {
    init: video[f].loc[(a, init), STYLES[s]] for init in ("random", ORDER)}
    for f in LABEL_FRACTIONS for s in at[f] for a in ARCHS},
    ylabel="video-level test accuracy (%)",
    title=f"Random against order-pretrained ({profile.name} profile, mean of {len(SEEDS)} "
          "seed(s))")

# %% [markdown]
# How to read it: a positive gain on the main style says that the order task taught the
# backbone something about motion that the labels alone did not teach in the same budget. The
# second style is the harder test: its videos and some of its classes were never seen in
# pretraining, so a gain there is a gain of *transferable* features. With fewer labels there
# is less to learn from, and what pretraining brings counts more. At the smoke profile the
# runs are far too short for any of this to mean something; use the teaching profile.

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
sweep = freeze_sweep(root, nb.run_root, order_ckpt[SWEEP_ARCH], profile=profile, arch=SWEEP_ARCH,
                     seed=SEED, label_fraction=SWEEP_LABEL_FRACTION, device=device)
sweep_acc = {stage: m["test_video_acc"] for stage, m in sweep.items()}
sweep_minutes = sum(m["wall_minutes"] for m in sweep.values())
rows = {stage: {"video-level acc (%)": 100 * m["test_video_acc"],
                "clip-level acc (%)": 100 * m["test_clip_acc"],
                "trainable params": m["trainable_params"], "epochs": m["epochs_run"],
                "minutes": m["wall_minutes"], "reused": m.reused} for stage, m in sweep.items()}
pd.DataFrame.from_dict(rows, orient="index").rename_axis("frozen up to").round(2)

# %%
main_random = runs.get(SWEEP_LABEL_FRACTION, {}).get("main", {}).get(SWEEP_ARCH, {})
baseline = main_random.get("random", {}).get("mean_test_video_acc")
print(f"the sweep's {len(sweep)} fine-tunes took {sweep_minutes:.1f} minutes in all, "
      f"{100 * SWEEP_LABEL_FRACTION:g}% of the labels")
viz.freeze_sweep(sweep_acc, baseline=baseline, baseline_label="random init, full fine-tune",
                 title=f"{SWEEP_ARCH} from {ORDER}: video-level test accuracy by frozen depth")

# %% [markdown]
# ## Where the best network still errs
#
# The video-level confusion matrix of the best main-style run at the largest fraction of the
# labels (rows: true class, columns: prediction, each row normalised). Time-reversed classes (fall /
# rise, rotate_cw / rotate_ccw) can only be told apart by the direction of motion: confusions
# between them say that the network has not learnt it.

# %%
candidates = [(m["test_video_acc"], arch, init, seed)
              for arch, result in runs[max(LABEL_FRACTIONS)]["main"].items()
              for init in ("order", "random") for seed, m in result[init]["runs"].items()]
acc, arch, init, seed = max(candidates, key=lambda c: c[0])  # ties: the first, order-init
best = runs[max(LABEL_FRACTIONS)]["main"][arch][init]["runs"][seed]
viz.confusion_matrix(best["video_confusion"], best["classes"],
                     title=f"{arch}, init {init}, seed {seed}: video-level accuracy "
                           f"{100 * acc:.1f}% (main style)")

# %% [markdown]
# ## Where the network looks
#
# Accuracy says how well a network does, not what it looks at. On the synthetic set the answer
# is known: only the moving object carries the action, so a network that has learnt the task
# should look at it. **Grad-CAM** asks a backbone stage (`SALIENCY_STAGE`): the gradient of the
# target score with respect to the stage's activation, averaged over time and space, weighs each
# channel; the positive part of the weighted sum, upsampled to the clip, is the map. The target
# is the logit of the true order for the order network (averaged over every shuffling of the
# tuple's clips) and the logit of the true class, clip by clip, for the action network.
#
# Why not **gradient x input**, the simplest saliency? At the pixel level the gradient of a
# small 3D CNN is mostly noise and texture edges, spread over the whole textured background;
# Grad-CAM is coarse (a stage's grid), but it says which *region* the decision used, which is
# the question here. conv3 is three stages deep, so about the task, and still a 4x14x14 grid
# at the teaching crop (a few cells per object); conv4 is a 2x7x7 grid whose cells are about
# half the object, and conv5 a single step in time.
#
# The object mask is the exact shape of the moving object from `ground_truth.jsonl`, through
# the same resize and centre crop as the frames. The measure is the fraction of saliency mass
# inside it, against **chance**: the mask's share of the pixels, what a map spread evenly gets.
# Random networks of the same architecture are the comparison.

# %%
SAL_ARCH, top = ARCHS[0], runs[max(LABEL_FRACTIONS)]["main"][ARCHS[0]]
networks = {
    "order, pretrained": saliency.load_network("order", order_ckpt[SAL_ARCH]),
    "order, random": saliency.load_network("order", "random", profile, SAL_ARCH, SEED),
    "action, from order": saliency.load_network(
        "action", top["order"]["runs"][SEEDS[0]].checkpoint),
    "action, from random": saliency.load_network(
        "action", top["random"]["runs"][SEEDS[0]].checkpoint)}
print(f"{SAL_ARCH}: Grad-CAM at {SALIENCY_STAGE}; the action networks are the seed-{SEEDS[0]} "
      f"fine-tunes with {100 * max(LABEL_FRACTIONS):g}% of the labels")

# %%
import time

t0, synthetic = time.perf_counter(), nb.is_synthetic()
ex = saliency.saliency_example(root, networks, profile, stage=SALIENCY_STAGE,
                               synthetic=synthetic)
rows = {f"{k}\n{100 * ex['inside'][k]:.0f}% inside" if k in ex["inside"] else k: list(m)
        for k, m in ex["maps"].items()}
viz.saliency_overlay(list(ex["frames"]), rows, None if ex["mask"] is None else list(ex["mask"]),
                     title=f"Grad-CAM at {SALIENCY_STAGE}: {ex['record'].label}, "
                           f"{ex['record'].path.rsplit('/', 1)[-1]} (cyan: the moving object)")

# %%
if synthetic:
    sal = saliency.saliency_report(root, networks, profile, SALIENCY_VIDEOS, SALIENCY_STAGE)
    table = pd.DataFrame({k: {"inside the mask (%)": 100 * v["inside_fraction"],
                              "chance: mask area (%)": 100 * v["mask_area_fraction"],
                              "ratio to chance": v["ratio"], "videos": v["videos"]}
                          for k, v in sal.items()}).T.rename_axis("network")
    display(table.round(2))
else:
    sal = {"skipped": "no object masks: the main data is not the synthetic set"}
    print("real data has no object masks: the fractions inside the mask are not measured")
print(f"saliency (figure and table) took {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# How to read it: a ratio of 1 is a map that ignores the object; the higher, the more of the
# decision rests on the object's pixels. Compare each trained network with its random
# counterpart: if the order task taught the backbone to follow the moving object, the
# pretrained order network's ratio is the higher, and an action network fine-tuned from it
# may keep the habit. A random network is not uniform either: its maps follow whatever is
# bright or edged, the object included. The fractions are small because the object is small
# (a few percent of the crop) and a stage's cell is several pixels wide: even a map centred
# on the object spills around it. At the smoke profile the networks have barely
# trained; use the teaching profile.

# %%
def scores(result):
    return {"video": result["mean_test_video_acc"], "clip": result["mean_test_clip_acc"],
            "video_per_seed": result["test_video_acc"], "clip_per_seed": result["test_clip_acc"]}


# %%
everything = [m for by_s in runs.values() for by_a in by_s.values() for r in by_a.values()
              for i in ("random", "order") for m in r[i]["runs"].values()] + list(sweep.values())
recorded = record(RESULTS, "05_finetuning", {
    "setting": profile.setting, "seeds": SEEDS, "clips_per_video": profile.eval_clips,
    "table": {f: {s: {a: {i: scores(r[i]) for i in ("random", "order")} for a, r in by_a.items()}
                  for s, by_a in by_s.items()} for f, by_s in runs.items()},
    "chance": {s: runs[max(LABEL_FRACTIONS)][s][ARCHS[0]]["random"]["runs"][SEEDS[0]]["chance"]
               for s in STYLES},
    "freeze_sweep": {"arch": SWEEP_ARCH, "seed": SEED, "label_fraction": SWEEP_LABEL_FRACTION,
                     "video_acc": sweep_acc, "random_baseline": baseline,
                     "clip_acc": {k: m["test_clip_acc"] for k, m in sweep.items()}},
    "saliency": {"arch": SAL_ARCH, "stage": SALIENCY_STAGE, "networks": sal},
    "stopped_by_clock": [m.dir.name for m in everything if m["stopped_by_budget"]]})
