"""Where the network looks: object masks from the synthetic ground truth, Grad-CAM maps, the
fraction of saliency inside the mask, the networks it is measured on, and its figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vcop_lab import viz
from vcop_lab.checkpoint import save_checkpoint
from vcop_lab.data.manifest import load_manifest, select_split
from vcop_lab.data.synthetic import load_ground_truth
from vcop_lab.data.synthetic.scene import _SHAPES, _draw_object, object_coverage
from vcop_lab.evaluate import saliency as S
from vcop_lab.models import VCOPN, ActionClassifier, build_backbone
from vcop_lab.profiles import SMOKE


@pytest.fixture(scope="module")
def main(synth_smoke):
    data = synth_smoke["main"]
    return data, select_split(load_manifest(data), "test"), load_ground_truth(data)


@pytest.fixture(scope="module")
def random_nets():
    return {"order": S.load_network("order", "random", "smoke", seed=1),
            "action": S.load_network("action", "random", "smoke", seed=1, num_classes=14)}


def test_object_coverage_is_the_shape_the_renderer_draws():
    traj = np.array([[20.3, 15.7, 7.5, 33.0], [2.0, 30.2, 6.0, 200.0], [48.6, 10.1, 5.5, 91.0]])
    for shape in _SHAPES:
        frames = np.zeros((3, 40, 50, 3), np.float32)
        _draw_object(frames, {"traj": traj, "shape": shape, "colour": "red"})
        cover = object_coverage(shape, traj, 40, 50)
        # the renderer blends its colour at exactly this coverage: red is 230 in the red
        # channel, 235 on its orientation dot (which changes colour, not coverage)
        red = frames[..., 0]
        assert np.all(red >= 230 * cover - 1e-3) and np.all(red <= 235 * cover + 1e-3)
        assert (red > 0).sum() == (cover > 0).sum() > 0


def _centroid(mask: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def test_mask_lies_on_the_object_in_the_frames_the_network_sees(main):
    data, test, truth = main
    h0, w0 = 64, 86
    (rh, rw), crop = SMOKE.resize, SMOKE.crop
    top, left = (rh - crop) // 2, (rw - crop) // 2
    checked = 0
    for rec in test[::3]:
        ex = S.tuple_example(data, rec, SMOKE, truth[rec.path])
        frames = ex["frames"].flatten(0, 1).float()  # (tl*cl, crop, crop, 3)
        mask = ex["mask"].flatten(0, 1)
        assert mask.shape == frames.shape[:3] and mask.any()
        # object pixels stand out from the frame's typical (background) colour
        diff = (frames - frames.flatten(1, 2).median(1).values[:, None, None]).abs().amax(-1)
        assert diff[mask].mean() > diff[~mask].mean() + 30
        # and the mask sits where the trajectory says, after resize and crop
        traj = np.asarray(truth[rec.path]["objects"][0]["trajectory"])
        for k, t in enumerate(ex["frame_indices"].ravel()):
            x = (traj[t, 0] + 0.5) * rw / w0 - 0.5 - left
            y = (traj[t, 1] + 0.5) * rh / h0 - 0.5 - top
            m = mask[k]
            edge = m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()
            if m.sum() >= 4 and not edge:  # a whole object: its centre is its centroid
                cx, cy = _centroid(m)
                assert abs(cx - x) < 1.0 and abs(cy - y) < 1.0, (rec.path, t)
                checked += 1
    assert checked >= 20


def test_inside_fraction_of_the_mask_itself_and_of_a_uniform_map():
    mask = torch.zeros(4, 10, 10, dtype=torch.bool)
    mask[:, 2:5, 3:7] = True
    assert S.inside_fraction(mask.float(), mask) == pytest.approx(1.0)
    assert S.inside_fraction(torch.ones(4, 10, 10), mask) == pytest.approx(0.12)
    assert S.mask_area_fraction(mask) == pytest.approx(0.12)
    assert S.inside_fraction(torch.zeros(4, 10, 10), mask) == pytest.approx(0.12)
    assert S.inside_fraction((~mask).float(), mask) == 0.0


def test_grad_cam_maps_have_the_clip_shape_are_normalised_and_deterministic(main, random_nets):
    data, test, truth = main
    ex = S.tuple_example(data, test[0], SMOKE, truth[test[0].path])
    tl, cl, crop = 3, 4, SMOKE.crop
    for stage in ("conv3", S.DEFAULT_STAGE):
        for net in random_nets.values():
            maps = S.network_grad_cam(net, ex["clips"], ex["label"], stage)
            assert maps.shape == (tl, cl, crop, crop)
            assert maps.min() >= 0 and maps.max() <= 1
            peaks = maps.flatten(1).amax(1)
            assert torch.all((peaks - 1).abs() < 1e-6) or torch.all(peaks[peaks > 0] == 1)
            again = S.network_grad_cam(net, ex["clips"], ex["label"], stage)
            assert torch.equal(maps, again)
            assert not net.training
    with pytest.raises(Exception, match="stage"):
        S.network_grad_cam(random_nets["order"], ex["clips"], 0, "conv9")


class ObjectDetector(nn.Module):
    """A hand-built 'network': one channel fires on pixels far from the clip's background
    colour (the object), the other on the rest; its feature is their spatial mean."""

    def forward(self, x, return_stages=False):
        background = x.flatten(2).median(2).values[..., None, None, None]
        far = (x - background).abs().amax(1, keepdim=True)
        act = torch.cat([F.relu(far - 0.2), F.relu(0.2 - far)], 1)
        feature = act.mean((2, 3, 4))
        return (feature, {"conv1": act}) if return_stages else feature


def test_a_score_of_the_object_pixels_puts_saliency_on_the_object(main):
    data, test, truth = main
    on, off, area = [], [], []
    for rec in test[::4]:
        ex = S.tuple_example(data, rec, SMOKE, truth[rec.path])
        for channel, out in ((0, on), (1, off)):
            maps = S.grad_cam(ObjectDetector(), ex["clips"],
                              lambda f, c=channel: f[:, c].sum(), "conv1")
            out += [S.inside_fraction(maps[c], ex["mask"][c]) for c in range(len(maps))]
        area += [S.mask_area_fraction(m) for m in ex["mask"]]
    assert np.mean(on) > 3 * np.mean(area)  # the object score looks at the object
    assert np.mean(off) < np.mean(area)     # the background score looks away from it


def test_saliency_report_is_ready_for_results_and_deterministic(main, random_nets):
    data = main[0]
    report = S.saliency_report(data, random_nets, SMOKE, videos=3, stage="conv3")
    assert set(report) == {"order", "action"}
    for row in report.values():
        assert row["videos"] == 3 and row["clips"] == 9 and row["stage"] == "conv3"
        assert 0 <= row["inside_fraction"] <= 1 and 0 < row["mask_area_fraction"] < 0.5
        assert row["ratio"] == pytest.approx(row["inside_fraction"] / row["mask_area_fraction"])
    assert report["order"]["mask_area_fraction"] == report["action"]["mask_area_fraction"]
    assert S.saliency_report(data, random_nets, SMOKE, videos=3, stage="conv3") == report


def test_networks_load_from_order_and_fine_tuning_checkpoints(tmp_path):
    torch.manual_seed(0)
    base = {"arch": "r3d", "width": SMOKE.width, "shortcut": None, "cl": 4, "crop": 28}
    order = VCOPN(build_backbone("r3d", SMOKE.width), 3).eval()
    save_checkpoint({"model": order.state_dict(),
                     "meta": {**base, "kind": "order", "setting": SMOKE.setting}},
                    tmp_path / "order.pt")
    action = ActionClassifier(build_backbone("r3d", SMOKE.width), 5).eval()
    save_checkpoint({"model": action.state_dict(),
                     "meta": {**base, "kind": "action", "num_classes": 5}},
                    tmp_path / "action.pt")
    x = torch.rand(2, 3, 4, 28, 28)
    with torch.no_grad():
        got = S.load_network("order", tmp_path / "order.pt")
        assert torch.equal(got.backbone(x), order.backbone(x))
        got = S.load_network("action", tmp_path / "action.pt")
        assert isinstance(got, ActionClassifier) and torch.equal(got(x), action(x))
    with pytest.raises(Exception, match="fine-tuning"):
        S.load_network("action", tmp_path / "order.pt")


def test_saliency_example_and_its_figure(main, random_nets):
    data = main[0]
    ex = S.saliency_example(data, random_nets, SMOKE, video=1, stage="conv3")
    assert ex["frames"].shape == (3, 4, 28, 28, 3) and set(ex["inside"]) == set(random_nets)
    fig = viz.saliency_overlay(list(ex["frames"]), {k: list(v) for k, v in ex["maps"].items()},
                               list(ex["mask"]), frames_per_clip=2, title="t")
    assert len(fig.axes) == 2 * 3 * 2 + 1  # networks x shown frames, and the colour bar
    plain = S.saliency_example(data, random_nets, SMOKE, video=1, stage="conv3",
                               synthetic=False)
    assert plain["mask"] is None and plain["inside"] == {}
    assert torch.equal(plain["maps"]["order"], ex["maps"]["order"])
