"""Official split lists of UCF101 and HMDB51 (``classInd.txt``, ``trainlist0N.txt``,
``testlist0N.txt``).

The lists ship with the package in ``data_manifests/<dataset>/`` (see
``data_manifests/SOURCES.md``). Their format is the one of the UCF101 archive::

    classInd.txt      "1 ApplyEyeMakeup"                              (1-based index, name)
    trainlist01.txt   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1" (path, 1-based index)
    testlist01.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"   (path; class = folder)

Windows (CRLF) or Unix line endings, a UTF-8 byte-order mark, trailing blanks and blank lines
are all accepted. Every malformed line is reported in one :class:`ManifestError` that names
the file and the line numbers. Label indices returned here are 0-based.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from vcop_lab.errors import ManifestError

DATASETS = ("ucf101", "hmdb51")
SPLIT_IDS = (1, 2, 3)
ENV_MANIFESTS = "VCOP_LAB_MANIFESTS"
_MAX_SHOWN = 10


class SplitEntry(NamedTuple):
    """One video of a split list: path as listed (``Class/name.avi``), class, 0-based index."""

    path: str
    label: str
    label_index: int
    split: str  # "train" or "test"


def manifests_dir() -> Path:
    """The folder holding the shipped lists (``data_manifests``).

    Looked up in this order: the environment variable ``VCOP_LAB_MANIFESTS`` (when set), the
    repository next to the package (editable install or a source checkout), a
    ``data_manifests`` folder inside the package (a wheel that ships it as package data), and
    ``<prefix>/share/vcop_lab/data_manifests`` (a wheel that ships it as data files).
    """
    env = os.environ.get(ENV_MANIFESTS)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise ManifestError(f"{ENV_MANIFESTS} points to a folder that does not exist", path,
                                f"unset {ENV_MANIFESTS} or point it to the project's "
                                "data_manifests folder")
        return path
    package = Path(__file__).resolve().parents[1]  # .../vcop_lab
    shared = Path(sys.prefix) / "share" / "vcop_lab" / "data_manifests"
    for candidate in (package.parent / "data_manifests", package / "data_manifests", shared):
        if candidate.is_dir():
            return candidate
    raise ManifestError("the shipped split lists (data_manifests) were not found",
                        package.parent / "data_manifests",
                        f"install the package from a source checkout (pip install -e .) or set "
                        f"{ENV_MANIFESTS} to the data_manifests folder of the project")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines; CRLF/LF and a BOM are accepted."""
    if not path.is_file():
        raise ManifestError("split list not found", path,
                            "pass --lists-dir with the folder holding classInd.txt, "
                            "trainlist0N.txt and testlist0N.txt")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path,
                            "save the list as UTF-8 text") from None
    # splitlines() also breaks on \r alone and on \x0b, \x1c..., which never occur in lists.
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()]


def _raise_if(problems: list[str], path: Path, fix: str) -> None:
    if problems:
        shown = "; ".join(problems[:_MAX_SHOWN])
        more = len(problems) - _MAX_SHOWN
        raise ManifestError(f"{len(problems)} malformed line(s): {shown}"
                            + (f"; ... {more} more" if more > 0 else ""), path, fix)


def read_class_index(path: str | Path) -> list[str]:
    """Class names of a ``classInd.txt`` ordered by index (position i = 0-based index i)."""
    path = Path(path)
    by_index: dict[int, str] = {}
    problems = []
    for n, line in _read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            problems.append(f"line {n}: expected '<index> <ClassName>', got {line!r}")
            continue
        index, name = int(parts[0]), parts[1]
        if index in by_index:
            problems.append(f"line {n}: index {index} given twice")
        elif name in by_index.values():
            problems.append(f"line {n}: class {name!r} given twice")
        else:
            by_index[index] = name
    if not problems and sorted(by_index) != list(range(1, len(by_index) + 1)):
        problems.append(f"indices must run 1..{len(by_index)} without gaps")
    if not problems and not by_index:
        problems.append("no classes")
    _raise_if(problems, path, "each line must be '<index> <ClassName>' with indices 1, 2, 3, ...")
    return [by_index[i] for i in range(1, len(by_index) + 1)]


