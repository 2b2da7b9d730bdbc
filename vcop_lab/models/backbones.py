"""The three 3D CNN backbones of the paper: C3D, R3D and R(2+1)D.

All three take a batch of clips shaped ``(N, 3, T, H, W)`` and return the ``(N, feature_dim)``
global-average-pooled feature (512 at full width). Each is split into five stages named
``conv1`` .. ``conv5`` (see :data:`STAGES`), reachable as attributes, so that hierarchical
freezing and layer-wise retrieval can address them by name.

- C3D is a plain sequence of stages. Every max-pool sits at the *start* of the stage that
  follows it, so a stage's output is the activation of its last convolution, before pooling
  (e.g. ``conv5`` is 512x2x7x7 for a 16x112x112 clip, which retrieval max-pools to 2x3x3).
- R3D and R(2+1)D share one ResNet skeleton (:class:`VideoResNet`, one basic block per stage)
  and differ only in the convolution builder: :func:`conv3d` or :class:`Conv2Plus1D`.
  R(2+1)D's downsampling shortcut is a plain 1x1x1 projection (:func:`projection`) or, as in
  the reference code, factorised like its convolutions (:func:`factorised_projection`).

Two initialisations (:data:`INITS`): ``kaiming`` (torchvision's video ResNets: Kaiming-normal
convolutions, BatchNorm weight 1) and ``reference`` (PyTorch 0.4's defaults, which the
reference code ran with: convolution weights and biases uniform in +-1/sqrt(fan_in),
BatchNorm weight uniform in [0, 1]); see :func:`init_weights`.

A width multiplier scales every channel count (``round(c * width)``, at least 4) and any input
size works down to single frames (``T = 1``): C3D pools with ``ceil_mode`` and the ResNets
stride with padding, so no dimension ever shrinks to zero.

Frozen stages keep their BatchNorm layers in eval mode: :func:`freeze_through` sets
``requires_grad = False`` and every backbone's ``train()`` calls :func:`set_frozen_bn_eval`
afterwards, so ``model.train()`` on any model holding the backbone leaves the running
statistics of frozen layers untouched. Models that are not one of these backbones can call
:func:`set_frozen_bn_eval` themselves after ``model.train()``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from ..errors import SettingsError

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5")
ARCHS = ("c3d", "r3d", "r21d")
SHORTCUTS = ("projection", "factorised")  # R(2+1)D's downsampling shortcut
INITS = ("kaiming", "reference")          # weight initialisation

Triple = tuple[int, int, int]
# A conv builder makes one "t x d x d" convolution: (in_planes, out_planes, kernel, stride).
ConvBuilder = Callable[[int, int, Triple, Triple], nn.Module]
# A shortcut builder makes a block's downsampling shortcut: (in_planes, out_planes, stride).
ShortcutBuilder = Callable[[int, int, int], nn.Module]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def scaled_channels(channels: int, width: float) -> int:
    """Channel count ``channels`` scaled by the width multiplier: ``round(c * width)``, >= 4."""
    return max(4, round(channels * width))


def _check_width(width: float) -> None:
    if not width > 0:
        raise SettingsError(f"width multiplier must be positive, got {width}",
                            fix="use e.g. 1.0 (full size), 0.5, 0.25 or 0.125")


# ---------------------------------------------------------------------------------------------
# Convolution builders
# ---------------------------------------------------------------------------------------------

def conv3d(in_planes: int, out_planes: int, kernel: Triple = (3, 3, 3),
           stride: Triple = (1, 1, 1)) -> nn.Conv3d:
    """A full ``t x d x d`` 3D convolution with 'same' padding (no bias: BatchNorm follows)."""
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(in_planes, out_planes, kernel, stride, padding, bias=False)


def middle_width(in_planes: int, out_planes: int, kernel: Triple) -> int:
    """R(2+1)D middle width ``floor(t*d*d*Nin*Nout / (d*d*Nin + t*Nout))``.

    It gives the factorised pair of convolutions the parameter count of the 3D kernel.
    """
    t, h, w = kernel
    return max(1, (t * h * w * in_planes * out_planes) // (h * w * in_planes + t * out_planes))


class Conv2Plus1D(nn.Sequential):
    """A ``t x d x d`` convolution factorised as ``1 x d x d`` spatial, BN, ReLU, ``t x 1 x 1``.

    Same signature as :func:`conv3d`, so it can replace it in the ResNet skeleton. The
    spatial part strides in space, the temporal part in time.
    """

    def __init__(self, in_planes: int, out_planes: int, kernel: Triple = (3, 3, 3),
                 stride: Triple = (1, 1, 1)):
        t, h, w = kernel
        st, sh, sw = stride
        mid = middle_width(in_planes, out_planes, kernel)
        super().__init__(OrderedDict(
            spatial=nn.Conv3d(in_planes, mid, (1, h, w), (1, sh, sw), (0, h // 2, w // 2),
                              bias=False),
            bn=nn.BatchNorm3d(mid),
            relu=nn.ReLU(inplace=True),
            temporal=nn.Conv3d(mid, out_planes, (t, 1, 1), (st, 1, 1), (t // 2, 0, 0),
                               bias=False),
        ))


def projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """The ResNet downsampling shortcut: a strided 1x1x1 convolution, then BN."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv3d(in_planes, out_planes, 1, stride, bias=False),
        bn=nn.BatchNorm3d(out_planes)))


