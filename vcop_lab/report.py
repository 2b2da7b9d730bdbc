"""One self-contained page on a reproduction: ``DIR/report.html``, built from ``results.json``.

The page holds the checklist of the paper's claims (:mod:`vcop_lab.claims`), the paper's
Tables I, II, IV, V and VI rebuilt from the run beside the paper's own numbers
(:mod:`vcop_lab.paper`), Figures 4, 5 and 10 (embedded PNGs), where the time went (per
notebook and per run) and the environment. ``vcop-lab report DIR`` rebuilds it from
``DIR/results.json`` alone.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vcop_lab import paper, viz
from vcop_lab.atomic import write_text_atomic
from vcop_lab.claims import check_claims
from vcop_lab.errors import VcopError

REPORT_NAME = "report.html"
VERDICT = {True: ("held", "#1b7f3b"), False: ("not held", "#b3261e"),
           None: ("not measured", "#666")}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
table.text td{text-align:left;vertical-align:top}
td.paper{color:#555;background:#fafafa}.verdict{font-weight:bold;white-space:nowrap}
.clock{color:#b3261e;font-weight:bold}.note{color:#555;font-size:.9em}
img{max-width:100%;border:1px solid #eee}
"""


def _e(text) -> str:
    return html.escape(str(text))


def _num(value, percent: bool = False, digits: int = 1) -> str:
    """A table cell's text: fractions as percent when ``percent``, blanks for None."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    return f"{100 * value:.{digits}f}" if percent else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence], paper_cols: Iterable[int] = (),
           paper_rows: Iterable[int] = (), text: bool = False) -> str:
    """An HTML table (of numbers, right-aligned, or of ``text``); the paper's own figures
    (columns or rows) are shaded."""
    cols, lines = set(paper_cols), set(paper_rows)
    out = [f"<table{' class=text' if text else ''}><tr>"
           + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for r, row in enumerate(rows):
        cells = "".join(f"<td{' class=paper' if i in cols or r in lines else ''}>{c}</td>"
                        for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    return "\n".join(out) + "</table>"


def _figure(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<p><img alt="figure" src="data:image/png;base64,{data}"></p>'


def _clock_note(section: Mapping) -> str:
    stopped = section.get("stopped_by_clock") or []
    if not stopped:
        return ""
    return (f'<p class="clock">Stopped by the wall-clock cap before its epochs were done: '
            f'{_e(", ".join(stopped))}. These figures depend on the machine\'s speed.</p>')


# ----------------------------------------------------------------------------- sections


def _claims_section(claims: Mapping[str, dict]) -> str:
    rows = []
    for cid, c in claims.items():
        word, colour = VERDICT[c["held"]]
        parts = c.get("parts")
        detail = "" if not parts else "<br><span class=note>" + "; ".join(
            f"{_e(k)}: {VERDICT[v][0]}"
            for k, v in parts.items()) + "</span>"
        rows.append((f"<b>({cid})</b> {_e(c['title'])}",
                     f'<span class=verdict style="color:{colour}">{word}</span>{detail}',
                     _e(c["sentence"]) + f"<br><span class=note>Paper: {_e(c['paper'])}</span>"))
    body = _table(("claim", "verdict", "the figures behind it"), rows, text=True)
    return "<h2>Did the paper's findings hold?</h2>" + body


def _data_note(r: Mapping, *roles: str) -> str:
    """Which data a table came from: the reproduction's folder for each role it uses."""
    sources = (r.get("run") or {}).get("datasets") or {}
    if not sources:
        return ""
    return ("<p class=note>Data: " + "; ".join(f"{_e(role)} = {_e(sources.get(role, '?'))}"
                                               for role in roles) + "</p>")


