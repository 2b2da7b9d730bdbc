"""The claims checklist and the report page, from hand-made ``results.json`` contents."""

from __future__ import annotations

import copy
import json

import pytest

from vcop_lab import paper
from vcop_lab.claims import check_claims
from vcop_lab.cli import main
from vcop_lab.report import build_report, render
from vcop_lab.results import differing_figures, figures

CURVE = [0.2, 0.4, 0.6]
RESULTS = {
    "run": {"profile": "teaching", "device": "cpu", "environment": {"python": "3.11"},
            "profile_settings": {"epochs": 20}},
    "notebooks": {"02_pretraining.ipynb": {"ok": True, "seconds": 120.0}},
    "02_pretraining": {
        "setting": "8-4-3", "stopped_by_clock": [],
        "order": {"r3d": {"test_order_acc": 0.7, "chance": 1 / 6, "epochs_run": 20}},
        "curriculum": {"4": {"curriculum": 0.6, "scratch": 0.05, "chance": 1 / 24,
                             "epochs": 6, "gain_points": 55.0, "curriculum_val_acc": CURVE,
                             "scratch_val_acc": [0.04, 0.04, 0.05]}},
        "equal_training": {"epochs": 6, "val_order_acc": {"3": 0.4, "4": 0.05},
                           "chance": {"3": 1 / 6, "4": 1 / 24}}},
    "03_order_accuracy": {
        "arch": "r3d", "test_order_acc": 0.7, "chance": 1 / 6,
        "per_class_order_acc": {"fall": 1.0, "orbit": 0.2},
        "sample_curriculum": {"threshold": 0.8, "dropped": 100, "kept": 400, "base": 0.7,
                              "extra_epochs": 6, "continue_on_hard": 0.74,
                              "continue_on_all": 0.72}},
    "04_layerwise_retrieval": {
        "level": "clip level",
        "table": {"r3d": {"pretrained": {f"conv{i}": {"top1": v, "top5": v + 10}
                                         for i, v in enumerate((20, 30, 50, 55, 45), 1)},
                          "random": {f"conv{i}": {"top1": v, "top5": v + 10}
                                     for i, v in enumerate((25, 26, 24, 20, 18), 1)}}},
        "conv5": {"r3d": {"random": {"clip level": {"top1": 18.0, "top5": 40.0}},
                          "pretrained": {"video level": {"top1": 60.0, "top5": 80.0}}}},
        "cross_dataset": {"r3d": {"pretrained": {"main -> second": {"top1": 12.0},
                                                 "second -> main": {"top1": 20.0}},
                                  "random": {"main -> second": {"top1": 19.0},
                                             "second -> main": {"top1": 11.0}}}}},
    "05_finetuning": {
        "seeds": [0], "clips_per_video": 10, "chance": {"main": 1 / 14, "second": 1 / 9},
        "table": {"1.0": {"main": {"r3d": {"random": {"video": 0.80, "clip": 0.7},
                                           "order": {"video": 0.81, "clip": 0.72}}}},
                  "0.1": {"main": {"r3d": {"random": {"video": 0.05, "clip": 0.05},
                                           "order": {"video": 0.30, "clip": 0.25}}}}},
        "freeze_sweep": {"arch": "r3d", "seed": 0, "label_fraction": 0.1,
                         "video_acc": {"none": 0.30, "conv1": 0.28, "conv2": 0.33},
                         "random_baseline": 0.05},
        "stopped_by_clock": ["r3d-random-seed0-1234"]},
    "06_videoqa": {"arch": "r3d",
                   "test_acc": {"order-pretrained": {"Motion": 0.3, "All": 0.48},
                                "question-only": {"Motion": 0.1, "All": 0.39}},
                   "majority_baseline": {"Motion": 0.07, "All": 0.30}},
}


def test_each_claim_follows_its_stated_rule():
    c = check_claims(RESULTS)
    assert set(c) == set("abcdefghi") and all(c[k]["paper"] == paper.CLAIMS[k] for k in c)
    assert c["a"]["held"] is True and c["a"]["parts"] == {"far above chance": True,
                                                          "falls as tl grows": True}
    assert c["b"]["held"] is True and "60.0%" in c["b"]["sentence"]
    assert c["c"]["held"] is True
    assert c["d"]["held"] is True and c["d"]["figures"]["pretrained"] == ["conv4", 55]
    assert c["e"]["held"] is True  # conv4 is an inner stage
    assert c["f"]["held"] is True and c["f"]["parts"] == {"full labels": True,
                                                          "10% of the labels": True}
    assert c["g"]["held"] is False and "best: conv2" in c["g"]["sentence"]
    assert c["h"]["held"] is True
    assert c["i"]["held"] is False  # it loses in one direction


