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
# # 03 · What the order network gets right
#
# Order accuracy is reported next to chance (`1/tl!`). This notebook ranks the action classes
# by order accuracy (the paper's Fig. 5), shows which permutations get confused, what the
# **sample curriculum** drops and gains, and reproduces the paper's argument for clips over
# single frames (its Fig. 1) as a measured result.

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
ARCH = None             # None: the profile's first backbone
SAMPLE_THRESHOLD = 0.8
SAMPLE_EXTRA_EPOCHS = None  # epochs after dropping the easy videos (None: the profile's)
GAME_ROUNDS = 12        # rounds the scripted learner plays in "Order these clips yourself"

# %%
import pandas as pd
from IPython.display import display
from vcop_lab import notebook, viz, widgets
from vcop_lab.curriculum import frames_vs_clips, reversed_pair_accuracy, sample_curriculum
from vcop_lab.data.sampling import parse_setting, permutations_for
from vcop_lab.data.synthetic import PERIODIC_CLASSES, TIME_REVERSED_PAIRS
from vcop_lab.evaluate.order_game import identity_learner, order_game, play_rounds
from vcop_lab.pretrain import pretrain
from vcop_lab.results import record

nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, ARCH, DATASETS)
profile, device, root, ARCH = nb.profile, nb.device, nb.dirs["main"], nb.archs[0]
print(nb.describe())

# %%
metrics = pretrain(root, runs=nb.run_root, profile=profile, arch=ARCH, seed=SEED, device=device)
print(f"{ARCH} {metrics['setting']}: test order accuracy {100 * metrics['test_order_acc']:.1f}% "
      f"(chance {100 * metrics['chance']:.1f}%) over {metrics['test_tuples']} test tuples "
      f"= {metrics['test_videos']} videos x every order")

# %% [markdown]
# ## Per class, ranked
#
# Motion that speeds up (falling, sliding, growing) should be easy; periodic motion
# (oscillate, orbit) has a genuinely ambiguous clip order and should sit near chance. The
# slowing-down reversals (rise, rotate_ccw) are the hard cases: a network that learnt only
# "faster is later" gets them exactly wrong, and needs the direction of motion to get them
# right.

# %%
periodic = f" (periodic: {', '.join(PERIODIC_CLASSES)})" if nb.is_synthetic() else ""
viz.per_class_bar(metrics["per_class_order_acc"], chance=metrics["chance"],
                  title=f"{ARCH} order accuracy per class{periodic}")

# %%
perms = permutations_for(parse_setting(metrics["setting"]).tl)
viz.permutation_confusion(metrics["permutation_confusion"], perms)

# %% [markdown]
# ## Order these clips yourself
#
# Now you play the network's game on the same test tuples: each round shows the clips of one
# test video, shuffled. Give each clip its place in time (which came 1st, 2nd, 3rd) and press
# **Check**: you see the true order, the network's prediction and its probability for every one
# of the `tl!` orders (true order green, its choice red when wrong, dashed line at chance).
# The table keeps score, you against the network, overall and per class. Which classes are
# hard for you, and are they the ones that are hard for the network?

# %%
game = order_game(metrics.checkpoint, root, device=device)
display(widgets.order_game_widget(game, seed=SEED))

# %% [markdown]
# The first round as a static figure, revealed (this is what a headless run keeps):

# %%
widgets.show_order_game_figure(game, seed=SEED)

# %% [markdown]
# A scripted learner plays `GAME_ROUNDS` rounds (the same rounds, from the same seed): one who
# cannot tell and always answers the order shown (the identity). Its expected score is chance;
# the network should do better.

# %%
played = play_rounds(game, GAME_ROUNDS, identity_learner, seed=SEED)
print(f"{played['rounds']} rounds: learner who always answers the identity "
      f"{100 * played['learner']:.0f}%, network {100 * played['model']:.0f}%, "
      f"chance {100 * played['chance']:.0f}%")
pd.DataFrame(played["per_class"]).T

# %% [markdown]
# ## The sample curriculum
#
# After convergence, each training video's probability of the correct order is recorded over
# several draws. Videos that were right every time with probability above the threshold are
# easy: they are dropped, and training continues on the rest. The comparison continues on all
# videos for the same number of epochs, from the same checkpoint, with the same seed.

# %%
sample = sample_curriculum(root, nb.run_root, metrics.checkpoint, threshold=SAMPLE_THRESHOLD,
                           extra_epochs=SAMPLE_EXTRA_EPOCHS or profile.curriculum_epochs,
                           profile=profile, seed=SEED, device=device)
print(f"dropped {sample['dropped']} of {sample['train_videos']} training videos as easy; "
      f"test order accuracy: before {100 * sample['base']:.1f}%, continuing on the hard "
      f"ones {100 * sample['continue_on_hard']:.1f}%, "
      f"on all {100 * sample['continue_on_all']:.1f}%")
pd.Series(sample["dropped_per_class"], name="easy videos dropped").to_frame().T

# %% [markdown]
# ## Clips against single frames
#
# The same order task with `cl=1` (single frames at the clips' first frames, as frame-order
# methods do) cannot see the direction of motion: for a class and its time reversal (fall and
# rise) a set of frames is ordered one way or the other with equal right. Clips carry the
# direction. (On real data, which has no exact time reversals, every class is shown.)

# %%
fvc = frames_vs_clips(root, nb.run_root, profile=profile, arch=ARCH, seed=SEED, device=device)
pairs = (TIME_REVERSED_PAIRS if nb.is_synthetic()
         else [(c,) for c in fvc["clips"]["per_class_order_acc"]])
table = pd.DataFrame({kind: reversed_pair_accuracy(fvc[kind], pairs)
                      for kind in ("clips", "frames")})
shown = "Time-reversed classes" if nb.is_synthetic() else "Every class"
viz.grouped_bars(table.T.to_dict("index"), ylabel="order accuracy",
                 title=f"{shown}: clips {fvc['clip_setting']} vs frames "
                       f"{fvc['frame_setting']}", chance=metrics["chance"])

# %%
table.loc["mean"] = table.mean()
runs = [metrics, fvc["frames"]]
record(RESULTS, "03_order_accuracy", {
    "arch": ARCH, "test_order_acc": metrics["test_order_acc"], "chance": metrics["chance"],
    "per_class_order_acc": metrics["per_class_order_acc"],
    "sample_curriculum": {k: sample[k] for k in ("threshold", "dropped", "kept", "base",
                                                  "extra_epochs", "continue_on_hard",
                                                  "continue_on_all")},
    "frames_test_order_acc": fvc["frames"]["test_order_acc"],
    "order_game": {k: played[k] for k in ("rounds", "learner", "model", "chance", "per_class",
                                          "scripted_learner")},
    "reversed_pairs": {"clips": table.loc["mean", "clips"], "frames": table.loc["mean", "frames"]}
    if nb.is_synthetic() else None,
    "stopped_by_clock": [r.dir.name for r in runs if r["stopped_by_budget"]]})
table.round(3)