def _table_i(r: Mapping) -> str:
    pre = r.get("02_pretraining")
    if not pre:
        return ""
    arch, order = next(iter(pre["order"].items()))
    rows = [(f"{arch} {pre['setting']} (tl=3)", _num(order["test_order_acc"], True),
             _num(order["chance"], True), _num(paper.TABLE_I.get(arch, {}).get("16-8-3")))]
    for tl, c in sorted((pre.get("curriculum") or {}).items()):
        p = paper.TABLE_I.get(arch, {}).get(f"16-8-{tl}")
        rows.append((f"{arch} tl={tl}, task curriculum ({c['epochs']} epochs)",
                     _num(c["curriculum"], True), _num(c["chance"], True), _num(p)))
        rows.append((f"{arch} tl={tl}, from scratch (same epochs)", _num(c["scratch"], True),
                     _num(c["chance"], True), ""))
    s = (r.get("03_order_accuracy") or {}).get("sample_curriculum")
    if s:
        rows.append((f"{arch} tl=3, sample curriculum", _num(s["continue_on_hard"], True),
                     _num(order["chance"], True), _num(paper.TABLE_I.get(arch, {}).get(
                         "16-8-3*"))))
        rows.append((f"{arch} tl=3, same epochs on all videos", _num(s["continue_on_all"], True),
                     _num(order["chance"], True), ""))
    return ("<h2>Table I: clip order prediction</h2><p class=note>Test order accuracy (%), "
            "every test video's tuple scored in every order (tuple level). Paper: 16-8-tl on "
            "UCF101.</p>" + _table(("run", "this run", "chance", "paper"), rows, [3])
            + _data_note(r, "main") + _clock_note(pre))


def _levels(ret: Mapping, key: str) -> str:
    rows = []
    for arch, inits in ret.get(key, {}).items():
        for init, levels in inits.items():
            for level, scores in levels.items():
                ours = [_num(scores.get(f"top{k}")) for k in paper.TOP_K]
                theirs = paper.TABLE_II.get(arch, {}).get(
                    "random" if init == "random" else "16-8-3")
                rows.append([f"{arch} {init}, {level}", *ours,
                             "" if level != paper.RETRIEVAL_LEVEL or theirs is None
                             else " / ".join(f"{v:.1f}" for v in theirs[:2])])
    return _table(["features"] + [f"top-{k}" for k in paper.TOP_K] + ["paper top-1 / top-5"],
                  rows, [len(paper.TOP_K) + 1])


def _table_ii_iv(r: Mapping) -> str:
    ret = r.get("04_layerwise_retrieval")
    if not ret:
        return ""
    out = ["<h2>Table II: retrieval with conv5 features</h2><p class=note>Top-k accuracy (%) "
           "of test videos querying the training split, at clip level (every clip a query) and "
           "video level (the mean of a video's clips). The paper's figures are video level "
           "(its script averages the clips), on UCF101 at 16-8-3.</p>", _levels(ret, "conv5")]
    rows = []
    for arch, inits in ret["table"].items():
        for init, by_layer in inits.items():
            for layer, s in by_layer.items():
                theirs = paper.TABLE_IV.get(arch, {}).get(layer) if init == "pretrained" else None
                video = ret.get("table_video", {}).get(arch, {}).get(init, {}).get(layer, {})
                rows.append((f"{arch} {init} {layer}", _num(s["top1"]), _num(s["top5"]),
                             _num(video.get("top1")), _num(video.get("top5")),
                             "" if theirs is None else f"{theirs[0]:.1f} / {theirs[1]:.1f}"))
    out.append("<h2>Table IV: retrieval per layer</h2><p class=note>Top-1 / top-5 (%), clip "
               "level and video level; paper: 16-8-3 pretrained, video level.</p>")
    out.append(_table(("features", "clip top-1", "clip top-5", "video top-1", "video top-5",
                       "paper top-1 / top-5"), rows, [5]))
    out.append(_data_note(r, "main", "second"))
    return "\n".join(out)


