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

Every run writes its own folder; a run whose ``metrics.json`` exists is read back instead of
retrained, so notebooks can be re-run cheaply.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vcop_lab.checkpoint import load_checkpoint
from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
from vcop_lab.data.manifest import data_root, load_manifest, train_val_split
from vcop_lab.data.sampling import Setting, parse_setting
from vcop_lab.pretrain import build_order_model, pretrain
from vcop_lab.profiles import get_profile
from vcop_lab.runtime import pick_device
from vcop_lab.train import make_loader


def cached_pretrain(out: str | Path, **kw) -> dict:
    """``pretrain(out=out, **kw)`` unless ``out/metrics.json`` exists, then read it back."""
    done = Path(out) / "metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    return pretrain(out=out, **kw)


def with_tl(setting: str | Setting, tl: int) -> str:
    s = parse_setting(setting)
    return str(Setting(s.cl, s.it, tl))


def compare_task_curriculum(data, out_root, base_checkpoint, tls=(4,), profile="teaching",
                            epochs=None, **kw) -> dict[int, dict]:
    """Each tl in ``tls`` warm-started from the previous stage, against the same tl from
    scratch, with the same data, seed, profile and epoch budget for that tl.

    ``base_checkpoint`` is the first stage (e.g. a tl=3 run's ``best.pt``); the curriculum
    arm additionally had that stage, as in the paper's Fig. 4. Returns
    ``{tl: {"curriculum": metrics, "scratch": metrics, "gain_points": ...}}``.
    """
    prof = get_profile(profile)
    base_setting = load_checkpoint(base_checkpoint)["meta"]["setting"]
    out_root, init, results = Path(out_root), Path(base_checkpoint), {}
    for tl in tls:
        setting = with_tl(base_setting, tl)
        common = dict(data=data, profile=prof, setting=setting, epochs=epochs, **kw)
        curriculum = cached_pretrain(out_root / f"curriculum-tl{tl}", init=init, **common)
        scratch = cached_pretrain(out_root / f"scratch-tl{tl}", **common)
        results[tl] = {"curriculum": curriculum, "scratch": scratch, "gain_points":
                       100 * (curriculum["test_order_acc"] - scratch["test_order_acc"])}
        init = out_root / f"curriculum-tl{tl}" / "best.pt"
    return results


@torch.no_grad()
def record_correct_probability(checkpoint, data, records, epochs: int, profile="teaching",
                               seed: int = 0, device=None, progress=True) -> torch.Tensor:
    """Softmax probability of the correct order for each video over ``epochs`` draws.

    Each draw is a fresh random training tuple (start, permutation, crop) per video, scored
    by the model in evaluation mode. Returns a tensor (len(records), epochs).
    """
    prof = get_profile(profile)
    ckpt = load_checkpoint(checkpoint)
    meta = ckpt["meta"]
    s = parse_setting(meta["setting"])
    model = build_order_model(meta["arch"], meta["width"], s.tl)
    model.load_state_dict(ckpt["model"])
    dev = pick_device(device)
    model.to(dev).eval()
    dataset = OrderTupleDataset(records, data_root(data), s, prof.resize, prof.crop, train=True,
                                seed=seed + 7919, crop_per=prof.crop_per)
    probs = torch.zeros(len(records), epochs)
    keep = {r.path: i for i, r in enumerate(records)}
    sampler = EpochSampler(len(dataset), shuffle=False)
    loader = make_loader(dataset, prof.batch_size, sampler, prof.num_workers, dev)
    for k in tqdm(range(epochs), desc="recording", disable=not progress):
        sampler.set_epoch(k)
        for tuples, labels, index in loader:
            p = model(tuples.to(dev)).float().softmax(1).cpu()
            rows = [keep[dataset.records[int(i)].path] for i in index]
            probs[rows, k] = p.gather(1, labels[:, None]).squeeze(1)
    return probs


def sample_curriculum(data, out_root, checkpoint, threshold=0.8, record_epochs=None,
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
    out_root = Path(out_root)
    records = load_manifest(data)
    train, _ = train_val_split(records, prof.n_val, seed)
    meta = load_checkpoint(checkpoint)["meta"]
    span = parse_setting(meta["setting"]).span
    train = [r for r in train if r.num_frames >= span]
    probs = record_correct_probability(checkpoint, data, train, record_epochs, prof, seed,
                                       kw.get("device"))
    easy = (probs > threshold).all(dim=1)
    hard = [r for r, e in zip(train, easy.tolist()) if not e]
    dropped = Counter(r.label for r, e in zip(train, easy.tolist()) if e)
    common = dict(data=data, profile=prof, arch=meta["arch"], setting=meta["setting"],
                  seed=seed, init=checkpoint, epochs=extra_epochs, **kw)
    hard_run = cached_pretrain(out_root / "sample-hard", records=hard, **common)
    all_run = cached_pretrain(out_root / "sample-all", records=train, **common)
    result = {"threshold": threshold, "record_epochs": record_epochs,
              "extra_epochs": extra_epochs, "train_videos": len(train),
              "dropped": int(easy.sum()), "kept": len(hard),
              "dropped_per_class": dict(sorted(dropped.items())),
              "mean_correct_probability": probs.mean(1).tolist(),
              "continue_on_hard": hard_run["test_order_acc"],
              "continue_on_all": all_run["test_order_acc"],
              "base": json.loads((Path(checkpoint).parent / "metrics.json").read_text()
                                 )["test_order_acc"]
              if (Path(checkpoint).parent / "metrics.json").exists() else None}
    (out_root / "sample_curriculum.json").write_text(json.dumps(result, indent=1))
    return result


def frames_vs_clips(data, out_root, profile="teaching", clips_out=None, **kw) -> dict:
    """The same order task on single frames (cl=1) and on clips, same frame starts.

    ``clips_out`` may name an existing clip run (same data, profile and seed) to reuse.

    With clips of ``cl`` frames every ``cl + it``, the frame setting is ``1-(cl+it-1)-tl``:
    single frames at the clips' first frames. A single frame cannot show the direction of
    motion, so time-reversed classes (rise/fall) confuse an order with its reverse.
    """
    prof = get_profile(profile)
    s = parse_setting(kw.pop("setting", prof.setting))
    frames_setting = Setting(1, s.cl + s.it - 1, s.tl)
    clips = cached_pretrain(clips_out or Path(out_root) / f"clips-{s}", data=data,
                            profile=prof, setting=str(s), **kw)
    frames = cached_pretrain(Path(out_root) / f"frames-{frames_setting}", data=data,
                             profile=prof, setting=str(frames_setting), **kw)
    return {"clips": clips, "frames": frames, "clip_setting": str(s),
            "frame_setting": str(frames_setting)}


def reversed_pair_accuracy(metrics: dict, pairs) -> dict[str, float]:
    """Per-class order accuracy restricted to the classes of the time-reversed pairs."""
    per_class = metrics["per_class_order_acc"]
    return {c: per_class[c] for pair in pairs for c in pair if c in per_class}
