"""The order prediction head (VCOPN) and the permutation classes it predicts."""

from __future__ import annotations

import math

import torch
from torch import nn

from vcop_lab.data.sampling import permutations_for
from vcop_lab.errors import SettingsError


class VCOPN(nn.Module):
    """Video clip order prediction network.

    The shared backbone encodes each of the ``tl`` clips into ``f_i``. For each pair ``i < j``
    (in the order (0,1), (0,2), ..., (1,2), ...), ``h_ij = ReLU(W1 [f_i; f_j] + b1)`` with one
    linear layer ``pair`` (``2*feature_dim -> feature_dim``) shared by all pairs. The
    ``tl(tl-1)/2`` pair vectors are concatenated, dropped out (p=0.5) and mapped by
    ``classifier`` to ``tl!`` logits, one per entry of :func:`permutations_for`.

    For the task curriculum (tl=3 -> 4 -> 5), ``backbone`` and ``pair`` keep their shapes and
    carry over; only ``classifier`` changes size.

    In training the backbone encodes all ``N*tl`` clips in one pass, so every BatchNorm layer
    normalises over all of them; with ``bn_per_position=True`` it is called once per clip
    position, as in the reference code, so that each call normalises over the ``N`` clips of
    one position (and updates the running statistics ``tl`` times per batch). In evaluation
    BatchNorm uses its running statistics, the two give the same outputs, and one pass is
    made either way.
    """

    def __init__(self, backbone: nn.Module, tl: int, dropout: float = 0.5,
                 bn_per_position: bool = False):
        super().__init__()
        num_classes = len(permutations_for(tl))
        if not 0.0 <= dropout < 1.0:
            raise SettingsError(f"dropout must be in [0, 1), got {dropout}", fix="use 0.5")
        dim = backbone.feature_dim
        self.backbone = backbone
        self.tl = tl
        self.num_classes = num_classes
        self.bn_per_position = bool(bn_per_position)
        self.pair = nn.Linear(2 * dim, dim)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim * math.comb(tl, 2), num_classes)
        first, second = torch.triu_indices(tl, tl, offset=1)
        # Not saved: they follow from tl, which the curriculum changes between stages.
        self.register_buffer("pair_first", first, persistent=False)
        self.register_buffer("pair_second", second, persistent=False)

    def forward(self, tuples: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, tl!)`` for shuffled tuples shaped ``(N, tl, 3, T, H, W)``."""
        if tuples.dim() != 6 or tuples.shape[1] != self.tl:
            raise SettingsError(f"expected tuples shaped (N, {self.tl}, 3, T, H, W), "
                                f"got {tuple(tuples.shape)}",
                                fix="sample tuples with the same tl as the model")
        return self.classify(self.encode(tuples))

    def encode(self, tuples: torch.Tensor) -> torch.Tensor:
        """Clip features ``(N, tl, feature_dim)`` of tuples ``(N, tl, 3, T, H, W)``."""
        if self.bn_per_position and self.training:
            # The reference code's loop: BatchNorm statistics of one clip position at a time.
            return torch.stack([self.backbone(tuples[:, i]) for i in range(self.tl)], dim=1)
        # One backbone pass over all N*tl clips.
        n = tuples.shape[0]
        return self.backbone(tuples.flatten(0, 1)).reshape(n, self.tl, -1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, tl!)`` from clip features ``(N, tl, feature_dim)`` in tuple order.

        Evaluation encodes a tuple once and classifies its features in every order.
        """
        pairs = torch.cat([features[:, self.pair_first], features[:, self.pair_second]], dim=2)
        hidden = self.relu(self.pair(pairs))  # (N, pairs, feature_dim)
        return self.classifier(self.dropout(hidden.flatten(1)))
