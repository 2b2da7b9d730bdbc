"""The whole chain on real clips: prepare a miniature UCF101 and HMDB51, then a tiny
pretraining, retrieval (within and across datasets) and fine-tuning on what it wrote."""

import json

import pytest

from vcop_lab.data.prepare import prepare
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.retrieval import cross_dataset, retrieve
from vcop_lab.finetune import finetune
from vcop_lab.pretrain import pretrain

UCF = {  # real clip -> (class, name in the UCF101 layout, split)
    "ucf101/v_SoccerJuggling_g23_c01.avi": ("SoccerJuggling", "v_SoccerJuggling_g23_c01", "train"),
    "ucf101/mmaction2_tests_data_test.avi": ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g08_c01", "train"),
    "ucf101/paddlevideo_data_example.avi": ("Archery", "v_Archery_g01_c01", "train"),
    "ucf101/v_SoccerJuggling_g24_c01.avi": ("SoccerJuggling", "v_SoccerJuggling_g24_c01", "test"),
    "ucf101/v_CricketShot_g04_c01_rgb.gif": ("CricketShot", "v_CricketShot_g04_c01", "test"),
}
HMDB = {
    "hmdb51/RATRACE_wave_f_nm_np1_fr_goo_37.avi": ("wave", "train"),
    "hmdb51/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi": ("cartwheel", "train"),
    "hmdb51/SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi": ("wave", "test"),
    "hmdb51/TrumanShow_wave_f_nm_np1_fr_med_26.avi": ("wave", "test"),  # 48 frames
}


def _lists(folder, classes, entries):
    folder.mkdir()
    (folder / "classInd.txt").write_text("".join(f"{i} {c}\r\n"
                                                 for i, c in enumerate(classes, 1)))
    train = [f"{p} {classes.index(c) + 1}\r\n" for p, c, s in entries if s == "train"]
    test = [f"{p}\r\n" for p, c, s in entries if s == "test"]
    (folder / "trainlist01.txt").write_text("".join(train))
    (folder / "testlist01.txt").write_text("".join(test))
    return folder


@pytest.fixture(scope="module")
def prepared(realdata, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    ucf_entries, hmdb_entries = [], []
    for src, (cls, name, split) in UCF.items():
        dest = tmp / "UCF-101" / cls / f"{name}{(realdata / 'videos' / src).suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(realdata / "videos" / src)
        ucf_entries.append((f"{cls}/{name}.avi", cls, split))
    ucf_entries.append(("Archery/v_Archery_g02_c01.avi", "Archery", "train"))  # not on disk
    for src, (cls, split) in HMDB.items():
        name = src.split("/")[1].removeprefix("hmdb51_")
        dest = tmp / "hmdb51" / cls / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(realdata / "videos" / src)
        hmdb_entries.append((f"{cls}/{name}", cls, split))
    ucf_classes = ["ApplyEyeMakeup", "Archery", "CricketShot", "SoccerJuggling"]
    ucf = prepare("ucf101", tmp / "UCF-101", tmp / "ucf-prep", setting="4-2-3", workers=1,
                  progress=False, lists_dir=_lists(tmp / "ucf-lists", ucf_classes, ucf_entries))
    hmdb = prepare("hmdb51", tmp / "hmdb51", tmp / "hmdb-prep", setting="16-8-3", workers=1,
                   progress=False,
                   lists_dir=_lists(tmp / "hmdb-lists", ["cartwheel", "wave"], hmdb_entries))
    return tmp, ucf, hmdb


def test_prepare_reports_on_real_clips(prepared):
    _, ucf, hmdb = prepared
    assert ucf.kept == {"train": 3, "test": 2} and len(ucf.missing) == 1
    assert hmdb.kept == {"train": 2, "test": 1}
    assert [t["path"].split("/")[-1] for t in hmdb.too_short] == [
        "TrumanShow_wave_f_nm_np1_fr_med_26.avi"]


@pytest.mark.slow
def test_pretrain_retrieve_finetune_on_prepared_real_data(prepared):
    tmp, _, _ = prepared
    ucf, hmdb = tmp / "ucf-prep", tmp / "hmdb-prep"
    metrics = pretrain(ucf, tmp / "pre", profile="smoke", epochs=1, num_workers=0,
                       progress=False)
    assert metrics["test_videos"] == 2 and metrics["train_videos"] + metrics["val_videos"] == 3
    ckpt = tmp / "pre" / "best.pt"
    within = retrieve(ucf, ckpt, "r3d", "smoke", "conv3", "clip", progress=False)
    assert within["num_queries"] + within["num_queries_without_class_in_gallery"] == 2 * 4
    with pytest.raises(SettingsError, match="have none in common"):  # no shared class here
        cross_dataset(ucf, hmdb, ckpt, "r3d", "smoke", "conv5", "video", progress=False)
    ft = finetune(hmdb, tmp / "ft", checkpoint=ckpt, profile="smoke", epochs=1,
                  num_workers=0, progress=False)
    assert {"test_clip_acc", "test_video_acc"} <= set(ft)
    assert json.loads((tmp / "ft" / "metrics.json").read_text())["checkpoint_hash"]
