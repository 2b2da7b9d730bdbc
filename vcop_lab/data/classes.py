"""Which classes of two datasets are the same action (for cross-dataset retrieval).

Two datasets rarely spell a shared class alike: UCF101 writes ``Fencing`` and
``PlayingGuitar``, HMDB51 ``fencing`` and ``ride_bike``. Classes are matched in three steps,
each only among the names the earlier steps left unmatched:

1. **same name**: identical names (within one dataset every class matches itself);
2. **same name ignoring case and separators**: names equal once lower-cased with ``_``, ``-``
   and spaces dropped (``Fencing`` = ``fencing``, ``PlayingGuitar`` = ``playing_guitar``);
3. **mapped**: pairs of a class map, a CSV of classes that are the same action under other
   names (``Biking`` = ``ride_bike``). The shipped one is
   ``data_manifests/ucf101_hmdb51_classes.csv`` (columns ``ucf101,hmdb51,why``; how it was
   made is in ``data_manifests/README.md``). Its names are compared normalised as in step 2,
   and a pair applies in either direction (UCF101 queries against HMDB51 or the reverse).
   The map is read only when both datasets have classes the first two steps left over.

Every class is matched at most once. :func:`shared_classes` gives the matches of two data
folders and raises one :class:`~vcop_lab.errors.SettingsError` when there are none.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from vcop_lab.data.manifest import MANIFEST_NAME, load_manifest
from vcop_lab.data.splits import manifests_dir
from vcop_lab.errors import ManifestError, SettingsError

CLASS_MAP_NAME = "ucf101_hmdb51_classes.csv"
CLASS_MAP_COLUMNS = ("ucf101", "hmdb51", "why")  # the shipped map's; another's names its datasets
SAME_NAME = "same name"
NORMALISED = "same name ignoring case and separators"
MAPPED = "mapped"
_SEPARATORS = re.compile(r"[_\-\s]+")


class ClassPair(NamedTuple):
    """One row of a class map: a class of each dataset and why they are the same action."""

    first: str
    second: str
    why: str


class ClassMatch(NamedTuple):
    """A class of dataset ``a`` and its partner in dataset ``b``; ``how`` names the step that
    matched them, ``why`` is the class map's reason (empty unless ``how`` is mapped)."""

    a: str
    b: str
    how: str
    why: str = ""

    @property
    def label(self) -> str:
        """``rise`` when both names are the same, else ``Biking = ride_bike``."""
        return self.a if self.a == self.b else f"{self.a} = {self.b}"

    def as_dict(self) -> dict:
        """The match as JSON-friendly ``{"a", "b", "how", "why"}``."""
        return self._asdict()


def normalise_class_name(name: str) -> str:
    """``name`` lower-cased without ``_``, ``-`` and spaces: ``PlayingGuitar`` and
    ``playing_guitar`` both become ``playingguitar``."""
    return _SEPARATORS.sub("", name).lower()


def default_class_map() -> Path:
    """The shipped class map, ``data_manifests/ucf101_hmdb51_classes.csv``."""
    return manifests_dir() / CLASS_MAP_NAME


