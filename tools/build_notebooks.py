"""Regenerate notebooks/*.ipynb (outputs stripped, `parameters` cell tagged).

    python tools/build_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nbbuild import code, md, params, write  # noqa: E402

NB = Path(__file__).resolve().parents[1] / "notebooks"

PARAMS = '''
PROFILE = "teaching"    # smoke (seconds), teaching (minutes on a laptop CPU), paper (GPUs)
DATA_ROOT = None        # None: the synthetic set, generated here on first use
RUN_ROOT = "runs/notebooks"  # checkpoints and metrics of the runs
RESULTS = None          # results.json of a batch reproduction (None: record nothing)
DEVICE = "auto"         # auto picks CUDA, then MPS, then the CPU
SEED = 0
'''

NOTEBOOKS = {}

NOTEBOOKS["00_tour"] = [
    md('''
# 00 · A tour of the data

This toolkit learns video features by **predicting the order of shuffled clips**. Before any
training, this notebook looks at the data it learns from:

1. the **manifest** format every command reads (one row per video);
2. the **synthetic motion dataset** the toolkit generates itself, where the action class is
   carried by *motion only*;
3. real video files, read through the same decoders.
'''),
    params(PARAMS + 'REAL_CLIPS = None      # a folder of real videos to inspect (optional)\n'),
    code('''
import pandas as pd
from IPython.display import display

from vcop_lab import viz
from vcop_lab.data.manifest import load_manifest
from vcop_lab.data.video import probe, read_frames
from vcop_lab.paths import synthetic_dirs
from vcop_lab.profiles import get_profile
from vcop_lab.results import record

profile = get_profile(PROFILE)
dirs = synthetic_dirs(PROFILE, DATA_ROOT)
dirs
'''),
    md('''
## The manifest

Every dataset, synthetic or real, is described by a `manifest.csv`: the path of each video
relative to the data folder, its label, split, the number of frames that **actually decode**
(not what the file header claims), its frame rate and size. Loading validates every row and
reports all bad rows at once.
'''),
    code('''
records = load_manifest(dirs["main"])
table = pd.DataFrame([r.__dict__ for r in records])
display(table.head())
table.pivot_table(index="label", columns="split", values="path", aggfunc="count")
'''),
    md('''
## The synthetic set: motion is the only cue

Colour, shape, size, background and start position are drawn independently of the class, so
a single frame cannot tell the class. Some classes are each other's **time reversal**
(rise / fall, grow / shrink): only the direction of time separates them, which is exactly
what clip order prediction has to learn. Periodic classes (oscillate, orbit) have a
genuinely ambiguous clip order.
'''),
    code('''
one_per_class = list({r.label: r for r in records if r.split == "train"}.values())
strips = []
for r in one_per_class:
    step = max(1, r.num_frames // 4)
    strips.append(read_frames(r.full_path(dirs["main"]), list(range(0, r.num_frames, step))[:4]))
viz.clip_strip(strips, titles=[r.label for r in one_per_class], frames_per_clip=4,
               title="Four frames of one video per class (main style)")
'''),
    md('''
Each video comes with its **ground truth** (trajectories, colours, shapes, events), which the
VideoQA notebook turns into questions and answers.
'''),
    code('''
from vcop_lab.data.synthetic import load_ground_truth

truth = load_ground_truth(dirs["main"])
example = truth[one_per_class[0].path]
{k: v for k, v in example.items() if k != "objects"} | {"objects": len(example["objects"])}
'''),
    md('''
## The second style

A second style with partly different classes and different looks stands in for HMDB51 in
cross-dataset experiments: the networks are never pretrained on it.
'''),
    code('''
second = load_manifest(dirs["second"])
shared = sorted({r.label for r in second} & {r.label for r in records})
print(f"main: {len(records)} videos, {len({r.label for r in records})} classes; "
      f"second: {len(second)} videos, {len({r.label for r in second})} classes; "
      f"shared classes: {shared}")
'''),
    md('''
## Real videos

Point `REAL_CLIPS` at a folder of videos (AVI, MP4, MKV, GIF, ...) to see how they decode:
frame counts are counted by decoding, and the backend (decord, or PyAV as fallback and for
GIF) is chosen per file. `vcop-lab inspect VIDEO...` does the same from a terminal.
'''),
    code('''
rows = []
if REAL_CLIPS:
    from pathlib import Path
    for path in sorted(p for p in Path(REAL_CLIPS).rglob("*") if p.is_file()):
        try:
            rows.append(probe(path).__dict__ | {"path": path.name})
        except Exception as exc:  # a tour shows unreadable files instead of stopping
            rows.append({"path": path.name, "error": str(exc)})
pd.DataFrame(rows)
'''),
    code('''
record(RESULTS, "00_tour", {"main_videos": len(records), "second_videos": len(second),
                            "main_classes": len({r.label for r in records}),
                            "second_classes": len({r.label for r in second}),
                            "real_clips_read": sum("error" not in r for r in rows)})
'''),
]

NOTEBOOKS["01_clip_shuffling"] = [
    md('''
# 01 · Sampling and shuffling clip tuples

A **setting** `cl-it-tl` takes `tl` clips of `cl` consecutive frames, `it` frames apart. The
clips, in chronological order, are shuffled by one of the `tl!` permutations, and the network
has to say which one. The label is the permutation's index in the lexicographic list.
'''),
    params(PARAMS),
    code('''
import math

import pandas as pd
from IPython.display import display

from vcop_lab import viz, widgets
from vcop_lab.data.datasets import OrderTupleDataset
from vcop_lab.data.manifest import load_manifest, select_split
from vcop_lab.data.sampling import parse_setting, permutations_for
from vcop_lab.paths import synthetic_dirs
from vcop_lab.profiles import get_profile
from vcop_lab.results import record

profile = get_profile(PROFILE)
root = synthetic_dirs(PROFILE, DATA_ROOT)["main"]
records = load_manifest(root)
'''),
    code('''
setting = parse_setting(profile.setting)
print(f"setting {setting}: a tuple spans {setting.span} frames; "
      f"{setting.num_orders} orders, chance = {100 * setting.chance:.1f}%")
pd.DataFrame({"order": [str(p) for p in permutations_for(setting.tl)]}).rename_axis("label")
'''),
    md('''
## Permutation explorer

Pick a video, `cl`, `it`, `tl` and a permutation: the top row shows the clips in
chronological order, the bottom row the shuffled tuple the network sees, with its class
index. When the tuple does not fit in the video, the explorer says so (the toolkit never
repeats frames to make a tuple fit: that would make the task easier than it is).
'''),
    code('''
display(widgets.permutation_explorer(records, root, resize=profile.resize, crop=profile.crop))
'''),
    md('The same view as a static figure (this is what a headless run keeps):'),
    code('''
widgets.show_permutation_figure(records, root, resize=profile.resize, crop=profile.crop)
'''),
    md('''
## Are the orders balanced?

Training draws the start frame uniformly over the valid range and the permutation uniformly
over all `tl!` orders. We draw tuples from the training set and count the labels.
'''),
    code('''
train = select_split(records, "train")
dataset = OrderTupleDataset(train, root, setting, profile.resize, profile.crop, train=True,
                            seed=SEED)
draws = min(60 * setting.num_orders, 20 * len(dataset))
labels = pd.Series([dataset[i][1] for i in range(draws)]).value_counts().sort_index()
expected = draws / setting.num_orders
chi2 = float(((labels - expected) ** 2 / expected).sum())
print(f"{draws} tuples, chi-square {chi2:.1f} on {setting.num_orders - 1} degrees of freedom")
viz.grouped_bars({"drawn": labels.to_dict()}, ylabel="tuples", title="Order labels drawn")
'''),
    code('''
record(RESULTS, "01_clip_shuffling", {"setting": str(setting), "span": setting.span,
                                      "orders": setting.num_orders, "chance": setting.chance,
                                      "balance_draws": draws, "balance_chi2": chi2})
'''),
]


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        write(NB / f"{name}.ipynb", cells)
        print("wrote", name)


if __name__ == "__main__":
    main()
