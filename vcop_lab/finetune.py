"""Action recognition by fine-tuning a (pretrained) backbone: the paper's Table V and Fig. 10.

``finetune(...)`` is what ``vcop-lab finetune`` and the notebooks call. The backbone is
initialised from an order checkpoint (or at random), a new linear layer
``feature_dim -> classes`` is added, and the whole model, or only the stages deeper than
``freeze`` (hierarchical fine-tuning), is trained with SGD through :func:`vcop_lab.train.fit`.
The run goes through the run contract (:mod:`vcop_lab.runs`), into ``out`` or into the folder
named from its settings under ``runs``; it writes ``run.json``, ``best.pt`` (lowest
validation loss), ``last.pt``, ``history.json`` and, last, ``metrics.json``.

Testing follows the paper (:mod:`vcop_lab.evaluate.action`): ``eval_clips`` evenly spaced
centre-cropped clips per test video; ``test_clip_acc`` classifies every clip on its own,
``test_video_acc`` classifies a video by the mean of its clips' logits.

:func:`freeze_sweep` (Fig. 10) and :func:`compare_inits` (Table V: random against
order-pretrained initialisation under the same budget) run their fine-tunes under one
``runs`` root: a fine-tune with the same settings (the sweep's ``none`` and the comparison's
order-initialised run, say) is one folder, trained once.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vcop_lab import distributed
from vcop_lab.checkpoint import RANDOM, backbone_from, checkpoint_identity, is_random
from vcop_lab.data.check import (
    FAILURES_NAME,
    REPORT_NAME,
    checked_records,
    read_failures,
    video_counts,
)
from vcop_lab.data.datasets import EvalClipDataset, LabelledClipDataset
from vcop_lab.data.manifest import (
    VideoRecord,
    class_names,
    data_digest,
    data_root,
    dataset_kind,
    load_manifest,
    select_split,
    train_val_split,
)
from vcop_lab.data.sampling import parse_setting
from vcop_lab.data.transforms import to_network_input
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.action import action_report, clip_logits, evaluate_action
from vcop_lab.models import STAGES, ActionClassifier, freeze_through
from vcop_lab.models.backbones import shortcut_of
from vcop_lab.profiles import get_profile
from vcop_lab.runs import Run, output_dir, run_or_reuse
from vcop_lab.runtime import seed_everything
from vcop_lab.train import FitConfig, close_loader, eval_loader, fit

FREEZE_CHOICES = ("none",) + STAGES
# Bump when what a fine-tuning run computes changes, so that older finished runs are redone.
FINETUNE_FORMAT = 1
# The profile values a fine-tuning run's result depends on (the run's settings record them).
PROFILE_KEYS = ("width", "resize", "crop", "ft_batch_size", "ft_lr", "momentum",
                "weight_decay", "n_val", "eval_clips")


def _check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise SettingsError(f"label fraction must be in (0, 1], got {fraction}",
                            fix="use e.g. 1.0 (all labels), 0.5 or 0.1")


def label_subset(records: list[VideoRecord], fraction: float, seed: int = 0,
                 ) -> list[VideoRecord]:
    """A class-stratified ``fraction`` of ``records``: ``max(1, round(fraction * n_c))`` videos
    of each class with ``n_c`` videos, drawn with ``seed``, returned in manifest order."""
    _check_fraction(fraction)
    if fraction == 1:
        return list(records)
    by_class: dict[int, list[VideoRecord]] = {}
    for rec in records:
        by_class.setdefault(rec.label_index, []).append(rec)
    rng = random.Random(seed)
    keep: set[str] = set()
    for label in sorted(by_class):
        group = by_class[label]
        keep.update(r.path for r in rng.sample(group, max(1, round(fraction * len(group)))))
    return [r for r in records if r.path in keep]


def action_step(model, batch, device, channels_last: bool = False):
    """One training batch of labelled clips -> (loss, correct, count)."""
    clips, labels, _ = batch
    clips = to_network_input(clips, device, channels_last)  # uint8 -> float on the device
    labels = labels.to(device, non_blocking=True)
    logits = model(clips)
    loss = F.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).sum().item(), labels.numel()


def finetune_settings(data: str | Path, checkpoint=RANDOM, profile="teaching",
                      arch: str | None = None, freeze: str = "none", seed: int = 0,
                      label_fraction: float = 1.0, epochs: int | None = None,
                      max_minutes: float | None = None) -> dict:
    """Everything a fine-tuning run's result depends on: the settings the run contract
    compares (and :func:`~vcop_lab.runs.run_dir` names the folder by)."""
    prof = get_profile(profile)
    values = prof.to_dict()
    ident = checkpoint_identity(checkpoint)
    arch = arch or prof.arch
    return {
        "dataset": Path(data).name, "kind": "action", "format": FINETUNE_FORMAT,
        "arch": arch, "shortcut": shortcut_of(arch, prof.r21d_shortcut),
        "init": RANDOM if is_random(checkpoint) else ident["checkpoint_hash"],
        # how a random backbone is drawn (a checkpoint's weights replace it)
        "init_scheme": prof.init if is_random(checkpoint) else None,
        "freeze": freeze, "label_fraction": float(label_fraction), "seed": int(seed),
        "cl": parse_setting(prof.setting).cl,
        "epochs": int(epochs if epochs is not None else prof.ft_epochs),
        "max_minutes": max_minutes if max_minutes is not None else prof.ft_max_minutes,
        "data": data_digest(data),
        "profile": {**{k: values[k] for k in PROFILE_KEYS},
                    "n_val": prof.n_val_for(dataset_kind(data))},
    }


def finetune(data: str | Path, out: str | Path | None = None, checkpoint: str | Path = RANDOM,
             profile="teaching", arch: str | None = None, freeze: str = "none", seed: int = 0,
             label_fraction: float = 1.0, epochs: int | None = None,
             max_minutes: float | None = None, device: str | None = None,
             num_workers: int | None = None, resume: bool = False, progress: bool = True,
             runs: str | Path | None = None, force: bool = False, strict: bool = False
             ) -> Run:
    """Fine-tune for action recognition on the manifest in ``data``, or reuse the finished
    run; returns its metrics (a :class:`~vcop_lab.runs.Run`).

    ``checkpoint`` is an order (or fine-tune) checkpoint or ``"random"``; ``freeze`` is
    ``"none"`` or the deepest frozen stage (``"conv1"`` .. ``"conv5"``). Validation videos are
    held out of the training split (``prof.n_val``), then a class-stratified
    ``label_fraction`` of the remaining training videos is kept. Architecture, clip length
    (the profile's setting), sizes and the SGD schedule (``ft_*``) come from the profile.
    The run goes into ``out``, or into the folder named from its settings under ``runs``.
    """
    if freeze not in FREEZE_CHOICES:
        raise SettingsError(f"unknown stage {freeze!r} to freeze through",
                            fix=f"choose one of {', '.join(FREEZE_CHOICES)}")
    if epochs is not None and epochs < 1:
        raise SettingsError(f"epochs must be at least 1, got {epochs}",
                            fix="pass a positive --epochs, or leave it out for the profile's")
    _check_fraction(label_fraction)
    settings = finetune_settings(data, checkpoint, profile, arch, freeze, seed, label_fraction,
                                 epochs, max_minutes)
    out = output_dir(out, runs, settings, "fine-tuning run")
    usable, check = checked_records(data, strict, progress=progress)  # before any work

    def train(resume_now: bool) -> dict:
        check.write_report(Path(out) / REPORT_NAME)
        return _train(data, Path(out), settings, checkpoint, profile, resume_now, device,
                      num_workers, progress, usable, check)

    return run_or_reuse(out, settings, train, resume=resume, force=force, progress=progress,
                        what="fine-tuning run")


def _train(data, out: Path, settings: dict, checkpoint, profile, resume: bool, device,
           num_workers, progress: bool, usable: list, check) -> dict:
    """Train one fine-tuning run into ``out`` (on the ``usable`` videos) and test it;
    returns its metrics."""
    prof = get_profile(profile)
    arch, seed, freeze = settings["arch"], settings["seed"], settings["freeze"]
    label_fraction, cl = settings["label_fraction"], settings["cl"]
    data = Path(data)
    names = class_names(load_manifest(data))
    train_all, val_rec = train_val_split(usable, settings["profile"]["n_val"], seed)
    train_rec = label_subset(train_all, label_fraction, seed)
    test_rec = select_split(usable, "test")
    common = dict(root=data_root(data), cl=cl, resize=prof.resize, crop=prof.crop)
    train_set = LabelledClipDataset(train_rec, train=True, seed=seed, **common)
    val_set = LabelledClipDataset(val_rec, train=False, **common)
    for dataset in (train_set, val_set):
        dataset.log_bad_videos(out / FAILURES_NAME)
    if len(train_set) == 0 or not test_rec:
        raise SettingsError(f"no training video of at least {cl} frames, or no test video",
                            data, "check the manifest's train and test splits")
    test_set = EvalClipDataset(test_rec, num_clips=prof.eval_clips, **common)

    backbone, init_meta = backbone_from(checkpoint, arch, prof.width, seed,
                                        **prof.backbone_options(), cl=cl, crop=prof.crop)
    seed_everything(seed)  # the new layer starts the same every run
    model = ActionClassifier(backbone, len(names))
    frozen = freeze_through(model.backbone, freeze)
    ident = checkpoint_identity(checkpoint)
    meta = {"kind": "action", "arch": arch, "width": prof.width, "shortcut": backbone.shortcut,
            "init_scheme": settings["init_scheme"], "classes": names,
            "num_classes": len(names), "cl": cl, "crop": prof.crop, "resize": list(prof.resize),
            "init": RANDOM if init_meta is None else init_meta.get("kind", "order"),
            **ident, "freeze": freeze, "frozen_stages": frozen,
            "label_fraction": label_fraction, "seed": seed, "profile": prof.name,
            "data": str(data)}
    cfg = FitConfig(out_dir=out, epochs=settings["epochs"], batch_size=prof.ft_batch_size,
                    lr=prof.ft_lr, momentum=prof.momentum, weight_decay=prof.weight_decay,
                    num_workers=prof.num_workers if num_workers is None else num_workers,
                    seed=seed, device=device, max_minutes=settings["max_minutes"],
                    resume=resume, progress=progress, meta=meta)
    t0 = time.perf_counter()
    result = fit(model, train_set, val_set, action_step, evaluate_action, cfg)
    if not distributed.is_main():
        return {}
    dev = torch.device(result["device"])  # fit left the best weights there
    loader = eval_loader(test_set, prof.ft_batch_size, cfg.num_workers, dev)
    scores = clip_logits(model, loader, dev, progress)
    close_loader(loader)
    report = action_report(scores["logits"], scores["labels"], names)
    hist = result["history"]
    return {
        "test_clip_acc": report["clip_acc"], "test_video_acc": report["video_acc"],
        "chance": 1.0 / len({r.label_index for r in train_rec}),
        "clips_per_video": prof.eval_clips,
        "per_class_video_acc": report["per_class_video_acc"],
        "video_confusion": report["confusion"],
        "confusion_axes": "rows: true class, columns: predicted class (video level)",
        **meta, "epochs_requested": cfg.epochs, "epochs_run": len(hist),
        "best_epoch": result["best_epoch"], "best_val_loss": result["best_val_loss"],
        "train_minutes": result["train_seconds"] / 60,
        "wall_minutes": (time.perf_counter() - t0) / 60,
        "clips_per_second": float(np.mean([h["train_items_per_second"] for h in hist]))
        if hist else None,
        "stopped_by_budget": result["stopped_by_budget"], "device": result["device"],
        "amp": result["amp"], "world_size": result["world_size"],
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train_videos": len(train_set), "train_videos_before_fraction": len(train_all),
        "val_videos": len(val_set), "test_videos": len(test_set),
        "skipped_too_short": {"train": len(train_set.skipped), "val": len(val_set.skipped)},
        "init_from": init_meta, "fit_config": result["config"],
        "profile_settings": prof.to_dict(),
        "videos": video_counts(check, read_failures(out / FAILURES_NAME)),
    }


def summary_line(metrics: dict) -> str:
    """One line for the terminal: clip-level and video-level test accuracy, named apart."""
    return (f"{metrics['arch']} init {metrics['init']}, freeze {metrics['freeze']}, "
            f"{100 * metrics['label_fraction']:.0f}% labels: test accuracy clip level "
            f"{100 * metrics['test_clip_acc']:.1f}%, video level "
            f"{100 * metrics['test_video_acc']:.1f}% ({metrics['clips_per_video']} clips per "
            f"video, chance {100 * metrics['chance']:.1f}%) after {metrics['epochs_run']} "
            f"epochs, {metrics['train_minutes']:.1f} min on {metrics['device']}")


def freeze_sweep(data: str | Path, runs: str | Path, checkpoint: str | Path,
                 stages: tuple[str, ...] = FREEZE_CHOICES, **kw) -> dict[str, Run]:
    """Hierarchical fine-tuning (Fig. 10): one fine-tune per frozen depth, under ``runs``
    (finished runs with the same settings are read back). ``kw`` goes to :func:`finetune`.
    Returns ``{stage: run}``."""
    return {stage: finetune(data, runs=runs, checkpoint=checkpoint, freeze=stage, **kw)
            for stage in stages}


def compare_inits(data: str | Path, runs: str | Path, checkpoint: str | Path,
                  seeds: tuple[int, ...] = (0, 1), **kw) -> dict:
    """Random against order-pretrained initialisation (Table V), same budget and seeds.

    Every fine-tune runs under ``runs`` (finished runs with the same settings are read
    back). Returns ``{init: {"runs": {seed: run}, "seeds", "test_video_acc": [...],
    "test_clip_acc": [...], "mean_test_video_acc", "mean_test_clip_acc"}}`` for the inits
    ``random`` and ``order``.
    """
    if is_random(checkpoint):
        raise SettingsError("compare_inits needs a pretrained checkpoint to compare against "
                            "random initialisation", fix="pass the best.pt of a pretraining run")
    if "seed" in kw:
        raise SettingsError("pass seeds=(...) to compare_inits, not seed",
                            fix="e.g. compare_inits(data, runs, ckpt, seeds=(0, 1))")
    result: dict = {}
    for init, ckpt in ((RANDOM, RANDOM), ("order", checkpoint)):
        done = {seed: finetune(data, runs=runs, checkpoint=ckpt, seed=seed, **kw)
                for seed in seeds}
        video = [done[s]["test_video_acc"] for s in seeds]
        clip = [done[s]["test_clip_acc"] for s in seeds]
        result[init] = {"runs": done, "seeds": list(seeds), "test_video_acc": video,
                        "test_clip_acc": clip, "mean_test_video_acc": statistics.mean(video),
                        "mean_test_clip_acc": statistics.mean(clip)}
    return result
