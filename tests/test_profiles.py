"""The paper profile holds the paper's values: checked against the method's written summary
(``docs/spec.md`` beside the project, when present) and against prepared folders."""

import json
import re

import pytest
from conftest import REPO

from vcop_lab.data.manifest import dataset_kind
from vcop_lab.finetune import finetune_settings
from vcop_lab.pretrain import pretrain_settings
from vcop_lab.profiles import PAPER, get_profile

SPEC = REPO.parent / "shared" / "docs" / "spec.md"


@pytest.fixture(scope="module")
def spec() -> str:
    if not SPEC.is_file():
        pytest.skip(f"the method summary is not here ({SPEC})")
    return " ".join(SPEC.read_text(encoding="utf-8").split())


def _numbers(spec: str, pattern: str) -> tuple[str, ...]:
    match = re.search(pattern, spec)
    assert match, f"the summary no longer says: {pattern}"
    return match.groups()


def test_pretraining_values_are_the_papers(spec):
    lr, momentum, wd, batch, epochs = _numbers(
        spec, r"SGD, lr ([\d.e-]+), momentum ([\d.]+), weight decay ([\d.e-]+), batch (\d+) "
              r"tuples, (\d+) epochs")
    assert PAPER.optimizer == "sgd"
    assert (PAPER.lr, PAPER.momentum, PAPER.weight_decay) == (float(lr), float(momentum),
                                                              float(wd))
    assert (PAPER.batch_size, PAPER.epochs) == (int(batch), int(epochs))
    (held_out,) = _numbers(spec, r"(\d+) training videos are held out for validation")
    assert PAPER.n_val == int(held_out)
    h, w, crop = _numbers(spec, r"resize to (\d+)x(\d+) \(HxW\), random (\d+)x\d+ crop")
    assert PAPER.resize == (int(h), int(w)) and PAPER.crop == int(crop)
    assert PAPER.setting == "16-8-3" and PAPER.width == 1.0 and PAPER.crop_per == "clip"


def test_fine_tuning_and_videoqa_values_are_the_papers(spec):
    epochs, lr, wd, batch = _numbers(
        spec, r"Fine-tune (\d+) epochs with SGD \(lr ([\d.e-]+), weight decay ([\d.e-]+), "
              r"batch (\d+)\)")
    assert (PAPER.ft_epochs, PAPER.ft_lr, PAPER.weight_decay, PAPER.ft_batch_size) == (
        int(epochs), float(lr), float(wd), int(batch))
    ucf, hmdb = _numbers(spec, r"Validation: (\d+) \(UCF101\) or (\d+) \(HMDB51\)")
    assert PAPER.n_val_for("ucf101") == int(ucf) and PAPER.n_val_for("hmdb51") == int(hmdb)
    (clips,) = _numbers(spec, r"Test: (\d+) clips per video, logits averaged")
    assert PAPER.eval_clips == int(clips)
    qa_clips, cl = _numbers(spec, r"The video is (\d+) evenly spaced (\d+)-frame clips")
    (hidden,) = _numbers(spec, r"LSTM \(hidden (\d+)\)")
    assert PAPER.qa_clips == int(qa_clips) and PAPER.qa_hidden == int(hidden)
    assert PAPER.setting.startswith(f"{cl}-")


def test_the_reference_codes_choices_where_the_paper_is_silent(spec):
    assert "MaxPool3d((1,2,2))" in spec and PAPER.retrieval_pool == "reference"
    assert "shortcut is factorised" in spec and PAPER.r21d_shortcut == "factorised"
    # the teaching and smoke profiles keep the simpler defaults
    for name in ("smoke", "teaching"):
        prof = get_profile(name)
        assert (prof.retrieval_pool, prof.r21d_shortcut) == ("adaptive", "projection")


def _prepared(folder, dataset):
    folder.mkdir(parents=True)
    (folder / "prepare_report.json").write_text(json.dumps({"dataset": dataset, "split": 1}))
    return folder


def test_each_run_records_its_datasets_hold_out(tmp_path):
    hmdb, ucf = _prepared(tmp_path / "hmdb", "hmdb51"), _prepared(tmp_path / "ucf", "ucf101")
    other = tmp_path / "synthetic"
    other.mkdir()
    assert (dataset_kind(hmdb), dataset_kind(ucf), dataset_kind(other)) == ("hmdb51", "ucf101",
                                                                             None)
    digest = "pretrain_settings.data"  # the data digest needs a manifest: stub it out
    with pytest.MonkeyPatch.context() as mp:
        for module in ("vcop_lab.pretrain", "vcop_lab.finetune"):
            mp.setattr(f"{module}.data_digest", lambda *a, **k: digest)
        held = {name: (pretrain_settings(f, "paper")["profile"]["n_val"],
                       finetune_settings(f, profile="paper")["profile"]["n_val"])
                for name, f in (("hmdb", hmdb), ("ucf", ucf), ("other", other))}
        teaching = finetune_settings(hmdb, profile="teaching")["profile"]["n_val"]
    assert held == {"hmdb": (400, 400), "ucf": (800, 800), "other": (800, 800)}
    assert teaching == get_profile("teaching").n_val  # only the paper profile differs
