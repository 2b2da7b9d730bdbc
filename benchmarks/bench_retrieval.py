"""Benchmark the streaming nearest-neighbour search against the matmul floor and the naive one.

Three methods on the same random float32 features, each timed and measured in a fresh
subprocess so that one method's memory peak cannot hide another's:

* ``floor``: the compute floor, bare ``queries @ gallery.T`` in the same chunking as the
  streaming search (the same ``plan_chunks`` sizes, one reused output buffer) with no
  normalisation and no top-k. When the whole Q x G product fits in the memory budget, a
  single one-shot matmul (``floor_single``) is measured too; the faster of the two is the
  floor.
* ``ours``: :func:`vcop_lab.retrieval.topk_neighbours` (default 2 GiB memory budget).
* ``baseline``: :func:`vcop_lab.retrieval.full_matrix_baseline`, the full Q x G distance
  matrix and a full argsort of every row, as the reference code does; run only when its
  projected memory fits under ``--baseline-max-gib``, else its projection is reported.

Peak memory is the process's peak resident set size (VmHWM on Linux, memory-mapped pages
included; ``ru_maxrss`` elsewhere); "extra" is that peak
minus the resident size after loading the features, just before the first timed call.
Times are the best of ``--repeat`` calls (the median is in the JSON as well). Because other
work on a shared machine can slow one subprocess and not the next, the headline ratio to the
floor comes from one more subprocess that times ``floor`` and ``ours`` alternately.

``--ucf101-scale`` simulates UCF101 split 1 at clip level (Q = 37,830, G = 95,370,
D = 9216): the gallery (3.5 GB) is written to a memory-mapped ``.npy`` file and searched in
full, for real, but only ``--queries-subset`` queries are run (by default one full query
chunk of the plan, so the measured memory peak is a full run's); times for all Q queries
are extrapolated linearly and labelled so. The naive baseline is only projected there.

Examples::

    python benchmarks/bench_retrieval.py                      # Q=4000, G=12000, D=2048
    python benchmarks/bench_retrieval.py --ucf101-scale --queries-subset 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
UCF101_SPLIT1_CLIPS = {"queries": 37830, "gallery": 95370, "dim": 9216}
GIB = 2**30


def _peak_rss_bytes() -> int:
    """This process's peak resident set size, memory-mapped file pages included.

    Linux's VmHWM belongs to the process's own address space; ``ru_maxrss`` instead starts
    from the parent's peak when a process is forked and exec'd, which would charge the
    parent's memory (e.g. the feature files it wrote) to the measured method.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def baseline_projected_bytes(num_q: int, num_g: int, dim: int) -> int:
    """A lower bound on the naive search's memory: normalised copies, the float32 distance
    matrix and the int64 argsort indices (the sort's own workspace comes on top)."""
    return (num_q + num_g) * dim * 4 + num_q * num_g * (4 + 8)


# ----------------------------------------------------------------------------- data