def load_class_map(path: str | Path | None = None) -> list[ClassPair]:
    """Read and check a class map CSV (default: the shipped one).

    The header names the two datasets and then ``why`` (``ucf101,hmdb51,why``). Every bad
    row is reported at once in one :class:`ManifestError`: a missing name or reason, or a
    class mapped twice (a class may have one partner only).
    """
    path = Path(path) if path is not None else default_class_map()
    if not path.is_file():
        raise ManifestError("class map not found", path,
                            f"pass a CSV with the columns {','.join(CLASS_MAP_COLUMNS)} "
                            "(see data_manifests/README.md)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if len(header) != 3 or header[2] != "why" or not all(header):
            raise ManifestError(f"the header is {','.join(header) or 'missing'}", path,
                                "the first line must name the two datasets and then why, "
                                f"e.g. {','.join(CLASS_MAP_COLUMNS)}")
        pairs, problems = _parse_class_map(enumerate(reader, start=2))
    if problems:
        raise ManifestError(f"{len(problems)} bad row(s): {'; '.join(problems[:10])}", path,
                            "give each row a class of each dataset and the reason, and map "
                            "every class once")
    return pairs


def _parse_class_map(rows: Iterable[tuple[int, list[str]]]
                     ) -> tuple[list[ClassPair], list[str]]:
    """The pairs of a class map's rows, and the problems of the bad ones."""
    pairs, problems = [], []
    seen: dict[tuple[int, str], int] = {}  # (column, normalised name) -> line
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if len(cells) != 3 or not all(cells):
            problems.append(f"line {line}: expected 3 non-empty fields, got {len(cells)}")
            continue
        for column in (0, 1):
            key = (column, normalise_class_name(cells[column]))
            if key in seen:
                problems.append(f"line {line}: {cells[column]!r} is mapped already on line "
                                f"{seen[key]}")
            seen.setdefault(key, line)
        pairs.append(ClassPair(*cells))
    return pairs, problems


def _by_key(names: Iterable[str]) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for name in names:
        keys.setdefault(normalise_class_name(name), []).append(name)
    return keys


def _alike_error(names: list[str]) -> SettingsError:
    return SettingsError(f"classes {' and '.join(map(repr, names))} of one dataset differ only "
                         "in case or separators, so neither can be matched to the other "
                         "dataset", fix="rename one of them in its manifest")


def _normalised_matches(a_left: list[str], b_left: list[str]) -> list[ClassMatch]:
    """Step 2; two names of one dataset that normalise alike cannot be told apart."""
    a_keys, b_keys = _by_key(a_left), _by_key(b_left)
    for key in a_keys.keys() & b_keys.keys():
        for names in (a_keys[key], b_keys[key]):
            if len(names) > 1:
                raise _alike_error(names)
    return [ClassMatch(a_keys[k][0], b_keys[k][0], NORMALISED) for k in a_keys if k in b_keys]


def _mapped_matches(a_left: list[str], b_left: list[str], pairs: Sequence[ClassPair]
                    ) -> list[ClassMatch]:
    """Step 3: a pair applies in either direction; ``a``'s names may be of either dataset."""
    a_keys, b_keys = _by_key(a_left), _by_key(b_left)
    found = []
    for pair in pairs:
        u, h = normalise_class_name(pair.first), normalise_class_name(pair.second)
        for x, y in ((u, h), (h, u)):
            if x in a_keys and y in b_keys:
                for names in (a_keys[x], b_keys[y]):
                    if len(names) > 1:
                        raise _alike_error(names)
                found.append(ClassMatch(a_keys.pop(x)[0], b_keys.pop(y)[0], MAPPED, pair.why))
                break
    return found


def _pairs(class_map: str | Path | Sequence[ClassPair] | None) -> Sequence[ClassPair]:
    if class_map is None or isinstance(class_map, str | Path):
        return load_class_map(class_map)
    return class_map


def match_classes(a_names: Iterable[str], b_names: Iterable[str],
                  class_map: str | Path | Sequence[ClassPair] | None = None
                  ) -> list[ClassMatch]:
    """The classes of ``a_names`` that are a class of ``b_names``, each matched once, sorted
    by ``a``'s name. ``class_map``: a class map CSV or its pairs (default: the shipped one;
    read only when both sides have names the first two steps left unmatched)."""
    a_all, b_all = list(dict.fromkeys(a_names)), list(dict.fromkeys(b_names))
    b_set = set(b_all)
    matches = [ClassMatch(n, n, SAME_NAME) for n in a_all if n in b_set]
    done_a = {m.a for m in matches}
    a_left = [n for n in a_all if n not in done_a]
    b_left = [n for n in b_all if n not in done_a]
    matches += _normalised_matches(a_left, b_left)
    a_left = [n for n in a_left if n not in {m.a for m in matches}]
    b_left = [n for n in b_left if n not in {m.b for m in matches}]
    if a_left and b_left:
        matches += _mapped_matches(a_left, b_left, _pairs(class_map))
    return sorted(matches, key=lambda m: m.a)


def _split_labels(data: str | Path, splits: Sequence[str] | None) -> list[str]:
    records = load_manifest(data)
    return sorted({r.label for r in records if splits is None or r.split in splits})


def shared_classes(data_a: str | Path, data_b: str | Path,
                   splits_a: Sequence[str] | None = None, splits_b: Sequence[str] | None = None,
                   class_map: str | Path | Sequence[ClassPair] | None = None
                   ) -> list[ClassMatch]:
    """The classes two data folders (or manifests) share: :func:`match_classes` of the labels
    of ``data_a``'s rows in ``splits_a`` and ``data_b``'s rows in ``splits_b`` (default: all
    rows). Raises :class:`SettingsError` naming both manifests when no class is shared."""
    matches = match_classes(_split_labels(data_a, splits_a), _split_labels(data_b, splits_b),
                            class_map)
    if not matches:
        raise no_shared_class_error(data_a, data_b, splits_a, splits_b, class_map)
    return matches


def _manifest_path(data: str | Path) -> Path:
    data = Path(data)
    return data / MANIFEST_NAME if data.is_dir() else data


def _map_name(class_map) -> str:
    if class_map is None:
        return CLASS_MAP_NAME
    return str(class_map) if isinstance(class_map, str | Path) else "the pairs given"


def no_shared_class_error(data_a: str | Path, data_b: str | Path,
                          splits_a: Sequence[str] | None = None,
                          splits_b: Sequence[str] | None = None,
                          class_map: str | Path | Sequence[ClassPair] | None = None
                          ) -> SettingsError:
    """The one error for two datasets without a shared class (file, problem, fix)."""
    where_a = f" ({'/'.join(splits_a)} split)" if splits_a else ""
    where_b = f" ({'/'.join(splits_b)} split)" if splits_b else ""
    return SettingsError(
        f"its classes{where_a} and those of {_manifest_path(data_b)}{where_b} have none in "
        "common, neither by name ignoring case and separators nor through the class map "
        f"{_map_name(class_map)}",
        _manifest_path(data_a),
        "use two datasets that share classes, or pass class_map: a CSV like "
        f"data_manifests/{CLASS_MAP_NAME} (columns {','.join(CLASS_MAP_COLUMNS)}) pairing "
        "classes that are the same action")


__all__ = [
    "CLASS_MAP_NAME",
    "ClassMatch",
    "ClassPair",
    "default_class_map",
    "load_class_map",
    "match_classes",
    "no_shared_class_error",
    "normalise_class_name",
    "shared_classes",
]
