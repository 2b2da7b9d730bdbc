"""What every notebook does first, in one place: read its parameters, pick the device, find
the data, and say what the run will do.

A notebook calls :func:`start` in its first code cell after the ``parameters`` cell and gets
a :class:`Session`; everything after uses ``session.profile``, ``session.device``,
``session.dirs`` and ``session.archs`` instead of repeating the set-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vcop_lab.errors import SettingsError
from vcop_lab.models.backbones import ARCHS as ALL_ARCHS
from vcop_lab.paths import dataset_dirs, default_runs_root
from vcop_lab.profiles import Profile, get_profile
from vcop_lab.runtime import pick_device


@dataclass
class Session:
    """A notebook's settings once read: the profile, the device, the data folders by role
    (``main``, ``second``, ``qa``), the backbones it runs, and where runs and results go."""

    profile: Profile
    device: str
    dirs: dict[str, Path]
    run_root: Path
    results: Path | None
    seed: int = 0
    archs: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # what each role's folder holds

    def is_synthetic(self, role: str = "main") -> bool:
        """Whether ``role`` is the synthetic set (with its ground truth), not prepared data."""
        return self.sources.get(role, "synthetic").startswith("synthetic")

    def describe(self) -> str:
        """One line on what this notebook will run, and where."""
        p = self.profile
        cl = p.setting.split("-")[0]
        return (f"{p.name} profile on {self.device}: setting {p.setting}, width {p.width:g}, "
                f"input {cl}x{p.crop}x{p.crop}, backbones {', '.join(self.archs)}, seed "
                f"{self.seed}; runs in {self.run_root}\n"
                + "\n".join(f"  {role}: {src}" for role, src in self.sources.items()))


def choose_archs(archs, profile: Profile) -> list[str]:
    """The backbones to run: ``None`` the profile's, ``"all"`` all three, or a list."""
    if archs is None:
        return list(profile.archs)
    if archs == "all":
        return list(ALL_ARCHS)
    chosen = [archs] if isinstance(archs, str) else list(archs)
    unknown = [a for a in chosen if a not in ALL_ARCHS]
    if unknown or not chosen:
        raise SettingsError(f"unknown backbone(s) {unknown or chosen}",
                            fix=f"set ARCHS to None, 'all' or a list of {', '.join(ALL_ARCHS)}")
    return chosen


PROFILE_ENV = "VCOP_LAB_PROFILE"


def start(profile=None, device="auto", data_root=None, run_root=None, results=None, seed=0,
          archs=None, datasets=None) -> Session:
    """Read a notebook's parameters into a :class:`Session`.

    ``datasets`` (the notebooks' ``DATASETS``) maps roles (``main``, ``second``, ``qa``) to
    prepared folders; a role left out is the synthetic set
    (:func:`vcop_lab.paths.dataset_dirs`).
    ``profile`` None takes ``$VCOP_LAB_PROFILE`` (``python3 run.py lab --profile smoke``
    sets it), else teaching. ``data_root`` and ``run_root`` None are the toolkit's home
    (:func:`vcop_lab.paths.home`), shared with the command line and ``vcop-lab reproduce``;
    the synthetic set is generated there on first use.
    """
    prof = get_profile(profile or os.environ.get(PROFILE_ENV) or "teaching")
    dirs, sources = dataset_dirs(prof, datasets, data_root)
    return Session(profile=prof, device=str(pick_device(device)), dirs=dirs, sources=sources,
                   run_root=Path(run_root) if run_root else default_runs_root(),
                   results=Path(results) if results else None, seed=int(seed),
                   archs=choose_archs(archs, prof))
