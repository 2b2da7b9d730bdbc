"""Profiles: the sizes a run is made at, and what a reproduction runs, as plain data.

``smoke`` runs in seconds (CI), ``teaching`` in minutes on a 2-core laptop CPU on the
synthetic set (one backbone, one seed: about 22 minutes for every notebook), ``teaching-full``
at the same sizes runs all three backbones, two fine-tuning seeds and the freezing sweep at
all labels, and ``paper`` uses the paper's settings (spec sections 4 and 5) on GPUs. Nothing
else in the toolkit branches on where it runs: commands and notebooks take a profile name.

Every budget is a number of epochs, so a figure depends on the seed and the code, never on
how fast or busy the machine is; a wall-clock cap (``max_minutes``) exists as a safety and is
off in every profile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from vcop_lab.errors import SettingsError

# The values the reference-code fields may take.
_CHOICES = {"retrieval_pool": ("adaptive", "reference"),
            "r21d_shortcut": ("projection", "factorised"),
            "bn_per_position": (False, True), "init": ("kaiming", "reference")}


@dataclass(frozen=True)
class Profile:
    """All knobs that change with the size of a run."""

    name: str
    synth_preset: str            # synthetic set generated when no data is given
    arch: str                    # default backbone
    width: float                 # channel width multiplier (1.0 = the paper's networks)
    setting: str                 # default cl-it-tl of pretraining
    resize: tuple[int, int]      # frames resized to (H, W)
    crop: int                    # square crop fed to the network
    crop_per: str                # "clip" (reference code) or "tuple"
    batch_size: int              # tuples per step
    optimizer: str               # pretraining optimiser: "sgd" (the paper's) or "adamw"
    lr: float
    momentum: float
    weight_decay: float
    epochs: int                  # pretraining epochs
    max_minutes: float | None    # wall-clock cap of one pretraining run (None: no cap)
    n_val: float                 # validation videos held out of train (count, or fraction < 1)
    num_workers: int | None      # DataLoader workers (None: runtime.default_workers)
    eval_clips: int              # clips per video in retrieval and fine-tune testing
    ft_epochs: int
    ft_batch_size: int
    ft_lr: float
    ft_max_minutes: float | None
    qa_clips: int                # clips per video for VideoQA
    qa_epochs: int
    qa_hidden: int
    sample_epochs: int           # K epochs of recording for the sample curriculum
    stage_epochs: int | None = None  # epochs of a curriculum stage and of the sample
    #                                  curriculum's continuation (None: a third of ``epochs``)
    archs: tuple[str, ...] = ("r3d",)  # the backbones a reproduction's notebooks run
    seeds: tuple[int, ...] = (0,)      # fine-tuning seeds of the Table V comparison
    label_fractions: tuple[float, ...] = (1.0, 0.1)  # Table V at these fractions of the labels
    sweep_label_fraction: float = 1.0  # the freezing sweep's fraction of the labels
    # Validation hold-out for datasets that differ from ``n_val`` (the paper: 800 for UCF101,
    # 400 for HMDB51), as (dataset, count) pairs; the dataset is what ``prepare`` recorded.
    n_val_by_dataset: tuple[tuple[str, float], ...] = ()
    # Where the paper is silent, the reference code's choices (README: the reference code):
    retrieval_pool: str = "adaptive"   # "reference": conv5 through MaxPool3d((1,2,2)), floor
    r21d_shortcut: str = "projection"  # "factorised": the reference's (2+1)D-style shortcut
    bn_per_position: bool = False      # backbone called once per clip position in training
    init: str = "kaiming"              # "reference": PyTorch 0.4's default initialisation

    def __post_init__(self):
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise SettingsError(f"profile {self.name!r}: unknown {name} "
                                    f"{getattr(self, name)!r}",
                                    fix=f"choose one of {', '.join(map(str, choices))}")

    def to_dict(self) -> dict:
        return asdict(self)

    def backbone_options(self) -> dict:
        """How backbones are built at this profile: ``{"shortcut", "init"}``, the keyword
        arguments of :func:`~vcop_lab.models.build_backbone`."""
        return {"shortcut": self.r21d_shortcut, "init": self.init}

    @property
    def curriculum_epochs(self) -> int:
        """Epochs of one curriculum stage (and of the sample curriculum's continuation)."""
        return self.stage_epochs or max(1, self.epochs // 3)

    def n_val_for(self, dataset: str | None) -> float:
        """The validation hold-out for ``dataset`` (e.g. ``"hmdb51"``; None: unknown)."""
        return dict(self.n_val_by_dataset).get(dataset or "", self.n_val)

    def with_overrides(self, **kw) -> Profile:
        """A copy with some knobs changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


PAPER = Profile(
    name="paper", synth_preset="large", arch="r3d", width=1.0, setting="16-8-3",
    resize=(128, 171), crop=112, crop_per="clip", batch_size=8, optimizer="sgd", lr=1e-3,
    momentum=0.9, weight_decay=5e-4, epochs=300, max_minutes=None, n_val=800, num_workers=8,
    eval_clips=10, ft_epochs=150, ft_batch_size=8, ft_lr=1e-3, ft_max_minutes=None, qa_clips=20,
    qa_epochs=30, qa_hidden=300, sample_epochs=5, archs=("r3d", "c3d", "r21d"),
    n_val_by_dataset=(("ucf101", 800), ("hmdb51", 400)),
    retrieval_pool="reference", r21d_shortcut="factorised",
)

# Scaled for a 2-core CPU: quarter width, 8-frame clips at 56x56 and shorter schedules. Order
# pretraining uses AdamW: with SGD (lr 1e-2 and 5e-2 tried) a small network stayed on the
# chance plateau for far longer than a CPU budget of minutes; fine-tuning keeps SGD. Batches
# of 8 tuples (the paper's) leave the plateau after about 9 epochs of R3D (measured, seed 0),
# batches of 16 after about 13 at the same cost per epoch; lr 2e-3 with 8 and 3e-3 with 16
# stayed at chance for 16 and 20 epochs.
# VideoQA: 10 clips of 8 frames already cover every frame of a 64-frame synthetic video (20
# overlapped them 2.5 times), and with 20 clips all four feature sources reached their best
# validation accuracy by about epoch 10 and stayed there (seed 0), so 12 epochs.
TEACHING = Profile(
    name="teaching", synth_preset="teaching", arch="r3d", width=0.25, setting="8-4-3",
    resize=(64, 86), crop=56, crop_per="tuple", batch_size=8, optimizer="adamw", lr=1e-3,
    momentum=0.9, weight_decay=5e-4, epochs=20, max_minutes=None, n_val=0.1, num_workers=None,
    eval_clips=10, ft_epochs=15, ft_batch_size=16, ft_lr=1e-2, ft_max_minutes=None, qa_clips=10,
    qa_epochs=12, qa_hidden=128, sample_epochs=3, stage_epochs=4, sweep_label_fraction=0.1,
)

SMOKE = Profile(
    name="smoke", synth_preset="smoke", arch="r3d", width=0.125, setting="4-2-3",
    resize=(32, 43), crop=28, crop_per="tuple", batch_size=8, optimizer="adamw", lr=1e-3,
    momentum=0.9, weight_decay=5e-4, epochs=2, max_minutes=None, n_val=0.2, num_workers=0,
    eval_clips=4, ft_epochs=2, ft_batch_size=8, ft_lr=1e-2, ft_max_minutes=None, qa_clips=8,
    qa_epochs=3, qa_hidden=32, sample_epochs=1, stage_epochs=1, label_fractions=(1.0, 0.5),
)

# The teaching sizes with every backbone, two fine-tuning seeds, curriculum stages as long as
# the first one (so that tl=3 and tl=4 compare at equal training) and the freezing sweep at
# all labels: the same runs as teaching where they coincide (a run's settings hold the
# values, not the profile's name), plus the rest.
TEACHING_FULL = replace(TEACHING, name="teaching-full", archs=("r3d", "c3d", "r21d"),
                        seeds=(0, 1), sweep_label_fraction=1.0, stage_epochs=20)

PROFILES = {p.name: p for p in (SMOKE, TEACHING, TEACHING_FULL, PAPER)}


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (smoke, teaching, teaching-full or paper)."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise SettingsError(f"unknown profile {name!r}",
                            fix=f"choose one of {', '.join(PROFILES)}") from None
