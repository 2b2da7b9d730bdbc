"""Classes across datasets: names matched ignoring case and separators, the shipped
UCF101-HMDB51 class map checked against the shipped class lists, one error when none match."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from vcop_lab.data.classes import (
    CLASS_MAP_COLUMNS,
    MAPPED,
    NORMALISED,
    SAME_NAME,
    ClassPair,
    default_class_map,
    load_class_map,
    match_classes,
    normalise_class_name,
    shared_classes,
)
from vcop_lab.data.manifest import VideoRecord, write_manifest
from vcop_lab.data.splits import manifests_dir, read_class_index
from vcop_lab.data.synthetic import MAIN_CLASSES, SECOND_CLASSES
from vcop_lab.errors import ManifestError, SettingsError


@pytest.fixture(scope="module")
def ucf101() -> list[str]:
    return read_class_index(manifests_dir() / "ucf101" / "classInd.txt")


@pytest.fixture(scope="module")
def hmdb51() -> list[str]:
    return read_class_index(manifests_dir() / "hmdb51" / "classInd.txt")


def test_normalised_names():
    assert normalise_class_name("PlayingGuitar") == normalise_class_name("playing_guitar")
    assert normalise_class_name("Slide Left") == normalise_class_name("slide-left") == "slideleft"
    assert normalise_class_name("Fencing") == normalise_class_name("fencing")
    assert normalise_class_name("PullUps") != normalise_class_name("pullup")  # the map's job


def test_shipped_map_names_classes_of_the_shipped_lists(ucf101, hmdb51):
    path = default_class_map()
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CLASS_MAP_COLUMNS
    assert all(len(row) == 3 and all(cell.strip() for cell in row) for row in rows[1:])
    pairs = load_class_map()
    assert len(pairs) == len(rows) - 1 == 10
    assert [p.first for p in pairs if p.first not in ucf101] == []
    assert [p.second for p in pairs if p.second not in hmdb51] == []
    for column in ("first", "second"):  # every class mapped at most once
        counts = Counter(getattr(p, column) for p in pairs)
        assert max(counts.values()) == 1, counts
    # A pair says what the names cannot: none of them already match ignoring case.
    by_name = {m.a for m in match_classes(ucf101, hmdb51, class_map=[])}
    assert not by_name & {p.first for p in pairs}
    assert ClassPair("Biking", "ride_bike", pairs[2].why) in pairs


def test_ucf101_and_hmdb51_share_classes(ucf101, hmdb51):
    by_name = match_classes(ucf101, hmdb51, class_map=[])
    assert [(m.a, m.b, m.how) for m in by_name] == [("Fencing", "fencing", NORMALISED),
                                                    ("Punch", "punch", NORMALISED)]
    matches = match_classes(ucf101, hmdb51)
    assert len(matches) == 12
    pairs = {(m.a, m.b) for m in matches}
    assert {("Fencing", "fencing"), ("Punch", "punch"), ("Biking", "ride_bike")} <= pairs
    assert {m.how for m in matches if (m.a, m.b) not in {(x.a, x.b) for x in by_name}} == {MAPPED}
    assert all(m.why for m in matches if m.how == MAPPED)
    # one-to-one, and the same pairs whichever dataset queries the other
    assert len({m.a for m in matches}) == len({m.b for m in matches}) == 12
    assert {(m.b, m.a) for m in match_classes(hmdb51, ucf101)} == pairs


def test_synthetic_styles_match_by_their_names_as_before():
    matches = match_classes(MAIN_CLASSES, SECOND_CLASSES)
    assert [m.a for m in matches] == sorted(set(MAIN_CLASSES) & set(SECOND_CLASSES))
    assert all(m.a == m.b and m.how == SAME_NAME and m.label == m.a for m in matches)


def test_one_dataset_matches_every_class_to_itself():
    names = ["Punch", "punch_bag", "Biking"]
    assert [(m.a, m.b) for m in match_classes(names, names)] == [(n, n) for n in sorted(names)]


def test_names_alike_within_one_dataset_are_an_error():
    with pytest.raises(SettingsError, match="differ only in case or separators"):
        match_classes(["Punch", "punch"], ["PUNCH"], class_map=[])
    with pytest.raises(SettingsError, match="'Biking' and 'biking'"):
        match_classes(["Biking", "biking"], ["ride_bike"])
    assert match_classes(["Punch", "punch"], ["wave"], class_map=[]) == []  # no partner anyway


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_class_maps_are_reported_with_their_lines(tmp_path):
    bad = _write(tmp_path, "map.csv", "ucf101,hmdb51,why\nBiking,ride_bike,same\n"
                 "Cycling,ride_bike,same again\nGolfSwing,,\n")
    with pytest.raises(ManifestError) as err:
        load_class_map(bad)
    text = str(err.value)
    assert str(bad) in text and "2 bad row(s)" in text
    assert "line 3" in text and "mapped already on line 2" in text and "line 4" in text
    with pytest.raises(ManifestError, match="header"):
        load_class_map(_write(tmp_path, "h.csv", "a,b\nx,y\n"))
    with pytest.raises(ManifestError, match="class map not found"):
        load_class_map(tmp_path / "nowhere.csv")
    other = load_class_map(_write(tmp_path, "o.csv", "kinetics,hmdb51,why\nbiking,ride_bike,x\n"))
    assert other == [ClassPair("biking", "ride_bike", "x")]


def _data(tmp_path, name, classes):
    records = [VideoRecord(f"v/{c}_{i}.mp4", c, k, split, 32, 25.0, 86, 64)
               for k, c in enumerate(classes) for i, split in enumerate(("train", "test"))]
    folder = tmp_path / name
    folder.mkdir()
    write_manifest(records, folder / "manifest.csv")
    return folder


def test_shared_classes_of_two_manifests(tmp_path):
    ucf = _data(tmp_path, "ucf", ["ApplyEyeMakeup", "Biking", "Fencing"])
    hmdb = _data(tmp_path, "hmdb", ["fencing", "ride_bike", "wave"])
    matches = shared_classes(ucf, hmdb, ("test",), ("train", "val"))
    assert [m.label for m in matches] == ["Biking = ride_bike", "Fencing = fencing"]
    assert matches[0].as_dict() == {"a": "Biking", "b": "ride_bike", "how": MAPPED,
                                    "why": matches[0].why}
    other = _data(tmp_path, "other", ["wave", "ApplyLipstick"])
    with pytest.raises(SettingsError) as err:
        shared_classes(ucf, other, ("test",), ("train", "val"))
    text = str(err.value)
    assert len(text.splitlines()) == 1
    assert text.startswith(str(ucf / "manifest.csv")) and str(other / "manifest.csv") in text
    assert "have none in common" in text and "fix:" in text
