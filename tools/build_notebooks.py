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
from collections import Counter

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
a single frame cannot tell the class. Most one-way motions speed up, as things that fall, set
off or spin up do, so the speed of a clip tells its place in time. Two classes are the exact
**time reversal** of another (rise is fall played backwards, rotate_ccw is rotate_cw
backwards): they slow down, and only the direction of motion separates them from their
partner, which a single frame cannot show. Periodic classes (oscillate, orbit) have a
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
## The second and qa styles

A second style with partly different classes and different looks stands in for HMDB51 in
cross-dataset experiments: the networks are never pretrained on it. A third style, **qa**,
stands in for ActivityNet-QA in notebook 06: new videos of the main classes and look with one
or two static objects beside the moving one, so that questions can ask where things are
relative to each other and how many there are.
'''),
    code('''
second, qa = load_manifest(dirs["second"]), load_manifest(dirs["qa"])
shared = sorted({r.label for r in second} & {r.label for r in records})
print(f"main: {len(records)} videos, {len({r.label for r in records})} classes; "
      f"second: {len(second)} videos, {len({r.label for r in second})} classes; "
      f"shared classes: {shared}")
objects = Counter(g["num_objects"] for g in load_ground_truth(dirs["qa"]).values())
print(f"qa: {len(qa)} videos; objects per video: {dict(sorted(objects.items()))}")
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
                            "qa_videos": len(qa),
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


NOTEBOOKS["02_pretraining"] = [
    md("""
# 02 · Pretraining by clip order prediction

Each backbone (C3D, R3D, R(2+1)D) encodes every clip of a shuffled tuple; the order head
compares the clip features pairwise and predicts which of the `tl!` orders was applied.
This notebook trains on the GPU when there is one and otherwise at teaching size on the CPU,
draws the learning curves, and compares the **task curriculum** (tl=4 warm-started from
tl=3) with tl=4 trained from scratch on the same data, epochs and seed (the paper's Fig. 4).

A run whose `metrics.json` exists is loaded instead of retrained: re-running is cheap.
"""),
    params(PARAMS + """ARCHS = ["r3d", "c3d", "r21d"]
CURRICULUM_ARCH = "r3d"
CURRICULUM_TLS = [4]     # add 5 to continue the curriculum to tl=5
CURRICULUM_EPOCHS = None  # epochs of each curriculum stage (None: a third of the profile's)
"""),
    code("""
from pathlib import Path
import pandas as pd
from vcop_lab import viz
from vcop_lab.curriculum import cached_pretrain, compare_task_curriculum
from vcop_lab.paths import synthetic_dirs
from vcop_lab.profiles import get_profile
from vcop_lab.results import record
from vcop_lab.runtime import pick_device

profile = get_profile(PROFILE)
device = pick_device(DEVICE)
root = synthetic_dirs(PROFILE, DATA_ROOT)["main"]
print(f"{profile.name} profile on {device}: setting {profile.setting}, width {profile.width}, "
      f"input {profile.setting.split('-')[0]}x{profile.crop}x{profile.crop}")
"""),
    md("""
## Train each backbone at the profile's setting

On a CPU the teaching profile caps each run at a few minutes; the budget, the epochs actually
run and the throughput are recorded in each run's `metrics.json`.
"""),
    code("""
runs_dir = Path(RUN_ROOT) / "pretrain"
runs = {arch: cached_pretrain(runs_dir / f"{arch}-{profile.setting}-seed{SEED}", data=root,
                              profile=profile, arch=arch, seed=SEED, device=str(device))
        for arch in ARCHS}
table = pd.DataFrame({arch: {"test order acc (%)": 100 * m["test_order_acc"],
                             "chance (%)": 100 * m["chance"], "epochs": m["epochs_run"],
                             "train minutes": m["train_minutes"],
                             "clips / s": m["clips_per_second"]} for arch, m in runs.items()}).T
table.round(1)
"""),
    code("""
histories = {arch: pd.read_json(runs_dir / f"{arch}-{profile.setting}-seed{SEED}" /
                                "history.json").to_dict("records") for arch in ARCHS}
viz.training_curves(histories, chance=runs[ARCHS[0]]["chance"])
"""),
    md("""
## Task curriculum against scratch

Harder settings (more clips, more orders) are hard to learn from scratch. The curriculum
initialises the tl=4 network from the tl=3 one: the backbone and the pair layer carry over,
only the final layer is new. Both arms get the same epochs at tl=4.
"""),
    code("""
base = runs_dir / f"{CURRICULUM_ARCH}-{profile.setting}-seed{SEED}" / "best.pt"
epochs = CURRICULUM_EPOCHS or max(2, profile.epochs // 3)
curriculum = compare_task_curriculum(root, Path(RUN_ROOT) / "curriculum", base,
                                     tls=CURRICULUM_TLS, profile=profile, arch=CURRICULUM_ARCH,
                                     seed=SEED, epochs=epochs, device=str(device))
pd.DataFrame({f"tl={tl}": {"curriculum (%)": 100 * r["curriculum"]["test_order_acc"],
                           "scratch (%)": 100 * r["scratch"]["test_order_acc"],
                           "chance (%)": 100 * r["scratch"]["chance"],
                           "gain (points)": r["gain_points"]}
              for tl, r in curriculum.items()}).round(1)
"""),
    code("""
tl = CURRICULUM_TLS[0]
curves = {name: pd.read_json(Path(RUN_ROOT) / "curriculum" / f"{name}-tl{tl}" /
                             "history.json").to_dict("records")
          for name in ("curriculum", "scratch")}
viz.training_curves(curves, chance=curriculum[tl]["scratch"]["chance"])
"""),
    code("""
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
"""),
]