def _table_v(r: Mapping) -> str:
    ft = r.get("05_finetuning")
    if not ft:
        return ""
    datasets = {"main": "ucf101", "second": "hmdb51"}
    out = ["<h2>Table V: action recognition by fine-tuning</h2><p class=note>Test accuracy "
           f"(%), mean of seeds {_e(ft['seeds'])}, video level (the mean of "
           f"{_e(ft.get('clips_per_video', ''))} clips' logits) and clip level (every clip on "
           "its own). The main data stand in UCF101's role, the second (never seen in "
           "pretraining) in HMDB51's; the paper fine-tunes on all labels.</p>"]
    for frac, styles in sorted(ft["table"].items(), key=lambda kv: -float(kv[0])):
        rows = []
        for style, by_arch in styles.items():
            for arch, inits in by_arch.items():
                for init, acc in inits.items():
                    key = "random" if init == "random" else "16-8-3"
                    theirs = paper.TABLE_V.get(arch, {}).get(key, {}).get(datasets.get(style))
                    rows.append((f"{style}: {arch} {init}", _num(acc["video"], True),
                                 _num(acc["clip"], True),
                                 _num(ft.get("chance", {}).get(style), True),
                                 _num(theirs) if float(frac) == 1 else ""))
        label = "all labels" if float(frac) == 1 else f"{100 * float(frac):g}% of the labels"
        out.append(f"<p><b>{_e(label)}</b></p>")
        out.append(_table(("fine-tuned from", "video level", "clip level", "chance", "paper"),
                          rows, [4]))
    return "\n".join(out) + _data_note(r, "main", "second") + _clock_note(ft)


def _table_vi(r: Mapping) -> str:
    qa = r.get("06_videoqa")
    if not qa:
        return ""
    cols = list(next(iter(qa["test_acc"].values())))
    rows = [[name, *(_num(row.get(c), True) for c in cols)] for name, row in qa["test_acc"].items()]
    rows.append(["majority answer", *(_num(qa["majority_baseline"].get(c), True) for c in cols)])
    arch, ours = qa.get("arch", "r3d"), len(rows)
    for source, by_arch in paper.TABLE_VI.items():
        theirs = dict(zip(paper.TABLE_VI_COLUMNS, by_arch.get(arch, ()), strict=False))
        rows.append([f"paper: {arch} {source}", *(_num(theirs.get(c)) for c in cols)])
    return ("<h2>Table VI: VideoQA</h2><p class=note>Test accuracy (%) per question type of "
            "E-SA over frozen clip features; the last two rows are the paper's (ActivityNet-QA, "
            "no Free column, no question-only row).</p>"
            + _table(["features", *cols], rows, paper_rows=range(ours, len(rows)))
            + _data_note(r, "qa", "main"))


def _figures(r: Mapping) -> str:
    out = []
    pre = r.get("02_pretraining") or {}
    for tl, c in sorted((pre.get("curriculum") or {}).items()):
        curves = {name: [{"epoch": i + 1, "val_acc": v} for i, v in
                         enumerate(c.get(f"{name}_val_acc") or [])]
                  for name in ("curriculum", "scratch")}
        if any(curves.values()):
            out.append(f"<h2>Figure 4: task curriculum against scratch (tl={_e(tl)})</h2>"
                       "<p class=note>Validation order accuracy per epoch. "
                       f"{_e(paper.FIGURE_4)}</p>"
                       + _figure(viz.training_curves(curves, chance=c["chance"])))
    order = r.get("03_order_accuracy") or {}
    if order.get("per_class_order_acc"):
        out.append("<h2>Figure 5: order accuracy per class</h2><p class=note>"
                   f"{_e(paper.FIGURE_5['statement'])}</p>" + _figure(viz.per_class_bar(
                       order["per_class_order_acc"], order.get("chance"))))
    sweep = (r.get("05_finetuning") or {}).get("freeze_sweep")
    if sweep:
        out.append("<h2>Figure 10: hierarchical fine-tuning</h2><p class=note>Video-level test "
                   f"accuracy by the deepest frozen stage. {_e(paper.FIGURE_10)}</p>"
                   + _figure(viz.freeze_sweep(sweep["video_acc"], sweep.get("random_baseline"),
                                              "random init, full fine-tune")))
    return "\n".join(out)


