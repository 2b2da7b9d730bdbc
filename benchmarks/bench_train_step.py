"""Benchmark one training step of the order-prediction network, and the data path against it.

Part 1, compute: clips per second and peak memory of forward + backward + SGD step for each
backbone (c3d, r3d, r21d) at

* ``teaching`` size: width 0.25, clips of 8x56x56, batch of 16 tuples of 3 clips;
* ``paper`` size: width 1.0, clips of 16x112x112, batch of 8 tuples of 3 clips (on a CPU a
  step takes tens of seconds, so only a couple of steps are timed);

in fp32 with the default memory layout against ``channels_last_3d``, and on CUDA also with
mixed precision (fp16 autocast + GradScaler). Each case runs in a fresh subprocess on random
tensors; peak memory is ``torch.cuda.max_memory_allocated`` on CUDA and otherwise the growth
of the process's peak resident set (``ru_maxrss``) from just before the model is built.

Part 2, data path vs compute (teaching profile, synthetic set, r3d): the training loop of
:func:`vcop_lab.train.fit` (``OrderTupleDataset`` -> ``make_loader`` with 2 workers ->
``order_step`` -> backward -> SGD, workers starting cold as at the start of training)
against forward + backward + step alone on as many batches held in memory, timed before and
after the loop. Ratio target: <= 2 (the data path must not be the bottleneck).

Examples::

    python benchmarks/bench_train_step.py            # all cases (paper size: ~10 min on 2 cores)
    python benchmarks/bench_train_step.py --quick    # teaching size only, fewer steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common  # puts the repository on sys.path
import torch
import torch.nn.functional as F

SIZES = {
    "teaching": {"width": 0.25, "frames": 8, "crop": 56, "batch": 16},
    "paper": {"width": 1.0, "frames": 16, "crop": 112, "batch": 8},
}
ARCHS = ("c3d", "r3d", "r21d")
TL = 3


def _child(case: dict) -> dict:
    """Run one case in this process and return its measurements."""
    from vcop_lab.pretrain import build_order_model

    device = torch.device(case["device"])
    cuda = device.type == "cuda"
    size = {**SIZES[case["size"]], "batch": case["batch"]}
    torch.manual_seed(0)
    rss_before = common.peak_rss_bytes()
    model = build_order_model(case["arch"], size["width"], TL).to(device)
    if case["layout"] == "channels_last_3d":
        model = model.to(memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    amp = case["precision"] == "amp"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    shape = (size["batch"], TL, 3, size["frames"], size["crop"], size["crop"])
    tuples = torch.rand(shape, device=device)
    labels = torch.randint(0, 6, (size["batch"],), device=device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(tuples), labels)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if cuda:
            torch.cuda.synchronize(device)

    for _ in range(case["warmup"]):
        step()
    times = []
    for _ in range(case["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    best = min(times)
    peak = (torch.cuda.max_memory_allocated(device) if cuda
            else common.peak_rss_bytes() - rss_before)
    return {**case, "step_times_s": times, "best_step_s": best,
            "median_step_s": sorted(times)[len(times) // 2],
            "clips_per_s": size["batch"] * TL / best, "peak_memory_bytes": peak,
            "memory_kind": "cuda max_memory_allocated" if cuda else "ru_maxrss growth",
            "threads": torch.get_num_threads()}


def _run_case(case: dict, timeout: float) -> dict:
    """One case in a fresh subprocess, so that memory peaks do not mix."""
    cmd = [sys.executable, __file__, "--child", json.dumps(case)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**case, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode:
        return {**case, "error": done.stderr.strip().splitlines()[-1:] or "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def compute_cases(args) -> list[dict]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    variants = [("fp32", "contiguous"), ("fp32", "channels_last_3d")]
    if device == "cuda":
        variants.append(("amp", "channels_last_3d"))
    cases = []
    for size in args.sizes:
        warmup, steps = (1, args.paper_steps) if size == "paper" else (1, args.steps)
        if device == "cuda":
            warmup, steps = 3, max(args.steps, 10)
        for arch in args.archs:
            for precision, layout in variants:
                cases.append({"size": size, "arch": arch, "precision": precision,
                              "layout": layout, "device": device, "warmup": warmup,
                              "steps": steps, "batch": min(SIZES[size]["batch"], args.batch)})
    return cases


def data_vs_compute(args) -> dict:
    """The fit() loop with the DataLoader against the same steps on tensors in memory."""
    from vcop_lab.data.datasets import EpochSampler, OrderTupleDataset
    from vcop_lab.pretrain import build_order_model, order_step
    from vcop_lab.profiles import TEACHING as P
    from vcop_lab.train import make_loader

    preset = "smoke" if args.quick else "teaching"
    batch_size = min(P.batch_size, args.batch)
    limit = max(args.limit, batch_size) if args.limit else None  # at least one full batch
    records, root = common.synthetic_records(args.synthetic, preset, limit)
    dataset = OrderTupleDataset(records, root, P.setting, P.resize, P.crop, train=True,
                                backend="auto", seed=0, crop_per=P.crop_per)
    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build_order_model(P.arch, P.width, dataset.setting.tl)
    opt = torch.optim.SGD(model.parameters(), lr=P.lr, momentum=P.momentum,
                          weight_decay=P.weight_decay)

    def train_step(batch) -> None:
        loss, _, _ = order_step(model, batch, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def batches(epoch: int, count: int, skip: int = 0):
        """``count`` batches from a fresh loader (its workers start with empty caches, as at
        the start of training), each yielded with the seconds since the previous one."""
        sampler = EpochSampler(len(dataset), seed=0)
        loader = make_loader(dataset, batch_size, sampler, args.data_workers, device,
                             drop_last=True)
        done, t_prev = 0, time.perf_counter()
        while done < count + skip:
            sampler.set_epoch(epoch)
            got = 0
            for batch in loader:
                got += 1
                yield (done >= skip), batch, t_prev
                t_prev = time.perf_counter()
                done += 1
                if done == count + skip:
                    break
            if not got:
                raise SystemExit("no full batch: use more videos")
            epoch += 1

    def compute_alone(held) -> float:
        t0 = time.perf_counter()
        for batch in held:
            train_step(batch)
        return time.perf_counter() - t0

    # The same number of batches (other tuples) held in memory, for compute alone, timed
    # before and after the training loop so that a change of load in between averages out.
    held = [batch for _, batch, _ in batches(1000, args.batches)]
    before = compute_alone(held)
    loop = 0.0
    for timed, batch, t_prev in batches(0, args.batches, args.skip):
        train_step(batch)
        if timed:  # the wait for the batch plus its step, as inside fit()
            loop += time.perf_counter() - t_prev
    after = compute_alone(held)
    compute = (before + after) / 2
    return {"profile": "teaching", "arch": P.arch, "width": P.width, "setting": P.setting,
            "batch": batch_size, "workers": args.data_workers, "videos": len(records),
            "batches_timed": args.batches, "batches_skipped": args.skip,
            "loop_s_per_batch": loop / args.batches,
            "compute_s_per_batch": compute / args.batches,
            "compute_before_after_s": [before, after], "ratio": loop / compute,
            "target_ratio": 2.0, "threads": torch.get_num_threads(),
            "note": "loop = DataLoader (workers start cold) + step, as in fit(); "
                    "compute = the same steps on batches held in memory"}


COLUMNS = [("size", "size", "{}"), ("arch", "arch", "{}"), ("precision", "precision", "{}"),
           ("layout", "layout", "{}"), ("best_step_s", "s/step", "{:.3f}"),
           ("clips_per_s", "clips/s", "{:.1f}"), ("peak_mib", "peak MiB", "{:.0f}"),
           ("vs_fp32", "x fp32 contiguous", "{:.2f}")]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="teaching size only, 2 timed steps, 6 batches of data path")
    parser.add_argument("--limit", type=int,
                        help="tiny run (meaningless figures): the first N archs, N steps, "
                        "batches of N tuples")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES))
    parser.add_argument("--archs", nargs="+", choices=ARCHS, default=list(ARCHS))
    parser.add_argument("--steps", type=int, help="timed steps at teaching size (default 5)")
    parser.add_argument("--paper-steps", type=int, default=2, help="timed steps at paper size")
    parser.add_argument("--batches", type=int, help="timed batches of the data path part")
    parser.add_argument("--data-workers", type=int, default=2)
    parser.add_argument("--skip-data", action="store_true", help="leave out part 2")
    parser.add_argument("--synthetic", type=Path, help="synthetic data folder")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per case")
    parser.add_argument("--out", type=Path, help="JSON path (default results/train_step.json)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return {}
    args.sizes = args.sizes or (["teaching"] if args.quick else ["teaching", "paper"])
    args.steps = args.steps or (2 if args.quick else 5)
    args.batches = args.batches or (6 if args.quick else 16)
    args.skip = 2  # the first batches wait for the workers to start
    args.batch = args.limit or 10**6
    if args.limit:
        args.archs = args.archs[: args.limit]
        args.steps = args.paper_steps = min(args.steps, args.limit)
        args.batches = min(args.batches, args.limit)
        args.skip = 1
    load_before = list(os.getloadavg())
    rows = []
    for case in compute_cases(args):
        row = _run_case(case, args.timeout)
        rows.append(row)
        if "error" in row:
            print(f"{case['size']} {case['arch']} {case['layout']}: {row['error']}")
            continue
        row["peak_mib"] = row["peak_memory_bytes"] / 2**20
        ref = next((r for r in rows if r["size"] == row["size"] and r["arch"] == row["arch"]
                    and r["precision"] == "fp32" and r["layout"] == "contiguous"
                    and "error" not in r), None)
        row["vs_fp32"] = ref["best_step_s"] / row["best_step_s"] if ref else None
        print(common.table([row], COLUMNS).splitlines()[-1], flush=True)
    data = None if args.skip_data else data_vs_compute(args)
    load_after = list(os.getloadavg())
    print("\n" + common.table([r for r in rows if "error" not in r], COLUMNS))
    if data:
        print(f"\ndata path vs compute ({data['profile']}, {data['arch']}, batch "
              f"{data['batch']}, {data['workers']} workers): {data['loop_s_per_batch']:.3f} "
              f"s/batch with the DataLoader, {data['compute_s_per_batch']:.3f} s/batch "
              f"compute alone: ratio {data['ratio']:.2f} (target <= 2)")
    note = common.load_note(load_before, load_after)
    print(note)
    result = {"benchmark": "train_step", "config": vars(args) | {"synthetic": str(args.synthetic)},
              "machine": common.machine(), "load_note": note, "compute": rows,
              "data_vs_compute": data}
    path = common.write_json("train_step", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
