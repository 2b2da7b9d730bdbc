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
# # 01 · Sampling and shuffling clip tuples
#
# A **setting** `cl-it-tl` takes `tl` clips of `cl` consecutive frames, `it` frames apart. The
# clips, in chronological order, are shuffled by one of the `tl!` permutations, and the network
# has to say which one. The label is the permutation's index in the lexicographic list.

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

# %%
import pandas as pd
from IPython.display import display
from vcop_lab import notebook, viz, widgets
from vcop_lab.data.datasets import OrderTupleDataset
from vcop_lab.data.manifest import data_root, load_manifest, select_split
from vcop_lab.data.sampling import parse_setting, permutations_for
from vcop_lab.results import record

nb = notebook.start(PROFILE, DEVICE, DATA_ROOT, RUN_ROOT, RESULTS, SEED, datasets=DATASETS)
profile, records = nb.profile, load_manifest(nb.dirs["main"])
root = data_root(nb.dirs["main"])  # where the videos are (a prepared folder names it)

# %%
setting = parse_setting(profile.setting)
print(f"setting {setting}: a tuple spans {setting.span} frames; "
      f"{setting.num_orders} orders, chance = {100 * setting.chance:.1f}%")
pd.DataFrame({"order": [str(p) for p in permutations_for(setting.tl)]}).rename_axis("label")

# %% [markdown]
# ## Permutation explorer
#
# Pick a video, `cl`, `it`, `tl` and a permutation: the top row shows the clips in
# chronological order, the bottom row the shuffled tuple the network sees, with its class
# index. When the tuple does not fit in the video, the explorer says so (the toolkit never
# repeats frames to make a tuple fit: that would make the task easier than it is).

# %%
display(widgets.permutation_explorer(records, root, resize=profile.resize, crop=profile.crop,
                                     setting=profile.setting))

# %% [markdown]
# The same view as a static figure (this is what a headless run keeps):

# %%
widgets.show_permutation_figure(records, root, resize=profile.resize, crop=profile.crop,
                                setting=profile.setting)

# %% [markdown]
# ## Are the orders balanced?
#
# Training draws the start frame uniformly over the valid range and the permutation uniformly
# over all `tl!` orders. We draw tuples from the training set and count the labels.

# %%
train = select_split(records, "train")
dataset = OrderTupleDataset(train, root, setting, profile.resize, profile.crop, train=True,
                            seed=SEED)
draws = min(60 * setting.num_orders, 20 * len(dataset))
labels = pd.Series([dataset[i][1] for i in range(draws)]).value_counts().sort_index()
expected = draws / setting.num_orders
chi2 = float(((labels - expected) ** 2 / expected).sum())
print(f"{draws} tuples, chi-square {chi2:.1f} on {setting.num_orders - 1} degrees of freedom")
viz.grouped_bars({"drawn": labels.to_dict()}, ylabel="tuples", title="Order labels drawn")

# %%
record(RESULTS, "01_clip_shuffling", {"setting": str(setting), "span": setting.span,
                                      "orders": setting.num_orders, "chance": setting.chance,
                                      "balance_draws": draws, "balance_chi2": chi2})
