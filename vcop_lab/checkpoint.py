"""Checkpoints: the one home for saving, reading, identifying and checking them.

- :func:`save_checkpoint` writes atomically; :func:`load_checkpoint` reads as data only
  (``weights_only=True``), never as code, with one clear error for a missing, empty,
  truncated or foreign file.
- :func:`checkpoint_hash` is the content hash that identifies a checkpoint: caches and run
  settings key on it, so a retrained checkpoint never reuses old results.
- :data:`RANDOM` names a random initialisation wherever a checkpoint is asked for.
- :func:`check_compatible` is the one compatibility rule (architecture, width, R(2+1)D
  shortcut, tuple length, input size), with one error naming the file, what it holds and
  what was asked.
- :func:`backbone_from` builds a backbone from a checkpoint or at random (seeded), and
  :func:`load_order_init` warm-starts an order model (the task curriculum).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from vcop_lab.atomic import atomic_path
from vcop_lab.data.sampling import parse_setting
from vcop_lab.errors import CheckpointError
from vcop_lab.models.backbones import Backbone, build_backbone
from vcop_lab.models.classifier import ActionClassifier
from vcop_lab.models.vcop_head import VCOPN

RANDOM = "random"
_FIX_READ = "use a .pt file written by vcop-lab, or re-run the training that produced it"


def is_random(checkpoint) -> bool:
    """Whether ``checkpoint`` asks for a random initialisation (``"random"`` or None)."""
    return checkpoint is None or str(checkpoint) == RANDOM


def save_checkpoint(obj: dict, path: str | Path) -> Path:
    """Save ``obj`` with torch.save so that ``path`` is either the old file or the complete
    new one, never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


# What each kind of checkpoint is called in messages.
KIND_NAMES = {"order": "order-prediction", "action": "fine-tuning", "esa": "E-SA"}


def load_checkpoint(path: str | Path, map_location="cpu", kind: str | None = None) -> dict:
    """Load a checkpoint written by this toolkit, as data only; with ``kind`` (``order``,
    ``action``, ``esa``) it must be a checkpoint of that kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path,
                              f"check the path, or pass `{RANDOM}` for random initialisation")
    if path.stat().st_size == 0:
        raise CheckpointError("is an empty file (0 bytes), not a checkpoint", path, _FIX_READ)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt, truncated, code-carrying or not a torch file
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        raise CheckpointError(f"cannot be read as a checkpoint ({type(exc).__name__}"
                              + (f": {first}" if first else "") + ")", path, _FIX_READ) from None
    found = (ckpt.get("meta") or {}).get("kind") if isinstance(ckpt, dict) else None
    if kind is not None and (found != kind or "model" not in ckpt):
        raise CheckpointError(f"is not an {KIND_NAMES.get(kind, kind)} checkpoint"
                              + (f" (it holds a {KIND_NAMES.get(found, found)} model)"
                                 if found else ""), path,
                              f"pass a checkpoint of the {KIND_NAMES.get(kind, kind)} model")
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError("is not a vcop-lab checkpoint (no 'model' entry)", path,
                              "use a checkpoint written by `vcop-lab pretrain` or `finetune`")
    return ckpt


_HASHES: dict[tuple, str] = {}


def checkpoint_hash(path: str | Path, length: int = 16) -> str:
    """Content hash of a file (remembered per path, size and modification time)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise CheckpointError("checkpoint not found", path,
                              f"check the path, or pass `{RANDOM}` for random "
                              "initialisation") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, length)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()[:length]
    return _HASHES[key]


def checkpoint_identity(checkpoint) -> dict:
    """``{"checkpoint": path or "random", "checkpoint_hash": hash or None}``."""
    if is_random(checkpoint):
        return {"checkpoint": RANDOM, "checkpoint_hash": None}
    return {"checkpoint": str(Path(checkpoint)), "checkpoint_hash": checkpoint_hash(checkpoint)}


# ----------------------------------------------------------------------------- compatibility