def factorised_projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """The reference code's R(2+1)D shortcut: the projection built as a (2+1)D pair.

    1x1x1 convolution ``Nin -> M`` (striding in space), BN, ReLU, 1x1x1 convolution
    ``M -> Nout`` (striding in time), then BN, with ``M = floor(Nin*Nout / (Nin + Nout))``
    (:func:`middle_width` with t = d = 1). Unlike the plain projection it is not linear:
    the ReLU sits inside the shortcut.
    """
    return nn.Sequential(OrderedDict(
        conv=Conv2Plus1D(in_planes, out_planes, (1, 1, 1), (stride,) * 3),
        bn=nn.BatchNorm3d(out_planes)))


_SHORTCUT_BUILDERS: dict[str, ShortcutBuilder] = {
    "projection": projection, "factorised": factorised_projection}


# ---------------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------------

def _kaiming_init(module: nn.Module) -> None:
    # As torchvision's video ResNets.
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _reference_init(module: nn.Module) -> None:
    # PyTorch 0.4's reset_parameters: a convolution drew weight and bias uniformly in
    # +-1/sqrt(fan_in) (fan_in = in_channels * kernel volume; today's default, Kaiming-
    # uniform with a = sqrt(5), draws from the same interval), a BatchNorm layer its weight
    # uniformly in [0, 1) and set its bias to 0 (torch 1.2 changed the weight to 1).
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            bound = 1.0 / math.sqrt(m.weight[0].numel())
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.uniform_(m.weight, 0.0, 1.0)
            nn.init.zeros_(m.bias)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"unknown {what} {value!r}", fix=f"choose one of {', '.join(choices)}")


def init_weights(module: nn.Module, scheme: str = "kaiming") -> None:
    """(Re-)initialise every Conv3d and BatchNorm3d layer of ``module`` by ``scheme``.

    ``kaiming``: Kaiming-normal convolutions (fan_out, ReLU gain), biases 0, BatchNorm weight
    1 and bias 0. ``reference``: PyTorch 0.4's defaults (see the module docstring). Linear
    layers are left alone: their default has not changed since PyTorch 0.4.
    """
    _check_choice("initialisation", scheme, INITS)
    (_reference_init if scheme == "reference" else _kaiming_init)(module)


# ---------------------------------------------------------------------------------------------
# Shared backbone behaviour
# ---------------------------------------------------------------------------------------------

class Backbone(nn.Module):
    """Base of the three backbones: five named stages, global average pool, frozen-BN aware.

    Subclasses set ``self.conv1`` .. ``self.conv5`` and ``self.feature_dim``, then call
    :func:`init_weights`.
    """

    feature_dim: int

    def forward(self, x: torch.Tensor, return_stages: bool = False, until: str = "conv5"):
        """Encode clips ``(N, 3, T, H, W)`` into ``(N, feature_dim)`` features.

        With ``return_stages=True`` returns ``(feature, {"conv1": act, ..., "conv5": act})``,
        the output activation of every stage. ``until`` stops after that stage (the deeper
        stages cost nothing when only shallow activations are wanted); the feature is then
        None.
        """
        if x.dim() != 5 or x.shape[1] != 3:
            raise SettingsError(f"expected a batch of clips shaped (N, 3, T, H, W), "
                                f"got {tuple(x.shape)}",
                                fix="stack RGB clips as (batch, channels, frames, height, width)")
        stages: dict[str, torch.Tensor] = {}
        for name in STAGES[:STAGES.index(until) + 1]:
            x = getattr(self, name)(x)
            if return_stages:
                stages[name] = x
        # global average pool over time and space
        feature = x.mean(dim=(2, 3, 4)) if until == STAGES[-1] else None
        return (feature, stages) if return_stages else feature

    def train(self, mode: bool = True) -> Backbone:
        """Set train/eval mode, keeping the BatchNorm layers of frozen stages in eval mode."""
        super().train(mode)
        set_frozen_bn_eval(self)
        return self