def read_split_list(path: str | Path, classes: list[str], split: str) -> list[SplitEntry]:
    """Parse a ``trainlist``/``testlist`` file against the classes of ``classInd.txt``.

    A line is ``Class/video.ext`` optionally followed by the 1-based class index (train lists
    always carry it). The class folder, when given, must name a class of ``classes``
    (case-insensitively, as the official UCF101 lists need) and agree with the index.
    """
    path = Path(path)
    exact = {name: i for i, name in enumerate(classes)}
    folded = {name.lower(): i for i, name in enumerate(classes)}
    entries, problems, seen = [], [], {}
    for n, line in _read_lines(path):
        parts = line.split()
        index = None
        if len(parts) == 2:
            if not parts[1].lstrip("-").isdigit():
                problems.append(f"line {n}: class index {parts[1]!r} is not a number")
                continue
            index = int(parts[1]) - 1
            if not 0 <= index < len(classes):
                problems.append(f"line {n}: class index {parts[1]} is not in 1..{len(classes)}")
                continue
        elif len(parts) != 1:
            problems.append(f"line {n}: expected '<Class/video.avi> [index]', got {line!r}")
            continue
        video = parts[0].replace("\\", "/")
        folder, _, name = video.rpartition("/")
        if not name or "." not in name:
            problems.append(f"line {n}: {video!r} is not a video file name")
            continue
        if folder:
            cls = folder.rsplit("/", 1)[-1]
            by_folder = exact.get(cls, folded.get(cls.lower()))
            if by_folder is None:
                problems.append(f"line {n}: class {cls!r} is not in classInd.txt")
                continue
            if index is not None and index != by_folder:
                problems.append(f"line {n}: index {index + 1} is {classes[index]!r} but the "
                                f"folder says {classes[by_folder]!r}")
                continue
            index = by_folder
        elif index is None:
            problems.append(f"line {n}: {video!r} has neither a class folder nor an index")
            continue
        if video in seen:
            problems.append(f"line {n}: {video!r} already listed on line {seen[video]}")
            continue
        seen[video] = n
        entries.append(SplitEntry(video, classes[index], index, split))
    _raise_if(problems, path, "each line must be '<Class>/<video>.avi' optionally followed by "
              "the 1-based class index of classInd.txt")
    return entries


def split_files(dataset: str, split: int, lists_dir: str | Path | None = None,
                ) -> tuple[Path, Path, Path]:
    """Paths of (classInd, trainlist, testlist) for one split of one dataset."""
    if dataset not in DATASETS:
        raise ManifestError(f"unknown dataset {dataset!r}", None,
                            f"use one of: {', '.join(DATASETS)}")
    if split not in SPLIT_IDS:
        raise ManifestError(f"unknown split {split!r}", None, "use split 1, 2 or 3")
    folder = Path(lists_dir) if lists_dir is not None else manifests_dir() / dataset
    return (folder / "classInd.txt", folder / f"trainlist0{split}.txt",
            folder / f"testlist0{split}.txt")


def load_split(dataset: str, split: int = 1, lists_dir: str | Path | None = None,
               ) -> list[SplitEntry]:
    """All videos of one split: the train list's entries, then the test list's.

    ``dataset`` is ``"ucf101"`` or ``"hmdb51"``; ``lists_dir`` defaults to the shipped
    ``data_manifests/<dataset>``. A video listed in both train and test is an error.
    """
    class_file, train_file, test_file = split_files(dataset, split, lists_dir)
    classes = read_class_index(class_file)
    train = read_split_list(train_file, classes, "train")
    test = read_split_list(test_file, classes, "test")
    both = {e.path for e in train} & {e.path for e in test}
    if both:
        raise ManifestError(f"{len(both)} video(s) are in both the train and the test list, "
                            f"e.g. {sorted(both)[0]}", test_file,
                            "a video must belong to one side of a split")
    return train + test


def load_classes(dataset: str, lists_dir: str | Path | None = None) -> list[str]:
    """Class names of a dataset ordered by 0-based label index."""
    return read_class_index(split_files(dataset, 1, lists_dir)[0])
