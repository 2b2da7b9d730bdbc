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


ROLES = ("main", "second", "qa")
# What each role stands for in the paper (and in the synthetic set's styles).
ROLE_PAPER = {"main": "UCF101", "second": "HMDB51", "qa": "ActivityNet-QA"}


def dataset_dirs(profile="teaching", datasets=None, data_root: str | Path | None = None,
                 progress: bool = True) -> tuple[dict[str, Path], dict[str, str]]:
    """The data folders by role and a line saying what each holds.

    ``datasets`` maps roles to prepared folders (``vcop-lab prepare ... --out DIR``): ``main``
    is the pretraining and main evaluation set (UCF101's role), ``second`` the cross-dataset
    and second fine-tuning set (HMDB51's), ``qa`` the VideoQA set (ActivityNet-QA's). A role
    left out (or ``datasets`` None) is the synthetic set's style of that role, generated
    under ``data_root`` on first use. Returns ``(dirs, sources)``.
    """
    from vcop_lab.data.manifest import MANIFEST_NAME, dataset_kind

    given = dict(datasets or {})
    unknown = sorted(set(given) - set(ROLES))
    if unknown:
        raise SettingsError(f"unknown dataset role(s) {', '.join(map(str, unknown))}",
                            fix="use main (UCF101's role), second (HMDB51's) or qa "
                                "(ActivityNet-QA's), e.g. DATASETS = {'main': 'data/ucf101-s1'}")
    dirs: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for role, folder in given.items():
        if folder is None:
            continue
        folder = Path(folder).expanduser().resolve()
        if not (folder / MANIFEST_NAME).is_file():
            raise SettingsError(f"no {MANIFEST_NAME} in the folder given for {role}", folder,
                                f"prepare it first (vcop-lab prepare ... --out {folder}), or "
                                "leave the role out for the synthetic set")
        dirs[role] = folder
        kind = dataset_kind(folder)
        sources[role] = f"{kind or 'prepared data'} ({folder})"
    missing = [role for role in ROLES if role not in dirs]
    if missing:
        prof = get_profile(profile)
        synthetic = synthetic_dirs(prof, data_root, progress)
        for role in missing:
            dirs[role] = synthetic[role]
            sources[role] = f"synthetic, {role} style ({prof.synth_preset} preset)"
    return {role: dirs[role] for role in ROLES}, {role: sources[role] for role in ROLES}


def notebooks_dir() -> Path:
    """The folder of the numbered notebooks (in a source checkout)."""
    folder = Path(os.environ.get("VCOP_LAB_NOTEBOOKS", REPO_DIR / "notebooks"))
    if not folder.is_dir():
        raise SettingsError("notebooks folder not found", folder,
                            "run from a clone of the repository (pip install -e .) or set "
                            "VCOP_LAB_NOTEBOOKS")
    return folder
