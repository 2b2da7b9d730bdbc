"""Turn a downloaded dataset folder into a checked manifest (``vcop-lab prepare``).

``prepare("ucf101", root, out)`` finds the videos of one official split under ``root`` (any
layout: ``Class/v_x.avi``, flat, ``UCF-101/Class/...``; any of avi/mp4/mkv/webm/mov/gif,
matched by file stem so a re-encoded ``.mp4`` still matches an ``.avi`` list entry), counts
the frames that actually decode (in parallel, cached), and writes into ``out``:

- ``manifest.csv``: the usable videos of the split (train and test rows); ``path`` is relative
  to ``root``. Videos that are unreadable or shorter than one tuple of the setting are left out.
- ``data_root.txt``: the absolute ``root``; :func:`data_root` reads it, so
  ``load_manifest(out, root=data_root(out))`` finds the files.
- ``prepare_report.json``: what was missing, unreadable, too short or not in the split.
- ``probe_cache.json``: measured frame counts keyed by (path, size, mtime_ns); a second run on
  an unchanged folder decodes nothing.

``activitynet-qa`` works the same on a folder of ``v_<id>.mp4`` files: every video that has
ActivityNet-QA questions and exists on disk goes into the manifest (label ``activitynet``,
split from the QA split), and the report counts questions whose video was found or missing.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from vcop_lab.atomic import check_writable, write_json_atomic
from vcop_lab.data.manifest import (
    MANIFEST_NAME,
    PREPARE_REPORT_NAME,
    ROOT_NAME,
    VideoRecord,
    write_manifest,
)
from vcop_lab.data.sampling import parse_setting
from vcop_lab.data.splits import load_classes, load_split, manifests_dir, split_files
from vcop_lab.errors import ManifestError, SettingsError, VcopError, VideoError
from vcop_lab.qa.activitynet import (
    QA_INDEX,
    QA_SUBSET_DIR,
    load_qa_questions,
    read_qa_index,
    write_qa_subset,
)
from vcop_lab.qa.activitynet import SPLITS as QA_SPLITS
from vcop_lab.runtime import worker_pool

DATASETS = ("ucf101", "hmdb51", "activitynet-qa")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".gif")
REPORT_NAME = PREPARE_REPORT_NAME
CACHE_NAME = "probe_cache.json"
QA_LABEL = "activitynet"
_CACHE_VERSION = 1
_DECODERS = ("vcop_lab.data.video",)  # what the decoding processes import once
_CACHE_SAVE_EVERY = 200  # probes between cache saves, so an interrupted run keeps its work


@dataclass
class PrepareReport:
    """What ``prepare`` found. ``to_dict()`` is what ``prepare_report.json`` holds."""

    dataset: str
    split: int | None
    setting: str
    tuple_span: int
    root: str
    out: str
    manifest: str | None = None
    listed: dict[str, int] = field(default_factory=dict)  # per split
    kept: dict[str, int] = field(default_factory=dict)  # rows written, per split
    missing: list[str] = field(default_factory=list)  # listed paths absent from disk
    missing_per_class: dict[str, int] = field(default_factory=dict)
    not_in_split: list[str] = field(default_factory=list)  # on disk, in no list of the split
    not_in_split_listed_elsewhere: int = 0  # ... of which another split lists
    unreadable: list[dict] = field(default_factory=list)  # {path, reason}
    too_short: list[dict] = field(default_factory=list)  # {path, label, split, num_frames}
    too_short_per_class: dict[str, int] = field(default_factory=dict)
    duplicates: list[dict] = field(default_factory=list)  # {listed, used, ignored}
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> counts
    probed: int = 0
    cached: int = 0
    probe_seconds: float = 0.0
    workers: int = 1
    questions: dict | None = None  # activitynet-qa only

    def to_dict(self) -> dict:
        """A JSON-ready dictionary of the report."""
        return asdict(self)

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"prepare {self.dataset}" + (f" split {self.split}" if self.split else "")
                 + f" from {self.root} (setting {self.setting}: a tuple needs "
                 f"{self.tuple_span} frames)"]
        for split in self.totals:
            t = self.totals[split]
            lines.append(f"  {split:5s}: listed {t['listed']}, in manifest {t['kept']}, "
                         f"missing {t['missing']}, unreadable {t['unreadable']}, "
                         f"too short {t['too_short']}")
        lines.append(_counted("missing from disk", len(self.missing), self.missing_per_class))
        lines.append(_counted(f"too short (< {self.tuple_span} frames)", len(self.too_short),
                              self.too_short_per_class))
        lines.append(f"  unreadable or truncated: {len(self.unreadable)}"
                     + "".join(f"\n    {u['path']}: {u['reason']}" for u in self.unreadable[:5])
                     + ("\n    ..." if len(self.unreadable) > 5 else ""))
        extra = (f" ({self.not_in_split_listed_elsewhere} listed in another split)"
                 if self.not_in_split_listed_elsewhere else "")
        lines.append(f"  on disk but not in the lists: {len(self.not_in_split)}{extra}")
        if self.duplicates:
            lines.append(f"  listed videos found more than once (first kept): "
                         f"{len(self.duplicates)}")
        if self.questions:
            q = self.questions
            lines.append("  questions with their video: "
                         + ", ".join(f"{s} {q['found'][s]}/{q['found'][s] + q['missing'][s]}"
                                     for s in q["found"]))
        n = self.probed + self.cached
        per = self.probe_seconds / self.probed if self.probed else 0.0
        lines.append(f"  counted frames of {self.probed} videos in {self.probe_seconds:.1f} s "
                     f"({per:.2f} s each, {self.workers} worker(s)); {self.cached} of {n} "
                     "from the cache")
        lines.append(f"  manifest: {self.manifest or 'not written (no usable video)'}")
        return "\n".join(lines)


def _counted(what: str, total: int, per_class: dict[str, int]) -> str:
    top = sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {v}" for k, v in top[:8]) + (", ..." if len(top) > 8 else "")
    return f"  {what}: {total}" + (f" ({shown})" if total else "")


@dataclass(frozen=True)
class _Wanted:
    """A video the lists ask for."""

    listed: str  # path as listed (for activitynet-qa: v_<id>)
    label: str
    label_index: int
    split: str
    group: str  # what missing/too-short videos are counted by (class, or split for QA)
    stems: tuple[str, ...]  # lower-case file stems that match


# ---------------------------------------------------------------------------- finding files

def scan_videos(root: Path, exclude: Path | None = None) -> list[str]:
    """Video files under ``root`` (recursively, following links), as sorted posix paths
    relative to ``root``. Hidden folders and ``exclude`` (the output folder) are skipped."""
    found, seen = [], set()
    exclude = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = Path(dirpath).resolve()
        if real in seen or (exclude is not None and real == exclude):
            dirnames[:] = []  # a link loop, or the output folder inside the dataset
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                found.append((rel_dir / name).as_posix())
    return sorted(found)


def _stem(path: str) -> str:
    return PurePosixPath(path).stem.lower()


def _pick(wanted: _Wanted, candidates: list[str]) -> str:
    """Of several files with a matching stem, the one most like the listed path."""
    listed = wanted.listed.lower()
    listed_ext = PurePosixPath(listed).suffix

    def score(path: str) -> tuple:
        p = PurePosixPath(path.lower())
        return (not path.lower().endswith(listed),  # same Class/name.ext
                p.parent.name != wanted.label.lower(),  # in the class folder
                p.suffix != listed_ext,  # same container
                len(p.parts), path)
    return min(candidates, key=score)


def _match(wanted: list[_Wanted], on_disk: list[str]):
    by_stem: dict[str, list[str]] = {}
    for path in on_disk:
        by_stem.setdefault(_stem(path), []).append(path)
    matched, missing, duplicates, used = [], [], [], set()
    for w in wanted:
        candidates = [p for s in w.stems for p in by_stem.get(s, [])]
        if not candidates:
            missing.append(w)
            continue
        best = _pick(w, candidates)
        matched.append((w, best))
        used.update(candidates)
        if len(candidates) > 1:
            duplicates.append({"listed": w.listed, "used": best,
                               "ignored": sorted(c for c in candidates if c != best)})
    unlisted = [p for p in on_disk if p not in used]
    return matched, missing, duplicates, unlisted


# ---------------------------------------------------------------------------- probing

def _probe_task(path: str, backend: str) -> dict:
    """Count the frames of one file; never raises (a worker must survive any bad file)."""
    try:
        from vcop_lab.data.video import probe
        info = probe(path, backend=backend)
    except VcopError as exc:
        return {"ok": False, "reason": exc.what}
    except Exception as exc:  # a decoder's own error on a damaged file
        return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    if info.num_frames <= 0:
        return {"ok": False, "reason": "no frame decodes"}
    return {"ok": True, "num_frames": int(info.num_frames), "fps": float(info.fps),
            "width": int(info.width), "height": int(info.height), "backend": info.backend}


def _probe_all(paths: list[str], root: Path, backend: str, workers: int, progress: bool,
               on_result) -> None:
    """Probe ``paths`` (relative to ``root``), calling ``on_result(path, result)`` for each."""
    if not paths:
        return
    bar = tqdm(total=len(paths), unit="video", desc="counting frames", disable=not progress)

    def report(path: str, result: dict) -> None:
        on_result(path, result)
        bar.update()

    try:
        # Starting worker processes costs seconds (they import the decoders): not worth it
        # for a handful of files.
        if workers <= 1 or len(paths) <= 2 * workers:
            for path in paths:
                report(path, _probe_task(str(root / path), backend))
            return
        queue = list(reversed(paths))
        while queue:
            suspects = _run_pool(queue, root, backend, workers, report)
            for path in suspects:  # retried alone: a file that kills the decoder twice is bad
                try:
                    with worker_pool(1, preload=_DECODERS) as pool:
                        result = pool.submit(_probe_task, str(root / path), backend).result()
                except BrokenProcessPool:
                    result = {"ok": False, "reason": "the decoder crashed on this file"}
                report(path, result)
    finally:
        bar.close()


def _run_pool(queue: list[str], root: Path, backend: str, workers: int, report) -> list[str]:
    """Probe from ``queue`` until it is empty or a worker dies; returns the files that were
    in flight when one died (a bounded window keeps that list short)."""
    running: dict = {}
    try:
        with worker_pool(workers, preload=_DECODERS) as pool:
            while queue or running:
                while queue and len(running) < 2 * workers:
                    path = queue[-1]
                    running[pool.submit(_probe_task, str(root / path), backend)] = path
                    queue.pop()
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()  # raises BrokenProcessPool if a worker died
                    report(running.pop(future), result)
    except BrokenProcessPool:
        return list(running.values())
    return []


class _ProbeCache:
    """Measured videos keyed by (relative path, size, mtime_ns), stored as JSON."""

    def __init__(self, path: Path, root: Path, backend: str):
        self.path, self.root, self.backend = path, str(root), backend
        self.entries: dict[str, dict] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if (data.get("version") == _CACHE_VERSION and data.get("root") == self.root
                    and data.get("backend") == backend):
                self.entries = data.get("entries", {})
        except (OSError, ValueError, AttributeError):
            pass  # no cache or a damaged one: measure again

    @staticmethod
    def key(file: Path) -> tuple[int, int]:
        st = file.stat()
        return st.st_size, st.st_mtime_ns

    def get(self, rel: str, key: tuple[int, int]) -> dict | None:
        entry = self.entries.get(rel)
        if entry and (entry.get("size"), entry.get("mtime_ns")) == key:
            return entry["result"]
        return None

    def put(self, rel: str, key: tuple[int, int], result: dict) -> None:
        self.entries[rel] = {"size": key[0], "mtime_ns": key[1], "result": result}

    def save(self) -> None:
        data = {"version": _CACHE_VERSION, "root": self.root, "backend": self.backend,
                "entries": self.entries}
        write_json_atomic(self.path, data, indent=None)  # compact: 13k entries for UCF101


# ---------------------------------------------------------------------------- ActivityNet-QA

def _qa_wanted(qa_dir: str | Path | None):
    """The QA videos as wanted entries, their questions, and where they were read from."""
    source = Path(qa_dir) if qa_dir is not None else None
    if source is not None:
        questions = load_qa_questions(source)
        index = {v: (s, len(q)) for v, (s, q) in questions.items()}
    else:
        questions, source = None, manifests_dir() / QA_INDEX
        index = read_qa_index(source)
    wanted = [_Wanted(f"v_{vid}", QA_LABEL, 0, split, split, (f"v_{vid}".lower(), vid.lower()))
              for vid, (split, _) in index.items()]
    return wanted, index, questions, str(source)


def _qa_summary(index, questions, found_ids: set[str], source: str) -> dict:
    found = {s: 0 for s in QA_SPLITS}
    missing = {s: 0 for s in QA_SPLITS}
    for vid, (split, count) in index.items():
        (found if vid in found_ids else missing)[split] += count
    out = {"source": source, "found": found, "missing": missing,
           "videos_found": sorted(found_ids)}
    if questions is not None:
        out["found_question_ids"] = sorted(q for v in found_ids for q in questions[v][1])
    return out


# ---------------------------------------------------------------------------- prepare

def prepare(dataset: str, root: str | Path, out: str | Path, split: int = 1,
            setting: str = "16-8-3", workers: int = 2, backend: str = "auto",
            progress: bool = True, lists_dir: str | Path | None = None,
            qa_dir: str | Path | None = None) -> PrepareReport:
    """Build ``out/manifest.csv`` for one split of ``dataset`` from the videos under ``root``.

    ``dataset`` is ``ucf101``, ``hmdb51`` or ``activitynet-qa``; ``lists_dir`` replaces the
    shipped split lists, ``qa_dir`` points to the ActivityNet-QA ``*_q.json`` files. Problems
    with single videos never stop the run: they are counted in the returned report (also
    written to ``out/prepare_report.json``). Raises VideoError when no usable video is found.
    """
    dataset = dataset.lower().replace("_", "-")
    if dataset not in DATASETS:
        raise ManifestError(f"unknown dataset {dataset!r}", None,
                            f"use one of: {', '.join(DATASETS)}")
    spec = parse_setting(setting)
    root, out = Path(root).expanduser().resolve(), Path(out).expanduser().resolve()
    if not root.is_dir():
        raise VideoError("dataset folder not found", root,
                         "pass --root with the folder holding the dataset's videos")
    if out == root or root in out.parents:  # the dataset folder is never written to
        raise SettingsError("is the dataset folder or inside it", out,
                            "pass an --out folder outside --root (e.g. data/ucf101-s1)")
    check_writable(out, folder=True)
    workers = max(1, int(workers))
    qa = dataset == "activitynet-qa"

    other_listed: set[str] = set()
    if qa:
        wanted, qa_index, questions, qa_source = _qa_wanted(qa_dir)
        split_id = None
    else:
        entries = load_split(dataset, split, lists_dir)
        wanted = [_Wanted(e.path, e.label, e.label_index, e.split, e.label, (_stem(e.path),))
                  for e in entries]
        split_id = split
        for other in (1, 2, 3):  # stems listed by the other splits (when their lists exist)
            if other != split and all(p.is_file() for p in split_files(dataset, other,
                                                                        lists_dir)):
                other_listed.update(_stem(e.path) for e in load_split(dataset, other,
                                                                       lists_dir))

    out.mkdir(parents=True, exist_ok=True)
    on_disk = scan_videos(root, exclude=out)
    matched, missing, duplicates, unlisted = _match(wanted, on_disk)

    # Frame counts: from the cache when the file is unchanged, else decoded in parallel.
    cache = _ProbeCache(out / CACHE_NAME, root, backend)
    results: dict[str, dict] = {}
    keys, to_probe, cached = {}, [], 0
    for _, path in matched:
        try:
            keys[path] = _ProbeCache.key(root / path)
        except OSError as exc:  # e.g. a dangling link
            results[path] = {"ok": False, "reason": f"cannot read the file ({exc.strerror})"}
            continue
        hit = cache.get(path, keys[path])
        if hit is not None:
            results[path] = hit
            cached += 1
        else:
            to_probe.append(path)
    fresh = 0

    def on_result(path: str, result: dict) -> None:
        nonlocal fresh
        results[path] = result
        cache.put(path, keys[path], result)
        fresh += 1
        if fresh % _CACHE_SAVE_EVERY == 0:
            cache.save()

    start = time.perf_counter()
    try:
        _probe_all(to_probe, root, backend, workers, progress, on_result)
    finally:
        cache.save()
    seconds = time.perf_counter() - start

    report = PrepareReport(dataset=dataset, split=split_id, setting=str(spec),
                           tuple_span=spec.span, root=str(root), out=str(out),
                           probed=len(to_probe), cached=cached,
                           probe_seconds=round(seconds, 3), workers=workers)
    splits = QA_SPLITS if qa else ("train", "test")
    report.listed = {s: sum(w.split == s for w in wanted) for s in splits}
    report.missing = [w.listed for w in missing]
    report.missing_per_class = dict(sorted(Counter(w.group for w in missing).items()))
    report.duplicates = duplicates
    report.not_in_split = unlisted
    report.not_in_split_listed_elsewhere = sum(_stem(p) in other_listed for p in unlisted)

    records: list[VideoRecord] = []
    counts = {s: Counter() for s in splits}
    for w in missing:
        counts[w.split]["missing"] += 1
    for w, path in matched:
        res = results[path]
        if not res["ok"]:
            report.unreadable.append({"path": path, "reason": res["reason"]})
            counts[w.split]["unreadable"] += 1
        elif res["num_frames"] < spec.span:
            report.too_short.append({"path": path, "label": w.label, "split": w.split,
                                     "num_frames": res["num_frames"]})
            counts[w.split]["too_short"] += 1
        else:
            # some GIFs carry no frame rate; 25 fps is what their viewers assume
            fps = res["fps"] if res["fps"] > 0 else 25.0
            records.append(VideoRecord(path, w.label, w.label_index, w.split,
                                       res["num_frames"], round(fps, 4), res["width"],
                                       res["height"]))
            counts[w.split]["kept"] += 1
    groups = {w.listed: w.group for w in wanted}
    report.too_short_per_class = dict(sorted(Counter(
        groups[w.listed] for w, path in matched
        if results[path]["ok"] and results[path]["num_frames"] < spec.span).items()))
    report.kept = {s: counts[s]["kept"] for s in splits}
    report.totals = {s: {"listed": report.listed[s], "missing": counts[s]["missing"],
                         "unreadable": counts[s]["unreadable"],
                         "too_short": counts[s]["too_short"], "kept": counts[s]["kept"]}
                     for s in splits}
    if qa:
        found = {w.listed[2:] for w, _ in matched}
        report.questions = _qa_summary(qa_index, questions, found, qa_source)
        if questions is not None:  # the folder carries its videos' questions (VideoQA reads them)
            write_qa_subset(qa_dir, found, out / QA_SUBSET_DIR)
            report.questions["copied_to"] = QA_SUBSET_DIR

    manifest_path = out / MANIFEST_NAME
    if records:
        classes = [QA_LABEL] if qa else load_classes(dataset, lists_dir)
        write_manifest(records, manifest_path, classes=classes)
        (out / ROOT_NAME).write_text(str(root) + "\n", encoding="utf-8")
        report.manifest = str(manifest_path)
    elif manifest_path.exists():
        manifest_path.unlink()  # never leave a manifest of an earlier run behind
    write_json_atomic(out / REPORT_NAME, report.to_dict())
    if not records:
        raise VideoError(f"no usable video of {dataset} found ({len(missing)} of "
                         f"{len(wanted)} listed videos missing, {len(report.unreadable)} "
                         f"unreadable, {len(report.too_short)} too short)", root,
                         f"check --root (details in {out / REPORT_NAME})")
    return report
