"""Frame transforms, split between the loader and the device the network runs on.

In the loader (on the CPU): frames are decoded and resized (the decoder resizes them,
:func:`resize_frames` only when it did not) and every clip is cropped, one crop for all its
frames. Clips stay uint8 and channels last, ``(T, H, W, 3)``, as they came out of the decoder.

On the device, inside the training step and the inference loop: :func:`to_network_input`
moves a batch of such clips there and turns it into what the networks take, float
``(..., 3, T, H, W)`` scaled to [0, 1]. Why there: float32 is four times the bytes of uint8
(7.2 MB against 1.8 MB per 16-8-3 tuple at 112x112). Converting, stacking and collating them
took up to a third of a worker's CPU time per tuple, and the main process, which receives and
pins every batch alone, spent three times as long per tuple as it does on uint8 (see
``benchmarks/bench_loader_cpu.py``); a GPU converts a batch in microseconds. On the CPU the
result is the same, bit for bit.

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


def crop_clip(frames: torch.Tensor, top: int, left: int, crop: int) -> torch.Tensor:
    """The ``crop`` x ``crop`` window at (``top``, ``left``) of uint8 frames (T, H, W, 3):
    a view, copied once when the loader stacks the clips into a batch."""
    return frames[:, top:top + crop, left:left + crop, :]


def to_network_input(clips: torch.Tensor, device: torch.device | str | None = None,
                     channels_last: bool = False) -> torch.Tensor:
    """uint8 clips ``(..., T, H, W, 3)`` as the loader hands them over -> float network input
    ``(..., 3, T, H, W)`` in [0, 1] on ``device`` (default: where they are).

    The copy to the device is non-blocking (the loader pins its batches when feeding a GPU)
    and the conversion happens there. ``channels_last`` keeps the channels-last memory
    layout the bytes already have (``channels_last_3d`` once the leading dimensions are
    flattened into one), which is what a network in that layout wants; otherwise the result
    is contiguous. A tensor that is not uint8 (clip features, say) is only moved.
    """
    x = clips if device is None else clips.to(device, non_blocking=True)
    if x.dtype != torch.uint8:
        return x
    x = x.movedim(-1, -4)  # channels first: a view of the channels-last bytes
    if not channels_last:
        # contiguous uint8 first: converting a strided view to float is several times slower
        x = x.contiguous()
    # .float() keeps the strides of a dense tensor, so a channels-last view stays channels last
    return x.float().div_(255.0)