def test_a_claim_that_does_not_hold_and_one_not_run():
    r = copy.deepcopy(RESULTS)
    r["02_pretraining"]["order"]["r3d"]["test_order_acc"] = 0.4  # 2.4 times chance
    r["02_pretraining"]["equal_training"]["val_order_acc"] = {"3": 0.05, "4": 0.1}
    del r["06_videoqa"]
    c = check_claims(r)
    assert c["a"]["held"] is False and c["a"]["parts"]["far above chance"] is False
    assert c["a"]["parts"]["falls as tl grows"] is None  # tl=3 had not left chance yet
    assert "not measured at this budget" in c["a"]["sentence"]
    r["02_pretraining"]["equal_training"]["val_order_acc"] = {"3": 0.5, "4": 0.6}
    assert check_claims(r)["a"]["parts"]["falls as tl grows"] is False
    assert c["h"]["held"] is None and "not run" in c["h"]["sentence"]
    r["04_layerwise_retrieval"]["table"]["r3d"]["pretrained"]["conv5"]["top1"] = 90
    assert check_claims(r)["e"]["held"] is False  # the last stage is not a middle one


def test_the_page_holds_tables_figures_claims_and_the_clock(tmp_path):
    page = render(RESULTS)
    for title in ("Table I", "Table II", "Table IV", "Table V", "Table VI", "Figure 4",
                  "Figure 5", "Figure 10", "Where the time went", "Environment"):
        assert title in page, title
    assert page.count("data:image/png;base64,") == 3  # figures are embedded
    assert 'class="clock"' in page and "r3d-random-seed0-1234" in page  # by the clock
    assert f"{paper.TABLE_I['r3d']['16-8-3']:.1f}" in page  # the paper's figure beside ours
    assert "not held" in page and "held" in page
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_of_a_folder_without_results_is_one_clear_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.json" in err[0]
    (tmp_path / "results.json").write_text("{broken")
    with pytest.raises(Exception, match="not valid JSON"):
        build_report(tmp_path)


def test_the_views_beyond_the_paper_are_on_the_page():
    results = copy.deepcopy(RESULTS)
    results["03_order_accuracy"]["order_game"] = {
        "rounds": 4, "learner": 0.25, "model": 0.75, "chance": 1 / 6,
        "scripted_learner": "identity_learner",
        "per_class": {"fall": {"rounds": 3, "learner": 1 / 3, "model": 2 / 3},
                      "orbit": {"rounds": 1, "learner": 0.0, "model": 1.0}}}
    entry = {"points": [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], "labels": ["fall", "fall", "orbit"],
             "markers": ["red", "blue", "red"], "knn_class_agreement": 0.5, "knn_chance": 1 / 3,
             "knn_look_agreement": 0.123, "knn_look_chance": 1 / 3, "silhouette_feature": 0.1,
             "trustworthiness": 0.9}
    results["04_layerwise_retrieval"]["feature_map"] = {
        "network": "r3d", "layer": "conv3", "method": "tsne", "look": "background",
        "parameters": {"k": 2}, "maps": {"random": entry, "pretrained": dict(entry)}}
    results["05_finetuning"]["saliency"] = {"arch": "r3d", "stage": "conv3", "networks": {
        "order, pretrained": {"inside_fraction": 0.42, "mask_area_fraction": 0.05,
                              "ratio": 8.4, "videos": 24}}}
    page = render(results)
    for text in ("Order these clips yourself", "75.0", "16.7",  # network, chance
                 "A map of the feature space", "k-NN background agreement (%)", "12.3",
                 "Where the network looks", "42.0", "8.40"):
        assert text in page, text
    assert page.count("data:image/png;base64,") == 4  # the map is drawn from results.json
    results["05_finetuning"]["saliency"]["networks"] = {"skipped": "no object masks"}
    assert "Not measured: no object masks" in render(results)
    assert "Beyond the paper" not in render(RESULTS)  # views that did not run: no section


def test_two_results_agree_on_their_figures_and_name_where_they_differ():
    other = copy.deepcopy(RESULTS)
    other["run"]["environment"]["python"] = "3.12"  # how it went, not what it measured
    other["notebooks"]["02_pretraining.ipynb"]["seconds"] = 99.0
    assert figures(other) == figures(RESULTS) and differing_figures(other, RESULTS) == []
    other["05_finetuning"]["table"]["0.1"]["main"]["r3d"]["order"]["video"] = 0.31
    other["06_videoqa"]["arch"] = "c3d"
    assert differing_figures(other, RESULTS) == [
        "05_finetuning/table/0.1/main/r3d/order/video", "06_videoqa/arch"]