def _conv_bn_relu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=conv, bn=nn.BatchNorm3d(channels), relu=nn.ReLU(inplace=True)))


# ---------------------------------------------------------------------------------------------
# C3D
# ---------------------------------------------------------------------------------------------

class C3D(Backbone):
    """Modified C3D: eight 3x3x3 conv-BN-ReLU layers, no fully connected layers.

    conv1 64 | pool (1,2,2), conv2 128 | pool 2, conv3a/3b 256 | pool 2, conv4a/4b 512 |
    pool 2, conv5a/5b 512 | global average pool. ``|`` marks a stage boundary: each pool opens
    the next stage. Pools use ``ceil_mode`` so short clips (down to one frame) never vanish.
    The convolutions carry no bias (the reference code's do): the BatchNorm after each one
    subtracts any constant, so a bias would change nothing but the parameter count.
    """

    def __init__(self, width: float = 1.0, init: str = "kaiming"):
        super().__init__()
        _check_width(width)
        c1, c2, c3, c4, c5 = (scaled_channels(c, width) for c in (64, 128, 256, 512, 512))

        def layer(cin: int, cout: int) -> nn.Sequential:
            return _conv_bn_relu(conv3d(cin, cout), cout)

        def pool(kernel: Triple) -> nn.MaxPool3d:
            return nn.MaxPool3d(kernel, kernel, ceil_mode=True)

        self.conv1 = nn.Sequential(OrderedDict(conv1=layer(3, c1)))
        self.conv2 = nn.Sequential(OrderedDict(pool1=pool((1, 2, 2)), conv2=layer(c1, c2)))
        self.conv3 = nn.Sequential(OrderedDict(
            pool2=pool((2, 2, 2)), conv3a=layer(c2, c3), conv3b=layer(c3, c3)))
        self.conv4 = nn.Sequential(OrderedDict(
            pool3=pool((2, 2, 2)), conv4a=layer(c3, c4), conv4b=layer(c4, c4)))
        self.conv5 = nn.Sequential(OrderedDict(
            pool4=pool((2, 2, 2)), conv5a=layer(c4, c5), conv5b=layer(c5, c5)))
        self.feature_dim = c5
        init_weights(self, init)