NOTEBOOKS["03_order_accuracy"] = [
    md("""
# 03 · What the order network gets right

Order accuracy is reported next to chance (`1/tl!`). This notebook ranks the action classes
by order accuracy (the paper's Fig. 5), shows which permutations get confused, what the
**sample curriculum** drops and gains, and reproduces the paper's argument for clips over
single frames (its Fig. 1) as a measured result.
"""),
    params(PARAMS + """ARCH = "r3d"
SAMPLE_THRESHOLD = 0.8
SAMPLE_EXTRA_EPOCHS = None  # epochs after dropping the easy videos (None: profile's / 3)
"""),
    code("""
from pathlib import Path
import pandas as pd
from vcop_lab import viz
from vcop_lab.curriculum import (cached_pretrain, frames_vs_clips, reversed_pair_accuracy,
                                 sample_curriculum)
from vcop_lab.data.sampling import parse_setting, permutations_for
from vcop_lab.data.synthetic import PERIODIC_CLASSES, TIME_REVERSED_PAIRS
from vcop_lab.paths import synthetic_dirs
from vcop_lab.profiles import get_profile
from vcop_lab.results import record
from vcop_lab.runtime import pick_device

profile = get_profile(PROFILE)
device = str(pick_device(DEVICE))
root = synthetic_dirs(PROFILE, DATA_ROOT)["main"]
"""),
    code("""
run_dir = Path(RUN_ROOT) / "pretrain" / f"{ARCH}-{profile.setting}-seed{SEED}"
metrics = cached_pretrain(run_dir, data=root, profile=profile, arch=ARCH, seed=SEED,
                          device=device)
print(f"{ARCH} {metrics['setting']}: test order accuracy {100 * metrics['test_order_acc']:.1f}% "
      f"(chance {100 * metrics['chance']:.1f}%) over {metrics['test_tuples']} test tuples "
      f"= {metrics['test_videos']} videos x every order")
"""),
    md("""
## Per class, ranked

Motion that speeds up (falling, sliding, growing) should be easy; periodic motion
(oscillate, orbit) has a genuinely ambiguous clip order and should sit near chance. The
slowing-down reversals (rise, rotate_ccw) are the hard cases: a network that learnt only
"faster is later" gets them exactly wrong, and needs the direction of motion to get them
right.
"""),
    code("""
viz.per_class_bar(metrics["per_class_order_acc"], chance=metrics["chance"],
                  title=f"{ARCH} order accuracy per class "
                        f"(periodic: {', '.join(PERIODIC_CLASSES)})")
"""),
    code("""
perms = permutations_for(parse_setting(metrics["setting"]).tl)
viz.permutation_confusion(metrics["permutation_confusion"], perms)
"""),
    md("""
## The sample curriculum

After convergence, each training video's probability of the correct order is recorded over
several draws. Videos that were right every time with probability above the threshold are
easy: they are dropped, and training continues on the rest. The comparison continues on all
videos for the same number of epochs, from the same checkpoint, with the same seed.
"""),
    code("""
sample = sample_curriculum(root, Path(RUN_ROOT) / "sample" / ARCH, run_dir / "best.pt",
                           threshold=SAMPLE_THRESHOLD, extra_epochs=SAMPLE_EXTRA_EPOCHS,
                           profile=profile, seed=SEED, device=device)
print(f"dropped {sample['dropped']} of {sample['train_videos']} training videos as easy; "
      f"test order accuracy: before {100 * sample['base']:.1f}%, continuing on the hard "
      f"ones {100 * sample['continue_on_hard']:.1f}%, "
      f"on all {100 * sample['continue_on_all']:.1f}%")
pd.Series(sample["dropped_per_class"], name="easy videos dropped").to_frame().T
"""),
    md("""
## Clips against single frames

The same order task with `cl=1` (single frames at the clips' first frames, as frame-order
methods do) cannot see the direction of motion: for a class and its time reversal (fall and
rise) a set of frames is ordered one way or the other with equal right. Clips carry the
direction.
"""),
    code("""
fvc = frames_vs_clips(root, Path(RUN_ROOT) / "frames_vs_clips", profile=profile, arch=ARCH,
                      seed=SEED, device=device, clips_out=run_dir)
pairs = reversed_pair_accuracy(fvc["clips"], TIME_REVERSED_PAIRS)
table = pd.DataFrame({"clips": pairs,
                      "frames": reversed_pair_accuracy(fvc["frames"], TIME_REVERSED_PAIRS)})
viz.grouped_bars(table.T.to_dict("index"), ylabel="order accuracy",
                 title=f"Time-reversed classes: clips {fvc['clip_setting']} vs frames "
                       f"{fvc['frame_setting']}", chance=metrics["chance"])
"""),
    code("""
table.loc["mean"] = table.mean()
record(RESULTS, "03_order_accuracy", {
    "arch": ARCH, "test_order_acc": metrics["test_order_acc"], "chance": metrics["chance"],
    "per_class_order_acc": metrics["per_class_order_acc"],
    "sample_curriculum": {k: sample[k] for k in ("threshold", "dropped", "kept", "base",
                                                  "continue_on_hard", "continue_on_all")},
    "reversed_pairs_clips": table.loc["mean", "clips"],
    "reversed_pairs_frames": table.loc["mean", "frames"]})
table.round(3)
"""),
]


def main() -> None:
    # later notebooks live in their own modules: tools/nb_04.py ... define NAME and CELLS
    import importlib

    for path in sorted(Path(__file__).parent.glob("nb_[0-9][0-9].py")):
        module = importlib.import_module(path.stem)
        NOTEBOOKS[module.NAME] = module.CELLS(PARAMS)
    for name, cells in NOTEBOOKS.items():
        write(NB / f"{name}.ipynb", cells)
        print("wrote", name)


if __name__ == "__main__":
    main()
