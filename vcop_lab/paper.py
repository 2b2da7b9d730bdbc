"""The paper's own reported figures, as plain data.

Source: Xiao et al., "Explore Video Clip Order with Self-Supervised and Curriculum Learning
for Video Applications", IEEE Transactions on Multimedia 2020 (DOI 10.1109/TMM.2020.3025661),
Tables I-VI and what the text says about Figs. 4, 5 and 10. Every number here is the paper's,
not this toolkit's, in percent; the setting is UCF101 split 1 unless a table says HMDB51
(split 1) or ActivityNet-QA. Settings are written cl-it-tl; "16-8-3*" is R3D trained with the
sample-based curriculum. Architectures: "c3d", "r3d", "r21d" (R(2+1)D), as in ``models``.

The values were read off a PDF text extraction in which table columns come out as separate
runs of lines; where the layout was ambiguous the comments below say how it was resolved.
Nothing here reads files: compare your own runs with these constants.
"""

from __future__ import annotations

ARCHS = ("c3d", "r3d", "r21d")
TL_SETTINGS = ("16-8-3", "16-8-4", "16-8-5")
TOP_K = (1, 5, 10, 20, 50)

# ---------------------------------------------------------------------------------------------
# Table I: clip order prediction accuracy on the UCF101 split 1 test set.

# Chance is 1/tl!; these are the rounded values the paper's text states (Sec. IV-A).
CHANCE = {3: 16.7, 4: 4.2, 5: 0.8}

# it = 8, the unbracketed numbers.
TABLE_I = {
    "c3d": {"16-8-3": 68.5, "16-8-4": 49.5, "16-8-5": 23.2},
    "r3d": {"16-8-3": 68.4, "16-8-4": 52.2, "16-8-5": 28.2, "16-8-3*": 70.1},
    "r21d": {"16-8-3": 64.2, "16-8-4": 50.2, "16-8-5": 27.9},
}

# it = 16, the bracketed numbers, keyed by the same tl (the setting names say it = 16).
# R3D* has "(-)": no it = 16 run with the sample curriculum. The text's "R3D ... 20.6% in 300
# epochs, 29.2% after another 300" refers to the R3D it = 16 runs; 20.6 is the table's tl = 3
# entry, although the next sentence speaks of tl = 4 (10.6): an inconsistency of the text.
TABLE_I_IT16 = {
    "c3d": {"16-16-3": 57.9, "16-16-4": 65.4, "16-16-5": 40.4},
    "r3d": {"16-16-3": 20.6, "16-16-4": 10.6, "16-16-5": 2.7},
    "r21d": {"16-16-3": 46.7, "16-16-4": 70.8, "16-16-5": 51.9},
}

# ---------------------------------------------------------------------------------------------
# Tables II-IV: nearest-neighbour retrieval, test-split queries against the training split,
# cosine distance, top-k accuracy for k in TOP_K (each row is a tuple in that order).

# The paper calls these "clip retrieval", but its reference script averages each video's 10
# clip features before matching (spec.md section 8), so compare them with video-level runs.
RETRIEVAL_LEVEL = "video level"

# Table II, UCF101. The R(2+1)D numbers come before their names in the extraction; they are
# the only block with four values per column (R3D has five rows), and their 16-8-3 row equals
# Table IV's R(2+1)D conv5 row, as C3D's and R3D's 16-8-3 rows equal their conv5 rows.
TABLE_II = {
    "c3d": {
        "random": (16.0, 22.5, 26.7, 31.4, 39.3),
        "16-8-3": (12.5, 29.0, 39.0, 50.6, 66.9),
        "16-8-4": (15.3, 32.5, 42.7, 53.8, 69.7),
        "16-8-5": (15.2, 31.8, 41.7, 53.2, 69.4),
    },
    "r3d": {
        "random": (10.5, 17.2, 21.5, 27.0, 36.7),
        "16-8-3": (14.1, 30.3, 40.0, 51.1, 66.5),
        "16-8-3*": (15.0, 31.9, 41.7, 53.1, 68.5),
        "16-8-4": (17.8, 35.0, 44.6, 55.3, 70.0),
        "16-8-5": (16.7, 33.6, 43.3, 53.9, 68.9),
    },
    "r21d": {
        "random": (10.2, 17.3, 21.9, 27.7, 38.5),
        "16-8-3": (10.7, 25.9, 35.4, 47.3, 63.9),
        "16-8-4": (14.1, 31.1, 40.8, 52.0, 67.5),
        "16-8-5": (16.5, 33.7, 43.5, 54.4, 69.1),
    },
}

