"""Dataset manifests: one CSV row per video.

Columns (see ``data_manifests/README.md``)::

    path,label,label_index,split,num_frames,fps,width,height

``path`` is relative to the data root (the folder that holds the manifest unless another root
is given), ``split`` is ``train``, ``val`` or ``test``, and ``num_frames`` is the number of
frames that actually decode (not what the container header claims).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vcop_lab.atomic import atomic_path, write_text_atomic
from vcop_lab.errors import ManifestError

COLUMNS = ("path", "label", "label_index", "split", "num_frames", "fps", "width", "height")
SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.csv"
CLASSES_NAME = "classes.txt"  # beside a manifest: every class name, in label-index order
ROOT_NAME = "data_root.txt"  # written by `vcop-lab prepare`: where the videos are


@dataclass(frozen=True)
class VideoRecord:
    """One video of a manifest. ``path`` is relative to the data root."""

    path: str
    label: str
    label_index: int
    split: str
    num_frames: int
    fps: float
    width: int
    height: int

    def full_path(self, root: str | Path) -> Path:
        """The video's location on disk under ``root``."""
        return Path(root) / self.path


def data_root(data_dir: str | Path) -> Path:
    """The folder a manifest's video paths are relative to.

    ``data_dir/data_root.txt`` when present (``vcop-lab prepare`` writes it, so that the
    manifest can live apart from a read-only dataset folder), otherwise ``data_dir`` itself.
    """
    data_dir = Path(data_dir)
    if data_dir.is_file():
        data_dir = data_dir.parent
    marker = data_dir / ROOT_NAME
    if marker.is_file():
        text = marker.read_text(encoding="utf-8").strip()
        if text:
            return Path(text)
    return data_dir


def write_manifest(records: list[VideoRecord], path: str | Path,
                   classes: list[str] | None = None) -> Path:
    """Write ``records`` as a manifest CSV (atomically: a crash never leaves half a file).

    ``classes``, every class name in label-index order, goes to ``classes.txt`` beside it:
    a dataset of which some classes have no usable video keeps its label indices (prepare
    writes it)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow(asdict(rec))
    if classes is not None:
        write_text_atomic(path.parent / CLASSES_NAME, "".join(f"{c}\n" for c in classes))
    return path


# Files beside a manifest whose content is part of what the data is (the synthetic set's
# ground truth changes with its rendering even where the manifest does not).
_DIGESTED_NEIGHBOURS = ("ground_truth.jsonl",)


PREPARE_REPORT_NAME = "prepare_report.json"  # written by ``vcop-lab prepare``


def dataset_kind(data_dir: str | Path) -> str | None:
    """Which dataset a prepared folder holds (``ucf101``, ``hmdb51``, ``activitynet-qa``), as
    its ``prepare_report.json`` records; None for any other folder (e.g. the synthetic set)."""
    import json

    try:
        report = json.loads((Path(data_dir) / PREPARE_REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report.get("dataset") if isinstance(report, dict) else None


def data_digest(data_dir: str | Path, subset: list[VideoRecord] | None = None) -> str:
    """Content digest of a data folder, as run settings record it: the manifest's bytes, the
    ground truth beside it (if any) and the size of every video file (-1 when missing), plus
    the paths of ``subset`` when a run uses only some rows (the sample curriculum)."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        data_dir = data_dir.parent
    h = hashlib.sha256()
    manifest = data_dir / MANIFEST_NAME
    h.update(manifest.read_bytes() if manifest.is_file() else b"")
    for name in _DIGESTED_NEIGHBOURS:
        if (data_dir / name).is_file():
            h.update((data_dir / name).read_bytes())
    root = data_root(data_dir)
    for rec in load_manifest(data_dir) if manifest.is_file() else []:
        try:
            size = rec.full_path(root).stat().st_size
        except OSError:
            size = -1
        h.update(f"{rec.path}:{size};".encode())
    if subset is not None:
        h.update(("subset:" + "\n".join(r.path for r in subset)).encode())
    return h.hexdigest()[:16]


def _parse_row(row: dict, line: int) -> tuple[VideoRecord | None, list[str]]:
    problems = []
    values = {}
    casts = {f.name: f.type for f in fields(VideoRecord)}
    for name in COLUMNS:
        raw = (row.get(name) or "").strip()
        if raw == "":
            problems.append(f"line {line}: empty {name}")
            continue
        kind = casts[name]
        try:
            values[name] = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
        except ValueError:
            problems.append(f"line {line}: {name}={raw!r} is not of type {kind}")
    if problems:
        return None, problems
    if values["split"] not in SPLITS:
        problems.append(f"line {line}: split={values['split']!r} is not one of {', '.join(SPLITS)}")
    for name in ("num_frames", "width", "height"):
        if values[name] <= 0:
            problems.append(f"line {line}: {name}={values[name]} must be positive")
    if values["fps"] <= 0:
        problems.append(f"line {line}: fps={values['fps']} must be positive")
    if values["label_index"] < 0:
        problems.append(f"line {line}: label_index={values['label_index']} must be >= 0")
    if Path(values["path"]).is_absolute() or ".." in Path(values["path"]).parts:
        problems.append(f"line {line}: path {values['path']!r} must be relative to the data root")
    return (None if problems else VideoRecord(**values)), problems


