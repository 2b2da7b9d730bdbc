"""Where the network looks: Grad-CAM on a backbone stage, and how much of it falls on the
moving object of a synthetic video.

Grad-CAM (Selvaraju et al., 2017) weighs a stage's activation ``A`` (channels ``k``) by the
mean gradient of a target score over time and space, ``w_k = mean_{t,h,w} dS/dA_k``, sums,
keeps the positive part, ``ReLU(sum_k w_k A_k)``, upsamples it (trilinear) to the clip's
``(T, H, W)`` and scales it to a maximum of 1. Why Grad-CAM rather than gradient x input: the
input gradient of a small 3D CNN is dominated by pixel-level noise and texture edges (every
pixel of the textured background gets some), so its mass says little about *which region*
the decision used; Grad-CAM asks a stage deep enough to be about the task and is smooth at
that stage's resolution.

Targets:

- the **order network** (:class:`~vcop_lab.models.VCOPN`): the logit of the true order.
  The video's evaluation tuple (centred, centre-cropped, chronological) goes through the
  backbone once, and, as in the order evaluation, the head classifies its clip features in
  every one of the tl! orders; the score is the mean over the orders of the logit of the
  order given (so no order is favoured). One map per clip, from that clip's activation.
- the **action network** (:class:`~vcop_lab.models.ActionClassifier`): the logit of the
  video's true class, for each clip of the same tuple on its own.

The object masks come from the synthetic set's ``ground_truth.jsonl``: the exact shape of
every moving object (:func:`~vcop_lab.data.synthetic.scene.object_coverage`, the geometry
the renderer draws with), put through the same resize and centre crop as the frames and
taken at the tuple's frames. :func:`saliency_report` measures the fraction of saliency mass
inside the mask against the mask's area fraction, what saliency spread evenly would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vcop_lab.checkpoint import (
    RANDOM,
    action_model_from,
    backbone_from,
    is_random,
    order_model_from,
)
from vcop_lab.data import sampling
from vcop_lab.data.datasets import display_frames
from vcop_lab.data.manifest import VideoRecord, data_root, load_manifest, select_split
from vcop_lab.data.synthetic import load_ground_truth
from vcop_lab.data.synthetic.scene import object_coverage
from vcop_lab.data.transforms import crop_box, to_network_input
from vcop_lab.errors import SettingsError
from vcop_lab.models import STAGES, VCOPN, ActionClassifier
from vcop_lab.profiles import get_profile

# conv3: three stages deep (stem and two residual blocks, a receptive field wider than the
# object), so about the task rather than about edges, and still a 4x14x14 grid at the
# teaching crop (8x56x56 clips in R3D; 2x7x7 at smoke): a cell is 4x4 pixels, a few cells
# per object. conv4 (2x7x7 at teaching, one step in time at smoke) spills an 8x8-pixel cell
# around a ~14-pixel object, and conv5 is 1x4x4. Measured at teaching (R3D, 24 videos),
# conv3 also told the pretrained order network from a random one far more clearly.
DEFAULT_STAGE = "conv3"


# ----------------------------------------------------------------------------- Grad-CAM

def grad_cam(backbone: nn.Module, clips: torch.Tensor, score, stage: str = DEFAULT_STAGE
             ) -> torch.Tensor:
    """Grad-CAM maps ``(N, T, H, W)`` in [0, 1] of clips ``(N, 3, T, H, W)``.

    ``score(features)`` maps the backbone's pooled features ``(N, D)`` to the scalar target
    (a sum over clips where each clip has its own). The stage activation comes from the
    backbone's ``forward(return_stages=True)``. A map with no positive evidence stays 0.
    """
    if stage not in STAGES:
        raise SettingsError(f"unknown stage {stage!r}", fix=f"choose one of {', '.join(STAGES)}")
    # The input asks for gradients, so the stage does even where the weights are frozen.
    clips = clips.detach().float().requires_grad_(True)
    with torch.enable_grad():
        features, stages = backbone(clips, return_stages=True)
        act = stages[stage]
        (grad,) = torch.autograd.grad(score(features), act)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * act.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(clips.shape[2:]), mode="trilinear",
                        align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None, None]
    return (cam / peak).clamp_(0, 1)


def _in_eval(model: nn.Module, fn):
    was = model.training
    model.eval()  # running BatchNorm statistics: clips do not mix, dropout is off
    try:
        return fn()
    finally:
        model.train(was)


def order_grad_cam(model: VCOPN, clips: torch.Tensor, stage: str = DEFAULT_STAGE
                   ) -> torch.Tensor:
    """Grad-CAM of an order network for one tuple ``(tl, 3, T, H, W)`` in chronological
    order: the target is the logit of the true order, averaged over all tl! shufflings of
    the clip features. Returns one map per clip, ``(tl, T, H, W)``."""
    orders = torch.tensor(sampling.permutations_for(model.tl), device=clips.device)

    def score(features):
        logits = model.classify(features[orders])  # row k: the tuple shuffled by order k
        return logits.diagonal().mean()

    return _in_eval(model, lambda: grad_cam(model.backbone, clips, score, stage))


def action_grad_cam(model: ActionClassifier, clips: torch.Tensor, label: int,
                    stage: str = DEFAULT_STAGE) -> torch.Tensor:
    """Grad-CAM of an action network for clips ``(N, 3, T, H, W)`` of one video: the target
    is the logit of the true class ``label``, for each clip on its own. ``(N, T, H, W)``."""
    def score(features):
        return model.classifier(model.dropout(features))[:, int(label)].sum()

    return _in_eval(model, lambda: grad_cam(model.backbone, clips, score, stage))


def network_grad_cam(model: nn.Module, clips: torch.Tensor, label: int,
                     stage: str = DEFAULT_STAGE) -> torch.Tensor:
    """:func:`order_grad_cam` or :func:`action_grad_cam`, whichever ``model`` is."""
    if isinstance(model, VCOPN):
        return order_grad_cam(model, clips, stage)
    if isinstance(model, ActionClassifier):
        return action_grad_cam(model, clips, label, stage)
    raise SettingsError(f"no saliency target for a {type(model).__name__}",
                        fix="pass an order network (VCOPN) or an action classifier")


# ----------------------------------------------------------------------------- networks

def load_network(kind: str, checkpoint=RANDOM, profile="teaching", arch: str | None = None,
                 seed: int = 0, num_classes: int | None = None) -> nn.Module:
    """An order (``kind="order"``) or action (``"action"``) network, in eval mode.

    From a checkpoint: an order checkpoint through :func:`~vcop_lab.checkpoint.order_model_from`,
    a fine-tuning checkpoint through :func:`~vcop_lab.checkpoint.action_model_from`.
    ``"random"``: the same architecture at the profile's width and setting,
    drawn with ``seed`` (the comparison network); a random action network needs
    ``num_classes``.
    """
    prof = get_profile(profile)
    if kind == "order" and not is_random(checkpoint):
        return order_model_from(checkpoint)[0].eval()
    if kind not in ("order", "action"):
        raise SettingsError(f"unknown network kind {kind!r}", fix="use order or action")
    if is_random(checkpoint):
        backbone, _ = backbone_from(RANDOM, arch or prof.arch, prof.width, seed,
                                    **prof.backbone_options())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the new layers too, without touching the caller's RNG
            if kind == "order":
                return VCOPN(backbone, sampling.parse_setting(prof.setting).tl).eval()
            if num_classes is None:
                raise SettingsError("a random action network needs num_classes",
                                    fix="pass num_classes=len(class names)")
            return ActionClassifier(backbone, num_classes).eval()
    return action_model_from(checkpoint)[0].eval()


# ----------------------------------------------------------------------------- masks

def object_mask(truth: Mapping, frame_indices, resize: tuple[int, int], crop: int | None,
                moving_only: bool = True) -> torch.Tensor:
    """The object mask of a synthetic video at ``frame_indices``, bool ``(len, crop, crop)``.

    Every moving object of the ground-truth record (``moving_only=False``: every object) is
    rendered with its exact shape in the written frame's pixels, resized to ``resize``
    (bilinear, antialiased, as :func:`~vcop_lab.data.transforms.resize_frames`) and centre
    cropped as :func:`~vcop_lab.data.datasets.display_frames` does; a pixel is in the mask
    when an object covers at least half of it.
    """
    idx = np.asarray(frame_indices).ravel()
    height, width = int(truth["height"]), int(truth["width"])
    cover = np.zeros((len(idx), height, width), np.float32)
    for obj in truth["objects"]:
        if moving_only and not obj.get("moving", obj.get("role") == "actor"):
            continue
        traj = np.asarray(obj["trajectory"], np.float32)[idx]
        cover = np.maximum(cover, object_coverage(obj["shape"], traj, height, width))
    x = torch.from_numpy(cover)[:, None]
    if tuple(resize) != (height, width):
        x = F.interpolate(x, size=tuple(resize), mode="bilinear", antialias=True,
                          align_corners=False)
    x = x[:, 0]
    if crop is not None:
        top, left = crop_box(x.shape[1], x.shape[2], crop, None)
        x = x[:, top:top + crop, left:left + crop]
    return x >= 0.5


def inside_fraction(saliency, mask) -> float:
    """The fraction of saliency mass inside ``mask`` (same shape). An all-zero map has no
    preference and counts as spread evenly: it gets the mask's area fraction."""
    s = torch.as_tensor(saliency, dtype=torch.float64).clamp_min(0)
    m = torch.as_tensor(mask).to(torch.float64)
    if s.shape != m.shape:
        raise ValueError(f"saliency {tuple(s.shape)} and mask {tuple(m.shape)} differ in shape")
    total = s.sum()
    if total <= 0:
        return mask_area_fraction(m)
    return float((s * m).sum() / total)