# Table II's top rows: frame-based 2D CNN (CaffeNet) methods, as cited there. Table II tags
# Jigsaw [20] and OPN [15], the other way round from Table V and the reference list.
TABLE_II_2D = {
    "Jigsaw": (19.7, 28.5, 33.5, 40.0, 49.4),
    "OPN": (19.9, 28.7, 34.0, 40.6, 51.6),
    "Büchler et al.": (25.7, 36.2, 42.2, 49.2, 59.5),
    "SpeedNet": (13.0, 28.1, 37.5, 49.5, 65.0),
}

# Table III, HMDB51 split 1, with the extractors pretrained on UCF101 only. Same layout and the
# same four-values-per-column rule for the R(2+1)D block as Table II.
TABLE_III = {
    "c3d": {
        "random": (7.7, 12.5, 17.3, 24.1, 37.8),
        "16-8-3": (7.4, 22.6, 34.4, 48.5, 70.1),
        "16-8-4": (8.2, 23.6, 35.7, 50.3, 70.9),
        "16-8-5": (7.2, 21.6, 32.9, 47.6, 69.5),
    },
    "r3d": {
        "random": (5.5, 11.3, 16.5, 23.8, 37.2),
        "16-8-3": (7.6, 22.9, 34.4, 48.8, 68.9),
        "16-8-3*": (7.8, 23.3, 35.2, 49.1, 69.5),
        "16-8-4": (8.9, 24.2, 35.7, 50.4, 70.5),
        "16-8-5": (8.7, 23.2, 34.9, 49.1, 69.0),
    },
    "r21d": {
        "random": (4.6, 11.1, 16.3, 23.9, 39.3),
        "16-8-3": (5.7, 19.5, 30.7, 45.8, 67.0),
        "16-8-4": (7.8, 22.3, 34.1, 48.7, 68.9),
        "16-8-5": (8.3, 23.2, 35.0, 49.4, 69.7),
    },
}

# Table IV, UCF101, per layer (the table's "Layer 1..5" = conv1..conv5, each pooled to about
# 9216 values). It holds only the 16-8-3 pretrained models, no random rows, all five k.
TABLE_IV_SETTING = "16-8-3"
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
TABLE_IV = {
    "c3d": {
        "conv1": (18.4, 33.2, 41.7, 51.1, 64.7),
        "conv2": (20.5, 35.2, 43.3, 52.6, 65.3),
        "conv3": (23.3, 40.5, 49.6, 59.6, 72.7),
        "conv4": (18.6, 36.5, 46.0, 56.5, 70.9),
        "conv5": (12.5, 29.0, 39.0, 50.6, 66.9),
    },
    "r3d": {
        "conv1": (18.8, 32.1, 39.9, 48.9, 61.8),
        "conv2": (19.9, 34.9, 43.4, 52.6, 65.4),
        "conv3": (20.6, 37.3, 46.4, 56.0, 69.6),
        "conv4": (16.9, 34.6, 44.2, 55.0, 69.6),
        "conv5": (14.1, 30.3, 40.0, 51.1, 66.5),
    },
    "r21d": {
        "conv1": (13.2, 27.3, 36.6, 47.2, 63.0),
        "conv2": (18.7, 34.8, 43.8, 53.4, 66.6),
        "conv3": (16.8, 34.1, 43.7, 54.0, 67.8),
        "conv4": (12.8, 29.2, 39.3, 50.7, 67.0),
        "conv5": (10.7, 25.9, 35.4, 47.3, 63.9),
    },
}

# ---------------------------------------------------------------------------------------------
# Table V: action recognition (video level, 10 clips averaged), fine-tuned 150 epochs on the
# full split-1 training set; "random" is the same network trained from scratch.

TABLE_V = {
    "c3d": {
        "random": {"ucf101": 61.6, "hmdb51": 23.2},
        "16-8-3": {"ucf101": 65.6, "hmdb51": 28.4},
        "16-8-4": {"ucf101": 66.9, "hmdb51": 31.8},
        "16-8-5": {"ucf101": 66.1, "hmdb51": 31.9},
    },
    "r3d": {
        "random": {"ucf101": 54.4, "hmdb51": 21.5},
        "16-8-3": {"ucf101": 64.9, "hmdb51": 29.5},
        "16-8-3*": {"ucf101": 65.5, "hmdb51": 31.4},
        "16-8-4": {"ucf101": 66.0, "hmdb51": 28.0},
        "16-8-5": {"ucf101": 65.0, "hmdb51": 29.7},
    },
    # The R(2+1)D numbers precede their names; five per column, for the five names
    # random, PRP, 16-8-3, 16-8-4, 16-8-5 in that order (the text's gains below confirm it).
    "r21d": {
        "random": {"ucf101": 56.2, "hmdb51": 22.0},
        "16-8-3": {"ucf101": 72.4, "hmdb51": 30.9},
        "16-8-4": {"ucf101": 72.2, "hmdb51": 37.3},
        "16-8-5": {"ucf101": 74.5, "hmdb51": 34.8},
    },
}

