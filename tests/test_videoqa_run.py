"""VideoQA end to end: features, E-SA, metrics.json, the command line and ActivityNet-QA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vcop_lab.cli import main
from vcop_lab.data.synthetic import load_ground_truth
from vcop_lab.profiles import get_profile
from vcop_lab.qa.activitynet import TYPE_COLUMNS
from vcop_lab.qa.glove import resolve_embedding
from vcop_lab.qa.run import (
    activitynet_videoqa,
    compare_feature_sources,
    load_videoqa,
    qa_examples,
    table_vi,
    videoqa,
)
from vcop_lab.qa.synthetic_qa import by_split, make_synthetic_qa

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
SMOKE = get_profile("smoke")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def random_run(synth_smoke, tmp_path_factory):
    """One finished run on random-init features, in the folder compare names for it."""
    metrics = videoqa(synth_smoke["main"], checkpoint="random", profile="smoke", seed=0,
                      device="cpu", progress=False, runs=tmp_path_factory.mktemp("videoqa"))
    return metrics.dir, metrics


def test_videoqa_writes_per_type_metrics_and_the_model(synth_smoke, random_run):
    out, metrics = random_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["test_acc"] == metrics["test_acc"]
    for key in ("test_acc", "majority_baseline", "val_acc"):
        assert list(on_disk[key]) == list(TYPE_COLUMNS)
        assert all(v is None or 0 <= v <= 1 for v in on_disk[key].values())
    # the counts are those of the synthetic questions' test split
    test = by_split(make_synthetic_qa(load_ground_truth(synth_smoke["main"]), seed=0))["test"]
    assert on_disk["counts"]["test"]["All"] == len(test)
    assert sum(on_disk["counts"]["test"][c] for c in TYPE_COLUMNS[4:10]) == \
        on_disk["counts"]["test"]["Free"]
    assert on_disk["checkpoint"] == "random" and on_disk["checkpoint_hash"] == "random"
    assert on_disk["num_clips"] == SMOKE.qa_clips
    assert on_disk["feature_dim"] == int(512 * SMOKE.width)
    assert on_disk["arch"] == SMOKE.arch and on_disk["width"] == SMOKE.width
    assert on_disk["feature_cache"] == "miss" and on_disk["minutes"]["total"] > 0
    assert len(on_disk["history"]) == SMOKE.qa_epochs
    assert (out / "best.pt").is_file()
    # the word vectors it used: whatever the environment resolves to, recorded and a setting
    emb = on_disk["embedding"]
    assert emb["source"] == resolve_embedding().source
    assert emb["words_found"] == on_disk["glove_words"] and emb["vocab"] == on_disk["vocab_size"]
    settings = json.loads((out / "run.json").read_text())
    assert settings["settings"]["embedding"]["source"] == emb["source"]


def test_a_glove_file_and_none_are_recorded_and_are_other_runs(synth_smoke, random_run,
                                                               tmp_path, capsys):
    out, _ = random_run
    glove = tmp_path / "tiny_glove.txt"
    glove.write_text("what 1 0 0 0\nthe 0 1 0 0\nis 0 0 1 0\nzzqxw 0 0 0 1\n")
    common = dict(profile="smoke", seed=0, device="cpu", progress=False,
                  cache_dir=out / "features", runs=out.parents[1])
    with_file = videoqa(synth_smoke["main"], checkpoint="random", glove=glove, **common)
    assert with_file.dir != out and not with_file.reused
    emb = with_file["embedding"]
    assert (emb["source"], emb["path"], emb["dim"]) == ("glove-file", str(glove), 4)
    assert emb["words_found"] == with_file["glove_words"] == 3  # what, the, is
    assert emb["vocab"] == with_file["vocab_size"] > 3
    code = main(["videoqa", "--data", str(synth_smoke["main"]), "--checkpoint", "random",
                 "--profile", "smoke", "--device", "cpu", "--glove", "none",
                 "--out", str(tmp_path / "none")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "no GloVe: word vectors trained from scratch" in printed
    none = json.loads((tmp_path / "none" / "metrics.json").read_text())
    assert none["embedding"]["source"] == "none (trained from scratch)"
    assert none["glove"] is None and none["glove_words"] == 0


def test_second_run_hits_the_feature_cache_and_repeats_the_result(synth_smoke, random_run,
                                                                 tmp_path):
    out, first = random_run
    again = videoqa(synth_smoke["main"], out, "random", profile="smoke", seed=0, device="cpu",
                    progress=False)
    assert again.reused and again["test_acc"] == first["test_acc"]
    # the same settings in another folder: trained again on the cached features, same result
    other = videoqa(synth_smoke["main"], tmp_path / "other", "random", profile="smoke", seed=0,
                    device="cpu", progress=False, cache_dir=out / "features")
    assert other["feature_cache"] == "hit"
    assert other["test_acc"] == first["test_acc"]


def test_compare_reuses_a_finished_run(synth_smoke, random_run, capsys):
    out, _ = random_run
    stamp = (out / "metrics.json").stat().st_mtime_ns
    results = compare_feature_sources(synth_smoke["main"], out.parents[1], {"random": "random"},
                                      profile="smoke", seed=0, device="cpu")
    assert "reusing" in capsys.readouterr().out
    assert (out / "metrics.json").stat().st_mtime_ns == stamp
    rows = table_vi(results)
    assert list(rows) == ["random", "majority answer"]
    assert rows["majority answer"] == results["random"]["majority_baseline"]


def test_examples_for_the_attention_plot(synth_smoke, random_run):
    from vcop_lab import viz

    run = load_videoqa(random_run[0])
    examples = qa_examples(run["model"], run["items"], run["features"], synth_smoke["main"],
                           n=3)
    assert len(examples) == 3
    assert len({ex["question"].rsplit("(", 1)[1] for ex in examples}) == 3  # three types
    for ex in examples:
        assert set(ex) == {"frames_thumbs", "weights", "question", "predicted", "truth"}
        assert len(ex["frames_thumbs"]) == len(ex["weights"]) == SMOKE.qa_clips
        assert abs(sum(ex["weights"]) - 1) < 1e-4
        assert ex["frames_thumbs"][0].ndim == 3 and ex["frames_thumbs"][0].shape[-1] == 3
    assert viz.attention_plot(**examples[0]) is not None


def test_question_only_reads_no_video_and_answers_from_the_question(synth_smoke, tmp_path):
    out = tmp_path / "question-only"
    metrics = videoqa(synth_smoke["qa"], out, "question-only", profile="smoke", seed=0,
                      device="cpu", progress=False)
    assert metrics["checkpoint"] == metrics["checkpoint_hash"] == "question-only"
    assert metrics["feature_cache"] == "off" and not (out / "features").exists()
    assert metrics["feature_dim"] == int(512 * SMOKE.width)
    assert list(metrics["test_acc"]) == list(TYPE_COLUMNS)
    run = load_videoqa(out)
    assert float(run["features"].features.abs().sum()) == 0.0
    # the same question about different videos gets the same answer and a flat attention
    asked = {}
    for item in run["items"]:
        asked.setdefault(item.question, []).append(item)
    repeated = next(items for items in asked.values() if len(items) > 1)
    from vcop_lab.qa.train import predict

    answers = predict(run["model"], repeated, run["features"].by_path())
    assert len({a for a, _ in answers}) == 1
    for _, weights in answers:
        assert torch.allclose(weights, torch.full_like(weights, 1 / SMOKE.qa_clips))


def test_cli_prints_the_summary(synth_smoke, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["videoqa", "--data", str(synth_smoke["main"]), "--checkpoint", "random",
                 "--profile", "smoke", "--device", "cpu", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert f"All {100 * metrics['test_acc']['All']:.1f}%" in printed[0]
    assert f"{100 * metrics['majority_baseline']['All']:.1f}% for the majority" in printed[0]


def test_cli_wrong_architecture_checkpoint_exits_2(synth_smoke, tmp_path, capsys):
    ckpt = tmp_path / "c3d.pt"
    torch.save({"model": {"backbone.conv1.weight": torch.zeros(1)},
                "meta": {"kind": "order", "arch": "c3d", "width": SMOKE.width}}, ckpt)
    code = main(["videoqa", "--data", str(synth_smoke["main"]), "--checkpoint", str(ckpt),
                 "--arch", "r3d", "--profile", "smoke", "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "c3d.pt" in err and "c3d" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_activitynet_path_on_the_real_video(tmp_path):
    videos, qa_dir = REALDATA / "videos" / "activitynet", REALDATA / "activitynet_qa"
    if not (videos.is_dir() and (qa_dir / "val_q.json").is_file()):
        pytest.skip("../shared/realdata with the ActivityNet video and QA files is absent")
    totals = {s: len(json.loads((qa_dir / f"{s}_q.json").read_text()))
              for s in ("train", "val", "test")}
    metrics = activitynet_videoqa(videos, qa_dir, tmp_path / "anet", profile="smoke",
                                  device="cpu", progress=False)
    q = metrics["questions"]
    assert q["found"] == {"train": 0, "val": 10, "test": 0}
    assert q["missing"] == {s: totals[s] - q["found"][s] for s in totals}
    assert q["videos_found"] == ["GGSY1Qvo990"]
    assert metrics["counts"]["test"]["All"] == 10 and "format check" in metrics["protocol"]
    assert len(metrics["predictions"]) == 10
    on_disk = json.loads((tmp_path / "anet" / "metrics.json").read_text())
    assert list(on_disk["test_acc"]) == list(TYPE_COLUMNS)
    assert on_disk["questions"] == q
