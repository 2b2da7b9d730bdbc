"""Errors a user can fix.

Every problem with the user's input (a video, a manifest, a checkpoint, a setting) is raised
as a :class:`VcopError` that names the file and says how to fix it. The command line prints
it as one line and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path


class VcopError(Exception):
    """A problem with the user's input, with the file it concerns and how to fix it."""

    def __init__(self, what: str, path: str | Path | None = None, fix: str | None = None):
        self.what = what
        self.path = None if path is None else str(path)
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.what}" if self.path else self.what
        if self.fix:
            text += f" (fix: {self.fix})"
        return text

    def __reduce__(self):  # keep the fields when raised inside a DataLoader worker
        return (type(self), (self.what, self.path, self.fix))


class VideoError(VcopError):
    """A video that is missing, unreadable, truncated or too short."""


class ManifestError(VcopError):
    """A manifest or split list with bad rows."""


class CheckpointError(VcopError):
    """A checkpoint that is missing, corrupt or of another architecture or setting."""


class SettingsError(VcopError):
    """Settings that cannot work together (e.g. a tuple longer than every video)."""
