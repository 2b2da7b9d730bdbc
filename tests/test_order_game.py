"""The order game: rounds from a seed, the model's answer, a learner's score, the widget."""

from __future__ import annotations

import math

import pytest
import torch

from vcop_lab.checkpoint import save_checkpoint
from vcop_lab.evaluate import order_game as og
from vcop_lab.evaluate.order import order_scores
from vcop_lab.pretrain import profile_order_model
from vcop_lab.profiles import SMOKE

ROUNDS = 24


@pytest.fixture(scope="module")
def game(synth_smoke, tmp_path_factory):
    """A game on the synthetic smoke set against an untrained smoke-size order model (saved
    as an order checkpoint and loaded back the way notebooks do)."""
    torch.manual_seed(0)
    model = profile_order_model(SMOKE, "r3d", 3)
    meta = {"kind": "order", "arch": "r3d", "width": SMOKE.width,
            "shortcut": model.backbone.shortcut, "setting": SMOKE.setting, "tl": 3,
            "profile": "smoke", "crop": SMOKE.crop, "resize": list(SMOKE.resize),
            "data": str(synth_smoke["main"])}
    path = tmp_path_factory.mktemp("game") / "best.pt"
    save_checkpoint({"model": model.state_dict(), "meta": meta}, path)
    return og.order_game(path)


def test_rounds_are_reproducible_for_a_seed_and_differ_for_another(game):
    first = og.draw_rounds(game, ROUNDS, seed=0)
    assert first == og.draw_rounds(game, ROUNDS, seed=0)
    assert first != og.draw_rounds(game, ROUNDS, seed=1)
    assert first[:5] == og.draw_rounds(game, 5, seed=0)  # a longer game starts the same
    videos = [v for v, _ in first[:len(game.dataset)]]
    assert len(set(videos)) == min(ROUNDS, len(game.dataset))  # each video before repeats
    assert {p for _, p in first} <= set(range(6)) and len({p for _, p in first}) > 1


def test_a_round_shows_the_shuffle_and_the_model_answer_matches_the_order_scoring(game):
    video, perm = og.draw_rounds(game, 3, seed=0)[2]
    rnd = og.make_round(game, video, perm)
    assert rnd["order"] == game.orders[perm] and rnd["truth"] == perm
    for p, j in enumerate(rnd["order"]):  # position p shows clip order[p]
        assert torch.equal(rnd["shuffled"][p], rnd["ordered"][j])
    assert rnd["probs"].shape == (6,)
    assert rnd["probs"].sum().item() == pytest.approx(1.0, abs=1e-5)
    assert rnd["pred"] == int(rnd["probs"].argmax())
    # evaluate/order.py scores the chronological tuple under every order, independently
    batch = (rnd["ordered"][None], torch.zeros(1, dtype=torch.long), torch.tensor([video]))
    scores = order_scores(game.model, [batch], game.device)
    assert int(scores["pred"][0, perm]) == rnd["pred"]
    assert scores["prob"][0, perm].item() == pytest.approx(rnd["probs"][perm].item(), abs=1e-4)
    assert not game.model.training


def test_answers_are_scored_as_permutation_indices(game):
    assert og.answer_index((0, 1, 2), 3) == 0
    assert og.answer_index((2, 1, 0), 3) == 5
    with pytest.raises(ValueError, match="exactly once"):
        og.answer_index((0, 0, 2), 3)
    assert og.sequence_of((1, 2, 0)) == [2, 0, 1]  # the clip shown last came first
    rnd = og.make_round(game, *og.draw_rounds(game, 1, seed=0)[0])
    right = og.score_round(rnd, og.oracle_learner(rnd))
    assert right["learner_correct"] and right["learner"] == rnd["truth"]
    wrong = (rnd["truth"] + 1) % 6
    assert not og.score_round(rnd, wrong)["learner_correct"]


def test_scripted_learners_score_what_they_must(game):
    oracle = og.play_rounds(game, ROUNDS, og.oracle_learner, seed=0)
    assert oracle["learner"] == 1.0 and oracle["learner_correct"] == ROUNDS
    identity = og.play_rounds(game, ROUNDS, og.identity_learner, seed=0)
    shuffles = [p for _, p in og.draw_rounds(game, ROUNDS, seed=0)]
    assert identity["learner"] == pytest.approx(shuffles.count(0) / ROUNDS)
    assert identity["scripted_learner"] == "identity_learner"
    # the model does not depend on the learner
    assert identity["model"] == oracle["model"]
    assert identity["chance"] == pytest.approx(1 / math.factorial(3))
    assert sum(c["rounds"] for c in identity["per_class"].values()) == ROUNDS
    for name, cls in identity["per_class"].items():
        rows = [r for r in identity["played"] if r["class_name"] == name]
        assert cls["model"] == pytest.approx(sum(r["model_correct"] for r in rows) / len(rows))
    assert identity["rounds"] == len(identity["played"]) == ROUNDS


def test_the_widget_builds_headless_and_check_updates_the_score(game):
    from vcop_lab import widgets

    box = widgets.order_game_widget(game, seed=0)
    assert "vcop-order-game" in box._dom_classes
    choices, check, nxt = (box.controls[k] for k in ("choices", "check", "next"))
    first = box.last["round"]
    assert (first["video"], first["truth"]) == og.draw_rounds(game, 1, seed=0)[0]
    choices[0].value = choices[1].value  # a place given twice is refused, not scored
    check.click()
    assert box.last["score"]["rounds"] == 0 and "exactly once" in box.children[3].value
    for choice, place in zip(choices, first["order"]):
        choice.value = place  # the true order
    check.click()
    check.click()  # a round counts once
    score = box.last["score"]
    assert score["rounds"] == 1 and score["learner"] == 1.0
    assert score["model"] == float(first["pred"] == first["truth"])
    assert "True order" in box.children[3].value and "<table" in box.children[5].value
    assert box.last["chart"] is not None  # the bar chart
    assert check.disabled and not nxt.disabled
    nxt.click()
    assert box.last["round"] is not first and not box.last["checked"]
    assert not check.disabled and box.last["chart"] is None and box.last["figure"]


def test_the_static_figure_reveals_a_round(game, tmp_path):
    from vcop_lab import viz, widgets

    fig = widgets.show_order_game_figure(game, seed=0)
    assert "true order" in fig._suptitle.get_text()
    assert viz.save(fig, tmp_path / "game.png").stat().st_size > 0
