"""Benchmark the loader's CPU time per paper-size tuple: float clips (before) against uint8
clips made float on the device (after), side by side, split into decoding and the rest.

Setting: the paper profile's 16-8-3 tuples, frames resized to 128x171, crop 112, one crop
per clip, batch 8. For every batch of the same sampler, both paths read the same tuples in
the main process (one thread), alternating which goes first:

* ``before``: the transform as it was, each clip cropped, made contiguous and converted to
  float32 in [0, 1] on the CPU, then stacked and collated (7 MB per tuple);
* ``after``: :class:`vcop_lab.data.datasets.OrderTupleDataset` as training uses it, which
  hands over uint8 crops, channels last (1.8 MB per tuple); the float conversion happens in
  the training step on the device
  (:func:`vcop_lab.data.transforms.to_network_input`).

Each tuple's CPU time (``time.process_time``) is split into *decode* (reading the frames:
FFmpeg decoding, colour conversion and resizing, stacking the frames; the same code in both
paths), *transform* (crops, layout, float conversion, stacking the tuple) and *collate* (the
tuple's share of batching). The run also checks that ``to_network_input`` of the after batch
equals the before batch bit for bit, and times that conversion on this CPU (where training on
a CPU pays it, inside the step; on a GPU the device does it).

Then both paths run through the training DataLoader (``make_loader``, ``--workers``
processes), where the bytes also go through shared memory between processes: CPU time per
tuple of the workers (in parallel) and of the main process (one serial stage: it receives
every batch and, on a GPU machine, copies it into pinned memory; here a copy into a buffer
kept from batch to batch stands in for that).

Data: (a) the real clips of ``../shared/realdata/videos`` (skipped when absent; clips shorter
than a tuple are left out) and (b) a synthetic set at the training size, 128x171: the ``main``
style rendered at 128x172 (4:2:0 H.264 needs even sizes) and re-encoded to 128x171 by
:func:`vcop_lab.data.reencode.reencode_dataset`, generated once into the temp folder.
Every video is indexed first, so reads seek as they do after the first epoch.

Examples::

    python benchmarks/bench_loader_cpu.py                  # both sets, 96 tuples each
    python benchmarks/bench_loader_cpu.py --quick          # 24 tuples each
    python benchmarks/bench_loader_cpu.py --datasets synthetic --synthetic DIR
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

import common  # puts the repository on sys.path
import torch
from torch.utils.data import default_collate

from vcop_lab.data import sampling, video
from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
from vcop_lab.data.transforms import crop_box, to_network_input
from vcop_lab.profiles import PAPER
from vcop_lab.train import close_loader, make_loader

SYNTHETIC_128x171 = Path(tempfile.gettempdir()) / "vcop_lab_bench_synthetic_128x171"
PATHS = ("before", "after")


def float_clip(frames: torch.Tensor, top: int, left: int, crop: int) -> torch.Tensor:
    """The transform as it was: crop uint8 frames (T, H, W, 3) into a float clip
    (3, T, crop, crop) in [0, 1], on the CPU."""
    clip = frames[:, top:top + crop, left:left + crop, :]
    return clip.permute(3, 0, 1, 2).contiguous().float().div_(255.0)


class _TimedDecode:
    """Adds up the CPU seconds a dataset spends reading frames (decoder, colour conversion,
    resizing, stacking the frames)."""

    decode_s = 0.0

    def _frames(self, rec, indices):
        t0 = time.process_time()
        try:
            return super()._frames(rec, indices)
        finally:
            self.decode_s += time.process_time() - t0


class AfterDataset(_TimedDecode, OrderTupleDataset):
    """The training dataset as it is: uint8 crops."""


class BeforeDataset(_TimedDecode, OrderTupleDataset):
    """The training dataset with the float transform it had: the same tuples, orders and
    crops (same seed), float clips."""

    def _item(self, index: int):
        i, rng = self._split_index(index)
        rec, s = self.records[i], self.setting
        start = sampling.train_start(rec.num_frames, s, rng)
        label = sampling.draw_permutation(s.tl, rng)
        frames = self._frames(rec, sampling.tuple_frame_indices(start, s))
        height, width = frames.shape[1:3]
        box = crop_box(height, width, self.crop, rng)
        clips = []
        for c in range(s.tl):
            if self.crop_per == "clip":
                box = crop_box(height, width, self.crop, rng)
            clips.append(float_clip(frames[c * s.cl:(c + 1) * s.cl], *box, self.crop))
        return torch.stack([clips[j] for j in self.orders[label]]), label, i


def _dataset(cls, records, root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # videos shorter than a tuple are skipped: fine here
        return cls(records, root, PAPER.setting, PAPER.resize, PAPER.crop, train=True,
                   backend="pyav", seed=0, crop_per=PAPER.crop_per)


def _time_batch(dataset, indices: list[int]) -> tuple[dict, tuple]:
    """CPU seconds of one batch (decode, transform, collate, total) and the batch."""
    decode0, t0 = dataset.decode_s, time.process_time()
    items = [dataset[i] for i in indices]
    t1 = time.process_time()
    batch = default_collate(items)
    t2 = time.process_time()
    decode = dataset.decode_s - decode0
    return {"decode": decode, "transform": t1 - t0 - decode, "collate": t2 - t1,
            "total": t2 - t0}, batch


def _batches(n: int, tuples: int, batch: int) -> list[list[int]]:
    """Sampler indices for about ``tuples`` tuples, in whole batches, over epochs as needed."""
    sampler, out, epoch = EpochSampler(n, seed=0), [], 0
    while sum(map(len, out)) < tuples:
        sampler.set_epoch(epoch)
        order = list(sampler)
        out += [order[k:k + batch] for k in range(0, len(order), batch)]
        epoch += 1
    return out[:-(-tuples // batch)]


def measure(name: str, records, root, tuples: int, batch: int) -> dict:
    """Both paths over the same batches of one data set; ms per tuple."""
    datasets = {"before": _dataset(BeforeDataset, records, root),
                "after": _dataset(AfterDataset, records, root)}
    used = datasets["after"].records
    if not used:
        raise SystemExit(f"{name}: no video is long enough for a {PAPER.setting} tuple")
    for rec in used:  # index every video: reads seek, as after the first epoch
        video.probe(rec.full_path(root), "pyav")
    plan = _batches(len(used), tuples, batch)
    for path in PATHS:  # untimed: first-call costs (imports, allocator, scaler set-up)
        _time_batch(datasets[path], plan[0])
    sums = {path: dict.fromkeys(("decode", "transform", "collate", "total"), 0.0)
            for path in PATHS}
    convert, identical, count = 0.0, True, 0
    for k, indices in enumerate(plan):
        got = {}
        for path in (PATHS if k % 2 == 0 else PATHS[::-1]):  # neither always goes first
            times, got[path] = _time_batch(datasets[path], indices)
            for key, value in times.items():
                sums[path][key] += value
        t0 = time.process_time()
        as_input = to_network_input(got["after"][0])
        convert += time.process_time() - t0
        identical &= torch.equal(as_input, got["before"][0])
        count += len(indices)
    per = {path: {key: 1000 * v / count for key, v in sums[path].items()} for path in PATHS}
    item = {path: got[path][0][0].nbytes for path in PATHS}
    return {
        "dataset": name, "videos": len(used), "tuples": count, "batch": batch,
        "ms_per_tuple": per,
        "ratio_after_over_before": per["after"]["total"] / per["before"]["total"],
        "transform_and_collate_ratio_after_over_before":
            (per["after"]["transform"] + per["after"]["collate"])
            / (per["before"]["transform"] + per["before"]["collate"]),
        "decode_share_after": per["after"]["decode"] / per["after"]["total"],
        "bytes_per_tuple": item,
        "to_network_input_ms_per_tuple_on_this_cpu": 1000 * convert / count,
        "network_input_identical": bool(identical),
    }


def _loader_cpu(dataset, tuples: int, batch: int, workers: int) -> dict[str, float]:
    """CPU seconds per tuple of the training DataLoader (``make_loader``) with ``workers``
    worker processes: ``workers`` (theirs, start-up included) and ``main`` (the main
    process: receiving each batch from shared memory and copying it once into a buffer kept
    from batch to batch, as the pinning thread copies it into pinned memory on a GPU
    machine). The workers run in parallel; the main process is one serial stage that caps
    the batches per second whatever the number of workers."""
    epochs = -(-tuples // len(dataset))
    sampler = EpochSampler(len(dataset), seed=0)
    loader = make_loader(dataset, batch, sampler, workers, torch.device("cpu"))
    buffers: dict[tuple, torch.Tensor] = {}  # as the pinned-memory allocator caches blocks
    children, own, n = _children_cpu(), time.process_time(), 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for clips, labels, _ in loader:
            key = (tuple(clips.shape), clips.dtype)
            buffers.setdefault(key, torch.empty_like(clips)).copy_(clips)
            n += labels.numel()
    main = time.process_time() - own
    close_loader(loader)  # joins the workers, so that their CPU time is counted
    return {"workers": (_children_cpu() - children) / n, "main": main / n}


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def measure_loader(records, root, tuples: int, batch: int, workers: int) -> dict:
    """Both paths through the DataLoader with ``workers`` workers (one after the other,
    each twice, alternating); ms per tuple, the workers' and the main process's."""
    runs: dict[str, list[dict]] = {}
    for path, cls in (("before", BeforeDataset), ("after", AfterDataset),
                      ("after", AfterDataset), ("before", BeforeDataset)):
        cpu = _loader_cpu(_dataset(cls, records, root), tuples, batch, workers)
        runs.setdefault(path, []).append({k: 1000 * v for k, v in cpu.items()})
    per = {path: {k: sum(r[k] for r in rs) / len(rs) for k in ("workers", "main")}
           for path, rs in runs.items()}
    for ms in per.values():
        ms["total"] = ms["workers"] + ms["main"]
    return {"workers": workers, "ms_per_tuple": per, "runs_ms_per_tuple": runs,
            "ratio_after_over_before": per["after"]["total"] / per["before"]["total"],
            "main_ratio_after_over_before": per["after"]["main"] / per["before"]["main"]}


def synthetic_128x171(folder: Path | None, limit: int | None) -> tuple[list, Path]:
    """(train records, data root) of a synthetic set at 128x171: ``folder`` when given, else
    one made once into the temp folder (``main`` style, 2 training videos per class, 96
    frames, rendered at 128x172, re-encoded to 128x171)."""
    if folder is not None:
        return common.synthetic_records(folder, "smoke", limit)
    from vcop_lab.data.reencode import reencode_dataset
    from vcop_lab.data.synthetic import SynthConfig, generate_style, is_complete

    cfg = SynthConfig(train_per_class=2, test_per_class=1, frames=96, height=128, width=172)
    rendered = SYNTHETIC_128x171 / "rendered_128x172"
    if not is_complete(rendered, "main", cfg):
        generate_style(rendered, "main", cfg, workers=os.cpu_count() or 1, progress=False)
    manifest = reencode_dataset(rendered / "manifest.csv", SYNTHETIC_128x171 / "main",
                                size=PAPER.resize, workers=os.cpu_count() or 1,
                                progress=False)  # reuses files already re-encoded
    return common.synthetic_records(manifest.parent, "smoke", limit)


COLUMNS = [("dataset", "data", "{}"), ("videos", "videos", "{}"), ("tuples", "tuples", "{}"),
           ("decode", "decode ms", "{:.2f}"),
           ("before_transform", "transform ms before", "{:.2f}"),
           ("after_transform", "after", "{:.2f}"),
           ("before_collate", "collate ms before", "{:.2f}"),
           ("after_collate", "after", "{:.2f}"),
           ("before_total", "total ms before", "{:.2f}"), ("after_total", "after", "{:.2f}"),
           ("ratio", "after/before", "{:.2f}"), ("decode_share", "decode share after", "{:.0%}"),
           ("convert", "to_network_input ms (CPU)", "{:.2f}")]


def _row(r: dict) -> dict:
    before, after = r["ms_per_tuple"]["before"], r["ms_per_tuple"]["after"]
    return {"dataset": r["dataset"], "videos": r["videos"], "tuples": r["tuples"],
            "decode": (before["decode"] + after["decode"]) / 2,
            "before_transform": before["transform"], "after_transform": after["transform"],
            "before_collate": before["collate"], "after_collate": after["collate"],
            "before_total": before["total"], "after_total": after["total"],
            "ratio": r["ratio_after_over_before"], "decode_share": r["decode_share_after"],
            "convert": r["to_network_input_ms_per_tuple_on_this_cpu"]}


def _loader_line(r: dict) -> str:
    before, after = r["ms_per_tuple"]["before"], r["ms_per_tuple"]["after"]
    return (f"through the DataLoader with {r['workers']} workers, CPU ms per tuple: workers "
            f"{before['workers']:.2f} -> {after['workers']:.2f}, main process "
            f"{before['main']:.2f} -> {after['main']:.2f} "
            f"(x{r['main_ratio_after_over_before']:.2f}), all {before['total']:.2f} -> "
            f"{after['total']:.2f} "
            f"(x{r['ratio_after_over_before']:.2f})")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="24 tuples per data set")
    parser.add_argument("--tuples", type=int, help="tuples per data set (default 96)")
    parser.add_argument("--batch", type=int, default=PAPER.batch_size)
    parser.add_argument("--limit", type=int, help="use only the first N videos of each set")
    parser.add_argument("--workers", type=int, default=2,
                        help="also time the DataLoader with this many workers (0: skip)")
    parser.add_argument("--datasets", nargs="+", default=["real", "synthetic"],
                        choices=["real", "synthetic"])
    parser.add_argument("--synthetic", type=Path,
                        help="a synthetic data folder to use instead of the 128x171 one")
    parser.add_argument("--out", type=Path, help="JSON path (default results/loader_cpu.json)")
    args = parser.parse_args(argv)
    tuples = args.tuples or (24 if args.quick else 96)
    # One thread, as a DataLoader worker has.
    torch.set_num_threads(1)
    load_before = list(os.getloadavg())
    results, skipped = [], {}
    for name in args.datasets:
        if name == "real":
            if not (common.REALDATA / "clips.csv").exists():
                skipped[name] = f"no real clips at {common.REALDATA}"
                print(f"skipped the real clips: {skipped[name]}")
                continue
            records, root = common.real_records(limit=args.limit), common.REALDATA
        else:
            records, root = synthetic_128x171(args.synthetic, args.limit)
        print(f"\n== {name} ({len(records)} videos), {PAPER.setting}, "
              f"{PAPER.resize[0]}x{PAPER.resize[1]}, crop {PAPER.crop}", flush=True)
        results.append(measure(name, records, root, tuples, args.batch))
        print(common.table([_row(results[-1])], COLUMNS), flush=True)
        if args.workers:
            loader = measure_loader(records, root, tuples, args.batch, args.workers)
            results[-1]["through_loader"] = loader
            print(_loader_line(loader), flush=True)
    load_after = list(os.getloadavg())
    result = {
        "benchmark": "loader_cpu",
        "config": {"setting": PAPER.setting, "resize": PAPER.resize, "crop": PAPER.crop,
                   "crop_per": PAPER.crop_per, "batch": args.batch, "tuples": tuples,
                   "limit": args.limit, "datasets": args.datasets, "workers": args.workers},
        "machine": common.machine(),
        "load_note": common.load_note(load_before, load_after),
        "target": "after/before <= 1/3 of the CPU time per tuple",
        "results": results, "skipped": skipped,
    }
    if results:
        print("\n" + common.table([_row(r) for r in results], COLUMNS))
    print(result["load_note"])
    path = common.write_json("loader_cpu", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