# ---------------------------------------------------------------------------------------------
# ResNet skeleton: R3D and R(2+1)D
# ---------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, add the shortcut, ReLU. Convolutions come from ``conv_builder``.

    When the block strides or changes width, the shortcut comes from ``shortcut_builder``:
    a strided 1x1x1 projection + BN by default, or the reference code's factorised one.
    """

    def __init__(self, in_planes: int, planes: int, conv_builder: ConvBuilder, stride: int = 1,
                 shortcut_builder: ShortcutBuilder = projection):
        super().__init__()
        self.conv1 = conv_builder(in_planes, planes, (3, 3, 3), (stride,) * 3)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv_builder(planes, planes, (3, 3, 3), (1, 1, 1))
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = shortcut_builder(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class VideoResNet(Backbone):
    """ResNet-10 for video, one basic block per stage, parameterised by the conv builder.

    conv1 (stem): 3x7x7 conv, stride (1,2,2), 64 channels, BN, ReLU, no max-pool.
    conv2..conv5: basic blocks with 64/128/256/512 channels; conv3..conv5 stride 2 in time
    and space. The stem also goes through ``conv_builder``, so R(2+1)D factorises it too.
    The downsampling shortcuts of conv3..conv5 come from ``shortcut_builder``.
    """

    def __init__(self, conv_builder: ConvBuilder, width: float = 1.0,
                 shortcut_builder: ShortcutBuilder = projection, init: str = "kaiming"):
        super().__init__()
        _check_width(width)
        c1, c2, c3, c4, c5 = (scaled_channels(c, width) for c in (64, 64, 128, 256, 512))
        self.conv1 = _conv_bn_relu(conv_builder(3, c1, (3, 7, 7), (1, 2, 2)), c1)
        self.conv2 = BasicBlock(c1, c2, conv_builder, 1, shortcut_builder)
        self.conv3 = BasicBlock(c2, c3, conv_builder, 2, shortcut_builder)
        self.conv4 = BasicBlock(c3, c4, conv_builder, 2, shortcut_builder)
        self.conv5 = BasicBlock(c4, c5, conv_builder, 2, shortcut_builder)
        self.feature_dim = c5
        init_weights(self, init)


class R3D(VideoResNet):
    """R3D-10: the ResNet skeleton with full 3D convolutions and projection shortcuts."""

    def __init__(self, width: float = 1.0, init: str = "kaiming"):
        super().__init__(conv3d, width, projection, init)


class R2Plus1D(VideoResNet):
    """R(2+1)D-10: the ResNet skeleton with every 3D convolution factorised (stem included).

    ``shortcut`` is ``projection`` (a plain 1x1x1 convolution: a 1x1x1 kernel has nothing to
    factorise) or ``factorised`` (the reference code's, :func:`factorised_projection`).
    """

    def __init__(self, width: float = 1.0, shortcut: str = "projection", init: str = "kaiming"):
        _check_choice("R(2+1)D shortcut", shortcut, SHORTCUTS)
        super().__init__(Conv2Plus1D, width, _SHORTCUT_BUILDERS[shortcut], init)


def shortcut_of(arch: str, shortcut: str = "projection") -> str | None:
    """The shortcut a backbone ``arch`` built with ``shortcut`` has: ``shortcut`` for
    R(2+1)D, None for C3D and R3D (whose structure it does not change)."""
    return shortcut if arch == "r21d" else None


def build_backbone(arch: str, width: float = 1.0, *, shortcut: str = "projection",
                   init: str = "kaiming") -> Backbone:
    """Build backbone ``arch`` (one of :data:`ARCHS`) at width multiplier ``width``.

    ``shortcut`` (one of :data:`SHORTCUTS`) chooses R(2+1)D's downsampling shortcut and is
    ignored by the others; ``init`` (one of :data:`INITS`) the initialisation.
    """
    _check_choice("architecture", arch, ARCHS)
    _check_choice("R(2+1)D shortcut", shortcut, SHORTCUTS)
    _check_choice("initialisation", init, INITS)
    if arch == "r21d":
        backbone: Backbone = R2Plus1D(width, shortcut, init)
    else:
        backbone = (C3D if arch == "c3d" else R3D)(width, init)
    # recorded in checkpoints, so that a checkpoint of another network is refused
    backbone.arch_name, backbone.width = arch, width
    backbone.shortcut = shortcut_of(arch, shortcut)
    return backbone


# ---------------------------------------------------------------------------------------------
# Stages and freezing
# ---------------------------------------------------------------------------------------------

def stage_modules(backbone: nn.Module) -> dict[str, nn.Module]:
    """The five stages ``conv1`` .. ``conv5`` of ``backbone``, in order.

    A model that holds a backbone as ``.backbone`` (the order head, a classifier) is accepted
    too.
    """
    target = backbone
    if not all(hasattr(target, name) for name in STAGES) and hasattr(target, "backbone"):
        target = target.backbone
    if not all(isinstance(getattr(target, name, None), nn.Module) for name in STAGES):
        raise SettingsError(f"{type(backbone).__name__} has no stages {', '.join(STAGES)}",
                            fix=f"pass a backbone built by build_backbone ({', '.join(ARCHS)})")
    return {name: getattr(target, name) for name in STAGES}


def set_frozen_bn_eval(model: nn.Module) -> int:
    """Put every BatchNorm layer whose parameters are all frozen into eval mode.

    Call after ``model.train()`` (the backbones here do it themselves in ``train()``), so that
    frozen layers keep their running statistics. Returns how many layers were set.
    """
    count = 0
    for m in model.modules():
        if isinstance(m, _BATCH_NORMS):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                count += 1
    return count


def freeze_through(backbone: nn.Module, stage: str | None) -> list[str]:
    """Freeze every stage up to and including ``stage``; make the later stages trainable.

    ``stage`` is one of :data:`STAGES`, or ``None`` / ``"none"`` to freeze nothing. Frozen
    stages get ``requires_grad = False`` and their BatchNorm layers stay in eval mode even
    after ``train()``. Returns the names of the frozen stages.
    """
    if stage is None or stage == "none":
        count = 0
    elif stage in STAGES:
        count = STAGES.index(stage) + 1
    else:
        raise SettingsError(f"unknown stage {stage!r} to freeze through",
                            fix=f"choose none or one of {', '.join(STAGES)}")
    stages = stage_modules(backbone)
    frozen = []
    for index, (name, module) in enumerate(stages.items()):
        freeze = index < count
        for p in module.parameters():
            p.requires_grad_(not freeze)
        if freeze:
            frozen.append(name)
        else:
            module.train(backbone.training)  # unfreezing: BN follows the model's mode again
    set_frozen_bn_eval(backbone)
    return frozen