def write_features(path: Path, rows: int, dim: int, seed: int, block: int = 4096) -> None:
    """Random float32 features written block by block into a ``.npy`` memory map."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        out[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
    out.flush()
    del out


# ----------------------------------------------------------------------------- worker


def _worker(method: str, spec: dict) -> dict:
    """Run one method ``spec["repeat"]`` times in this (fresh) process and report."""
    import torch

    try:
        from vcop_lab import retrieval
    except ImportError:  # run from a checkout without installing the package
        sys.path.insert(0, str(REPO))
        from vcop_lab import retrieval

    mmap = "r" if spec["mmap"] else None
    queries = np.load(spec["queries_path"], mmap_mode=mmap)[: spec["num_queries"]]
    gallery = np.load(spec["gallery_path"], mmap_mode=mmap)
    num_q, dim = queries.shape
    num_g = gallery.shape[0]
    k, budget = spec["k"], spec["budget"]
    chunk_q, chunk_g = retrieval.plan_chunks(spec["plan_queries"], num_g, dim, k, budget, 4)
    chunk_q = min(chunk_q, num_q)
    q_t, g_t = torch.from_numpy(queries), torch.from_numpy(gallery)

    def floor() -> None:
        buffer = torch.empty(chunk_q * chunk_g)
        for q0 in range(0, num_q, chunk_q):
            qc = q_t[q0 : q0 + chunk_q]
            for g0 in range(0, num_g, chunk_g):
                gc = g_t[g0 : g0 + chunk_g]
                out = buffer[: qc.shape[0] * gc.shape[0]].view(qc.shape[0], gc.shape[0])
                torch.matmul(qc, gc.T, out=out)

    def floor_single() -> None:
        torch.matmul(q_t, g_t.T)

    def ours():
        return retrieval.topk_neighbours(queries, gallery, k, memory_budget_bytes=budget)

    def baseline():
        return retrieval.full_matrix_baseline(queries, gallery, k)

    # Warm up MKL / OpenMP on a tiny problem so that their start-up is not timed.
    retrieval.topk_neighbours(torch.randn(64, 32), torch.randn(256, 32), 5)
    if method == "interleaved":
        # Floor and ours alternately in one process: the other load on a shared machine then
        # hits both alike, which makes their ratio trustworthy. Memory-mapped pages are read
        # once beforehand so that the first timed method does not pay for mapping them.
        for g0 in range(0, num_g, chunk_g):
            g_t[g0 : g0 + chunk_g].sum()
        pairs = []
        for _ in range(spec["repeat"]):
            pair = []
            for fn in (floor, ours):
                start = time.perf_counter()
                fn()
                pair.append(time.perf_counter() - start)
            pairs.append(pair)
        return {"method": method, "floor_times_s": [p[0] for p in pairs],
                "ours_times_s": [p[1] for p in pairs],
                "ratio_best": min(p[1] for p in pairs) / min(p[0] for p in pairs),
                "ratio_median": statistics.median(p[1] / p[0] for p in pairs)}

    run = {"floor": floor, "floor_single": floor_single, "ours": ours, "baseline": baseline}
    run = run[method]
    rss_before = _peak_rss_bytes()
    times, result = [], None
    for _ in range(spec["repeat"]):
        result = None  # free the previous answer first so that peaks do not stack
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    peak = _peak_rss_bytes()
    if method in ("ours", "baseline"):
        np.save(Path(spec["workdir"]) / f"{method}_indices.npy", result[1].numpy())
    return {
        "method": method,
        "times_s": times,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "peak_rss_bytes": peak,
        "rss_before_bytes": rss_before,
        "extra_bytes": peak - rss_before,
        "chunk_q": chunk_q if method != "floor_single" else num_q,
        "chunk_g": chunk_g if method != "floor_single" else num_g,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def _spawn(method: str, spec: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", method,
           "--_spec", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{method} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def _gb(num_bytes: float) -> str:
    return f"{num_bytes / 1e9:.2f} GB"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=4000)
    parser.add_argument("--gallery", type=int, default=12000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget-gib", type=float, default=2.0,
                        help="memory_budget_bytes of the streaming search, in GiB")
    parser.add_argument("--baseline-max-gib", type=float, default=8.0,
                        help="run the naive baseline only if its projected memory fits")
    parser.add_argument("--ucf101-scale", action="store_true",
                        help="Q=37,830, G=95,370, D=9216 (UCF101 split 1, clip level)")
    parser.add_argument("--queries-subset", type=int, default=None,
                        help="run only this many queries; times are extrapolated to all")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the feature files go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON results (default benchmarks/results/retrieval.json, or "
                        "retrieval_ucf101_scale.json with --ucf101-scale)")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._worker:
        print(json.dumps(_worker(args._worker, json.loads(args._spec))))
        return {}

    if args.ucf101_scale:
        args.queries = UCF101_SPLIT1_CLIPS["queries"]
        args.gallery = UCF101_SPLIT1_CLIPS["gallery"]
        args.dim = UCF101_SPLIT1_CLIPS["dim"]
    out_path = args.out or REPO / "benchmarks" / "results" / (
        "retrieval_ucf101_scale.json" if args.ucf101_scale else "retrieval.json"
    )
    budget = int(args.budget_gib * GIB)
    num_q, num_g, dim, k = args.queries, args.gallery, args.dim, args.k

    sys.path.insert(0, str(REPO))
    from vcop_lab.retrieval import plan_chunks

    planned_q, planned_g = plan_chunks(num_q, num_g, dim, k, budget, 4)
    if args.queries_subset is None and args.ucf101_scale:
        args.queries_subset = planned_q  # one full query chunk: the memory peak of a full run
    run_q = min(num_q, args.queries_subset or num_q)
    extrapolate = num_q / run_q
    use_mmap = args.ucf101_scale

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_retrieval_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        q_path, g_path = workdir / "queries.npy", workdir / "gallery.npy"
        started = time.perf_counter()
        write_features(q_path, run_q, dim, seed=0)  # only the queries that are run
        write_features(g_path, num_g, dim, seed=1)
        print(f"features written to {workdir} in {time.perf_counter() - started:.1f} s")
        spec = {
            "queries_path": str(q_path), "gallery_path": str(g_path), "num_queries": run_q,
            "plan_queries": num_q, "k": k, "budget": budget, "repeat": args.repeat,
            "mmap": use_mmap, "workdir": str(workdir),
        }
        results = {}
        methods = ["floor", "ours"]
        if num_q * num_g * 4 <= min(budget, 4 * GIB):  # only if feasible for all queries
            methods.insert(1, "floor_single")
        projected = baseline_projected_bytes(run_q, num_g, dim)
        projected_full = baseline_projected_bytes(num_q, num_g, dim)
        if projected <= args.baseline_max_gib * GIB:
            methods.append("baseline")
        for method in methods:
            print(f"running {method} ...", flush=True)
            results[method] = _spawn(method, spec)
        print("running floor and ours interleaved ...", flush=True)
        interleaved = _spawn("interleaved", spec)

        agreement = None
        if "baseline" in results:
            ours_i = np.load(workdir / "ours_indices.npy")
            base_i = np.load(workdir / "baseline_indices.npy")
            agreement = float((ours_i == base_i).mean())
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    floor_name = min((m for m in ("floor", "floor_single") if m in results),
                     key=lambda m: results[m]["best_s"])
    floor_s = results[floor_name]["best_s"]
    ours = results["ours"]
    flops = 2.0 * run_q * num_g * dim
    summary = {
        "config": {
            "queries": num_q, "gallery": num_g, "dim": dim, "k": k,
            "queries_run": run_q, "repeat": args.repeat, "budget_bytes": budget,
            "ucf101_scale": args.ucf101_scale, "features_memory_mapped": use_mmap,
            "planned_chunk_q": planned_q, "planned_chunk_g": planned_g,
            # float32 features on the CPU: the search reads the gallery in place, no copy
            "gallery_read_in_place": True,
        },
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "methods": results,
        "floor_method": floor_name,
        "floor_gflops": flops / floor_s / 1e9,
        "ratio_ours_to_floor": ours["best_s"] / floor_s,
        # the headline figure: floor and ours timed alternately in one process
        "interleaved": interleaved,
        "target_ratio_to_floor": 1.3,
        "baseline_projected_bytes_lower_bound": projected_full,
        "indices_equal_to_baseline_fraction": agreement,
    }
    if "baseline" in results:
        summary["ratio_baseline_to_ours_time"] = results["baseline"]["best_s"] / ours["best_s"]
        summary["ratio_baseline_to_ours_extra_memory"] = (
            results["baseline"]["extra_bytes"] / max(ours["extra_bytes"], 1)
        )
    if run_q < num_q:
        # Each query chunk streams the whole gallery, so time grows linearly with Q.
        summary["extrapolated_to_all_queries"] = {
            "note": f"measured on {run_q} of {num_q} queries, times scaled by {extrapolate:.2f}",
            "ours_s": ours["best_s"] * extrapolate,
            "floor_s": floor_s * extrapolate,
            "baseline_s": results["baseline"]["best_s"] * extrapolate
            if "baseline" in results else None,
            # the query rows not run would add at most their memory-mapped pages
            "ours_peak_rss_upper_bound_bytes": ours["peak_rss_bytes"]
            + (num_q - run_q) * dim * 4 * use_mmap,
        }

    _print_table(summary)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results written to {out_path}")
    return summary


def _print_table(summary: dict) -> None:
    cfg = summary["config"]
    print(f"\nQ={cfg['queries']} (run {cfg['queries_run']}), G={cfg['gallery']}, "
          f"D={cfg['dim']}, k={cfg['k']}, budget {_gb(cfg['budget_bytes'])}, "
          f"chunks {cfg['planned_chunk_q']} x {cfg['planned_chunk_g']}, float32 features "
          f"{'memory-mapped' if cfg['features_memory_mapped'] else 'in RAM'}")
    print(f"{'method':<14}{'best s':>10}{'median s':>10}{'peak RSS':>12}{'extra':>12}")
    for name, r in summary["methods"].items():
        print(f"{name:<14}{r['best_s']:>10.2f}{r['median_s']:>10.2f}"
              f"{_gb(r['peak_rss_bytes']):>12}{_gb(r['extra_bytes']):>12}")
    print(f"floor ({summary['floor_method']}): {summary['floor_gflops']:.0f} GFLOP/s")
    inter = summary["interleaved"]
    print(f"ours / matmul floor, timed alternately in one process: best "
          f"{inter['ratio_best']:.2f}x, median {inter['ratio_median']:.2f}x "
          f"(target <= {summary['target_ratio_to_floor']}x); from the separate runs above: "
          f"{summary['ratio_ours_to_floor']:.2f}x")
    if "ratio_baseline_to_ours_time" in summary:
        print(f"baseline / ours: time {summary['ratio_baseline_to_ours_time']:.2f}x, extra "
              f"memory {summary['ratio_baseline_to_ours_extra_memory']:.1f}x; indices equal "
              f"{100 * summary['indices_equal_to_baseline_fraction']:.2f}%")
    print(f"baseline projected memory for all queries: at least "
          f"{_gb(summary['baseline_projected_bytes_lower_bound'])}"
          + ("" if "baseline" in summary["methods"] else " (not run)"))
    ext = summary.get("extrapolated_to_all_queries")
    if ext:
        base = "" if ext["baseline_s"] is None else f", baseline {ext['baseline_s']:.0f} s"
        print(f"EXTRAPOLATED ({ext['note']}): ours {ext['ours_s']:.0f} s, floor "
              f"{ext['floor_s']:.0f} s{base}; ours peak RSS for all queries <= "
              f"{_gb(ext['ours_peak_rss_upper_bound_bytes'])}")


if __name__ == "__main__":
    main()
