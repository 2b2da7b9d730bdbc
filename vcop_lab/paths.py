"""Where things live: one home for what the toolkit makes, and the notebooks.

Everything the toolkit writes by default goes under one folder, its *home*: ``$VCOP_LAB_HOME``
when set, else the repository of a source checkout (beside its ``pyproject.toml``), else
``~/vcop-lab``. Generated data go to ``HOME/data`` and runs to ``HOME/runs``, whether a run
comes from a command, a notebook in JupyterLab or ``vcop-lab reproduce``, so each finds the
others' finished runs; nothing is written relative to the current folder or a notebook's.
"""

from __future__ import annotations

import os
from pathlib import Path

from vcop_lab.errors import SettingsError
from vcop_lab.profiles import get_profile

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


HOME_ENV = "VCOP_LAB_HOME"


def home() -> Path:
    """The folder the toolkit keeps its data and runs in (see the module docstring)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser().resolve()
    if (REPO_DIR / "pyproject.toml").is_file():
        return REPO_DIR
    return Path.home() / "vcop-lab"


def default_data_root() -> Path:
    """Where generated data goes by default: ``HOME/data``."""
    return home() / "data"


def default_runs_root() -> Path:
    """Where runs go by default: ``HOME/runs`` (each in the folder its settings name)."""
    return home() / "runs"


def synthetic_dirs(profile="teaching", data_root: str | Path | None = None,
                   progress: bool = True) -> dict[str, Path]:
    """The synthetic set's folders ``{"main": ..., "second": ..., "qa": ...}`` for a profile,
    generated on first use (about a minute at the teaching size) under ``data_root``."""
    from vcop_lab.data.synthetic import ensure_synthetic

    prof = get_profile(profile)
    root = Path(data_root) if data_root else default_data_root()
    if data_root and not root.is_dir():  # a typo is not silently made into a new folder
        raise SettingsError("data folder not found", root,
                            "create it, or leave DATA_ROOT (--data-root) unset for the default")
    manifests = ensure_synthetic(root / f"synthetic-{prof.synth_preset}", prof.synth_preset,
                                 progress=progress)
    return {style: Path(path).parent for style, path in manifests.items()}


def notebooks_dir() -> Path:
    """The folder of the numbered notebooks (in a source checkout)."""
    folder = Path(os.environ.get("VCOP_LAB_NOTEBOOKS", REPO_DIR / "notebooks"))
    if not folder.is_dir():
        raise SettingsError("notebooks folder not found", folder,
                            "run from a clone of the repository (pip install -e .) or set "
                            "VCOP_LAB_NOTEBOOKS")
    return folder
