"""The action classifier of fine-tuning: a backbone and a new linear layer (as the paper)."""

from __future__ import annotations

import torch
from torch import nn

from vcop_lab.errors import SettingsError


class ActionClassifier(nn.Module):
    """A backbone and a new linear layer ``feature_dim -> num_classes``.

    ``dropout`` (default 0: the paper adds none) is applied to the pooled feature.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.0):
        super().__init__()
        if num_classes < 2:
            raise SettingsError(f"action recognition needs at least 2 classes, got {num_classes}",
                                fix="use a manifest with two or more action classes")
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.feature_dim, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for clips shaped ``(N, 3, T, H, W)``."""
        return self.classifier(self.dropout(self.backbone(clips)))
