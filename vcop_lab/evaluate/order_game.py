"""Order these clips yourself: a learner against the order network, round by round.

A round is one video's evaluation tuple from the TEST split (the centred tuple, centre-cropped,
as :class:`~vcop_lab.data.datasets.OrderTupleDataset` gives it for testing), shuffled by a
permutation. Rounds are drawn reproducibly from a seed: the videos in a shuffled order (each
video once before any repeats), the permutation uniformly over all tl! orders.

The learner answers by giving each *shown* clip its place in time: ``ranks[p]`` is the place
(0 = first) of the clip shown at position ``p``. That is exactly the shuffle's permutation
(position ``p`` shows clip ``order[p]``), so the answer's index among
:func:`~vcop_lab.data.sampling.permutations_for` is the class the network predicts, and the
two are scored on the same terms. The network's answer is its softmax over the tl! orders
for the shuffled tuple, through the one inference loop (eval mode, no gradients).

:func:`play_rounds` plays a fixed number of rounds with a scripted learner (a callable
round -> ranks, e.g. :func:`identity_learner` or :func:`oracle_learner`) and returns the
scores; the notebook widget (:func:`vcop_lab.widgets.order_game_widget`) plays the same
rounds by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcop_lab.checkpoint import order_model_from
from vcop_lab.data.datasets import OrderTupleDataset
from vcop_lab.data.manifest import data_root, load_manifest, select_split
from vcop_lab.data.sampling import draw_permutation, parse_setting, permutations_for
from vcop_lab.errors import SettingsError
from vcop_lab.evaluate.inference import collect
from vcop_lab.models import VCOPN
from vcop_lab.profiles import get_profile


@dataclass
class OrderGame:
    """What every round needs: the order model, the test tuples and the device."""

    model: VCOPN
    dataset: OrderTupleDataset  # test split, evaluation tuples (chronological)
    device: torch.device
    checkpoint: str | None = None

    @property
    def tl(self) -> int:
        """Clips per tuple."""
        return self.model.tl

    @property
    def orders(self) -> tuple[tuple[int, ...], ...]:
        """The tl! orders; an order's index is its class."""
        return permutations_for(self.tl)

    @property
    def chance(self) -> float:
        """The score of guessing (1/tl!)."""
        return 1.0 / math.factorial(self.tl)


def order_game(checkpoint: str | Path, data: str | Path | None = None, device="cpu",
               records=None, backend: str = "auto") -> OrderGame:
    """A game against the order model in ``checkpoint`` on the test split of ``data`` (the
    checkpoint's own data when None), with the checkpoint's setting, resize and crop.
    ``records`` replaces the test split (e.g. a few videos)."""
    model, meta = order_model_from(checkpoint)
    data = Path(data if data is not None else meta.get("data") or ".")
    prof = get_profile(meta["profile"]) if meta.get("profile") else None
    resize = tuple(meta.get("resize") or prof.resize)
    crop = int(meta.get("crop") or prof.crop)
    if records is None:
        records = select_split(load_manifest(data), "test")
    dataset = OrderTupleDataset(records, data_root(data), parse_setting(meta["setting"]),
                                resize, crop, train=False, backend=backend)
    if len(dataset) == 0:
        raise SettingsError(f"no test video is long enough for {meta['setting']}", data,
                            "use a data set with longer test videos")
    device = torch.device(device)
    return OrderGame(model.to(device).eval(), dataset, device, str(checkpoint))


def round_draws(num_videos: int, tl: int, seed: int = 0) -> Iterator[tuple[int, int]]:
    """``(video, permutation index)`` of every round, without end, reproducible from
    ``seed``: the videos in a shuffled order, each once before any repeats, and a uniformly
    drawn permutation. Drawn one round at a time, so the first n rounds never depend on
    how many are played."""
    rng = np.random.default_rng([int(seed), 9173])  # the game's own stream
    while True:
        for video in rng.permutation(num_videos):
            yield int(video), draw_permutation(tl, rng)


def draw_rounds(game: OrderGame, rounds: int, seed: int = 0) -> list[tuple[int, int]]:
    """The first ``rounds`` draws of :func:`round_draws` for ``game``."""
    draws = round_draws(len(game.dataset), game.tl, seed)
    return [next(draws) for _ in range(rounds)]


def model_answer(model: VCOPN, shuffled: torch.Tensor, device) -> dict[str, Any]:
    """The model's answer for one shuffled tuple (uint8 ``(tl, cl, H, W, 3)`` as the datasets
    give it): ``probs`` (its softmax over the tl! orders, a CPU tensor) and ``pred`` (the
    most probable order's index)."""
    def softmax(inputs, _batch):
        return {"probs": model(inputs).float().softmax(1)}

    # the one inference loop (eval mode, no gradients) over a batch of one tuple
    probs = collect(model, [(shuffled[None],)], torch.device(device), softmax)["probs"][0]
    return {"probs": probs, "pred": int(probs.argmax())}


