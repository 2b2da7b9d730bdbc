"""Benchmark the training data path: clip tuples per second out of the DataLoader.

For each data set (the real clips of ``../shared/realdata``, the synthetic set) and each
setting (``paper``: 16-8-3, frames resized to 128x171, crop 112, batch 8; ``teaching``:
8-4-3, 64x86, crop 56, batch 16), with 0 and 2 DataLoader workers, it times:

* ``baseline``: what the reference code does per tuple: decode the WHOLE video to RGB
  (PyAV, one thread), then per frame of the tuple a PIL image resized to the setting's size,
  cropped and turned into a tensor. Same sampler, same tuples, same DataLoader.
* ``ours-<backend>``: :class:`vcop_lab.data.datasets.OrderTupleDataset` with
  ``make_loader`` and ``EpochSampler``, as training uses them, for decord and PyAV.
  ``cold``: the first epoch of a run, when no worker has read any video yet (each read
  decodes from the start and indexes the video; worker start-up included). ``warm``: the
  steady state of a longer run, once every worker holds every video's frame index (here
  the main process indexes the videos before the workers start, and they inherit it; an
  untimed epoch first lets the workers start).
* ``floor``: the decoder alone on the same tuples: open the file, seek to the keyframe the
  index picks (or decode from the start), decode every frame up to the tuple's last one, no
  colour conversion, resizing, cropping, batching or inter-process copies. With ``W``
  workers it runs in ``W`` processes at once, so that it is scaled per worker by
  measurement, not by arithmetic.

Ratios: ``x baseline`` = our tuples/s over the baseline's (target >= 20 on the real clips at
16-8-3 with 2 workers); ``x floor`` = our time per tuple over the floor's (target <= 1.5).

Examples::

    python benchmarks/bench_loader.py                        # everything, a few minutes
    python benchmarks/bench_loader.py --quick                # fewer videos and epochs
    python benchmarks/bench_loader.py --synthetic /tmp/teach # an existing synthetic set
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import warnings
from pathlib import Path

import av
import common  # puts the repository on sys.path
import torch
import torchvision.transforms.functional as tf
from PIL import Image

from vcop_lab.data import sampling, video
from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
from vcop_lab.data.transforms import crop_box
from vcop_lab.data.video import frame_index, pyav_decode
from vcop_lab.profiles import PAPER, TEACHING
from vcop_lab.train import make_loader

SETTINGS = {
    "paper": {"setting": PAPER.setting, "resize": PAPER.resize, "crop": PAPER.crop,
              "batch": PAPER.batch_size, "crop_per": PAPER.crop_per},
    "teaching": {"setting": TEACHING.setting, "resize": TEACHING.resize, "crop": TEACHING.crop,
                 "batch": TEACHING.batch_size, "crop_per": TEACHING.crop_per},
}
CPU = torch.device("cpu")


class WholeVideoPILDataset(OrderTupleDataset):
    """The reference code's data path: whole-video decode, then PIL per frame.

    Draws exactly the tuples, orders and crops of :class:`OrderTupleDataset` (same seed)."""

    def __getitem__(self, index: int):
        i, rng = self._split_index(index)
        rec, s = self.records[i], self.setting
        start = sampling.train_start(rec.num_frames, s, rng)
        label = sampling.draw_permutation(s.tl, rng)
        with av.open(str(rec.full_path(self.root)), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        height, width = self.resize
        box = crop_box(height, width, self.crop, rng)
        clips = []
        for first in sampling.clip_starts(start, s):
            if self.crop_per == "clip":
                box = crop_box(height, width, self.crop, rng)
            top, left = box
            images = []
            for k in range(first, first + s.cl):
                image = Image.fromarray(frames[k]).resize((width, height), Image.BILINEAR)
                image = image.crop((left, top, left + self.crop, top + self.crop))
                images.append(tf.to_tensor(image))
            clips.append(torch.stack(images, dim=1))  # (3, T, crop, crop)
        order = self.orders[label]
        return torch.stack([clips[j] for j in order]), label, i


def _dataset(cls, records, root, cfg, backend: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # videos shorter than a tuple are skipped: fine here
        return cls(records, root, cfg["setting"], cfg["resize"], cfg["crop"], train=True,
                   backend=backend, seed=0, crop_per=cfg["crop_per"])


def _time_loader(dataset, cfg, workers: int, epochs: int, warmup: bool = False,
                 ) -> list[tuple[int, float]]:
    """(tuples, seconds) of each epoch through make_loader + EpochSampler; with ``warmup``
    an untimed epoch first, so that worker start-up is not counted."""
    sampler = EpochSampler(len(dataset), seed=0)
    loader = make_loader(dataset, cfg["batch"], sampler, workers, CPU)
    out = []
    if warmup:
        sampler.set_epoch(epochs)  # other tuples than the timed epochs
        for _ in loader:
            pass
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        t0, n = time.perf_counter(), 0
        for _, labels, _ in loader:
            n += labels.numel()
        out.append((n, time.perf_counter() - t0))
    del loader  # stops persistent workers
    return out


def _tuple_plan(dataset, epochs: int) -> list[tuple[str, list[int]]]:
    """The (video, frame indices) that the sampler makes the dataset read, in order."""
    sampler, plan = EpochSampler(len(dataset), seed=0), []
    s = dataset.setting
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for item in sampler:
            i, rng = dataset._split_index(item)
            rec = dataset.records[i]
            start = sampling.train_start(rec.num_frames, s, rng)
            indices = sampling.tuple_frame_indices(start, s).ravel().tolist()
            plan.append((str(rec.full_path(dataset.root)), indices))
    return plan


def floor_decode(path: str, indices: list[int]) -> int:
    """The decoder alone: seek where the frame index says (or start at the beginning) and
    decode every frame up to the last index, without converting any. Returns frames decoded.

    Uses the reader's own index so that it seeks to exactly the keyframe the reader would.
    """
    path_ = Path(path)
    index = frame_index._index_for(path_, path_.stat())
    lookup = index.pts_map()
    first, last = min(indices), max(indices)
    point = index.seek_point(first, lookup) if lookup is not None else None
    decoded = 0
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        if point is not None and point[0] > 0:
            for packet in pyav_decode._packets_from(container, stream, point[1]):
                for frame in packet.decode():
                    decoded += 1
                    if lookup.get(frame.pts) == last:
                        return decoded
        else:
            for position, _ in enumerate(container.decode(stream)):
                decoded += 1
                if position == last:
                    return decoded
    raise RuntimeError(f"frame {last} not reached in {path}")


def _floor_task(task: tuple[str, list[int]]) -> int:
    return floor_decode(*task)


def _time_floor(plan, processes: int) -> float:
    """Seconds for the floor decode of every tuple of ``plan`` in ``processes`` processes."""
    if processes <= 1:
        t0 = time.perf_counter()
        for task in plan:
            floor_decode(*task)
        return time.perf_counter() - t0
    with mp.get_context("fork").Pool(processes) as pool:  # forked: inherits the index
        pool.map(abs, range(processes))  # started before the clock runs
        t0 = time.perf_counter()
        pool.map(_floor_task, plan, chunksize=2)
        return time.perf_counter() - t0


def _warm(records, root, cfg, backends) -> None:
    """Index every video in this process, so that workers forked later inherit it."""
    for rec in records:
        path = rec.full_path(root)
        video.probe(path, "pyav")
        if "decord" in backends:  # decord's index holds CRCs at the decoded size
            video.read_frames(path, [rec.num_frames - 1], backend="decord",
                              size=cfg["resize"], num_frames=rec.num_frames)


def run_case(name, records, root, setting, args) -> list[dict]:
    cfg = SETTINGS[setting]
    rows = []
    # Enough warm epochs for about --tuples tuples per timed run.
    epochs = args.epochs or max(1, -(-args.tuples // len(records)))
    base = dict(dataset=name, setting=f"{setting} {cfg['setting']}")
    for workers in args.workers:
        ours = {}
        for backend in args.backends:
            ds = _dataset(OrderTupleDataset, records, root, cfg, backend)
            video.clear_frame_index_cache()
            (n, sec), = _time_loader(ds, cfg, workers, 1)
            ours[f"ours-{backend} cold"] = (n, sec)
            _warm(ds.records, root, cfg, [backend])
            timed = _time_loader(ds, cfg, workers, epochs, warmup=workers > 0)
            ours[f"ours-{backend} warm"] = (sum(e[0] for e in timed), sum(e[1] for e in timed))
        video.clear_frame_index_cache()
        ds = _dataset(OrderTupleDataset, records, root, cfg, "pyav")
        _warm(ds.records, root, cfg, [])
        plan = _tuple_plan(ds, epochs)
        floor_sec = _time_floor(plan, max(1, workers))
        baseline_ds = _dataset(WholeVideoPILDataset, records, root, cfg, "pyav")
        (bn, bsec), = _time_loader(baseline_ds, cfg, workers, 1)
        baseline_tps, floor_tps = bn / bsec, len(plan) / floor_sec
        rows.append({**base, "workers": workers, "method": "baseline (whole video + PIL)",
                     "tuples": bn, "seconds": bsec, "tps": baseline_tps, "x_baseline": 1.0})
        rows.append({**base, "workers": workers, "method": "floor (decoder alone)",
                     "tuples": len(plan), "seconds": floor_sec, "tps": floor_tps,
                     "x_baseline": floor_tps / baseline_tps, "x_floor": 1.0})
        for method, (n, sec) in ours.items():
            tps = n / sec
            rows.append({**base, "workers": workers, "method": method, "tuples": n,
                         "seconds": sec, "tps": tps, "x_baseline": tps / baseline_tps,
                         "x_floor": floor_tps / tps})
        print(common.table(rows[-2 - len(ours):], COLUMNS), flush=True)
    return rows


COLUMNS = [("dataset", "data", "{}"), ("setting", "setting", "{}"),
           ("workers", "workers", "{}"), ("method", "method", "{}"),
           ("tuples", "tuples", "{}"), ("tps", "tuples/s", "{:.1f}"),
           ("x_baseline", "x baseline", "{:.1f}"), ("x_floor", "x floor time", "{:.2f}")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="8 videos per data set, 24 tuples per timed run, the smoke "
                        "synthetic set")
    parser.add_argument("--limit", type=int, help="use only the first N videos of each set")
    parser.add_argument("--tuples", type=int,
                        help="tuples per timed run, in whole epochs (default 96, quick 24)")
    parser.add_argument("--epochs", type=int, help="timed warm epochs (overrides --tuples)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--backends", nargs="+", default=None,
                        help="default: decord (if it imports) and pyav")
    parser.add_argument("--datasets", nargs="+", default=["real", "synthetic"],
                        choices=["real", "synthetic"])
    parser.add_argument("--settings", nargs="+", default=["paper", "teaching"],
                        choices=list(SETTINGS))
    parser.add_argument("--synthetic", type=Path,
                        help="synthetic data folder (default: generate one in the temp folder)")
    parser.add_argument("--out", type=Path, help="JSON path (default results/loader.json)")
    args = parser.parse_args(argv)
    limit = args.limit or (8 if args.quick else None)
    # The main process reads too when there are no workers: give it one thread, as a worker
    # has; two OpenMP threads on two shared cores spin and wait for each other.
    torch.set_num_threads(1)
    args.tuples = args.tuples or (24 if args.quick else 96)
    args.backends = args.backends or video.available_backends()
    load_before = list(os.getloadavg())
    rows = []
    for name in args.datasets:
        if name == "real":
            records, root = common.real_records(limit=limit), common.REALDATA
        else:
            preset = "smoke" if args.quick else "teaching"
            records, root = common.synthetic_records(args.synthetic, preset, limit)
        for setting in args.settings:
            print(f"\n== {name} clips ({len(records)} videos), {setting} setting", flush=True)
            rows += run_case(name, records, root, setting, args)
    load_after = list(os.getloadavg())
    summary = {}
    for row in rows:
        if row["method"].endswith("warm"):
            key = f"{row['dataset']} {row['setting']} {row['workers']}w {row['method']}"
            summary[key] = {"tps": round(row["tps"], 2),
                            "x_baseline": round(row["x_baseline"], 2),
                            "x_floor": round(row["x_floor"], 2)}
    result = {
        "benchmark": "loader",
        "config": {"epochs": args.epochs, "tuples": args.tuples, "workers": args.workers,
                   "backends": args.backends,
                   "limit": limit, "settings": {s: SETTINGS[s] for s in args.settings},
                   "datasets": args.datasets, "quick": args.quick},
        "machine": common.machine(),
        "load_note": common.load_note(load_before, load_after),
        "targets": {"x_baseline": ">= 20 (real clips, paper setting, 2 workers)",
                    "x_floor": "<= 1.5"},
        "rows": rows,
        "summary": summary,
    }
    print("\n" + common.table(rows, COLUMNS))
    print(result["load_note"])
    path = common.write_json("loader", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
