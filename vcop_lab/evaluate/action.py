"""Action recognition scores of a fine-tuned network (the paper's Table V).

Testing follows the paper: several evenly spaced, centre-cropped clips per test video. Two
accuracies are reported and named apart: clip level classifies every clip on its own, video
level classifies a video by the mean of its clips' logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vcop_lab.evaluate.inference import collect


def evaluate_action(model, loader, device) -> dict:
    """Validation loss and clip accuracy, one centred clip per video (the training loop's hook)."""
    def score(clips, batch):
        labels = batch[1].to(device, non_blocking=True)
        logits = model(clips).float()
        return {"loss": F.cross_entropy(logits, labels, reduction="none"),
                "correct": logits.argmax(1) == labels}

    s = collect(model, loader, device, score)
    count = max(len(s.get("loss", [])), 1)
    return {"loss": s["loss"].sum().item() / count if s else 0.0,
            "acc": s["correct"].sum().item() / count if s else 0.0}


def clip_logits(model, loader, device, progress: bool = False) -> dict:
    """Logits of every test clip: ``{"logits": (V, K, C), "labels": (V,), "video": (V,)}``
    for a loader over :class:`~vcop_lab.data.datasets.EvalClipDataset` (K clips per video)."""
    def score(clips, batch):
        n, k = clips.shape[:2]
        return {"logits": model(clips.flatten(0, 1)).float().reshape(n, k, -1),
                "labels": batch[1], "video": batch[2]}

    return collect(model, loader, device, score, progress, desc="test")


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
