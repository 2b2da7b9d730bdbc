"""A researcher's journey on real data, in miniature: ``vcop-lab prepare`` a UCF101 and an
HMDB51 tree of real clips and the one real ActivityNet-QA video with its questions, then
``vcop-lab reproduce --dataset ...`` runs every notebook on them at the smoke profile."""

import json

import pytest
from test_realdata_pipeline import HMDB, UCF, _lists

from vcop_lab.cli import main
from vcop_lab.paths import HOME_ENV
from vcop_lab.qa.activitynet import QA_SUBSET_DIR

ANET_VIDEO = "activitynet/v_GGSY1Qvo990.mp4"  # its ten questions are in val_q.json


def _link(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(src)


@pytest.fixture(scope="module")
def real_folders(realdata, tmp_path_factory):
    """The three prepared folders, made by the command line as a user would."""
    tmp = tmp_path_factory.mktemp("journey")
    ucf, hmdb = [], []
    for src, (cls, name, split) in UCF.items():
        _link(realdata / "videos" / src, tmp / "UCF-101" / cls / f"{name}{src[-4:]}")
        ucf.append((f"{cls}/{name}.avi", cls, split))
    for src, (cls, split) in HMDB.items():
        name = src.split("/")[1].removeprefix("hmdb51_")
        _link(realdata / "videos" / src, tmp / "hmdb51" / cls / name)
        hmdb.append((f"{cls}/{name}", cls, split))
    _link(realdata / "videos" / ANET_VIDEO, tmp / "anet-videos" / ANET_VIDEO.split("/")[1])
    ucf_lists = _lists(tmp / "ucf-lists", sorted({c for _, c, _ in ucf}), ucf)
    hmdb_lists = _lists(tmp / "hmdb-lists", ["cartwheel", "wave"], hmdb)
    common = ["--setting", "4-2-3", "--workers", "1", "--no-progress"]
    folders = {"main": tmp / "ucf101-s1", "second": tmp / "hmdb51-s1", "qa": tmp / "anet"}
    assert main(["prepare", "ucf101", "--root", str(tmp / "UCF-101"), "--out",
                 str(folders["main"]), "--lists-dir", str(ucf_lists), *common]) == 0
    assert main(["prepare", "hmdb51", "--root", str(tmp / "hmdb51"), "--out",
                 str(folders["second"]), "--lists-dir", str(hmdb_lists), *common]) == 0
    assert main(["prepare", "activitynet-qa", "--root", str(tmp / "anet-videos"), "--out",
                 str(folders["qa"]), "--qa-dir", str(realdata / "activitynet_qa"),
                 *common]) == 0
    return tmp, folders


def test_prepare_carries_the_questions_of_the_videos_at_hand(real_folders):
    _, folders = real_folders
    questions = json.loads((folders["qa"] / QA_SUBSET_DIR / "val_q.json").read_text())
    answers = json.loads((folders["qa"] / QA_SUBSET_DIR / "val_a.json").read_text())
    assert len(questions) == len(answers) == 10
    assert {q["video_name"] for q in questions} == {"GGSY1Qvo990"}
    assert json.loads((folders["qa"] / QA_SUBSET_DIR / "train_q.json").read_text()) == []


@pytest.mark.slow
def test_every_notebook_runs_on_prepared_real_data(real_folders, capsys, monkeypatch):
    tmp, folders = real_folders
    monkeypatch.setenv(HOME_ENV, str(tmp / "home"))
    out = tmp / "reproduce"
    args = ["reproduce", "--profile", "smoke", "--out", str(out)]
    for role, folder in folders.items():
        args += ["--dataset", f"{role}={folder}"]
    code = main(args)
    results = json.loads((out / "results.json").read_text())
    failed = {n: s for n, s in results["notebooks"].items() if not s["ok"]}
    assert code == 0 and not failed, failed
    # no synthetic fallback: nothing was generated, every role names its prepared folder
    assert not (tmp / "home" / "data").exists() or not any((tmp / "home" / "data").iterdir())
    assert {r: s.split()[0] for r, s in results["run"]["datasets"].items()} == {
        "main": "ucf101", "second": "hmdb51", "qa": "activitynet-qa"}
    # small but real figures, each from its data
    assert results["00_tour"]["main_videos"] == 5 and results["00_tour"]["second_videos"] == 4
    assert results["02_pretraining"]["order"]["r3d"]["test_videos"] == 2
    table = results["05_finetuning"]["table"]
    assert {"main", "second"} <= set(next(iter(table.values())))
    assert results["06_videoqa"]["test_questions"]["All"] == 10
    assert results["04_layerwise_retrieval"]["cross_dataset"] is None  # no class in common
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"main = ucf101 ({folders['main']})" in page
    assert f"qa = activitynet-qa ({folders['qa']})" in page