# The gains over random the text states (Sec. IV-C), best pretrained row minus random:
# C3D 66.9 (16-8-4) - 61.6 and 31.9 (16-8-5) - 23.2; R(2+1)D 74.5 (16-8-5) - 56.2 and
# 37.3 (16-8-4) - 22.0.
TABLE_V_TEXT_GAINS = {
    "c3d": {"ucf101": 5.3, "hmdb51": 8.7},
    "r21d": {"ucf101": 18.3, "hmdb51": 15.3},
}

# The paper's best self-supervised result per dataset (Table V; Fig. 10's values are not in
# the text, so hierarchical fine-tuning cannot be counted here).
TABLE_V_BEST = {
    "ucf101": ("r21d", "16-8-5", 74.5),
    "hmdb51": ("r21d", "16-8-4", 37.3),
}

# Table V's other rows, (UCF101, HMDB51), None where the table has no entry. The 2D block
# lists seven methods but only five HMDB51 values; they are assigned to Shuffle&Learn, OPN,
# Jigsaw, Büchler et al. and ImageNet, leaving VGAN and Luo et al. (UCF101-only results in the
# CVPR 2019 VCOP paper's same table) empty: the extraction alone cannot decide this.
TABLE_V_OTHERS = {
    "Shuffle&Learn": (50.2, 18.1),
    "VGAN": (52.1, None),
    "Luo et al.": (53.0, None),
    "OPN": (56.3, 22.1),
    "Jigsaw": (51.5, 22.5),
    "Büchler et al.": (58.6, 25.0),
    "ImageNet pre-trained": (67.1, 28.5),
    "Wang et al.": (58.8, 32.6),
    "3D ST-puzzle": (63.4, 30.8),
    "Kinetics pre-trained": (96.8, 74.5),
    "C3D (VCP)": (68.5, 32.5),
    "R(2+1)D (PRP)": (72.1, 35.0),
}

# ---------------------------------------------------------------------------------------------
# Table VI: E-SA on ActivityNet-QA with frozen 512-d clip features (20 clips per video).
# "action-pretrained" is the table's "w/ PRE-TRAINED" (a randomly initialised network trained
# on action recognition; the text does not name the dataset), "order-pretrained" its
# "w/ SS-VCOP" (clip order prediction at 16-8-3).
#
# "Free" is a spanning header over Y/N..Other with no number of its own: each row has ten
# values. The extraction lists the headers as Motion, Spat. Rel., Free, Temp. Rel., All, ...;
# the data order Motion, Spat. Rel., Temp. Rel., Y/N, ..., Other, All is the one that puts the
# ~2% column at Temp. Rel. rather than at Y/N (a yes/no question is right half the time by
# chance) and matches spec.md's "All" values in the last column.
TABLE_VI_COLUMNS = (
    "Motion", "Spat. Rel.", "Temp. Rel.", "Y/N", "Color", "Obj.", "Loc.", "Num.", "Other", "All",
)
TABLE_VI_FREE = ("Y/N", "Color", "Obj.", "Loc.", "Num.", "Other")
TABLE_VI = {
    "action-pretrained": {
        "c3d": (2.0, 8.5, 2.1, 57.0, 30.6, 17.9, 14.2, 46.2, 28.2, 29.0),
        "r3d": (2.8, 9.6, 3.1, 57.9, 29.3, 16.4, 10.9, 46.7, 28.2, 29.2),
        "r21d": (1.8, 8.7, 2.9, 59.6, 29.6, 14.2, 11.9, 47.4, 26.3, 29.1),
    },
    "order-pretrained": {
        "c3d": (3.7, 9.2, 2.1, 60.0, 32.0, 19.8, 17.1, 45.0, 28.9, 30.4),
        "r3d": (2.5, 9.4, 1.5, 59.0, 31.9, 18.9, 16.3, 45.9, 30.0, 30.2),
        "r21d": (2.4, 10.4, 2.4, 59.8, 31.0, 19.2, 14.2, 46.4, 29.2, 30.3),
    },
}