def _order_game(r: Mapping) -> str:
    game = (r.get("03_order_accuracy") or {}).get("order_game")
    if not game:
        return ""
    per_class = sorted((game.get("per_class") or {}).items())
    rows = [("all classes", game["rounds"], _num(game["learner"], True),
             _num(game["model"], True), _num(game["chance"], True))]
    rows += [(_e(name), s["rounds"], _num(s["learner"], True), _num(s["model"], True), "")
             for name, s in per_class]
    return ("<h3>Order these clips yourself (notebook 03)</h3><p class=note>Shuffled tuples "
            f"of the test split, {game['rounds']} rounds from the notebook's seed, scored "
            "against the true order: the order network's choice, and a scripted learner "
            f"({_e(game.get('scripted_learner', ''))}: it always answers the order it is "
            "shown, so its expected score is chance). In JupyterLab a person plays the same "
            "rounds.</p>" + _table(("class", "rounds", "learner (%)", "network (%)",
                                    "chance (%)"), rows))


def _feature_map(r: Mapping) -> str:
    fmap = (r.get("04_layerwise_retrieval") or {}).get("feature_map")
    if not fmap or not fmap.get("maps"):
        return ""
    look = fmap.get("look") or "look"
    columns = (("silhouette (features)", "silhouette_feature"),
               ("k-NN class agreement (%)", "knn_class_agreement"),
               ("class chance (%)", "knn_chance"),
               (f"k-NN {look} agreement (%)", "knn_look_agreement"),
               (f"{look} chance (%)", "knn_look_chance"),
               ("trustworthiness", "trustworthiness"))
    rows = [(_e(init), *(_num(m.get(key), percent="%" in name, digits=1 if "%" in name
                                                                   else 2)
                          for name, key in columns)) for init, m in fmap["maps"].items()]
    k = (fmap.get("parameters") or {}).get("k", "")
    return (f"<h3>A map of the feature space (notebook 04)</h3><p class=note>Video-level "
            f"features of the test videos at {_e(fmap.get('layer', ''))} of "
            f"{_e(fmap.get('network', ''))}, placed in 2-D by {_e(fmap.get('method', ''))}; "
            f"coloured by class, marked by {_e(look)}. The figures are measured in the "
            f"features themselves (cosine): the share of each video's {_e(k)} nearest "
            "test videos of its class (or look), beside chance (neighbours drawn at random); "
            "trustworthiness says how far the map's neighbourhoods are the features'.</p>"
            + _figure(viz.feature_map_plot(fmap["maps"], look=fmap.get("look")))
            + _table(("init", *(name for name, _ in columns)), rows))


def _saliency(r: Mapping) -> str:
    sal = (r.get("05_finetuning") or {}).get("saliency")
    nets = (sal or {}).get("networks") or {}
    if not nets:
        return ""
    if "skipped" in nets:
        return ("<h3>Where the network looks (notebook 05)</h3><p class=note>Not measured: "
                f"{_e(nets['skipped'])}.</p>")
    rows = [(_e(name), _num(v["inside_fraction"], True), _num(v["mask_area_fraction"], True),
             _num(v.get("ratio"), digits=2), _e(v.get("videos", "")))
            for name, v in nets.items()]
    return ("<h3>Where the network looks (notebook 05)</h3><p class=note>Grad-CAM on "
            f"{_e(sal.get('stage', ''))} of {_e(sal.get('arch', ''))}, for the true order "
            "(order networks) or the true class (action networks), on test tuples; the share "
            "of each clip's saliency inside the moving object's mask (from the synthetic "
            "set's ground truth), beside the mask's share of the frame: what saliency spread "
            "evenly would give.</p>"
            + _table(("network", "inside the mask (%)", "chance: mask area (%)",
                      "ratio to chance", "videos"), rows))


