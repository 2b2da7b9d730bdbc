"""Order accuracy of a clip order network (the paper's Table I and Fig. 5).

Each evaluation tuple (a video's centred tuple, centre-cropped, in chronological order) goes
through the backbone once; the head then classifies its clip features in every one of the
``tl!`` orders, so accuracy is measured over all permutations exactly, with balanced classes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vcop_lab.data.sampling import permutations_for
from vcop_lab.evaluate.inference import collect


def order_scores(model, loader, device, progress: bool = False) -> dict:
    """Score each evaluation tuple under every one of the tl! permutations.

    Returns ``{"video": (V,), "pred": (V, tl!), "prob": (V, tl!), "loss": mean}``: for each
    video and each order, the predicted order and the probability of the true one.
    """
    orders = torch.tensor(permutations_for(model.tl), device=device)

    def score(tuples, batch):
        n = tuples.shape[0]
        feats = model.backbone(tuples.flatten(0, 1)).float().reshape(n, model.tl, -1)
        logits = model.classify(feats[:, orders].flatten(0, 1)).float()  # (n * tl!, tl!)
        target = torch.arange(len(orders), device=device).repeat(n)
        return {"video": batch[2],
                "loss": F.cross_entropy(logits, target, reduction="none"),
                "pred": logits.argmax(1).reshape(n, -1),
                "prob": logits.softmax(1).gather(1, target[:, None]).reshape(n, -1)}

    s = collect(model, loader, device, score, progress)
    return {"video": s["video"], "pred": s["pred"], "prob": s["prob"],
            "loss": s["loss"].mean().item()}


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