# ---------------------------------------------------------------------------------------------
# Figures: the text gives no plotted values for Figs. 4, 5 and 10, so only what it states.

FIGURE_4 = (
    "C3D at 16-8-4, validation order accuracy over training: trained from scratch it grows "
    "only a little before epoch 200, and even its maximum, reached after epoch 200, is below "
    "the lowest accuracy of the task-curriculum model (initialised from 16-8-3) within its "
    "first 10 epochs."
)

# Per-class order accuracy, R3D and R3D with the sample curriculum, 16-8-3 on UCF101. The
# classes are the examples the text names (as UCF101 class names), not the full figure.
FIGURE_5 = {
    "statement": (
        "Classes with quick, repetitive actions order best (above 70%); classes with smooth, "
        "continuous movement order worst; the sample curriculum raises accuracy on the hard "
        "classes."
    ),
    "best_above": 70.0,
    "best_classes": ("JugglingBalls", "BoxingSpeedBag", "HulaHoop"),
    "worst_classes": ("Biking", "Skijet", "WalkingWithDog"),
}

# Hierarchical fine-tuning of a pretrained R3D on UCF101 (layers shallower than conv k frozen).
# The extraction holds a few stray figure labels (64.9, 63.2, 61.5 and ticks 65, 66, 70) that
# cannot be tied to frozen depths, so no per-depth values are stored.
FIGURE_10 = (
    "Freezing conv1 alone and fine-tuning conv2 onwards outperforms every other split point, "
    "including fine-tuning the entire R3D network."
)

# ---------------------------------------------------------------------------------------------
# The claims the toolkit's reproduction checks, one sentence each, faithful to the text.

CLAIMS = {
    "a": (
        "At it = 8, clip order accuracy is far above chance (16.7%, 4.2%, 0.8% for tl = 3, 4, "
        "5) for all three networks and falls as tl grows (Table I); at it = 16 it does not "
        "always fall (C3D and R(2+1)D rise from tl = 3 to 4)."
    ),
    "b": (
        "Task-based curriculum training (tl = 4 initialised from tl = 3) learns faster and "
        "better than training from scratch: C3D 16-8-4 from scratch barely learns before epoch "
        "200 and never reaches the curriculum model's first-10-epoch accuracy (Fig. 4)."
    ),
    "c": (
        "The sample-based curriculum improves R3D 16-8-3: order accuracy 68.4 -> 70.1 "
        "(Table I), retrieval on UCF101 and HMDB51 (Tables II, III) and fine-tuning on both "
        "datasets (Table V)."
    ),
    "d": (
        "Order-pretrained 3D CNNs retrieve better than randomly initialised ones on UCF101 "
        "(Table II) and HMDB51 (Table III), particularly as k grows; the exception is C3D at "
        "top-1, where random (UCF101 16.0, HMDB51 7.7) beats every pretrained C3D row on "
        "UCF101 and the 16-8-3 and 16-8-5 rows on HMDB51."
    ),
    "e": (
        "For the 16-8-3 models, the best retrieval at every k comes from a middle layer, conv2 "
        "or conv3, for all three networks, not from conv5 (Table IV; R3D's top-50 ties "
        "conv3 with conv4 at 69.6)."
    ),
    "f": (
        "Initialising from the order-pretrained model beats random initialisation when "
        "fine-tuning for action recognition on UCF101 and HMDB51 for all three networks "
        "(Table V); the paper claims this at full labels only, and the reduced-label test is "
        "this toolkit's addition."
    ),
    "g": (
        "In hierarchical fine-tuning of the pretrained R3D on UCF101, freezing only conv1 beats "
        "every other frozen depth, including fine-tuning the whole network (Fig. 10)."
    ),
    "h": (
        "As frozen features for E-SA on ActivityNet-QA, order-pretrained (16-8-3) networks give "
        "higher overall accuracy than the same networks pretrained on action recognition, for "
        "C3D, R3D and R(2+1)D (Table VI); there is no question-only baseline, and not every "
        "question type improves (Num. drops for all three)."
    ),
    "i": (
        "The paper's cross-dataset retrieval (UCF101 queries against HMDB51 and back, R3D "
        "16-8-4, Fig. 9) is qualitative only, with no numbers; what it shows quantitatively is "
        "that extractors pretrained on UCF101 alone beat random initialisation in HMDB51 "
        "retrieval (Table III)."
    ),
}
