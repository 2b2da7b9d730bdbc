"""Notebook widgets, as a thin layer over plain functions that run without a browser.

:func:`permutation_explorer_state` decodes what a setting ``cl-it-tl`` and a permutation do
to one video (the same frames, crop and shuffle as the evaluation tuples of the datasets),
:func:`render_permutation` draws it, and :func:`permutation_explorer` wires both to sliders.
:func:`show_permutation_figure` is the static figure for notebooks run headless.

:func:`order_game_widget` lets a learner order shuffled test tuples against the order
network (:mod:`vcop_lab.evaluate.order_game` plays, scores and draws the rounds);
:func:`show_order_game_figure` is its static figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from vcop_lab import viz
from vcop_lab.data import sampling
from vcop_lab.data.datasets import display_frames
from vcop_lab.data.manifest import VideoRecord
from vcop_lab.data.transforms import to_network_input
from vcop_lab.errors import SettingsError, VcopError
from vcop_lab.evaluate.order_game import (
    OrderGame,
    answer_index,
    draw_rounds,
    game_score,
    make_round,
    round_draws,
    score_round,
    sequence_of,
)

CL_RANGE, IT_RANGE = (1, 16), (0, 16)
_PREFERRED = ((16, 8), (8, 4), (4, 2), (2, 1), (1, 0))  # (cl, it), as large as the video allows


def _check_crop(resize: tuple[int, int], crop: int) -> None:
    if crop > min(resize):
        raise SettingsError(f"crop {crop} is larger than the resized frames {resize}",
                            fix="choose a crop no larger than the smaller side of resize")


def default_choices(record: VideoRecord, tl: int = 3, setting: str | None = None
                    ) -> dict[str, int]:
    """A setting that fits ``record``: ``setting`` (e.g. the profile's 8-4-3) when given and
    it fits, else the paper's 16-8 if the video is long enough, else the largest of 8-4, 4-2,
    2-1, 1-0 that fits; ``tl`` is lowered only when nothing fits. The permutation is a fixed
    non-identity one so that the shuffle is visible."""
    if setting is not None:
        s = sampling.parse_setting(setting)
        if s.span <= record.num_frames:
            return {"cl": s.cl, "it": s.it, "tl": s.tl, "perm_index": s.num_orders // 2}
    for t in range(tl, sampling.MIN_TL - 1, -1):
        for cl, it in _PREFERRED:
            if sampling.tuple_span(cl, it, t) <= record.num_frames:
                return {"cl": cl, "it": it, "tl": t, "perm_index": math.factorial(t) // 2}
    return {"cl": 1, "it": 0, "tl": sampling.MIN_TL, "perm_index": 1}


def _label(record: VideoRecord) -> str:
    return f"{record.label} / {Path(record.path).name}"


def permutation_explorer_state(records: Sequence[VideoRecord], root: str | Path, video: int,
                               cl: int, it: int, tl: int, perm_index: int,
                               resize: tuple[int, int] = (64, 86), crop: int = 56,
                               backend: str = "auto") -> dict[str, Any]:
    """The evaluation tuple of ``records[video]`` under ``cl-it-tl``, and its shuffle.

    The tuple is the centred one (``sampling.eval_start``), decoded, resized to ``resize``
    and centre-cropped to ``crop`` as the datasets do (``datasets.display_frames``). Returns
    a dict with ``ordered`` (tl float clips (3, cl, crop, crop), chronological),
    ``shuffled`` (the same clips in the order ``order``: position p holds clip
    ``order[p]``), ``order`` (the permutation),
    ``label`` (its index among the tl! lexicographic permutations), ``class_name``,
    ``video`` (the file), ``setting``, ``span`` (frames the tuple covers), ``start``,
    ``num_frames``, ``frame_indices`` (tl lists of cl indices), ``valid`` and ``message``.
    A setting that does not fit the video (or a video that does not decode) gives
    ``valid=False`` and a message saying why, with empty clip lists, instead of raising.
    """
    if not 0 <= video < len(records):
        raise IndexError(f"video {video} is not in 0..{len(records) - 1}")
    resize = (int(resize[0]), int(resize[1]))
    _check_crop(resize, crop)
    rec = records[video]
    state: dict[str, Any] = {
        "ordered": [], "shuffled": [], "order": None, "label": int(perm_index),
        "class_name": rec.label, "video": str(rec.full_path(root)),
        "setting": f"{cl}-{it}-{tl}", "span": sampling.tuple_span(cl, it, tl), "start": None,
        "num_frames": rec.num_frames, "frame_indices": [], "valid": False, "message": "",
    }
    name = Path(rec.path).name
    try:
        setting = sampling.parse_setting(f"{int(cl)}-{int(it)}-{int(tl)}")
    except SettingsError as err:
        state["message"] = f"{name}: {err.what}"
        return state
    perms = sampling.permutations_for(setting.tl)
    if not 0 <= perm_index < len(perms):
        state["message"] = (f"permutation {perm_index} does not exist for tl={setting.tl}: "
                            f"choose one from 0 to {len(perms) - 1}")
        return state
    state["order"] = perms[perm_index]
    if setting.span > rec.num_frames:
        state["message"] = (f"{name} has {rec.num_frames} frames, but a {setting} tuple spans "
                            f"{setting.span}: lower the clip length, interval or tuple length")
        return state
    start = sampling.eval_start(rec.num_frames, setting)
    indices = sampling.tuple_frame_indices(start, setting)
    try:
        frames = display_frames(rec.full_path(root), indices, resize, crop,
                                num_frames=rec.num_frames, backend=backend)
    except VcopError as err:
        state["message"] = str(err)
        return state
    ordered = [to_network_input(frames[c * setting.cl:(c + 1) * setting.cl])
               for c in range(setting.tl)]
    state.update(ordered=ordered, shuffled=[ordered[j] for j in state["order"]],
                 start=start, frame_indices=indices.tolist(), valid=True,
                 message=f"{setting}: frames {start} to {start + setting.span - 1} "
                         f"of {rec.num_frames}")
    return state


def render_permutation(state: dict[str, Any]) -> Figure:
    """The figure of an explorer state (``viz.shuffle_figure``); for a state that is not
    valid, a small figure that shows its message."""
    if not state["valid"]:
        fig = viz._figure(7, 1.2)
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, state["message"], ha="center", va="center", wrap=True,
                color=viz.WRONG)
        return fig
    first, last = state["frame_indices"][0][0], state["frame_indices"][-1][-1]
    return viz.shuffle_figure(state["ordered"], state["order"], state["class_name"],
                              f"{Path(state['video']).name} "
                              f"({state['setting']}, frames {first}-{last})")


def show_permutation_figure(records: Sequence[VideoRecord], root: str | Path, video: int = 0,
                            cl: int | None = None, it: int | None = None, tl: int = 3,
                            perm_index: int | None = None, resize: tuple[int, int] = (64, 86),
                            crop: int = 56, setting: str | None = None) -> Figure:
    """The explorer's figure without widgets (for notebooks run headless). Choices left as
    None come from :func:`default_choices` for the video (``setting`` first, e.g. the
    profile's), so the default always fits."""
    choice = default_choices(records[video], tl, setting)
    if cl is not None or it is not None:
        choice["tl"] = tl  # a setting chosen by hand is shown as it is, fitting or not
    for key, value in (("cl", cl), ("it", it), ("perm_index", perm_index)):
        if value is not None:
            choice[key] = value
    state = permutation_explorer_state(records, root, video, resize=resize, crop=crop,
                                       **choice)
    return render_permutation(state)


def permutation_explorer(records: Sequence[VideoRecord], root: str | Path,
                         resize: tuple[int, int] = (64, 86), crop: int = 56,
                         setting: str | None = None):
    """An interactive explorer: choose a video, ``cl``, ``it``, ``tl`` and a permutation and
    see the ordered and shuffled tuple; when the tuple does not fit the video the message
    says why. It starts at ``setting`` (the profile's, in the notebooks) where that fits the
    first video. Returns an ``ipywidgets.VBox``; its ``controls`` (the widgets by name),
    ``output`` and ``last`` (the latest state and figure) let code drive it without a
    browser."""
    import ipywidgets as w
    from IPython.display import HTML, display

    if not records:
        raise ValueError("the explorer needs at least one video")
    _check_crop(resize, crop)
    start = default_choices(records[0], setting=setting)
    style = {"description_width": "initial"}
    controls = {
        "video": w.Dropdown(options=[(_label(r), i) for i, r in enumerate(records)], value=0,
                            description="video", style=style,
                            layout=w.Layout(width="max-content")),
        "cl": w.IntSlider(value=start["cl"], min=CL_RANGE[0], max=CL_RANGE[1],
                          description="clip length cl", style=style, continuous_update=False),
        "it": w.IntSlider(value=start["it"], min=IT_RANGE[0], max=IT_RANGE[1],
                          description="interval it", style=style, continuous_update=False),
        "tl": w.IntSlider(value=start["tl"], min=sampling.MIN_TL, max=sampling.MAX_TL,
                          description="tuple length tl", style=style, continuous_update=False),
        "perm_index": w.IntSlider(value=start["perm_index"], min=0,
                                  max=math.factorial(start["tl"]) - 1,
                                  description="permutation", style=style,
                                  continuous_update=False),
    }
    output = w.Output()
    box = w.VBox([w.HBox([controls["video"]]),
                  w.HBox([controls["cl"], controls["it"]]),
                  w.HBox([controls["tl"], controls["perm_index"]]), output])
    box.controls, box.output = controls, output
    box.last = {"state": None, "figure": None, "renders": 0}
    busy = {"now": False}  # no re-render while one change updates another control

    def render(_change=None) -> None:
        if busy["now"]:
            return
        values = {name: c.value for name, c in controls.items()}
        state = permutation_explorer_state(records, root, values.pop("video"), **values,
                                           resize=resize, crop=crop)
        fig = render_permutation(state) if state["valid"] else None
        box.last.update(state=state, figure=fig, renders=box.last["renders"] + 1)
        output.clear_output(wait=True)
        with output:
            if fig is not None:
                display(fig)
            else:
                display(HTML(f"<b style='color:{viz.WRONG}'>"
                             f"{html.escape(state['message'])}</b>"))

    def on_tl(change) -> None:
        busy["now"] = True
        try:  # lowering max clamps the value, which would otherwise render a second time
            controls["perm_index"].max = math.factorial(change["new"]) - 1
        finally:
            busy["now"] = False
        render()

    controls["tl"].observe(on_tl, names="value")
    for name in ("video", "cl", "it", "perm_index"):
        controls[name].observe(render, names="value")
    render()
    return box


# ----------------------------------------------------------------------------- order game

_PLACES = ("1st", "2nd", "3rd", "4th", "5th")


def _letters(order: Sequence[int]) -> str:
    """An order as the learner reads it: the shown clips (A, B, ...) first to last in time."""
    return ", ".join(chr(65 + p) for p in sequence_of(order))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def order_game_score_html(score: dict[str, Any]) -> str:
    """The running score (:func:`~vcop_lab.evaluate.order_game.game_score`) as an HTML table:
    overall, then per class; learner, model and chance."""
    rows = [("all classes", score)] + list(score["per_class"].items())
    body = "".join(f"<tr><td>{html.escape(name)}</td><td>{s['rounds']}</td>"
                   f"<td>{_percent(s['learner'])}</td><td>{_percent(s['model'])}</td></tr>"
                   for name, s in rows)
    return ("<table class='vcop-order-score-table'><tr><th>class</th><th>rounds</th>"
            "<th>you</th><th>model</th></tr>" + body + "</table>"
            f"<small>chance: {_percent(score['chance'])}</small>")


def _round_figure(rnd: dict[str, Any], frames_per_clip: int, reveal: bool) -> Figure:
    return viz.order_game_figure(rnd["shuffled"], rnd["probs"], rnd["truth"], rnd["class_name"],
                                 Path(rnd["path"]).name, frames_per_clip, reveal=reveal)


def show_order_game_figure(game: OrderGame, seed: int = 0, round_index: int = 0,
                           frames_per_clip: int = 3) -> Figure:
    """Round ``round_index`` of the game drawn with ``seed``, revealed: the shuffled clips,
    the true order and the model's probability over every order (for notebooks run
    headless)."""
    video, perm = draw_rounds(game, round_index + 1, seed)[-1]
    return _round_figure(make_round(game, video, perm), frames_per_clip, reveal=True)


def order_game_widget(game: OrderGame, seed: int = 0, frames_per_clip: int = 3):
    """"Order these clips yourself": the shuffled clips of a test tuple, one dropdown per
    shown clip for its place in time, **Check** (reveals the true order, the model's
    prediction and its probability over every order, and updates the score, learner
    against model, overall and per class) and **Next**.

    Returns an ``ipywidgets.VBox`` (CSS class ``vcop-order-game``; its parts carry
    ``vcop-order-choice``, ``-check``, ``-next``, ``-clips``, ``-reveal``, ``-chart`` and
    ``-score``). ``controls`` (``choices``, ``check``, ``next``) and ``last`` (``round``,
    ``results``, ``score``, ``checked``, and the ``figure`` of the clips and ``chart`` shown)
    let code play it without a browser.
    """
    import ipywidgets as w
    from IPython.display import display

    tl = game.tl
    draws = round_draws(len(game.dataset), tl, seed)
    choices = [w.Dropdown(options=[(_PLACES[k], k) for k in range(tl)], value=p,
                          description=f"clip {chr(65 + p)} is",
                          layout=w.Layout(width="max-content")) for p in range(tl)]
    check = w.Button(description="Check", button_style="primary")
    nxt = w.Button(description="Next", disabled=True)
    clips, chart = w.Output(), w.Output()
    reveal, score = w.HTML(), w.HTML(order_game_score_html(game_score([], tl)))
    for widget, name in [(c, "choice") for c in choices] + [
            (check, "check"), (nxt, "next"), (clips, "clips"), (chart, "chart"),
            (reveal, "reveal"), (score, "score")]:
        widget.add_class(f"vcop-order-{name}")
    box = w.VBox([clips, w.HBox(choices), w.HBox([check, nxt]), reveal, chart, score])
    box.add_class("vcop-order-game")
    box.controls = {"choices": choices, "check": check, "next": nxt}
    box.last = {"round": None, "results": [], "score": game_score([], tl), "checked": False,
                "figure": None, "chart": None}

    def new_round(_button=None) -> None:
        rnd = make_round(game, *next(draws))
        fig = _round_figure(rnd, frames_per_clip, reveal=False)
        box.last.update(round=rnd, checked=False, figure=fig, chart=None)
        for p, choice in enumerate(choices):
            choice.value = p  # start from the order shown
        check.disabled, nxt.disabled = False, True
        reveal.value = "Give each clip its place in time, then <b>Check</b>."
        chart.clear_output()
        clips.clear_output(wait=True)
        with clips:
            display(fig)

    def on_check(_button=None) -> None:
        rnd = box.last["round"]
        if box.last["checked"]:
            return  # a round counts once
        ranks = [c.value for c in choices]
        try:
            answer_index(ranks, tl)
        except ValueError as err:
            reveal.value = f"<b style='color:{viz.WRONG}'>{html.escape(str(err))}</b>"
            return
        result = score_round(rnd, ranks)
        box.last["results"].append(result)
        box.last.update(score=game_score(box.last["results"], tl), checked=True)
        orders = game.orders

        def said(who, index, right):
            color = viz.CORRECT if right else viz.WRONG
            return (f"{who}: <b style='color:{color}'>{_letters(orders[index])}</b> "
                    f"({'right' if right else 'wrong'})")

        reveal.value = (f"True order: <b>{_letters(rnd['order'])}</b> "
                        f"({html.escape(rnd['class_name'])}). "
                        + said("You", result["learner"], result["learner_correct"]) + "; "
                        + said("the model", result["model"], result["model_correct"])
                        + f", with {float(rnd['probs'][rnd['pred']]):.0%} "
                          f"(the true order {result['model_prob_truth']:.0%}).")
        box.last["chart"] = viz.order_probability_bar(rnd["probs"], rnd["truth"], rnd["pred"])
        with chart:
            display(box.last["chart"])
        score.value = order_game_score_html(box.last["score"])
        check.disabled, nxt.disabled = True, False

    check.on_click(on_check)
    nxt.on_click(new_round)
    new_round()
    return box
