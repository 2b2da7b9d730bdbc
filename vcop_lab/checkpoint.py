"""Checkpoints: written atomically, read as data (``weights_only=True``), never as code."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from vcop_lab.errors import CheckpointError


def atomic_save(obj, path: str | Path) -> Path:
    """Save ``obj`` with torch.save so that ``path`` is either the old file or the complete
    new one, never a half-written file (write to a temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint written by this toolkit, as data only."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path,
                              "check the path, or pass `random` for random initialisation")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a torch file
        raise CheckpointError(f"cannot be read as a checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120]})", path,
                              "use a .pt file written by vcop-lab, re-run the training that "
                              "produced it") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError("is not a vcop-lab checkpoint (no 'model' entry)", path,
                              "use a checkpoint written by `vcop-lab pretrain` or `finetune`")
    return ckpt


def file_hash(path: str | Path, length: int = 16) -> str:
    """Content hash of a file (for cache keys: a changed checkpoint never reuses features)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]
