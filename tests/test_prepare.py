"""Split lists, ``prepare`` on miniature UCF101/HMDB51/ActivityNet-QA trees of real clips, and
the re-encoding cache."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest

from vcop_lab.cli import main
from vcop_lab.data import prepare as prep
from vcop_lab.data.manifest import data_root, load_manifest
from vcop_lab.data.sampling import parse_setting
from vcop_lab.data.splits import (
    load_split,
    manifests_dir,
    read_class_index,
    read_split_list,
    split_files,
)
from vcop_lab.errors import ManifestError
from vcop_lab.qa.activitynet import load_qa_questions

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata"
VIDEOS = REAL / "videos"


def _needs_real():
    if not (REAL / "clips.csv").is_file():
        pytest.skip("../shared/realdata is not available")


def _decoded_frames() -> dict[str, int]:
    with open(REAL / "clips.csv", newline="") as f:
        return {Path(r["path"]).name: int(r["decoded_frames"]) for r in csv.DictReader(f)}


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _write(path: Path, lines: list[str], newline: str = "\n", bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"")
                     + "".join(line + newline for line in lines).encode())


# ------------------------------------------------------------------------- split lists

CLASSES = ["ApplyEyeMakeup", "Archery", "CricketShot", "SoccerJuggling"]
TRAIN_LINES = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1",
               "Archery/v_Archery_g01_c01.avi 2",
               "SoccerJuggling/v_SoccerJuggling_g23_c01.avi 4"]


def test_crlf_lf_bom_and_blanks_parse_identically(tmp_path):
    _write(tmp_path / "lf" / "classInd.txt", [f"{i} {c}" for i, c in enumerate(CLASSES, 1)])
    _write(tmp_path / "crlf" / "classInd.txt",
           [f"{i} {c}  " for i, c in enumerate(CLASSES, 1)] + [""], "\r\n", bom=True)
    _write(tmp_path / "lf" / "train.txt", TRAIN_LINES)
    _write(tmp_path / "crlf" / "train.txt", [line + " \t" for line in TRAIN_LINES] + ["", " "],
           "\r\n", bom=True)
    parsed = []
    for kind in ("lf", "crlf"):
        classes = read_class_index(tmp_path / kind / "classInd.txt")
        assert classes == CLASSES
        parsed.append(read_split_list(tmp_path / kind / "train.txt", classes, "train"))
    assert parsed[0] == parsed[1]
    assert [(e.label, e.label_index) for e in parsed[0]] == [
        ("ApplyEyeMakeup", 0), ("Archery", 1), ("SoccerJuggling", 3)]
    assert not any("\r" in e.path or " " in e.path for e in parsed[1])


@pytest.mark.parametrize("bad, words", [
    ("Archery/v_Archery_g02_c01.avi two", "not a number"),
    ("Archery/v_Archery_g02_c01.avi 9", "not in 1..4"),
    ("Archery/v_Archery_g02_c01.avi 1", "folder says 'Archery'"),
    ("Bowling/v_Bowling_g01_c01.avi 2", "'Bowling' is not in classInd"),
    ("Archery/v_Archery_g02_c01.avi 2 extra", "expected"),
    ("v_Archery_g02_c01.avi", "neither a class folder nor an index"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, words):
    lines = TRAIN_LINES[:2] + [bad] + TRAIN_LINES[2:]
    _write(tmp_path / "train.txt", lines, "\r\n")
    with pytest.raises(ManifestError) as info:
        read_split_list(tmp_path / "train.txt", CLASSES, "train")
    assert info.value.path == str(tmp_path / "train.txt")
    assert "line 3:" in info.value.what and words in info.value.what
    assert "line 1" not in info.value.what and "line 4" not in info.value.what


def test_malformed_class_index(tmp_path):
    _write(tmp_path / "classInd.txt", ["1 A", "2 B", "B C", "4 D"])
    with pytest.raises(ManifestError, match="line 3"):
        read_class_index(tmp_path / "classInd.txt")
    _write(tmp_path / "classInd.txt", ["1 A", "3 B"])
    with pytest.raises(ManifestError, match="without gaps"):
        read_class_index(tmp_path / "classInd.txt")


def test_shipped_lists_match_their_sources():
    assert (manifests_dir() / "SOURCES.md").is_file()
    for dataset, source in (("ucf101", "ucf101_splits"),
                            ("hmdb51", "hmdb51_splits/derived_vcop_style")):
        classes = read_class_index(split_files(dataset, 1)[0])
        assert len(classes) == {"ucf101": 101, "hmdb51": 51}[dataset]
        for split in (1, 2, 3):
            entries = load_split(dataset, split)
            files = split_files(dataset, split)
            sides = Counter(e.split for e in entries)
            for side, path in zip(("train", "test"), files[1:]):
                lines = path.read_bytes().splitlines()
                assert sides[side] == len(lines)
                if (REAL / source).is_dir():  # shipped byte-exact
                    assert path.read_bytes() == (REAL / source / path.name).read_bytes()
            assert len({PurePosixPath(e.path).stem.lower() for e in entries}) == len(entries)
    ucf1 = Counter(e.split for e in load_split("ucf101", 1))
    assert (ucf1["train"], ucf1["test"]) == (9537, 3783)  # the numbers the README gives


# ------------------------------------------------------------------------- miniature UCF101

# (list entry, side, what lies on disk: a real clip, "corrupt", or None = missing)
UCF_TABLE = [
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "train",
     "ucf101/mmaction2_tests_data_test.avi"),
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi", "train", None),
    ("Archery/v_Archery_g01_c01.avi", "train", "ucf101/paddlevideo_data_example.avi"),
    ("SoccerJuggling/v_SoccerJuggling_g23_c01.avi", "train", "ucf101/v_SoccerJuggling_g23_c01.avi"),
    ("SoccerJuggling/v_SoccerJuggling_g25_c01.avi", "train", None),
    ("Archery/v_Archery_g02_c01.avi", "test", "corrupt"),
    ("CricketShot/v_CricketShot_g04_c01.avi", "test", "ucf101/v_CricketShot_g04_c01_rgb.gif"),
    ("CricketShot/v_CricketShot_g05_c01.avi", "test", None),
    ("SoccerJuggling/v_SoccerJuggling_g24_c01.avi", "test", "ucf101/v_SoccerJuggling_g24_c01.avi"),
]
# where each present clip lies: nested UCF-101/Class/, flat, and a .gif for an .avi entry
UCF_FLAT = {"Archery/v_Archery_g01_c01.avi"}
UCF_EXTRA = {"UCF-101/Extra/v_Extra_g01_c01.mp4": "kinetics400/R6llTwEh07w.mp4",
             "v_Skiing_g01_c01.avi": "ucf101/v_SoccerJuggling_g23_c01.avi"}


def _disk_path(entry: str, source: str) -> str:
    name = PurePosixPath(entry).stem + PurePosixPath(source).suffix
    return name if entry in UCF_FLAT else f"UCF-101/{PurePosixPath(entry).parent}/{name}"


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    _needs_real()
    base = tmp_path_factory.mktemp("ucf")
    root, lists, out = base / "UCF101", base / "lists", base / "out"
    for entry, _, source in UCF_TABLE:
        if source == "corrupt":
            path = root / _disk_path(entry, "corrupt.avi")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(20000))
        elif source:
            _link(VIDEOS / source, root / _disk_path(entry, source))
    for rel, source in UCF_EXTRA.items():
        _link(VIDEOS / source, root / rel)
    (root / "notes.txt").write_text("not a video")
    _write(lists / "classInd.txt", [f"{i} {c}" for i, c in enumerate(CLASSES, 1)], "\r\n")
    _write(lists / "trainlist01.txt",
           [f"{e} {CLASSES.index(e.split('/')[0]) + 1}" for e, s, _ in UCF_TABLE if s == "train"],
           "\r\n")
    _write(lists / "testlist01.txt", [e for e, s, _ in UCF_TABLE if s == "test"], "\r\n")
    report = prep.prepare("ucf101", root, out, split=1, setting="16-8-3", workers=2,
                          progress=False, lists_dir=lists)
    return root, lists, out, report


def test_ucf_report_counts(ucf):
    root, _, out, report = ucf
    frames = _decoded_frames()
    missing = [e for e, _, s in UCF_TABLE if s is None]
    assert sorted(report.missing) == sorted(missing)
    assert report.missing_per_class == dict(Counter(e.split("/")[0] for e in missing))
    assert sorted(report.not_in_split) == sorted(UCF_EXTRA)
    assert report.not_in_split_listed_elsewhere == 0  # no other split's lists were given
    corrupt = [_disk_path(e, "corrupt.avi") for e, _, s in UCF_TABLE if s == "corrupt"]
    assert [u["path"] for u in report.unreadable] == corrupt
    assert all(u["reason"] for u in report.unreadable)
    assert report.too_short == [] and report.too_short_per_class == {}
    present = [(e, side, s) for e, side, s in UCF_TABLE if s and s != "corrupt"]
    for side in ("train", "test"):
        rows = [r for r in UCF_TABLE if r[1] == side]
        assert report.totals[side] == {
            "listed": len(rows), "missing": sum(r[2] is None for r in rows),
            "unreadable": sum(r[2] == "corrupt" for r in rows), "too_short": 0,
            "kept": sum(1 for r in present if r[1] == side)}
    assert report.probed == len(present) + len(corrupt) and report.cached == 0
    # the manifest: present clips only, their real decoded frame counts, paths under root
    records = load_manifest(out, check_files=True, root=data_root(out))
    assert data_root(out) == root.resolve()
    assert {r.path: (r.label, r.label_index, r.split, r.num_frames) for r in records} == {
        _disk_path(e, s): (e.split("/")[0], CLASSES.index(e.split("/")[0]), side,
                           frames[Path(s).name]) for e, side, s in present}
    saved = json.loads((out / prep.REPORT_NAME).read_text())
    assert saved["missing_per_class"] == report.missing_per_class
    assert saved["totals"] == report.totals


def test_ucf_second_run_uses_cache_and_other_setting(ucf, monkeypatch):
    root, lists, out, first = ucf

    def no_probe(*args, **kwargs):
        raise AssertionError("probed although the cache holds the file")

    monkeypatch.setattr(prep, "_probe_task", no_probe)
    monkeypatch.setattr(prep, "worker_pool", no_probe)
    again = prep.prepare("ucf101", root, out, setting="16-8-3", workers=2, progress=False,
                         lists_dir=lists)
    assert again.probed == 0 and again.cached == first.probed
    assert again.totals == first.totals and again.unreadable == first.unreadable
    # a longer tuple (16-8-5: 112 frames) drops the 79-frame GIF, still without decoding
    span = parse_setting("16-8-5").span
    longer = prep.prepare("ucf101", root, out, setting="16-8-5", workers=2, progress=False,
                          lists_dir=lists)
    frames = _decoded_frames()
    short = {_disk_path(e, s): frames[Path(s).name] for e, _, s in UCF_TABLE
             if s and s != "corrupt" and frames[Path(s).name] < span}
    assert short and {t["path"]: t["num_frames"] for t in longer.too_short} == short
    assert longer.too_short_per_class == {"CricketShot": 1}
    assert sum(longer.kept.values()) == sum(first.kept.values()) - len(short)
    assert len(load_manifest(out)) == sum(longer.kept.values())


def test_ucf_cli(ucf, capsys):
    root, lists, out, first = ucf
    status = main(["prepare", "ucf101", "--root", str(root), "--out", str(out),
                   "--lists-dir", str(lists), "--no-progress"])
    text = capsys.readouterr().out
    assert status == 0
    assert f"missing from disk: {len(first.missing)}" in text
    assert f"unreadable or truncated: {len(first.unreadable)}" in text
    assert main(["prepare", "ucf101", "--root", str(root / "nope"), "--out", str(out)]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


# ------------------------------------------------------------------------- miniature HMDB51

HMDB_CLIPS = {  # real HMDB51 name -> clip in realdata
    "wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi": "RATRACE_wave_f_nm_np1_fr_goo_37.avi",
    "wave/SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi":
        "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi",
    "wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi": "TrumanShow_wave_f_nm_np1_fr_med_26.avi",
    "cartwheel/Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi":
        "hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi",
}


def test_hmdb_with_shipped_lists(tmp_path):
    _needs_real()
    root, out = tmp_path / "hmdb51", tmp_path / "out"
    for rel, clip in HMDB_CLIPS.items():
        _link(VIDEOS / "hmdb51" / clip, root / rel)
    report = prep.prepare("hmdb51", root, out, split=1, workers=1, progress=False)

    entries = load_split("hmdb51", 1)
    other = {e.path for s in (2, 3) for e in load_split("hmdb51", s)}
    listed = {e.path: e for e in entries}
    frames = {rel: _decoded_frames()[clip] for rel, clip in HMDB_CLIPS.items()}
    span = parse_setting("16-8-3").span
    found = [p for p in HMDB_CLIPS if p in listed]
    assert found and len(found) < len(HMDB_CLIPS)  # split 1 leaves one clip out
    assert sorted(report.missing) == sorted(p for p in listed if p not in HMDB_CLIPS)
    assert report.missing_per_class == dict(sorted(Counter(
        listed[p].label for p in listed if p not in HMDB_CLIPS).items()))
    assert report.not_in_split == sorted(p for p in HMDB_CLIPS if p not in listed)
    assert report.not_in_split_listed_elsewhere == sum(p in other for p in report.not_in_split)
    assert report.unreadable == []
    short = {p: frames[p] for p in found if frames[p] < span}
    assert "wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi" in short  # 48 < 64
    assert {t["path"]: t["num_frames"] for t in report.too_short} == short
    assert report.too_short_per_class == dict(Counter(listed[p].label for p in short))
    for side in ("train", "test"):
        assert report.listed[side] == sum(e.split == side for e in entries)
        assert report.kept[side] == sum(listed[p].split == side for p in found if p not in short)
    records = load_manifest(out, check_files=True, root=data_root(out))
    assert {r.path: r.num_frames for r in records} == {
        p: frames[p] for p in found if p not in short}


# ------------------------------------------------------------------------- ActivityNet-QA

def test_activitynet_qa(tmp_path, monkeypatch):
    _needs_real()
    root, out = tmp_path / "anet", tmp_path / "out"
    _link(VIDEOS / "activitynet" / "v_GGSY1Qvo990.mp4", root / "v_GGSY1Qvo990.mp4")
    qa_dir = REAL / "activitynet_qa"
    report = prep.prepare("activitynet-qa", root, out, workers=1, progress=False, qa_dir=qa_dir)
    questions = load_qa_questions(qa_dir)
    q = report.questions
    assert q["found_question_ids"] == sorted(f"v_GGSY1Qvo990_{i}" for i in range(1, 11))
    assert q["found"] == {"train": 0, "val": 10, "test": 0}
    totals = Counter()
    for split, ids in questions.values():
        totals[split] += len(ids)
    assert q["missing"] == {s: totals[s] - q["found"][s] for s in ("train", "val", "test")}
    assert len(report.missing) == len(questions) - 1
    records = load_manifest(out, check_files=True, root=data_root(out))
    assert [(r.path, r.label, r.split, r.num_frames) for r in records] == [
        ("v_GGSY1Qvo990.mp4", "activitynet", "val", _decoded_frames()["v_GGSY1Qvo990.mp4"])]
    # without the json files the shipped index gives the same counts (and the cache is used)
    shipped = prep.prepare("activitynet-qa", root, out, workers=1, progress=False)
    assert shipped.questions["found"] == q["found"]
    assert shipped.questions["missing"] == q["missing"]
    assert shipped.cached == 1 and shipped.probed == 0


# ------------------------------------------------------------------------- re-encoding

def test_reencode_two_clips(tmp_path):
    _needs_real()
    from vcop_lab.data.manifest import VideoRecord, write_manifest
    from vcop_lab.data.reencode import reencode_dataset
    from vcop_lab.data.video import probe

    clips = {"wave/RATRACE.avi": "hmdb51/RATRACE_wave_f_nm_np1_fr_goo_37.avi",
             "cartwheel/Turnk.avi":
                 "hmdb51/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi"}
    src = tmp_path / "src"
    frames = _decoded_frames()
    records = []
    for i, (rel, clip) in enumerate(clips.items()):
        _link(VIDEOS / clip, src / rel)
        info = probe(src / rel)
        records.append(VideoRecord(rel, rel.split("/")[0], i, "train", info.num_frames,
                                   info.fps, info.width, info.height))
    write_manifest(records, src / "manifest.csv")
    size = (40, 53)  # an odd width needs 4:4:4 chroma
    new_manifest = reencode_dataset(src / "manifest.csv", tmp_path / "small", size=size,
                                    workers=1, progress=False)
    new = load_manifest(new_manifest, check_files=True)
    assert [r.path for r in new] == [str(Path(r).with_suffix(".mp4")) for r in clips]
    for rec, clip in zip(new, clips.values()):
        info = probe(tmp_path / "small" / rec.path)
        assert info.num_frames == rec.num_frames == frames[Path(clip).name]
        assert (info.height, info.width) == (rec.height, rec.width) == size


# ------------------------------------------------------------------------- a crashing decoder

def _crashing_task(path: str, backend: str) -> dict:
    if Path(path).name == "v_crash.avi":
        os._exit(1)  # what a segfault in a decoder looks like to the pool
    return {"ok": True, "num_frames": 100, "fps": 25.0, "width": 32, "height": 32,
            "backend": backend}


def test_worker_crash_is_one_bad_file(tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "_probe_task", _crashing_task)
    paths = [f"v_{i}.avi" for i in range(6)] + ["v_crash.avi"] + [f"w_{i}.avi" for i in range(5)]
    results = {}
    prep._probe_all(paths, tmp_path, "auto", 2, False, results.__setitem__)
    assert sorted(results) == sorted(paths)
    assert results.pop("v_crash.avi") == {"ok": False,
                                          "reason": "the decoder crashed on this file"}
    assert all(r["ok"] for r in results.values()), results


def test_manifests_dir_env_override(tmp_path, monkeypatch):
    lists = tmp_path / "ucf101"
    _write(lists / "classInd.txt", [f"{i} {c}" for i, c in enumerate(CLASSES, 1)])
    _write(lists / "trainlist02.txt", TRAIN_LINES)
    _write(lists / "testlist02.txt", ["CricketShot/v_CricketShot_g04_c01.avi"])
    monkeypatch.setenv("VCOP_LAB_MANIFESTS", str(tmp_path))
    assert manifests_dir() == tmp_path
    assert [e.split for e in load_split("ucf101", 2)] == ["train"] * 3 + ["test"]
    monkeypatch.setenv("VCOP_LAB_MANIFESTS", str(tmp_path / "nowhere"))
    with pytest.raises(ManifestError, match="VCOP_LAB_MANIFESTS"):
        manifests_dir()
