"""Backbones and the order head: sizes, shapes, freezing, tiny inputs, gradients."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from torch import nn

from vcop_lab.errors import SettingsError
from vcop_lab.models import (
    ARCHS,
    STAGES,
    VCOPN,
    build_backbone,
    freeze_through,
    permutations_for,
    set_frozen_bn_eval,
    stage_modules,
)
from vcop_lab.models.backbones import Conv2Plus1D, middle_width

# Parameter counts the paper gives for the full-size backbones.
TARGET_PARAMS = {"c3d": 27.7e6, "r3d": 14.4e6, "r21d": 14.4e6}
# The reference code's R(2+1)D, factorised shortcuts included (spec section 8: "about
# 14.365M parameters in all"), counted exactly.
R21D_FACTORISED_PARAMS = 14_365_303
# The three downsampling shortcuts (conv3, conv4, conv5) at full width: (Nin, Nout).
SHORTCUT_WIDTHS = ((64, 128), (128, 256), (256, 512))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def clips(n: int = 2, t: int = 8, size: int = 56, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ARCHS)
def test_full_size_parameter_count_matches_paper(arch):
    model = build_backbone(arch)
    assert model.feature_dim == 512
    assert abs(count(model) - TARGET_PARAMS[arch]) / TARGET_PARAMS[arch] < 0.01


def test_r21d_middle_width_keeps_the_3d_parameter_count():
    assert middle_width(64, 64, (3, 3, 3)) == (27 * 64 * 64) // (9 * 64 + 3 * 64) == 144
    conv = Conv2Plus1D(128, 256, (3, 3, 3), (2, 2, 2))
    weights = sum(m.weight.numel() for m in conv if isinstance(m, nn.Conv3d))
    assert abs(weights - 27 * 128 * 256) / (27 * 128 * 256) < 0.01


def test_full_width_forward_on_a_tiny_clip():
    model = build_backbone("r3d").eval()
    with torch.no_grad():
        out = model(clips(n=1, t=4, size=28))
    assert out.shape == (1, 512)


@pytest.mark.parametrize("arch", ARCHS)
def test_stage_shapes_follow_width_and_input(arch):
    width = 0.25
    model = build_backbone(arch, width).eval()
    with torch.no_grad():
        feature, stages = model(clips(t=16, size=64), return_stages=True)
    assert list(stages) == list(STAGES)
    assert model.feature_dim == round(512 * width)
    assert feature.shape == (2, model.feature_dim)
    channels = {"c3d": (64, 128, 256, 512, 512), "r3d": (64, 64, 128, 256, 512)}
    channels["r21d"] = channels["r3d"]
    for name, c in zip(STAGES, channels[arch]):
        assert stages[name].shape[:2] == (2, round(c * width)), name
    # C3D keeps full resolution in conv1, the ResNet stems halve it; both end at 1/16, T/8.
    first = 64 if arch == "c3d" else 32
    assert stages["conv1"].shape[2:] == (16, first, first)
    assert stages["conv5"].shape[2:] == (2, 4, 4)
    # The feature is the global average of the last stage.
    torch.testing.assert_close(feature, stages["conv5"].mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("shape", [(1, 56), (4, 28), (8, 56), (3, 30)])
def test_short_and_small_clips_work(arch, shape):
    t, size = shape
    model = build_backbone(arch, 0.125).eval()
    with torch.no_grad():
        feature, stages = model(clips(t=t, size=size), return_stages=True)
    assert feature.shape == (2, model.feature_dim)
    assert all(min(act.shape[2:]) >= 1 for act in stages.values())
    assert torch.isfinite(feature).all()


def test_width_scaling_rounds_and_keeps_a_minimum():
    model = build_backbone("c3d", 0.001)
    assert model.feature_dim == 4
    assert model.conv1.conv1.conv.out_channels == 4
    assert build_backbone("r3d", 0.3).feature_dim == round(512 * 0.3)
    with pytest.raises(SettingsError):
        build_backbone("r3d", 0.0)


def test_unknown_arch_lists_the_choices():
    with pytest.raises(SettingsError, match="c3d, r3d, r21d"):
        build_backbone("resnet50")


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(SettingsError, match="N, 3, T, H, W"):
        build_backbone("c3d", 0.125)(torch.zeros(2, 8, 3, 56, 56))


def test_weight_init_follows_torchvision():
    model = build_backbone("r21d", 0.25)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert bns and all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in bns)
    conv = model.conv5.conv2.temporal  # fan_out = out_channels * 3
    expected = math.sqrt(2.0 / (conv.out_channels * 3))
    assert abs(conv.weight.std().item() - expected) / expected < 0.1


@pytest.mark.parametrize("arch", ARCHS)
def test_channels_last_gives_the_same_features(arch):
    model = build_backbone(arch, 0.125).eval()
    x = clips(t=4, size=28)
    with torch.no_grad():
        reference = model(x)
        model = model.to(memory_format=torch.channels_last_3d)
        out = model(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)


def test_permutations_are_lexicographic_and_bounded():
    for tl in range(2, 6):
        perms = permutations_for(tl)
        assert list(perms) == sorted(perms) == list(itertools.permutations(range(tl)))
        assert len(perms) == math.factorial(tl)
    for bad in (1, 6):
        with pytest.raises(SettingsError):
            permutations_for(bad)


@pytest.mark.parametrize("tl", [2, 3, 4, 5])
def test_vcopn_logits_and_shared_pair_layer(tl):
    model = VCOPN(build_backbone("c3d", 0.125), tl).eval()
    tuples = torch.randn(2, tl, 3, 4, 28, 28)
    with torch.no_grad():
        logits = model(tuples)
    assert logits.shape == (2, math.factorial(tl))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [model.pair, model.classifier]  # one pair layer, shared by every pair
    dim = model.backbone.feature_dim
    assert (model.pair.in_features, model.pair.out_features) == (2 * dim, dim)
    assert model.classifier.in_features == dim * tl * (tl - 1) // 2


def test_vcopn_matches_an_explicit_loop_over_pairs():
    model = VCOPN(build_backbone("r3d", 0.125), 4).eval()
    tuples = torch.randn(3, 4, 3, 4, 28, 28)
    with torch.no_grad():
        logits = model(tuples)
        feats = [model.backbone(tuples[:, i]) for i in range(4)]
        pairs = [torch.relu(model.pair(torch.cat([feats[i], feats[j]], 1)))
                 for i in range(4) for j in range(i + 1, 4)]
        expected = model.classifier(torch.cat(pairs, 1))
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_vcopn_rejects_bad_settings():
    backbone = build_backbone("c3d", 0.125)
    with pytest.raises(SettingsError):
        VCOPN(backbone, 6)
    with pytest.raises(SettingsError, match="N, 3, 3, T, H, W"):
        VCOPN(backbone, 3)(torch.zeros(2, 4, 3, 4, 28, 28))


def test_curriculum_can_carry_backbone_and_pair_layer():
    tl3 = VCOPN(build_backbone("r21d", 0.125), 3)
    tl4 = VCOPN(build_backbone("r21d", 0.125), 4)
    state = {k: v for k, v in tl3.state_dict().items() if not k.startswith("classifier.")}
    missing, unexpected = tl4.load_state_dict(state, strict=False)
    assert sorted(missing) == ["classifier.bias", "classifier.weight"] and not unexpected
    torch.testing.assert_close(tl4.pair.weight, tl3.pair.weight)


@pytest.mark.parametrize("arch", ARCHS)
def test_freeze_through_conv2_freezes_exactly_conv1_and_conv2(arch):
    model = VCOPN(build_backbone(arch, 0.125), 3)
    assert freeze_through(model.backbone, "conv2") == ["conv1", "conv2"]
    stages = stage_modules(model.backbone)
    for name, module in stages.items():
        flags = {p.requires_grad for p in module.parameters()}
        assert flags == ({False} if name in ("conv1", "conv2") else {True}), name
    assert all(p.requires_grad for p in model.pair.parameters())

    model.eval()
    model.train()  # the backbone's train() keeps frozen BatchNorm layers in eval mode
    frozen_bn = [m for name in ("conv1", "conv2") for m in stages[name].modules()
                 if isinstance(m, nn.BatchNorm3d)]
    live_bn = [m for m in stages["conv3"].modules() if isinstance(m, nn.BatchNorm3d)]
    assert frozen_bn and all(not m.training for m in frozen_bn)
    assert live_bn and all(m.training for m in live_bn)
    before = [m.running_mean.clone() for m in frozen_bn + live_bn]
    model(torch.randn(2, 3, 3, 4, 28, 28) + 1.0)
    after = [m.running_mean for m in frozen_bn + live_bn]
    n = len(frozen_bn)
    assert all(torch.equal(b, a) for b, a in zip(before[:n], after[:n]))
    assert not all(torch.equal(b, a) for b, a in zip(before[n:], after[n:]))


def test_bn_helper_works_on_any_model():
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.BatchNorm3d(4)).train()
    model[1].requires_grad_(False)
    assert set_frozen_bn_eval(model) == 1
    assert not model[1].training and model[2].training


def test_freeze_none_and_refreeze_restore_training():
    model = build_backbone("r3d", 0.125).train()
    assert freeze_through(model, "conv4") == ["conv1", "conv2", "conv3", "conv4"]
    assert not model.conv4.bn1.training
    assert freeze_through(model, "none") == []
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules())
    assert freeze_through(model, None) == []
    with pytest.raises(SettingsError, match="conv1"):
        freeze_through(model, "conv6")


@pytest.mark.parametrize("arch", ARCHS)
def test_gradient_reaches_every_parameter(arch):
    torch.manual_seed(0)
    model = VCOPN(build_backbone(arch, 0.125), 3).train()
    logits = model(torch.randn(4, 3, 3, 4, 28, 28))
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 5])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------- reference code


def test_factorised_shortcut_is_the_reference_codes():
    block = build_backbone("r21d", shortcut="factorised").conv3
    pair, bn = block.downsample.conv, block.downsample.bn
    assert isinstance(pair, Conv2Plus1D) and isinstance(bn, nn.BatchNorm3d)
    m = (64 * 128) // (64 + 128)  # the middle-width formula with t = d = 1
    assert m == middle_width(64, 128, (1, 1, 1)) == 42
    assert (pair.spatial.in_channels, pair.spatial.out_channels) == (64, m)
    assert (pair.temporal.in_channels, pair.temporal.out_channels) == (m, 128)
    assert pair.spatial.kernel_size == pair.temporal.kernel_size == (1, 1, 1)
    assert pair.spatial.stride == (1, 2, 2) and pair.temporal.stride == (2, 1, 1)
    assert pair.bn.num_features == m and isinstance(pair.relu, nn.ReLU)
    assert bn.num_features == 128
    # conv -> BN -> ReLU -> conv -> BN, with the output shape of the projection
    x = torch.randn(2, 64, 8, 14, 14, generator=torch.Generator().manual_seed(0))
    shortcut = block.downsample.eval()
    with torch.no_grad():
        out = shortcut(x)
        torch.testing.assert_close(out, bn(pair.temporal(pair.relu(pair.bn(pair.spatial(x))))))
        assert out.shape == build_backbone("r21d").conv3.downsample(x).shape == (2, 128, 4, 7, 7)


def test_factorised_r21d_parameter_count():
    projection = count(build_backbone("r21d"))
    factorised = count(build_backbone("r21d", shortcut="factorised"))
    assert factorised == R21D_FACTORISED_PARAMS
    assert round(factorised / 1e6, 3) == 14.365  # spec section 8
    # Only the three shortcuts differ: conv Nin*M + BN 2M + conv M*Nout against Nin*Nout
    # (the final BN is common to both).
    diff = sum(nin * m + 2 * m + m * nout - nin * nout for nin, nout in SHORTCUT_WIDTHS
               for m in [middle_width(nin, nout, (1, 1, 1))])
    assert factorised - projection == diff == -174
    # C3D and R3D have no factorised variant: the option leaves them alone.
    for arch in ("c3d", "r3d"):
        assert count(build_backbone(arch, shortcut="factorised")) == count(build_backbone(arch))
        assert build_backbone(arch, shortcut="factorised").shortcut is None
    assert build_backbone("r21d", 0.25, shortcut="factorised").shortcut == "factorised"


def test_unknown_shortcut_or_init_is_a_clear_error():
    with pytest.raises(SettingsError, match="projection, factorised"):
        build_backbone("r21d", 0.125, shortcut="bottleneck")
    with pytest.raises(SettingsError, match="kaiming, reference"):
        build_backbone("r3d", 0.125, init="xavier")


@pytest.mark.parametrize("arch", ARCHS)
def test_reference_init_is_pytorch_04s_default(arch):
    torch.manual_seed(0)
    model = build_backbone(arch, 0.25, shortcut="factorised", init="reference")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert convs
    for conv in convs:
        bound = 1.0 / math.sqrt(conv.in_channels * math.prod(conv.kernel_size))
        w = conv.weight.detach()
        assert w.abs().max().item() <= bound
        if w.numel() >= 2000:  # uniform over the whole interval: std = bound / sqrt(3)
            assert w.abs().max().item() > 0.95 * bound
            assert abs(w.std().item() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    weights = torch.cat([m.weight.detach() for m in bns])
    assert bool(((weights >= 0) & (weights <= 1)).all()) and not bool((weights == 1).all())
    assert abs(weights.mean().item() - 0.5) < 0.05
    assert all(bool((m.bias == 0).all()) for m in bns)
    # the default is unchanged, and the same seed draws the same reference weights
    assert all(bool((m.weight == 1).all()) for m in build_backbone(arch, 0.25).modules()
               if isinstance(m, nn.BatchNorm3d))
    torch.manual_seed(0)
    again = build_backbone(arch, 0.25, shortcut="factorised", init="reference")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values()))


def _trained_bn(model: VCOPN, tuples: torch.Tensor) -> VCOPN:
    """``model`` after one training-mode pass, so that its running statistics are not the
    initial ones."""
    model.train()
    with torch.no_grad():
        model(tuples)
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_bn_per_position_gives_identical_eval_outputs(arch):
    torch.manual_seed(0)
    tuples = (torch.randn(4, 3, 3, 4, 28, 28)
              + torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1, 1, 1))
    single = _trained_bn(VCOPN(build_backbone(arch, 0.125), 3), tuples).eval()
    per_position = VCOPN(build_backbone(arch, 0.125), 3, bn_per_position=True)
    per_position.load_state_dict(single.state_dict())
    per_position.eval()
    with torch.no_grad():
        out = per_position(tuples)
        assert torch.equal(out, single(tuples))
        loop = torch.stack([single.backbone(tuples[:, i]) for i in range(3)], dim=1)
        torch.testing.assert_close(out, single.classify(loop), rtol=1e-4, atol=1e-5)


def test_bn_per_position_normalises_each_position_in_training():
    torch.manual_seed(0)
    # clip positions with other statistics, so that per-position BatchNorm differs
    tuples = (torch.randn(4, 3, 3, 4, 28, 28)
              + torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1, 1, 1))
    model = VCOPN(build_backbone("r3d", 0.125), 3, dropout=0.0, bn_per_position=True)
    reference = copy.deepcopy(model)  # the reference code's loop, written out
    single = copy.deepcopy(model)
    single.bn_per_position = False
    for m in (model, reference, single):
        m.train()
    with torch.no_grad():
        logits = model(tuples)
        feats = torch.stack([reference.backbone(tuples[:, i]) for i in range(3)], dim=1)
        torch.testing.assert_close(logits, reference.classify(feats), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(logits, single(tuples), rtol=1e-3, atol=1e-4)
    # the running statistics were updated once per position, as by the loop
    for (key, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)
    assert model.backbone.conv1.bn.num_batches_tracked.item() == 3
    assert single.backbone.conv1.bn.num_batches_tracked.item() == 1