def load_manifest(path: str | Path, check_files: bool = False, root: str | Path | None = None,
                  ) -> list[VideoRecord]:
    """Read and validate a manifest; every bad row is reported at once in one ManifestError.

    ``path`` may be the CSV itself or a data folder holding ``manifest.csv``. With
    ``check_files`` every video must exist under ``root`` (default: the manifest's folder).
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.exists():
        raise ManifestError("manifest not found", path,
                            "generate data with `vcop-lab synth --out DIR` or "
                            "`vcop-lab prepare ...`, then pass that DIR as --data")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ManifestError(f"missing column(s) {', '.join(missing)}", path,
                                f"the header must be: {','.join(COLUMNS)}")
        reader.fieldnames = header
        records, problems = [], []
        for line, row in enumerate(reader, start=2):
            rec, bad = _parse_row(row, line)
            problems += bad
            if rec is not None:
                records.append(rec)
    problems += _consistency_problems(records) + _index_problems(records, path.parent)
    if check_files:
        root = Path(root) if root is not None else data_root(path.parent)
        problems += [f"{r.path}: file not found under {root}" for r in records
                     if not r.full_path(root).exists()]
    if problems:
        shown = "; ".join(problems[:20])
        if len(problems) > 20:
            shown += f"; ... {len(problems) - 20} more"
        raise ManifestError(f"{len(problems)} bad row(s): {shown}", path,
                            "correct or remove these rows "
                            "(the format is in data_manifests/README.md)")
    if not records:
        raise ManifestError("the manifest has no rows", path, "regenerate it")
    return records


def _consistency_problems(records: list[VideoRecord]) -> list[str]:
    problems = []
    label_of_index: dict[int, str] = {}
    for rec in records:
        known = label_of_index.setdefault(rec.label_index, rec.label)
        if known != rec.label:
            problems.append(f"label_index {rec.label_index} is both {known!r} and {rec.label!r}")
    dupes = [p for p, n in Counter(r.path for r in records).items() if n > 1]
    problems += [f"{p}: listed {Counter(r.path for r in records)[p]} times" for p in dupes]
    return problems


def _index_problems(records: list[VideoRecord], folder: Path) -> list[str]:
    """Label indices must name the classes: those of ``classes.txt`` when the folder has one,
    else 0 .. K-1 for the manifest's K class names."""
    listed = folder / CLASSES_NAME
    if listed.is_file():
        classes = listed.read_text(encoding="utf-8").splitlines()
        return [f"label_index {i} is {name!r}, but {CLASSES_NAME} has "
                + (f"{classes[i]!r} there" if i < len(classes) else f"{len(classes)} classes")
                for i, name in sorted({(r.label_index, r.label) for r in records})
                if i >= len(classes) or classes[i] != name][:5]
    count = len({r.label for r in records})
    return [f"label_index {i} ({name!r}) is not below the number of class names, {count}: "
            f"label indices must run from 0 to {count - 1}"
            for i, name in sorted({(r.label_index, r.label) for r in records}) if i >= count][:5]


def class_names(records: list[VideoRecord]) -> list[str]:
    """Class names ordered by label index (index i -> name)."""
    names = {r.label_index: r.label for r in records}
    return [names.get(i, f"class{i}") for i in range(max(names) + 1)]


def select_split(records: list[VideoRecord], split: str) -> list[VideoRecord]:
    """The records of one split, in manifest order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [r for r in records if r.split == split]


def train_val_split(records: list[VideoRecord], n_val: int | float, seed: int = 0,
                    ) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Hold out validation videos from the training split.

    Rows marked ``val`` in the manifest are used as they are. Otherwise ``n_val`` training
    videos (a count, or a fraction when below 1) are drawn with a fixed seed, stratified by
    class so that every class keeps training videos (the paper holds out 800 UCF101 videos).
    """
    import random

    marked = select_split(records, "val")
    train = select_split(records, "train")
    if marked:
        return train, marked
    count = round(n_val * len(train)) if n_val < 1 else int(n_val)
    count = min(count, len(train) - 1)
    if count <= 0:
        return train, []
    rng = random.Random(seed)
    by_class: dict[int, list[VideoRecord]] = {}
    for rec in train:
        by_class.setdefault(rec.label_index, []).append(rec)
    order = []
    for label in sorted(by_class):
        group = by_class[label][:]
        rng.shuffle(group)
        order.append(group)
    picked: list[VideoRecord] = []
    while len(picked) < count:  # round-robin over classes keeps it stratified
        for group in order:
            if len(group) > 1 and len(picked) < count:
                picked.append(group.pop())
        if all(len(g) <= 1 for g in order):
            break
    val_paths = {r.path for r in picked}
    return [r for r in train if r.path not in val_paths], [r for r in train if r.path in val_paths]