def _views(r: Mapping) -> str:
    """The views beyond the paper (notebooks 03, 04 and 05), where they ran."""
    parts = [part for part in (_order_game(r), _feature_map(r), _saliency(r))
             if part]
    if not parts:
        return ""
    return ("<h2>Beyond the paper: the learner, where the network looks, the feature space"
            "</h2>" + "\n".join(parts))


def _time_section(r: Mapping) -> str:
    nbs = r.get("notebooks", {})
    rows = [(name, _e("ran" if s.get("ok") else f"failed: {s.get('error', '')}"),
             f"{s.get('seconds', 0) / 60:.1f}", _e(s.get("skipped", "")))
            for name, s in nbs.items()]
    out = ["<h2>Where the time went</h2>", _table(("notebook", "status", "minutes", "note"),
                                                  rows)]
    runs = r.get("runs") or []
    if runs:
        rows = [(_e(run["name"]), _e(run["kind"]), f"{run.get('minutes') or 0:.1f}",
                 _e(run.get("epochs_run", "")), _e(run.get("videos_left_out", "")),
                 "<span class=clock>stopped by the clock</span>" if run.get("stopped_by_clock")
                 else "") for run in runs]
        out.append("<p class=note>Every run of the reproduction, with its own training and "
                   "testing minutes (a run reused from an earlier reproduction shows the "
                   "minutes it took then), and the bad videos it left out before training or "
                   "skipped while reading (named in the run folder's "
                   "<code>bad_videos.json</code> and "
                   "<code>videos_failed_while_reading.jsonl</code>).</p>")
        out.append(_table(("run", "kind", "minutes", "epochs", "videos left out", ""), rows))
    return "\n".join(out)


def _environment(r: Mapping) -> str:
    run = r.get("run", {})
    env = run.get("environment", {})
    rows = [(_e(k), _e(v)) for k, v in env.items()]
    rows += [(f"data: {_e(role)}", _e(src)) for role, src in (run.get("datasets") or {}).items()]
    rows += [("profile", _e(run.get("profile"))), ("device", _e(run.get("device"))),
             ("started", _e(run.get("started"))), ("finished", _e(run.get("finished")))]
    prof = run.get("profile_settings", {})
    return ("<h2>Environment</h2>" + _table(("", ""), rows) + "<p class=note>Profile values: "
            + _e(json.dumps(prof)) + "</p>")


def render(results: Mapping) -> str:
    """The report page (HTML text) of a ``results.json``."""
    claims = results.get("claims") or check_claims(results)
    run = results.get("run", {})
    held = sum(c["held"] is True for c in claims.values())
    ran = sum(c["held"] is not None for c in claims.values())
    head = (f"<h1>vcop-lab reproduction: {_e(run.get('profile', '?'))} profile</h1>"
            f"<p>{held} of {ran} claims with a verdict held ({len(claims) - ran} not measured: "
            "their notebook did not run, or this budget cannot decide them). Every "
            "figure comes from this run's <code>results.json</code>; the paper's are shaded. "
            "On the synthetic set the figures teach the method; they are not the paper's "
            "dataset.</p>")
    body = [head, _claims_section(claims), _table_i(results), _table_ii_iv(results),
            _table_v(results), _table_vi(results), _figures(results), _views(results),
            _time_section(results), _environment(results)]
    return ("<!DOCTYPE html><html><head><meta charset=utf-8><title>vcop-lab report</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>")


def build_report(folder: str | Path) -> Path:
    """Write ``folder/report.html`` from ``folder/results.json``; returns its path."""
    folder = Path(folder)
    path = folder / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VcopError("no results.json here", path,
                        "pass the folder of a `vcop-lab reproduce --out DIR` run") from None
    except ValueError as exc:
        raise VcopError(f"results.json is not valid JSON ({exc})", path,
                        "run the reproduction again to rewrite it") from None
    return write_text_atomic(folder / REPORT_NAME, render(results))
