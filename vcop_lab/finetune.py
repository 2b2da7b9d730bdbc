"""Action recognition by fine-tuning a (pretrained) backbone: the paper's Table V and Fig. 10.

``finetune(...)`` is what ``vcop-lab finetune`` and the notebooks call. The backbone is
initialised from an order checkpoint (or at random), a new linear layer
``feature_dim -> classes`` is added, and the whole model, or only the stages deeper than
``freeze`` (hierarchical fine-tuning), is trained with SGD through :func:`vcop_lab.train.fit`.
It writes into ``out``: ``best.pt`` (lowest validation loss), ``last.pt`` (for ``--resume``),
``history.json`` and ``metrics.json``.

Testing follows the paper: ``eval_clips`` evenly spaced centre-cropped clips per test video.
Two accuracies are reported and named apart: ``test_clip_acc`` classifies every clip on its
own, ``test_video_acc`` classifies a video by the mean of its clips' logits.

:func:`freeze_sweep` (Fig. 10) and :func:`compare_inits` (Table V: random against
order-pretrained initialisation under the same budget) run several fine-tunes into one folder
and reuse the runs that already finished there.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from vcop_lab import distributed
from vcop_lab.checkpoint import file_hash, load_checkpoint
from vcop_lab.data.datasets import EpochSampler, EvalClipDataset, LabelledClipDataset
from vcop_lab.data.manifest import (
    VideoRecord,
    class_names,
    data_root,
    load_manifest,
    select_split,
    train_val_split,
)
from vcop_lab.data.sampling import parse_setting
from vcop_lab.errors import CheckpointError, SettingsError
from vcop_lab.models import STAGES, build_backbone, freeze_through
from vcop_lab.profiles import get_profile
from vcop_lab.runtime import seed_everything
from vcop_lab.train import FitConfig, fit, load_best, make_loader

RANDOM = "random"
FREEZE_CHOICES = ("none",) + STAGES


class ActionClassifier(nn.Module):
    """A backbone and a new linear layer ``feature_dim -> num_classes`` (as the paper).

    ``dropout`` (default 0: the paper adds none) is applied to the pooled feature.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.0):
        super().__init__()
        if num_classes < 2:
            raise SettingsError(f"action recognition needs at least 2 classes, got {num_classes}",
                                fix="use a manifest with two or more action classes")
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.feature_dim, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips shaped ``(N, 3, T, H, W)``."""
        return self.classifier(self.dropout(self.backbone(clips)))


def _is_random(checkpoint) -> bool:
    return checkpoint is None or str(checkpoint) == RANDOM


def load_backbone(backbone: nn.Module, checkpoint: str | Path) -> dict | None:
    """Load the ``backbone.*`` weights of an order (or fine-tune) checkpoint into ``backbone``.

    ``"random"`` loads nothing and returns ``None``; otherwise returns the checkpoint's
    ``meta``. A checkpoint of another architecture or width, or one without backbone
    weights, raises :class:`CheckpointError` naming the file and the fix.
    """
    if _is_random(checkpoint):
        return None
    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    mine = {"arch": getattr(backbone, "arch_name", None), "width": getattr(backbone, "width", None)}
    clash = {k: meta[k] for k in mine if meta.get(k) is not None and mine[k] is not None
             and meta[k] != mine[k]}
    if clash:
        theirs = {k: meta.get(k) for k in mine}
        raise CheckpointError(
            f"was trained with {theirs}, this run is {mine}", path,
            f"pass --arch {theirs['arch']} and a profile of width {theirs['width']}, "
            "or a checkpoint trained with this run's architecture and width")
    state = {k[len("backbone."):]: v for k, v in ckpt["model"].items()
             if k.startswith("backbone.")}
    if not state:
        raise CheckpointError("holds no backbone weights (no 'backbone.*' entries)", path,
                              "use a checkpoint written by `vcop-lab pretrain` or `finetune`")
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes
        raise CheckpointError(f"does not fit this backbone ({str(exc).splitlines()[-1][:160]})",
                              path, "use a checkpoint of the same architecture and width "
                              "(--arch, --profile)") from None
    if missing or unexpected:
        raise CheckpointError(f"does not fit this backbone (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]})", path,
                              "use a checkpoint of the same architecture (--arch)")
    return meta


def label_subset(records: list[VideoRecord], fraction: float, seed: int = 0,
                 ) -> list[VideoRecord]:
    """A class-stratified ``fraction`` of ``records``: ``max(1, round(fraction * n_c))`` videos
    of each class with ``n_c`` videos, drawn with ``seed``, returned in manifest order."""
    if not 0 < fraction <= 1:
        raise SettingsError(f"label fraction must be in (0, 1], got {fraction}",
                            fix="use e.g. 1.0 (all labels), 0.5 or 0.1")
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
    clips = clips.to(device, non_blocking=True)
    if channels_last:
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    labels = labels.to(device, non_blocking=True)
    logits = model(clips)
    loss = F.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).sum().item(), labels.numel()


@torch.no_grad()
def evaluate_action(model, loader, device) -> dict:
    """Validation loss and clip accuracy, one centred clip per video (the training loop's hook)."""
    model.eval()
    loss = correct = count = 0.0
    for clips, labels, _ in loader:
        clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        logits = model(clips).float()
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += labels.numel()
    return {"loss": loss / max(count, 1), "acc": correct / max(count, 1)}


@torch.no_grad()
def clip_logits(model, loader, device, progress: bool = False) -> dict:
    """Logits of every test clip: ``{"logits": (V, K, C), "labels": (V,), "video": (V,)}``
    for a loader over :class:`EvalClipDataset` (K clips per video)."""
    model.eval()
    logits, labels, videos = [], [], []
    for clips, label, index in tqdm(loader, desc="test", leave=False, disable=not progress):
        n, k = clips.shape[:2]
        out = model(clips.to(device, non_blocking=True).flatten(0, 1)).float()
        logits.append(out.reshape(n, k, -1).cpu())
        labels.append(label)
        videos.append(index)
    return {"logits": torch.cat(logits), "labels": torch.cat(labels),
            "video": torch.cat(videos)}


def action_report(logits: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict:
    """Clip- and video-level accuracy, per-class video accuracy and the video confusion matrix.

    ``logits`` is ``(V, K, C)``: K clips of each of V videos. A clip counts on its own for
    ``clip_acc``; a video is predicted by the argmax of the mean of its clips' logits for
    ``video_acc``. The confusion matrix has a row per true class, a column per prediction.
    """
    logits, labels = logits.float(), labels.long()
    clip_pred = logits.argmax(2)
    video_pred = logits.mean(1).argmax(1)
    video_ok = video_pred == labels
    c = len(names)
    confusion = torch.zeros(c, c, dtype=torch.long)
    confusion.index_put_((labels, video_pred), torch.ones_like(labels), accumulate=True)
    per_class = {name: video_ok[labels == i].float().mean().item()
                 for i, name in enumerate(names) if (labels == i).any()}
    return {"clip_acc": (clip_pred == labels[:, None]).float().mean().item(),
            "video_acc": video_ok.float().mean().item(), "per_class_video_acc": per_class,
            "confusion": confusion.tolist(), "video_pred": video_pred.tolist()}


def _check_resume(out: Path, meta: dict) -> None:
    """Refuse to resume a run made with other settings (it would mix two experiments)."""
    last = out / "last.pt"
    if not last.exists():
        return
    theirs = load_checkpoint(last).get("meta", {})
    keys = ("kind", "arch", "width", "freeze", "label_fraction", "seed", "checkpoint_hash",
            "classes", "cl")
    diff = {k: (theirs.get(k), meta.get(k)) for k in keys if theirs.get(k) != meta.get(k)}
    if diff:
        raise SettingsError(f"was made with other settings (saved, requested): {diff}", last,
                            "resume with the same settings, or choose another --out")


def finetune(data: str | Path, out: str | Path, checkpoint: str | Path = RANDOM,
             profile="teaching", arch: str | None = None, freeze: str = "none", seed: int = 0,
             label_fraction: float = 1.0, epochs: int | None = None,
             max_minutes: float | None = None, device: str | None = None,
             num_workers: int | None = None, resume: bool = False, progress: bool = True,
             ) -> dict:
    """Fine-tune for action recognition on the manifest in ``data``; returns ``metrics.json``.

    ``checkpoint`` is an order (or fine-tune) checkpoint or ``"random"``; ``freeze`` is
    ``"none"`` or the deepest frozen stage (``"conv1"`` .. ``"conv5"``). Validation videos are
    held out of the training split (``prof.n_val``), then a class-stratified
    ``label_fraction`` of the remaining training videos is kept. Architecture, clip length
    (the profile's setting), sizes and the SGD schedule (``ft_*``) come from the profile.
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    cl = parse_setting(prof.setting).cl
    if freeze not in FREEZE_CHOICES:
        raise SettingsError(f"unknown stage {freeze!r} to freeze through",
                            fix=f"choose one of {', '.join(FREEZE_CHOICES)}")
    data, out = Path(data), Path(out)
    records = load_manifest(data)
    names = class_names(records)
    train_all, val_rec = train_val_split(records, prof.n_val, seed)
    train_rec = label_subset(train_all, label_fraction, seed)
    test_rec = select_split(records, "test")
    common = dict(root=data_root(data), cl=cl, resize=prof.resize, crop=prof.crop)
    train_set = LabelledClipDataset(train_rec, train=True, seed=seed, **common)
    val_set = LabelledClipDataset(val_rec, train=False, **common)
    if len(train_set) == 0 or not test_rec:
        raise SettingsError(f"no training video of at least {cl} frames, or no test video",
                            data, "check the manifest's train and test splits")
    test_set = EvalClipDataset(test_rec, num_clips=prof.eval_clips, **common)

    seed_everything(seed)  # the new layer (and a random backbone) start the same every run
    model = ActionClassifier(build_backbone(arch, prof.width), len(names))
    init_meta = load_backbone(model.backbone, checkpoint)
    frozen = freeze_through(model.backbone, freeze)
    random_init = _is_random(checkpoint)
    meta = {"kind": "action", "arch": arch, "width": prof.width, "classes": names,
            "num_classes": len(names), "cl": cl, "crop": prof.crop, "resize": list(prof.resize),
            "init": RANDOM if random_init else init_meta.get("kind", "order"),
            "checkpoint": RANDOM if random_init else str(checkpoint),
            "checkpoint_hash": None if random_init else file_hash(checkpoint),
            "freeze": freeze, "frozen_stages": frozen, "label_fraction": label_fraction,
            "seed": seed, "profile": prof.name, "data": str(data)}
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        _check_resume(out, meta)
    cfg = FitConfig(out_dir=out, epochs=epochs or prof.ft_epochs, batch_size=prof.ft_batch_size,
                    lr=prof.ft_lr, momentum=prof.momentum, weight_decay=prof.weight_decay,
                    num_workers=prof.num_workers if num_workers is None else num_workers,
                    seed=seed, device=device,
                    max_minutes=max_minutes if max_minutes is not None else prof.ft_max_minutes,
                    resume=resume, progress=progress, meta=meta)
    t0 = time.perf_counter()
    result = fit(model, train_set, val_set, action_step, evaluate_action, cfg)
    if not distributed.is_main():
        return {}
    dev = load_best(model, out, result, device)
    loader = make_loader(test_set, prof.ft_batch_size, EpochSampler(len(test_set), shuffle=False),
                         cfg.num_workers, dev)
    scores = clip_logits(model, loader, dev, progress)
    report = action_report(scores["logits"], scores["labels"], names)
    hist = result["history"]
    metrics = {
        "test_clip_acc": report["clip_acc"], "test_video_acc": report["video_acc"],
        "chance": 1.0 / len(names), "clips_per_video": prof.eval_clips,
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
    }
    text = json.dumps(metrics, indent=1, default=str)
    (out / "metrics.json").write_text(text)
    return json.loads(text)  # exactly what a later run reads back from the file


def summary_line(metrics: dict) -> str:
    """One line for the terminal: clip-level and video-level test accuracy, named apart."""
    return (f"{metrics['arch']} init {metrics['init']}, freeze {metrics['freeze']}, "
            f"{100 * metrics['label_fraction']:.0f}% labels: test accuracy clip level "
            f"{100 * metrics['test_clip_acc']:.1f}%, video level "
            f"{100 * metrics['test_video_acc']:.1f}% ({metrics['clips_per_video']} clips per "
            f"video, chance {100 * metrics['chance']:.1f}%) after {metrics['epochs_run']} "
            f"epochs, {metrics['train_minutes']:.1f} min on {metrics['device']}")


def finetune_cli(args) -> int:
    """``vcop-lab finetune``."""
    metrics = finetune(args.data, args.out, checkpoint=args.checkpoint, profile=args.profile,
                       arch=args.arch, freeze=args.freeze_through, seed=args.seed,
                       label_fraction=args.label_fraction, epochs=args.epochs,
                       max_minutes=args.max_minutes, device=args.device,
                       num_workers=args.workers, resume=args.resume)
    if not metrics:  # a non-zero rank of a distributed run
        return 0
    print(summary_line(metrics))
    print(f"results in {args.out}/metrics.json")
    return 0


# ---------------------------------------------------------------------------------------------
# Several runs: hierarchical fine-tuning and random against pretrained initialisation
# ---------------------------------------------------------------------------------------------

def _run_or_reuse(out: Path, checkpoint, ckpt_hash: str | None, freeze: str, kw: dict) -> dict:
    """Fine-tune into ``out`` unless a finished run with the same settings is there already.

    A finished run with other settings is an error rather than silently reused results.
    """
    done = out / "metrics.json"
    if not done.exists():
        return finetune(kw.pop("data"), out, checkpoint=checkpoint, freeze=freeze, **kw)
    metrics = json.loads(done.read_text())
    want = {"checkpoint_hash": ckpt_hash, "freeze": freeze, "seed": kw.get("seed", 0),
            "label_fraction": kw.get("label_fraction", 1.0),
            "profile": get_profile(kw.get("profile", "teaching")).name}
    for key in ("arch", "epochs"):
        if kw.get(key) is not None:
            want["epochs_requested" if key == "epochs" else key] = kw[key]
    diff = {k: (metrics.get(k), v) for k, v in want.items() if metrics.get(k) != v}
    if diff:
        raise SettingsError(f"holds a finished run with other settings (found, wanted): {diff}",
                            done, "delete that run folder or choose another output folder")
    if kw.get("progress", True):
        print(f"reusing the finished run in {out}")
    return metrics


def freeze_sweep(data: str | Path, out_root: str | Path, checkpoint: str | Path,
                 stages: tuple[str, ...] = FREEZE_CHOICES, **kw) -> dict[str, dict]:
    """Hierarchical fine-tuning (Fig. 10): one fine-tune per frozen depth.

    Runs into ``out_root/freeze-<stage>``; a stage whose ``metrics.json`` already exists (with
    the same settings) is read back instead of re-run. ``kw`` goes to :func:`finetune`.
    Returns ``{stage: metrics}`` and writes a summary to ``out_root/freeze_sweep.json``.
    """
    out_root = Path(out_root)
    ckpt_hash = None if _is_random(checkpoint) else file_hash(checkpoint)
    results = {stage: _run_or_reuse(out_root / f"freeze-{stage}", checkpoint, ckpt_hash, stage,
                                    {"data": data, **kw})
               for stage in stages}
    summary = {stage: {k: m[k] for k in ("test_clip_acc", "test_video_acc", "trainable_params",
                                         "epochs_run")} for stage, m in results.items()}
    (out_root / "freeze_sweep.json").write_text(json.dumps(summary, indent=1))
    return results


def compare_inits(data: str | Path, out_root: str | Path, checkpoint: str | Path,
                  seeds: tuple[int, ...] = (0, 1), **kw) -> dict:
    """Random against order-pretrained initialisation (Table V), same budget and seeds.

    Runs into ``out_root/<init>-seed<seed>`` (init ``random`` or ``order``), reusing finished
    runs. Returns ``{init: {"runs": {seed: metrics}, "test_video_acc": [...],
    "test_clip_acc": [...], "mean_test_video_acc", "mean_test_clip_acc"}}`` and writes the
    summary (without the runs) to ``out_root/compare_inits.json``.
    """
    if _is_random(checkpoint):
        raise SettingsError("compare_inits needs a pretrained checkpoint to compare against "
                            "random initialisation", fix="pass the best.pt of a pretraining run")
    if "seed" in kw:
        raise SettingsError("pass seeds=(...) to compare_inits, not seed",
                            fix="e.g. compare_inits(data, out, ckpt, seeds=(0, 1))")
    out_root = Path(out_root)
    inits = {RANDOM: (RANDOM, None), "order": (checkpoint, file_hash(checkpoint))}
    result: dict = {}
    for init, (ckpt, ckpt_hash) in inits.items():
        runs = {seed: _run_or_reuse(out_root / f"{init}-seed{seed}", ckpt, ckpt_hash,
                                    kw.get("freeze", "none"),
                                    {"data": data, **{k: v for k, v in kw.items()
                                                      if k != "freeze"}, "seed": seed})
                for seed in seeds}
        video = [runs[s]["test_video_acc"] for s in seeds]
        clip = [runs[s]["test_clip_acc"] for s in seeds]
        result[init] = {"runs": runs, "test_video_acc": video, "test_clip_acc": clip,
                        "mean_test_video_acc": statistics.mean(video),
                        "mean_test_clip_acc": statistics.mean(clip)}
    summary = {init: {k: v for k, v in r.items() if k != "runs"} | {"seeds": list(seeds)}
               for init, r in result.items()}
    (out_root / "compare_inits.json").write_text(json.dumps(summary, indent=1))
    return result