def held_settings(meta: dict) -> dict:
    """What a checkpoint's ``meta`` says about the network: kind, arch, width, R(2+1)D
    shortcut, tl, clip length and crop (None where it does not say)."""
    cl = meta.get("cl")
    tl = meta.get("tl")
    if meta.get("setting"):
        s = parse_setting(meta["setting"])
        cl, tl = cl or s.cl, tl or s.tl
    arch, shortcut = meta.get("arch"), meta.get("shortcut")
    if shortcut is None and arch == "r21d":
        shortcut = "projection"  # the only R(2+1)D shortcut before it was recorded
    return {"kind": meta.get("kind"), "arch": arch, "width": meta.get("width"),
            "shortcut": shortcut, "tl": tl, "cl": cl, "crop": meta.get("crop")}


def _describe(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items() if v is not None)


def check_compatible(path: str | Path, meta: dict, **asked) -> None:
    """The one compatibility rule: every asked value (``kind``, ``arch``, ``width``,
    ``shortcut``, ``tl``, ``cl``, ``crop``) that is not None must equal what the checkpoint
    records. What a checkpoint does not record is left to the shapes of its weights when
    they are loaded.

    Raises :class:`CheckpointError` naming the file, what it holds and what was asked.
    """
    held = held_settings(meta)
    asked = {k: v for k, v in asked.items() if v is not None}
    unknown = set(asked) - set(held)
    if unknown:
        raise ValueError(f"unknown compatibility keys {sorted(unknown)}")
    differ = {k: v for k, v in asked.items() if held[k] is not None and held[k] != v}
    if differ:
        theirs = {k: held[k] for k in differ}
        fix = []
        if "arch" in differ:
            fix.append(f"--arch {held['arch']}")
        if "shortcut" in differ:
            fix.append(f"a profile with r21d_shortcut={held['shortcut']}")
        if "width" in differ or "crop" in differ or "cl" in differ:
            fix.append("the profile it was trained with")
        raise CheckpointError(
            f"holds {_describe(theirs) or 'no settings'}, this run asks for "
            f"{_describe(differ)}", path,
            (f"pass {' and '.join(fix)}, or " if fix else "") +
            "use a checkpoint trained with this run's settings")


# ----------------------------------------------------------------------------- loading


def _load_weights(module: nn.Module, state: dict, path: Path, strict: bool = True):
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes
        raise CheckpointError(f"does not fit this network "
                              f"({str(exc).strip().splitlines()[-1][:160]})", path,
                              "use a checkpoint of the same architecture and width "
                              "(--arch, --profile)") from None
    if unexpected or (strict and missing):
        raise CheckpointError(f"does not fit this network (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]})", path,
                              "use a checkpoint of the same architecture (--arch)")
    return missing


def load_backbone_weights(backbone: Backbone, checkpoint: str | Path, **asked) -> dict:
    """Load the ``backbone.*`` weights of an order or fine-tune checkpoint into ``backbone``
    after :func:`check_compatible` (arch, width and shortcut of ``backbone``, plus
    ``asked``); returns the checkpoint's ``meta``."""
    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    check_compatible(path, meta, arch=getattr(backbone, "arch_name", None),
                     width=getattr(backbone, "width", None),
                     shortcut=getattr(backbone, "shortcut", None), **asked)
    state = {k[len("backbone."):]: v for k, v in ckpt["model"].items()
             if k.startswith("backbone.")}
    if not state:
        raise CheckpointError("holds no backbone weights (no 'backbone.*' entries)", path,
                              "use a checkpoint written by `vcop-lab pretrain` or `finetune`")
    _load_weights(backbone, state, path)
    return meta


