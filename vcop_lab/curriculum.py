"""The paper's two curricula, and the frames-versus-clips experiment.

- Task-based: train tl=3, warm-start tl=4 from it, then tl=5 from tl=4, each compared
  with the same tl trained from scratch on the same data, epochs and seed
  (:func:`compare_task_curriculum`).
- Sample-based: after convergence, record each training video's probability of the correct
  order over K epochs, drop the videos that were right every time with probability above a
  threshold, and continue on the rest (:func:`sample_curriculum`), compared with continuing
  on all videos for the same number of epochs.
- Frames versus clips: the same order task with cl=1 (single frames, as earlier frame-order
  methods) against clips (:func:`frames_vs_clips`).

Every run goes through the run contract under ``runs`` (:mod:`vcop_lab.runs`): a run with
the same settings anywhere in the notebooks (the tl=3 run of notebook 02, say) is the same
folder and is read back instead of retrained.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from vcop_lab.checkpoint import load_checkpoint, order_model_from
from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
from vcop_lab.data.manifest import data_root, dataset_kind, load_manifest, train_val_split
from vcop_lab.data.sampling import Setting, parse_setting
from vcop_lab.evaluate.inference import collect
from vcop_lab.pretrain import pretrain
from vcop_lab.profiles import get_profile
from vcop_lab.runs import finished_metrics
from vcop_lab.runtime import pick_device
from vcop_lab.train import close_loader, make_loader


def with_tl(setting: str | Setting, tl: int) -> str:
    s = parse_setting(setting)
    return str(Setting(s.cl, s.it, tl))


def compare_task_curriculum(data, runs, base_checkpoint, tls=(4,), profile="teaching",
                            epochs=None, **kw) -> dict[int, dict]:
    """Each tl in ``tls`` warm-started from the previous stage, against the same tl from
    scratch, with the same data, seed, profile and epoch budget for that tl.

    ``base_checkpoint`` is the first stage (e.g. a tl=3 run's ``best.pt``); the curriculum
    arm additionally had that stage, as in the paper's Fig. 4. Returns
    ``{tl: {"curriculum": run, "scratch": run, "gain_points": ...}}``.
    """
    prof = get_profile(profile)
    base_setting = load_checkpoint(base_checkpoint)["meta"]["setting"]
    init, results = Path(base_checkpoint), {}
    for tl in tls:
        common = dict(data=data, runs=runs, profile=prof, setting=with_tl(base_setting, tl),
                      epochs=epochs, **kw)
        curriculum = pretrain(init=init, **common)
        scratch = pretrain(**common)
        results[tl] = {"curriculum": curriculum, "scratch": scratch, "gain_points":
                       100 * (curriculum["test_order_acc"] - scratch["test_order_acc"])}
        init = curriculum.checkpoint
    return results


def record_correct_probability(checkpoint, data, records, epochs: int, profile="teaching",
                               seed: int = 0, device=None, progress=True) -> torch.Tensor:
    """Softmax probability of the correct order for each video over ``epochs`` draws.

    Each draw is a fresh random training tuple (start, permutation, crop) per video, scored
    by the model in evaluation mode. Returns a tensor (len(records), epochs).
    """
    prof = get_profile(profile)
    model, meta = order_model_from(checkpoint)
    dev = pick_device(device)
    model.to(dev)
    dataset = OrderTupleDataset(records, data_root(data), parse_setting(meta["setting"]),
                                prof.resize, prof.crop, train=True, seed=seed + 7919,
                                crop_per=prof.crop_per)
    keep = {r.path: i for i, r in enumerate(records)}
    sampler = EpochSampler(len(dataset), shuffle=False)
    loader = make_loader(dataset, prof.batch_size, sampler, prof.num_workers, dev)
    probs = torch.zeros(len(records), epochs)

    def correct(tuples, batch):
        return {"prob": model(tuples).float().softmax(1).cpu().gather(1, batch[1][:, None])[:, 0],
                "video": batch[2]}

    for k in range(epochs):
        sampler.set_epoch(k)
        draw = collect(model, loader, dev, correct, progress, desc=f"recording {k + 1}/{epochs}")
        rows = [keep[dataset.records[int(i)].path] for i in draw["video"]]
        probs[rows, k] = draw["prob"]
    close_loader(loader)
    return probs


def sample_curriculum(data, runs, checkpoint, threshold=0.8, record_epochs=None,
                      extra_epochs=None, profile="teaching", seed=0, **kw) -> dict:
    """Drop the easy training videos of a converged model and continue on the hard ones.

    A video is easy when its correct order had probability above ``threshold`` in every one
    of the ``record_epochs`` draws (correct, since a probability above 0.5 is the argmax).
    Continues ``extra_epochs`` from ``checkpoint`` on the hard videos, and — the comparison
    arm — on all videos with the same budget, data and seed.
    """
    prof = get_profile(profile)
    record_epochs = record_epochs or prof.sample_epochs
    extra_epochs = extra_epochs or max(1, prof.epochs // 3)
    records = load_manifest(data)
    # the videos the pretraining run trained on (its hold-out is the dataset's)
    train, _ = train_val_split(records, prof.n_val_for(dataset_kind(data)), seed)
    meta = load_checkpoint(checkpoint)["meta"]
    span = parse_setting(meta["setting"]).span
    train = [r for r in train if r.num_frames >= span]
    probs = record_correct_probability(checkpoint, data, train, record_epochs, prof, seed,
                                       kw.get("device"), kw.get("progress", True))
    easy = (probs > threshold).all(dim=1)
    hard = [r for r, e in zip(train, easy.tolist(), strict=True) if not e]
    dropped = Counter(r.label for r, e in zip(train, easy.tolist(), strict=True) if e)
    common = dict(data=data, runs=runs, profile=prof, arch=meta["arch"],
                  setting=meta["setting"], seed=seed, init=checkpoint, epochs=extra_epochs,
                  **kw)
    hard_run = pretrain(records=hard, **common)
    all_run = pretrain(records=train, **common)
    base = finished_metrics(Path(checkpoint).parent) or {}
    return {"threshold": threshold, "record_epochs": record_epochs,
            "extra_epochs": extra_epochs, "train_videos": len(train),
            "dropped": int(easy.sum()), "kept": len(hard),
            "dropped_per_class": dict(sorted(dropped.items())),
            "mean_correct_probability": probs.mean(1).tolist(),
            "continue_on_hard": hard_run["test_order_acc"],
            "continue_on_all": all_run["test_order_acc"],
            "runs": {"hard": str(hard_run.dir), "all": str(all_run.dir)},
            "base": base.get("test_order_acc")}


def frames_vs_clips(data, runs, profile="teaching", **kw) -> dict:
    """The same order task on single frames (cl=1) and on clips, same frame starts.

    With clips of ``cl`` frames every ``cl + it``, the frame setting is ``1-(cl+it-1)-tl``:
    single frames at the clips' first frames. A single frame cannot show the direction of
    motion, so time-reversed classes (rise/fall) confuse an order with its reverse. The clip
    run is the profile's pretraining run (the same folder as notebook 02's).
    """
    prof = get_profile(profile)
    s = parse_setting(kw.pop("setting", prof.setting))
    frames_setting = Setting(1, s.cl + s.it - 1, s.tl)
    clips = pretrain(data, runs=runs, profile=prof, setting=str(s), **kw)
    frames = pretrain(data, runs=runs, profile=prof, setting=str(frames_setting), **kw)
    return {"clips": clips, "frames": frames, "clip_setting": str(s),
            "frame_setting": str(frames_setting)}


def reversed_pair_accuracy(metrics: dict, pairs) -> dict[str, float]:
    """Per-class order accuracy restricted to the classes of the time-reversed pairs."""
    per_class = metrics["per_class_order_acc"]
    return {c: per_class[c] for pair in pairs for c in pair if c in per_class}