def mask_area_fraction(mask) -> float:
    """The fraction of pixels inside ``mask``: what saliency spread evenly puts inside."""
    return float(torch.as_tensor(mask).to(torch.float64).mean())


# ----------------------------------------------------------------------------- videos

def _eval_videos(data: str | Path, setting: sampling.Setting, videos: int | None,
                 split: str = "test") -> list[VideoRecord]:
    """``videos`` videos of ``split`` long enough for a tuple, spread evenly over the list
    (so over the classes, which the manifest groups)."""
    records = [r for r in select_split(load_manifest(data), split)
               if r.num_frames >= setting.span]
    if not records:
        raise SettingsError(f"no {split} video of at least {setting.span} frames", data,
                            "check the manifest's splits and the profile's setting")
    if videos is None or videos >= len(records):
        return records
    pick = np.linspace(0, len(records) - 1, max(int(videos), 1)).round().astype(int)
    return [records[i] for i in dict.fromkeys(pick.tolist())]


def tuple_example(data: str | Path, record: VideoRecord, profile="teaching",
                  truth: Mapping | None = None) -> dict:
    """A video's evaluation tuple as the networks see it: ``frames`` uint8
    ``(tl, cl, crop, crop, 3)``, network input ``clips`` ``(tl, 3, cl, crop, crop)``, the
    ``frame_indices`` ``(tl, cl)``, and with a ground-truth record the ``mask``
    ``(tl, cl, crop, crop)`` (else None)."""
    prof = get_profile(profile)
    s = sampling.parse_setting(prof.setting)
    indices = sampling.tuple_frame_indices(sampling.eval_start(record.num_frames, s), s)
    frames = display_frames(record.full_path(data_root(data)), indices, prof.resize, prof.crop,
                            num_frames=record.num_frames)
    frames = frames.reshape(s.tl, s.cl, *frames.shape[1:])
    mask = None
    if truth is not None:
        mask = object_mask(truth, indices, prof.resize, prof.crop).reshape(frames.shape[:4])
    return {"frames": frames, "clips": to_network_input(frames), "frame_indices": indices,
            "mask": mask, "label": record.label_index, "record": record}