def backbone_from(checkpoint, arch: str, width: float, seed: int = 0, *,
                  shortcut: str = "projection", init: str = "kaiming", **asked
                  ) -> tuple[Backbone, dict | None]:
    """A backbone with the weights of ``checkpoint``, or a random one drawn with ``seed``
    (``"random"``), and the checkpoint's ``meta`` (None when random).

    ``shortcut`` and ``init`` go to :func:`~vcop_lab.models.build_backbone` (a profile's
    :meth:`~vcop_lab.profiles.Profile.backbone_options`); a checkpoint must hold the same
    shortcut. The caller's random state is left untouched. ``asked`` goes to
    :func:`check_compatible` (e.g. ``cl=8, crop=56``).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = build_backbone(arch, width, shortcut=shortcut, init=init)
    if is_random(checkpoint):
        return backbone, None
    return backbone, load_backbone_weights(backbone, checkpoint, **asked)


def order_model_from(path: str | Path) -> tuple[VCOPN, dict]:
    """The order model (backbone and head) saved in an order checkpoint, and its ``meta``."""
    return _saved_model(
        path, None, lambda held, meta: held["kind"] == "order" and held["tl"],
        "is not an order-prediction checkpoint", "use the best.pt or last.pt of a "
        "`vcop-lab pretrain` run", lambda backbone, held, meta: VCOPN(backbone, held["tl"]))


def action_model_from(path: str | Path) -> tuple[ActionClassifier, dict]:
    """The action classifier (backbone and linear layer) saved by a fine-tuning run, and
    its ``meta``."""
    return _saved_model(
        path, "action", lambda held, meta: meta.get("num_classes"),
        "is not a fine-tuning checkpoint that names its classifier",
        "use the best.pt or last.pt of a `vcop-lab finetune` run",
        lambda backbone, held, meta: ActionClassifier(backbone, meta["num_classes"]))


def _saved_model(path, kind, holds, problem: str, fix: str, head) -> tuple[nn.Module, dict]:
    """The whole network of a checkpoint: its backbone built from the settings it holds,
    ``head(backbone, held, meta)`` around it, every weight loaded strictly. ``holds(held,
    meta)`` says whether the checkpoint names enough to build it."""
    path = Path(path)
    ckpt = load_checkpoint(path, kind=kind)
    meta = ckpt.get("meta") or {}
    held = held_settings(meta)
    if not (held["arch"] and held["width"] and holds(held, meta)):
        raise CheckpointError(f"{problem} (it holds {_describe(held) or 'no settings'})",
                              path, fix)
    backbone = build_backbone(held["arch"], held["width"],
                              shortcut=held["shortcut"] or "projection")
    model = head(backbone, held, meta)
    _load_weights(model, ckpt["model"], path)
    return model, meta


def load_order_init(model, path: str | Path) -> dict:
    """Initialise an order model (:class:`~vcop_lab.models.VCOPN`) from an order checkpoint
    (the task curriculum: tl=3 -> 4 -> 5).

    The backbone and the pair layer carry over; the final layer is kept only when its tl
    matches and is otherwise freshly initialised. Another architecture, width or clip size
    is an error, and so is another R(2+1)D shortcut. Returns the checkpoint's ``meta``.
    """
    path = Path(path)
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    check_compatible(path, meta, kind="order", arch=model.backbone.arch_name,
                     width=model.backbone.width,
                     shortcut=getattr(model.backbone, "shortcut", None))
    keep_head = held_settings(meta)["tl"] == model.tl
    state = {k: v for k, v in ckpt["model"].items()
             if keep_head or not k.startswith("classifier.")}
    missing = _load_weights(model, state, path, strict=False)
    if any(not k.startswith("classifier.") for k in missing):
        raise CheckpointError(f"does not fit the model (missing {missing[:3]})", path,
                              "use an order-prediction checkpoint")
    return meta


__all__ = [
    "RANDOM",
    "action_model_from",
    "backbone_from",
    "check_compatible",
    "checkpoint_hash",
    "checkpoint_identity",
    "held_settings",
    "is_random",
    "load_backbone_weights",
    "load_checkpoint",
    "load_order_init",
    "order_model_from",
    "save_checkpoint",
]