def make_round(game: OrderGame, video: int, perm_index: int) -> dict[str, Any]:
    """Round for test video ``video`` shuffled by permutation ``perm_index``.

    Returns ``video``, ``class_name``, ``path``, ``truth`` (the permutation index),
    ``order`` (position p shows clip ``order[p]``), ``ordered`` and ``shuffled`` (uint8
    clips), ``probs`` and ``pred`` (the model's answer, :func:`model_answer`).
    """
    if not 0 <= perm_index < len(game.orders):
        raise ValueError(f"permutation {perm_index} does not exist for tl={game.tl}")
    clips, _, index = game.dataset[video]  # chronological (evaluation label 0)
    order = game.orders[perm_index]
    shuffled = clips[list(order)]
    rec = game.dataset.records[index]
    return {"video": int(index), "class_name": rec.label, "path": rec.path,
            "truth": int(perm_index), "order": order, "ordered": clips, "shuffled": shuffled,
            **model_answer(game.model, shuffled, game.device)}


def answer_index(ranks: Sequence[int], tl: int) -> int:
    """The permutation index of a learner's answer: ``ranks[p]`` is the place in time
    (0 = first) they give the clip shown at position ``p``. Each place once, else
    ValueError."""
    ranks = tuple(int(r) for r in ranks)
    if sorted(ranks) != list(range(tl)):
        raise ValueError(f"give each of the {tl} places exactly once, got "
                         f"{tuple(r + 1 for r in ranks)}")
    return permutations_for(tl).index(ranks)


def sequence_of(order: Sequence[int]) -> list[int]:
    """The shown positions in chronological order (the first clip in time is shown at
    ``sequence_of(order)[0]``): how a learner reads an order."""
    return sorted(range(len(order)), key=lambda p: order[p])


def score_round(rnd: dict[str, Any], answer: Sequence[int] | int) -> dict[str, Any]:
    """The outcome of a round for the learner's ``answer`` (ranks, or a permutation index):
    plain values (no tensors) that a score is made of."""
    tl = len(rnd["order"])
    learner = int(answer) if isinstance(answer, int | np.integer) else answer_index(answer, tl)
    return {"video": rnd["video"], "class_name": rnd["class_name"], "truth": rnd["truth"],
            "learner": learner, "model": rnd["pred"],
            "learner_correct": learner == rnd["truth"], "model_correct": rnd["pred"] ==
            rnd["truth"], "model_prob_truth": float(rnd["probs"][rnd["truth"]])}


def game_score(results: Sequence[dict[str, Any]], tl: int) -> dict[str, Any]:
    """The running score over scored rounds: ``rounds``, ``learner`` and ``model`` (fraction
    right; None before any round), their counts, ``chance`` and ``per_class`` (per class
    name: ``rounds``, ``learner``, ``model``)."""
    def fraction(rows, key):
        return sum(r[key] for r in rows) / len(rows) if rows else None

    per_class = {}
    for name in sorted({r["class_name"] for r in results}):
        rows = [r for r in results if r["class_name"] == name]
        per_class[name] = {"rounds": len(rows), "learner": fraction(rows, "learner_correct"),
                           "model": fraction(rows, "model_correct")}
    return {"rounds": len(results), "learner": fraction(results, "learner_correct"),
            "model": fraction(results, "model_correct"),
            "learner_correct": sum(r["learner_correct"] for r in results),
            "model_correct": sum(r["model_correct"] for r in results),
            "chance": 1.0 / math.factorial(tl), "per_class": per_class}


def identity_learner(rnd: dict[str, Any]) -> tuple[int, ...]:
    """A learner who cannot tell: always answers the shown order (expected score: chance)."""
    return tuple(range(len(rnd["order"])))


def oracle_learner(rnd: dict[str, Any]) -> tuple[int, ...]:
    """A learner who always knows: answers the true order."""
    return tuple(rnd["order"])


def play_rounds(game: OrderGame, rounds: int,
                answer: Callable[[dict[str, Any]], Sequence[int] | int] = identity_learner,
                seed: int = 0) -> dict[str, Any]:
    """Play ``rounds`` rounds with a scripted learner ``answer`` (round -> ranks or index).

    Returns :func:`game_score` plus ``scripted_learner`` (the callable's name), ``seed`` and
    ``played`` (each round's :func:`score_round`).
    """
    played = [score_round(rnd, answer(rnd))
              for rnd in (make_round(game, v, p) for v, p in draw_rounds(game, rounds, seed))]
    return {**game_score(played, game.tl), "scripted_learner": getattr(answer, "__name__",
                                                                       str(answer)),
            "seed": int(seed), "played": played}


__all__ = [
    "OrderGame",
    "answer_index",
    "draw_rounds",
    "game_score",
    "identity_learner",
    "make_round",
    "model_answer",
    "oracle_learner",
    "order_game",
    "play_rounds",
    "round_draws",
    "score_round",
    "sequence_of",
]
