"""Backbones (C3D, R3D, R(2+1)D), the clip order prediction head and the action classifier."""

from __future__ import annotations

from .backbones import (
    ARCHS,
    STAGES,
    build_backbone,
    freeze_through,
    set_frozen_bn_eval,
    stage_modules,
)
from .classifier import ActionClassifier
from .vcop_head import VCOPN, permutations_for

__all__ = [
    "ARCHS",
    "ActionClassifier",
    "STAGES",
    "VCOPN",
    "build_backbone",
    "freeze_through",
    "permutations_for",
    "set_frozen_bn_eval",
    "stage_modules",
]
