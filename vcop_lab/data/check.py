"""Check the videos of a manifest before a run reads them, and keep the bad ones out.

Every video a run will read is looked at once, cheaply: it exists, it is not empty, it opens
as a video and its first frame decodes, and the frame count its container declares (when it
declares one) is not below the manifest's. A bad video is left out of the run, counted by
kind, and named in a report; with ``strict`` the run stops before any work instead, naming
every bad file. What was found is cached beside the manifest by each file's size and
modification time, so a second run costs nothing. A video that passes and still fails later
(a file truncated in the middle) is skipped by the datasets when it fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vcop_lab.atomic import write_json_atomic
from vcop_lab.data.manifest import VideoRecord, data_root
from vcop_lab.errors import VideoError

CACHE_NAME = ".video_check.json"
_CACHE_VERSION = 1
KINDS = {"missing": "missing from disk", "empty": "empty (0 bytes)",
         "unreadable": "not readable as a video", "short": "fewer frames than the manifest says"}


@dataclass
class VideoCheck:
    """The outcome: ``good`` records in manifest order, and the bad ones by kind
    (``{kind: [{"path", "reason"}]}``, kinds as :data:`KINDS`)."""

    good: list[VideoRecord]
    bad: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in self.bad.items()}

    def summary_lines(self, where: str | Path) -> list[str]:
        """One line per kind of bad video."""
        return [f"{where}: left out {len(items)} video(s) {KINDS[kind]}, e.g. {items[0]['path']}"
                for kind, items in self.bad.items()]

    def write_report(self, path: str | Path) -> Path | None:
        """Name every bad video in ``path`` (JSON); nothing when all were good."""
        if not self.bad:
            return None
        return write_json_atomic(path, {"counts": self.counts, "videos": self.bad})


def _probe(path: Path, expected: int) -> tuple[str, str] | None:
    """(kind, reason) of a bad video, or None."""
    import av

    try:
        size = path.stat().st_size
    except OSError:
        return "missing", "no such file"
    if size == 0:
        return "empty", "0 bytes"
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return "unreadable", "no video stream"
            stream = container.streams.video[0]
            declared = int(stream.frames or 0)
            if next(container.decode(stream), None) is None:
                return "unreadable", "no frame decodes"
    except Exception as exc:  # PyAV's error for a file that is not a video
        return "unreadable", f"{type(exc).__name__}: {str(exc)[:120]}"
    # Headers may claim a frame more than decodes (HMDB51), never fewer than the manifest.
    if 0 < declared < expected:
        return "short", f"the file declares {declared} frames, the manifest {expected}"
    return None


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["entries"] if data.get("version") == _CACHE_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def check_videos(data_dir: str | Path, records: Sequence[VideoRecord], strict: bool = False
                 ) -> VideoCheck:
    """Check the files of ``records`` (of the manifest in ``data_dir``); see the module
    docstring. With ``strict`` any bad video raises :class:`VideoError` naming them all."""
    data_dir = Path(data_dir)
    root = data_root(data_dir)
    cache_path = data_dir / CACHE_NAME
    cache, changed = _load_cache(cache_path), False
    good, bad = [], {}
    for rec in records:
        path = rec.full_path(root)
        try:
            st = path.stat()
            key = f"{st.st_size}:{st.st_mtime_ns}:{rec.num_frames}"
        except OSError:
            key = f"missing:{rec.num_frames}"
        entry = cache.get(rec.path)
        if entry and entry.get("key") == key:
            found = entry["bad"]
        else:
            found = _probe(path, rec.num_frames)
            cache[rec.path], changed = {"key": key, "bad": found}, True
        if found is None:
            good.append(rec)
        else:
            bad.setdefault(found[0], []).append({"path": rec.path, "reason": found[1]})
    if changed:
        try:
            write_json_atomic(cache_path, {"version": _CACHE_VERSION, "entries": cache},
                              indent=None)
        except OSError:
            pass  # a read-only data folder: checked again next time
    result = VideoCheck(good, {k: bad[k] for k in KINDS if k in bad})
    if strict and result.bad:
        names = "; ".join(f"{v['path']} ({KINDS[k]})" for k, items in result.bad.items()
                          for v in items)
        raise VideoError(f"{sum(result.counts.values())} bad video(s): {names}", data_dir,
                         "repair or remove them (re-run `vcop-lab prepare`), or run without "
                         "--strict to leave them out")
    return result


FAILURES_NAME = "videos_failed_while_reading.jsonl"
REPORT_NAME = "bad_videos.json"


def checked_records(data_dir: str | Path, strict: bool = False, out_dir: str | Path | None = None,
                    progress: bool = True) -> tuple[list[VideoRecord], VideoCheck]:
    """The manifest of ``data_dir`` with its bad videos left out: ``(good records, check)``.
    The left-out videos are named in ``out_dir/bad_videos.json`` and summed up in one line
    per kind (with ``progress``)."""
    from vcop_lab.data.manifest import load_manifest

    check = check_videos(data_dir, load_manifest(data_dir), strict)
    if out_dir is not None:
        check.write_report(Path(out_dir) / REPORT_NAME)
    if progress:
        for line in check.summary_lines(data_dir):
            print(line, flush=True)
    return check.good, check


def read_failures(path: str | Path) -> list[dict]:
    """The videos that failed while a run read them (see :meth:`log_bad_videos` of the
    datasets), one entry per video."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    seen: dict[str, dict] = {}
    for line in lines:
        try:
            entry = json.loads(line)
            seen.setdefault(entry["path"], entry)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
    return list(seen.values())


def video_counts(check: VideoCheck, failures: list[dict]) -> dict:
    """What ``metrics.json`` records of the bad videos of a run."""
    return {"left_out": check.counts, "left_out_report": REPORT_NAME if check.bad else None,
            "failed_while_reading": len(failures),
            "failed_while_reading_report": FAILURES_NAME if failures else None}
