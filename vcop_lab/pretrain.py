"""Clip order prediction pretraining: build the model and data, train, evaluate, report.

``pretrain(...)`` is what ``vcop-lab pretrain`` and notebook 02 call. A run is trained or
reused through the run contract (:mod:`vcop_lab.runs`): into ``out``, or into the folder
:func:`~vcop_lab.runs.run_dir` names under ``runs`` from the settings. It writes ``run.json``
(the settings), ``best.pt`` (lowest validation loss), ``last.pt`` (for resuming),
``history.json`` (per epoch) and, last, ``metrics.json`` (test order accuracy next to chance,
per-class accuracy, the permutation confusion matrix and every setting of the run).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vcop_lab import distributed
from vcop_lab.checkpoint import checkpoint_hash, load_order_init
from vcop_lab.data.check import (
    FAILURES_NAME,
    REPORT_NAME,
    checked_records,
    read_failures,
    video_counts,
)
from vcop_lab.data.datasets import OrderTupleDataset
from vcop_lab.data.manifest import (
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
from vcop_lab.evaluate.order import evaluate_order, order_report, order_scores
from vcop_lab.models import VCOPN, build_backbone
from vcop_lab.models.backbones import shortcut_of
from vcop_lab.profiles import get_profile
from vcop_lab.runs import Run, output_dir, run_or_reuse
from vcop_lab.runtime import seed_everything
from vcop_lab.train import FitConfig, close_loader, eval_loader, fit

# Bump when what a pretraining run computes changes, so that older finished runs are redone.
PRETRAIN_FORMAT = 1
# The profile values a pretraining run's result depends on (the run's settings record them;
# R(2+1)D's shortcut is recorded as the network's, see pretrain_settings).
PROFILE_KEYS = ("width", "resize", "crop", "crop_per", "batch_size", "optimizer", "lr",
                "momentum", "weight_decay", "n_val", "init", "bn_per_position")


def build_order_model(arch: str, width: float, tl: int, dropout: float = 0.5, *,
                      shortcut: str = "projection", init: str = "kaiming",
                      bn_per_position: bool = False) -> VCOPN:
    """A backbone with the order-prediction head for tuples of ``tl`` clips.

    ``shortcut`` and ``init`` go to :func:`~vcop_lab.models.build_backbone`;
    ``bn_per_position`` to :class:`~vcop_lab.models.VCOPN`.
    """
    backbone = build_backbone(arch, width, shortcut=shortcut, init=init)
    return VCOPN(backbone, tl, dropout, bn_per_position=bn_per_position)


def profile_order_model(prof, arch: str, tl: int) -> VCOPN:
    """The order model of ``arch`` for tuples of ``tl`` clips built as profile ``prof`` says
    (width, shortcut, initialisation, BatchNorm per clip position)."""
    prof = get_profile(prof)
    return build_order_model(arch, prof.width, tl, **prof.backbone_options(),
                             bn_per_position=prof.bn_per_position)


def order_step(model, batch, device, channels_last=False):
    """One training batch of shuffled tuples -> (loss, correct, count)."""
    tuples, labels, _ = batch
    tuples = to_network_input(tuples, device, channels_last)  # uint8 -> float on the device
    labels = labels.to(device, non_blocking=True)
    logits = model(tuples)
    loss = F.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).sum().item(), labels.numel()


def pretrain_settings(data: str | Path, profile="teaching", arch: str | None = None,
                      setting: str | None = None, seed: int = 0, init: str | Path | None = None,
                      epochs: int | None = None, max_minutes: float | None = None,
                      records=None) -> dict:
    """Everything a pretraining run's result depends on: the settings the run contract
    compares (and :func:`~vcop_lab.runs.run_dir` names the folder by)."""
    prof = get_profile(profile)
    values = prof.to_dict()
    arch = arch or prof.arch
    return {
        "dataset": Path(data).name, "kind": "order", "format": PRETRAIN_FORMAT,
        "arch": arch, "shortcut": shortcut_of(arch, prof.r21d_shortcut),
        "setting": str(parse_setting(setting or prof.setting)), "seed": int(seed),
        "init": checkpoint_hash(init) if init else None,
        "epochs": int(epochs if epochs is not None else prof.epochs),
        "max_minutes": max_minutes if max_minutes is not None else prof.max_minutes,
        "data": data_digest(data, None if records is None else list(records)),
        "profile": {**{k: values[k] for k in PROFILE_KEYS},
                    "n_val": prof.n_val_for(dataset_kind(data))},
    }


def pretrain(data: str | Path, out: str | Path | None = None, profile="teaching",
             arch: str | None = None, setting: str | None = None, seed: int = 0,
             init: str | Path | None = None, resume: bool = False, epochs: int | None = None,
             max_minutes: float | None = None, device: str | None = None,
             num_workers: int | None = None, records=None, progress: bool = True,
             runs: str | Path | None = None, force: bool = False, strict: bool = False
             ) -> Run:
    """Train clip order prediction on the manifest in ``data``, or reuse the finished run.

    The run goes into ``out``, or (``out`` None) into the folder that
    :func:`~vcop_lab.runs.run_dir` derives from the settings under ``runs``. ``init``
    warm-starts from an order checkpoint (task curriculum); ``records`` restricts training to
    some manifest rows (sample curriculum). Arch and setting default to the profile's. A
    folder holding a run of other settings is refused unless ``force``; ``resume`` also lets
    a run continue to more epochs. Returns the metrics (a :class:`~vcop_lab.runs.Run`).
    """
    if epochs is not None and epochs < 1:
        raise SettingsError(f"epochs must be at least 1, got {epochs}",
                            fix="pass a positive --epochs, or leave it out for the profile's")
    settings = pretrain_settings(data, profile, arch, setting, seed, init, epochs, max_minutes,
                                 records)
    out = output_dir(out, runs, settings, "pretraining run")
    usable, check = checked_records(data, strict, progress=progress)  # before any work

    def train(resume_now: bool) -> dict:
        check.write_report(Path(out) / REPORT_NAME)
        return _train(data, Path(out), settings, profile, init, resume_now, device,
                      num_workers, records, progress, usable, check)

    return run_or_reuse(out, settings, train, resume=resume, force=force, progress=progress,
                        what="pretraining run")


def _train(data, out: Path, settings: dict, profile, init, resume: bool, device, num_workers,
           records, progress: bool, usable: list, check) -> dict:
    """Train one pretraining run into ``out`` (on the ``usable`` videos) and evaluate it;
    returns its metrics."""
    prof = get_profile(profile)
    arch, seed = settings["arch"], settings["seed"]
    s = parse_setting(settings["setting"])
    data = Path(data)
    names = class_names(load_manifest(data))
    train_rec, val_rec = train_val_split(usable, settings["profile"]["n_val"], seed)
    if records is not None:
        good = {r.path for r in usable}
        train_rec = [r for r in records if r.path in good]
    test_rec = select_split(usable, "test")
    common = dict(root=data_root(data), setting=s, resize=prof.resize, crop=prof.crop)
    train_set = OrderTupleDataset(train_rec, train=True, seed=seed, crop_per=prof.crop_per,
                                  **common)
    val_set = OrderTupleDataset(val_rec, train=False, **common)
    test_set = OrderTupleDataset(test_rec, train=False, **common)
    for dataset in (train_set, val_set, test_set):
        dataset.log_bad_videos(out / FAILURES_NAME)
    if len(train_set) == 0 or len(test_set) == 0:
        raise SettingsError(f"no training or test video is long enough for {s} "
                            f"({s.span} frames)", data, "choose a shorter cl-it-tl")
    seed_everything(seed)  # the initial weights depend on the seed too
    model = profile_order_model(prof, arch, s.tl)
    init_meta = load_order_init(model, init) if init else None
    meta = {"kind": "order", "arch": arch, "width": prof.width,
            "shortcut": model.backbone.shortcut, "setting": str(s), "tl": s.tl,
            "profile": prof.name, "seed": seed, "data": str(data), "init": str(init) if init
            else None, "init_scheme": prof.init, "bn_per_position": prof.bn_per_position,
            "crop": prof.crop, "resize": list(prof.resize)}
    cfg = FitConfig(out_dir=out, epochs=settings["epochs"], batch_size=prof.batch_size,
                    optimizer=prof.optimizer, lr=prof.lr, momentum=prof.momentum,
                    weight_decay=prof.weight_decay,
                    num_workers=prof.num_workers if num_workers is None else num_workers,
                    seed=seed, device=device, max_minutes=settings["max_minutes"],
                    resume=resume, progress=progress, meta=meta)
    t0 = time.perf_counter()
    result = fit(model, train_set, val_set, order_step, evaluate_order, cfg)
    if not distributed.is_main():
        return {}
    dev = torch.device(result["device"])  # fit left the best weights there
    loader = eval_loader(test_set, prof.batch_size, cfg.num_workers, dev)
    report = order_report(order_scores(model, loader, dev, progress), test_set.records, names)
    close_loader(loader)
    hist = result["history"]
    return {
        "test_order_acc": report["order_acc"], "chance": report["chance"],
        "per_class_order_acc": report["per_class_order_acc"],
        "permutation_confusion": report["permutation_confusion"],
        "test_tuples": report["num_tuples"], "test_videos": report["num_videos"],
        **meta, "epochs_run": len(hist), "best_epoch": result["best_epoch"],
        "best_val_loss": result["best_val_loss"], "train_minutes": result["train_seconds"] / 60,
        "wall_minutes": (time.perf_counter() - t0) / 60,
        "clips_per_second": float(np.mean([h["train_items_per_second"] for h in hist])) * s.tl,
        "stopped_by_budget": result["stopped_by_budget"], "device": result["device"],
        "amp": result["amp"], "world_size": result["world_size"],
        "train_videos": len(train_set), "val_videos": len(val_set), "test_videos_used":
        len(test_set), "skipped_too_short": {"train": len(train_set.skipped),
                                             "val": len(val_set.skipped),
                                             "test": len(test_set.skipped)},
        "init_from": init_meta, "fit_config": result["config"], "profile_settings":
        prof.to_dict(),
        "videos": video_counts(check, read_failures(out / FAILURES_NAME)),
    }


def summary_line(metrics: dict) -> str:
    """One line for the terminal: test order accuracy next to chance."""
    return (f"{metrics['arch']} {metrics['setting']}: test order accuracy (tuple level) "
            f"{100 * metrics['test_order_acc']:.1f}% (chance {100 * metrics['chance']:.1f}%) "
            f"after {metrics['epochs_run']} epochs, {metrics['train_minutes']:.1f} min, "
            f"{metrics['clips_per_second']:.0f} clips/s on {metrics['device']}")
