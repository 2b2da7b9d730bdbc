"""Where things live: the synthetic data, run folders and the notebooks."""

from __future__ import annotations

import os
from pathlib import Path

from vcop_lab.profiles import get_profile

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def default_data_root() -> Path:
    """Where generated data goes: ``$VCOP_LAB_DATA``, else ``./data`` of the current folder."""
    return Path(os.environ.get("VCOP_LAB_DATA", "data")).resolve()


def synthetic_dirs(profile="teaching", data_root: str | Path | None = None,
                   progress: bool = True) -> dict[str, Path]:
    """The synthetic set's folders ``{"main": ..., "second": ..., "qa": ...}`` for a profile,
    generated on first use (about a minute at the teaching size) under ``data_root``."""
    from vcop_lab.data.synthetic import ensure_synthetic

    prof = get_profile(profile)
    root = Path(data_root) if data_root else default_data_root()
    manifests = ensure_synthetic(root / f"synthetic-{prof.synth_preset}", prof.synth_preset,
                                 progress=progress)
    return {style: Path(path).parent for style, path in manifests.items()}


def notebooks_dir() -> Path:
    """The folder of the numbered notebooks (in a source checkout)."""
    folder = Path(os.environ.get("VCOP_LAB_NOTEBOOKS", REPO_DIR / "notebooks"))
    if not folder.is_dir():
        from vcop_lab.errors import SettingsError
        raise SettingsError("notebooks folder not found", folder,
                            "run from a clone of the repository (pip install -e .) or set "
                            "VCOP_LAB_NOTEBOOKS")
    return folder