def saliency_example(data: str | Path, networks: Mapping[str, nn.Module], profile="teaching",
                     video: int = 0, stage: str = DEFAULT_STAGE, synthetic: bool = True) -> dict:
    """One test video's tuple and every network's Grad-CAM maps, ready to plot:
    ``{"frames", "mask" (None without ground truth), "maps": {name: (tl, cl, crop, crop)},
    "inside": {name: fraction} (empty without a mask), "record", "frame_indices"}``.
    ``video`` indexes the test videos long enough for a tuple."""
    s = sampling.parse_setting(get_profile(profile).setting)
    record = _eval_videos(data, s, None)[int(video)]
    truth = load_ground_truth(data)[record.path] if synthetic else None
    ex = tuple_example(data, record, profile, truth)
    maps = {name: network_grad_cam(net, ex["clips"], ex["label"], stage)
            for name, net in networks.items()}
    inside = {} if ex["mask"] is None else {
        name: float(np.mean([inside_fraction(m[c], ex["mask"][c]) for c in range(len(m))]))
        for name, m in maps.items()}
    return {"frames": ex["frames"], "mask": ex["mask"], "maps": maps, "inside": inside,
            "record": record, "frame_indices": ex["frame_indices"], "stage": stage}


def saliency_report(data: str | Path, networks: Mapping[str, nn.Module], profile="teaching",
                    videos: int | None = 24, stage: str = DEFAULT_STAGE) -> dict:
    """Fraction of Grad-CAM mass inside the moving object's mask, per network, over
    ``videos`` test videos of a synthetic data folder (spread over the test list).

    Returns ``{name: {"inside_fraction", "mask_area_fraction", "ratio", "videos", "clips",
    "stage"}}``: the mean over every clip of every video of the fraction inside, the mean
    area fraction of the masks (what saliency spread evenly would get), their ratio
    (1: no better than uniform) and the counts; ready for ``results.json``.
    """
    s = sampling.parse_setting(get_profile(profile).setting)
    truth = load_ground_truth(data)
    inside: dict[str, list[float]] = {name: [] for name in networks}
    area: list[float] = []
    for record in _eval_videos(data, s, videos):
        ex = tuple_example(data, record, profile, truth[record.path])
        area += [mask_area_fraction(m) for m in ex["mask"]]
        for name, net in networks.items():
            maps = network_grad_cam(net, ex["clips"], ex["label"], stage)
            inside[name] += [inside_fraction(maps[c], ex["mask"][c]) for c in range(len(maps))]
    chance = float(np.mean(area))
    return {name: {"inside_fraction": float(np.mean(v)), "mask_area_fraction": chance,
                   "ratio": float(np.mean(v)) / chance if chance > 0 else None,
                   "videos": len(v) // s.tl, "clips": len(v), "stage": stage}
            for name, v in inside.items()}


__all__ = [
    "DEFAULT_STAGE",
    "action_grad_cam",
    "grad_cam",
    "inside_fraction",
    "load_network",
    "mask_area_fraction",
    "network_grad_cam",
    "object_mask",
    "order_grad_cam",
    "saliency_example",
    "saliency_report",
    "tuple_example",
]
