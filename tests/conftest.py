"""Shared fixtures: small generated data, never downloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

torch.set_num_threads(2)
# Tests keep what the toolkit makes by default apart from a user's data and runs.
os.environ.setdefault("VCOP_LAB_HOME", str(REPO / "data" / "test-home"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real third-party clips and annotations (read-only), or skip."""
    if not REALDATA.is_dir():
        pytest.skip("real data folder ../shared/realdata is not present")
    return REALDATA


@pytest.fixture(scope="session")
def synth_smoke(tmp_path_factory) -> dict[str, Path]:
    """The synthetic set at the smoke preset, generated once per test session."""
    from vcop_lab.data.synthetic import generate_synthetic

    root = tmp_path_factory.mktemp("synth")
    manifests = generate_synthetic(root, preset="smoke", seed=0, workers=2, progress=False)
    return {style: Path(p).parent for style, p in manifests.items()}
