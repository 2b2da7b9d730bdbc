"""The loader hands over uint8 clips, channels last; ``to_network_input`` makes the networks'
float input from them, and it is what the float transform of the loader used to give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vcop_lab.data import sampling
from vcop_lab.data.datasets import EvalClipDataset, OrderTupleDataset, display_frames
from vcop_lab.data.manifest import data_root, load_manifest, select_split
from vcop_lab.data.transforms import crop_box, crop_clip, to_network_input
from vcop_lab.profiles import SMOKE


def float_clip(frames: torch.Tensor, top: int, left: int, crop: int) -> torch.Tensor:
    """The loader's transform before uint8 clips: a float clip (3, T, crop, crop) in [0, 1]."""
    clip = frames[:, top:top + crop, left:left + crop, :]
    return clip.permute(3, 0, 1, 2).contiguous().float().div_(255.0)


def _frames(t: int = 6, h: int = 9, w: int = 11) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)
    frames[0, 0, 0] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    return frames


BOXES = [(0, 0), (2, 1), (1, 4)]


def test_network_input_equals_the_old_float_clips_bit_for_bit():
    frames = _frames()
    old = torch.stack([float_clip(frames, top, left, 7) for top, left in BOXES])
    handed = torch.stack([crop_clip(frames, top, left, 7) for top, left in BOXES])
    assert handed.dtype == torch.uint8 and handed.shape == (3, 6, 7, 7, 3)
    new = to_network_input(handed)
    assert new.dtype == torch.float32 and new.shape == (3, 3, 6, 7, 7) and new.is_contiguous()
    assert torch.equal(new, old)
    assert new[0, :, 0, 0, 0].tolist() == pytest.approx([0.0, 128 / 255, 1.0])


def test_channels_last_keeps_the_bytes_layout():
    frames = _frames()
    clips = torch.stack([crop_clip(frames, top, left, 7) for top, left in BOXES])
    x = to_network_input(clips, "cpu", channels_last=True)
    assert torch.equal(x, to_network_input(clips))
    assert x.is_contiguous(memory_format=torch.channels_last_3d)
    # a batch of tuples (N, tl, T, H, W, 3): channels_last_3d once N and tl are one dimension
    tuples = torch.stack([clips, clips.flip(0)])
    flat = to_network_input(tuples, channels_last=True).flatten(0, 1)
    assert flat.shape == (6, 3, 6, 7, 7)
    assert flat.is_contiguous(memory_format=torch.channels_last_3d)


def test_other_tensors_are_only_moved():
    features = torch.randn(2, 4, 8)
    assert to_network_input(features) is features
    assert to_network_input(features, torch.device("cpu")) is features


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_from_pinned_memory_the_same_numbers():
    clips = torch.stack([crop_clip(_frames(), top, left, 7) for top, left in BOXES])
    pinned = torch.stack([clips, clips]).pin_memory()
    for channels_last in (False, True):
        x = to_network_input(pinned, "cuda", channels_last)
        assert x.device.type == "cuda"
        torch.testing.assert_close(x.cpu(), to_network_input(pinned), rtol=0, atol=1e-7)


def test_dataset_items_are_uint8_and_give_the_old_network_input(synth_smoke):
    data = synth_smoke["main"]
    records = select_split(load_manifest(data), "test")[:2]
    root = data_root(data)
    setting = sampling.parse_setting(SMOKE.setting)
    tuples = OrderTupleDataset(records, root, setting, SMOKE.resize, SMOKE.crop, train=False)
    clips, label, i = tuples[0]
    assert clips.dtype == torch.uint8 and label == 0 and i == 0
    assert clips.shape == (setting.tl, setting.cl, SMOKE.crop, SMOKE.crop, 3)
    rec = tuples.records[0]
    start = sampling.eval_start(rec.num_frames, setting)
    frames = display_frames(rec.full_path(root), sampling.tuple_frame_indices(start, setting),
                            SMOKE.resize, num_frames=rec.num_frames)
    box = crop_box(frames.shape[1], frames.shape[2], SMOKE.crop, None)
    old = torch.stack([float_clip(frames[c * setting.cl:(c + 1) * setting.cl], *box, SMOKE.crop)
                       for c in range(setting.tl)])
    assert torch.equal(to_network_input(clips), old)
    evals = EvalClipDataset(records, root, setting.cl, 3, SMOKE.resize, SMOKE.crop)
    item = evals[1][0]
    assert item.dtype == torch.uint8 and item.shape == (3, setting.cl, SMOKE.crop, SMOKE.crop, 3)
    assert np.isclose(float(to_network_input(item).max()), float(item.max()) / 255)
