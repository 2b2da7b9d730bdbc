"""Frame transforms: resize, crop (one crop for all frames of a clip), scale to [0, 1].

As in the reference code there is no mean/std normalisation and no flip; the first
BatchNorm layer takes care of the scale.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 frames (T, H, W, 3) to ``size`` (H, W); a no-op when already that size
    (the decoder usually resized them already)."""
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = frames.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def crop_box(height: int, width: int, crop: int, rng: np.random.Generator | None,
             ) -> tuple[int, int]:
    """Top-left corner of a ``crop`` x ``crop`` window: random with ``rng``, else centred."""
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} is larger than the frames ({height}x{width})")
    if rng is None:
        return (height - crop) // 2, (width - crop) // 2
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def to_clip_tensor(frames: torch.Tensor, top: int, left: int, crop: int) -> torch.Tensor:
    """Crop uint8 frames (T, H, W, 3) and return a float clip (3, T, crop, crop) in [0, 1]."""
    clip = frames[:, top:top + crop, left:left + crop, :]
    # contiguous uint8 first: converting a strided view to float is several times slower
    return clip.permute(3, 0, 1, 2).contiguous().float().div_(255.0)
