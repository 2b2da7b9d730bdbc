"""Clip order prediction pretraining: build the model and data, train, evaluate, report.

``pretrain(...)`` is what ``vcop-lab pretrain`` and notebook 02 call. It writes into
``out_dir``: ``best.pt`` (lowest validation loss), ``last.pt`` (for ``--resume``),
``history.json`` (per epoch) and ``metrics.json`` (test order accuracy next to chance,
per-class accuracy, the permutation confusion matrix and every setting of the run).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vcop_lab import distributed
from vcop_lab.checkpoint import load_checkpoint
from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
from vcop_lab.data.manifest import (
    class_names,
    data_root,
    load_manifest,
    select_split,
    train_val_split,
)
from vcop_lab.data.sampling import parse_setting, permutations_for
from vcop_lab.errors import CheckpointError, SettingsError
from vcop_lab.models import VCOPN, build_backbone
from vcop_lab.profiles import get_profile
from vcop_lab.runtime import seed_everything
from vcop_lab.train import FitConfig, fit, load_best, make_loader


def build_order_model(arch: str, width: float, tl: int, dropout: float = 0.5) -> VCOPN:
    """A backbone with the order-prediction head for tuples of ``tl`` clips."""
    return VCOPN(build_backbone(arch, width), tl, dropout)


def load_order_init(model: VCOPN, path: str | Path) -> dict:
    """Initialise ``model`` from an order checkpoint (the task curriculum: tl=3 -> 4 -> 5).

    The backbone and the pair layer carry over; the final layer is kept only when its tl
    matches and is otherwise freshly initialised. Another architecture or width is an error.
    """
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta", {})
    mine = {"arch": model.backbone.arch_name, "width": model.backbone.width}
    theirs = {k: meta.get(k) for k in mine}
    if theirs != mine:
        raise CheckpointError(f"was trained with {theirs}, this run is {mine}", path,
                              "pass --arch and the profile (width) of that checkpoint")
    state = {k: v for k, v in ckpt["model"].items()
             if not (k.startswith("classifier.") and meta.get("tl") != model.tl)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("classifier.") for k in missing):
        raise CheckpointError(f"does not fit the model (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]})", path, "use an order-prediction checkpoint")
    return meta


def order_step(model, batch, device, channels_last=False):
    """One training batch of shuffled tuples -> (loss, correct, count)."""
    tuples, labels, _ = batch
    tuples = tuples.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    logits = model(tuples)
    loss = F.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).sum().item(), labels.numel()


@torch.no_grad()
def order_scores(model: VCOPN, loader, device, progress: bool = False) -> dict:
    """Score each evaluation tuple under every one of the tl! permutations.

    The backbone runs once per chronological tuple; the head then classifies the clip
    features in every order, so accuracy is measured over all permutations exactly, with
    balanced classes. Returns the per-(video, permutation) predictions and probabilities.
    """
    model.eval()
    orders = torch.tensor(permutations_for(model.tl), device=device)
    videos, preds, probs, losses = [], [], [], []
    for tuples, _, index in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        tuples = tuples.to(device, non_blocking=True)
        n = tuples.shape[0]
        feats = model.backbone(tuples.flatten(0, 1)).float().reshape(n, model.tl, -1)
        shuffled = feats[:, orders].flatten(0, 1)           # (n * tl!, tl, D)
        logits = model.classify(shuffled).float()
        target = torch.arange(len(orders), device=device).repeat(n)
        losses.append(F.cross_entropy(logits, target, reduction="none").cpu())
        p = logits.softmax(1)
        preds.append(logits.argmax(1).cpu().reshape(n, -1))
        probs.append(p.gather(1, target[:, None]).squeeze(1).cpu().reshape(n, -1))
        videos.append(index)
    return {"video": torch.cat(videos), "pred": torch.cat(preds), "prob": torch.cat(probs),
            "loss": torch.cat(losses).mean().item()}


def evaluate_order(model, loader, device) -> dict:
    """Validation loss and order accuracy over all permutations (the training loop's hook)."""
    s = order_scores(model, loader, device)
    truth = torch.arange(s["pred"].shape[1])
    return {"loss": s["loss"], "acc": (s["pred"] == truth).float().mean().item()}


def order_report(scores: dict, records, names: list[str]) -> dict:
    """Overall and per-class order accuracy and the permutation confusion matrix."""
    pred = scores["pred"]
    k = pred.shape[1]
    truth = torch.arange(k).expand_as(pred)
    correct = (pred == truth).float()
    labels = np.array([records[int(v)].label_index for v in scores["video"]])
    per_class = {}
    for idx, name in enumerate(names):
        rows = labels == idx
        if rows.any():
            per_class[name] = correct[torch.from_numpy(rows)].mean().item()
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((truth.flatten(), pred.flatten()), torch.ones(pred.numel(),
                         dtype=torch.long), accumulate=True)
    return {"order_acc": correct.mean().item(), "chance": 1.0 / k,
            "per_class_order_acc": per_class, "permutation_confusion": confusion.tolist(),
            "num_tuples": int(pred.numel()), "num_videos": int(pred.shape[0])}


def pretrain(data: str | Path, out: str | Path, profile="teaching", arch: str | None = None,
             setting: str | None = None, seed: int = 0, init: str | Path | None = None,
             resume: bool = False, epochs: int | None = None, max_minutes: float | None = None,
             device: str | None = None, num_workers: int | None = None,
             records=None, progress: bool = True) -> dict:
    """Train clip order prediction on the manifest in ``data``; returns ``metrics.json``.

    ``init`` warm-starts from an order checkpoint (task curriculum); ``records`` restricts
    training to some manifest rows (sample curriculum). Arch and setting default to the
    profile's.
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    s = parse_setting(setting or prof.setting)
    data, out = Path(data), Path(out)
    all_records = load_manifest(data)
    names = class_names(all_records)
    train_rec, val_rec = train_val_split(all_records, prof.n_val, seed)
    if records is not None:
        train_rec = list(records)
    test_rec = select_split(all_records, "test")
    common = dict(root=data_root(data), setting=s, resize=prof.resize, crop=prof.crop)
    train_set = OrderTupleDataset(train_rec, train=True, seed=seed, crop_per=prof.crop_per,
                                  **common)
    val_set = OrderTupleDataset(val_rec, train=False, **common)
    test_set = OrderTupleDataset(test_rec, train=False, **common)
    if len(train_set) == 0 or len(test_set) == 0:
        raise SettingsError(f"no training or test video is long enough for {s} "
                            f"({s.span} frames)", data, "choose a shorter cl-it-tl")
    seed_everything(seed)  # the initial weights depend on the seed too
    model = build_order_model(arch, prof.width, s.tl)
    init_meta = load_order_init(model, init) if init else None
    meta = {"kind": "order", "arch": arch, "width": prof.width, "setting": str(s), "tl": s.tl,
            "profile": prof.name, "seed": seed, "data": str(data), "init": str(init) if init
            else None, "crop": prof.crop, "resize": list(prof.resize)}
    out.mkdir(parents=True, exist_ok=True)
    cfg = FitConfig(out_dir=out, epochs=epochs or prof.epochs, batch_size=prof.batch_size,
                    optimizer=prof.optimizer, lr=prof.lr, momentum=prof.momentum,
                    weight_decay=prof.weight_decay,
                    num_workers=prof.num_workers if num_workers is None else num_workers,
                    seed=seed, device=device,
                    max_minutes=max_minutes if max_minutes is not None else prof.max_minutes,
                    resume=resume, progress=progress, meta=meta)
    t0 = time.perf_counter()
    result = fit(model, train_set, val_set, order_step, evaluate_order, cfg)
    if not distributed.is_main():
        return {}
    dev = load_best(model, out, result, device)
    loader = make_loader(test_set, prof.batch_size, EpochSampler(len(test_set), shuffle=False),
                         cfg.num_workers, dev)
    report = order_report(order_scores(model, loader, dev, progress), test_set.records, names)
    hist = result["history"]
    metrics = {
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
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def summary_line(metrics: dict) -> str:
    """One line for the terminal: test order accuracy next to chance."""
    return (f"{metrics['arch']} {metrics['setting']}: test order accuracy (tuple level) "
            f"{100 * metrics['test_order_acc']:.1f}% (chance {100 * metrics['chance']:.1f}%) "
            f"after {metrics['epochs_run']} epochs, {metrics['train_minutes']:.1f} min, "
            f"{metrics['clips_per_second']:.0f} clips/s on {metrics['device']}")


def pretrain_cli(args) -> int:
    """``vcop-lab pretrain``."""
    metrics = pretrain(args.data, args.out, profile=args.profile, arch=args.arch,
                       setting=args.setting, seed=args.seed, init=args.init,
                       resume=args.resume, epochs=args.epochs, max_minutes=args.max_minutes,
                       device=args.device, num_workers=args.workers)
    if not metrics:  # a non-zero rank of a distributed run
        return 0
    print(summary_line(metrics))
    if args.sample_curriculum:
        from vcop_lab.curriculum import sample_curriculum
        result = sample_curriculum(args.data, args.out, args.out / "best.pt",
                                   threshold=args.sample_threshold,
                                   record_epochs=args.sample_record_epochs,
                                   extra_epochs=args.sample_extra_epochs,
                                   profile=args.profile, seed=args.seed, device=args.device)
        print(f"sample curriculum: dropped {result['dropped']} of {result['train_videos']} "
              f"easy videos; continuing on the hard ones gives "
              f"{100 * result['continue_on_hard']:.1f}%, on all "
              f"{100 * result['continue_on_all']:.1f}% (test order accuracy)")
    print(f"results in {args.out}/metrics.json")
    return 0
